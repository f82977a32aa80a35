"""Labels of the aligned and subject-features layouts: ``dis_label`` (32 x 10, one label
distribution per clip id) and/or the PANAS CSVs, checked against each other."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from helo.data.base import DataError, ProblemCollector, Trial
from helo.data.dmer.mat import _load_mat
from helo.data.dmer.protocol import clip_category
from helo.data.dmer.reports import _find, _read_reports
from helo.data.labels import DMER_PANAS

_DIS_TOL = 1e-3


def _dis_label(raw, path: Path, col: ProblemCollector) -> np.ndarray:
    """``dis_label`` as (32, 10): one label distribution per clip id (row = clip id), columns in
    :data:`DMER_PANAS` order; rows not summing to 1 are normalised with a warning."""
    d = np.asarray(raw, dtype=np.float64)
    if d.shape == (10, 32):
        d = d.T
    if d.shape != (32, 10):
        raise col.fail(f"dis_label has shape {d.shape}, expected (32, 10): one row per clip id "
                       f"0..31, one column per PANAS item", path)
    if not np.isfinite(d).all() or (d < 0).any():
        raise col.fail("dis_label has NaN or negative values", path)
    sums = d.sum(axis=1)
    if (sums <= 0).any():
        raise col.fail(f"dis_label rows {np.flatnonzero(sums <= 0).tolist()} are all zero", path)
    off = np.flatnonzero(np.abs(sums - 1) > _DIS_TOL)
    if off.size:
        col.warn(f"dis_label rows {off.tolist()} do not sum to 1 (e.g. {sums[off[0]]:.6g}); "
                 "normalised", path)
    return d / sums[:, None]


def _labelled_trials(rep: Path, sid: str, mat_path: Path, col: ProblemCollector, clip_order):
    """The trials and their labels: the PANAS CSVs when present (checked against ``dis_label``
    when ``mat_path`` has one), else ``dis_label`` of ``mat_path`` for the clips
    ``clip_order()`` returns (in that order)."""
    panas_path = _find(rep, [f"{sid}_panas.csv"], "*_panas.csv")
    dis = None
    if mat_path.is_file():
        try:
            mat = _load_mat(mat_path, ["dis_label"], col)
        except DataError as err:
            col.add(err)
            mat = {}
        if "dis_label" in mat:
            dis = _dis_label(mat["dis_label"], mat_path, col)
    if panas_path is not None:
        trials, _ = _read_reports(rep, sid, col)
        if dis is not None:
            bad, worst = [], 0.0
            for t in trials:
                s = np.asarray(t.panas, dtype=np.float64)
                if np.isnan(s).any() or s.sum() <= 0:
                    continue
                diff = float(np.abs(s / s.sum() - dis[int(t.trial_id)]).max())
                if diff > _DIS_TOL:
                    bad.append(int(t.trial_id))
                    worst = max(worst, diff)
            if bad:
                raise col.fail(f"dis_label disagrees with the PANAS scores of {panas_path} for "
                               f"clips {bad} (largest difference {worst:.3g}; the scores divided "
                               f"by their sum should equal the clip's dis_label row)", mat_path)
        return trials
    if dis is None:
        raise col.fail(f"no labels: neither a PANAS file ({sid}_panas.csv) nor dis_label in "
                       f"{mat_path}", rep / f"{sid}_panas.csv")
    trials = []
    for k, clip in enumerate(clip_order()):
        trials.append(Trial(trial_id=str(clip), order=k, category=clip_category(clip),
                            panas=dis[clip].copy(), panas_items=list(DMER_PANAS),
                            extra={"distribution": dis[clip].copy(),
                                   "label_kind": "distribution"}))
    if not trials:
        raise col.fail("no clip ids found for the dis_label trials", mat_path)
    return trials
