"""Reader for DREAMER (Katsigiannis & Ramzan, IEEE JBHI 22(1), 2018) as released on Zenodo.

Layout: one MATLAB v5 file, ``root/DREAMER.mat``, holding the struct ``DREAMER``:

* ``Data`` -- a ``1 x 23`` cell, one struct per participant: ``Age``, ``Gender`` (char),
  ``EEG`` and ``ECG`` (structs with ``baseline`` and ``stimuli``, each an ``18 x 1`` cell of
  ``samples x channels`` arrays: 14 EEG channels, 2 ECG leads), ``ScoreValence``,
  ``ScoreArousal``, ``ScoreDominance`` (``18 x 1``, integers 1-5);
* ``EEG_SamplingRate`` (128), ``ECG_SamplingRate`` (256), ``EEG_Electrodes`` (a cell of the 14
  names AF3 F7 F3 FC5 T7 P7 O1 O2 P8 T8 FC6 F4 F8 AF4), ``noOfSubjects`` (23),
  ``noOfVideoSequences`` (18), and ``Disclaimer``, ``Provider``, ``Version``, ``Acknowledgement``.

A sampling rate or electrode list kept inside the ``EEG``/``ECG`` struct (``SamplingRate``,
``Electrodes``) is read when the top level has none.

Subjects are ``"1"`` .. ``"23"``: the position ``s`` of the participant in ``Data`` (MATLAB's
``DREAMER.Data{s}``). Trials are ``"1"`` .. ``"18"``, the film clip in ``stimuli{k}`` (every
participant saw the clips in the same order); ``category`` is the clip's target emotion in the
paper's Table I (:data:`CLIP_EMOTIONS`).

Signals: ``eeg`` (the 14 channels at ``EEG_SamplingRate``) and ``ecg`` (the first of the two
leads at ``ECG_SamplingRate``: helo's ECG features read one lead). The ``baseline`` recordings
(the neutral clip shown before each film) are not read: a trial is its stimulus recording.

Self-reports: ``Trial.panas`` holds ``[valence, arousal, dominance]`` as written
(``Trial.panas_items`` = :data:`ITEMS`), also in ``Trial.extra``; ``data.labels: circumplex``
with ``data.label_rule.scale: [1, 5]`` makes valence and arousal a distribution over Russell's
eight categories (:mod:`helo.data.label_rules`); dominance travels along unused. ``Age`` and
``Gender`` are not read.

The whole file is one MATLAB variable, so reading any participant loads the file; the last file
loaded is kept (keyed by path, size and modification time), so the participants one process
extracts share one load.

Faults, each an error naming the file, the participant and what is wrong (``check`` lists them
all): no ``DREAMER.mat``; a file SciPy cannot read (truncated, corrupt, v7.3); a missing field;
fewer participants in ``Data`` than ``noOfSubjects`` or an empty participant cell; a
participant with fewer clips than ``noOfVideoSequences``; an array that is not
``samples x 14`` (EEG) or ``samples x 2`` (ECG) or is empty; EEG and ECG of one clip whose
durations differ by more than ``duration_tolerance_s`` (one was truncated); a score outside 1..5
or a score list of the wrong length. NaN samples and NaN scores are warnings.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from helo.data import matcells as mc
from helo.data.base import (
    DataError,
    Problem,
    ProblemCollector,
    Signal,
    Subject,
    Trial,
    inside_root,
    safe_id,
)
from helo.data.channels import normalise_channels

__all__ = ["DreamerReader", "FILE", "EEG_CHANNELS", "ITEMS", "CLIP_EMOTIONS", "SCALE"]

FILE = "DREAMER.mat"
EEG_CHANNELS = ["AF3", "F7", "F3", "FC5", "T7", "P7", "O1", "O2", "P8", "T8", "FC6", "F4", "F8",
                "AF4"]
ITEMS = ["valence", "arousal", "dominance"]
SCALE = (1.0, 5.0)
#: target emotion of film clips 1..18 (Katsigiannis & Ramzan 2018, Table I)
CLIP_EMOTIONS = ["calmness", "surprise", "amusement", "fear", "excitement", "disgust",
                 "happiness", "anger", "sadness", "disgust", "calmness", "amusement",
                 "happiness", "anger", "fear", "excitement", "sadness", "surprise"]
_SCORES = {"valence": "ScoreValence", "arousal": "ScoreArousal", "dominance": "ScoreDominance"}
# modality -> (struct in a participant, top-level rate field, number of columns)
_SIGNALS = {"eeg": ("EEG", "EEG_SamplingRate", 14), "ecg": ("ECG", "ECG_SamplingRate", 2)}

_LOADED: dict[tuple, object] = {}


def _load(path: Path):
    """The ``DREAMER`` struct of ``path``; the last one loaded is reused while the file is
    unchanged (same size and modification time)."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _LOADED:
        _LOADED.clear()
        mat = mc.load_mat(path, variable_names=["DREAMER"], what="DREAMER file")
        if "DREAMER" not in mat:
            raise DataError("the file holds no variable 'DREAMER'", path=path)
        _LOADED[key] = mc.one(mat["DREAMER"])
    return _LOADED[key]


class DreamerReader:
    """``root/DREAMER.mat`` (see the module doc)."""

    layout = "dreamer"

    def __init__(self, root: str | Path, duration_tolerance_s: float = 1.0):
        self.root = Path(root)
        self.duration_tolerance_s = float(duration_tolerance_s)

    @property
    def path(self) -> Path:
        return self.root / FILE

    # -- protocol ---------------------------------------------------------------------------
    def modalities(self) -> list[str]:
        return ["eeg", "ecg"]

    def subjects(self) -> list[str]:
        """``"1"`` .. ``"n"`` for the ``n`` participant cells of ``Data`` (``[]`` without a
        ``DREAMER.mat``; :class:`DataError` when it cannot be read)."""
        if not self.path.is_file():
            return []
        return [str(i + 1) for i in range(len(self._data()))]

    def source_files(self, subject_id: str) -> list[Path]:
        """Every participant comes from the one file."""
        return [self.path]

    def read_subject(self, subject_id: str, modalities: Sequence[str] | None = None) -> Subject:
        mods = self.modalities() if modalities is None else list(modalities)
        unknown = [m for m in mods if m not in _SIGNALS]
        if unknown:
            raise ValueError(f"unknown DREAMER modalities {unknown}; choose from "
                             f"{list(_SIGNALS)}")
        col = ProblemCollector(str(subject_id))
        trials = self._subject(str(subject_id), mods, col)
        col.raise_errors()
        return Subject(subject_id=str(subject_id), trials=trials, layout=self.layout,
                       warnings=col.warning_texts)

    def check(self) -> list[Problem]:
        if not self.root.is_dir():
            return [Problem(None, str(self.root), "dataset root is not a folder")]
        if not self.path.is_file():
            from helo.data import no_subjects_message
            return [Problem(None, str(self.path), f"no {FILE} in the dataset root; "
                            + no_subjects_message(self.layout, self.root))]
        try:
            top = self._top()
            data = self._data()
        except DataError as err:
            return [Problem.from_error(err)]
        problems: list[Problem] = []
        if "noOfSubjects" in mc.fields(top):
            try:
                want = int(mc.number(top.noOfSubjects, path=self.path, what="noOfSubjects"))
                if want != len(data):
                    problems.append(Problem(None, str(self.path), (
                        f"noOfSubjects is {want} but Data holds {len(data)} participant(s): "
                        f"{'a participant is missing' if len(data) < want else 'extra cells'}")))
            except DataError as err:
                problems.append(Problem.from_error(err))
        for sid in self.subjects():
            col = ProblemCollector(sid)
            try:
                self._subject(sid, list(_SIGNALS), col)
            except DataError as err:
                col.add(err)
            problems += col.problems
        return problems

    # -- internals --------------------------------------------------------------------------
    def _top(self):
        inside_root(self.path, self.root)
        if not self.path.is_file():
            raise DataError(f"missing {FILE}", path=self.path)
        return _load(self.path)

    def _data(self) -> list:
        return mc.cells(mc.field(self._top(), "Data", path=self.path, where="DREAMER"))

    def _setting(self, top, participant, modality: str, col: ProblemCollector):
        """``(sampling rate, channel names)`` of ``modality``: the top-level fields, else the
        ones inside the participant's ``EEG``/``ECG`` struct."""
        struct_name, rate_name, n_cols = _SIGNALS[modality]
        inner = mc.field(participant, struct_name, path=self.path, subject=col.subject,
                         where=f"Data{{{col.subject}}}")
        if rate_name in mc.fields(top):
            fs = mc.number(getattr(top, rate_name), path=self.path, what=rate_name)
        elif "SamplingRate" in mc.fields(inner):
            fs = mc.number(inner.SamplingRate, path=self.path, subject=col.subject,
                           what=f"{struct_name}.SamplingRate")
        else:
            raise col.fail(f"no sampling rate: neither DREAMER.{rate_name} nor "
                           f"{struct_name}.SamplingRate", self.path)
        if not np.isfinite(fs) or fs <= 0:
            raise col.fail(f"{rate_name} is {fs:g}, not a positive rate", self.path)
        if modality == "ecg":
            return fs, ["ecg"]
        names = None
        if "EEG_Electrodes" in mc.fields(top):
            names = [mc.text(c) for c in mc.cells(top.EEG_Electrodes)]
        elif "Electrodes" in mc.fields(inner):
            names = [mc.text(c) for c in mc.cells(inner.Electrodes)]
        if names is None:
            return fs, list(EEG_CHANNELS)
        if len(names) != n_cols:
            raise col.fail(f"EEG_Electrodes names {len(names)} electrodes, expected {n_cols}",
                           self.path)
        try:
            return fs, normalise_channels(names)
        except ValueError as err:
            raise col.fail(f"EEG_Electrodes: {err}", self.path) from None

    def _participant(self, sid: str):
        safe_id(sid, path=self.path)
        data = self._data()
        if not sid.isdigit() or not 1 <= int(sid) <= len(data):
            raise DataError(f"no such participant: DREAMER subjects are 1..{len(data)} (the "
                            f"position in Data)", path=self.path, subject=sid)
        part = mc.one(data[int(sid) - 1])
        if not mc.fields(part):
            raise DataError(f"Data{{{sid}}} is empty: the participant's recordings are missing",
                            path=self.path, subject=sid)
        return part

    def _scores(self, top, part, col: ProblemCollector) -> np.ndarray | None:
        """``(n_clips, 3)`` valence, arousal, dominance; errors collected."""
        out = []
        for item, name in _SCORES.items():
            try:
                raw = mc.one(mc.field(part, name, path=self.path, subject=col.subject,
                                      where=f"Data{{{col.subject}}}"))
                v = np.asarray(raw, dtype=np.float64).reshape(-1)
            except (DataError, TypeError, ValueError) as err:
                col.error(err.problem if isinstance(err, DataError)
                          else f"{name} is not numeric", self.path)
                return None
            out.append(v)
        lengths = {len(v) for v in out}
        if len(lengths) != 1:
            col.error(f"ScoreValence/ScoreArousal/ScoreDominance have {[len(v) for v in out]} "
                      f"values: one per clip each", self.path)
            return None
        scores = np.column_stack(out)
        lo, hi = SCALE
        for k, item in enumerate(ITEMS):
            v = scores[:, k]
            bad = np.flatnonzero(np.isfinite(v) & ((v < lo) | (v > hi)))
            if bad.size:
                col.error(f"{_SCORES[item]} outside {lo:g}..{hi:g}: " + ", ".join(
                    f"clip {i + 1} = {v[i]:g}" for i in bad[:6]), self.path)
            for i in np.flatnonzero(~np.isfinite(v)):
                col.warn(f"{_SCORES[item]} of clip {i + 1} is missing (NaN): the clip has no "
                         f"label", self.path)
        return scores

    def _clips(self, part, modality: str, n_clips: int, col: ProblemCollector) -> list | None:
        struct_name, _, n_cols = _SIGNALS[modality]
        where = f"Data{{{col.subject}}}.{struct_name}"
        try:
            inner = mc.field(part, struct_name, path=self.path, subject=col.subject,
                             where=f"Data{{{col.subject}}}")
            raw = mc.cells(mc.field(inner, "stimuli", path=self.path, subject=col.subject,
                                    where=where))
        except DataError as err:
            col.add(err)
            return None
        if len(raw) != n_clips:
            col.error(f"{where}.stimuli holds {len(raw)} clip(s), expected {n_clips} (one per "
                      f"video sequence): a clip is missing", self.path)
            return None
        out = []
        for k, cell in enumerate(raw):
            what = f"{where}.stimuli{{{k + 1}}} (clip {k + 1})"
            if isinstance(cell, np.ndarray) and cell.size == 0:
                col.error(f"{what} is empty: the recording is missing", self.path)
                out.append(None)
                continue
            try:
                arr = mc.matrix(cell, n_cols, path=self.path, subject=col.subject, what=what)
            except DataError as err:
                col.add(err)
                out.append(None)
                continue
            n_nan = int(np.isnan(arr).sum())
            if n_nan:
                col.warn(f"{what} holds {n_nan} NaN sample value(s)", self.path)
            out.append(arr)
        return out

    def _subject(self, sid: str, mods: Sequence[str], col: ProblemCollector) -> list[Trial]:
        top = self._top()
        part = self._participant(sid)
        scores = self._scores(top, part, col)
        n_clips = len(scores) if scores is not None else None
        if "noOfVideoSequences" in mc.fields(top):
            want = int(mc.number(top.noOfVideoSequences, path=self.path,
                                 what="noOfVideoSequences"))
            if n_clips is not None and n_clips != want:
                col.error(f"the scores list {n_clips} clip(s) but noOfVideoSequences is {want}",
                          self.path)
            n_clips = want
        if n_clips is None:
            return []
        # both signals are always validated (they are in memory anyway): a clip whose EEG and
        # ECG durations differ tells of a truncated array whichever modality is asked for
        arrays, rates = {}, {}
        for m in _SIGNALS:
            try:
                rates[m], chans = self._setting(top, part, m, col)
            except DataError as err:
                col.add(err)
                continue
            clips = self._clips(part, m, n_clips, col)
            if clips is not None:
                arrays[m] = (clips, chans)
        if len(arrays) == 2:
            self._compare_durations(arrays, rates, col)
        trials = []
        for k in range(n_clips):
            signals = {}
            for m in mods:
                if m in arrays and arrays[m][0][k] is not None:
                    arr = arrays[m][0][k][:, :1] if m == "ecg" else arrays[m][0][k]
                    # a copy: the arrays belong to the file kept loaded for the next read
                    signals[m] = Signal(arr.copy(), rates[m], list(arrays[m][1]))
            values = (scores[k].copy() if scores is not None and k < len(scores)
                      else np.full(3, np.nan))
            trials.append(Trial(
                trial_id=str(k + 1), order=k,
                category=CLIP_EMOTIONS[k] if k < len(CLIP_EMOTIONS) else None,
                signals=signals, panas=values, panas_items=list(ITEMS),
                extra=dict(zip(ITEMS, map(float, values)))))
        return trials

    def _compare_durations(self, arrays: dict, rates: dict, col: ProblemCollector) -> None:
        for k, (e, c) in enumerate(zip(arrays["eeg"][0], arrays["ecg"][0])):
            if e is None or c is None:
                continue
            de, dc = e.shape[0] / rates["eeg"], c.shape[0] / rates["ecg"]
            if abs(de - dc) > self.duration_tolerance_s:
                col.error(f"clip {k + 1}: the EEG stimulus lasts {de:.2f} s but the ECG "
                          f"{dc:.2f} s (tolerance {self.duration_tolerance_s:g} s): one of the "
                          f"arrays is truncated", self.path)
