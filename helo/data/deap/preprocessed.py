"""Reader for DEAP's preprocessed Python release (layout ``deap``).

Layout::

    root/data_preprocessed_python/s01.dat .. s32.dat   (or the sNN.dat files directly in root)
    root/Metadata/participant_ratings.csv              optional; also root/ or metadata_csv/

Each ``sNN.dat`` is a Python 2 pickle (read with the restricted
:func:`~helo.data.safe_pickle.safe_load`, ``latin1``, any protocol) of a dict with

``data``
    ``(40 trials, 40 channels, 8064 samples)`` at 128 Hz: 63 s per trial, the first 3 s
    (384 samples) the pre-trial baseline, then the 60 s of the video. DEAP's preprocessing:
    downsampled to 128 Hz, EOG artefacts removed, EEG band-passed 4-45 Hz and averaged to the
    common reference, channels in the Geneva order. Rows 0-31 are EEG
    (:data:`~helo.data.deap.common.EEG_GENEVA`, microvolts as EEGLAB writes them), rows 32-39
    :data:`~helo.data.deap.common.PERIPHERAL` (hEOG, vEOG, zEMG, tEMG, GSR, respiration,
    plethysmograph, temperature).
``labels``
    ``(40, 4)``: valence, arousal, dominance, liking, floats on 1-9.

The trials are in *video order* (DEAP reordered them from presentation order): row ``k`` is
video ``k + 1`` (``Experiment_id``).

What the reader gives per trial:

* ``trial_id`` the video id (``"1"`` .. ``"40"``), the same id the ``deap-bdf`` reader gives;
  ``order`` the presentation position (0-based ``Trial - 1`` of ``participant_ratings.csv``;
  without the table, the row index); ``category`` None.
* signals from sample 384 on (the 60 s stimulus; the baseline is dropped) at 128 Hz: ``eeg``
  (32 channels, Geneva order), ``emg`` (``zEMG``: the zygomaticus major, the smiling muscle;
  helo's EMG features take one channel, so ``tEMG`` is not read), ``gsr`` (``GSR``, values as
  released) and ``ppg`` (``Plethysmograph``). EOG, respiration and temperature are not read
  (helo computes no features from them).
* ``panas`` the four ratings, ``panas_items`` :data:`~helo.data.deap.common.RATINGS`: the label
  values that ``data.labels: circumplex`` (valence/arousal) or ``gaussian`` turn into a
  distribution. ``extra``: ``experiment_id``, ``presentation_trial`` (1-based, None without the
  table), ``familiarity`` and ``start_time_us`` from the table (None when absent),
  ``baseline_samples`` (384), ``span`` (the samples of the 63 s row the signals are).

The trial count and length are read from each file (the synthetic sets are smaller); what a
file must hold: 40 channels, ``labels`` with one row of 4 per trial, more samples than the 3 s
baseline, ratings within 1-9 (NaN is a missing rating: a warning, the trial gets no label).
``check()`` reports, naming file and subject: an unreadable or truncated pickle, a wrong
structure or shape, ratings out of range, a file whose trial count or length differs from the
other subjects' (a truncated export), a subject the ratings table lists without its ``.dat``
(an error; a gap in the ``sNN`` numbering without a table is a warning), and, with the table,
a participant missing from it or ratings that differ from ``labels``.
"""
from __future__ import annotations

from collections import Counter
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
    inside_root,
    refuse_outside_links,
    safe_id,
)
from helo.data.deap.common import (
    CHANNELS,
    EEG_GENEVA,
    RATINGS,
    SUBJECT_FILE,
    Ratings,
    SubjectFiles,
    rating_problems,
    ratings_csv,
    read_ratings,
    subject_number,
)
from helo.data.safe_pickle import safe_load

__all__ = ["DeapReader", "FS", "BASELINE_S", "MODALITY_ROWS", "DATA_FOLDER"]

FS = 128.0
BASELINE_S = 3.0
DATA_FOLDER = "data_preprocessed_python"
#: modality -> (rows of ``data``, channel names)
MODALITY_ROWS: dict[str, tuple[list[int], list[str]]] = {
    "eeg": (list(range(32)), list(EEG_GENEVA)),
    "emg": ([CHANNELS.index("zEMG")], ["zEMG"]),
    "gsr": ([CHANNELS.index("GSR")], ["GSR"]),
    "ppg": ([CHANNELS.index("Plethysmograph")], ["Plethysmograph"]),
}
_READ_TABLE = object()  # _read's default: read the ratings table itself
#: how far a ratings-table value may differ from ``labels`` before check() says so
RATING_TOLERANCE = 0.01


class DeapReader(SubjectFiles):
    """The ``deap`` layout (see the module docstring)."""

    data_folder, suffix = DATA_FOLDER, "dat"
    layout = "deap"

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self._ratings: Ratings | None = None
        self._ratings_read = False

    # -- protocol ---------------------------------------------------------------------------
    def modalities(self) -> list[str]:
        return list(MODALITY_ROWS)

    def source_files(self, subject_id: str) -> list[Path]:
        """The subject's ``.dat`` and the ratings table (when there is one)."""
        out = [self._path(subject_id)]
        csv = ratings_csv(self.root)
        return out + ([csv] if csv is not None else [])

    def read_subject(self, subject_id: str, modalities: Sequence[str] | None = None) -> Subject:
        mods = self.modalities() if modalities is None else list(modalities)
        unknown = [m for m in mods if m not in MODALITY_ROWS]
        if unknown:
            raise ValueError(f"unknown DEAP modalities {unknown}; choose from "
                             f"{list(MODALITY_ROWS)}")
        subject, _ = self._read(subject_id, mods)
        return subject

    def check(self) -> list[Problem]:
        if not self.root.is_dir():
            return [Problem(None, str(self.root), "dataset root is not a folder")]
        problems: list[Problem] = []
        listed = self.subjects()
        folder = self.folder()
        for p in sorted(folder.iterdir()):
            if p.suffix == ".dat" and p.stem not in listed:
                problems.append(Problem(None, str(p), "not a DEAP subject file name (sNN.dat, "
                                        "two digits); ignored", "warning"))
        if not listed:
            from helo.data import no_subjects_message
            problems.append(Problem(None, str(self.root), "no DEAP subject files (sNN.dat) found; "
                                    + no_subjects_message(self.layout, self.root)))
            return problems
        try:
            ratings = self._table()
        except DataError as err:
            problems.append(Problem.from_error(err))
            ratings = None
        if ratings is not None:
            problems += [Problem(None, str(ratings.path), w, "warning") for w in ratings.warnings]
        shapes: dict[str, tuple[int, int]] = {}
        for sid in listed:
            try:
                subject, shapes[sid] = self._read(sid, self.modalities(), ratings=ratings)
            except DataError as err:
                problems.append(Problem.from_error(err))
                continue
            except (MemoryError, RecursionError, OSError) as err:
                problems.append(Problem(sid, str(self._path(sid)), f"{type(err).__name__} while "
                                        "reading: the file is corrupted or malicious"))
                continue
            problems += [Problem(sid, None, w, "warning") for w in subject.warnings]
        problems += self._odd_shapes(shapes)
        problems += self._missing_subjects(listed, ratings)
        return problems

    # -- internals --------------------------------------------------------------------------
    def _path(self, sid: str) -> Path:
        safe_id(sid, path=self.root)
        if not SUBJECT_FILE.match(f"{sid}.dat"):
            raise DataError("not a DEAP subject id (expected sNN, e.g. s01)", subject=str(sid),
                            path=self.root)
        return self.folder() / f"{sid}.dat"

    def _table(self) -> Ratings | None:
        if not self._ratings_read:
            path = ratings_csv(self.root)
            self._ratings = read_ratings(path, self.root) if path is not None else None
            self._ratings_read = True
        return self._ratings

    def _load(self, path: Path, sid: str) -> tuple[np.ndarray, np.ndarray]:
        if not path.is_file():
            raise DataError("missing subject file", path=path, subject=sid)
        refuse_outside_links(self.root, [path], subject=sid)
        try:
            obj = safe_load(path, encoding="latin1")
        except DataError as err:
            raise DataError(err.problem, path=path, subject=sid) from None

        def bad(msg):
            return DataError(msg, path=path, subject=sid)

        if not isinstance(obj, dict) or "data" not in obj or "labels" not in obj:
            keys = sorted(map(str, obj)) if isinstance(obj, dict) else type(obj).__name__
            raise bad(f"expected a dict with 'data' and 'labels', found {keys}")
        data, labels = obj["data"], obj["labels"]
        if not isinstance(data, np.ndarray) or data.dtype.kind not in "fiu":
            raise bad("'data' is not a numeric array")
        if data.ndim != 3 or data.shape[1] != len(CHANNELS):
            raise bad(f"'data' has shape {data.shape}, expected (trials, {len(CHANNELS)} "
                      f"channels, samples)")
        if not isinstance(labels, np.ndarray) or labels.dtype.kind not in "fiu":
            raise bad("'labels' is not a numeric array")
        if labels.shape != (data.shape[0], len(RATINGS)):
            raise bad(f"'labels' has shape {labels.shape}, expected ({data.shape[0]}, "
                      f"{len(RATINGS)}): one row of {', '.join(RATINGS)} per trial of 'data'")
        base = int(round(BASELINE_S * FS))
        if data.shape[2] <= base:
            raise bad(f"'data' holds {data.shape[2]} samples per trial, no more than the "
                      f"{BASELINE_S:g} s baseline ({base} samples at {FS:g} Hz): truncated?")
        return data, np.asarray(labels, dtype=np.float64)

    def _read(self, sid: str, mods: list[str], ratings=_READ_TABLE,
              ) -> tuple[Subject, tuple[int, int]]:
        """The subject and its file's (trials, samples); ``ratings`` the parsed table (None:
        none), by default read here."""
        path = self._path(sid)
        inside_root(path, self.root, subject=sid)
        col = ProblemCollector(sid)
        data, labels = self._load(path, sid)
        n_trials, _, n_samples = data.shape
        where = [f"trial {k + 1} (video {k + 1})" for k in range(n_trials)]
        bad = rating_problems(labels, where)
        if bad:
            more = f" (and {len(bad) - 3} more)" if len(bad) > 3 else ""
            raise DataError("'labels' out of range: " + "; ".join(bad[:3]) + more, path=path,
                            subject=sid)
        for k in np.flatnonzero(np.isnan(labels).any(axis=1)):
            col.warn(f"{where[k]} has a missing (NaN) rating: no label for it", path)
        if ratings is _READ_TABLE:
            ratings = self._table()
        rows = self._rows(sid, ratings, labels, col)
        base = int(round(BASELINE_S * FS))
        for m in mods:
            idx, _ = MODALITY_ROWS[m]
            n_bad = int(np.count_nonzero(~np.isfinite(data[:, idx, base:])))
            if n_bad:
                col.warn(f"{m} holds {n_bad} non-finite values (their windows get no features)",
                         path)
        trials = []
        for k in range(n_trials):
            row = rows.get(k + 1)
            signals = {}
            for m in mods:
                idx, names = MODALITY_ROWS[m]
                signals[m] = Signal(data[k, idx, base:].T, FS, list(names))
            trials.append(Trial(
                trial_id=str(k + 1), order=(row.trial - 1) if row is not None else k,
                signals=signals, panas=labels[k].copy(), panas_items=list(RATINGS),
                extra={"experiment_id": k + 1,
                       "presentation_trial": row.trial if row is not None else None,
                       "familiarity": row.familiarity if row is not None else None,
                       "start_time_us": row.start_time_us if row is not None else None,
                       "baseline_samples": base, "span": (base, int(n_samples))}))
        return (Subject(subject_id=sid, trials=trials, layout=self.layout,
                        warnings=[str(w) for w in col.warning_texts]),
                (int(n_trials), int(n_samples)))

    def _rows(self, sid: str, ratings: Ratings | None, labels: np.ndarray,
              col: ProblemCollector) -> dict:
        """``{video: RatingRow}`` of the participant (empty without a table), with warnings for
        a participant the table lacks, videos that do not match and ratings that differ."""
        if ratings is None:
            return {}
        rows = ratings.of(subject_number(sid))
        if not rows:
            col.warn(f"participant {subject_number(sid)} is not in the ratings table: the "
                     f"presentation order is unknown (order = video order)", ratings.path)
            return {}
        by_video = {r.experiment: r for r in rows}
        videos = set(range(1, len(labels) + 1))
        if set(by_video) != videos:
            col.warn(f"the ratings table lists videos {sorted(by_video)} for participant "
                     f"{subject_number(sid)}, the .dat holds videos 1..{len(labels)}; "
                     f"unmatched trials keep video order", ratings.path)
        differ = [v for v, r in by_video.items() if v in videos
                  and np.nanmax(np.abs(r.ratings - labels[v - 1]), initial=0.0)
                  > RATING_TOLERANCE]
        if differ:
            col.warn(f"the ratings table differs from the .dat 'labels' by more than "
                     f"{RATING_TOLERANCE:g} for video(s) {sorted(differ)[:10]}"
                     f"{' ...' if len(differ) > 10 else ''}; labels come from the .dat",
                     ratings.path)
        return {v: r for v, r in by_video.items() if v in videos}

    def _odd_shapes(self, shapes: dict[str, tuple[int, int]]) -> list[Problem]:
        """A file whose trial count or length differs from most subjects': an error (without a
        majority, one error naming every file's shape)."""
        if len(shapes) < 2:
            return []
        counts = Counter(shapes.values()).most_common()
        if len(counts) == 1:
            return []
        if counts[0][1] == counts[1][1]:
            listing = ", ".join(f"{sid} {n} x {m}" for sid, (n, m) in shapes.items())
            return [Problem(None, str(self.folder()), f"the subject files disagree on trials x "
                            f"samples ({listing}) and no shape is the majority's: a truncated "
                            f"or different export")]
        common = counts[0][0]
        return [Problem(sid, str(self._path(sid)), f"holds {shape[0]} trials of {shape[1]} "
                        f"samples where the other subjects' files hold {common[0]} of "
                        f"{common[1]}: a truncated or different export")
                for sid, shape in shapes.items() if shape != common]

    def _missing_subjects(self, listed: list[str], ratings: Ratings | None) -> list[Problem]:
        have = {subject_number(s) for s in listed}
        out = []
        in_table = set(ratings.rows) if ratings is not None else set()
        for n in sorted(in_table - have):
            out.append(Problem(f"s{n:02d}", str(self.folder() / f"s{n:02d}.dat"),
                               f"missing subject file: {ratings.path.name} lists participant {n}"))
        for n in range(1, max(have)):
            if n not in have and n not in in_table:
                out.append(Problem(f"s{n:02d}", str(self.folder() / f"s{n:02d}.dat"),
                                   f"missing subject file? s{n:02d}.dat is absent between "
                                   f"s01 and s{max(have):02d}", "warning"))
        return out
