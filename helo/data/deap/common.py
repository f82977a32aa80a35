"""What both DEAP readers share: channel orders, the rating scale, subject file names and the
``participant_ratings.csv`` table of the metadata release.

DEAP (Koelstra et al., *IEEE Trans. Affective Computing* 3(1), 2012): 32 participants watched 40
one-minute music-video excerpts while EEG (32 channels) and peripheral signals were recorded;
after each video they rated valence, arousal, dominance and liking on continuous 1-9 scales
(SAM manikins; thumbs for liking), and familiarity afterwards on a 1-5 scale.

EEG channel orders. The preprocessed release and the Geneva recordings (participants 23-32) use
the *Geneva order* (:data:`EEG_GENEVA`); the Twente recordings (participants 1-22) stored the
same 32 electrodes in another order (:data:`EEG_TWENTE`). Both readers give EEG in Geneva order.
"""
from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from helo.data.base import DataError, inside_root

__all__ = ["EEG_GENEVA", "EEG_TWENTE", "PERIPHERAL", "CHANNELS", "RATINGS", "SCALE",
           "SUBJECT_FILE", "subject_number", "RatingRow", "Ratings", "read_ratings",
           "ratings_csv", "RATINGS_PLACES", "rating_problems", "SubjectFiles"]

#: the 32 EEG electrodes in the Geneva order (rows 0-31 of the preprocessed ``data``)
EEG_GENEVA = ["Fp1", "AF3", "F3", "F7", "FC5", "FC1", "C3", "T7", "CP5", "CP1", "P3", "P7",
              "PO3", "O1", "Oz", "Pz", "Fp2", "AF4", "Fz", "F4", "F8", "FC6", "FC2", "Cz", "C4",
              "T8", "CP6", "CP2", "P4", "P8", "PO4", "O2"]
#: the same electrodes as the Twente recordings (participants 1-22) store them
EEG_TWENTE = ["Fp1", "AF3", "F7", "F3", "FC1", "FC5", "T7", "C3", "CP1", "CP5", "P7", "P3", "Pz",
              "PO3", "O1", "Oz", "O2", "PO4", "P4", "P8", "CP6", "CP2", "C4", "T8", "FC6", "FC2",
              "F4", "F8", "AF4", "Fp2", "Fz", "Cz"]
#: rows 32-39 of the preprocessed ``data``: horizontal and vertical EOG, zygomaticus and
#: trapezius EMG (each the difference of its electrode pair), GSR, respiration belt,
#: plethysmograph, temperature
PERIPHERAL = ["hEOG", "vEOG", "zEMG", "tEMG", "GSR", "Respiration", "Plethysmograph",
              "Temperature"]
CHANNELS = EEG_GENEVA + PERIPHERAL
#: the self-report columns of ``labels`` (and of the ratings table), in that order
RATINGS = ["valence", "arousal", "dominance", "liking"]
#: the SAM scales' ends
SCALE = (1.0, 9.0)
#: ``s01.dat`` / ``s01.bdf``: participant 1
SUBJECT_FILE = re.compile(r"^s(\d{2})\.(dat|bdf)$")
#: where the ratings table may lie, relative to the dataset root (first found wins)
RATINGS_PLACES = ("participant_ratings.csv", "Metadata/participant_ratings.csv",
                  "metadata_csv/participant_ratings.csv")

_COLUMNS = {"participant_id": "participant", "trial": "trial", "experiment_id": "experiment",
            "start_time": "start_time", "valence": "valence", "arousal": "arousal",
            "dominance": "dominance", "liking": "liking", "familiarity": "familiarity"}
_REQUIRED = ("participant", "trial", "experiment", "valence", "arousal", "dominance", "liking")


def subject_number(sid: str) -> int:
    """``"s07"`` -> 7 (a subject id is its file's stem)."""
    return int(str(sid)[1:])


def rating_problems(values: np.ndarray, where: list[str]) -> list[str]:
    """One line per rating outside :data:`SCALE` (NaN is no problem here: a missing rating)."""
    lo, hi = SCALE
    out = []
    for i, row in enumerate(np.atleast_2d(values)):
        for name, v in zip(RATINGS, row):
            if math.isfinite(v) and not lo <= v <= hi:
                out.append(f"{where[i]}: {name} {v:g} outside DEAP's {lo:g}..{hi:g} scale")
    return out


@dataclass
class RatingRow:
    """One row of ``participant_ratings.csv``: a trial as the participant saw it."""

    trial: int  # presentation position, 1-based
    experiment: int  # the video (1-40): the trial's id in both layouts
    start_time_us: float | None
    ratings: np.ndarray  # valence, arousal, dominance, liking (NaN where empty)
    familiarity: float | None
    line: int


@dataclass
class Ratings:
    """The parsed table: rows per participant, in presentation order."""

    path: Path
    rows: dict[int, list[RatingRow]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def of(self, participant: int) -> list[RatingRow]:
        return self.rows.get(participant, [])


def ratings_csv(root: str | Path) -> Path | None:
    """The ratings table under ``root`` (:data:`RATINGS_PLACES`), or None."""
    for rel in RATINGS_PLACES:
        p = Path(root) / rel
        if p.is_file():
            return p
    return None


def _number(text: str, what: str, line: int, path: Path, *, missing_ok: bool) -> float:
    t = text.strip()
    if t == "" or t.lower() in ("nan", "na", "n/a"):
        if missing_ok:
            return math.nan
        raise DataError(f"line {line}: {what} is empty", path=path)
    try:
        v = float(t)
    except ValueError:
        raise DataError(f"line {line}: {what} is {t[:40]!r}, not a number", path=path) from None
    if not math.isfinite(v):
        raise DataError(f"line {line}: {what} is {t!r}", path=path)
    return v


def _whole(text: str, what: str, line: int, path: Path) -> int:
    v = _number(text, what, line, path, missing_ok=False)
    if not v.is_integer() or v < 1:
        raise DataError(f"line {line}: {what} is {text.strip()!r}, not a positive whole number",
                        path=path)
    return int(v)


def read_ratings(path: str | Path, root: str | Path) -> Ratings:
    """Parse ``participant_ratings.csv`` (comma separated, a header naming ``Participant_id``,
    ``Trial``, ``Experiment_id``, ``Start_time``, ``Valence``, ``Arousal``, ``Dominance``,
    ``Liking``, ``Familiarity`` in any order and case). Raises :class:`DataError` naming the file
    and line for a missing column, a non-number, a repeated trial or video of one participant,
    or a rating outside 1-9; an empty rating is NaN (with a warning), an empty familiarity is
    None (the table leaves it empty for participants 2, 15 and 23)."""
    path = Path(path)
    inside_root(path, root)
    try:
        text = path.read_bytes().decode("utf-8-sig", errors="replace")
    except OSError as err:
        raise DataError(f"cannot read ({err.strerror or err})", path=path) from None
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise DataError("the ratings table is empty", path=path) from None
    cols = {}
    for k, name in enumerate(header):
        key = _COLUMNS.get(name.strip().lower().replace(" ", "_"))
        if key is not None:
            cols[key] = k
    missing = [c for c in _REQUIRED if c not in cols]
    if missing:
        raise DataError(f"the header lacks column(s) {missing} (found {header})", path=path)
    out = Ratings(path=path)
    seen: dict[int, tuple[set, set]] = {}
    for line, fields in enumerate(reader, start=2):
        if not "".join(fields).strip():
            continue
        if len(fields) < len(header):
            raise DataError(f"line {line} has {len(fields)} fields, the header {len(header)}",
                            path=path)

        def get(key):
            return fields[cols[key]] if key in cols else ""

        participant = _whole(get("participant"), "Participant_id", line, path)
        trial = _whole(get("trial"), "Trial", line, path)
        video = _whole(get("experiment"), "Experiment_id", line, path)
        values = np.array([_number(get(r), r.capitalize(), line, path, missing_ok=True)
                           for r in RATINGS])
        bad = rating_problems(values, [f"line {line}"])
        if bad:
            raise DataError("; ".join(bad), path=path)
        for r, v in zip(RATINGS, values):
            if math.isnan(v):
                out.warnings.append(f"line {line}: participant {participant} trial {trial} has "
                                    f"no {r} rating")
        start = _number(get("start_time"), "Start_time", line, path, missing_ok=True)
        fam = _number(get("familiarity"), "Familiarity", line, path, missing_ok=True)
        trials, videos = seen.setdefault(participant, (set(), set()))
        if trial in trials:
            raise DataError(f"line {line}: participant {participant} has trial {trial} twice",
                            path=path)
        if video in videos:
            raise DataError(f"line {line}: participant {participant} saw video {video} twice",
                            path=path)
        trials.add(trial)
        videos.add(video)
        out.rows.setdefault(participant, []).append(RatingRow(
            trial=trial, experiment=video, start_time_us=None if math.isnan(start) else start,
            ratings=values, familiarity=None if math.isnan(fam) else fam, line=line))
    for rows in out.rows.values():
        rows.sort(key=lambda r: r.trial)
    return out


class SubjectFiles:
    """What both DEAP readers share: one file per participant, ``sNN.<suffix>``, in the release
    folder ``data_folder`` under the root (or in the root itself)."""

    root: Path
    data_folder: str
    suffix: str

    def folder(self) -> Path:
        """Where the participants' files lie: ``root/<data_folder>``, else the root."""
        sub = self.root / self.data_folder
        return sub if sub.is_dir() else self.root

    def subjects(self) -> list[str]:
        folder = self.folder()
        if not folder.is_dir():
            return []
        found = [(int(m.group(1)), p.stem) for p in folder.iterdir()
                 if (m := SUBJECT_FILE.match(p.name)) and m.group(2) == self.suffix
                 and p.is_file()]
        return [sid for _, sid in sorted(found)]
