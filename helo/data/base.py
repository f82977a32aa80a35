"""Data model shared by every reader: subjects -> trials -> signals, video and self-report.

Readers turn a dataset root into :class:`Subject` objects, one subject at a time, so that
per-subject work can run in parallel and one bad subject does not sink the others.

Conventions
-----------
* ``Signal.data`` is ``(n_samples, n_channels)`` float64, ``fs`` in Hz, one name per channel.
* Modality keys: DMER ``eeg``, ``gsr``, ``ppg`` (+ face ``video``); WESAD chest ``ecg``,
  ``eda``, ``emg``, ``acc`` (and wrist signals as ``wrist_acc``, ``wrist_bvp``, ``wrist_eda``,
  ``wrist_temp``; chest ``temp``, ``resp``).
* ``Trial.trial_id`` is a string: the DMER clip id (``"0"`` .. ``"31"``) or the WESAD condition
  (``"Base"``, ``"TSST"``, ``"Fun"``, ``"Medi 1"``, ``"Medi 2"``).
* ``Trial.panas`` holds the raw 1-5 scores in the order of ``Trial.panas_items`` (NaN where the
  file had no value); :func:`helo.data.labels.panas_to_distribution` turns it into a label
  distribution.
* Precomputed-feature layouts fill ``Trial.features`` instead of ``signals``.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np


class DataError(Exception):
    """A problem with input data; the message names the file, the subject and what is wrong."""

    def __init__(self, message: str, *, path: str | Path | None = None, subject: str | None = None):
        self.path = str(path) if path is not None else None
        self.subject = subject
        self.problem = message
        where = []
        if subject is not None:
            where.append(f"subject {subject}")
        if path is not None:
            where.append(f"file {path}")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


#: what a subject (or trial) id may look like wherever it can become part of a file name:
#: a letter or digit first, then letters, digits, ``.``, ``_`` and ``-`` (so no ``/``, no backslash,
#: no ``..``, no leading dot or dash, nothing absolute, no control characters)
SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
SAFE_ID_MAX = 128


def safe_id(value, *, what: str = "subject id", path: str | Path | None = None) -> str:
    """``value`` as a string when it is a safe id (:data:`SAFE_ID`, at most 128 characters);
    else :class:`DataError` naming the id and the file it came from.

    Every id read from untrusted input (a table's ``subject`` column, a folder name, a CLI
    ``--subject``) passes here before it becomes part of a path (the feature store's
    ``<modality>/<subject>.parquet``): ``../../x``, ``/abs/x``, ``.``, ``..`` or ``a/b`` can
    neither write outside the store nor make a subject vanish."""
    text = str(value)
    if (len(text) > SAFE_ID_MAX or not SAFE_ID.fullmatch(text) or ".." in text):
        raise DataError(f"{what} {text!r} is not allowed: ids must match "
                        f"[A-Za-z0-9][A-Za-z0-9._-]* (at most {SAFE_ID_MAX} characters, no '..')",
                        path=path)
    return text


def inside_root(path: str | Path, root: str | Path, *, subject: str | None = None) -> Path:
    """``path`` when it lies inside the dataset ``root`` once every symlink is resolved; else
    :class:`DataError` naming the file and saying where it leads.

    Every reader opens dataset files through this check (or :func:`dataset_files`), so a link
    planted in a dataset (``events.tsv -> /etc/passwd``) is refused before a byte of its target
    is read, and no error message can echo the target's content. The root itself may be a link
    (it is resolved too); links that stay inside the root are fine."""
    path = Path(path)
    real_root = Path(root).resolve()
    try:
        real = path.resolve()
    except (OSError, RuntimeError) as err:  # a link loop
        raise DataError(f"cannot resolve the file's path ({type(err).__name__}): a link loop?",
                        path=path, subject=subject) from None
    if real != real_root and real_root not in real.parents:
        lexical = Path(os.path.abspath(path))
        named_root = Path(os.path.abspath(root))
        how = (f"is a link that leads outside the dataset root {root} (to {real})"
               if lexical == named_root or named_root in lexical.parents
               else f"lies outside the dataset root {root}")
        raise DataError(f"the file {how}; refused: dataset files must lie inside the root "
                        f"(a root that is itself a link is fine)", path=path, subject=subject)
    return path


def refuse_outside_links(root: str | Path, paths: Sequence[str | Path], *,
                         subject: str | None = None) -> None:
    """:func:`inside_root` for each of ``paths`` that exists (a file, or a folder with everything
    under it: files, and links to folders, which are checked, not followed), so a reader can
    vet a subject's files before it reads any of them."""
    for top in paths:
        top = Path(top)
        if not (top.exists() or top.is_symlink()):
            continue
        inside_root(top, root, subject=subject)
        if top.is_symlink() or not top.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(top):
            for name in (*dirnames, *filenames):
                entry = Path(dirpath) / name
                if entry.is_symlink():
                    inside_root(entry, root, subject=subject)


def finite_number(value, *, field: str, path: str | Path, subject: str | None = None,
                  positive: bool = False) -> float:
    """``value`` as a float when it is a JSON number (not a bool, not a string) that is finite
    (and > 0 with ``positive``); else :class:`DataError` naming the file and the field.

    Python's ``json`` reads ``NaN``/``Infinity`` as floats, so a sidecar can hold them: they
    are refused here rather than overflowing later in sample arithmetic."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DataError(f"{field} must be a number, not {type(value).__name__} {value!r:.40}",
                        path=path, subject=subject)
    out = float(value)
    if not math.isfinite(out):
        raise DataError(f"{field} must be a finite number, not {out}", path=path,
                        subject=subject)
    if positive and not out > 0:
        raise DataError(f"{field} must be positive, not {out:g}", path=path, subject=subject)
    return out


def string_list(value, *, field: str, path: str | Path, subject: str | None = None) -> list[str]:
    """``value`` when it is a non-empty JSON list of non-empty strings; else :class:`DataError`
    naming the file and the field (a bare string such as ``"gsr"`` is not read as its
    characters)."""
    if not isinstance(value, list) or not value:
        raise DataError(f"{field} must be a non-empty list of strings, not "
                        f"{type(value).__name__} {value!r:.40}", path=path, subject=subject)
    bad = [v for v in value if not isinstance(v, str) or not v.strip()]
    if bad:
        raise DataError(f"{field} must hold non-empty strings only; found {bad[0]!r:.40}",
                        path=path, subject=subject)
    return list(value)


def dataset_files(root: str | Path, folders: Sequence[str | Path] = ()) -> list[Path]:
    """The files a subject's features may come from: every file directly in ``root`` (shared
    tables, sidecars, per-subject files such as ``<sid>.mat``) and every file under each of
    ``folders`` (a subject's own folder), sorted, links not followed into folders. The feature
    store records their identity (see :func:`source_identity`)."""
    root = Path(root)
    out: set[Path] = set()
    if root.is_dir():
        out.update(p for p in root.iterdir() if p.is_file())
    for folder in folders:
        folder = Path(folder)
        if folder.is_file():
            out.add(folder)
            continue
        for dirpath, _, names in os.walk(folder):
            out.update(Path(dirpath) / n for n in names)
    return sorted(out)


def source_identity(root: str | Path, files: Sequence[str | Path]) -> list[list]:
    """``[[path relative to root, size, mtime_ns], ...]`` of ``files`` (their targets when they
    are links; ``-1, -1`` for one that vanished): what changes when a source file is replaced
    or edited, read from the file system only, without reading the files."""
    root = Path(root)
    out = []
    for f in files:
        f = Path(f)
        try:
            rel = f.relative_to(root).as_posix()
        except ValueError:
            rel = str(f)
        try:
            st = f.stat()
            out.append([rel, int(st.st_size), int(st.st_mtime_ns)])
        except OSError:
            out.append([rel, -1, -1])
    return out


@dataclass
class Problem:
    """One problem found by a reader's ``check``; collected, never raised one at a time."""

    subject: str | None
    path: str | None
    message: str
    severity: str = "error"  # "error" or "warning"

    def __str__(self) -> str:
        parts = [self.severity.upper()]
        if self.subject is not None:
            parts.append(f"subject {self.subject}")
        if self.path is not None:
            parts.append(str(self.path))
        return f"{' | '.join(parts)}: {self.message}"

    @classmethod
    def from_error(cls, err: DataError) -> "Problem":
        return cls(subject=err.subject, path=err.path, message=err.problem)


class ProblemCollector:
    """Problems of one subject: errors and warnings, collected instead of raised one by one
    (the DMER and BIDS readers collect into one while they read a subject)."""

    def __init__(self, subject: str):
        self.subject = subject
        self.problems: list[Problem] = []

    def error(self, message: str, path=None) -> None:
        self.problems.append(Problem(self.subject, str(path) if path is not None else None,
                                     message, "error"))

    def warn(self, message: str, path=None) -> None:
        self.problems.append(Problem(self.subject, str(path) if path is not None else None,
                                     message, "warning"))

    def add(self, err: DataError) -> None:
        self.problems.append(Problem(err.subject or self.subject, err.path, err.problem, "error"))

    def fail(self, message: str, path=None) -> DataError:
        return DataError(message, path=path, subject=self.subject)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warning_texts(self) -> list[str]:
        return [f"{p.path}: {p.message}" if p.path else p.message
                for p in self.problems if p.severity == "warning"]

    def raise_errors(self) -> None:
        errs = self.errors
        if errs:
            first = errs[0]
            more = (f" (and {len(errs) - 1} more problem(s); run check() for all)"
                    if len(errs) > 1 else "")
            raise DataError(first.message + more, path=first.path, subject=self.subject)


@dataclass
class Signal:
    data: np.ndarray  # (n_samples, n_channels) float64
    fs: float
    channels: list[str]

    def __post_init__(self) -> None:
        self.data = np.asarray(self.data, dtype=np.float64)
        if self.data.ndim == 1:
            self.data = self.data[:, None]
        if self.data.shape[1] != len(self.channels):
            raise ValueError(
                f"signal has {self.data.shape[1]} channels but {len(self.channels)} names")

    @property
    def duration(self) -> float:
        return self.data.shape[0] / float(self.fs)


@dataclass
class VideoRef:
    """A span of frames in a video file: frames ``start_frame`` .. ``stop_frame - 1``."""

    path: Path
    start_frame: int = 0
    stop_frame: int | None = None  # None: to the end of the file
    fps: float = 30.0


@dataclass
class FeatureBlock:
    """Precomputed features of one modality for one trial: rows are windows (1 s grid).

    Where the column names come from:

    * ``computed`` set: the columns are exactly what helo's own feature code for the modality
      returns with these params (``{"channels": [...], "bands": "paper"}`` for EEG, ``{"points":
      8}`` for video, ``{}`` for GSR), in that code's column order. The reader gives no names
      (``names`` stays empty): they come only from the feature module
      (``helo.features.block_names`` applies ``helo.features.feature_names`` when the block is
      stored), so features read from a release and features computed from recordings carry the
      same names. Readers sit below ``helo.features`` and do not import it.
    * ``computed`` None: ``names`` are the source's own (generic layout: the part after
      ``<modality>__``); ``helo.features.block_names`` says how they are stored.
    """

    values: np.ndarray  # (n_windows, n_features)
    names: list[str] = field(default_factory=list)
    computed: dict | None = None


@dataclass
class Trial:
    trial_id: str
    order: int = 0  # presentation position within the session
    category: str | None = None  # DMER: positive/negative/mixed; WESAD: condition name
    signals: dict[str, Signal] = field(default_factory=dict)
    video: VideoRef | None = None
    panas: np.ndarray | None = None
    panas_items: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)  # other self-reports (arousal, valence, ...)
    features: dict[str, FeatureBlock] = field(default_factory=dict)


@dataclass
class Subject:
    subject_id: str
    trials: list[Trial]
    layout: str
    warnings: list[str] = field(default_factory=list)

    def trial(self, trial_id: str) -> Trial:
        for t in self.trials:
            if t.trial_id == trial_id:
                return t
        raise KeyError(f"subject {self.subject_id} has no trial {trial_id!r}")


class Reader(Protocol):
    """What every layout reader offers."""

    layout: str
    root: Path

    def subjects(self) -> list[str]:
        """Subject ids found under ``root`` (sorted, as strings)."""

    def read_subject(self, subject_id: str, modalities: Sequence[str] | None = None) -> Subject:
        """Read one subject; ``modalities`` limits which signals are loaded (``[]``: self-reports
        only; ``None``: everything). Raises :class:`DataError` naming file, subject and problem."""

    def check(self) -> list[Problem]:
        """Every problem found under ``root`` (not only the first)."""

    def modalities(self) -> list[str]:
        """The modalities this layout provides (model inputs), e.g. eeg, gsr, ppg, video."""
