"""File writers of the synthetic MAHNOB-HCI: the BDF (BioSemi 24-bit, one-second data records,
the release's 47 channels), ``session.xml``, the frontal camera's MJPEG AVI with the drawn face,
and a stand-in eye-gaze ``.tsv``."""
from __future__ import annotations

import datetime
import math
from pathlib import Path
from xml.sax.saxutils import quoteattr

import numpy as np

from helo.data.mahnob.protocol import EEG_CHANNELS, OTHER_CHANNELS, STATUS
from helo.io import atomic_path, write_text
from helo.synth.dmer.face_video import _face_params, draw_face
from helo.synth.mahnob.signals import rng

#: BioSemi's ranges: 24-bit samples, 1/32 microvolt per step for voltages
DIGITAL = (-8388608, 8388607)
UV_RANGE = (-262144.0, 262143.96875)
#: physical dimension and range of the non-voltage channels (one step = 1 Ohm, 1 mK)
OTHER_UNITS = {"GSR1": ("Ohm", (-8388608.0, 8388607.0)),
               "GSR2": ("Ohm", (-8388608.0, 8388607.0)),
               "Temp": ("DegC", (-8388.608, 8388.607)),
               STATUS: ("Boolean", (-8388608.0, 8388607.0))}
#: the Status code of a marker and its length in samples
MARKER_CODE, MARKER_SAMPLES = 1, 8


def status_channel(n: int, markers: list[int]) -> np.ndarray:
    x = np.zeros(n)
    for m in markers:
        x[m:m + MARKER_SAMPLES] = MARKER_CODE
    return x


def write_bdf(path: Path, channels: dict[str, np.ndarray], fs: int,
              start: datetime.datetime) -> None:
    """A BioSemi BDF of ``channels`` (name -> (n,) values: microvolts unless
    :data:`OTHER_UNITS` says otherwise) in the release's channel order; ``n`` a multiple of
    ``fs`` (one-second records)."""
    import edfio
    signals = []
    for name in EEG_CHANNELS + OTHER_CHANNELS:
        unit, prange = OTHER_UNITS.get(name, ("uV", UV_RANGE))
        x = np.clip(np.asarray(channels[name], dtype=np.float64), *prange)
        signals.append(edfio.BdfSignal(x, fs, label=name, physical_dimension=unit,
                                       physical_range=prange, digital_range=DIGITAL,
                                       transducer_type="Active Electrode"
                                       if unit == "uV" else ""))
    bdf = edfio.Bdf(signals, patient=edfio.Patient(),
                    recording=edfio.Recording(startdate=start.date()),
                    starttime=start.time(), data_record_duration=1)
    with atomic_path(path, suffix=".bdf") as tmp:
        bdf.write(tmp)


def session_xml(attrs: dict[str, str], subject: int, tracks: list[tuple[str, str, str | None]]
                ) -> str:
    """The text of a ``session.xml``: ``<session attrs>``, ``<subject id>``, and a ``<track>``
    per ``(type, filename, gaze annotation filename or None)``."""
    head = " ".join(f"{k}={quoteattr(str(v))}" for k, v in attrs.items())
    lines = ['<?xml version="1.0" encoding="utf-8"?>', f"<session {head}>",
             f'  <subject id="{subject}" />']
    for k, (kind, name, gaze) in enumerate(tracks):
        extra = ' color="True"' if kind == "Video" else ""
        if gaze is None:
            lines.append(f'  <track type="{kind}" id="{k}"{extra} filename={quoteattr(name)} />')
        else:
            lines += [f'  <track type="{kind}" id="{k}"{extra} filename={quoteattr(name)}>',
                      f'    <annotation type="Gaze" id="0" filename={quoteattr(gaze)} />',
                      "  </track>"]
    return "\n".join(lines + ["</session>", ""])


def gaze_tsv(path: Path, seconds: int, seed: int, subject: int, stream: int) -> None:
    """A stand-in for the eye tracker's export (60 Hz, tab-separated; the reader ignores it)."""
    r = rng(seed, subject, stream)
    n = seconds * 60
    x, y = r.normal(640, 80, n).round().astype(int), r.normal(512, 60, n).round().astype(int)
    rows = [f"{int(round(i * 1000 / 60))}\t{x[i]}\t{y[i]}" for i in range(n)]
    write_text(path, "Timestamp\tGazePointX\tGazePointY\n" + "\n".join(rows) + "\n")


def write_video(path: Path, *, n_frames: int, fps: int, size: tuple[int, int], seed: int,
                subject: int, stream: int, span_s: tuple[float, float],
                st: tuple[float, float, float]) -> int:
    """The frontal camera: the drawn face (:func:`helo.synth.dmer.draw_face`) in the neutral
    state, easing into ``st`` (``(pos, neg, aro)``) over the stimulus ``span_s`` and back,
    with head motion and sensor noise; MJPEG in AVI (OpenCV's own writer). Returns the frames
    written."""
    import cv2
    w, h = size
    par = _face_params(seed, subject)
    r = rng(seed, subject, stream)
    t = np.arange(n_frames) / fps
    inside = ((t >= span_s[0]) & (t < span_s[1])).astype(np.float64)
    ease = np.empty(n_frames)
    acc, k = 0.0, 1.0 - math.exp(-1.0 / (0.4 * fps))
    for i in range(n_frames):
        acc += k * (inside[i] - acc)
        ease[i] = acc
    amp = 0.02 * w
    ph = r.uniform(0, 6.28, 2)
    dx = amp * np.sin(2 * np.pi * 0.11 * t + ph[0])
    dy = amp * np.sin(2 * np.pi * 0.07 * t + ph[1])
    pad = int(math.ceil(amp)) + 1
    noise = r.integers(0, 6, size=(4, h, w, 3), dtype=np.uint8)
    pick = r.integers(0, 4, size=n_frames)
    cache: dict[int, np.ndarray] = {}
    with atomic_path(path, suffix=".avi") as tmp:
        vw = cv2.VideoWriter(str(tmp), cv2.CAP_OPENCV_MJPEG, cv2.VideoWriter_fourcc(*"MJPG"),
                             float(fps), (w, h))
        if not vw.isOpened():
            raise RuntimeError(f"OpenCV cannot write an MJPEG AVI at {path}")
        for i in range(n_frames):
            key = int(round(ease[i] * 20))
            base = cache.get(key)
            if base is None:
                base = np.zeros((h + 2 * pad, w + 2 * pad, 3), np.uint8)
                draw_face(base, *(np.asarray(st) * key / 20.0), par, canvas=(w, h))
                cache[key] = base
            x0, y0 = pad - int(round(dx[i])), pad - int(round(dy[i]))
            vw.write(cv2.add(base[y0:y0 + h, x0:x0 + w], noise[pick[i]]))
        vw.release()
    return n_frames


__all__ = ["write_bdf", "session_xml", "gaze_tsv", "write_video", "status_channel",
           "MARKER_CODE", "MARKER_SAMPLES", "OTHER_UNITS", "UV_RANGE", "DIGITAL"]
