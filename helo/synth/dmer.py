"""Seeded synthetic DMER: writes the raw, aligned or features release layout plus its ground truth.

``generate_dmer(out, layout="raw", seed=0, preset="default", **overrides)`` writes a complete
dataset under ``out`` in the layout the readers in :mod:`helo.data.dmer` read, and
returns the ground truth (also written as ``out/_ground_truth.json``; readers ignore it).

How the emotion gets into the data
----------------------------------
Each trial's 10 PANAS scores (integers 1-5, DMER item order) come from the clip category
(positive clips 0-7 raise Inspired..Determined, negative clips 8-15 raise Afraid..Distressed,
mixed clips 16-31 raise both), a clip intensity shared by all subjects, a per-subject reporting
bias per item, and noise. From the *written* scores three latent values are derived:
``pos`` = mean positive score on 0..1, ``neg`` likewise, ``arousal`` (a mix of both), and these
drive every signal:

* EEG (300 Hz, 18 channels, microvolts): per-channel 1/f background plus delta/theta/alpha/beta/
  gamma bumps whose power scales with affect (alpha falls with arousal, beta rises with arousal
  and negative affect, gamma rises with positive affect, theta with negative affect) and a
  frontal alpha asymmetry (left frontal alpha lower, right higher, with ``pos - neg``);
* GSR (4 Hz, microsiemens): tonic level rising with negative affect/arousal (first-order lag),
  phasic SCRs whose rate and amplitude grow with arousal;
* PPG (100 Hz, raw units): pulse train whose heart rate rises with arousal and negative affect
  and whose beat-to-beat variability falls with negative affect;
* face video: a drawn face (skin ellipse, hair, eyes, brows, nose, mouth) whose mouth curvature
  follows ``pos - neg``, brows lower and tilt with ``neg``, eyes open with arousal; small head
  motion and pixel noise on every frame. It is detected by OpenCV's frontal-face Haar cascade.

Every effect size, baseline and noise level is drawn per subject (subject offsets, response
gains, skin tone, face size...), so leave-one-subject-out is harder than within-subject.
A subject's data depend only on ``(seed, subject id)``, not on which other subjects are generated.

Timeline of a raw session (session clock in integer ms, the video starts at 0): practice trial
(codes 50/60), a rest (40/50), then per trial an instruction gap, the clip (code k+10 at its start,
k+100 at its end, whole seconds long), then the self-report/rest gap. The EEG recording starts a
little before the video, the wristband (GSR/PPG) a little after; each stream carries every code
at the first of its own samples at or after the event time, so a clip of T seconds spans exactly
``T * fs`` samples (``T * fps`` frames) in every stream.

Layout choices where the real release description is silent
------------------------------------------------------------
* raw: ``camera.csv`` has one row per marker event (``frame,code,epoch_ms``), not one per frame;
  GSR/PPG rows are ``timestamp,value`` or ``,value`` (first sample of each packet carries the epoch
  ms timestamp), with a third column holding the code on marker samples; GSR is printed with 4
  decimals, PPG with 3. ``Arousal_Valence.csv`` columns are ``clip,arousal,valence,dominance``.
  The EDF holds the 18 channels (+ optional extra channels such as A1/A2) and either a ``Trigger``
  stim channel (the code held for 3 samples, 0 elsewhere) or EDF+ annotations whose description
  is the code (``trigger="annotations"``). Only ``1_raw.edf`` is written (no ``.csv``/``.dsi``).
* aligned: ``<n>/datas.mat``, ``<n>/<k>.mp4`` and the three self-report CSVs in the same ``<n>/``
  folder; the rest segment (id 40) comes first in ``datas.mat``; the time row counts seconds from
  0 within each segment.
* features: ``<root>/<n>.mat`` (``feas`` N x 913, ``vids`` N x 1) and the self-report CSVs in
  ``<root>/<n>/``; ``T - 4`` rows per trial of ``T`` seconds; values carry the emotion but are not
  the output of the real feature code.
* subject-features (the files the dataset authors' code reads): ``<n>/eegfea.mat`` (``feas``
  N x 5 x 18, bands x channels), ``<n>/perifea.mat`` (``feas_gsr`` N x 28, ``feas_ppg`` N x 27),
  ``<n>/videoFea.mat`` (``lbps_all`` N x ``video_dim``, ``vids`` 1 x N) and ``<n>/datas.mat``
  with ``dis_label`` (32 x 10); the same values as the features layout (``video_dim`` 768).
* variants (``generate_dmer`` arguments): aligned matrices without the time row (clip id last)
  and labels as ``dis_label`` in ``datas.mat`` instead of, or besides, the PANAS CSVs.
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from helo.io import atomic_path, write_json, write_text
from helo.data.labels import DMER_PANAS

EEG_CHANNELS = ["P3", "C3", "F3", "Fz", "F4", "C4", "P4", "Cz", "Fp1", "Fp2", "T3", "T5", "O1",
                "O2", "F7", "F8", "T6", "T4"]
BANDS = ["delta", "theta", "alpha", "beta", "gamma"]
MISSING_IDS = (3, 4, 13, 16, 17, 27, 31)
RELEASED_IDS = [i for i in range(1, 81) if i not in MISSING_IDS]
LAYOUTS = ("raw", "aligned", "features", "subject-features")

# blocks of the real protocol: positive, negative, mixed A, mixed B (8 clips each)
_BLOCKS = [list(range(0, 8)), list(range(8, 16)), list(range(16, 24)), list(range(24, 32))]

PRESETS: dict[str, dict[str, Any]] = {
    "default": dict(subject_ids=[1, 2, 5, 6, 7, 8, 9, 10], n_trials=10, trial_seconds=(14, 16),
                    video_size=(160, 120), fps=30, practice_seconds=4, rest_seconds=6,
                    pre_seconds=2, post_seconds=2),
    "dmer-scale": dict(subject_ids=RELEASED_IDS, n_trials=32, trial_seconds=(20, 30),
                       video_size=(640, 480), fps=30, practice_seconds=20, rest_seconds=180,
                       pre_seconds=3, post_seconds=15),
    "tiny": dict(subject_ids=[1, 2, 5], n_trials=3, trial_seconds=(7, 7), video_size=(64, 48),
                 fps=30, practice_seconds=2, rest_seconds=3, pre_seconds=1, post_seconds=1),
}


@dataclass
class DmerSynthConfig:
    """Sizes and options of one synthetic DMER dataset (a preset plus overrides)."""

    subject_ids: list[int] = field(default_factory=lambda: list(PRESETS["default"]["subject_ids"]))
    n_trials: int = 10
    trial_seconds: tuple[int, int] = (14, 16)  # inclusive range of whole seconds
    video_size: tuple[int, int] = (160, 120)  # (width, height)
    fps: int = 30
    fs_eeg: int = 300
    fs_gsr: int = 4
    fs_ppg: int = 100
    practice_seconds: int = 4
    rest_seconds: int = 6
    pre_seconds: int = 2  # instruction before each clip
    post_seconds: int = 2  # self-report + rest after each clip (plus < 1 s jitter)
    trigger: str = "channel"  # EEG trigger as a "channel" or as EDF+ "annotations"
    eeg_extra_channels: tuple[str, ...] = ()  # e.g. ("A1", "A2"): written, reader drops them
    gsr_packet: int = 4  # samples per wristband packet (timestamp on the first)
    ppg_packet: int = 25
    video: bool = True  # write face videos
    epoch0_ms: int = 1_650_000_000_000

    def validate(self) -> None:
        lo, hi = self.trial_seconds
        if not (1 <= self.n_trials <= 32):
            raise ValueError("n_trials must be 1..32")
        if lo > hi or lo < 5:
            raise ValueError("trial_seconds must be whole seconds >= 5 (lo <= hi)")
        if self.trigger not in ("channel", "annotations"):
            raise ValueError("trigger must be 'channel' or 'annotations'")
        if len(set(self.subject_ids)) != len(self.subject_ids) or not self.subject_ids:
            raise ValueError("subject_ids must be distinct and non-empty")
        if min(self.pre_seconds, self.post_seconds, self.practice_seconds, self.rest_seconds) < 1:
            raise ValueError("gaps, practice and rest must last at least 1 s")


def make_config(preset: str = "default", **overrides) -> DmerSynthConfig:
    """A :class:`DmerSynthConfig` from a preset name and overrides (``n_subjects`` picks the first
    n ids of the preset's list, extended with further released ids when larger)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    values = dict(PRESETS[preset])
    n_subjects = overrides.pop("n_subjects", None)
    values.update(overrides)
    ids = [int(i) for i in values["subject_ids"]]
    if n_subjects is not None:
        extra = [i for i in RELEASED_IDS if i not in ids]
        extra += list(range(81, 81 + max(0, n_subjects - len(ids) - len(extra))))
        ids = (ids + extra)[:int(n_subjects)]
    values["subject_ids"] = ids
    ts = values.get("trial_seconds")
    if isinstance(ts, (int, np.integer)):
        values["trial_seconds"] = (int(ts), int(ts))
    else:
        values["trial_seconds"] = (int(ts[0]), int(ts[1]))
    values["video_size"] = tuple(int(v) for v in values["video_size"])
    values["eeg_extra_channels"] = tuple(values.get("eeg_extra_channels", ()))
    unknown = set(values) - set(DmerSynthConfig.__dataclass_fields__)
    if unknown:
        raise ValueError(f"unknown DMER synth options {sorted(unknown)}")
    cfg = DmerSynthConfig(**values)
    cfg.validate()
    return cfg


def clip_category(clip: int) -> str:
    return "positive" if clip < 8 else "negative" if clip < 16 else "mixed"


# ----------------------------------------------------------------------------- ground truth


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, *[int(k) for k in key]])


def _clip_intensities(seed: int) -> np.ndarray:
    """(32, 2) positive/negative intensity of every clip, shared by all subjects."""
    r = _rng(seed, 999_001)
    out = np.zeros((32, 2))
    for k in range(32):
        cat = clip_category(k)
        if cat == "positive":
            out[k] = r.uniform(0.55, 0.95), r.uniform(0.0, 0.15)
        elif cat == "negative":
            out[k] = r.uniform(0.0, 0.15), r.uniform(0.55, 0.95)
        else:
            out[k] = r.uniform(0.35, 0.8), r.uniform(0.35, 0.8)
    return out


def _presentation(cfg: DmerSynthConfig, sid: int, r: np.random.Generator) -> list[int]:
    """Clip ids in presentation order: a Latin-square block order by (sid-1) mod 4."""
    n = cfg.n_trials
    counts = [n // 4 + (1 if b < n % 4 else 0) for b in range(4)]
    row = (sid - 1) % 4
    order = []
    for j in range(4):
        b = (row + j) % 4
        if counts[b]:
            chosen = r.choice(_BLOCKS[b], size=counts[b], replace=False)
            order.extend(int(c) for c in r.permutation(chosen))
    return order


def _self_reports(seed: int, sid: int, clips: list[int], clip_int: np.ndarray) -> list[dict]:
    r = _rng(seed, sid, 1)
    gain = r.uniform(0.7, 1.25)
    item_bias = r.normal(0.0, 0.2, size=10)
    item_weight = r.uniform(0.7, 1.2, size=10)
    out = []
    for clip in clips:
        p_int, n_int = clip_int[clip] * gain + r.normal(0, 0.08, size=2)
        lat = np.r_[np.full(5, p_int), np.full(5, n_int)] * item_weight
        raw = 1 + 4 * lat + item_bias + r.normal(0, 0.4, size=10)
        scores = np.clip(np.rint(raw), 1, 5).astype(int)
        pos = (scores[:5].mean() - 1) / 4
        neg = (scores[5:].mean() - 1) / 4
        aro = float(np.clip(0.6 * max(pos, neg) + 0.4 * (scores[[1, 7]].mean() - 1) / 4, 0, 1))
        val = int(np.clip(np.rint(5 + 4 * (pos - neg) + r.normal(0, 0.6)), 1, 9))
        aro9 = int(np.clip(np.rint(1 + 8 * aro + r.normal(0, 0.6)), 1, 9))
        dom = int(np.clip(np.rint(5 + 2 * (pos - neg) + r.normal(0, 0.8)), 1, 9))
        amu = int(np.clip(np.rint(1 + 4 * pos * 0.9 + r.normal(0, 0.4)), 1, 5))
        dis = int(np.clip(np.rint(1 + 4 * neg * 0.9 + r.normal(0, 0.4)), 1, 5))
        out.append(dict(clip=int(clip), panas=[int(s) for s in scores],
                        distribution=[float(s) for s in scores / scores.sum()],
                        arousal=aro9, valence=val, dominance=dom, amusement=amu, disgust=dis,
                        affect=dict(pos=float(pos), neg=float(neg), arousal=aro)))
    return out


# ----------------------------------------------------------------------------- session plan


@dataclass
class _Plan:
    sid: int
    trials: list[dict]  # clip, order, category, seconds, t0/t1 (session ms) + self-reports
    events: list[tuple[int, int]]  # (code, session ms)
    end_ms: int  # end of the video
    eeg_start_ms: int  # session ms of EEG sample 0 (negative: before the video)
    eeg_n: int
    wrist_start_ms: int
    gsr_n: int
    ppg_n: int
    epoch_ms: int  # epoch of session ms 0 (video frame 0)
    rest: tuple[int, int] = (0, 0)  # session ms of the rest segment (codes 40 / 50)


def _index(t_ms: int, start_ms: int, fs: int) -> int:
    """First sample at or after ``t_ms`` of a stream whose sample 0 lies at ``start_ms``."""
    return -((-(t_ms - start_ms) * fs) // 1000)


def _plan(cfg: DmerSynthConfig, seed: int, sid: int, clip_int: np.ndarray) -> _Plan:
    r = _rng(seed, sid, 2)
    clips = _presentation(cfg, sid, r)
    reports = _self_reports(seed, sid, clips, clip_int)
    lo, hi = cfg.trial_seconds
    t = 1000 + int(r.integers(0, 500))
    events = [(50, t)]
    t += cfg.practice_seconds * 1000
    events.append((60, t))
    t += 1000 + int(r.integers(0, 500))
    events.append((40, t))
    t += cfg.rest_seconds * 1000
    events.append((50, t))
    rest = (events[-2][1], events[-1][1])
    trials = []
    for order, rep in enumerate(reports):
        t += cfg.pre_seconds * 1000 + int(r.integers(0, 1000))
        secs = int(r.integers(lo, hi + 1))
        t0, t1 = t, t + secs * 1000
        events += [(rep["clip"] + 10, t0), (rep["clip"] + 100, t1)]
        trials.append(dict(rep, trial_id=str(rep["clip"]), order=order,
                           category=clip_category(rep["clip"]), seconds=secs, t0=t0, t1=t1))
        t = t1 + cfg.post_seconds * 1000 + int(r.integers(0, 1000))
    end_ms = t + 1000
    eeg_start = -int(r.integers(300, 2500))
    eeg_n = int(math.ceil((end_ms + 500 - eeg_start) / 1000)) * cfg.fs_eeg  # whole seconds
    wrist_start = int(r.integers(200, 900))
    gsr_n = _index(end_ms, wrist_start, cfg.fs_gsr)
    ppg_n = _index(end_ms, wrist_start, cfg.fs_ppg)
    epoch = cfg.epoch0_ms + sid * 86_400_000 + int(r.integers(0, 3_600_000))
    return _Plan(sid, trials, events, end_ms, eeg_start, eeg_n, wrist_start, gsr_n, ppg_n, epoch,
                 rest)


def _affect_at(plan: _Plan, n: int, start_ms: int, fs: float) -> np.ndarray:
    """(n, 3) pos/neg/arousal per sample of a stream (0 outside clips)."""
    out = np.zeros((n, 3))
    for tr in plan.trials:
        a = max(0, _index(tr["t0"], start_ms, int(fs)))
        b = max(0, _index(tr["t1"], start_ms, int(fs)))
        af = tr["affect"]
        out[a:b] = af["pos"], af["neg"], af["arousal"]
    return out


def _lag(x: np.ndarray, fs: float, tau: float) -> np.ndarray:
    from scipy.signal import lfilter
    a = math.exp(-1.0 / (fs * tau))
    y, _ = lfilter([1 - a], [1, -a], x, axis=0, zi=x[:1] * a)
    return y


# ----------------------------------------------------------------------------- signals


def _eeg_subject_params(seed: int, sid: int) -> dict:
    r = _rng(seed, sid, 10)
    nominal = np.array([7.0, 4.5, 7.0, 2.8, 1.3])
    gains = nominal * np.exp(r.normal(0, 0.15, size=(18, 5)))
    posterior = [EEG_CHANNELS.index(c) for c in ("P3", "P4", "O1", "O2", "T5", "T6")]
    gains[posterior, 2] *= 1.8
    # effect of (pos, neg, arousal) on each band's amplitude, per subject
    eff = np.array([[0.0, 0.05, -0.05],   # delta
                    [0.0, 0.30, 0.05],   # theta
                    [0.10, -0.05, -0.35],  # alpha
                    [0.05, 0.30, 0.40],   # beta
                    [0.45, 0.15, 0.20]])  # gamma
    eff = eff * r.uniform(0.6, 1.4) + r.normal(0, 0.06, size=eff.shape)
    return dict(bg=np.exp(r.normal(math.log(9.0), 0.25, size=18)),
                expo=r.uniform(0.85, 1.15), gains=gains, eff=eff,
                asym=r.uniform(0.2, 0.45), line=r.uniform(0.2, 1.0))


_LEFT_FRONTAL = [EEG_CHANNELS.index(c) for c in ("F3", "F7", "Fp1")]
_RIGHT_FRONTAL = [EEG_CHANNELS.index(c) for c in ("F4", "F8", "Fp2")]
_BAND_SHAPE = [(2.0, 1.0), (6.0, 1.2), (10.0, 1.5), (20.0, 4.0), (40.0, 5.0)]


def eeg_band_gains(par: dict, pos: float, neg: float, aro: float) -> np.ndarray:
    """(18, 5) band amplitude gains of a subject in an affective state."""
    mult = 1.0 + par["eff"] @ np.array([pos, neg, aro])  # (5,)
    g = par["gains"] * np.clip(mult, 0.2, None)[None, :]
    g[_LEFT_FRONTAL, 2] *= 1 - par["asym"] * (pos - neg)
    g[_RIGHT_FRONTAL, 2] *= 1 + par["asym"] * (pos - neg)
    return g


def _eeg_segment(n: int, fs: int, par: dict, state: tuple, r: np.random.Generator) -> np.ndarray:
    f = np.fft.rfftfreq(n, 1 / fs)
    g = eeg_band_gains(par, *state) * np.exp(r.normal(0, 0.08, size=(1, 5)))
    shape = par["bg"][:, None] / (f[None, :] + 1.0) ** (par["expo"] / 1.0) * 6
    for b, (fc, bw) in enumerate(_BAND_SHAPE):
        shape = shape + g[:, b:b + 1] * np.exp(-0.5 * ((f[None, :] - fc) / bw) ** 2)
    spec = (r.standard_normal((18, f.size)) + 1j * r.standard_normal((18, f.size))) * shape
    spec[:, 0] = 0
    x = np.fft.irfft(spec, n=n, axis=1) * math.sqrt(n) * 0.35
    tt = np.arange(n) / fs
    x += par["line"] * np.sin(2 * np.pi * 50 * tt + r.uniform(0, 6.28))[None, :]
    return x.T  # (n, 18) microvolts


def _eeg_session(cfg: DmerSynthConfig, seed: int, plan: _Plan) -> np.ndarray:
    par = _eeg_subject_params(seed, plan.sid)
    r = _rng(seed, plan.sid, 11)
    fs = cfg.fs_eeg
    cuts = [0]
    states = []
    for tr in plan.trials:
        a = _index(tr["t0"], plan.eeg_start_ms, fs)
        b = _index(tr["t1"], plan.eeg_start_ms, fs)
        cuts += [a, b]
        af = tr["affect"]
        states += [(0.0, 0.0, 0.0), (af["pos"], af["neg"], af["arousal"])]
    cuts.append(plan.eeg_n)
    states.append((0.0, 0.0, 0.0))
    parts = [_eeg_segment(b - a, fs, par, s, r) for a, b, s in zip(cuts[:-1], cuts[1:], states)]
    return np.concatenate(parts, axis=0)


def _gsr_session(cfg: DmerSynthConfig, seed: int, plan: _Plan) -> np.ndarray:
    r = _rng(seed, plan.sid, 20)
    fs = cfg.fs_gsr
    n = plan.gsr_n
    s0 = r.uniform(3.0, 6.0)
    tonic_sens = r.uniform(0.12, 0.4)
    base_rate, rate_sens = r.uniform(1.0, 3.0), r.uniform(4.0, 9.0)  # SCRs per minute
    amp0 = r.uniform(0.05, 0.3)
    aff = _affect_at(plan, n, plan.wrist_start_ms, fs)
    drive = 0.7 * aff[:, 1] + 0.3 * aff[:, 2]
    tonic = s0 * (1 + tonic_sens * _lag(drive, fs, 6.0))
    tonic += np.cumsum(r.normal(0, 0.002, n))  # slow drift
    rate = (base_rate + rate_sens * drive) / 60.0 / fs  # per sample
    onsets = np.flatnonzero(r.random(n) < rate)
    kt = np.arange(int(20 * fs)) / fs
    kern = np.exp(-kt / 3.5) - np.exp(-kt / 0.7)
    kern /= kern.max()
    impulses = np.zeros(n)
    impulses[onsets] = amp0 * (1 + 1.5 * drive[onsets]) * r.uniform(0.5, 1.5, onsets.size)
    phasic = np.convolve(impulses, kern)[:n]
    return tonic + phasic + r.normal(0, 0.004, n)


def _ppg_session(cfg: DmerSynthConfig, seed: int, plan: _Plan) -> np.ndarray:
    r = _rng(seed, plan.sid, 30)
    fs = cfg.fs_ppg
    n = plan.ppg_n
    hr0, hr_sens = r.uniform(65, 80), r.uniform(8, 16)
    rr_sd0 = r.uniform(0.025, 0.06)
    amp, offset = r.uniform(200, 600), r.uniform(1500, 2500)
    aff = _lag(_affect_at(plan, n, plan.wrist_start_ms, fs), fs, 2.0)
    hr = hr0 + hr_sens * (0.6 * aff[:, 2] + 0.4 * aff[:, 1]) - 2.0 * aff[:, 0]
    sd = rr_sd0 * (1 - 0.55 * aff[:, 1])
    beats = []
    t = r.uniform(0, 0.8)
    e = 0.0
    while t < n / fs:
        i = min(int(t * fs), n - 1)
        e = 0.6 * e + r.normal(0, 1.0)
        beats.append(t)
        t += 60.0 / hr[i] + sd[i] * e
    beats = np.asarray(beats)
    kt = np.arange(int(0.9 * fs)) / fs
    kern = np.exp(-0.5 * ((kt - 0.15) / 0.06) ** 2) + 0.35 * np.exp(-0.5 * ((kt - 0.42) / 0.09) ** 2)
    imp = np.zeros(n)
    np.add.at(imp, np.minimum((beats * fs).astype(int), n - 1), 1.0)
    x = np.convolve(imp, kern)[:n] * amp
    tt = np.arange(n) / fs
    x += offset + 0.15 * amp * np.sin(2 * np.pi * 0.25 * tt + r.uniform(0, 6.28))
    return x + r.normal(0, 0.01 * amp, n)


# ----------------------------------------------------------------------------- face video


def _face_params(seed: int, sid: int) -> dict:
    r = _rng(seed, sid, 40)
    return dict(skin=tuple(float(v) for v in (r.uniform(120, 175), r.uniform(150, 195),
                                              r.uniform(190, 235))),
                hair=tuple(float(v) for v in r.uniform(15, 60, 3)),
                bg=tuple(float(v) for v in r.uniform(50, 110, 3)),
                scale=r.uniform(0.92, 1.05), gain=r.uniform(0.6, 1.2),
                mouth0=r.normal(0, 0.15), brow0=r.normal(0, 0.2),
                phase=r.uniform(0, 6.28, 4))


def draw_face(img: np.ndarray, pos: float, neg: float, aro: float, par: dict,
              dx: float = 0.0, dy: float = 0.0, canvas: tuple[int, int] | None = None) -> np.ndarray:
    """Draw the synthetic face into ``img`` (BGR uint8, in place) for an affective state.

    The face is sized for a ``canvas`` (width, height; default the image size) and centred in
    ``img`` shifted by ``(dx, dy)`` pixels (a larger ``img`` leaves room for head motion)."""
    import cv2
    H, W = img.shape[:2]
    w, h = canvas if canvas is not None else (W, H)
    dx += (W - w) / 2
    dy += (H - h) / 2
    s = 16  # fixed-point shift of 4 bits for sub-pixel drawing
    P = lambda x, y: (int(round(x * s)), int(round(y * s)))  # noqa: E731
    g = par["gain"]
    cx, cy = w / 2 + dx, h / 2 + dy + 0.03 * h
    fw, fh = 0.26 * w * par["scale"], 0.40 * h * par["scale"]
    img[:] = np.array(par["bg"], dtype=np.uint8)
    aa = cv2.LINE_AA
    cv2.ellipse(img, P(cx, cy - 0.08 * h), P(fw * 1.08, fh * 1.05), 0, 180, 360, par["hair"], -1, aa, 4)
    cv2.ellipse(img, P(cx, cy), P(fw, fh), 0, 0, 360, par["skin"], -1, aa, 4)
    ey, ex = cy - 0.12 * h, 0.40 * fw
    eo = 0.018 * h * (0.5 + 0.9 * g * aro)
    brow_w = max(1, int(round(0.02 * h)))
    for sgn in (-1, 1):
        x = cx + sgn * ex
        cv2.ellipse(img, P(x, ey), P(0.16 * fw, eo + 1), 0, 0, 360, (235, 235, 235), -1, aa, 4)
        cv2.circle(img, P(x, ey), int(0.07 * fw * s), (40, 30, 20), -1, aa, 4)
        by = ey - 0.07 * h + 0.03 * h * (g * neg + par["brow0"] * 0.3)
        tilt = 0.03 * h * g * neg
        cv2.line(img, P(x - sgn * 0.2 * fw, by + tilt), P(x + sgn * 0.2 * fw, by - 0.01 * h),
                 (40, 50, 60), brow_w, aa, 4)
    cv2.line(img, P(cx, ey + 0.03 * h), P(cx - 0.03 * w, cy + 0.08 * h), (110, 140, 180), 1, aa, 4)
    my, mw = cy + 0.2 * h, 0.45 * fw
    curv = (g * (pos - neg) + par["mouth0"]) * 0.06 * h
    xs = np.linspace(-mw, mw, 15)
    ys = my - curv * (1 - (xs / mw) ** 2) + curv
    pts = np.stack([(cx + xs) * s, ys * s], 1).round().astype(np.int32)
    cv2.polylines(img, [pts], False, (60, 60, 150), brow_w, aa, 4)
    return img


class _FaceRenderer:
    """Frames of one subject's session, renderable in any order (all randomness precomputed)."""

    def __init__(self, cfg: DmerSynthConfig, seed: int, plan: _Plan):
        r = _rng(seed, plan.sid, 41)
        self.w, self.h = cfg.video_size
        self.par = _face_params(seed, plan.sid)
        n = _index(plan.end_ms, 0, cfg.fps)
        self.n = n
        self.aff = _lag(_affect_at(plan, n, 0, cfg.fps), cfg.fps, 0.4)
        t = np.arange(n) / cfg.fps
        ph = self.par["phase"]
        amp = 0.02 * self.w
        self.dx = amp * (np.sin(2 * np.pi * 0.11 * t + ph[0]) + 0.5 * np.sin(2 * np.pi * 0.37 * t + ph[1]))
        self.dy = amp * (np.sin(2 * np.pi * 0.07 * t + ph[2]) + 0.5 * np.sin(2 * np.pi * 0.29 * t + ph[3]))
        self.dx += np.cumsum(r.normal(0, 0.02, n)).clip(-amp, amp)
        self.noise = r.integers(0, 9, size=(8, self.h, self.w, 3), dtype=np.uint8)
        self.pick = r.integers(0, 8, size=n)
        # expressions are rendered once per quantised state and shifted for head motion
        self.keys = np.rint(self.aff * 50).astype(np.int64)
        self.cache: dict[tuple, np.ndarray] = {}
        self.pad = int(math.ceil(max(np.abs(self.dx).max(), np.abs(self.dy).max()))) + 1

    def frame(self, i: int) -> np.ndarray:
        import cv2
        i = min(i, self.n - 1)
        key = tuple(self.keys[i])
        base = self.cache.get(key)
        pad = self.pad
        if base is None:
            big = np.zeros((self.h + 2 * pad, self.w + 2 * pad, 3), np.uint8)
            draw_face(big, *(np.asarray(key) / 50.0), self.par, canvas=(self.w, self.h))
            self.cache[key] = base = big
        x0 = pad - int(round(self.dx[i]))
        y0 = pad - int(round(self.dy[i]))
        return cv2.add(base[y0:y0 + self.h, x0:x0 + self.w], self.noise[self.pick[i]])


def _write_video(path: Path, frames, fps: int, size: tuple[int, int]) -> int:
    import cv2
    with atomic_path(path, suffix=".mp4") as tmp:
        vw = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), size)
        if not vw.isOpened():
            raise RuntimeError(f"OpenCV cannot write mp4v video {path}")
        n = 0
        for fr in frames:
            vw.write(fr)
            n += 1
        vw.release()
    return n


# ----------------------------------------------------------------------------- writers

# The 116-byte descriptive text at the head of a MATLAB 5 file. SciPy writes its own text with
# the wall-clock time ("Created on: ..."), so two runs of the same seed would differ; MATLAB and
# SciPy read only the version and endianness bytes after it, so a fixed text is as valid.
_MAT_HEADER = b"MATLAB 5.0 MAT-file, Platform: posix, Created by: helo synth (seeded, no date)"


def _savemat(path: Path, mat: dict) -> None:
    """``scipy.io.savemat`` with a fixed header text, written atomically."""
    import scipy.io
    with atomic_path(path, suffix=".mat") as tmp:
        scipy.io.savemat(str(tmp), mat)
        with open(tmp, "r+b") as fh:
            fh.write(_MAT_HEADER.ljust(116, b" "))


def _write_reports(folder: Path, sid: int, trials: list[dict]) -> dict:
    panas = "".join(f"{t['clip']}," + ",".join(str(s) for s in t["panas"]) + "\n" for t in trials)
    av = "".join(f"{t['clip']},{t['arousal']},{t['valence']},{t['dominance']}\n" for t in trials)
    emo = "".join(f"{t['clip']},{t['amusement']},{t['disgust']}\n" for t in trials)
    files = {"panas": folder / f"{sid}_panas.csv", "arousal_valence": folder / "Arousal_Valence.csv",
             "emotions": folder / f"{sid}_emotions.csv"}
    write_text(files["panas"], panas)
    write_text(files["arousal_valence"], av)
    write_text(files["emotions"], emo)
    return {k: str(v) for k, v in files.items()}


def _wrist_csv(path: Path, values: np.ndarray, markers: dict[int, int], start_epoch: int,
               fs: int, packet: int, decimals: int, r: np.random.Generator) -> None:
    n = values.size
    vals = np.char.mod(f"%.{decimals}f", values)
    lines = []
    for i in range(n):
        ts = ""
        if i % packet == 0:
            ts = str(start_epoch + (i * 1000) // fs + int(r.integers(0, 3)))
        code = markers.get(i)
        lines.append(f"{ts},{vals[i]}" if code is None else f"{ts},{vals[i]},{code}")
    write_text(path, "\n".join(lines) + "\n")


def _write_edf(path: Path, eeg_uv: np.ndarray, cfg: DmerSynthConfig, plan: _Plan, seed: int) -> dict:
    import datetime
    import mne
    fs = cfg.fs_eeg
    n = eeg_uv.shape[0]
    r = _rng(seed, plan.sid, 12)
    names = list(EEG_CHANNELS) + list(cfg.eeg_extra_channels)
    data = [eeg_uv.T * 1e-6]
    if cfg.eeg_extra_channels:
        data.append(r.normal(0, 15e-6, size=(len(cfg.eeg_extra_channels), n)))
    types = ["eeg"] * len(names)
    if cfg.trigger == "channel":
        trig = np.zeros(n)
        for code, t in plan.events:
            i = _index(t, plan.eeg_start_ms, fs)
            trig[i:i + 3] = code
        data.append(trig[None, :])
        names.append("Trigger")
        types.append("stim")
    info = mne.create_info(names, fs, types)
    raw = mne.io.RawArray(np.concatenate(data, axis=0), info, verbose="error")
    start = (plan.epoch_ms + plan.eeg_start_ms) // 1000
    raw.set_meas_date(datetime.datetime.fromtimestamp(start, tz=datetime.timezone.utc))
    if cfg.trigger == "annotations":
        on = [_index(t, plan.eeg_start_ms, fs) / fs for _, t in plan.events]
        raw.set_annotations(mne.Annotations(on, [0.0] * len(on), [str(c) for c, _ in plan.events],
                                            orig_time=raw.info["meas_date"]))
    with atomic_path(path, suffix=".edf") as tmp:
        mne.export.export_raw(str(tmp), raw, fmt="edf", physical_range="channelwise",
                              overwrite=True, verbose="error")
    x = eeg_uv
    return {"physical_min_uv": x.min(axis=0).tolist(), "physical_max_uv": x.max(axis=0).tolist()}


# ----------------------------------------------------------------------------- layouts


def _subject_raw(out: Path, cfg: DmerSynthConfig, seed: int, plan: _Plan, keep: dict | None) -> dict:
    sid = plan.sid
    d, e = out / str(sid) / str(sid), out / str(sid) / f"sub{sid}"
    files = _write_reports(d, sid, plan.trials)
    r = _rng(seed, sid, 50)
    eeg = _eeg_session(cfg, seed, plan)
    files["eeg"] = str(e / "1_raw.edf")
    edf_info = _write_edf(e / "1_raw.edf", eeg, cfg, plan, seed)
    gsr = _gsr_session(cfg, seed, plan)
    ppg = _ppg_session(cfg, seed, plan)
    gsr_marks = {_index(t, plan.wrist_start_ms, cfg.fs_gsr): c for c, t in plan.events}
    ppg_marks = {_index(t, plan.wrist_start_ms, cfg.fs_ppg): c for c, t in plan.events}
    wrist_epoch = plan.epoch_ms + plan.wrist_start_ms
    files["gsr"] = str(d / "raw_gsr.csv")
    files["ppg"] = str(d / "raw_ppg.csv")
    _wrist_csv(d / "raw_gsr.csv", gsr, gsr_marks, wrist_epoch, cfg.fs_gsr, cfg.gsr_packet, 4, r)
    _wrist_csv(d / "raw_ppg.csv", ppg, ppg_marks, wrist_epoch, cfg.fs_ppg, cfg.ppg_packet, 3, r)
    cam = "".join(f"{_index(t, 0, cfg.fps)},{c},{plan.epoch_ms + (_index(t, 0, cfg.fps) * 1000) // cfg.fps}\n"
                  for c, t in plan.events)
    write_text(d / "camera.csv", cam)
    files["camera"] = str(d / "camera.csv")
    if cfg.video:
        rend = _FaceRenderer(cfg, seed, plan)
        vpath = d / f"1_{plan.epoch_ms}.mp4"
        _write_video(vpath, (rend.frame(i) for i in range(rend.n)), cfg.fps, cfg.video_size)
        files["video"] = str(vpath)
    trials = []
    for tr in plan.trials:
        spans = {"eeg": [_index(tr[k], plan.eeg_start_ms, cfg.fs_eeg) for k in ("t0", "t1")],
                 "gsr": [_index(tr[k], plan.wrist_start_ms, cfg.fs_gsr) for k in ("t0", "t1")],
                 "ppg": [_index(tr[k], plan.wrist_start_ms, cfg.fs_ppg) for k in ("t0", "t1")],
                 "video": [_index(tr[k], 0, cfg.fps) for k in ("t0", "t1")]}
        trials.append(dict(tr, spans=spans))
        if keep is not None:
            keep[tr["trial_id"]] = {"eeg": eeg[slice(*spans["eeg"])],
                                    "gsr": gsr[slice(*spans["gsr"]), None],
                                    "ppg": ppg[slice(*spans["ppg"]), None]}
    return dict(trials=trials, files=files, edf=edf_info, rest_ms=list(plan.rest),
                eeg_start_ms=plan.eeg_start_ms, wrist_start_ms=plan.wrist_start_ms,
                epoch_ms=plan.epoch_ms)


def _dis_label(plan: _Plan) -> np.ndarray:
    """(32, 10) ``dis_label``: row k = clip k's PANAS scores / their sum (uniform for clips the
    subject did not see, which the real release does not have: every subject saw all 32)."""
    d = np.full((32, 10), 0.1)
    for tr in plan.trials:
        s = np.asarray(tr["panas"], dtype=np.float64)
        d[tr["clip"]] = s / s.sum()
    return d


def _subject_aligned(out: Path, cfg: DmerSynthConfig, seed: int, plan: _Plan, keep: dict | None,
                     aligned_rows: str = "id+time", labels: str = "panas") -> dict:
    sid = plan.sid
    d = out / str(sid)
    files = _write_reports(d, sid, plan.trials) if labels in ("panas", "both") else {}
    streams = {"eeg": (_eeg_session(cfg, seed, plan), plan.eeg_start_ms, cfg.fs_eeg),
               "gsr": (_gsr_session(cfg, seed, plan)[:, None], plan.wrist_start_ms, cfg.fs_gsr),
               "ppg": (_ppg_session(cfg, seed, plan)[:, None], plan.wrist_start_ms, cfg.fs_ppg)}
    rest_secs = (plan.rest[1] - plan.rest[0]) // 1000
    segs = [(40, plan.rest[0], rest_secs)] + [(t["clip"], t["t0"], t["seconds"]) for t in plan.trials]
    mat = {}
    spans: dict[str, dict[str, list[int]]] = {}
    for m, (x, start, fs) in streams.items():
        cols = []
        pos = 0
        for clip, t0, secs in segs:
            a = _index(t0, start, fs)
            seg = x[a:a + secs * fs]
            ids = np.full(secs * fs, float(clip))
            tm = np.full(secs * fs, -1.0)
            tm[::fs] = np.arange(secs)
            cols.append(np.vstack([seg.T, ids, tm] if aligned_rows == "id+time" else
                                  [seg.T, ids]))
            if clip != 40:
                spans.setdefault(str(clip), {})[m] = [pos, pos + secs * fs]
                if keep is not None:
                    keep.setdefault(str(clip), {})[m] = seg
            pos += secs * fs
        mat[f"{m}_datas"] = np.concatenate(cols, axis=1)
        mat[f"fs_{m}"] = float(fs)
    if labels in ("dis_label", "both"):
        mat["dis_label"] = _dis_label(plan)
    _savemat(d / "datas.mat", mat)
    files["mat"] = str(d / "datas.mat")
    rend = _FaceRenderer(cfg, seed, plan) if cfg.video else None
    trials = []
    for tr in plan.trials:
        f0 = _index(tr["t0"], 0, cfg.fps)
        nf = tr["seconds"] * cfg.fps
        if rend is not None:
            _write_video(d / f"{tr['clip']}.mp4", (rend.frame(i) for i in range(f0, f0 + nf)),
                         cfg.fps, cfg.video_size)
        sp = dict(spans[tr["trial_id"]], video=[0, nf])
        trials.append(dict(tr, spans=sp))
    return dict(trials=trials, files=files)


FEATURE_DIMS = {"eeg": 90, "gsr": 28, "ppg": 27, "video": 768}


def _feature_projections(seed: int) -> dict:
    r = _rng(seed, 999_002)
    return {m: r.normal(0, 1, size=(3, FEATURE_DIMS[m])) for m in ("gsr", "ppg", "video")}


def _feature_rows(seed: int, plan: _Plan):
    """``(trial, feas (T - 4, 913))`` per trial: EEG DE 90 | GSR 28 | PPG 27 | LBP-TOP 768."""
    sid = plan.sid
    r = _rng(seed, sid, 60)
    par = _eeg_subject_params(seed, sid)
    proj = _feature_projections(seed)
    offs = {m: r.normal(0, 0.6, FEATURE_DIMS[m]) for m in proj}
    sgain = {m: r.uniform(0.6, 1.4) for m in proj}
    for tr in plan.trials:
        n = tr["seconds"] - 4
        af = tr["affect"]
        state = np.array([af["pos"], af["neg"], af["arousal"]])
        g = eeg_band_gains(par, *state)  # (18, 5) amplitudes
        de = 0.5 * np.log(2 * np.pi * np.e * (g ** 2 + (par["bg"][:, None] * 0.5) ** 2))
        eeg = de.reshape(1, 90) + r.normal(0, 0.12, size=(n, 90))  # band fastest
        blocks = [eeg]
        for m in ("gsr", "ppg", "video"):
            v = offs[m] + sgain[m] * (state @ proj[m]) + r.normal(0, 0.35, size=(n, FEATURE_DIMS[m]))
            if m == "video":  # LBP-TOP: three normalised 256-bin histograms
                v = np.exp(0.5 * v).reshape(n, 3, 256)
                v = (v / v.sum(axis=2, keepdims=True)).reshape(n, 768)
            blocks.append(v)
        yield tr, np.concatenate(blocks, axis=1)


def _subject_features(out: Path, cfg: DmerSynthConfig, seed: int, plan: _Plan, keep: dict | None) -> dict:
    sid = plan.sid
    files = _write_reports(out / str(sid), sid, plan.trials)
    rows, vids, trials = [], [], []
    pos = 0
    for tr, feas in _feature_rows(seed, plan):
        n = feas.shape[0]
        rows.append(feas)
        vids.append(np.full(n, tr["clip"]))
        trials.append(dict(tr, spans={"rows": [pos, pos + n]}))
        if keep is not None:
            keep[tr["trial_id"]] = {"feas": feas}
        pos += n
    mat = {"feas": np.concatenate(rows, axis=0), "vids": np.concatenate(vids)[:, None].astype(float)}
    _savemat(out / f"{sid}.mat", mat)
    files["mat"] = str(out / f"{sid}.mat")
    return dict(trials=trials, files=files)


def _subject_subject_features(out: Path, cfg: DmerSynthConfig, seed: int, plan: _Plan,
                              keep: dict | None, labels: str = "dis_label",
                              video_dim: int = 768) -> dict:
    """The authors' per-subject feature files: ``<n>/eegfea.mat`` (``feas`` (N, 5, 18): bands x
    channels), ``<n>/perifea.mat`` (``feas_gsr``, ``feas_ppg``), ``<n>/videoFea.mat``
    (``lbps_all`` (N, video_dim), ``vids`` (1, N)) and the labels (``<n>/datas.mat`` holding
    ``dis_label`` only, and/or the PANAS CSVs)."""
    sid = plan.sid
    d = out / str(sid)
    files = _write_reports(d, sid, plan.trials) if labels in ("panas", "both") else {}
    rv = _rng(seed, sid, 61)
    proj = _rng(seed, 999_003).normal(0, 1, size=(3, video_dim))
    parts: dict[str, list] = {"eeg": [], "gsr": [], "ppg": [], "video": []}
    vids, trials = [], []
    pos = 0
    for tr, feas in _feature_rows(seed, plan):
        n = feas.shape[0]
        af = tr["affect"]
        blocks = {"eeg": feas[:, :90], "gsr": feas[:, 90:118], "ppg": feas[:, 118:145],
                  "video": feas[:, 145:]}
        if video_dim != 768:  # another descriptor (the authors' copy: 32 pooled CNN values)
            state = np.array([af["pos"], af["neg"], af["arousal"]])
            blocks["video"] = state @ proj + rv.normal(0, 0.35, size=(n, video_dim))
        for m, v in blocks.items():
            parts[m].append(v)
        vids.append(np.full(n, tr["clip"]))
        trials.append(dict(tr, spans={"rows": [pos, pos + n]}))
        if keep is not None:
            keep[tr["trial_id"]] = {m: v.copy() for m, v in blocks.items()}
        pos += n
    eeg = np.concatenate(parts["eeg"])
    _savemat(d / "eegfea.mat", {"feas": eeg.reshape(-1, 18, 5).transpose(0, 2, 1)})
    _savemat(d / "perifea.mat", {"feas_gsr": np.concatenate(parts["gsr"]),
                                 "feas_ppg": np.concatenate(parts["ppg"])})
    _savemat(d / "videoFea.mat", {"lbps_all": np.concatenate(parts["video"]),
                                  "vids": np.concatenate(vids)[None, :].astype(float)})
    files.update(eeg=str(d / "eegfea.mat"), peri=str(d / "perifea.mat"),
                 video=str(d / "videoFea.mat"))
    if labels in ("dis_label", "both"):
        _savemat(d / "datas.mat", {"dis_label": _dis_label(plan)})
        files["mat"] = str(d / "datas.mat")
    return dict(trials=trials, files=files)


# ----------------------------------------------------------------------------- entry point


def generate_dmer(out: str | Path, *, layout: str = "raw", seed: int = 0, preset: str = "default",
                  progress: bool = True, return_signals: bool = False,
                  aligned_rows: str = "id+time", labels: str | None = None,
                  video_dim: int = 768, **overrides) -> dict:
    """Write a synthetic DMER dataset in ``layout`` (``raw``, ``aligned`` or ``features``) under
    ``out`` and return its ground truth (also written to ``out/_ground_truth.json``).

    ``overrides`` change the preset's :class:`DmerSynthConfig` fields (``n_subjects``,
    ``subject_ids``, ``n_trials``, ``trial_seconds`` (int or (lo, hi)), ``video_size``, ``fps``,
    ``trigger`` ("channel"/"annotations"), ``video``, ...). ``return_signals=True`` adds, in the
    returned dict only (file paths in the truth are relative to ``out``), ``"_signals"``: subject -> trial id -> modality -> array of the values
    written for that trial (raw/aligned: ``eeg`` (n, 18) uV, ``gsr``/``ppg`` (n, 1);
    features: ``feas`` (rows, 913); subject-features: ``eeg`` (rows, 90) channel-major, ``gsr``,
    ``ppg``, ``video``), for tests.

    Variants of the files as the dataset's authors use them: ``aligned_rows`` ("id+time": signal
    rows + clip-id row + time row, the release; "id": the clip id as the last row),
    ``labels`` ("panas": the self-report CSVs; "dis_label": ``dis_label`` (32 x 10) in
    ``datas.mat`` only; "both"; default "panas", and "dis_label" for subject-features) and, for
    ``layout="subject-features"`` (``eegfea.mat``/``perifea.mat``/``videoFea.mat``),
    ``video_dim`` (768: LBP-TOP-shaped histograms; another width: a different descriptor).
    """
    if layout not in LAYOUTS:
        raise ValueError(f"unknown DMER layout {layout!r}; choose one of {LAYOUTS}")
    if aligned_rows not in ("id+time", "id"):
        raise ValueError(f"aligned_rows is 'id+time' or 'id', not {aligned_rows!r}")
    labels = labels or ("dis_label" if layout == "subject-features" else "panas")
    if labels not in ("panas", "dis_label", "both"):
        raise ValueError(f"labels is 'panas', 'dis_label' or 'both', not {labels!r}")
    cfg = make_config(preset, **overrides)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    clip_int = _clip_intensities(seed)
    from functools import partial
    writer = {"raw": _subject_raw,
              "aligned": partial(_subject_aligned, aligned_rows=aligned_rows, labels=labels),
              "features": _subject_features,
              "subject-features": partial(_subject_subject_features, labels=labels,
                                          video_dim=video_dim)}[layout]
    truth: dict[str, Any] = {"dataset": "dmer", "layout": f"dmer-{layout}", "seed": seed,
                             "preset": preset, "config": asdict(cfg), "panas_items": DMER_PANAS,
                             "eeg_channels": EEG_CHANNELS, "subjects": {}}
    variant = {k: v for k, v, default in (
        ("aligned_rows", aligned_rows, "id+time"), ("labels", labels, "panas"),
        ("video_dim", video_dim, 768)) if v != default and (
            layout in ("aligned", "subject-features") if k != "video_dim"
            else layout == "subject-features")}
    if variant:  # only when not the default, so the default datasets keep their bytes
        truth["variant"] = variant
    signals: dict[str, dict] = {}
    t_start = time.perf_counter()
    for k, sid in enumerate(cfg.subject_ids):
        t0 = time.perf_counter()
        plan = _plan(cfg, seed, sid, clip_int)
        keep: dict | None = {} if return_signals else None
        st = writer(out, cfg, seed, plan, keep)
        st["files"] = {k: Path(v).relative_to(out).as_posix() for k, v in st["files"].items()}
        truth["subjects"][str(sid)] = st
        if keep is not None:
            signals[str(sid)] = keep
        if progress:
            print(f"[synth dmer-{layout}] subject {sid} ({k + 1}/{len(cfg.subject_ids)}) "
                  f"{time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    if progress:
        print(f"[synth dmer-{layout}] done in {time.perf_counter() - t_start:.1f} s",
              file=sys.stderr, flush=True)
    write_json(out / "_ground_truth.json", truth, significant=10)
    if return_signals:
        truth = dict(truth, _signals=signals)
    return truth


__all__ = ["generate_dmer", "make_config", "DmerSynthConfig", "PRESETS", "RELEASED_IDS",
           "MISSING_IDS", "EEG_CHANNELS", "BANDS", "FEATURE_DIMS", "draw_face", "clip_category",
           "eeg_band_gains"]
