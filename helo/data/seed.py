"""Readers for SEED (Zheng & Lu 2015, *IEEE TAMD* 7(3)) and SEED-IV (Zheng et al. 2019,
*IEEE Trans. Cybern.* 49(3)), the BCMI laboratory's (SJTU) emotion EEG releases, as they lie on
disk. Four layouts, one reader class each:

``seed`` -- ``root`` is the SEED folder holding ``Preprocessed_EEG/`` (or that folder)::

    Preprocessed_EEG/<subject>_<YYYYMMDD>.mat   15 subjects x 3 sessions (about a week apart)
    Preprocessed_EEG/label.mat                  ``label`` (1, 15): 1 positive, 0 neutral,
                                                -1 negative, the same for every session

  Each session file holds one variable per film clip, ``<prefix>_eeg1`` .. ``<prefix>_eeg15``
  (the prefix is the subject's initials and differs between subjects, e.g. ``djc_eeg1``), each
  (62 channels, samples): downsampled to 200 Hz and band-passed 0-75 Hz by the authors
  (release readme). The session of a file is the rank of its date among the subject's files.

``seed-features`` -- ``ExtractedFeatures/<subject>_<YYYYMMDD>.mat`` (or that folder) with
  ``label.mat`` as above; each file's ``de_LDS1`` .. ``de_LDS15`` (62, windows, 5) are read: the
  differential entropy of each channel in the bands delta 1-3, theta 4-7, alpha 8-13, beta
  14-30, gamma 31-50 Hz on 1 s windows without overlap, smoothed by a linear dynamical system
  (the file's other variables, ``de_movingAve*``, ``psd_*``, ``dasm_*``, ``rasm_*``, ``asm_*``,
  ``dcau_*``, are not read).

``seed-iv`` -- ``eeg_raw_data/<session>/<subject>_<YYYYMMDD>.mat`` (or ``eeg_raw_data``), session
  folders ``1``, ``2``, ``3``; each file holds ``<prefix>_eeg1`` .. ``<prefix>_eeg24`` (62,
  samples) at 200 Hz. The labels are not in a file: the release readme lists them per session
  (:data:`SEED_IV_LABELS`; 0 neutral, 1 sad, 2 fear, 3 happy), the same for every subject.

``seed-iv-features`` -- ``eeg_feature_smooth/<session>/<subject>_<YYYYMMDD>.mat`` with
  ``de_LDS1`` .. ``de_LDS24`` (62, windows, 5): DE on 4 s windows without overlap, LDS-smoothed,
  bands delta 1-4, theta 4-8, alpha 8-14, beta 14-31, gamma 31-50 Hz (Zheng et al. 2019).

What a subject gives: one :class:`~helo.data.base.Trial` per clip variable, ``trial_id``
``s<session>-t<k>`` (unique per subject), ``order`` ``k - 1`` (presentation position in the
session), ``category`` the class name; trials listed by session, then clip. The label is the
clip's class as a one-hot distribution: ``Trial.panas`` holds it over ``Trial.panas_items``,
the class names (:data:`SEED_CLASSES` / :data:`SEED_IV_CLASSES`), so ``data.labels:
distribution`` takes it as it is (a degenerate distribution: KL on it is the cross-entropy of
the true class; ``data.label_smoothing`` mixes in the uniform). ``Trial.extra``: ``session``,
``date``, ``variable``, ``file``, ``label`` (the raw value), ``distribution``, ``label_kind``.

Raw layouts give ``Trial.signals["eeg"]`` (samples x 62, 200 Hz, channels
:data:`SEED_CHANNELS`); feature layouts give ``Trial.features["eeg"]``, a
:class:`~helo.data.base.FeatureBlock` of one row per released window (channel-major, band
fastest: helo's EEG column order) that says it is helo's EEG DE over those channels and bands,
so it is stored as ``eeg_<channel>_<band>``, the names helo gives DE computed from the raw files.

Faults, each naming the file and the subject (``check`` lists every one; ``read_subject`` raises
the first): an unreadable or truncated MATLAB file; a clip variable that is not (62, samples)
(or (62, windows, 5)) or holds no samples; a clip number with no label (``_eeg16`` where
``label.mat`` has 15; ``_eeg25`` in SEED-IV); the same clip twice in one file; ``label.mat``
without ``label``, or with values other than -1, 0, 1 (a ``label.mat`` that is missing
falls back to the readme's list, with a warning; one that differs from it is used, with a
warning); a SEED-IV session folder other than 1-3. ``check`` also compares subjects: a subject
with fewer session files than the others (a missing file), a file without a clip the others
have, a clip more than 1 s (one window) shorter than the same clip's median over the files (a
truncated array). Warnings: non-finite values, a file with fewer clips than the release has.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from helo.data.base import (
    DataError,
    FeatureBlock,
    Problem,
    ProblemCollector,
    Signal,
    Subject,
    Trial,
    inside_root,
    safe_id,
)
from helo.data.channels import normalise_channels

__all__ = ["SeedReader", "SeedFeaturesReader", "SeedIVReader", "SeedIVFeaturesReader",
           "SEED_CHANNELS", "SEED_CHANNELS_RELEASE", "SEED_LABELS", "SEED_CLASSES",
           "SEED_IV_LABELS", "SEED_IV_CLASSES", "FS"]

#: the 62 electrodes in the rows' order, as the release's ``channel-order.xlsx`` lists them (the
#: ESI NeuroScan 62-channel cap; TorchEEG's ``SEED_CHANNEL_LIST`` is the same list). SEED-IV
#: uses the same cap and order.
SEED_CHANNELS_RELEASE = [
    "FP1", "FPZ", "FP2", "AF3", "AF4", "F7", "F5", "F3", "F1", "FZ", "F2", "F4", "F6", "F8",
    "FT7", "FC5", "FC3", "FC1", "FCZ", "FC2", "FC4", "FC6", "FT8", "T7", "C5", "C3", "C1", "CZ",
    "C2", "C4", "C6", "T8", "TP7", "CP5", "CP3", "CP1", "CPZ", "CP2", "CP4", "CP6", "TP8", "P7",
    "P5", "P3", "P1", "PZ", "P2", "P4", "P6", "P8", "PO7", "PO5", "PO3", "POZ", "PO4", "PO6",
    "PO8", "CB1", "O1", "OZ", "O2", "CB2"]
#: the same names in helo's spelling (:func:`helo.data.channels.normalise_channel`: ``Fp1``,
#: ``FPz``...), which the feature names carry
SEED_CHANNELS = normalise_channels(SEED_CHANNELS_RELEASE)
#: sampling rate of both releases' preprocessed EEG (Hz)
FS = 200.0

#: SEED's ``label.mat``, clip 1 .. 15 (release readme; TorchEEG reads the same from the file)
SEED_LABELS = (1, 0, -1, -1, 0, 1, -1, 0, 1, 1, 0, -1, 0, 1, -1)
#: SEED's label values -> class names (label distribution order: value -1, 0, 1)
SEED_CLASSES = {-1: "negative", 0: "neutral", 1: "positive"}
#: SEED-IV's labels per session, clip 1 .. 24 (release readme; TorchEEG's and LibEER's readers
#: hard-code the same three lists)
SEED_IV_LABELS = {
    1: (1, 2, 3, 0, 2, 0, 0, 1, 0, 1, 2, 1, 1, 1, 2, 3, 2, 2, 3, 3, 0, 3, 0, 3),
    2: (2, 1, 3, 0, 0, 2, 0, 2, 3, 3, 2, 3, 2, 0, 1, 1, 2, 1, 0, 3, 0, 1, 3, 1),
    3: (1, 2, 2, 1, 3, 3, 3, 1, 1, 2, 1, 0, 2, 3, 3, 0, 2, 3, 0, 0, 2, 0, 1, 0)}
SEED_IV_CLASSES = {0: "neutral", 1: "sad", 2: "fear", 3: "happy"}

_FILE = re.compile(r"^(\d+)_(\d{8})\.mat$")
_RAW_VAR = re.compile(r"^(?P<prefix>.+)_eeg(?P<k>\d+)$")
_DE_VAR = re.compile(r"^de_LDS(?P<k>\d+)$")
N_BANDS = 5


@dataclass(frozen=True)
class _Spec:
    """What tells the four layouts apart."""

    name: str                  # SEED or SEED-IV (messages)
    folder: str                # the release's folder under the root
    session_folders: bool      # sessions are folders 1, 2, 3 (SEED-IV) or dates (SEED)
    features: bool             # de_LDS<k> (62, windows, 5) instead of <prefix>_eeg<k>
    classes: dict              # label value -> class name
    n_clips: int               # clips per session in the release
    bands: object              # features: helo's band set naming the columns


_SEED_BANDS = "paper"  # helo's paper bands are SEED's: 1-3, 4-7, 8-13, 14-30, 31-50 Hz
_SEED_IV_BANDS = {"delta": [1.0, 4.0], "theta": [4.0, 8.0], "alpha": [8.0, 14.0],
                  "beta": [14.0, 31.0], "gamma": [31.0, 50.0]}


@dataclass(frozen=True)
class _SessionFile:
    session: int
    date: str
    path: Path


class _SeedFamilyReader:
    """One SEED-family layout (the module doc); subclasses set ``layout`` and ``spec``."""

    layout = ""
    spec: _Spec

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self._label_cache: tuple[dict, list[Problem]] | None = None

    # -- files -------------------------------------------------------------------------------
    @property
    def data_dir(self) -> Path:
        """``root/<release folder>`` when there, else ``root`` itself."""
        inner = self.root / self.spec.folder
        return inner if inner.is_dir() else self.root

    def _files(self) -> dict[str, list[_SessionFile]]:
        """``{subject: [session files in session order]}``."""
        d = self.data_dir
        if not d.is_dir():
            return {}
        found: dict[str, list[_SessionFile]] = {}
        if self.spec.session_folders:
            for sub in sorted(d.iterdir(), key=lambda p: p.name):
                if not (sub.is_dir() and sub.name.isdigit()):
                    continue
                for f in sorted(sub.iterdir(), key=lambda p: p.name):
                    m = _FILE.match(f.name)
                    if m and f.is_file():
                        found.setdefault(m.group(1), []).append(
                            _SessionFile(int(sub.name), m.group(2), f))
            for files in found.values():
                files.sort(key=lambda s: (s.session, s.date))
            return found
        dated: dict[str, list[tuple[str, Path]]] = {}
        for f in sorted(d.iterdir(), key=lambda p: p.name):
            m = _FILE.match(f.name)
            if m and f.is_file():
                dated.setdefault(m.group(1), []).append((m.group(2), f))
        for sid, items in dated.items():
            items.sort()
            found[sid] = [_SessionFile(i + 1, date, f) for i, (date, f) in enumerate(items)]
        return found

    def subjects(self) -> list[str]:
        return sorted(self._files(), key=int)

    def modalities(self) -> list[str]:
        return ["eeg"]

    def source_files(self, subject_id: str) -> list[Path]:
        """The subject's session files and, for SEED, ``label.mat``."""
        files = [s.path for s in self._files().get(str(subject_id), [])]
        if not self.spec.session_folders:
            files.append(self.data_dir / "label.mat")
        return sorted(files)

    # -- labels ------------------------------------------------------------------------------
    def _labels(self) -> tuple[dict[int, tuple], list[Problem]]:
        """``({session: labels of clip 1..n}, problems)``; session 0 stands for every session
        (SEED). SEED reads ``label.mat``; SEED-IV has the readme's lists."""
        if self._label_cache is not None:
            return self._label_cache
        if self.spec.session_folders:
            self._label_cache = ({s: tuple(v) for s, v in SEED_IV_LABELS.items()}, [])
            return self._label_cache
        path = self.data_dir / "label.mat"
        probs: list[Problem] = []
        labels = tuple(SEED_LABELS)
        if not path.is_file():
            probs.append(Problem(None, str(path), "label.mat is missing: the release readme's "
                                 f"labels {list(SEED_LABELS)} are used", "warning"))
        else:
            try:
                inside_root(path, self.root)
                mat = _load_vars(path, ["label"])
                if "label" not in mat:
                    raise DataError("label.mat has no variable 'label'", path=path)
                raw = np.asarray(mat["label"], dtype=np.float64).ravel()
                bad = [i + 1 for i, v in enumerate(raw) if v not in SEED_CLASSES]
                if raw.size == 0 or bad:
                    raise DataError(f"labels out of range: clip(s) {bad[:10]} hold "
                                    f"{[raw[i - 1] for i in bad[:10]]}; SEED's labels are -1 "
                                    f"(negative), 0 (neutral), 1 (positive)" if bad else
                                    "'label' is empty", path=path)
                labels = tuple(int(v) for v in raw)
                if labels != SEED_LABELS:
                    probs.append(Problem(None, str(path), f"'label' {list(labels)} differs from "
                                         f"the release readme's {list(SEED_LABELS)}; the file's "
                                         f"are used", "warning"))
            except DataError as err:
                probs.append(Problem(None, err.path or str(path), err.problem))
                labels = ()
        self._label_cache = ({0: labels}, probs)
        return self._label_cache

    # -- reading -----------------------------------------------------------------------------
    def read_subject(self, subject_id: str, modalities: Sequence[str] | None = None) -> Subject:
        mods = ["eeg"] if modalities is None else list(modalities)
        unknown = [m for m in mods if m != "eeg"]
        if unknown:
            raise ValueError(f"{self.spec.name} has EEG only, not {unknown}")
        sid = safe_id(subject_id, path=self.root)
        files = self._files().get(sid)
        if not files:
            raise DataError(f"no session file {sid}_<YYYYMMDD>.mat under {self.data_dir}",
                            subject=sid, path=self.data_dir)
        col = ProblemCollector(sid)
        labels, label_probs = self._labels()
        for p in label_probs:
            col.problems.append(Problem(sid, p.path, p.message, p.severity))
        trials: list[Trial] = []
        for sf in files:
            trials += self._session(sid, sf, labels, col, load=bool(mods), keep=True)
        col.raise_errors()
        return Subject(sid, trials, self.layout, warnings=col.warning_texts)

    def _session(self, sid: str, sf: _SessionFile, labels: dict, col: ProblemCollector, *,
                 load: bool, keep: bool, lengths: dict | None = None) -> list[Trial]:
        """The trials of one session file (arrays read when ``load``, kept when ``keep``);
        problems go to ``col``; ``lengths[(session key, k)]`` collects each clip's length."""
        path = sf.path
        spec = self.spec
        try:
            inside_root(path, self.root, subject=sid)
            names = _list_vars(path)
        except DataError as err:
            col.add(DataError(err.problem, path=path, subject=sid))
            return []
        if spec.session_folders and sf.session not in labels:
            col.error(f"session folder {sf.session}: {spec.name} has sessions "
                      f"{sorted(labels)} (the readme lists no labels for session "
                      f"{sf.session})", path)
            return []
        clip_labels = labels.get(sf.session if spec.session_folders else 0, ())
        clips: dict[int, tuple[str, tuple]] = {}
        pattern = _DE_VAR if spec.features else _RAW_VAR
        for name, shape in names:
            m = pattern.match(name)
            if not m:
                continue
            k = int(m.group("k"))
            if k in clips:
                col.error(f"clip {k} appears twice ({clips[k][0]} and {name})", path)
                continue
            clips[k] = (name, shape)
        if not clips:
            want = "de_LDS<k>" if spec.features else "<prefix>_eeg<k>"
            col.error(f"no clip variables ({want}) in the file; it holds "
                      f"{[n for n, _ in names][:8]}", path)
            return []
        if len(clips) < spec.n_clips:
            col.warn(f"holds {len(clips)} of the {spec.n_clips} clips of the {spec.name} "
                     f"release", path)
        ok: dict[int, str] = {}
        for k, (name, shape) in sorted(clips.items()):
            if not 1 <= k <= len(clip_labels):
                if clip_labels:
                    where = ("the readme's session lists" if spec.session_folders
                             else "label.mat")
                    col.error(f"{name}: clip {k} has no label ({where} hold "
                              f"{len(clip_labels)} clips)", path)
                continue
            problem = _shape_problem(shape, spec.features)
            if problem:
                col.error(f"{name}: {problem}", path)
                continue
            ok[k] = name
            if lengths is not None:
                key = (sf.session, k) if spec.session_folders else (0, k)
                lengths.setdefault(key, []).append((sid, str(path), int(shape[1])))
        arrays: dict[str, np.ndarray] = {}
        if load and ok:
            try:
                arrays = _load_vars(path, list(ok.values()))
            except DataError as err:
                col.add(DataError(err.problem, path=path, subject=sid))
                return []
        trials = []
        for k, name in ok.items():
            value = clip_labels[k - 1]
            trial = self._trial(sid, sf, k, name, value)
            if load:
                a = arrays.get(name)
                if a is None or _shape_problem(np.shape(a), spec.features):
                    col.error(f"{name}: could not be read as listed (shape "
                              f"{None if a is None else np.shape(a)}): truncated file?", path)
                    continue
                if np.asarray(a).dtype.kind not in "fiu":
                    col.error(f"{name}: not a numeric array ({np.asarray(a).dtype})", path)
                    continue
                a = np.asarray(a)
                bad = int(np.size(a) - np.count_nonzero(np.isfinite(a)))
                if bad:
                    col.warn(f"{name}: {bad} non-finite value(s) (their windows get no "
                             f"features)", path)
                if keep:
                    self._attach(trial, a)
            trials.append(trial)
        return trials

    def _trial(self, sid: str, sf: _SessionFile, k: int, name: str, value: int) -> Trial:
        classes = list(self.spec.classes.values())
        dist = np.zeros(len(classes))
        dist[list(self.spec.classes).index(value)] = 1.0
        return Trial(trial_id=f"s{sf.session}-t{k}", order=k - 1,
                     category=self.spec.classes[value], panas=dist.copy(),
                     panas_items=classes,
                     extra={"session": sf.session, "date": sf.date, "variable": name,
                            "file": str(sf.path), "label": int(value), "distribution": dist,
                            "label_kind": "distribution"})

    def _attach(self, trial: Trial, a: np.ndarray) -> None:
        if self.spec.features:  # (62, windows, 5) -> windows x (62 * 5), band fastest
            values = np.asarray(a, dtype=np.float64).transpose(1, 0, 2).reshape(a.shape[1], -1)
            trial.features["eeg"] = FeatureBlock(values, [], computed={
                "channels": list(SEED_CHANNELS),
                "bands": (self.spec.bands if isinstance(self.spec.bands, str)
                          else {b: list(e) for b, e in self.spec.bands.items()})})
        else:
            trial.signals["eeg"] = Signal(np.ascontiguousarray(a.T, dtype=np.float64), FS,
                                          list(SEED_CHANNELS))

    # -- check -------------------------------------------------------------------------------
    def check(self) -> list[Problem]:
        if not self.data_dir.is_dir():
            return [Problem(None, str(self.root), "dataset root is not a folder")]
        files = self._files()
        problems: list[Problem] = []
        if not files:
            from helo.data import no_subjects_message
            where = (f"{self.spec.folder}/<session>/<subject>_<YYYYMMDD>.mat"
                     if self.spec.session_folders else
                     f"{self.spec.folder}/<subject>_<YYYYMMDD>.mat")
            problems.append(Problem(None, str(self.root), f"no {self.spec.name} session files "
                                    f"({where}) found; " + no_subjects_message(self.layout,
                                                                               self.root)))
            return problems
        labels, label_probs = self._labels()
        problems += label_probs
        problems += self._stray_files()
        lengths: dict = {}
        clip_sets: dict[int, dict[str, set]] = {}
        for sid in self.subjects():
            col = ProblemCollector(sid)
            for sf in files[sid]:
                try:
                    trials = self._session(sid, sf, labels, col, load=True, keep=False,
                                           lengths=lengths)
                except (MemoryError, RecursionError, OSError) as err:
                    col.error(f"{type(err).__name__} while reading the file: corrupted or "
                              f"malicious?", sf.path)
                    continue
                key = sf.session if self.spec.session_folders else 0
                clip_sets.setdefault(key, {})[str(sf.path)] = (
                    sid, {int(t.trial_id.split("-t")[1]) for t in trials})
            problems += col.problems
        problems += self._missing_sessions(files)
        problems += self._missing_clips(clip_sets)
        problems += self._truncated(lengths)
        return problems

    def _stray_files(self) -> list[Problem]:
        d = self.data_dir
        out = []
        folders = ([p for p in d.iterdir() if p.is_dir() and p.name.isdigit()]
                   if self.spec.session_folders else [d])
        for folder in folders:
            for f in sorted(folder.glob("*.mat")):
                if f.name != "label.mat" and not _FILE.match(f.name):
                    out.append(Problem(None, str(f), "not a session file "
                                       "(<subject>_<YYYYMMDD>.mat): ignored", "warning"))
        return out

    def _missing_sessions(self, files: dict[str, list[_SessionFile]]) -> list[Problem]:
        """A subject with fewer session files than the others: a missing file."""
        out = []
        if self.spec.session_folders:
            sessions = sorted({s.session for fs in files.values() for s in fs})
            for sid, fs in files.items():
                have = {s.session for s in fs}
                for s in sessions:
                    if s not in have:
                        out.append(Problem(sid, str(self.data_dir / str(s)),
                                           f"missing session file: session {s} has no "
                                           f"{sid}_<YYYYMMDD>.mat (other subjects have one)"))
            return out
        most = max(len(fs) for fs in files.values())
        for sid, fs in files.items():
            if len(fs) < most:
                out.append(Problem(sid, str(self.data_dir), f"missing session file: "
                                   f"{len(fs)} session file(s) "
                                   f"({', '.join(s.path.name for s in fs)}) where other "
                                   f"subjects have {most}"))
        return out

    def _missing_clips(self, clip_sets: dict[int, dict[str, tuple]]) -> list[Problem]:
        out = []
        for key, per_file in clip_sets.items():
            union = set().union(*(c for _, c in per_file.values()))
            for path, (sid, clips) in per_file.items():
                missing = sorted(union - clips)
                if missing:
                    out.append(Problem(sid, path, f"lacks clip(s) {missing} that other "
                                       f"{'session ' + str(key) + ' ' if key else ''}files have"))
        return out

    def _truncated(self, lengths: dict) -> list[Problem]:
        """A clip shorter than the same clip's median over the files by more than 1 s."""
        tol = 1 if self.spec.features else int(FS)
        unit = "window(s)" if self.spec.features else "samples"
        out = []
        for (session, k), items in sorted(lengths.items()):
            if len(items) < 2:
                continue
            med = float(np.median([n for _, _, n in items]))
            for sid, path, n in items:
                if n < med - tol:
                    where = f"session {session} clip {k}" if session else f"clip {k}"
                    out.append(Problem(sid, path, f"truncated array: {where} has {n} {unit}, "
                                       f"the same clip {med:g} (median over {len(items)} "
                                       f"files)"))
        return out


# ------------------------------------------------------------------------------ MATLAB files

def _list_vars(path: Path) -> list[tuple[str, tuple]]:
    """``[(name, shape)]`` of a MATLAB file's variables without reading their data (v7.3
    files through h5py, shapes in MATLAB's order); DataError naming the file otherwise."""
    import scipy.io
    if not path.is_file():
        raise DataError("MATLAB file is missing", path=path)
    try:
        return [(name, tuple(int(n) for n in shape))
                for name, shape, _ in scipy.io.whosmat(str(path))]
    except NotImplementedError:
        pass  # v7.3: HDF5
    except Exception as err:  # noqa: BLE001 - any parser failure is a data problem
        raise DataError(f"cannot read the MATLAB file (truncated or not a MAT-file?): "
                        f"{type(err).__name__}: {err}", path=path) from None
    try:
        import h5py
        with h5py.File(path, "r") as fh:
            return [(name, tuple(int(n) for n in fh[name].shape[::-1])) for name in fh
                    if isinstance(fh[name], h5py.Dataset)]
    except Exception as err:  # noqa: BLE001
        raise DataError(f"cannot read the MATLAB v7.3 file: {type(err).__name__}: {err}",
                        path=path) from None


def _load_vars(path: Path, names: list[str]) -> dict[str, np.ndarray]:
    """Variables ``names`` (those present) of a MATLAB file; DataError naming the file."""
    import scipy.io
    try:
        return {k: v for k, v in scipy.io.loadmat(str(path), variable_names=list(names)).items()
                if not k.startswith("__")}
    except NotImplementedError:
        pass
    except Exception as err:  # noqa: BLE001
        raise DataError(f"cannot read the MATLAB file (truncated or not a MAT-file?): "
                        f"{type(err).__name__}: {err}", path=path) from None
    try:
        import h5py
        with h5py.File(path, "r") as fh:
            return {n: np.asarray(fh[n]).T for n in names if n in fh}
    except Exception as err:  # noqa: BLE001
        raise DataError(f"cannot read the MATLAB v7.3 file: {type(err).__name__}: {err}",
                        path=path) from None


def _shape_problem(shape, features: bool) -> str | None:
    shape = tuple(shape)
    n_ch = len(SEED_CHANNELS)
    if features:
        if len(shape) != 3 or shape[0] != n_ch or shape[2] != N_BANDS:
            return f"shape {shape}, expected ({n_ch} channels, windows, {N_BANDS} bands)"
    elif len(shape) != 2 or shape[0] != n_ch:
        return f"shape {shape}, expected ({n_ch} channels, samples)"
    if shape[1] < 1:
        return f"shape {shape}: no {'windows' if features else 'samples'}"
    return None


# ------------------------------------------------------------------------------ the layouts

_SEED = dict(name="SEED", session_folders=False, classes=SEED_CLASSES, n_clips=15)
_SEED_IV = dict(name="SEED-IV", session_folders=True, classes=SEED_IV_CLASSES, n_clips=24)


class SeedReader(_SeedFamilyReader):
    """SEED's ``Preprocessed_EEG`` (the module doc)."""

    layout = "seed"
    spec = _Spec(folder="Preprocessed_EEG", features=False, bands=_SEED_BANDS,
                 **_SEED)


class SeedFeaturesReader(_SeedFamilyReader):
    """SEED's ``ExtractedFeatures``: ``de_LDS<k>`` on 1 s windows (the module doc)."""

    layout = "seed-features"
    spec = _Spec(folder="ExtractedFeatures", features=True, bands=_SEED_BANDS,
                 **_SEED)


class SeedIVReader(_SeedFamilyReader):
    """SEED-IV's ``eeg_raw_data`` (the module doc)."""

    layout = "seed-iv"
    spec = _Spec(folder="eeg_raw_data", features=False, bands=_SEED_IV_BANDS,
                 **_SEED_IV)


class SeedIVFeaturesReader(_SeedFamilyReader):
    """SEED-IV's ``eeg_feature_smooth``: ``de_LDS<k>`` on 4 s windows (the module doc)."""

    layout = "seed-iv-features"
    spec = _Spec(folder="eeg_feature_smooth", features=True, bands=_SEED_IV_BANDS, **_SEED_IV)
