"""Seeded synthetic WESAD: the real on-disk layout, with signals that carry the affective state.

:func:`generate_wesad` writes, per subject ``S<n>``::

    out/S<n>/S<n>.pkl          protocol-2 pickle as Python 2 wrote it, the real dict:
                               {'subject': 'S<n>', 'signal': {'chest': {...}, 'wrist': {...}},
                                'label': int32 (N,) at 700 Hz}
    out/S<n>/S<n>_quest.csv    the real ';'-separated questionnaire file (every line a tag plus
                               26 fields), quirks included
    out/S<n>/S<n>_readme.txt   a short readme in the style of the real ones
    out/_ground_truth.json     what was generated (readers ignore it)

Chest (700 Hz): ``ACC`` (N,3) in g, ``ECG`` mV, ``EMG`` mV, ``EDA`` uS, ``Temp`` degC, ``Resp`` %
(N,1 each). Wrist: ``ACC`` 32 Hz (M,3) in 1/64 g (integer valued, as the E4 gives), ``BVP`` 64 Hz,
``EDA`` 4 Hz, ``TEMP`` 4 Hz. The label array has 0 transients before, between and after the
conditions, a short 5 before the baseline and reading segments labelled 6 (``sRead``, after the
TSST) and 7 (``fRead``, after the amusement), which appear in ``# ORDER`` like the real ones.

How the state is carried (per condition, then subject-specific offsets/reactivities and noise):
heart rate and HRV (a PQRST-template ECG on an RR series with respiratory sinus arrhythmia and
AR(1) variability), EDA tonic level and SCR rate (bi-exponential SCRs), EMG burst amplitude and
rate, ACC movement energy and posture (standing during the TSST), respiration rate, skin
temperature, BVP pulse amplitude. PANAS scores come from a per-condition profile (stress raises
Distressed/Nervous/Stressed/Jittery/..., amusement Happy/Excited/..., baseline and meditation
calm) plus a per-subject response bias and reactivity, rounded to integers 1..5.

Quirks of the real files reproduced: ``# Subj:`` for S3 and S4, one ``Nan`` PANAS value (S5 when
present), one subject with another condition order (S14 when present, else the last subject),
``Read`` entries in ``# ORDER``, START/END as minutes.seconds with trailing zeros dropped
(``50.3`` = 50 min 30 s), blank ``;;;`` lines between groups, the TSST PANAS row with 26 items.
"""
from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import numpy as np

from helo import io as hio
from helo.data.labels import WESAD_PANAS, WESAD_PANAS_TSST
from helo.synth.presets import preset_config

__all__ = ["generate_wesad", "PRESETS", "CONDITIONS", "LABEL_CODES", "FS", "format_minsec",
           "write_py2_pickle"]

CONDITIONS = ["Base", "TSST", "Fun", "Medi 1", "Medi 2"]
LABEL_CODES = {"Base": 1, "TSST": 2, "Fun": 3, "Medi 1": 4, "Medi 2": 4}
FS = {"chest": 700, "wrist_ACC": 32, "wrist_BVP": 64, "wrist_EDA": 4, "wrist_TEMP": 4}
STANDARD_ORDER = ["Base", "TSST", "Medi 1", "Fun", "Medi 2"]
OTHER_ORDER = ["Base", "Fun", "Medi 1", "TSST", "Medi 2"]
N_FIELDS = 26  # fields after the tag on every quest line

_ALL_WESAD = [f"S{i}" for i in list(range(2, 12)) + list(range(13, 18))]

PRESETS: dict[str, dict] = {
    # A handful of short subjects for unit tests (generation well under a second).
    "tiny": dict(subjects=["S2", "S3", "S5", "S6"],
                 durations={"Base": 16, "TSST": 14, "Fun": 12, "Medi 1": 10, "Medi 2": 10},
                 jitter=0.1, gap_s=(1.0, 2.0), read_s=(2.0, 3.0), lead_s=(2.0, 3.0)),
    # Six subjects, 60-90 s per condition: the whole pipeline stays small.
    "default": dict(subjects=["S2", "S3", "S4", "S5", "S6", "S7"],
                    durations={"Base": 90, "TSST": 80, "Fun": 70, "Medi 1": 60, "Medi 2": 60},
                    jitter=0.1, gap_s=(3.0, 8.0), read_s=(10.0, 20.0), lead_s=(10.0, 20.0)),
    # The real study's size: 15 subjects, ~20/10/7/7/7 min.
    "wesad-scale": dict(subjects=list(_ALL_WESAD),
                        durations={"Base": 1200, "TSST": 600, "Fun": 420, "Medi 1": 420,
                                   "Medi 2": 420},
                        jitter=0.08, gap_s=(20.0, 90.0), read_s=(60.0, 150.0),
                        lead_s=(60.0, 300.0)),
}
_COMMON = dict(colon_subjects=["S3", "S4"], nan_subject="S5", reorder_subject="S14",
               quest_pad_s=(0, 2), ecg_noise=0.02)

# Per-condition physiological state. "rest" covers transients and reading segments.
_STATE = {
    "Base": dict(hr=72.0, sdnn=0.045, eda=2.0, scr=2.0, emg=1.0, acc=0.010, resp=14.0,
                 temp=0.0, stand=0.0, bvp=1.0),
    "TSST": dict(hr=93.0, sdnn=0.022, eda=4.5, scr=9.0, emg=2.6, acc=0.060, resp=20.0,
                 temp=-0.5, stand=1.0, bvp=0.6),
    "Fun": dict(hr=77.0, sdnn=0.040, eda=2.8, scr=4.5, emg=1.7, acc=0.025, resp=16.0,
                temp=-0.1, stand=0.0, bvp=0.9),
    "Medi": dict(hr=64.0, sdnn=0.062, eda=1.5, scr=0.8, emg=0.6, acc=0.004, resp=8.0,
                 temp=0.15, stand=0.0, bvp=1.15),
    "rest": dict(hr=75.0, sdnn=0.040, eda=2.3, scr=3.0, emg=1.2, acc=0.030, resp=15.0,
                 temp=0.0, stand=0.0, bvp=1.0),
}

# PANAS profiles (expected score per item before subject variation); unnamed items default.
_PANAS_PROFILE = {
    "Base": dict(_default=1.2, Active=2.2, Interested=2.4, Inspired=1.8, Strong=2.0, Excited=1.7,
                 Proud=1.6, Enthusiastic=1.8, Alert=2.6, Determined=2.0, Attentive=2.6,
                 Happy=2.8, Distressed=1.2, Nervous=1.3),
    "TSST": dict(_default=1.6, Active=3.3, Distressed=3.5, Interested=2.5, Inspired=1.6,
                 Annoyed=2.6, Strong=2.0, Guilty=1.3, Scared=2.4, Hostile=1.6, Excited=2.3,
                 Proud=1.5, Irritable=2.4, Enthusiastic=1.5, Ashamed=1.9, Alert=3.6,
                 Nervous=3.9, Determined=3.0, Attentive=3.4, Jittery=3.3, Afraid=2.5,
                 Stressed=3.9, Frustrated=2.9, Happy=1.5, Sad=1.5, Angry=2.0, Irritated=2.7),
    "Fun": dict(_default=1.15, Active=2.8, Interested=3.3, Inspired=2.5, Strong=2.3, Excited=3.3,
                Proud=2.0, Enthusiastic=3.1, Alert=2.9, Determined=2.0, Attentive=3.0,
                Happy=3.9),
    "Medi": dict(_default=1.05, Active=1.5, Interested=2.2, Inspired=2.0, Strong=1.9,
                 Excited=1.4, Proud=1.6, Enthusiastic=1.6, Alert=2.0, Determined=1.7,
                 Attentive=2.3, Happy=2.9),
}
_STAI_PROFILE = {  # 6 items (1-4): at ease, nervous, jittery, relaxed, worried, pleasant
    "Base": [3.2, 1.4, 1.3, 3.1, 1.4, 3.0], "TSST": [1.8, 3.0, 2.8, 1.7, 2.7, 1.9],
    "Fun": [3.1, 1.3, 1.4, 3.0, 1.3, 3.4], "Medi": [3.6, 1.1, 1.1, 3.6, 1.2, 3.3]}
_DIM_PROFILE = {"Base": (6.0, 3.0), "TSST": (3.5, 7.0), "Fun": (7.0, 5.0), "Medi": (7.0, 2.0)}


def _kind(cond: str) -> str:
    return "Medi" if cond.startswith("Medi") else cond


def format_minsec(total_seconds: int) -> str:
    """Seconds -> the quest file's minutes.seconds spelling (``428 -> '7.08'``, ``1830 -> '30.3'``,
    ``720 -> '12'``): seconds as two digits after the dot, trailing zeros dropped."""
    m, s = divmod(int(total_seconds), 60)
    return f"{m}.{s:02d}".rstrip("0").rstrip(".")


def _smooth(x: np.ndarray, width: int) -> np.ndarray:
    if width <= 1:
        return x.copy()
    k = np.ones(width)
    num = np.convolve(x, k, mode="same")
    den = np.convolve(np.ones_like(x), k, mode="same")
    return num / den


# --------------------------------------------------------------------------------- timeline

def _timeline(rng, order, cfg):
    """Segments (label, n_samples, name) in time order, the label array and condition spans."""
    fs = FS["chest"]
    segs = []

    def add(label, seconds, name=None):
        segs.append((label, max(1, int(round(seconds * fs + rng.uniform(0, fs)))), name))

    add(0, rng.uniform(*cfg["lead_s"]))
    add(5, rng.uniform(2.0, 4.0))
    add(0, rng.uniform(*cfg["gap_s"]))
    for cond in order:
        dur = cfg["durations"][cond] * rng.uniform(1 - cfg["jitter"], 1 + cfg["jitter"])
        add(LABEL_CODES[cond], dur, cond)
        add(0, rng.uniform(*cfg["gap_s"]))
        if cond == "TSST":
            add(6, rng.uniform(*cfg["read_s"]), "sRead")
            add(0, rng.uniform(*cfg["gap_s"]))
        elif cond == "Fun":
            add(7, rng.uniform(*cfg["read_s"]), "fRead")
            add(0, rng.uniform(*cfg["gap_s"]))
    add(0, rng.uniform(2.0, 5.0))
    n = sum(s[1] for s in segs)
    pad = (-n) % fs  # whole seconds, so every wrist stream has an exact integer length
    segs[-1] = (0, segs[-1][1] + pad, None)
    n += pad
    label = np.empty(n, dtype=np.int32)
    spans, pos = {}, 0
    for lab, cnt, name in segs:
        label[pos:pos + cnt] = lab
        if name is not None:
            spans[name] = (pos, pos + cnt)
        pos += cnt
    return label, spans


# ---------------------------------------------------------------------------------- signals

def _per_second_state(label_spans, n_sec, subj):
    """Per-second arrays of every state parameter, smoothed at the transitions."""
    keys = _STATE["rest"].keys()
    p = {k: np.full(n_sec, _STATE["rest"][k], dtype=float) for k in keys}
    for name, (a, b) in label_spans.items():
        if name not in CONDITIONS:
            continue
        st = _STATE[_kind(name)]
        sa, sb = a // FS["chest"], -(-b // FS["chest"])
        for k in keys:
            p[k][sa:sb] = st[k]
    # subject-specific offsets and reactivity
    p["hr"] = 72 + subj["hr_offset"] + (p["hr"] - 72) * subj["hr_react"]
    p["sdnn"] = p["sdnn"] * subj["hrv_scale"]
    p["eda"] = subj["eda_scale"] * (2.0 + (p["eda"] - 2.0) * subj["eda_react"])
    p["scr"] = p["scr"] * subj["scr_scale"]
    p["emg"] = p["emg"] * subj["emg_scale"]
    p["acc"] = p["acc"] * subj["acc_scale"]
    p["resp"] = p["resp"] + subj["resp_offset"]
    widths = dict(hr=6, sdnn=6, eda=15, scr=5, emg=3, acc=3, resp=8, temp=40, stand=3, bvp=8)
    return {k: _smooth(v, widths.get(k, 5)) for k, v in p.items()}


def _interp(per_sec: np.ndarray, t: np.ndarray) -> np.ndarray:
    return np.interp(t, np.arange(per_sec.size) + 0.5, per_sec)


def _beats(rng, p, resp_phase_sec, n_sec):
    """Beat times (s): RR from heart rate, RSA coupled to respiration, AR(1) variability."""
    beats, t, ar = [], rng.uniform(0.1, 0.6), 0.0
    T = float(n_sec)
    while t < T:
        k = min(int(t), n_sec - 1)
        rr0 = 60.0 / p["hr"][k]
        sd = p["sdnn"][k]
        phase = np.interp(t, np.arange(n_sec) + 0.5, resp_phase_sec)
        ar = 0.75 * ar + rng.normal(0.0, sd * 0.66)
        rr = rr0 + 0.8 * sd * math.sin(phase) + ar
        beats.append(t)
        t += min(max(rr, 0.33), 1.8)
    return np.asarray(beats)


def _ecg(rng, beats, n, fs, subj, resp_700):
    amp = subj["ecg_amp"]
    rr = np.diff(np.append(beats, beats[-1] + 0.8))
    off = np.arange(int(-0.30 * fs), int(0.55 * fs))
    tt = off[None, :] / fs
    tq = 0.26 * np.sqrt(np.clip(rr, 0.3, 1.5))[:, None]  # QT scales with RR (Bazett-like)
    waves = (0.12 * np.exp(-((tt + 0.17) / 0.025) ** 2)       # P
             - 0.10 * np.exp(-((tt + 0.028) / 0.010) ** 2)    # Q
             + 1.10 * np.exp(-(tt / 0.011) ** 2)              # R
             - 0.22 * np.exp(-((tt - 0.030) / 0.012) ** 2)    # S
             + 0.28 * np.exp(-((tt - tq) / 0.055) ** 2))      # T
    waves *= amp * rng.uniform(0.95, 1.05, size=(beats.size, 1))
    idx = np.round(beats * fs).astype(np.int64)[:, None] + off[None, :]
    ok = (idx >= 0) & (idx < n)
    sig = np.bincount(idx[ok], weights=waves[ok], minlength=n)
    t = np.arange(n) / fs
    sig += 0.05 * amp * resp_700 / 10.0 + 0.04 * np.sin(2 * np.pi * 0.05 * t + subj["phase"])
    sig += rng.normal(0.0, subj["ecg_noise"], n)
    return sig


def _eda_latent(rng, p, n_sec, fs_l, eda_scale):
    """Tonic + phasic EDA at fs_l Hz; SCR onsets Poisson with the state's rate per minute."""
    m = n_sec * fs_l
    t = np.arange(m) / fs_l
    tonic = (_interp(p["eda"], t)
             + 0.15 * eda_scale * np.sin(2 * np.pi * t / 97.0 + rng.uniform(0, 6)))
    rate = _interp(p["scr"], t) / 60.0 / fs_l
    onsets = rng.random(m) < rate
    amps = np.zeros(m)
    amps[onsets] = rng.exponential(0.25 * eda_scale, onsets.sum()) + 0.03
    kt = np.arange(int(25 * fs_l)) / fs_l
    kernel = (np.exp(-kt / 3.5) - np.exp(-kt / 0.7))
    kernel /= kernel.max()
    from scipy.signal import fftconvolve
    phasic = fftconvolve(amps, kernel)[:m]
    return t, np.maximum(tonic + phasic, 0.05)


def _emg(rng, p, n, fs, subj):
    fs_e = 70
    m = -(-n // (fs // fs_e))
    t = np.arange(m) / fs_e
    level = _interp(p["emg"], t)
    rate = level * 0.4 / fs_e  # bursts per sample
    imp = (rng.random(m) < rate) * rng.uniform(1.0, 4.0, m) * level
    kernel = np.hanning(int(0.5 * fs_e))
    env = 1.0 + np.convolve(imp, kernel, mode="same") + 0.3 * level
    env = np.repeat(env, fs // fs_e)[:n]
    noise = rng.standard_normal(n)
    noise[1:] -= 0.6 * noise[:-1].copy()  # a little high-pass colour
    return 0.008 * subj["emg_gain"] * env * noise + rng.normal(0, 0.001, n)


def _movement(rng, energy, fs, axes=3, tau_s=0.15):
    from scipy.signal import lfilter
    a = math.exp(-1.0 / (tau_s * fs))
    x = rng.standard_normal((energy.size, axes))
    x = lfilter([1 - a], [1, -a], x, axis=0) * math.sqrt((1 + a) / (1 - a))
    return x * energy[:, None]


def _rotation(rng, deg):
    ax = rng.normal(size=3)
    ax /= np.linalg.norm(ax)
    th = math.radians(deg)
    K = np.array([[0, -ax[2], ax[1]], [ax[2], 0, -ax[0]], [-ax[1], ax[0], 0]])
    return np.eye(3) + math.sin(th) * K + (1 - math.cos(th)) * K @ K


def _chest_acc(rng, p, n, fs, subj):
    fs_m = 35
    m = -(-n // (fs // fs_m))
    t = np.arange(m) / fs_m
    energy = _interp(p["acc"], t)
    stand = _interp(p["stand"], t)[:, None]
    sit = np.array([0.88, -0.06, -0.45])
    up = np.array([0.98, 0.02, -0.18])
    posture = (1 - stand) * sit + stand * up
    posture = posture @ subj["rot_chest"].T
    mov = _movement(rng, energy, fs_m)
    gest = (stand * energy[:, None] * 0.8 * np.sin(2 * np.pi * 1.3 * t + rng.uniform(0, 6))[:, None]
            * np.array([0.3, 1.0, 0.5]))
    low = posture + mov + gest
    tt = np.arange(n) / fs
    out = np.column_stack([np.interp(tt, t, low[:, k]) for k in range(3)])
    return out + rng.normal(0, 0.002, out.shape)


def _wrist_acc(rng, p, n_sec, subj):
    fs_w = FS["wrist_ACC"]
    t = np.arange(n_sec * fs_w) / fs_w
    energy = _interp(p["acc"], t) * 4.0
    stand = _interp(p["stand"], t)[:, None]
    rest = np.array([0.10, -0.60, 0.78])
    hang = np.array([-0.95, 0.10, 0.20])
    posture = ((1 - stand) * rest + stand * hang) @ subj["rot_wrist"].T
    mov = _movement(rng, energy, fs_w, tau_s=0.25)
    return np.round(64.0 * (posture + mov))


def _bvp(rng, beats, p, n_sec, subj):
    fs_b = FS["wrist_BVP"]
    n = n_sec * fs_b
    off = np.arange(0, int(0.9 * fs_b))
    tt = off / fs_b
    shape = np.exp(-((tt - 0.18) / 0.07) ** 2) + 0.35 * np.exp(-((tt - 0.45) / 0.08) ** 2)
    shape -= shape.mean()
    amp = 60.0 * subj["bvp_gain"] * np.interp(beats, np.arange(n_sec) + 0.5, p["bvp"])
    onset = np.round((beats + 0.22) * fs_b).astype(np.int64)
    idx = onset[:, None] + off[None, :]
    w = amp[:, None] * shape[None, :]
    ok = (idx >= 0) & (idx < n)
    sig = np.bincount(idx[ok], weights=w[ok], minlength=n)
    t = np.arange(n) / fs_b
    motion = _interp(p["acc"], t) * 300.0 * rng.standard_normal(n)
    return sig + motion + rng.normal(0, 1.0, n)


def _subject_params(rng):
    return dict(
        hr_offset=float(rng.normal(0, 6)), hr_react=float(rng.uniform(0.6, 1.3)),
        hrv_scale=float(rng.uniform(0.7, 1.4)), eda_scale=float(np.exp(rng.normal(0, 0.35))),
        eda_react=float(rng.uniform(0.5, 1.4)), scr_scale=float(rng.uniform(0.6, 1.5)),
        emg_scale=float(np.exp(rng.normal(0, 0.25))), emg_gain=float(rng.uniform(0.6, 1.6)),
        acc_scale=float(rng.uniform(0.6, 1.5)), resp_offset=float(rng.normal(0, 1.5)),
        ecg_amp=float(rng.uniform(0.7, 1.5)), ecg_noise=float(rng.uniform(0.01, 0.03)),
        bvp_gain=float(rng.uniform(0.6, 1.6)), temp_chest=float(rng.normal(34.0, 0.5)),
        temp_wrist=float(rng.normal(32.0, 0.8)), wrist_eda_ratio=float(rng.uniform(0.2, 0.6)),
        phase=float(rng.uniform(0, 2 * np.pi)),
        panas_bias=float(rng.normal(0, 0.35)), panas_react=float(rng.uniform(0.6, 1.3)),
        rot_chest=_rotation(rng, rng.uniform(0, 12)), rot_wrist=_rotation(rng, rng.uniform(0, 25)),
    )


def _signals(rng, label, spans, subj):
    fs = FS["chest"]
    n = label.size
    n_sec = n // fs
    p = _per_second_state(spans, n_sec, subj)
    t700 = np.arange(n) / fs
    # respiration: cumulative phase at the state's breathing rate
    rate_hz = _interp(p["resp"], t700) / 60.0
    phase = 2 * np.pi * np.cumsum(rate_hz) / fs + rng.uniform(0, 2 * np.pi)
    resp = 8.0 * np.sin(phase) * (1 + 0.1 * np.sin(phase / 7.3)) + rng.normal(0, 0.15, n)
    resp_phase_sec = phase[fs // 2::fs][:n_sec]
    beats = _beats(rng, p, resp_phase_sec, n_sec)
    ecg = _ecg(rng, beats, n, fs, subj, resp)
    emg = _emg(rng, p, n, fs, subj)
    acc = _chest_acc(rng, p, n, fs, subj)
    t_l, eda_l = _eda_latent(rng, p, n_sec, 28, subj["eda_scale"])
    eda = np.interp(t700, t_l, eda_l) + rng.normal(0, 0.002, n)
    temp = (subj["temp_chest"] + np.interp(t700, np.arange(n_sec) + 0.5, p["temp"])
            + rng.normal(0, 0.004, n))
    t4 = np.arange(n_sec * 4) / 4.0
    w_eda = np.round(subj["wrist_eda_ratio"] * np.interp(t4, t_l, eda_l)
                     + rng.normal(0, 0.003, t4.size), 6)
    w_eda = np.maximum(w_eda, 0.0)
    w_temp = np.round(subj["temp_wrist"] + 1.6 * _interp(p["temp"], t4)
                      + rng.normal(0, 0.01, t4.size), 2)
    chest = {"ACC": acc, "ECG": ecg[:, None], "EMG": emg[:, None], "EDA": eda[:, None],
             "Temp": temp[:, None], "Resp": resp[:, None]}
    wrist = {"ACC": _wrist_acc(rng, p, n_sec, subj),
             "BVP": _bvp(rng, beats, p, n_sec, subj)[:, None],
             "EDA": w_eda[:, None], "TEMP": w_temp[:, None]}
    return chest, wrist, p


# ---------------------------------------------------------------------------- questionnaire

def _scores(rng, profile_mean, subj, lo, hi, noise=0.45):
    x = lo + (np.asarray(profile_mean) - lo) * subj["panas_react"] + subj["panas_bias"]
    x = x + rng.normal(0, noise, x.shape)
    return np.clip(np.round(x), lo, hi).astype(int)


def _self_reports(rng, order, subj):
    panas, stai, dim = {}, {}, {}
    for cond in order:
        prof = _PANAS_PROFILE[_kind(cond)]
        items = WESAD_PANAS_TSST if cond == "TSST" else WESAD_PANAS
        mean = [prof.get(i, prof["_default"]) for i in items]
        panas[cond] = [int(v) for v in _scores(rng, mean, subj, 1, 5)]
        stai[cond] = [int(v) for v in _scores(rng, _STAI_PROFILE[_kind(cond)], subj, 1, 4, 0.4)]
        v, a = _DIM_PROFILE[_kind(cond)]
        dim[cond] = [int(np.clip(round(v + rng.normal(0, 0.8)), 1, 9)),
                     int(np.clip(round(a + rng.normal(0, 0.8)), 1, 9))]
    sssq = [int(v) for v in np.clip(np.round(rng.normal([3.2, 2.8, 2.5, 3.0, 2.2, 2.6], 0.7)),
                                    1, 5)]
    return panas, stai, dim, sssq


def _line(tag: str, values) -> str:
    vals = [str(v) for v in values]
    vals += [""] * (N_FIELDS - len(vals))
    return ";".join([tag] + vals)


def _quest_text(sid, order, quest_order, qstart, qend, panas_txt, stai, dim, sssq, colon):
    blank = ";" * N_FIELDS
    lines = [(f"# Subj:{sid}" + ";" * N_FIELDS) if colon else _line("# Subj", [sid]),
             _line("# ORDER", quest_order),
             _line("# START", [qstart[c] for c in quest_order]),
             _line("# END", [qend[c] for c in quest_order]),
             blank]
    lines += [_line("# PANAS", panas_txt[c]) for c in order] + [blank]
    lines += [_line("# STAI", stai[c]) for c in order] + [blank]
    lines += [_line("# DIM", dim[c]) for c in order] + [blank]
    lines += [_line("# SSSQ", sssq)]
    return "\n".join(lines) + "\n"


def _readme(rng, sid):
    age = int(rng.integers(21, 36))
    male = bool(rng.random() < 0.8)
    return (
        "### Personal information ###\n"
        f"Age: {age}\nHeight (cm): {int(rng.integers(160, 192))}\n"
        f"Weight (kg): {int(rng.integers(55, 95))}\nGender: {'male' if male else 'female'}\n"
        f"Dominant hand: {'right' if rng.random() < 0.85 else 'left'}\n\n"
        "### Study pre-requisites ###\n"
        f"Did you drink coffee today? {'YES' if rng.random() < 0.4 else 'NO'}\n"
        "Did you drink coffee within the last hour? NO\n"
        f"Did you do any sports today? {'YES' if rng.random() < 0.3 else 'NO'}\n"
        "Are you a smoker? NO\nDid you smoke within the last hour? NO\n"
        "Do you feel ill today? NO\n\n"
        "### Additional notes ###\n"
        f"Synthetic subject {sid} written by helo synth --layout wesad; "
        "no real person was recorded.\n")


# ------------------------------------------------------------------- Python-2 style pickle

def _p2_obj(obj, w) -> None:
    """Emit ``obj`` as Python 2.7 + numpy 1.x would pickle it at protocol 2 (``str`` payloads as
    BINSTRING, ``numpy.core.multiarray._reconstruct``), which is what the real WESAD files hold.
    Loads losslessly in Python 3 with ``encoding="latin1"``. Only what the WESAD dict needs."""
    import struct
    if obj is None:
        w(b"N")
    elif obj is True or obj is False:
        w(b"\x88" if obj else b"\x89")
    elif isinstance(obj, (int, np.integer)):
        v = int(obj)
        if not -2**31 <= v < 2**31:
            raise ValueError("integer too large for this minimal pickler")
        w(b"J" + struct.pack("<i", v))
    elif isinstance(obj, str):
        b = obj.encode("latin1")
        w((b"U" + bytes([len(b)]) if len(b) < 256 else b"T" + struct.pack("<I", len(b))) + b)
    elif isinstance(obj, bytes):
        w((b"U" + bytes([len(obj)]) if len(obj) < 256 else b"T" + struct.pack("<I", len(obj)))
          + obj)
    elif isinstance(obj, tuple):
        w(b"(")
        for item in obj:
            _p2_obj(item, w)
        w(b"t")
    elif isinstance(obj, dict):
        w(b"}")
        if obj:
            w(b"(")
            for k, v in obj.items():
                _p2_obj(k, w)
                _p2_obj(v, w)
            w(b"u")
    elif isinstance(obj, np.ndarray):
        a = np.ascontiguousarray(obj)
        order = a.dtype.byteorder
        order = "|" if a.dtype.itemsize == 1 else ("<" if order in "=<" else ">")
        w(b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n")
        _p2_obj((0,), w)
        _p2_obj("b", w)
        w(b"\x87R")  # TUPLE3, REDUCE
        w(b"(")  # state: (version, shape, dtype, fortran, data)
        _p2_obj(1, w)
        _p2_obj(tuple(a.shape), w)
        w(b"cnumpy\ndtype\n")
        _p2_obj((a.dtype.str[1:], 0, 1), w)
        w(b"R")
        _p2_obj((3, order, None, None, None, -1, -1, 0), w)
        w(b"b")
        _p2_obj(False, w)
        _p2_obj(a.tobytes(), w)
        w(b"tb")
    else:
        raise TypeError(f"cannot write {type(obj).__name__} in the WESAD pickle")


def write_py2_pickle(obj, path) -> None:
    """Atomically write ``obj`` (dicts, str, ints, numeric numpy arrays) as a Python-2 pickle."""
    with hio.atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(b"\x80\x02")
            _p2_obj(obj, fh.write)
            fh.write(b".")


# ------------------------------------------------------------------------------------ driver

def _config(preset: str, overrides: dict) -> dict:
    cfg = preset_config(PRESETS, _COMMON, preset, overrides)
    if cfg.get("reorder_subject") not in cfg["subjects"] and cfg["subjects"]:
        cfg["reorder_subject"] = cfg["subjects"][-1]
    return cfg


def _subject_number(sid: str) -> int:
    return int(sid.lstrip("Ss"))


def generate_wesad(out, *, seed: int = 0, preset: str = "default", progress: bool = True,
                   **overrides) -> dict:
    """Write a synthetic WESAD tree under ``out``; return (and write) the ground truth.

    ``overrides`` replace preset keys: ``subjects`` (list of ``"S<n>"``), ``durations`` (seconds
    per condition), ``jitter``, ``gap_s``/``read_s``/``lead_s`` (ranges in seconds),
    ``colon_subjects``, ``nan_subject``, ``reorder_subject``, ``quest_pad_s``. Each subject's
    random stream depends only on ``seed`` and the subject number, so a subject is identical
    whichever other subjects are generated with it.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = _config(preset, overrides)
    t0 = time.perf_counter()
    truth = {"generator": "helo synth --layout wesad", "seed": seed, "preset": preset,
             "config": cfg, "fs": dict(FS), "label_codes": LABEL_CODES,
             "panas_items": list(WESAD_PANAS), "panas_items_tsst": list(WESAD_PANAS_TSST),
             "subjects": {}}
    for sid in cfg["subjects"]:
        ts = time.perf_counter()
        rng = np.random.default_rng([seed, _subject_number(sid)])
        subj = _subject_params(rng)
        order = list(OTHER_ORDER if sid == cfg["reorder_subject"] else STANDARD_ORDER)
        label, spans = _timeline(rng, order, cfg)
        chest, wrist, _ = _signals(rng, label, spans, subj)
        panas, stai, dim, sssq = _self_reports(rng, order, subj)
        panas_txt = {c: [str(v) for v in panas[c]] for c in order}
        panas_truth = {c: [float(v) for v in panas[c]] for c in order}
        nan_at = None
        if sid == cfg["nan_subject"]:
            cond = order[int(rng.integers(1, len(order)))]
            k = int(rng.integers(0, len(panas[cond])))
            panas_txt[cond][k] = "Nan"
            panas_truth[cond][k] = None
            nan_at = {"condition": cond, "index": k,
                      "item": (WESAD_PANAS_TSST if cond == "TSST" else WESAD_PANAS)[k]}
        # quest START/END: whole seconds, a little wider than the label runs (like the real ones)
        fs = FS["chest"]
        reads = [r for r in ("sRead", "fRead") if r in spans]
        quest_order = order + reads
        qstart, qend, qs_s, qe_s = {}, {}, {}, {}
        for c in quest_order:
            a, b = spans[c]
            s = max(0, math.floor(a / fs) - int(rng.integers(cfg["quest_pad_s"][0],
                                                             cfg["quest_pad_s"][1] + 1)))
            e = math.ceil(b / fs) + int(rng.integers(cfg["quest_pad_s"][0],
                                                     cfg["quest_pad_s"][1] + 1))
            qstart[c], qend[c], qs_s[c], qe_s[c] = format_minsec(s), format_minsec(e), s, e
        folder = out / sid
        folder.mkdir(parents=True, exist_ok=True)
        data = {"subject": sid, "signal": {"chest": chest, "wrist": wrist}, "label": label}
        write_py2_pickle(data, folder / f"{sid}.pkl")
        colon = sid in cfg["colon_subjects"]
        hio.write_text(folder / f"{sid}_quest.csv",
                       _quest_text(sid, order, quest_order, qstart, qend, panas_txt, stai, dim,
                                   sssq, colon))
        hio.write_text(folder / f"{sid}_readme.txt", _readme(rng, sid))
        n = label.size
        truth["subjects"][sid] = {
            "order": order, "quest_order": quest_order,
            "spans": {c: list(spans[c]) for c in quest_order},
            "n_chest": n, "n_wrist": {k: n * FS[f"wrist_{k}"] // fs for k in wrist},
            "panas": panas_truth, "stai": stai, "dim": dim, "sssq": sssq,
            "quest_start": qstart, "quest_end": qend, "quest_start_s": qs_s, "quest_end_s": qe_s,
            "state": {c: dict(_STATE[_kind(c)]) for c in order}, "subject_params": subj,
            "quirks": {"subj_colon": colon, "nan": nan_at,
                       "other_order": order != STANDARD_ORDER},
        }
        if progress:
            print(f"[synth-wesad] {sid}: {n / fs:.0f} s, {time.perf_counter() - ts:.2f} s",
                  file=sys.stderr, flush=True)
    # the file holds what was generated, never how long it took, so the same seed gives
    # the same bytes
    hio.write_json(out / "_ground_truth.json", truth, significant=10)
    truth["elapsed_s"] = round(time.perf_counter() - t0, 3)
    return truth
