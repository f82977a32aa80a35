"""Reader for DEAP's original recordings (layout ``deap-bdf``).

Layout::

    root/data_original/s01.bdf .. s32.bdf        (or the sNN.bdf files directly in root)
    root/Metadata/participant_ratings.csv         required; also root/ or metadata_csv/
    root/face_video/s01/s01_trial01.avi ..        optional (DEAP has them for participants 1-22)

Each ``sNN.bdf`` (BioSemi 24-bit BDF, read with ``mne.io.read_raw_bdf``) holds the whole session
at 512 Hz in 48 channels: 32 EEG, ``EXG1``-``EXG8`` (hEOG1, hEOG2, vEOG1, vEOG2, zEMG1, zEMG2,
tEMG1, tEMG2), ``GSR1``, ``GSR2``, ``Erg1``, ``Erg2``, ``Resp``, ``Plet``, ``Temp`` and
``Status``. The Twente recordings (participants 1-22) store the EEG in another order than the
Geneva ones (:data:`~helo.data.deap.common.EEG_TWENTE` vs ``EEG_GENEVA``): EEG channels are
found by name (normalised: :func:`helo.data.channels.normalise_channel`) and given in the Geneva
order; a file whose first 32 channels do not carry the 32 names is read by position in its site's
order, with a warning.

``Status``: the low byte carries DEAP's markers (the upper bits are BioSemi device state and are
masked out): ``1`` start of the experiment (first), of the 2-minute baseline (second), of a
rating screen (later ones); ``2`` video synchronisation screen; ``3`` fixation before a trial
(5 s); ``4`` start of the music video (60 s); ``5`` fixation after the video (3 s); ``7`` end of
the experiment. A marker is the first sample of a run of its code. Trial ``k`` (presentation
order) is the span from the ``k``-th code 4 to the next code 5: the stimulus, as in the
preprocessed release (no pre-trial baseline).

``participant_ratings.csv`` gives each trial's video and ratings: the ``k``-th code 4 is the
participant's row with ``Trial == k``. Its ``Start_time`` (microseconds) is cross-checked
against the marker times: intervals between consecutive trials that differ by more than 0.5 s
are reported (a warning: markers and table may be misaligned).

What the reader gives per trial: ``trial_id`` the video id (``Experiment_id``, the id the ``deap``
layout gives too), ``order`` ``Trial - 1``; signals at the file's rate (512 Hz): ``eeg`` (32
channels, Geneva order, microvolts), ``emg`` (``zEMG`` = EXG5 - EXG6, the zygomaticus pair as the
preprocessed release derives it, microvolts), ``gsr`` (``GSR1`` as recorded: DEAP's
documentation says the Twente and Geneva sites recorded it in different units, and no
conversion is made) and ``ppg`` (``Plet``); ``video``: the trial's face video
``face_video/sNN/sNN_trialKK.avi`` (``KK`` the 1-based presentation position), its first
``duration x fps`` frames (frame rate from the file). ``panas`` / ``panas_items``: the four
ratings (:data:`~helo.data.deap.common.RATINGS`); ``extra``: ``experiment_id``,
``presentation_trial``, ``familiarity``, ``start_time_us``, ``span`` (samples of the file),
``start_s``/``end_s``.

A labels-only read (``modalities=[]``) takes everything from the ratings table without opening
the BDF. A read with signals (and ``check()``) needs as many code-4 markers as the table has
rows for the participant, each followed by a code 5, else a :class:`DataError` names the file.
"""
from __future__ import annotations

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
    inside_root,
    refuse_outside_links,
    safe_id,
)
from helo.data.channels import normalise_channel
from helo.data.deap.common import (
    EEG_GENEVA,
    EEG_TWENTE,
    RATINGS,
    RATINGS_PLACES,
    SUBJECT_FILE,
    RatingRow,
    Ratings,
    SubjectFiles,
    ratings_csv,
    read_ratings,
    subject_number,
)

__all__ = ["DeapBdfReader", "MARKERS", "DATA_FOLDER", "VIDEO_FOLDER", "markers", "trial_spans"]

DATA_FOLDER = "data_original"
VIDEO_FOLDER = "face_video"
#: Status codes (low byte) and what they mark
MARKERS = {1: "experiment / baseline / rating screen start", 2: "video synchronisation screen",
           3: "fixation before a trial", 4: "music video start", 5: "fixation after the video",
           7: "end of the experiment"}
VIDEO_START, VIDEO_END = 4, 5
#: the last Twente participant (1-22 Twente, 23-32 Geneva)
LAST_TWENTE = 22
#: how far marker intervals and the table's Start_time intervals may differ (s)
START_TOLERANCE_S = 0.5
_MICROVOLT = {"uv", "µv", "μv"}
_SIGNAL_MODS = ("eeg", "emg", "gsr", "ppg")


def markers(status: np.ndarray) -> list[tuple[int, int]]:
    """``[(sample, code), ...]``: the first sample of every run of a non-zero low byte."""
    code = np.asarray(np.rint(status), dtype=np.int64) & 0xFF
    start = np.flatnonzero((code != 0) & (np.diff(code, prepend=0) != 0))
    return [(int(i), int(code[i])) for i in start]


def trial_spans(events: list[tuple[int, int]], *, path, subject) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` sample spans from each code 4 to the next code 5."""
    spans = []
    for j, (at, code) in enumerate(events):
        if code != VIDEO_START:
            continue
        nxt = next(((s, c) for s, c in events[j + 1:] if c in (VIDEO_END, VIDEO_START)), None)
        if nxt is None or nxt[1] != VIDEO_END:
            raise DataError(f"video start {len(spans) + 1} (Status code 4 at sample {at}) has "
                            f"no end marker (code 5) before the next video start", path=path,
                            subject=subject)
        spans.append((at, nxt[0]))
    return spans


class DeapBdfReader(SubjectFiles):
    """The ``deap-bdf`` layout (see the module docstring)."""

    data_folder, suffix = DATA_FOLDER, "bdf"
    layout = "deap-bdf"

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self._ratings: Ratings | None = None

    # -- protocol ---------------------------------------------------------------------------
    def modalities(self) -> list[str]:
        return [*_SIGNAL_MODS, "video"]

    def source_files(self, subject_id: str) -> list[Path]:
        """The subject's BDF, the ratings table and the subject's face videos."""
        out = [self._path(subject_id)]
        csv = ratings_csv(self.root)
        if csv is not None:
            out.append(csv)
        vids = self.root / VIDEO_FOLDER / subject_id
        if vids.is_dir():
            out += sorted(p for p in vids.iterdir() if p.is_file())
        return out

    def read_subject(self, subject_id: str, modalities: Sequence[str] | None = None) -> Subject:
        mods = self.modalities() if modalities is None else list(modalities)
        unknown = [m for m in mods if m not in self.modalities()]
        if unknown:
            raise ValueError(f"unknown DEAP modalities {unknown}; choose from "
                             f"{self.modalities()}")
        col = ProblemCollector(subject_id)
        trials = self._read(subject_id, mods, col)
        col.raise_errors()
        return Subject(subject_id=subject_id, trials=trials, layout=self.layout,
                       warnings=col.warning_texts)

    def check(self) -> list[Problem]:
        if not self.root.is_dir():
            return [Problem(None, str(self.root), "dataset root is not a folder")]
        listed = self.subjects()
        if not listed:
            from helo.data import no_subjects_message
            return [Problem(None, str(self.root), "no DEAP recordings (sNN.bdf) found; "
                            + no_subjects_message(self.layout, self.root))]
        problems: list[Problem] = []
        try:
            table = self._table()
        except DataError as err:
            return [Problem.from_error(err)]
        problems += [Problem(None, str(table.path), w, "warning") for w in table.warnings]
        for sid in listed:
            col = ProblemCollector(sid)
            try:
                self._read(sid, self.modalities(), col)
            except DataError as err:
                col.add(err)
            except (MemoryError, RecursionError, OSError) as err:
                col.error(f"{type(err).__name__} while reading: the file is corrupted or "
                          f"malicious", self._path(sid))
            problems += col.problems
        have = {subject_number(s) for s in listed}
        for n in sorted(set(table.rows) - have):
            problems.append(Problem(f"s{n:02d}", str(self.folder() / f"s{n:02d}.bdf"),
                                    f"missing subject file: {table.path.name} lists participant "
                                    f"{n}"))
        return problems

    # -- internals --------------------------------------------------------------------------
    def _path(self, sid: str) -> Path:
        safe_id(sid, path=self.root)
        if not SUBJECT_FILE.match(f"{sid}.bdf"):
            raise DataError("not a DEAP subject id (expected sNN, e.g. s01)", subject=str(sid),
                            path=self.root)
        return self.folder() / f"{sid}.bdf"

    def _table(self) -> Ratings:
        if self._ratings is None:
            path = ratings_csv(self.root)
            if path is None:
                raise DataError("no participant_ratings.csv (looked for "
                                f"{', '.join(RATINGS_PLACES)}): the deap-bdf layout takes "
                                "each trial's video and ratings from it", path=self.root)
            self._ratings = read_ratings(path, self.root)
        return self._ratings

    def _read(self, sid: str, mods: list[str], col: ProblemCollector) -> list[Trial]:
        path = self._path(sid)
        if not path.is_file():
            raise DataError("missing subject file", path=path, subject=sid)
        refuse_outside_links(self.root, [path, self.root / VIDEO_FOLDER / sid], subject=sid)
        table = self._table()
        rows = table.of(subject_number(sid))
        if not rows:
            raise DataError(f"{table.path.name} has no rows for participant "
                            f"{subject_number(sid)}: no labels", path=table.path, subject=sid)
        trials = [Trial(trial_id=str(r.experiment), order=r.trial - 1,
                        panas=r.ratings.copy(), panas_items=list(RATINGS),
                        extra={"experiment_id": r.experiment, "presentation_trial": r.trial,
                               "familiarity": r.familiarity, "start_time_us": r.start_time_us})
                  for r in rows]
        for r in rows:
            if np.isnan(r.ratings).any():
                col.warn(f"trial {r.trial} (video {r.experiment}) has a missing rating: no "
                         f"label for it", table.path)
        sig_mods = [m for m in mods if m in _SIGNAL_MODS]
        if not mods:
            return trials
        raw = self._open(path, sid)
        spans = self._spans(raw, path, sid, rows, col)
        fs = float(raw.info["sfreq"])
        for t, (a, b) in zip(trials, spans):
            t.extra.update(span=(a, b), start_s=a / fs, end_s=b / fs)
        if sig_mods:
            picks = self._picks(raw, sid, col, path)
            for t, (a, b) in zip(trials, spans):
                for m in sig_mods:
                    t.signals[m] = self._signal(raw, picks[m], a, b, fs)
        if "video" in mods:
            self._videos(sid, trials, rows, spans, fs, col)
        return trials

    def _open(self, path: Path, sid: str):
        import mne
        try:
            return mne.io.read_raw_bdf(path, preload=False, verbose="error")
        except Exception as err:  # noqa: BLE001 - any reader failure names the file
            raise DataError(f"cannot read the BDF ({type(err).__name__}: "
                            f"{str(err).splitlines()[0][:200] if str(err) else ''})",
                            path=path, subject=sid) from None

    def _spans(self, raw, path: Path, sid: str, rows: list[RatingRow],
               col: ProblemCollector) -> list[tuple[int, int]]:
        names = [n.strip().lower() for n in raw.ch_names]
        if "status" not in names:
            raise DataError("no Status channel: the trials cannot be found", path=path,
                            subject=sid)
        status = raw.get_data(picks=[names.index("status")])[0]
        spans = trial_spans(markers(status), path=path, subject=sid)
        if len(spans) != len(rows):
            raise DataError(f"the Status channel marks {len(spans)} video start(s) (code 4) but "
                            f"the ratings table has {len(rows)} trial(s) for participant "
                            f"{subject_number(sid)}", path=path, subject=sid)
        fs = float(raw.info["sfreq"])
        times = [r.start_time_us for r in rows]
        if len(spans) > 1 and all(t is not None for t in times):
            got = np.diff([a / fs for a, _ in spans])
            want = np.diff(np.asarray(times, dtype=np.float64) / 1e6)
            off = np.flatnonzero(np.abs(got - want) > START_TOLERANCE_S)
            if off.size:
                k = int(off[0])
                col.warn(f"trials {k + 1}->{k + 2}: the markers are {got[k]:.2f} s apart, the "
                         f"ratings table's Start_time {want[k]:.2f} s ({off.size} such "
                         f"interval(s)): markers and table may be misaligned", path)
        return spans

    def _picks(self, raw, sid: str, col: ProblemCollector, path: Path) -> dict:
        """modality -> (channel indices, weights or None, names, scale per channel)."""
        names = list(raw.ch_names)
        upper = {n.strip().upper(): i for i, n in enumerate(names)}
        norm: dict[str, int] = {}
        for i, n in enumerate(names):
            norm.setdefault(normalise_channel(n), i)
        if all(ch in norm for ch in EEG_GENEVA):
            eeg = [norm[ch] for ch in EEG_GENEVA]
        else:
            site = EEG_TWENTE if subject_number(sid) <= LAST_TWENTE else EEG_GENEVA
            which = "Twente" if site is EEG_TWENTE else "Geneva"
            if len(names) < 32:
                raise DataError(f"only {len(names)} channels, fewer than DEAP's 32 EEG",
                                path=path, subject=sid)
            col.warn(f"the EEG channels are not named as DEAP's electrodes; the first 32 are "
                     f"read in the {which} order", path)
            eeg = [site.index(ch) for ch in EEG_GENEVA]

        def need(label: str) -> int:
            if label not in upper:
                raise DataError(f"no {label} channel", path=path, subject=sid)
            return upper[label]

        units = getattr(raw, "_orig_units", {}) or {}
        scale = np.array([1e6 if str(units.get(n, "")).strip().lower() in _MICROVOLT else 1.0
                          for n in names])
        return {"eeg": ([*eeg], None, list(EEG_GENEVA), scale),
                "emg": ([need("EXG5"), need("EXG6")], np.array([1.0, -1.0]), ["zEMG"], scale),
                "gsr": ([need("GSR1")], None, ["GSR"], scale),
                "ppg": ([need("PLET")], None, ["Plethysmograph"], scale)}

    @staticmethod
    def _signal(raw, pick, a: int, b: int, fs: float) -> Signal:
        idx, weights, names, scale = pick
        x = raw.get_data(picks=idx, start=a, stop=b) * scale[idx][:, None]
        if weights is not None:
            x = (weights[:, None] * x).sum(axis=0, keepdims=True)
        return Signal(x.T, fs, list(names))

    def _videos(self, sid: str, trials: list[Trial], rows: list[RatingRow],
                spans: list[tuple[int, int]], fs: float, col: ProblemCollector) -> None:
        folder = self.root / VIDEO_FOLDER / sid
        if not folder.is_dir():
            return  # DEAP has face video for participants 1-22 only
        import cv2
        for t, r, (a, b) in zip(trials, rows, spans):
            path = folder / f"{sid}_trial{r.trial:02d}.avi"
            if not path.is_file():
                col.warn(f"no face video for trial {r.trial} (video {r.experiment}); video=None",
                         path)
                continue
            inside_root(path, self.root, subject=sid)
            cap = cv2.VideoCapture(str(path))
            try:
                ok = cap.isOpened()
                n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0) if ok else 0
                fps = float(cap.get(cv2.CAP_PROP_FPS) or 0) if ok else 0.0
            finally:
                cap.release()
            if not ok or n <= 0 or not fps > 0:
                col.error("OpenCV cannot read the face video (corrupted or not a video)", path)
                continue
            want = int(round((b - a) / fs * fps))
            if n < want - fps:
                col.warn(f"the face video has {n} frames, the trial lasts {want} at {fps:g} "
                         f"fps; its frames are used as they are", path)
            t.video = VideoRef(path, 0, min(n, want), fps)
