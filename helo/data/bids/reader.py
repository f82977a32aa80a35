"""The ``bids`` layout: anyone's own raw recordings as a BIDS dataset (EEG-BIDS, physio, beh).

BIDS (Brain Imaging Data Structure) is how EEG researchers already share recordings; ``mne-bids``
reads it. What this reader takes, per subject ``sub-<label>/`` (optionally inside
``ses-<label>/``), for every *recording* (a task/acq/run: the part of a file name before its
suffix, e.g. ``sub-01_task-emotion_run-1``):

EEG (optional)
    ``eeg/<recording>_eeg.<ext>`` in any format MNE reads through ``mne_bids.read_raw_bids``
    (EDF, BDF, BrainVision ``.vhdr``, EEGLAB ``.set``, FIF), with ``_channels.tsv`` giving channel
    types. Channels of type EEG form the ``eeg`` signal, in microvolts, their names normalised by
    :func:`helo.data.channels.normalise_channel` (case, trailing dots as in EEGMMIDB's ``Fp1.``,
    ``EEG ``/``-REF`` decorations, and the 10-20 aliases T3 -> T7, T4 -> T8, T5 -> P7, T6 -> P8);
    any channel set is accepted. Other channels of the file become physiological signals:
    type ECG -> ``ecg``, EMG -> ``emg``, GSR -> ``gsr``, RESP -> ``resp``, TEMP -> ``temp``, and
    MISC/BIO channels whose name is one of the physio column names below; their values are in
    the units the file declares (MNE's SI scaling undone). STIM/EOG/other channels are ignored.
Physiological recordings (optional)
    ``<datatype>/<recording>[_recording-<label>]_physio.tsv.gz`` + ``.json`` (BIDS
    "physiological recordings": a header-less, tab-separated, gzip table; the JSON's
    ``SamplingFrequency`` (Hz), ``StartTime`` (s of the first row relative to the first sample of
    the recording's EEG file, or to time 0 of its events when there is no EEG) and ``Columns``
    (one name per column) are required). A column becomes a modality by its name
    (case-insensitive): ``cardiac``/``ppg``/``bvp``/``pulse`` -> ``ppg``, ``gsr`` -> ``gsr``,
    ``eda`` -> ``eda``, ``ecg`` -> ``ecg``, ``emg`` -> ``emg``, ``respiratory``/``resp`` ->
    ``resp``, ``temp``/``temperature`` -> ``temp``, ``acc``/``acc_x``... -> ``acc`` (several
    columns of one modality are its channels); ``trigger`` columns and unknown names are
    skipped with a warning.
    Several physio files of one recording (one per rate, told apart by ``_recording-<label>``)
    may coexist; one modality in two places (two files, or a file and the EEG file) is an error
    naming both.
Events (required)
    ``<recording>_events.tsv`` next to the EEG (or physio) file, with ``onset`` and ``duration``
    (s, relative to the EEG file's first sample), and ``trial_type`` and/or ``trial`` (a BIDS
    extra column: describe it in ``_events.json``). Which rows are trials, how long each lasts
    and what it is called are the reader options ``trial_types``, ``duration_s`` and ``ids``
    (``data.events`` in params.yaml; :mod:`helo.data.bids.events` has the full rules). By
    default a row's *trial id* is its ``trial`` column when the file has one, else its
    ``trial_type``; a row is a trial when its id has a self-report (below), and it lasts its
    ``duration``, which must then be positive. Rows without a self-report (rest, practice,
    fixation markers) are skipped with a warning. For datasets that mark stimuli as instants
    (``duration`` 0 or ``n/a``) and repeat a condition under one ``trial_type``:
    ``trial_types`` (the trial_types that are trials), ``duration_s`` (every trial lasts that
    many seconds from its onset) and ``ids: numbered`` (``<trial_type>-1``, ``-2``, ... in
    onset order over the subject's recordings). A trial id that appears twice in a subject
    (across runs too) is an error naming both rows and the setting that fixes it; so is an
    instant without ``duration_s``, and a self-report that no event takes.
    ``Trial.category`` is the row's ``trial_type`` (when the id is not the trial_type itself),
    ``order`` the trial's position in time (recordings in file-name order -- session, task, run
    -- with numbers compared as numbers, so run-2 before run-10; rows by onset).
Self-reports (required): ``beh/<sub>[_ses]_task-<task>[_run-<r>]_beh.tsv``
    The BIDS ``beh`` datatype is where behavioural responses recorded outside the neural
    recording live; every beh table of the subject is read (:mod:`helo.data.bids.reports`).
    A table with a ``trial`` column has one row per trial (matching the trial ids); a table
    with a ``trial_type`` column and no ``trial`` column has one row per condition, which
    applies to every trial of that ``trial_type``. A key in two rows, or a trial that a trial
    row and a condition row would both label, is an error naming both rows. Label columns:
    either PANAS item columns named by the item (``Inspired`` ... ``Distressed``, any of DMER's
    or WESAD's PANAS items, case-insensitive; scores 1-5; ``n/a`` allowed) or label columns
    ``label__<item>`` (a label distribution per row, non-negative and summing to 1, or scores,
    which are normalised; the generic layout's convention). Any other numeric column (arousal,
    valence...) goes to ``Trial.extra`` under its lower-case name. PANAS and ``label__`` columns
    together are an error.
Face video (optional), BEP047 (audio/video recordings of behaving subjects, in review)
    ``beh/<recording>[_recording-<label>]_video.<mp4|mkv|avi|mov>`` + optional ``.json`` with
    ``StartTime`` (s of frame 0 on the recording's EEG clock; default 0) and ``FrameRate`` (else
    the file's). A trial's frames are those from the first frame at or after its onset,
    ``round(duration * fps)`` of them.

Cutting a trial out of a stream of rate ``fs`` whose first sample lies at ``start`` s: samples
from ``ceil((onset - start) * fs)`` (the first at or after the onset, 1e-6 sample tolerance),
``round(duration * fs)`` of them; a trial that runs outside the stream is an error naming the
file.

Sidecar fields are type-checked, naming the file and the field: ``SamplingFrequency`` and
``FrameRate`` finite numbers > 0, ``StartTime`` a finite number, ``Columns`` a list of strings.
An EEG file none of whose channels is typed EEG gives no ``eeg`` signal: an error when ``eeg``
is read, with the same message for check-data (which reads everything) unless the file gives
physiological channels. A dataset file (or ``sub-<label>`` folder) that is a link leading
outside the dataset root is refused before it is read (:func:`helo.data.base.inside_root`).

Subject ids are the ``sub-<label>`` labels: letters, digits, ``-`` and ``_`` only (they become
file names in the feature store); anything else is an error naming the folder.
Which tasks are read: every task, or only ``task`` (the reader option; ``data.task`` in
params.yaml, ``--task`` for ``helo check-data`` / ``helo predict``). Trial ids must be unique
per subject across what is read, so a dataset whose tasks reuse trial ids needs ``task`` (or
``ids: numbered``); the error then says so.

Reader options, all from params.yaml through :func:`helo.stages.common.reader_options`, so
``helo check-data`` (which takes ``--params`` and ``-S`` like the stages) accepts exactly what
extraction reads: ``task`` (``data.task``), ``trial_types``, ``duration_s`` and ``ids``
(``data.events.*``).
"""
from __future__ import annotations

import math
import re
import warnings as _warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from helo.data.base import (
    DataError,
    Problem,
    ProblemCollector,
    Signal,
    Subject,
    Trial,
    VideoRef,
    dataset_files,
    finite_number,
    inside_root,
    string_list,
)
from helo.data.bids.events import EventRules, assign_ids, read_events, select_trials
from helo.data.bids.reports import read_reports
from helo.data.bids.tables import read_tsv
from helo.data.channels import normalise_channels
from helo.data.loading import json_object

__all__ = ["BidsReader", "PHYSIO_COLUMNS", "safe_label"]

_SAFE = re.compile(r"^[A-Za-z0-9_-]+$")
EEG_EXTS = (".edf", ".bdf", ".vhdr", ".set", ".fif")
VIDEO_EXTS = (".mp4", ".mkv", ".avi", ".mov")
#: physio column / channel name (lower case) -> modality
PHYSIO_COLUMNS = {"cardiac": "ppg", "ppg": "ppg", "bvp": "ppg", "pulse": "ppg", "gsr": "gsr",
                  "eda": "eda", "ecg": "ecg", "emg": "emg", "respiratory": "resp",
                  "resp": "resp", "temp": "temp", "temperature": "temp", "acc": "acc"}
#: MNE channel type -> modality (misc/bio go by name)
_TYPE_MODALITY = {"ecg": "ecg", "emg": "emg", "gsr": "gsr", "resp": "resp", "temperature": "temp",
                  "temp": "temp", "ppg": "ppg"}  # MNE's names and BIDS channels.tsv's
_UNIT_SCALE = {"uv": 1e6, "µv": 1e6, "mv": 1e3, "nv": 1e9, "us": 1e6, "µs": 1e6, "ms": 1e3}


def _task_of(path) -> str | None:
    """The ``task-<label>`` entity of a BIDS file name (None without one)."""
    for kv in Path(path).name.split("_")[:-1]:
        if kv.startswith("task-"):
            return kv[5:]
    return None


def safe_label(label: str, path) -> str:
    """``label`` if it is letters, digits, ``-`` and ``_`` only; DataError naming ``path``."""
    if not _SAFE.match(label or ""):
        raise DataError(f"BIDS label {label!r} is not safe: only letters, digits, '-' and '_' "
                        "are allowed", path=path)
    return label


def _physio_modality(name: str) -> tuple[str | None, str]:
    """(modality or None, channel name) of a physio column / channel name."""
    low = str(name).strip().lower()
    if low in PHYSIO_COLUMNS:
        return PHYSIO_COLUMNS[low], low
    head, _, rest = low.partition("_")
    if rest and head in PHYSIO_COLUMNS:
        return PHYSIO_COLUMNS[head], low
    return None, low


def _physio_sidecar(path: Path, sid: str | None) -> tuple[float, float, list[str]]:
    """``(SamplingFrequency, StartTime, Columns)`` of a physio sidecar, type-checked:
    SamplingFrequency a finite number > 0, StartTime a finite number, Columns a non-empty list
    of non-empty strings. DataError naming the file and the field otherwise."""
    meta = json_object(path, "physio sidecar", ("SamplingFrequency", "StartTime", "Columns"),
                       subject=sid, allow_nan=True)
    fs = finite_number(meta["SamplingFrequency"], field="SamplingFrequency", path=path,
                       subject=sid, positive=True)
    start = finite_number(meta["StartTime"], field="StartTime", path=path, subject=sid)
    columns = string_list(meta["Columns"], field="Columns", path=path, subject=sid)
    return fs, start, columns


class _Wanted:
    """Which modalities a read loads: all (``mods`` None: check-data) or those listed."""

    def __init__(self, mods: list[str] | None):
        self.mods = mods
        self.everything = mods is None

    def __call__(self, m: str) -> bool:
        return self.everything or m in self.mods


def _select_channels(ch_names: list[str], types: list[str]) -> tuple[list[int], dict]:
    """The channel selection of an EEG file, one rule for reading and checking: indices of the
    channels of type EEG, and modality -> indices of the physiological channels (by type, or by
    name for MISC/BIO channels); every other channel is ignored."""
    eeg_idx = [i for i, t in enumerate(types) if t == "eeg"]
    groups: dict[str, list[int]] = {}
    for i, t in enumerate(types):
        m = _TYPE_MODALITY.get(t) or (_physio_modality(ch_names[i])[0]
                                      if t in ("misc", "bio") else None)
        if m is not None and m != "eeg":
            groups.setdefault(m, []).append(i)
    return eeg_idx, groups


def _natural(text: str) -> list:
    """Sort key comparing the numbers in ``text`` as numbers (run-2 before run-10)."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


def _start(onset: float, start: float, fs: float) -> int:
    return int(math.ceil((onset - start) * fs - 1e-6))


class BidsReader:
    """Reader for the ``bids`` layout (see the module docstring)."""

    layout = "bids"

    def __init__(self, root: str | Path, *, task: str | None = None,
                 trial_types: Sequence[str] | None = None, duration_s: float | None = None,
                 ids: str = "trial"):
        self.root = Path(root)
        self.task = task
        self.events = EventRules(trial_types, duration_s, ids)

    def __repr__(self) -> str:
        return f"BidsReader({str(self.root)!r})"

    # ------------------------------------------------------------------ discovery

    def subjects(self) -> list[str]:
        if not self.root.is_dir():
            return []
        out = []
        for p in sorted(self.root.glob("sub-*")):
            if p.is_dir():
                out.append(safe_label(p.name[4:], p))
        return sorted(out, key=_natural)

    def _subject_dir(self, sid: str) -> Path:
        safe_label(sid, self.root / f"sub-{sid}")
        d = self.root / f"sub-{sid}"
        if not d.is_dir():
            raise DataError("subject folder is missing", path=d, subject=sid)
        inside_root(d, self.root, subject=sid)
        for p in self.root.iterdir():  # dataset-level sidecars and tables mne-bids may read
            if p.suffix in (".json", ".tsv") and (p.is_file() or p.is_symlink()):
                inside_root(p, self.root, subject=sid)
        return d

    def _files(self, d: Path, sid: str) -> list[Path]:
        out = []
        for p in sorted(d.rglob(f"sub-{sid}_*")):
            if p.name.startswith(".tmp-"):
                continue
            inside_root(p, self.root, subject=sid)  # before anything reads it
            if not p.is_file():
                continue
            ents = dict(kv.split("-", 1) for kv in p.name.split("_")[:-1] if "-" in kv)
            for v in ents.values():
                safe_label(v, p)
            if ents.get("sub") != sid:
                raise DataError(f"file name says sub-{ents.get('sub')}, its folder sub-{sid}",
                                path=p, subject=sid)
            if self.task is not None and "task" in ents and ents["task"] != self.task:
                continue
            out.append(p)
        return out

    def source_files(self, subject_id: str) -> list[Path]:
        """Files the subject's features may come from: ``sub-<label>/`` and the root's files
        (``dataset_description.json``, inherited sidecars)."""
        sid = safe_label(str(subject_id), self.root / f"sub-{subject_id}")
        return dataset_files(self.root, [self.root / f"sub-{sid}"])

    def _tasks_hint(self, first, second) -> str:
        """Advice for a trial id found in two files of different tasks, when every task is read
        (empty otherwise): the error message's tail."""
        if self.task is None and _task_of(first) != _task_of(second):
            return "; the files are of different tasks: read one with data.task (--task)"
        return ""

    @staticmethod
    def _recording(p: Path) -> str:
        """The recording key of a file: its name before the suffix, without ``recording-``."""
        parts = p.name.split("_")[:-1]
        return "_".join(x for x in parts if not x.startswith("recording-"))

    def modalities(self) -> list[str]:
        """Modalities found in the first subject (EEG, physio columns, extra channels, video)."""
        sids = self.subjects()
        if not sids:
            return []
        d = self._subject_dir(sids[0])
        mods: list[str] = []
        for p in self._files(d, sids[0]):
            if p.name.endswith("_channels.tsv"):
                import pandas as pd
                df = pd.read_csv(p, sep="\t", dtype=str)
                for nm, tp in zip(df.get("name", []), df.get("type", [])):
                    tp = str(tp).lower()
                    m = "eeg" if tp == "eeg" else _TYPE_MODALITY.get(tp) or (
                        _physio_modality(nm)[0] if tp in ("misc", "bio") else None)
                    if m and m not in mods:
                        mods.append(m)
            elif p.name.endswith("_physio.json"):
                try:
                    columns = _physio_sidecar(p, sids[0])[2]
                except DataError:
                    continue  # named by check-data and by extraction
                for c in columns:
                    m = _physio_modality(c)[0]
                    if m and m not in mods:
                        mods.append(m)
            elif p.name.endswith(tuple(f"_video{e}" for e in VIDEO_EXTS)) and "video" not in mods:
                mods.append("video")
        return mods

    # ------------------------------------------------------------------ reading

    def read_subject(self, subject_id: str, modalities: Sequence[str] | None = None) -> Subject:
        sid = str(subject_id)
        col = ProblemCollector(sid)
        subj = self._read(sid, None if modalities is None else [m.lower() for m in modalities],
                          col)
        subj.warnings = col.warning_texts
        return subj

    def check(self) -> list[Problem]:
        if not self.root.is_dir():
            return [Problem(None, str(self.root), "dataset root does not exist")]
        try:
            sids = self.subjects()
        except DataError as e:
            return [Problem.from_error(e)]
        problems: list[Problem] = []
        if not sids:
            problems.append(Problem(None, str(self.root), "no sub-<label> folders found"))
        for sid in sids:
            col = ProblemCollector(sid)
            try:
                self._read(sid, None, col)
            except DataError as e:
                col.add(e)
            except Exception as e:  # one subject never stops the others
                col.error(f"unexpected {type(e).__name__}: {e}")
            problems.extend(col.problems)
        return problems

    def _read(self, sid: str, mods: list[str] | None, col: ProblemCollector) -> Subject:
        d = self._subject_dir(sid)
        files = self._files(d, sid)
        reports = read_reports([p for p in files if p.name.endswith("_beh.tsv")], d, col,
                               self._tasks_hint)
        recs: dict[str, dict[str, list[Path]]] = {}
        for p in files:
            kind = next((k for k, sfx in (
                ("eeg", tuple(f"_eeg{e}" for e in EEG_EXTS)), ("events", ("_events.tsv",)),
                ("physio", ("_physio.tsv.gz",)), ("video", tuple(f"_video{e}" for e in VIDEO_EXTS)))
                if p.name.endswith(sfx)), None)
            if kind is not None:
                recs.setdefault(self._recording(p), {}).setdefault(kind, []).append(p)
        if not any("events" in r for r in recs.values()):
            raise col.fail("no _events.tsv: the events define the trials", d)
        used = []  # the recordings with events, in recording order
        for key in sorted(recs, key=_natural):
            r = recs[key]
            if "events" not in r:
                if "eeg" in r or "physio" in r:
                    col.warn("recording has no _events.tsv; skipped", (r.get("eeg") or
                                                                        r["physio"])[0])
                continue
            if len(r.get("eeg", [])) > 1:
                raise col.fail(f"recording {key} has {len(r['eeg'])} EEG files "
                               f"({[p.name for p in r['eeg']]}); keep one", r["eeg"][0].parent)
            used.append(r)
        events = [read_events(r["events"][0], self.events, col) for r in used]
        assign_ids(events, self.events, col)
        chosen = select_trials(events, reports, self.events, col, self._tasks_hint)
        trials: list[Trial] = []
        for r, rec in zip(used, chosen):
            rows = [t.row() for t in rec]
            rec_trials = [t.report.trial(t.event.trial_id, t.event.category) for t in rec]
            if mods is None or mods:
                self._signals(r, rows, rec_trials, mods, col)
            trials.extend(rec_trials)
        if not trials:
            raise col.fail("no trials: no event has a self-report", d)
        for k, t in enumerate(trials):
            t.order = k
        return Subject(sid, trials, self.layout)

    # ------------------------------------------------------------------ signals

    def _signals(self, r: dict, rows: list, trials: list[Trial], mods: list[str] | None,
                 col: ProblemCollector) -> None:
        want = _Wanted(mods)
        streams: dict[str, tuple] = {}  # modality -> (data (n, c), fs, start, names, path)
        if r.get("eeg") and (mods is None or any(m != "video" for m in mods)):
            self._eeg(r["eeg"][0], streams, want, col)
        for p in r.get("physio", []):
            self._physio(p, streams, want, col)
        for m, (x, fs, start, names, path) in streams.items():
            for t, (tid, onset, dur, _) in zip(trials, rows):
                if not (math.isfinite((onset - start) * fs) and math.isfinite(dur * fs)):
                    raise col.fail(f"trial {tid!r} ({onset:g} s + {dur:g} s) at {fs:g} Hz from "
                                   f"{start:g} s gives no finite sample index", path)
                a = _start(onset, start, fs)
                n = int(round(dur * fs))
                if a < 0 or a + n > x.shape[0]:
                    raise col.fail(f"trial {tid!r} ({onset:g} s + {dur:g} s) runs outside the "
                                   f"{m} recording ({x.shape[0] / fs:g} s from {start:g} s)", path)
                seg = x[a:a + n]
                if np.isnan(seg).any():
                    col.warn(f"{m} of trial {tid} has {int(np.isnan(seg).sum())} NaN value(s)",
                             path)
                t.signals[m] = Signal(seg, fs, list(names))
        if want("video"):
            videos = r.get("video", [])
            if len(videos) > 1:
                col.warn(f"{len(videos)} videos for one recording; the first "
                         f"({videos[0].name}) is used", videos[0])
            if videos:
                self._video(videos[0], rows, trials, col)

    @staticmethod
    def _add(streams: dict, m: str, value: tuple, col: ProblemCollector) -> None:
        if m in streams:
            raise col.fail(f"modality {m} is in {Path(streams[m][4]).name} and in "
                           f"{Path(value[4]).name}; keep it in one place", value[4])
        streams[m] = value

    @staticmethod
    def _all(want) -> bool:
        """True when ``want`` admits every modality (reading everything, as check-data does)."""
        return getattr(want, "everything", False)

    def _eeg(self, path: Path, streams: dict, want, col: ProblemCollector) -> None:
        from mne_bids import get_bids_path_from_fname, read_raw_bids
        try:
            with _warnings.catch_warnings():
                _warnings.simplefilter("ignore")
                bp = get_bids_path_from_fname(path, check=False)
                bp.update(root=self.root)
                raw = read_raw_bids(bp, verbose="error")
        except Exception as e:  # MNE / mne-bids raise many kinds on bad input
            raise col.fail(f"cannot read EEG: {type(e).__name__}: {e}", path) from None
        fs = float(raw.info["sfreq"])
        if not (math.isfinite(fs) and fs > 0):
            raise col.fail(f"sampling frequency {fs} is not a finite positive number", path)
        types = raw.get_channel_types()
        orig = getattr(raw, "_orig_units", {}) or {}
        eeg_idx, groups = _select_channels(raw.ch_names, types)
        if not eeg_idx and (want("eeg") and (not self._all(want) or not groups)):
            # the modality asked for (or, reading everything, the file gives nothing at all):
            # the same message for check-data (which reads everything) and extraction
            counts = ", ".join(f"{t.upper()} x{types.count(t)}" for t in sorted(set(types)))
            raise col.fail(f"no channel of type EEG among the file's {len(types)} channels "
                           f"({counts}), so no eeg signal: set the EEG channels' type to EEG "
                           f"in {path.name.rsplit('_', 1)[0]}_channels.tsv", path)
        if not eeg_idx and want("eeg"):
            col.warn(f"no channel of type EEG; the file gives {sorted(groups)} only", path)
        if eeg_idx and want("eeg"):
            try:
                names = normalise_channels([raw.ch_names[i] for i in eeg_idx])
            except ValueError as e:
                raise col.fail(str(e), path) from None
            x = raw.get_data(picks=eeg_idx).T * 1e6
            self._add(streams, "eeg", (x, fs, 0.0, names, path), col)
        for m, idx in groups.items():
            if not want(m):
                continue
            scale = np.array([_UNIT_SCALE.get(str(orig.get(raw.ch_names[i], "")).lower(), 1.0)
                              for i in idx])
            x = raw.get_data(picks=idx).T * scale
            names = [raw.ch_names[i] for i in idx]
            self._add(streams, m, (x, fs, 0.0, names, path), col)

    def _physio(self, path: Path, streams: dict, want, col: ProblemCollector) -> None:
        js = path.with_name(path.name[:-len(".tsv.gz")] + ".json")
        if not js.is_file():
            raise col.fail("physio sidecar (.json with SamplingFrequency, StartTime, Columns) "
                           "is missing", js)
        inside_root(js, self.root, subject=col.subject)
        fs, start, columns = _physio_sidecar(js, col.subject)
        by_mod: dict[str, list[int]] = {}
        skipped = []
        for j, c in enumerate(columns):
            m, _ = _physio_modality(c)
            if m is None or m == "eeg":
                skipped.append(c)
            else:
                by_mod.setdefault(m, []).append(j)
        if skipped:
            col.warn(f"physio columns {skipped} are not a modality helo knows; skipped", js)
        if not any(want(m) for m in by_mod):
            return
        df = read_tsv(path, col, header=None, compression="gzip")
        if df.shape[1] != len(columns):
            raise col.fail(f"{df.shape[1]} columns but the sidecar names {len(columns)}", path)
        try:
            x = df.to_numpy(dtype=np.float64)
        except (TypeError, ValueError):
            raise col.fail("non-numeric values", path) from None
        for m, idx in by_mod.items():
            if want(m):
                self._add(streams, m, (x[:, idx], fs, start, [columns[j] for j in idx], path),
                          col)

    def _video(self, path: Path, rows: list, trials: list[Trial], col: ProblemCollector) -> None:
        js = path.with_suffix(".json")
        meta = {}
        if js.is_file():
            inside_root(js, self.root, subject=col.subject)
            meta = json_object(js, "video sidecar", subject=col.subject, allow_nan=True)
            for key in ("FrameRate", "StartTime"):
                if key in meta:
                    meta[key] = finite_number(meta[key], field=key, path=js, subject=col.subject,
                                              positive=key == "FrameRate")
        import cv2
        cap = cv2.VideoCapture(str(path))
        try:
            if not cap.isOpened():
                col.warn("OpenCV cannot open the video; video=None", path)
                return
            n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
            fps = float(meta.get("FrameRate") or cap.get(cv2.CAP_PROP_FPS) or 0)
        finally:
            cap.release()
        if not (math.isfinite(fps) and fps > 0):
            raise col.fail("no frame rate (FrameRate in the sidecar or in the file)", path)
        start = float(meta.get("StartTime", 0.0))
        for t, (tid, onset, dur, _) in zip(trials, rows):
            a = _start(onset, start, fps)
            b = a + int(round(dur * fps))
            if a < 0 or (n > 0 and b > n):
                col.warn(f"trial {tid!r} needs frames {a}..{b} but the video has {n}; "
                         "video=None", path)
                continue
            t.video = VideoRef(path, a, b, fps)
