"""One MAHNOB-HCI session folder: its ``session.xml`` (the ``<session>`` element's attributes,
the ``<subject id>`` child and the ``<track>`` file names), what kind of session it is, its BDF
and frontal video, and its self-reports checked against their scales."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from helo.data.base import DataError, ProblemCollector, inside_root, safe_id
from helo.data.mahnob.protocol import BDF_NAME, EMOTIONS, FRONTAL_VIDEO, RATINGS, SCALE

#: a session.xml is a few hundred bytes; anything near this is not one
MAX_XML_BYTES = 1 << 20


@dataclass
class Session:
    """What ``<sessions>/<session_id>/session.xml`` says (attribute values as written)."""

    session_id: str
    folder: Path
    xml: Path
    attrs: dict[str, str]
    subject: str | None
    tracks: list[tuple[str, str]] = field(default_factory=list)  # (type, filename)

    @property
    def is_stimulus(self) -> bool:
        """An emotion-elicitation stimulus session: one with felt ratings (the neutral clips
        shown before each stimulus, ``isStim="0"``, and the implicit-tagging sessions have
        none)."""
        return any(a in self.attrs for a in RATINGS)

    def kind(self, bdf_name: str | None) -> str:
        """``stimulus``, ``neutral`` (the neutral clip before a stimulus), ``tagging`` (the
        implicit-tagging experiment) or ``other``."""
        if self.is_stimulus:
            return "stimulus"
        m = BDF_NAME.match(bdf_name or "")
        if self.attrs.get("isStim") == "0" or (m and (m["ns"] or "").upper() == "N"):
            return "neutral"
        names = " ".join([bdf_name or ""] + [f for _, f in self.tracks])
        return "tagging" if "tagging" in names.lower() else "other"


def _subject_of_bdf_name(name: str) -> str | None:
    m = BDF_NAME.match(name)
    return m["subject"] if m else None


def subject_hint(folder: Path) -> str | None:
    """The subject a session folder's BDF file name names (``Part_<subject>_...``), for
    problems found before ``session.xml`` could say it."""
    try:
        for p in sorted(folder.glob("*.bdf")):
            sid = _subject_of_bdf_name(p.name)
            if sid is not None:
                return str(int(sid))
    except OSError:
        return None
    return None


def parse_session(folder: Path, root: Path) -> Session:
    """Parse ``folder/session.xml``; :class:`DataError` naming the file when it is missing, too
    big, not well-formed XML, not a ``<session>`` or names an unsafe subject id."""
    xml = folder / "session.xml"
    hint = subject_hint(folder)
    inside_root(xml, root, subject=hint)
    try:
        size = xml.stat().st_size
        if size > MAX_XML_BYTES:
            raise DataError(f"session.xml has {size} bytes (at most {MAX_XML_BYTES}): not a "
                            f"MAHNOB session description", path=xml, subject=hint)
        text = xml.read_bytes()
    except FileNotFoundError:
        raise DataError("no session.xml in the session folder", path=xml, subject=hint) from None
    except OSError as err:
        raise DataError(f"cannot read session.xml ({err})", path=xml, subject=hint) from None
    try:
        elem = ET.fromstring(text)
    except ET.ParseError as err:
        line, col = getattr(err, "position", (0, 0))
        raise DataError(f"session.xml is not well-formed XML (line {line}, column {col})",
                        path=xml, subject=hint) from None
    if elem.tag != "session":
        raise DataError(f"session.xml's root element is <{elem.tag}>, not <session>", path=xml,
                        subject=hint)
    subject = None
    sub = elem.find("subject")
    if sub is not None and sub.get("id") is not None:
        raw = sub.get("id").strip()
        subject = str(int(raw)) if raw.isdigit() else safe_id(raw, path=xml)
    tracks = []
    for tr in elem.iter("track"):
        tracks.append((tr.get("type", ""), tr.get("filename", "")))
        for ann in tr.iter("annotation"):
            tracks.append((f"{tr.get('type', '')}/{ann.get('type', '')}",
                           ann.get("filename", "")))
    return Session(session_id=folder.name, folder=folder, xml=xml, attrs=dict(elem.attrib),
                   subject=subject, tracks=tracks)


def _plain_name(name: str, ses: Session, col: ProblemCollector) -> str | None:
    if not name or "/" in name or "\\" in name or name in (".", ".."):
        col.error(f"track file name {name!r} is not a file name inside the session folder",
                  ses.xml)
        return None
    return name


def find_bdf(ses: Session, col: ProblemCollector) -> tuple[Path | None, str | None]:
    """``(path, name)`` of the session's BDF: the ``Physiological`` track's file when
    ``session.xml`` names one, else the folder's only ``*.bdf``. ``(None, name)`` when the file
    is absent (``name`` the one expected, or None); two BDFs without a track are an error."""
    named = [f for t, f in ses.tracks if t.lower() == "physiological"]
    if named:
        name = _plain_name(named[0], ses, col)
        if name is None:
            return None, None
        path = ses.folder / name
        return (path if path.is_file() else None), name
    found = sorted(ses.folder.glob("*.bdf"))
    if len(found) > 1:
        col.error(f"{len(found)} BDF files and no Physiological track in session.xml to say "
                  f"which is the session's: {', '.join(p.name for p in found)}", ses.folder)
        return None, None
    return (found[0], found[0].name) if found else (None, None)


def find_video(ses: Session, col: ProblemCollector) -> Path | None | bool:
    """The frontal colour camera's video (``...C1 trigger...avi``): the ``Video`` track of that
    name, else the folder's only file of that name. None when there is none; False (an error is
    recorded) when two files match."""
    named = [f for t, f in ses.tracks if t.lower() == "video" and FRONTAL_VIDEO.search(f)]
    for name in named:
        if _plain_name(name, ses, col) and (ses.folder / name).is_file():
            return ses.folder / name
    found = sorted(p for p in ses.folder.glob("*.avi") if FRONTAL_VIDEO.search(p.name))
    if len(found) > 1:
        col.error(f"{len(found)} frontal-camera videos (C1 trigger): "
                  f"{', '.join(p.name for p in found)}; which is the session's is ambiguous",
                  ses.folder)
        return False
    return found[0] if found else None


def trial_number(ses: Session, bdf_name: str | None) -> int | None:
    """``k`` of ``Part_<s>_S_Trial<k>_emotion.bdf``: the stimulus' position in the session."""
    m = BDF_NAME.match(bdf_name or "")
    return int(m["trial"]) if m else None


def _number(ses: Session, attr: str, col: ProblemCollector) -> float:
    text = ses.attrs.get(attr)
    if text is None:
        return float("nan")
    try:
        value = float(text.strip())
    except ValueError:
        col.error(f"{attr}={text!r:.40} is not a number", ses.xml)
        return float("nan")
    if not np.isfinite(value):
        col.error(f"{attr}={text!r:.40} is not a finite number", ses.xml)
        return float("nan")
    return value


def self_reports(ses: Session, col: ProblemCollector) -> tuple[np.ndarray, int | None]:
    """``(values in ITEMS order, feltEmo code)``: the four ratings (NaN where absent, with a
    warning) and the one-hot of the felt emotion. A rating outside 1..9 or a ``feltEmo`` that
    is not one of the nine codes is an error naming the attribute and the value."""
    lo, hi = SCALE
    values = []
    for attr, name in RATINGS.items():
        v = _number(ses, attr, col)
        if attr not in ses.attrs:
            col.warn(f"no {attr} ({name}) rating: NaN", ses.xml)
        elif np.isfinite(v) and not lo <= v <= hi:
            col.error(f"{attr} ({name}) is {v:g}, outside the rating scale {lo}..{hi}", ses.xml)
            v = float("nan")
        values.append(v)
    code = None
    onehot = [float("nan")] * len(EMOTIONS)
    if "feltEmo" not in ses.attrs:
        col.warn("no feltEmo (felt emotion keyword): its one-hot is NaN", ses.xml)
    else:
        e = _number(ses, "feltEmo", col)
        if np.isfinite(e) and (e != int(e) or int(e) not in EMOTIONS):
            col.error(f"feltEmo is {e:g}, not one of the emotion codes "
                      f"{', '.join(f'{k} {v}' for k, v in EMOTIONS.items())}", ses.xml)
        elif np.isfinite(e):
            code = int(e)
            onehot = [1.0 if k == code else 0.0 for k in EMOTIONS]
    return np.array(values + onehot, dtype=np.float64), code


def media_stem(ses: Session, col: ProblemCollector) -> str | None:
    """The stimulus' id: ``mediaFile`` without its extension (``"69.avi"`` -> ``"69"``), a safe
    id; an error when the attribute is absent or unsafe."""
    media = ses.attrs.get("mediaFile")
    if not media:
        col.error("no mediaFile attribute: which stimulus the session showed is unknown",
                  ses.xml)
        return None
    stem = re.sub(r"\.[A-Za-z0-9]+$", "", media.strip())
    try:
        return safe_id(stem, what="trial id (mediaFile)", path=ses.xml)
    except DataError as err:
        col.add(err)
        return None


__all__ = ["Session", "parse_session", "subject_hint", "find_bdf", "find_video", "trial_number",
           "self_reports", "media_stem", "MAX_XML_BYTES"]
