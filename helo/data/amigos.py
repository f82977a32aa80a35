"""Reader for the preprocessed release of AMIGOS (Miranda-Correa, Abadi, Sebe & Patras, IEEE
Trans. Affective Computing 12(2), 2021; data 2018).

Layout: one MATLAB v5 file per participant, ``root/Data_Preprocessed_P<nn>/
Data_Preprocessed_P<nn>.mat`` as the per-participant archives unpack (a file lying directly in
the root, ``root/Data_Preprocessed_P<nn>.mat``, is read too). Each holds four ``1 x 20`` cells,
one element per video, the 16 short videos then the 4 long ones, in video-number order (the
release reordered the trials from presentation order):

* ``joined_data`` -- ``samples x 17`` at 128 Hz: 14 EEG channels (AF3 F7 F3 FC5 T7 P7 O1 O2 P8
  T8 FC6 F4 F8 AF4; common average reference, 4-45 Hz band-pass), ECG right, ECG left, GSR
  (ECG and GSR downsampled to 128 Hz and low-pass filtered);
* ``labels_selfassessment`` -- ``1 x 12``: arousal, valence, dominance, liking, familiarity
  (1-9, continuous), then the basic emotions felt, 0 or 1: neutral, disgust, happiness,
  surprise, anger, fear, sadness (:data:`ITEMS`);
* ``labels_ext_annotation`` -- external valence/arousal annotations per 20 s segment (not read);
* ``VideoIDs`` -- the video's id (``'4'`` .. ``'138'`` short, ``'N1'``, ``'P1'``, ``'B1'``,
  ``'U1'`` long).

Subjects are ``"P01"`` .. ``"P40"`` (from the file name). A trial is one video:
``trial_id`` = its VideoID, ``order`` = its position in the file (video-number order, not the
order the participant saw them), ``category`` = ``"short"`` or ``"long"``.

Signals (all 128 Hz, the preprocessed release stores no rate): ``eeg`` (14 channels), ``ecg``
(ECG right, the first of the two leads: helo's ECG features read one lead), ``gsr`` (GSR, as
stored) and ``eda`` (the same GSR column, for the EDA features).

Missing data is real in AMIGOS: participants who did not take part in the long-video
experiment have empty cells for those videos, and some recordings are NaN throughout. A video
whose ``joined_data`` or ``labels_selfassessment`` cell is empty, or whose recording is NaN
throughout, is left out with a warning naming the participant and the video; NaN samples in a
kept recording are a warning (those windows' features are NaN and assembly drops them).

Self-reports: ``Trial.panas`` holds the 12 values as written (``Trial.panas_items`` =
:data:`ITEMS`), also in ``Trial.extra``. A video for which no basic emotion was ticked has its
seven emotion values stored as NaN (with a warning): it has no basic-emotion label, so
``data.labels: scores`` over those seven items leaves it out with a reason instead of failing on
an all-zero row, while the ``circumplex`` rule on valence and arousal still uses it.

Faults, each an error naming the file, the participant and what is wrong (``check`` lists them
all): a participant folder without its ``.mat``; a file SciPy cannot read (truncated, corrupt,
v7.3); a missing variable; cells of different lengths; a recording that is not
``samples x 17``; a self-assessment that is not 12 values; a rating outside 1..9 or an emotion
value other than 0/1; a VideoID that cannot be a trial id; a VideoID twice.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import numpy as np

from helo.data import matcells as mc
from helo.data.base import (
    SAFE_ID,
    DataError,
    Problem,
    ProblemCollector,
    Signal,
    Subject,
    Trial,
    refuse_outside_links,
    safe_id,
)

__all__ = ["AmigosReader", "ITEMS", "DIMENSIONS", "EMOTIONS", "EEG_CHANNELS", "COLUMNS", "FS",
           "SCALE", "file_name"]

FS = 128.0
EEG_CHANNELS = ["AF3", "F7", "F3", "FC5", "T7", "P7", "O1", "O2", "P8", "T8", "FC6", "F4", "F8",
                "AF4"]
COLUMNS = EEG_CHANNELS + ["ECG_right", "ECG_left", "GSR"]
DIMENSIONS = ["arousal", "valence", "dominance", "liking", "familiarity"]
EMOTIONS = ["neutral", "disgust", "happiness", "surprise", "anger", "fear", "sadness"]
ITEMS = DIMENSIONS + EMOTIONS
SCALE = (1.0, 9.0)
VARIABLES = ("joined_data", "labels_selfassessment", "VideoIDs")
# modality -> (columns of joined_data, channel names)
_SIGNALS = {"eeg": (list(range(14)), list(EEG_CHANNELS)), "ecg": ([14], ["ecg_right"]),
            "gsr": ([16], ["gsr"]), "eda": ([16], ["eda"])}
_NAME = re.compile(r"^Data_Preprocessed_(P\d+)(\.mat)?$")


def file_name(sid: str) -> str:
    """``"P01"`` -> ``"Data_Preprocessed_P01"`` (the folder; the file adds ``.mat``)."""
    return f"Data_Preprocessed_{sid}"


class AmigosReader:
    """``root/Data_Preprocessed_P<nn>/Data_Preprocessed_P<nn>.mat`` (see the module doc)."""

    layout = "amigos"

    def __init__(self, root: str | Path):
        self.root = Path(root)

    # -- protocol ---------------------------------------------------------------------------
    def modalities(self) -> list[str]:
        return ["eeg", "ecg", "gsr"]

    def subjects(self) -> list[str]:
        return [sid for sid, _ in sorted(self._files().items(), key=lambda kv: int(kv[0][1:]))]

    def source_files(self, subject_id: str) -> list[Path]:
        return [self._file(subject_id)]

    def read_subject(self, subject_id: str, modalities: Sequence[str] | None = None) -> Subject:
        mods = list(_SIGNALS) if modalities is None else list(modalities)
        unknown = [m for m in mods if m not in _SIGNALS]
        if unknown:
            raise ValueError(f"unknown AMIGOS modalities {unknown}; choose from {list(_SIGNALS)}")
        col = ProblemCollector(str(subject_id))
        trials = self._subject(str(subject_id), mods, col)
        col.raise_errors()
        return Subject(subject_id=str(subject_id), trials=trials, layout=self.layout,
                       warnings=col.warning_texts)

    def check(self) -> list[Problem]:
        if not self.root.is_dir():
            return [Problem(None, str(self.root), "dataset root is not a folder")]
        problems: list[Problem] = []
        listed = self._files()
        for d in sorted(self.root.iterdir()):
            m = _NAME.match(d.name)
            if m and d.is_dir() and m.group(1) not in listed:
                problems.append(Problem(m.group(1), str(d), f"the participant's folder has no "
                                        f"{d.name}.mat: the subject file is missing"))
        for sid in listed:
            folder, flat = self._candidates(sid)
            if folder.is_file() and flat.is_file():
                problems.append(Problem(sid, str(flat), f"two files for {sid}: {folder} is "
                                        f"read, this one is not"))
        if not listed:
            from helo.data import no_subjects_message
            problems.append(Problem(None, str(self.root), "no AMIGOS participant files "
                                    "(Data_Preprocessed_P<nn>/Data_Preprocessed_P<nn>.mat) found; "
                                    + no_subjects_message(self.layout, self.root)))
        for sid in self.subjects():
            col = ProblemCollector(sid)
            try:
                self._subject(sid, list(_SIGNALS), col)
            except DataError as err:
                col.add(err)
            except (MemoryError, RecursionError, OSError) as err:
                col.error(f"{type(err).__name__} while reading the participant: the file is "
                          f"corrupted or malicious", self._candidates(sid)[0])
            problems += col.problems
        return problems

    # -- internals --------------------------------------------------------------------------
    def _candidates(self, sid: str) -> tuple[Path, Path]:
        name = file_name(sid)
        return self.root / name / f"{name}.mat", self.root / f"{name}.mat"

    def _files(self) -> dict[str, Path]:
        """``{subject: file}`` of every participant file under the root."""
        if not self.root.is_dir():
            return {}
        out: dict[str, Path] = {}
        for p in self.root.iterdir():
            m = _NAME.match(p.name)
            if not m:
                continue
            folder, flat = self._candidates(m.group(1))
            if folder.is_file():
                out[m.group(1)] = folder
            elif flat.is_file():
                out[m.group(1)] = flat
        return out

    def _file(self, sid: str) -> Path:
        safe_id(sid, path=self.root)
        if not re.fullmatch(r"P\d+", sid):
            raise DataError("not an AMIGOS participant id (expected P<nn>)", subject=sid,
                            path=self.root)
        folder, flat = self._candidates(sid)
        path = folder if folder.is_file() else flat
        if not path.is_file():
            raise DataError(f"missing participant file {folder.name}", path=folder, subject=sid)
        refuse_outside_links(self.root, [path.parent if path == folder else path], subject=sid)
        return path

    def _subject(self, sid: str, mods: Sequence[str], col: ProblemCollector) -> list[Trial]:
        path = self._file(sid)
        mat = mc.load_mat(path, subject=sid, variable_names=VARIABLES,
                          what="participant file")
        missing = [v for v in VARIABLES if v not in mat]
        if missing:
            found = sorted(k for k in mat if not k.startswith("__"))
            raise col.fail(f"no variable(s) {missing} (found {found})", path)
        data = mc.cells(mat["joined_data"])
        labels = mc.cells(mat["labels_selfassessment"])
        ids = [mc.text(c) for c in mc.cells(mat["VideoIDs"])]
        if not len(data) == len(labels) == len(ids):
            raise col.fail(f"joined_data, labels_selfassessment and VideoIDs hold {len(data)}, "
                           f"{len(labels)} and {len(ids)} cells: one per video each", path)
        seen: set[str] = set()
        trials = []
        for k, (vid, rec, lab) in enumerate(zip(ids, data, labels)):
            if not vid or not SAFE_ID.fullmatch(vid) or len(vid) > 32:
                col.error(f"VideoIDs{{{k + 1}}} is {vid!r}, not a video id", path)
                continue
            if vid in seen:
                col.error(f"video {vid} appears twice in VideoIDs", path)
                continue
            seen.add(vid)
            trial = self._trial(k, vid, rec, lab, mods, path, col)
            if trial is not None:
                trials.append(trial)
        return trials

    def _trial(self, k: int, vid: str, rec, lab, mods, path: Path, col: ProblemCollector):
        empty_rec = not isinstance(rec, np.ndarray) or rec.size == 0
        empty_lab = not isinstance(lab, np.ndarray) or lab.size == 0
        if empty_rec or empty_lab:
            what = ("neither a recording nor a self-assessment (the video was not watched)"
                    if empty_rec and empty_lab else
                    "no recording (empty joined_data cell)" if empty_rec else
                    "no self-assessment (empty labels_selfassessment cell)")
            col.warn(f"video {vid}: {what}; left out", path)
            return None
        values = self._labels(vid, lab, path, col)
        try:
            arr = mc.matrix(rec, len(COLUMNS), path=path, subject=col.subject,
                            what=f"joined_data{{{k + 1}}} (video {vid})")
        except DataError as err:
            col.add(err)
            return None
        nan = np.isnan(arr)
        if nan.all():
            col.warn(f"video {vid}: the recording is NaN throughout; left out", path)
            return None
        if nan.any():
            cols = [COLUMNS[j] for j in np.flatnonzero(nan.any(axis=0))]
            col.warn(f"video {vid}: {int(nan.any(axis=1).sum())} of {arr.shape[0]} samples hold "
                     f"NaN (in {', '.join(cols[:5])}{'...' if len(cols) > 5 else ''})", path)
        if values is None:
            return None
        signals = {m: Signal(arr[:, _SIGNALS[m][0]], FS, list(_SIGNALS[m][1])) for m in mods}
        return Trial(trial_id=vid, order=k, category="long" if vid[:1].isalpha() else "short",
                     signals=signals, panas=values, panas_items=list(ITEMS),
                     extra=dict(zip(ITEMS, map(float, values))))

    def _labels(self, vid: str, lab, path: Path, col: ProblemCollector) -> np.ndarray | None:
        """The 12 self-assessment values of video ``vid``; errors collected (None)."""
        if lab.dtype.kind not in "fiub" or lab.size != len(ITEMS):
            col.error(f"video {vid}: labels_selfassessment holds {lab.size} "
                      f"{'values' if lab.dtype.kind in 'fiub' else lab.dtype}, expected "
                      f"{len(ITEMS)} numbers ({', '.join(ITEMS)})", path)
            return None
        v = np.asarray(lab, dtype=np.float64).reshape(-1).copy()
        lo, hi = SCALE
        bad = [f"{ITEMS[j]} = {v[j]:g}" for j in range(len(DIMENSIONS))
               if np.isfinite(v[j]) and not lo <= v[j] <= hi]
        bad += [f"{ITEMS[j]} = {v[j]:g}" for j in range(len(DIMENSIONS), len(ITEMS))
                if np.isfinite(v[j]) and v[j] not in (0.0, 1.0)]
        if bad:
            col.error(f"video {vid}: self-assessment out of range ({', '.join(bad)}; ratings "
                      f"are {lo:g}..{hi:g}, emotions 0 or 1)", path)
            return None
        miss = [ITEMS[j] for j in np.flatnonzero(~np.isfinite(v))]
        if miss:
            col.warn(f"video {vid}: self-assessment missing (NaN) for {', '.join(miss)}", path)
        emo = v[len(DIMENSIONS):]
        if np.isfinite(emo).all() and not emo.any():
            v[len(DIMENSIONS):] = np.nan
            col.warn(f"video {vid}: no basic emotion ticked: the seven emotion values are "
                     f"stored as NaN (no basic-emotion label)", path)
        return v
