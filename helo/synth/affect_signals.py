"""Signals that carry a valence/arousal state, for the synthetic DREAMER and AMIGOS releases.

The state of a trial is ``(v, a)`` in ``[-1, 1]^2``: the trial's written valence and arousal
ratings centred on their scale's midpoint and divided by its half-range. Each generator takes a
per-subject parameter dict (:func:`subject_params`), so a subject differs from the others in
level and reactivity and leave-one-subject-out is harder than within-subject.

* :func:`eeg` -- ``(n, channels)`` microvolts: per channel, white noise shaped in the frequency
  domain to a ``1/f`` background plus bumps at theta (6 Hz), alpha (10 Hz), beta (20 Hz) and
  gamma (38 Hz) whose amplitudes follow the state: alpha falls and beta rises with arousal,
  theta rises as valence falls, gamma rises with valence, and frontal alpha is lower on the left
  than on the right as valence rises (frontal asymmetry). One FFT per channel.
* :func:`ecg` -- ``(n, leads)`` millivolts: a PQRST template placed on beat times whose rate
  rises with arousal (``hr = hr0 + 14 a`` bpm) with AR(1) beat-to-beat variability; the second
  lead is the first with another gain and its own noise.
* :func:`gsr` -- ``(n,)`` microsiemens: a tonic level rising with arousal plus skin-conductance
  responses (bi-exponential) at ``2 + 3 (a + 1)`` per minute.
"""
from __future__ import annotations

import numpy as np

__all__ = ["subject_params", "eeg", "ecg", "gsr", "state"]

_BANDS = {"theta": 6.0, "alpha": 10.0, "beta": 20.0, "gamma": 38.0}
_LEFT_FRONTAL = {"AF3", "F7", "F3", "FC5"}
_RIGHT_FRONTAL = {"AF4", "F8", "F4", "FC6"}


def state(valence: float, arousal: float, scale: tuple[float, float]) -> tuple[float, float]:
    """Ratings on ``scale`` -> ``(v, a)`` in ``[-1, 1]`` (NaN -> 0: the neutral state)."""
    lo, hi = scale
    mid, half = (lo + hi) / 2, (hi - lo) / 2

    def c(x):
        return 0.0 if not np.isfinite(x) else float(np.clip((x - mid) / half, -1, 1))
    return c(valence), c(arousal)


def subject_params(rng: np.random.Generator) -> dict:
    """A subject's levels and reactivities (drawn from ``rng``)."""
    return dict(eeg_gain=float(np.exp(rng.normal(0, 0.2))),
                eeg_react=float(rng.uniform(0.6, 1.4)),
                hr0=float(rng.normal(72, 6)), hr_react=float(rng.uniform(0.6, 1.4)),
                hrv=float(rng.uniform(0.02, 0.05)), ecg_amp=float(rng.uniform(0.8, 1.4)),
                gsr0=float(np.exp(rng.normal(1.0, 0.3))), gsr_react=float(rng.uniform(0.5, 1.5)),
                scr_amp=float(rng.uniform(0.05, 0.2)))


def eeg(rng: np.random.Generator, n: int, fs: float, channels: list[str], v: float, a: float,
        subj: dict) -> np.ndarray:
    """``(n, len(channels))`` EEG in microvolts for the state ``(v, a)`` (see the module doc)."""
    if n == 0:
        return np.zeros((0, len(channels)))
    r = subj["eeg_react"]
    f = np.fft.rfftfreq(n, 1.0 / fs)
    background = 1.0 / np.maximum(f, 0.5)
    out = np.empty((n, len(channels)))
    for k, ch in enumerate(channels):
        gains = {"theta": np.exp(-0.35 * r * v), "alpha": np.exp(-0.5 * r * a),
                 "beta": np.exp(0.45 * r * a), "gamma": np.exp(0.35 * r * v)}
        if ch in _LEFT_FRONTAL:
            gains["alpha"] *= np.exp(-0.3 * r * v)
        elif ch in _RIGHT_FRONTAL:
            gains["alpha"] *= np.exp(0.3 * r * v)
        shape = background.copy()
        for band, centre in _BANDS.items():
            shape += 1.5 * gains[band] * np.exp(-0.5 * ((f - centre) / 1.5) ** 2)
        spec = np.fft.rfft(rng.standard_normal(n)) * shape
        x = np.fft.irfft(spec, n)
        out[:, k] = 8.0 * subj["eeg_gain"] * x / (x.std() + 1e-12)
    return out


def _beats(rng: np.random.Generator, seconds: float, hr: float, hrv: float) -> np.ndarray:
    t, ar, out = float(rng.uniform(0.05, 0.5)), 0.0, []
    while t < seconds:
        out.append(t)
        ar = 0.7 * ar + rng.normal(0.0, hrv)
        t += float(np.clip(60.0 / hr + ar, 0.35, 1.6))
    return np.asarray(out)


def ecg(rng: np.random.Generator, n: int, fs: float, a: float, subj: dict,
        leads: int = 2) -> np.ndarray:
    """``(n, leads)`` ECG in millivolts, heart rate rising with arousal."""
    hr = subj["hr0"] + 14.0 * subj["hr_react"] * a
    beats = _beats(rng, n / fs, hr, subj["hrv"])
    off = np.arange(int(-0.25 * fs), int(0.5 * fs))
    tt = off / fs
    wave = (0.12 * np.exp(-((tt + 0.16) / 0.025) ** 2) - 0.1 * np.exp(-((tt + 0.03) / 0.01) ** 2)
            + 1.1 * np.exp(-(tt / 0.012) ** 2) - 0.2 * np.exp(-((tt - 0.03) / 0.012) ** 2)
            + 0.3 * np.exp(-((tt - 0.25) / 0.05) ** 2))
    idx = np.round(beats * fs).astype(np.int64)[:, None] + off[None, :]
    ok = (idx >= 0) & (idx < n)
    base = np.bincount(idx[ok], weights=np.broadcast_to(wave, idx.shape)[ok], minlength=n)
    t = np.arange(n) / fs
    drift = 0.05 * np.sin(2 * np.pi * 0.2 * t + rng.uniform(0, 2 * np.pi))
    out = np.empty((n, leads))
    for k in range(leads):
        gain = subj["ecg_amp"] * (1.0 if k == 0 else 0.7)
        out[:, k] = gain * base + drift + rng.normal(0.0, 0.02, n)
    return out


def gsr(rng: np.random.Generator, n: int, fs: float, a: float, subj: dict) -> np.ndarray:
    """``(n,)`` skin conductance in microsiemens, tonic level and SCR rate rising with arousal."""
    seconds = n / fs
    t = np.arange(n) / fs
    tonic = subj["gsr0"] * (1.0 + 0.25 * subj["gsr_react"] * a) + 0.05 * np.sin(
        2 * np.pi * t / 60.0 + rng.uniform(0, 2 * np.pi))
    rate = (2.0 + 3.0 * (a + 1.0)) / 60.0
    onsets = np.cumsum(rng.exponential(1.0 / rate, size=int(seconds * rate * 3) + 2))
    phasic = np.zeros(n)
    for onset in onsets[onsets < seconds]:
        dt = np.clip(t - onset, 0.0, None)
        phasic += subj["scr_amp"] * (np.exp(-dt / 4.0) - np.exp(-dt / 0.75)) * (t >= onset)
    return tonic + phasic + rng.normal(0.0, 0.002, n)
