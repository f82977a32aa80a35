"""The MAHNOB-HCI reader: the session folders indexed by subject, one trial per
emotion-elicitation stimulus session (see :mod:`helo.data.mahnob` for the layout)."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from helo.data.base import (
    DataError,
    Problem,
    ProblemCollector,
    Subject,
    Trial,
    VideoRef,
    dataset_files,
    refuse_outside_links,
    safe_id,
)
from helo.data.mahnob.bdf import BdfSegment, parse_lead, read_segment
from helo.data.mahnob.protocol import (
    BDF_NAME,
    ECG_LEAD,
    EMOTIONS,
    ITEMS,
    MODALITIES,
    RATINGS,
    SIGNALS,
)
from helo.data.mahnob.session import (
    Session,
    find_bdf,
    find_video,
    media_stem,
    parse_session,
    self_reports,
    subject_hint,
    trial_number,
)

#: the Status markers' span and session.xml's ``cutLenSec`` may differ by this much (s)
CUT_TOLERANCE_S = 1.0
_SKIP_WHY = {"neutral": "neutral-clip session(s) (isStim=0, shown before a stimulus)",
             "tagging": "implicit-tagging session(s)",
             "other": "session(s) without felt ratings",
             "no-bdf": "stimulus session(s) without a BDF"}


def _natural(s: str):
    return (0, int(s), "") if s.isdigit() else (1, 0, s)


def video_info(path: Path) -> tuple[int | None, float | None]:
    """(frame count, fps) of a video, or (None, None) when OpenCV cannot open it."""
    import cv2
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            return None, None
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        fps = float(cap.get(cv2.CAP_PROP_FPS))
        return (n if n > 0 else None), (fps if fps > 0 else None)
    finally:
        cap.release()


@dataclass
class _Entry:
    """A stimulus session with its BDF: one trial of a subject."""

    ses: Session
    bdf: Path
    trial: int | None


@dataclass
class _Index:
    entries: dict[str, list[_Entry]] = field(default_factory=lambda: defaultdict(list))
    problems: dict[str | None, list[Problem]] = field(default_factory=lambda: defaultdict(list))
    skipped: dict[str, dict[str, list[str]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(list)))
    folders: dict[str, list[Path]] = field(default_factory=lambda: defaultdict(list))


class MahnobReader:
    """MAHNOB-HCI's ``Sessions/<session id>/`` folders (``root`` is the folder holding
    ``Sessions/`` or ``Sessions/`` itself). ``ecg_lead``: the ECG signal, a channel (``EXG3``,
    the default) or a difference of two (``EXG3-EXG1``)."""

    layout = "mahnob"

    def __init__(self, root: str | Path, *, ecg_lead: str = ECG_LEAD):
        self.root = Path(root)
        parse_lead(ecg_lead)
        self.ecg_lead = ecg_lead
        self._index_cache: _Index | None = None

    def __repr__(self) -> str:
        return f"MahnobReader({str(self.root)!r})"

    # -- protocol ---------------------------------------------------------------------------
    def modalities(self) -> list[str]:
        return list(MODALITIES)

    @property
    def sessions_dir(self) -> Path:
        inner = self.root / "Sessions"
        return inner if inner.is_dir() else self.root

    def subjects(self) -> list[str]:
        idx = self._index()
        with_trials = {s for s, e in idx.entries.items() if e}
        broken = {s for s, ps in idx.problems.items()
                  if s is not None and any(p.severity == "error" for p in ps)}
        return sorted(with_trials | broken, key=_natural)

    def source_files(self, subject_id: str) -> list[Path]:
        """The files the subject's features may come from: its session folders (stimulus
        sessions, also those skipped for a missing BDF) and the files directly in the root."""
        sid = safe_id(subject_id, path=self.root)
        return dataset_files(self.root, self._index().folders.get(sid, []))

    def read_subject(self, subject_id: str, modalities: Sequence[str] | None = None) -> Subject:
        sid = safe_id(subject_id, path=self.root)
        mods = self._modalities(modalities)
        if sid not in self.subjects():
            raise DataError(f"no emotion-elicitation session of this subject under "
                            f"{self.sessions_dir}", subject=sid, path=self.sessions_dir)
        col = ProblemCollector(sid)
        refuse_outside_links(self.root, self._index().folders.get(sid, []), subject=sid)
        subject = self._read(sid, mods, col, deep=False)
        col.raise_errors()
        subject.warnings = col.warning_texts
        return subject

    def check(self) -> list[Problem]:
        if not self.root.is_dir():
            return [Problem(None, str(self.root), "dataset root does not exist")]
        idx = self._index()
        problems = list(idx.problems.get(None, []))
        sids = self.subjects()
        if not sids:
            from helo.data import no_subjects_message
            problems.append(Problem(None, str(self.root),
                                    "no emotion-elicitation session (a session.xml with felt "
                                    "ratings and its BDF) found; "
                                    + no_subjects_message(self.layout, self.root)))
        for sid in sids:
            col = ProblemCollector(sid)
            try:
                refuse_outside_links(self.root, idx.folders.get(sid, []), subject=sid)
                self._read(sid, list(MODALITIES), col, deep=True)
            except DataError as err:
                col.add(err)
            except Exception as err:  # never let one subject stop the others
                col.error(f"unexpected {type(err).__name__}: {err}")
            problems.extend(col.problems)
        others = set(idx.problems) | set(idx.skipped)
        for sid in sorted((s for s in others if s is not None and s not in sids), key=_natural):
            col = ProblemCollector(sid)
            self._index_problems(sid, col)
            problems.extend(col.problems)
        return problems

    # -- the index ----------------------------------------------------------------------------
    def _index(self) -> _Index:
        if self._index_cache is None:
            self._index_cache = self._build_index()
        return self._index_cache

    def _build_index(self) -> _Index:
        idx = _Index()
        base = self.sessions_dir
        if not base.is_dir():
            return idx
        folders = sorted((p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")),
                         key=lambda p: _natural(p.name))
        for folder in folders:
            hint = subject_hint(folder)
            if not (folder / "session.xml").exists():
                why = ("a BDF but no session.xml" if any(folder.glob("*.bdf"))
                       else "no session.xml")
                idx.problems[hint].append(Problem(hint, str(folder / "session.xml"),
                                                  f"session folder with {why}: skipped",
                                                  "warning"))
                continue
            try:
                ses = parse_session(folder, self.root)
            except DataError as err:
                idx.problems[err.subject].append(Problem.from_error(err))
                continue
            col = ProblemCollector(ses.subject or hint)
            bdf, bdf_name = find_bdf(ses, col)
            kind = ses.kind(bdf_name)
            who = ses.subject or hint
            if kind != "stimulus":
                if who is not None:
                    idx.skipped[who][kind].append(ses.session_id)
                continue
            if ses.subject is None:
                col.error("session.xml has no <subject id=...>: whose session this is is unknown",
                          ses.xml)
            m = BDF_NAME.match(bdf_name or "")
            if ses.subject is not None and m and str(int(m["subject"])) != ses.subject:
                other = str(int(m["subject"]))
                why = (f"session.xml names subject {ses.subject} but the BDF {bdf_name} is "
                       f"participant {other}'s")
                col.error(why, ses.xml)
                idx.problems[other].append(Problem(other, str(ses.xml), why))
            if who is not None:
                idx.folders[who].append(folder)
            if bdf is None and not col.errors:
                col.warn("the stimulus session's BDF is missing: the session is skipped "
                         "(its trial is left out)",
                         folder / bdf_name if bdf_name else folder / "*.bdf")
                idx.skipped[who]["no-bdf"].append(ses.session_id)
            elif not col.errors:
                idx.entries[ses.subject].append(_Entry(ses, bdf, trial_number(ses, bdf_name)))
            idx.problems[who].extend(col.problems)
        return idx

    def _index_problems(self, sid: str, col: ProblemCollector) -> None:
        idx = self._index()
        col.problems.extend(idx.problems.get(sid, []))
        skipped = idx.skipped.get(sid, {})
        parts = [f"{len(v)} {_SKIP_WHY[k]}" for k, v in skipped.items() if k != "no-bdf" and v]
        if parts:
            col.warn("skipped " + ", ".join(parts) + ": not emotion-elicitation stimulus "
                     "sessions (no felt ratings)", self.sessions_dir)

    # -- one subject ----------------------------------------------------------------------------
    @staticmethod
    def _modalities(modalities: Sequence[str] | None) -> list[str]:
        if modalities is None:
            return list(MODALITIES)
        mods = [str(m).lower() for m in modalities]
        bad = [m for m in mods if m not in MODALITIES]
        if bad:
            raise ValueError(f"unknown MAHNOB-HCI modalities {bad}; choose from {MODALITIES}")
        return mods

    def _read(self, sid: str, mods: list[str], col: ProblemCollector, deep: bool) -> Subject:
        self._index_problems(sid, col)
        entries = sorted(self._index().entries.get(sid, []),
                         key=lambda e: (e.trial if e.trial is not None else 1 << 30,
                                        _natural(e.ses.session_id)))
        signal_mods = list(SIGNALS) if deep else [m for m in mods if m in SIGNALS]
        want_video = deep or "video" in mods
        seen: dict[str, str] = {}
        trials: list[Trial] = []
        for pos, e in enumerate(entries):
            tid = media_stem(e.ses, col)
            values, code = self_reports(e.ses, col)
            if tid is None:
                continue
            if tid in seen:
                col.error(f"stimulus {tid} appears in sessions {seen[tid]} and "
                          f"{e.ses.session_id} of this subject (a copied session folder?)",
                          e.ses.xml)
                continue
            seen[tid] = e.ses.session_id
            trial = Trial(trial_id=tid, order=(e.trial - 1) if e.trial else pos,
                          category=EMOTIONS.get(code) if code is not None else None,
                          panas=values, panas_items=list(ITEMS),
                          extra=self._extra(e, values, code))
            if signal_mods or want_video:
                try:
                    seg = read_segment(e.bdf, signal_mods, col, ecg_lead=self.ecg_lead)
                except DataError as err:
                    col.add(err)
                    continue
                self._attach(trial, e, seg, [m for m in mods if m in SIGNALS], col)
                if want_video:
                    self._video(trial, e, seg, col, keep="video" in mods)
            trials.append(trial)
        trials.sort(key=lambda t: t.order)
        return Subject(sid, trials, self.layout)

    @staticmethod
    def _extra(e: _Entry, values: np.ndarray, code: int | None) -> dict:
        extra = {name: float(values[k]) for k, name in enumerate(RATINGS.values())}
        extra.update(session=e.ses.session_id, media_file=e.ses.attrs.get("mediaFile"),
                     felt_emotion_code=code,
                     felt_emotion=EMOTIONS.get(code) if code is not None else None,
                     trial_number=e.trial, bdf=str(e.bdf))
        for attr in ("cutNr", "cutLenSec"):
            if attr in e.ses.attrs:
                extra[attr] = e.ses.attrs[attr]
        return extra

    @staticmethod
    def _attach(trial: Trial, e: _Entry, seg: BdfSegment, keep: list[str],
                col: ProblemCollector) -> None:
        a, b = seg.span
        trial.signals = {m: seg.signals[m] for m in keep}
        trial.extra.update(span=(a, b), fs=seg.fs, start_s=a / seg.fs, end_s=b / seg.fs,
                           n_samples=seg.n_samples, markers=list(seg.markers))
        cut = e.ses.attrs.get("cutLenSec")
        try:
            cut_s = float(cut) if cut is not None else None
        except ValueError:
            cut_s = None
        if cut_s is not None and abs((b - a) / seg.fs - cut_s) > CUT_TOLERANCE_S:
            col.warn(f"the Status markers span {(b - a) / seg.fs:.2f} s but cutLenSec is "
                     f"{cut_s:g} s", e.bdf)

    @staticmethod
    def _video(trial: Trial, e: _Entry, seg: BdfSegment, col: ProblemCollector,
               keep: bool) -> None:
        found = find_video(e.ses, col)
        if found is False:
            return
        if found is None:
            col.warn("no frontal colour video (...C1 trigger...avi): video=None for this trial",
                     e.ses.folder)
            return
        n_frames, fps = video_info(found)
        if n_frames is None and fps is None:
            col.error("OpenCV cannot read the frontal video (corrupted or not a video)", found)
            return
        if fps is None:
            try:
                fps = float(e.ses.attrs["vidRate"])
            except (KeyError, ValueError):
                col.error("the video's frame rate is unknown (neither the file nor "
                          "session.xml's vidRate gives it)", found)
                return
        a, b = seg.span
        fa, fb = int(round(a / seg.fs * fps)), int(round(b / seg.fs * fps))
        if n_frames is not None and fb > n_frames:
            col.warn(f"the stimulus needs frames up to {fb} but the video has {n_frames}", found)
        trial.extra.update(video_frames=(fa, fb), fps=fps)
        if keep:
            trial.video = VideoRef(found, fa, fb, fps)


__all__ = ["MahnobReader", "video_info", "CUT_TOLERANCE_S"]
