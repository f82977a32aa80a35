"""
Subject-features layout (``dmer-subject-features``, ``<root>/<n>/``): the per-subject feature
files of the authors' code, ``eegfea.mat`` (``feas``), ``perifea.mat`` (``feas_gsr`` N x 28,
``feas_ppg`` N x 27) and ``videoFea.mat`` (``lbps_all`` N x d, ``vids`` 1 x N), with the labels
as in the aligned layout (``datas.mat``'s ``dis_label`` and/or the PANAS CSVs); see
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from helo.data.base import DataError, FeatureBlock, ProblemCollector, Subject
from helo.data.dmer.dis_label import _labelled_trials
from helo.data.dmer.mat import _clip_ids_in_order, _clip_positions, _clips_without_report, _load_mat
from helo.data.dmer.protocol import EEG_CHANNELS
from helo.data.dmer.reader import _DmerReader, _nan_warning
from helo.data.dmer.reports import _find

#: EmotionDict's four EEG bands (their ``process_de``: [4, 8, 14, 31, 45] Hz), as helo band edges
EMOTIONDICT_BANDS = {"theta": [4.0, 8.0], "alpha": [8.0, 14.0], "beta": [14.0, 31.0],
                     "gamma": [31.0, 45.0]}
#: per-subject feature files: modality -> (file, variable, helo's width for it)
SUBJECT_FEATURE_FILES = {"eeg": ("eegfea.mat", "feas", None),
                         "gsr": ("perifea.mat", "feas_gsr", 28),
                         "ppg": ("perifea.mat", "feas_ppg", 27),
                         "video": ("videoFea.mat", "lbps_all", 768)}


class DmerSubjectFeaturesReader(_DmerReader):
    """Per-subject feature files as the DMER authors' own code reads them:
    ``<root>/<n>/eegfea.mat`` (``feas``), ``perifea.mat`` (``feas_gsr`` N x 28, ``feas_ppg``
    N x 27), ``videoFea.mat`` (``lbps_all`` N x d, ``vids`` the clip id of each row) and the
    labels: ``dis_label`` in ``<n>/datas.mat`` and/or the PANAS CSVs (as the aligned reader).

    Rows: row ``j`` of every file belongs to clip ``vids[j]`` (all files have len(vids) rows; a
    ``vids`` in another file must agree); a clip's rows are its windows 0, 1, ... in file order;
    rows of the rest (id 40) are dropped. Without PANAS files the trials are the clips of
    ``vids`` in order of appearance. Names (``FeatureBlock.computed`` where the columns are a
    helo computation, so models transfer between layouts):

    * ``feas``: (N, 18 x B) channel-major with the band fastest (the features release's order),
      or 3-D (N, B, 18) / (N, 18, B) (the channel axis is the one of length 18; the authors' code
      feeds it to its model as a per-channel token matrix). The channels are DMER's 18 in
      :data:`EEG_CHANNELS` order (the order of ``eeg_datas`` rows). B = 5: helo's five DE bands
      (``eeg_P3_delta`` ...); B = 4: EmotionDict's bands (:data:`EMOTIONDICT_BANDS`, names
      ``eeg_P3_theta`` ... ``eeg_P3_gamma`` with those edges); any other width: named by position
      (``eeg__feas_0`` ...).
    * ``feas_gsr`` 28 / ``feas_ppg`` 27: helo's Table-6 statistics (``gsr_median`` ...), as the
      features release; another width is named by position (``gsr__feas_gsr_0`` ...).
    * ``lbps_all``: 768 wide: helo's LBP-TOP (P = 8, ``video_xy_000`` ...); any other width (the
      authors' copy holds 32: pooled CNN activations, not LBP-TOP) is named for what it is, the
      file's variable and column: ``video__lbps_all_0`` ... ``video__lbps_all_31``.
    """

    layout = "dmer-subject-features"

    def subjects(self) -> list[str]:
        return [s for s in self._numeric_dirs(self.root)
                if any((self.root / s / f).is_file() for f in ("eegfea.mat", "perifea.mat",
                                                               "videoFea.mat"))]

    def _vids(self, d: Path, col: ProblemCollector) -> tuple[np.ndarray, Path]:
        for fname in ("videoFea.mat", "eegfea.mat", "perifea.mat"):
            p = d / fname
            if p.is_file():
                mat = _load_mat(p, ["vids"], col)
                if "vids" in mat:
                    v = np.asarray(mat["vids"], dtype=np.float64).ravel()
                    if np.isnan(v).any() or (v != np.round(v)).any():
                        raise col.fail("vids holds NaN or non-integer clip ids", p)
                    return v.astype(np.int64), p
        raise col.fail("no vids (the clip id of each feature row) in videoFea.mat, eegfea.mat "
                       "or perifea.mat", d / "videoFea.mat")

    def _read(self, sid: str, mods: list[str], col: ProblemCollector, deep: bool) -> Subject:
        d = self.root / sid
        if not d.is_dir():
            raise col.fail("participant folder is missing", d)
        rep = d if _find(d, [f"{sid}_panas.csv"], "*_panas.csv") else d / sid
        vids_cache: list = []

        def vids():
            if not vids_cache:
                vids_cache.append(self._vids(d, col))
            return vids_cache[0]

        trials = _labelled_trials(rep if rep.is_dir() else d, sid, d / "datas.mat", col,
                                  lambda: _clip_ids_in_order(vids()[0], "vids", vids()[1], col))
        want = [m for m in self._modalities if m in mods or deep]
        if not want:
            return Subject(sid, trials, self.layout)
        try:
            ids, ids_path = vids()
        except DataError as err:
            col.add(err)
            return Subject(sid, trials, self.layout)
        _clip_ids_in_order(ids, "vids", ids_path, col)
        _clips_without_report(ids, trials, "vids", ids_path, col)
        blocks: dict[str, tuple[np.ndarray, dict | None, list[str]]] = {}
        for m in want:
            fname, var, width = SUBJECT_FEATURE_FILES[m]
            path = d / fname
            try:
                mat = _load_mat(path, [var, "vids"], col)
                if var not in mat:
                    raise col.fail(f"variable {var} is missing", path)
                if "vids" in mat and path != ids_path:
                    other = np.asarray(mat["vids"], dtype=np.float64).ravel()
                    if other.size != ids.size or (other != ids).any():
                        raise col.fail(f"vids differs from the one in {ids_path}", path)
                blocks[m] = self._block(m, np.asarray(mat[var], dtype=np.float64), var, width,
                                        ids.size, path, col)
            except DataError as err:
                col.add(err)
        for t, clip, rows in _clip_positions(trials, ids, "no feature rows for clip {clip} in "
                                             "vids", ids_path, col):
            if rows[-1] - rows[0] + 1 != rows.size:
                col.warn(f"rows of clip {clip} are not contiguous in vids", ids_path)
            for m, (X, computed, names) in blocks.items():
                block = X[rows]
                _nan_warning(block, f"{m} features", clip, d / SUBJECT_FEATURE_FILES[m][0], col)
                if m in mods:
                    t.features[m] = FeatureBlock(block.copy(), list(names), computed=computed)
        return Subject(sid, trials, self.layout)

    @staticmethod
    def _block(m: str, X: np.ndarray, var: str, width: int | None, n_rows: int, path: Path,
               col: ProblemCollector):
        """(rows x features, computed params or None, names when not computed)."""
        if m == "eeg" and X.ndim == 3:
            if X.shape[0] != n_rows:
                raise col.fail(f"{var} has shape {X.shape}: {X.shape[0]} rows but vids has "
                               f"{n_rows}", path)
            if X.shape[2] == len(EEG_CHANNELS):
                X = X.transpose(0, 2, 1)  # (N, B, 18) -> (N, 18, B)
            elif X.shape[1] != len(EEG_CHANNELS):
                raise col.fail(f"{var} has shape {X.shape}: no axis of the 18 channels", path)
            X = X.reshape(n_rows, -1)  # channel-major, band fastest
        if X.ndim != 2:
            raise col.fail(f"{var} has shape {X.shape}, expected (N, features)", path)
        if X.shape[0] != n_rows and X.shape[1] == n_rows:
            X = X.T
        if X.shape[0] != n_rows:
            raise col.fail(f"{var} has {X.shape[0]} rows but vids has {n_rows}", path)
        k = X.shape[1]
        positional = [f"{var}_{j}" for j in range(k)]
        if m == "eeg":
            n_ch = len(EEG_CHANNELS)
            if k == 5 * n_ch:
                return X, {"channels": list(EEG_CHANNELS), "bands": "paper"}, []
            if k == 4 * n_ch:
                return X, {"channels": list(EEG_CHANNELS),
                           "bands": {b: list(e) for b, e in EMOTIONDICT_BANDS.items()}}, []
            col.warn(f"{var} has {k} columns, not 18 channels x 4 or 5 bands; named by "
                     f"position ({m}__{var}_0 ...)", path)
            return X, None, positional
        if k == width:
            return X, ({"points": 8} if m == "video" else {}), []
        what = ("not helo's LBP-TOP (768 = 3 x 256 bins)" if m == "video"
                else f"not helo's {width} {m.upper()} statistics")
        col.warn(f"{var} has {k} columns, {what}: stored as {m}__{var}_0 .. "
                 f"{m}__{var}_{k - 1}", path)
        return X, None, positional
