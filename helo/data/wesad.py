"""Reader for the WESAD release (Schmidt et al., ICMI 2018) as it lies on disk.

Layout: ``root/S<n>/S<n>.pkl`` (a Python-2 pickle, loaded with the restricted
:func:`~helo.data.safe_pickle.safe_load`), ``root/S<n>/S<n>_quest.csv`` (the
questionnaire file) and other files this reader does not need (readme, RespiBAN text, E4 zip).

One subject gives five trials, one per condition: ``Base``, ``TSST``, ``Fun``, ``Medi 1``,
``Medi 2`` (``trial_id`` = ``category`` = condition name, ``order`` = position in ``# ORDER``,
trials listed in that order). Each condition's span comes from the 700 Hz label array (1
baseline, 2 stress, 3 amusement, 4 meditation; the two runs of 4 are Medi 1 and Medi 2 in time
order) and is cross-checked against the quest ``# START``/``# END`` times (the real files' quest
spans are about 10 s wider than the label runs on each side, hence the 15 s default
``time_tolerance_s``). A condition missing from the label array falls back to the quest times,
with a warning.

Which source decides what (``# ORDER`` and the label array can disagree):

* The quest file decides *which questionnaire is which trial*: its ``# ORDER`` column ``k``
  carries the condition name, the ``# START``/``# END`` times and the ``k``-th PANAS/STAI/DIM
  row; together they are one trial (``trial_id`` = that name, ``order`` = ``k`` among the
  conditions).
* The label array decides *where the signals are*: the trial's span is the label run whose
  times match the quest column's. Base/TSST/Fun are matched by code; the two meditation runs
  (code 4) go to Medi 1 and Medi 2 by the quest times (least total start+end distance), not by
  time order, so when the quest's Medi 1 is the later run (the real S14), the Medi 1
  questionnaire goes with the later run (a warning says so). Without complete Medi times the
  runs are named in time order (a warning).
* A matched span whose start or end differs from the quest time by more than the tolerance is an
  error (:class:`DataError` naming the condition, file and subject), never a silent attachment.
  So labels-only reads (quest times) and signal reads (label spans) always give a trial the same
  questionnaire.

Signals of a trial (``Signal.data`` is ``(n, channels)``): chest ``ecg``, ``eda``, ``emg``,
``temp``, ``resp`` (1 channel) and ``acc`` (``x, y, z``) at 700 Hz; wrist ``wrist_acc`` (32 Hz,
``x, y, z``), ``wrist_bvp`` (64 Hz), ``wrist_eda`` and ``wrist_temp`` (4 Hz). A chest span
``[a, b)`` maps to wrist samples ``[a * fs // 700, b * fs // 700)``.

Self-reports: ``Trial.panas`` holds the raw PANAS scores (NaN for ``Nan``) in WESAD's item order
(:data:`~helo.data.labels.WESAD_PANAS`; the TSST row has 26 items,
:data:`~helo.data.labels.WESAD_PANAS_TSST`). ``Trial.extra`` holds ``stai`` (6 values),
``valence`` and ``arousal`` (the ``# DIM`` row), ``sssq`` (TSST only), ``distribution`` (the
label distribution over ``items``, or ``None`` when a score is missing), ``span`` (chest sample
span), ``start_s``/``end_s``, ``span_source`` (``"label"`` or ``"quest"``) and the quest times.

A subject folder that is a copy of another (same quest file and pickle under a second id) is
reported by ``check`` and by :meth:`WesadReader.duplicate_subjects`, which the extraction stage
consults: both ids fail, naming both folders.

``read_subject(sid, modalities=[])`` reads only the quest file when its START/END times are
complete (spans then come from the quest times, ``span_source == "quest"``); a pickle cannot be
read partially, so the label array is only consulted when signals are requested or the quest
times are incomplete.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from helo.data.base import (
    DataError,
    Problem,
    Signal,
    Subject,
    Trial,
    dataset_files,
    refuse_outside_links,
    safe_id,
)
from helo.data.labels import WESAD_PANAS, WESAD_PANAS_TSST, panas_to_distribution, resolve_items
from helo.data.safe_pickle import safe_load

__all__ = ["WesadReader", "parse_quest", "parse_minsec", "Quest", "CONDITIONS", "SIGNALS"]

CONDITIONS = ["Base", "TSST", "Fun", "Medi 1", "Medi 2"]
_LABEL_CODE = {"Base": 1, "TSST": 2, "Fun": 3}
FS_CHEST = 700
# modality -> (device, pickle key, fs, channel names)
SIGNALS: dict[str, tuple[str, str, int, list[str]]] = {
    "ecg": ("chest", "ECG", 700, ["ecg"]),
    "eda": ("chest", "EDA", 700, ["eda"]),
    "emg": ("chest", "EMG", 700, ["emg"]),
    "acc": ("chest", "ACC", 700, ["x", "y", "z"]),
    "temp": ("chest", "Temp", 700, ["temp"]),
    "resp": ("chest", "Resp", 700, ["resp"]),
    "wrist_acc": ("wrist", "ACC", 32, ["x", "y", "z"]),
    "wrist_bvp": ("wrist", "BVP", 64, ["bvp"]),
    "wrist_eda": ("wrist", "EDA", 4, ["eda"]),
    "wrist_temp": ("wrist", "TEMP", 4, ["temp"]),
}
_COND_ALIASES = {"base": "Base", "tsst": "TSST", "ttst": "TSST", "fun": "Fun",
                 "medi1": "Medi 1", "medi2": "Medi 2"}
N_FIELDS = 26
_SUBJECT_DIR = re.compile(r"^S(\d+)$")


# ------------------------------------------------------------------------------ quest file

def parse_minsec(text: str) -> float | None:
    """``'7.08'`` -> 428.0 s: minutes, a dot, then seconds as two digits with trailing zeros
    dropped (``'50.3'`` = 50 min 30 s, ``'12'`` = 12 min). Digits beyond two are fractions of a
    second. ``''``/``'Nan'`` -> None. Raises ``ValueError`` for anything else."""
    s = str(text).strip()
    if s == "" or s.lower() == "nan":
        return None
    m = re.fullmatch(r"(\d{1,6})(?:[.,](\d{0,12}))?", s)  # bounded: no float overflow
    if not m:
        raise ValueError(f"{s!r} is not a minutes.seconds time")
    frac = m.group(2) or ""
    sec = int((frac + "00")[:2])
    if sec >= 60:
        raise ValueError(f"{s!r}: seconds part {sec} >= 60 (times are minutes.seconds)")
    extra = float("0." + frac[2:]) if len(frac) > 2 else 0.0
    return int(m.group(1)) * 60 + sec + extra


@dataclass
class Quest:
    """The parsed ``SX_quest.csv``. Dicts are keyed by condition name."""

    path: str
    subject_tag: str | None
    order: list[str]                      # the five conditions in ORDER
    order_raw: list[str]                  # ORDER entries as written, Read entries included
    start_s: dict[str, float | None]
    end_s: dict[str, float | None]
    panas: dict[str, np.ndarray]
    panas_items: dict[str, list[str]]
    stai: dict[str, np.ndarray]
    dim: dict[str, tuple[float, float]]
    sssq: np.ndarray | None
    warnings: list[str] = field(default_factory=list)

    @property
    def times_complete(self) -> bool:
        return all(self.start_s.get(c) is not None and self.end_s.get(c) is not None
                   and self.end_s[c] > self.start_s[c] for c in CONDITIONS)


def _read_text(path: Path, subject: str | None) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"missing questionnaire file {path.name}", path=path,
                        subject=subject) from None
    except OSError as err:
        raise DataError(f"cannot read ({err})", path=path, subject=subject) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin1")


def _numbers(vals: list[str], what: str, lineno: int, path: Path, subject) -> np.ndarray:
    out = np.empty(len(vals))
    for k, v in enumerate(vals):
        t = v.strip()
        if t.lower() == "nan":
            out[k] = np.nan
            continue
        try:
            out[k] = float(t.replace(",", "."))
            if not np.isfinite(out[k]):
                raise ValueError(t)
        except ValueError:
            raise DataError(f"line {lineno} ({what}): value {k + 1} is {t!r}, not a number "
                            f"(only 'Nan' may stand for a missing value)",
                            path=path, subject=subject) from None
    return out


def parse_quest(path: str | Path, subject: str | None = None) -> Quest:
    """Parse a WESAD ``SX_quest.csv`` with every known quirk; raise :class:`DataError` on
    anything that would make the labels wrong (missing PANAS row, wrong number of values,
    non-numeric values other than ``Nan``, an ORDER without the five conditions)."""
    path = Path(path)
    text = _read_text(path, subject)
    warns: list[str] = []

    def err(msg: str) -> DataError:
        return DataError(msg, path=path, subject=subject)

    subject_tag = None
    order_raw: list[str] | None = None
    start_raw = end_raw = None
    rows: dict[str, list[tuple[int, list[str]]]] = {"PANAS": [], "STAI": [], "DIM": [],
                                                    "SSSQ": []}
    for lineno, line in enumerate(text.splitlines(), start=1):
        fields = line.split(";")
        if not "".join(fields).strip():
            continue  # blank ';;;' separator line
        tag_field = fields[0].strip()
        values = [v.strip() for v in fields[1:]]
        while values and values[-1] == "":
            values.pop()
        if len(values) > N_FIELDS:
            raise err(f"line {lineno} has {len(values)} fields after the tag, at most "
                      f"{N_FIELDS} expected")
        if not tag_field.startswith("#"):
            warns.append(f"line {lineno} has no '# TAG' and was ignored: {line[:40]!r}")
            continue
        tag = tag_field.lstrip("#").strip()
        if tag.upper().startswith("SUBJ"):
            # '# Subj;S2' or (S3, S4) '# Subj:S3'
            rest = tag[4:].lstrip(":").strip()
            subject_tag = rest or (values[0] if values else None)
            continue
        key = tag.upper()
        if "" in values:
            raise err(f"line {lineno} (# {tag}): empty value at field {values.index('') + 1} "
                      f"between values")
        if key == "ORDER":
            order_raw = values
        elif key == "START":
            start_raw = (lineno, values)
        elif key == "END":
            end_raw = (lineno, values)
        elif key in rows:
            rows[key].append((lineno, values))
        else:
            warns.append(f"line {lineno}: unknown tag '# {tag}' ignored")

    if order_raw is None:
        raise err("no '# ORDER' line")
    order: list[str] = []
    index_of: dict[str, int] = {}
    for k, entry in enumerate(order_raw):
        norm = re.sub(r"\s+", "", entry).lower()
        if "read" in norm:
            continue  # reading segments (sRead, fRead, bRead) are not conditions
        cond = _COND_ALIASES.get(norm)
        if cond is None:
            warns.append(f"'# ORDER' entry {entry!r} is not a WESAD condition; ignored")
            continue
        if cond in index_of:
            raise err(f"'# ORDER' lists {cond} twice")
        if entry != cond:
            warns.append(f"'# ORDER' entry {entry!r} read as {cond!r}")
        order.append(cond)
        index_of[cond] = k
    missing = [c for c in CONDITIONS if c not in index_of]
    if missing:
        raise err(f"'# ORDER' lacks condition(s) {missing} (found {order_raw})")

    def times(raw, name):
        out = {c: None for c in CONDITIONS}
        if raw is None:
            warns.append(f"no '# {name}' line; condition times unknown")
            return out
        lineno, vals = raw
        for c, k in index_of.items():
            if k >= len(vals):
                warns.append(f"line {lineno} (# {name}): no time for {c}")
                continue
            try:
                out[c] = parse_minsec(vals[k])
            except ValueError as e:
                warns.append(f"line {lineno} (# {name}): time for {c} unreadable ({e})")
        return out

    start_s, end_s = times(start_raw, "START"), times(end_raw, "END")

    if len(rows["PANAS"]) != len(order):
        raise err(f"expected {len(order)} '# PANAS' rows (one per condition in ORDER), found "
                  f"{len(rows['PANAS'])}")
    panas, panas_items = {}, {}
    for cond, (lineno, vals) in zip(order, rows["PANAS"]):
        if cond == "TSST" and len(vals) == len(WESAD_PANAS_TSST):
            items = list(WESAD_PANAS_TSST)
        elif len(vals) == len(WESAD_PANAS):
            items = list(WESAD_PANAS)
            if cond == "TSST":
                warns.append(f"line {lineno}: TSST PANAS row has 24 values, not 26; read with "
                             f"the 24-item list (no Angry/Irritated)")
        else:
            want = "26 (24 for the other conditions)" if cond == "TSST" else "24"
            raise err(f"line {lineno}: PANAS row for {cond} has {len(vals)} values, expected "
                      f"{want}")
        scores = _numbers(vals, f"PANAS {cond}", lineno, path, subject)
        bad = [(items[k], v) for k, v in enumerate(scores) if not np.isnan(v) and not 1 <= v <= 5]
        if bad:
            raise err(f"line {lineno}: PANAS scores for {cond} outside 1..5: {bad}")
        for k in np.flatnonzero(np.isnan(scores)):
            warns.append(f"line {lineno}: PANAS {cond} item {items[k]} is Nan (missing)")
        panas[cond], panas_items[cond] = scores, items

    def per_condition(name, n_values):
        out = {}
        got = rows[name]
        if len(got) != len(order):
            warns.append(f"expected {len(order)} '# {name}' rows, found {len(got)}; "
                         f"missing ones are NaN")
        for cond, (lineno, vals) in zip(order, got):
            v = _numbers(vals, f"{name} {cond}", lineno, path, subject)
            if v.size != n_values:
                warns.append(f"line {lineno}: {name} row for {cond} has {v.size} values, "
                             f"expected {n_values}")
                v = np.resize(np.append(v, [np.nan] * n_values), n_values) if v.size < n_values \
                    else v[:n_values]
            out[cond] = v
        for cond in order:
            out.setdefault(cond, np.full(n_values, np.nan))
        return out

    stai = per_condition("STAI", 6)
    dim_arr = per_condition("DIM", 2)
    dim = {c: (float(v[0]), float(v[1])) for c, v in dim_arr.items()}
    sssq = None
    if rows["SSSQ"]:
        lineno, vals = rows["SSSQ"][0]
        sssq = _numbers(vals, "SSSQ", lineno, path, subject)
        if len(rows["SSSQ"]) > 1:
            warns.append(f"{len(rows['SSSQ'])} '# SSSQ' rows; the first is used")
    else:
        warns.append("no '# SSSQ' row")
    if subject is not None and subject_tag is not None and subject_tag != subject:
        warns.append(f"'# Subj' says {subject_tag!r} but the folder is {subject!r}")
    return Quest(path=str(path), subject_tag=subject_tag, order=order, order_raw=list(order_raw),
                 start_s=start_s, end_s=end_s, panas=panas, panas_items=panas_items, stai=stai,
                 dim=dim, sssq=sssq, warnings=warns)


# ------------------------------------------------------------------------------ the reader

def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    d = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist()))


class WesadReader:
    """Reader for the ``wesad`` layout (see the module docstring).

    ``items``: the PANAS items of ``extra["distribution"]`` (``"wesad-all"``,
    ``"wesad-overlap"``, ``"dmer"`` or a list). ``time_tolerance_s``: how far label-array spans
    and quest START/END may disagree before the trial is refused (an error).
    """

    layout = "wesad"

    def __init__(self, root: str | Path, *, items: str | Sequence[str] = "wesad-all",
                 time_tolerance_s: float = 15.0):
        self.root = Path(root)
        self.items = resolve_items(items)
        self.time_tolerance_s = float(time_tolerance_s)

    # -- protocol ---------------------------------------------------------------------------
    def modalities(self) -> list[str]:
        return ["ecg", "emg", "eda", "acc"]

    def subjects(self) -> list[str]:
        if not self.root.is_dir():
            return []
        found = []
        for d in self.root.iterdir():
            m = _SUBJECT_DIR.match(d.name)
            if m and d.is_dir() and ((d / f"{d.name}.pkl").exists()
                                     or (d / f"{d.name}_quest.csv").exists()):
                found.append((int(m.group(1)), d.name))
        return [name for _, name in sorted(found)]

    def source_files(self, subject_id: str) -> list[Path]:
        """Files the subject's features may come from: ``<root>/S<n>/`` and the root's files."""
        return dataset_files(self.root, [self.root / safe_id(subject_id, path=self.root)])

    def duplicate_subjects(self) -> dict[str, str]:
        """``{subject: why}`` for subjects whose files are the same recording under another id
        (a copied folder): equal quest files and pickles (size, first and last MiB). One person
        on both sides of a leave-one-subject-out fold would leak; both ids are refused."""
        import hashlib
        groups: dict[str, list[str]] = {}
        for sid in self.subjects():
            h = hashlib.sha256()
            for f in (self.root / sid / f"{sid}_quest.csv", self.root / sid / f"{sid}.pkl"):
                if not f.is_file():
                    h.update(b"-")
                    continue
                size = f.stat().st_size
                h.update(str(size).encode())
                with open(f, "rb") as fh:
                    h.update(fh.read(1 << 20))
                    if size > 2 << 20:
                        fh.seek(-(1 << 20), 2)
                        h.update(fh.read())
            groups.setdefault(h.hexdigest(), []).append(sid)
        out = {}
        for group in groups.values():
            if len(group) > 1:
                paths = " and ".join(str(self.root / g) for g in group)
                for g in group:
                    out[g] = (f"identical recordings under {len(group)} subject ids: {paths} "
                              f"(a copied folder?)")
        return out

    def read_subject(self, subject_id: str, modalities: Sequence[str] | None = None) -> Subject:
        mods = list(SIGNALS) if modalities is None else list(modalities)
        unknown = [m for m in mods if m not in SIGNALS]
        if unknown:
            raise ValueError(f"unknown WESAD modalities {unknown}; choose from {list(SIGNALS)}")
        folder = self._folder(subject_id)
        warnings: list[tuple[str, str]] = []
        quest = parse_quest(folder / f"{subject_id}_quest.csv", subject_id)
        warnings += [(quest.path, w) for w in quest.warnings]
        data = None
        if mods or not quest.times_complete:
            data = self._load_pickle(subject_id, mods, warnings)
        trials = self._trials(subject_id, quest, data, mods, warnings)
        return Subject(subject_id=subject_id, trials=trials, layout=self.layout,
                       warnings=[f"{p}: {w}" for p, w in warnings])

    def check(self) -> list[Problem]:
        problems: list[Problem] = []
        if not self.root.is_dir():
            return [Problem(None, str(self.root), "dataset root is not a folder")]
        listed = self.subjects()
        for d in sorted(self.root.iterdir()):
            if _SUBJECT_DIR.match(d.name) and d.is_dir() and d.name not in listed:
                problems.append(Problem(d.name, str(d),
                                        f"subject folder has neither {d.name}.pkl nor "
                                        f"{d.name}_quest.csv"))
        if not listed:
            from helo.data import no_subjects_message
            problems.append(Problem(None, str(self.root),
                                    "no WESAD subject folders (S<n>/S<n>.pkl) found; "
                                    + no_subjects_message(self.layout, self.root)))
        for sid, why in self.duplicate_subjects().items():
            problems.append(Problem(sid, str(self.root / sid), why))
        for sid in listed:
            try:
                problems += self._check_subject(sid)
            except (MemoryError, RecursionError, OSError) as err:  # a hostile or broken file
                problems.append(Problem(sid, str(self.root / sid), f"{type(err).__name__} while "
                                        f"reading the subject: a file is corrupted or malicious"))
        return problems

    # -- internals --------------------------------------------------------------------------
    def _folder(self, sid: str) -> Path:
        safe_id(sid, path=self.root)
        if not _SUBJECT_DIR.match(str(sid)):
            raise DataError("not a WESAD subject id (expected S<n>)", subject=str(sid),
                            path=self.root)
        folder = self.root / sid
        if not folder.is_dir():
            raise DataError("no such subject folder", path=folder, subject=sid)
        refuse_outside_links(self.root, [folder], subject=sid)
        return folder

    def _check_subject(self, sid: str) -> list[Problem]:
        out: list[Problem] = []
        warnings: list[tuple[str, str]] = []
        quest = data = None
        try:
            folder = self._folder(sid)
            quest = parse_quest(folder / f"{sid}_quest.csv", sid)
            warnings += [(quest.path, w) for w in quest.warnings]
        except DataError as e:
            out.append(Problem.from_error(e))
        try:
            data = self._load_pickle(sid, list(SIGNALS), warnings)
        except DataError as e:
            out.append(Problem.from_error(e))
        if quest is not None and data is not None:
            try:
                self._trials(sid, quest, data, [], warnings)
            except DataError as e:
                out.append(Problem.from_error(e))
        out += [Problem(sid, p, w, severity="warning") for p, w in warnings]
        return out

    def _load_pickle(self, sid: str, mods: Sequence[str], warnings: list) -> dict:
        path = self.root / sid / f"{sid}.pkl"
        refuse_outside_links(self.root, [self.root / sid], subject=sid)
        if not path.exists():
            raise DataError(f"missing {sid}.pkl (signals and label array)", path=path,
                            subject=sid)
        try:
            obj = safe_load(path)
        except DataError as e:
            raise DataError(e.problem, path=path, subject=sid) from None

        def bad(msg):
            return DataError(msg, path=path, subject=sid)

        if not isinstance(obj, dict) or "signal" not in obj or "label" not in obj:
            keys = sorted(map(str, obj)) if isinstance(obj, dict) else type(obj).__name__
            raise bad(f"expected a dict with 'signal' and 'label', found {keys}")
        sig = obj["signal"]
        if not isinstance(sig, dict) or not isinstance(sig.get("chest"), dict) \
                or not isinstance(sig.get("wrist"), dict):
            raise bad("'signal' must be a dict with 'chest' and 'wrist' dicts")
        label = obj["label"]
        if not isinstance(label, np.ndarray) or label.ndim != 1 and not (
                label.ndim == 2 and label.shape[1] == 1):
            raise bad("'label' must be a 1-D array")
        label = np.asarray(label).ravel()
        if obj.get("subject") not in (None, sid):
            warnings.append((str(path), f"'subject' in the pickle is {obj.get('subject')!r}"))
        n = label.size
        arrays = {}
        for mod in mods:
            dev, key, fs, chans = SIGNALS[mod]
            if key not in sig[dev]:
                raise bad(f"no {dev} {key} array (needed for modality {mod})")
            a = sig[dev][key]
            if not isinstance(a, np.ndarray) or a.dtype.kind not in "fiub":
                raise bad(f"{dev} {key} is not a numeric array")
            a = a.reshape(-1, 1) if a.ndim == 1 else a
            if a.ndim != 2 or a.shape[1] != len(chans):
                raise bad(f"{dev} {key} has shape {a.shape}, expected (n, {len(chans)})")
            if dev == "chest":
                if a.shape[0] != n:
                    raise bad(f"label array length mismatch: label has {n} samples but chest "
                              f"{key} has {a.shape[0]} (both are 700 Hz)")
            else:
                want = n * fs // FS_CHEST
                if abs(a.shape[0] - want) > fs:
                    warnings.append((str(path), f"wrist {key} has {a.shape[0]} samples, "
                                     f"expected about {want} ({fs} Hz over the label span)"))
            nn = int(np.isnan(a).sum()) if a.dtype.kind == "f" else 0
            if nn:
                warnings.append((str(path), f"{dev} {key} ({mod}) holds {nn} NaN values"))
            arrays[mod] = a
        return {"label": label, "arrays": arrays, "path": str(path)}

    def _spans(self, sid, quest: Quest, data, warnings) -> dict[str, tuple[int, int, str]]:
        """Chest-sample span and its source for every condition."""
        spans: dict[str, tuple[int, int, str]] = {}
        if data is None:
            for c in CONDITIONS:
                spans[c] = (int(round(quest.start_s[c] * FS_CHEST)),
                            int(round(quest.end_s[c] * FS_CHEST)), "quest")
            return spans
        label, lpath = data["label"], data["path"]
        n = label.size
        for cond, code in _LABEL_CODE.items():
            runs = _runs(label == code)
            if len(runs) > 1:
                warnings.append((lpath, f"label {code} ({cond}) has {len(runs)} separate runs; "
                                        f"the longest is used"))
            if runs:
                a, b = max(runs, key=lambda r: r[1] - r[0])
                spans[cond] = (a, b, "label")
        runs = _runs(label == 4)
        if len(runs) > 2:
            warnings.append((lpath, f"label 4 (meditation) has {len(runs)} runs, expected 2; "
                                    f"the two longest are used"))
            runs = sorted(sorted(runs, key=lambda r: r[1] - r[0])[-2:])
        if len(runs) == 2:
            q = {c: (quest.start_s.get(c), quest.end_s.get(c)) for c in ("Medi 1", "Medi 2")}
            first, second = runs
            if all(a is not None and b is not None for a, b in q.values()):
                def miss(c, r):
                    return abs(r[0] / FS_CHEST - q[c][0]) + abs(r[1] / FS_CHEST - q[c][1])
                if miss("Medi 1", second) + miss("Medi 2", first) < \
                        miss("Medi 1", first) + miss("Medi 2", second):
                    first, second = second, first
                    warnings.append((quest.path, "the quest START/END of Medi 1 and Medi 2 match "
                                     "the label array's second and first meditation runs "
                                     "(as in the real S14): each questionnaire goes with the "
                                     "run its times match"))
            else:
                warnings.append((quest.path, "Medi 1/Medi 2 have no complete START/END; the "
                                 "meditation runs are named in time order"))
            spans["Medi 1"] = (*first, "label")
            spans["Medi 2"] = (*second, "label")
        elif len(runs) == 1:
            a, b = runs[0]
            target = "Medi 1"
            q1, q2 = quest.start_s.get("Medi 1"), quest.start_s.get("Medi 2")
            t = a / FS_CHEST
            if q1 is not None and q2 is not None and abs(q2 - t) < abs(q1 - t):
                target = "Medi 2"
            warnings.append((lpath, f"label 4 (meditation) has one run; assigned to {target}"))
            spans[target] = (a, b, "label")
        for c in CONDITIONS:
            qs, qe = quest.start_s.get(c), quest.end_s.get(c)
            if c not in spans:
                if qs is None or qe is None or qe <= qs:
                    raise DataError(f"condition {c} is neither in the label array nor timed in "
                                    f"the quest file", path=lpath, subject=sid)
                a, b = int(round(qs * FS_CHEST)), min(int(round(qe * FS_CHEST)), n)
                warnings.append((lpath, f"condition {c} not in the label array; using the quest "
                                        f"START/END ({qs:.0f}-{qe:.0f} s)"))
                spans[c] = (a, b, "quest")
            elif qs is not None and qe is not None:
                a, b, _ = spans[c]
                da, db = a / FS_CHEST - qs, b / FS_CHEST - qe
                if abs(da) > self.time_tolerance_s or abs(db) > self.time_tolerance_s:
                    raise DataError(
                        f"{c}: the label array's segment {a / FS_CHEST:.1f}-{b / FS_CHEST:.1f} s "
                        f"and the quest START/END {qs:.0f}-{qe:.0f} s differ by {da:+.1f} / "
                        f"{db:+.1f} s (tolerance {self.time_tolerance_s:g} s): the "
                        f"questionnaire of {c} cannot be attached to that segment ('# ORDER' "
                        f"and the label array disagree?)", path=quest.path, subject=sid)
        return spans

    def _trials(self, sid, quest: Quest, data, mods, warnings) -> list[Trial]:
        spans = self._spans(sid, quest, data, warnings)
        trials = []
        for pos, cond in enumerate(quest.order):
            a, b, source = spans[cond]
            signals = {}
            if data is not None:
                for mod in mods:
                    dev, _, fs, chans = SIGNALS[mod]
                    arr = data["arrays"][mod]
                    lo, hi = (a, b) if dev == "chest" else (a * fs // FS_CHEST, b * fs // FS_CHEST)
                    signals[mod] = Signal(arr[lo:hi], float(fs), list(chans))
            scores = quest.panas[cond].copy()
            items = list(quest.panas_items[cond])
            try:
                dist = panas_to_distribution(scores, items, self.items)
            except ValueError as e:
                dist = None
                warnings.append((quest.path, f"{cond}: no label distribution ({e})"))
            extra = {"stai": quest.stai[cond], "valence": quest.dim[cond][0],
                     "arousal": quest.dim[cond][1], "distribution": dist,
                     "span": (a, b), "start_s": a / FS_CHEST, "end_s": b / FS_CHEST,
                     "span_source": source, "quest_start_s": quest.start_s[cond],
                     "quest_end_s": quest.end_s[cond]}
            if cond == "TSST":
                extra["sssq"] = quest.sssq
            trials.append(Trial(trial_id=cond, order=pos, category=cond, signals=signals,
                                panas=scores, panas_items=items, extra=extra))
        return trials
