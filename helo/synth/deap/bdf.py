"""Seeded synthetic DEAP in the original-recordings layout (``deap-bdf``)::

    out/data_original/sNN.bdf                     BioSemi 24-bit BDF, 512 Hz, DEAP's 48 channels
    out/Metadata/participant_ratings.csv          the ratings table (as for the ``deap`` layout)
    out/face_video/sNN/sNN_trialKK.avi            participants 1-22: the face during video KK
                                                  (presentation order), MJPG
    out/_ground_truth.json                        what was generated (readers ignore it)

The same participants as :mod:`helo.synth.deap.preprocessed` with the same seed (ratings,
presentation order, familiarity). A session, as DEAP's markers describe it (``Status`` low
byte, a 10-sample pulse each): code 1 (start of the experiment), code 1 (the baseline
recording), code 2 (synchronisation screen), then per trial code 3 (fixation), 4 (the video),
5 (fixation after it), 1 (rating screen), and code 2 and 7 at the end. The upper Status bits
carry device state (``0x19`` then ``0x59`` in the third byte, switching half-way, as real files
show), which the reader masks out.

Channels: 32 EEG in the site's order and names (Twente order for participants 1-22, Geneva for
23-32), ``EXG1``-``EXG8`` as electrode pairs around an offset (``EXG5 - EXG6`` is the
zygomaticus EMG), ``GSR1`` (skin resistance, ohm), ``GSR2``/``Erg1``/``Erg2`` unused (zero),
``Resp``, ``Plet``, ``Temp``, ``Status``; the signal model of :mod:`helo.synth.deap.signals`
without DEAP's preprocessing (unfiltered EEG with electrode offsets). Values are quantised to the
24-bit range of each channel; ``return_signals=True`` returns per trial the values a reader must
get back (decoded from the written integers): ``eeg`` (Geneva order), ``emg``, ``gsr``, ``ppg``.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from helo import io as hio
from helo.data.deap.common import CHANNELS, EEG_GENEVA, EEG_TWENTE, RATINGS
from helo.synth.deap.preprocessed import participant, ratings_table
from helo.synth.deap.signals import affect, span_channels
from helo.synth.presets import preset_config

__all__ = ["generate_deap_bdf", "PRESETS", "FS", "write_bdf", "Channel"]

FS = 512
PRESETS: dict[str, dict] = {
    # three participants (two with face video), two 6-s videos each
    "tiny": dict(subjects=[1, 2, 23], videos=2, stimulus_s=6.0, fixation_s=2.0, post_s=1.0,
                 rating_s=2.0, baseline_s=3.0, video_size=(160, 120), fps=10),
    # six participants, six 20-s videos
    "default": dict(subjects=[1, 2, 3, 23, 24, 25], videos=6, stimulus_s=20.0, fixation_s=5.0,
                    post_s=3.0, rating_s=6.0, baseline_s=20.0, video_size=(320, 240), fps=25),
    # the real study's size: 32 participants, 40 one-minute videos, the 2-minute baseline
    "deap-scale": dict(subjects=list(range(1, 33)), videos=40, stimulus_s=60.0, fixation_s=5.0,
                       post_s=3.0, rating_s=15.0, baseline_s=120.0, video_size=(720, 576),
                       fps=50),
}
_COMMON = dict(no_familiarity=[2, 15, 23], last_with_video=22, missing_video=[[2, 2]],
               pulse=10, sync_s=1.0)
_EXG = [("EXG1", "hEOG", 1), ("EXG2", "hEOG", -1), ("EXG3", "vEOG", 1), ("EXG4", "vEOG", -1),
        ("EXG5", "zEMG", 1), ("EXG6", "zEMG", -1), ("EXG7", "tEMG", 1), ("EXG8", "tEMG", -1)]
_ROW = {name: k for k, name in enumerate(CHANNELS)}
_DIG = (-8388608, 8388607)


class Channel:
    """One BDF channel: label, physical dimension and range (digital range is the full
    24 bits)."""

    def __init__(self, label: str, dim: str, pmin: float, pmax: float):
        self.label, self.dim, self.pmin, self.pmax = label, dim, float(pmin), float(pmax)

    @property
    def cal(self) -> float:
        return (self.pmax - self.pmin) / (_DIG[1] - _DIG[0])

    def digital(self, x: np.ndarray) -> np.ndarray:
        d = np.rint((np.asarray(x, dtype=np.float64) - self.pmin) / self.cal + _DIG[0])
        return np.clip(d, *_DIG).astype(np.int64)

    def physical(self, d: np.ndarray) -> np.ndarray:
        return (np.asarray(d, dtype=np.float64) - _DIG[0]) * self.cal + self.pmin


def _field(value, width: int) -> bytes:
    if isinstance(value, str):
        text = value
    else:
        text = str(int(value)) if float(value).is_integer() else f"{value:g}"
    b = text.encode("ascii")
    if len(b) > width:
        raise ValueError(f"BDF header field {text!r} is longer than {width} characters")
    return b.ljust(width)


def write_bdf(path, channels: list[Channel], digital: np.ndarray, fs: int, *,
              patient: str = "X", recording: str = "helo synthetic DEAP") -> None:
    """Write ``digital`` ``(n_channels, n)`` 24-bit integers as a BDF of 1-s records (``n`` a
    multiple of ``fs``), header dated 01.01.09 10.00.00."""
    n_ch, n = digital.shape
    if n % fs:
        raise ValueError(f"{n} samples is not a whole number of {fs}-sample records")
    head = b"\xffBIOSEMI" + _field(patient, 80) + _field(recording, 80) + b"01.01.0910.00.00"
    head += _field(str(256 * (n_ch + 1)), 8) + _field("24BIT", 44) + _field(str(n // fs), 8)
    head += _field("1", 8) + _field(str(n_ch), 4)
    for width, get in ((16, lambda c: c.label), (80, lambda c: "Active Electrode"),
                       (8, lambda c: c.dim), (8, lambda c: c.pmin), (8, lambda c: c.pmax),
                       (8, lambda c: str(_DIG[0])), (8, lambda c: str(_DIG[1])),
                       (80, lambda c: "HP:DC; LP:104 Hz"), (8, lambda c: str(fs)),
                       (32, lambda c: "")):
        head += b"".join(_field(get(c), width) for c in channels)
    recs = digital.astype("<i4").reshape(n_ch, n // fs, fs).transpose(1, 0, 2)
    body = np.ascontiguousarray(recs)[..., None].view(np.uint8)[..., :3]
    with hio.atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(head)
            fh.write(np.ascontiguousarray(body).tobytes())


def _channels(n: int) -> list[Channel]:
    eeg = EEG_TWENTE if n <= 22 else EEG_GENEVA
    out = [Channel(name, "uV", -262144, 262143) for name in eeg]
    out += [Channel(label, "uV", -262144, 262143) for label, _, _ in _EXG]
    out += [Channel("GSR1", "Ohm", 0, 4e6), Channel("GSR2", "Ohm", 0, 4e6),
            Channel("Erg1", "uV", -262144, 262143), Channel("Erg2", "uV", -262144, 262143),
            Channel("Resp", "uV", -262144, 262143), Channel("Plet", "uV", -262144, 262143),
            Channel("Temp", "degC", -100, 100), Channel("Status", "Boolean", *_DIG)]
    return out


def _timeline(cfg: dict, order: list[int]) -> tuple[list, list]:
    """``(segments, markers)``: segments ``(n_samples, video or None)`` and markers
    ``(sample, code)`` of a session."""
    segs, marks, at = [], [], 0

    def seg(seconds, code=None, video=None):
        nonlocal at
        if code is not None:
            marks.append((at, code))
        n = int(round(seconds * FS))
        if n:
            segs.append((n, video))
            at += n

    seg(1.0)
    seg(1.0, 1)  # start of the experiment
    seg(cfg["baseline_s"], 1)  # the baseline recording
    seg(cfg["sync_s"], 2)
    for k in order:
        seg(cfg["fixation_s"], 3)
        seg(cfg["stimulus_s"], 4, video=k)
        seg(cfg["post_s"], 5)
        seg(cfg["rating_s"], 1)
    seg(cfg["sync_s"], 2)
    seg(1.0, 7)
    seg((-at) % FS / FS)  # pad to whole 1-s records
    return segs, marks


def _face_params(rng) -> dict:
    return dict(skin=tuple(float(x) for x in (rng.uniform(120, 175), rng.uniform(150, 195),
                                              rng.uniform(190, 235))),
                hair=tuple(float(x) for x in rng.uniform(15, 60, 3)),
                bg=tuple(float(x) for x in rng.uniform(50, 110, 3)),
                scale=rng.uniform(0.92, 1.05), gain=rng.uniform(0.6, 1.2),
                mouth0=rng.normal(0, 0.15), brow0=rng.normal(0, 0.2))


def _face_video(path: Path, rng, par: dict, v: float, a: float, seconds: float, size, fps) -> int:
    import cv2

    from helo.synth.dmer.face_video import draw_face
    w, h = size
    n = int(round(seconds * fps))
    pos, neg, aro = max(v, 0.0), max(-v, 0.0), (a + 1) / 2
    base = np.zeros((h + 16, w + 16, 3), np.uint8)
    draw_face(base, pos, neg, aro, par, canvas=(w, h))
    noise = rng.integers(0, 9, size=(4, h, w, 3), dtype=np.uint8)
    shift = np.clip(np.cumsum(rng.integers(-1, 2, size=(n, 2)), axis=0), -7, 7)
    with hio.atomic_path(path, suffix=".avi") as tmp:
        vw = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"MJPG"), float(fps), (w, h))
        if not vw.isOpened():
            raise RuntimeError(f"OpenCV cannot write MJPG video {path}")
        for i in range(n):
            x0, y0 = 8 + int(shift[i, 0]), 8 + int(shift[i, 1])
            vw.write(cv2.add(base[y0:y0 + h, x0:x0 + w], noise[i % 4]))
        vw.release()
    return n


def generate_deap_bdf(out, *, seed: int = 0, preset: str = "default", progress: bool = True,
                      return_signals: bool = False, **overrides) -> dict:
    """Write a synthetic ``deap-bdf`` tree under ``out``; return (and write) the ground truth.

    ``overrides`` replace preset keys (``subjects``, ``videos``, ``stimulus_s``, ``fixation_s``,
    ``post_s``, ``rating_s``, ``baseline_s``, ``video_size``, ``fps``, ``last_with_video``,
    ``missing_video`` ([participant, trial] pairs without a face video file), ...)."""
    cfg = preset_config(PRESETS, _COMMON, preset, overrides)
    out = Path(out)
    t0 = time.perf_counter()
    truth = {"generator": "helo synth --layout deap-bdf", "seed": seed, "preset": preset,
             "config": cfg, "fs": FS, "ratings_items": list(RATINGS), "subjects": {}}
    signals: dict = {}
    rows = []
    missing = {tuple(m) for m in cfg["missing_video"]}
    for n in cfg["subjects"]:
        ts = time.perf_counter()
        n = int(n)
        sid = f"s{n:02d}"
        p = participant(seed, n, cfg)
        rng, par = p["rng"], p["par"]
        segs, marks = _timeline(cfg, p["order"])
        parts = []
        for m, video in segs:
            v, a = affect(*p["ratings"][video][:2]) if video is not None else (0.0, 0.0)
            parts.append(span_channels(rng, par, m, FS, v, a, band=None))
        x = np.concatenate(parts)  # (N, 40) in CHANNELS order
        N = x.shape[0]
        chans = _channels(n)
        eeg_cols = [EEG_GENEVA.index(c) for c in (EEG_TWENTE if n <= 22 else EEG_GENEVA)]
        phys = [x[:, j] for j in eeg_cols]
        offsets = rng.normal(0, 2000, size=4)
        phys += [offsets[k // 2] + sign * x[:, _ROW[src]] / 2
                 for k, (_, src, sign) in enumerate(_EXG)]
        zero = np.zeros(N)
        phys += [x[:, _ROW["GSR"]], zero, zero, zero, x[:, _ROW["Respiration"]],
                 x[:, _ROW["Plethysmograph"]], x[:, _ROW["Temperature"]]]
        status = np.where(np.arange(N) < N // 2, 0x190000, 0x590000)
        for at, code in marks:
            status[at:at + cfg["pulse"]] |= code
        digital = np.stack([c.digital(y) for c, y in zip(chans[:-1], phys)]
                           + [status.astype(np.int64)])
        write_bdf(out / "data_original" / f"{sid}.bdf", chans, digital, FS)
        first = marks[0][0]
        starts = [at for at, code in marks if code == 4]
        ends = [at for at, code in marks if code == 5]
        trials = []
        for pos, k in enumerate(p["order"]):
            rows.append([n, pos + 1, k, int(round((starts[pos] - first) / FS * 1e6)),
                         *p["ratings"][k], p["familiarity"][k]])
            trial = {"trial": pos + 1, "video": k, "span": [starts[pos], ends[pos]]}
            if n <= cfg["last_with_video"] and (n, pos + 1) not in missing:
                v, a = affect(*p["ratings"][k][:2])
                frames = _face_video(out / "face_video" / sid / f"{sid}_trial{pos + 1:02d}.avi",
                                     rng, _face_params(rng), v, a, cfg["stimulus_s"],
                                     cfg["video_size"], cfg["fps"])
                trial["video_frames"] = frames
            trials.append(trial)
        truth["subjects"][sid] = {
            "participant": n, "site": "Twente" if n <= 22 else "Geneva",
            "ratings": {str(k): r for k, r in p["ratings"].items()},
            "presentation": p["order"], "trials": trials, "n_samples": N,
            "familiarity": {str(k): f for k, f in p["familiarity"].items()}}
        if return_signals:
            dec = {c.label: c.physical(d) for c, d in zip(chans, digital)}
            signals[sid] = {
                str(k): {"eeg": np.stack([dec[c][a:b] for c in EEG_GENEVA], axis=1),
                         "emg": (dec["EXG5"][a:b] - dec["EXG6"][a:b])[:, None],
                         "gsr": dec["GSR1"][a:b, None], "ppg": dec["Plet"][a:b, None]}
                for k, (a, b) in ((t["video"], t["span"]) for t in trials)}
        if progress:
            print(f"[synth-deap-bdf] {sid}: {N / FS:.0f} s, {time.perf_counter() - ts:.2f} s",
                  file=sys.stderr, flush=True)
    hio.write_text(out / "Metadata" / "participant_ratings.csv", ratings_table(rows))
    hio.write_json(out / "_ground_truth.json", truth, significant=10)
    truth["elapsed_s"] = round(time.perf_counter() - t0, 3)
    if return_signals:
        truth["signals"] = signals
    return truth
