"""Aligned layout (``<root>/<n>/``): ``datas.mat`` (``eeg_datas``, ``gsr_datas``, ``ppg_datas``:
the signal rows (18 / 1 / 1), the clip-id row, then a time row -- 20 x N / 3 x N as the release
describes -- or without the time row, the clip id as the last row -- 19 x N / 2 x N, as the
dataset authors' own code reads it; stored N x rows is accepted too; ``fs_*``; v7.3 files are
read with h5py), ``<k>.mp4`` per trial and the labels. Labels: the self-report CSVs in the same
folder (also looked for in ``<n>/<n>/``) and/or ``dis_label`` in ``datas.mat`` (32 x 10, the
label distribution of clip id k in row k, columns in PANAS item order). With PANAS CSVs the
trials are their rows; when ``dis_label`` is there too, each trial's scores divided by their sum
must equal its ``dis_label`` row within 1e-3, else an error names both files. With
``dis_label`` alone the trials are the clip ids of the (smallest) signal matrix's id row in
order of appearance, and a trial's labels are its ``dis_label`` row: ``Trial.panas`` holds the
distribution, ``extra["distribution"]`` too and ``extra["label_kind"]`` is ``"distribution"``
(the generic layout's convention for distribution labels). Columns are selected by the id row;
id 40 (rest) and other ids without a PANAS row are dropped (the latter with an error). The video
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from helo.data.base import DataError, ProblemCollector, Signal, Subject, Trial, VideoRef
from helo.data.dmer.camera import _video_info
from helo.data.dmer.dis_label import _labelled_trials
from helo.data.dmer.mat import (
    _clip_ids_in_order,
    _clip_positions,
    _clips_without_report,
    _load_mat,
    _signal_matrix,
)
from helo.data.dmer.protocol import EEG_CHANNELS, NOMINAL_FS, SIGNALS
from helo.data.dmer.reader import _DmerReader, _nan_warning
from helo.data.dmer.reports import _find


class DmerAlignedReader(_DmerReader):
    """The aligned DMER release: ``<root>/<n>/datas.mat``, ``<root>/<n>/<k>.mp4`` and the
    self-report CSVs in ``<root>/<n>/`` (or ``<root>/<n>/<n>/``)."""

    layout = "dmer-aligned"
    _rows = {"eeg": 18, "gsr": 1, "ppg": 1}

    def subjects(self) -> list[str]:
        return [s for s in self._numeric_dirs(self.root) if (self.root / s / "datas.mat").is_file()
                or _find(self.root / s, [f"{s}_panas.csv"], "*_panas.csv")]

    def _read(self, sid: str, mods: list[str], col: ProblemCollector, deep: bool) -> Subject:
        d = self.root / sid
        if not d.is_dir():
            raise col.fail("participant folder is missing", d)
        rep = d if _find(d, [f"{sid}_panas.csv"], "*_panas.csv") else d / sid
        mat_path = d / "datas.mat"
        trials = _labelled_trials(rep if rep.is_dir() else d, sid, mat_path, col,
                                  lambda: self._clip_order(mat_path, col))
        sig_mods = [m for m in SIGNALS if m in mods or deep]
        seconds: dict[int, float] = {}
        if sig_mods:
            names = [f"{m}_datas" for m in sig_mods] + [f"fs_{m}" for m in sig_mods]
            try:
                mat = _load_mat(mat_path, names, col)
            except DataError as err:
                col.add(err)
                mat = None
            if mat is not None:
                for m in sig_mods:
                    try:
                        self._signal(m, mat, mat_path, trials, col, m in mods, seconds)
                    except DataError as err:
                        col.add(err)
        if "video" in mods or deep:
            for t in trials:
                clip = int(t.trial_id)
                vp = d / f"{clip}.mp4"
                if not vp.is_file():
                    col.warn(f"no video for clip {clip}; video=None", vp)
                    continue
                n, fps = _video_info(vp)
                if n is None and fps is None:
                    col.warn(f"OpenCV cannot open the video of clip {clip}; video=None", vp)
                    continue
                fps = fps or 30.0
                start, stop = 0, n
                if n is not None and clip in seconds:
                    need = int(round(seconds[clip] * fps))
                    if n < need:
                        col.warn(f"clip {clip}: video has {n} frames, signals need {need}", vp)
                    start = max(0, n - need)  # aligned at the trial end
                if "video" in mods:
                    t.video = VideoRef(vp, start, stop, fps)
        return Subject(sid, trials, self.layout)

    def _clip_order(self, mat_path: Path, col: ProblemCollector) -> list[int]:
        """Clip ids in order of appearance in the smallest signal matrix (labels from
        ``dis_label`` need the trials without reading the EEG)."""
        for m in ("gsr", "ppg", "eeg"):
            mat = _load_mat(mat_path, [f"{m}_datas"], col)
            if f"{m}_datas" in mat:
                _, ids = _signal_matrix(f"{m}_datas", mat[f"{m}_datas"], self._rows[m],
                                        mat_path, col)
                return _clip_ids_in_order(ids, f"{m}_datas", mat_path, col)
        raise col.fail("no gsr_datas, ppg_datas or eeg_datas to find the clips of dis_label",
                       mat_path)

    def _signal(self, m: str, mat: dict, path: Path, trials: list[Trial], col: ProblemCollector,
                keep: bool, seconds: dict) -> None:
        key = f"{m}_datas"
        if key not in mat:
            raise col.fail(f"variable {key} is missing", path)
        data, ids = _signal_matrix(key, mat[key], self._rows[m], path, col)
        fs_raw = mat.get(f"fs_{m}")
        if fs_raw is None:
            col.warn(f"fs_{m} missing; nominal {NOMINAL_FS[m]:g} Hz assumed", path)
            fs = NOMINAL_FS[m]
        else:
            try:
                fs = float(np.asarray(fs_raw, dtype=np.float64).ravel()[0])
            except (TypeError, ValueError, IndexError):
                raise col.fail(f"fs_{m} is not a number", path) from None
            if not (math.isfinite(fs) and fs > 0):
                raise col.fail(f"fs_{m} must be a finite positive number, not {fs}", path)
        present = _clips_without_report(ids, trials, key, path, col)
        wanted = {int(t.trial_id) for t in trials}
        order = [c for c in present if c in wanted]
        panas_order = [int(t.trial_id) for t in trials if int(t.trial_id) in present]
        if order != panas_order:
            col.warn(f"{key} clip order {order} differs from the PANAS row order", path)
        names = list(EEG_CHANNELS) if m == "eeg" else [m.upper()]
        missing = f"no columns with clip id {{clip}} in {key}"
        for t, clip, idx in _clip_positions(trials, ids, missing, path, col):
            if idx[-1] - idx[0] + 1 != idx.size:
                col.warn(f"{key}: columns of clip {clip} are not contiguous", path)
            secs = idx.size / fs
            if abs(secs - round(secs)) > 1e-6:
                col.warn(f"{key}: clip {clip} has {idx.size} samples, not whole seconds at "
                         f"{fs:g} Hz", path)
            seconds.setdefault(clip, secs)
            x = data[:, idx].T
            _nan_warning(x, m.upper(), clip, path, col)
            if keep:
                t.signals[m] = Signal(x, fs, names)
