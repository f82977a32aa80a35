"""Data model shared by every reader: subjects -> trials -> signals, video and self-report.

Readers turn a dataset root into :class:`Subject` objects, one subject at a time, so that
per-subject work can run in parallel and one bad subject does not sink the others.

Conventions
-----------
* ``Signal.data`` is ``(n_samples, n_channels)`` float64, ``fs`` in Hz, one name per channel.
* Modality keys: DMER ``eeg``, ``gsr``, ``ppg`` (+ face ``video``); WESAD chest ``ecg``, ``eda``,
  ``emg``, ``acc`` (and wrist signals as ``wrist_acc``, ``wrist_bvp``, ``wrist_eda``, ``wrist_temp``;
  chest ``temp``, ``resp``).
* ``Trial.trial_id`` is a string: the DMER clip id (``"0"`` .. ``"31"``) or the WESAD condition
  (``"Base"``, ``"TSST"``, ``"Fun"``, ``"Medi 1"``, ``"Medi 2"``).
* ``Trial.panas`` holds the raw 1-5 scores in the order of ``Trial.panas_items`` (NaN where the
  file had no value); :func:`helo.data.labels.panas_to_distribution` turns it into a label
  distribution.
* Precomputed-feature layouts fill ``Trial.features`` instead of ``signals``.
"""
from __future__ import annotations

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
