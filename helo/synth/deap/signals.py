"""The synthetic DEAP signal model: the 40 channels of a span of a session, driven by the
participant's ratings of the video then playing.

A span's affect is ``(v, a)``: valence and arousal ratings mapped from 1..9 to -1..1 (0 between
trials). What carries it, with per-participant gains and noise:

* EEG (32 channels, Geneva order, microvolts): a 1/f background plus theta (6 Hz), alpha
  (10 Hz), beta (20 Hz) and gamma (38 Hz) bumps drawn in the frequency domain; arousal lowers
  alpha and raises theta and beta, valence raises gamma and makes the frontal alpha asymmetric
  (left lower, right higher for pleasant videos). ``band=(4, 45)`` keeps only that band and
  re-references to the common average, as DEAP's preprocessing does.
* zEMG (zygomaticus): bursts whose rate and size grow with positive valence; tEMG (trapezius):
  tone growing with arousal; hEOG saccade steps; vEOG blinks (more with arousal).
* GSR: skin conductance (tonic level and skin-conductance responses, both growing with arousal),
  written as skin resistance in ohm.
* Plethysmograph: pulses at a heart rate growing with arousal, amplitude shrinking with it.
* Respiration faster with arousal; skin temperature a little lower with it.

``ratings(...)`` draws the participants' ratings: every video has a centre in one of the four
valence-arousal quadrants (video ``k`` in quadrant ``(k - 1) % 4``: HAHV, LAHV, LALV, HALV),
shared by all participants, plus a participant's bias and noise; dominance and liking follow
valence. Values on 1..9 with two decimals.
"""
from __future__ import annotations

import math

import numpy as np

from helo.data.deap.common import CHANNELS, EEG_GENEVA

__all__ = ["subject_params", "span_channels", "ratings", "affect", "QUADRANTS"]

#: quadrant centres (valence, arousal) on 1..9: HAHV, LAHV, LALV, HALV
QUADRANTS = [(7.2, 7.0), (7.0, 3.0), (2.9, 3.2), (3.0, 7.1)]
_BANDS = [(6.0, 1.2), (10.0, 1.5), (20.0, 4.0), (38.0, 5.0)]  # centre, width (Hz)
_LEFT = [EEG_GENEVA.index(c) for c in ("Fp1", "AF3", "F3", "F7", "FC5")]
_RIGHT = [EEG_GENEVA.index(c) for c in ("Fp2", "AF4", "F4", "F8", "FC6")]
_POSTERIOR = [EEG_GENEVA.index(c) for c in ("P3", "P4", "Pz", "PO3", "PO4", "O1", "O2", "Oz")]
_ROW = {name: k for k, name in enumerate(CHANNELS)}


def affect(valence: float, arousal: float) -> tuple[float, float]:
    """Ratings on 1..9 -> ``(v, a)`` on -1..1."""
    return (valence - 5.0) / 4.0, (arousal - 5.0) / 4.0


def subject_params(rng: np.random.Generator) -> dict:
    gains = np.array([4.0, 8.0, 3.0, 1.2]) * np.exp(rng.normal(0, 0.15, size=(32, 4)))
    gains[_POSTERIOR, 1] *= 1.7
    return dict(bg=np.exp(rng.normal(math.log(8.0), 0.2, size=32)), expo=rng.uniform(0.9, 1.1),
                gains=gains, react=rng.uniform(0.7, 1.3), asym=rng.uniform(0.2, 0.4),
                offset=rng.normal(0, 1500, size=32), scl=rng.uniform(2.0, 8.0),
                hr=rng.uniform(62, 76), ppg=rng.uniform(600, 1400), resp=rng.uniform(300, 700),
                temp=rng.uniform(31.0, 34.0), emg=rng.uniform(2.0, 4.0))


def ratings(rng: np.random.Generator, video_rng, videos: list[int]) -> dict[int, list[float]]:
    """``{video: [valence, arousal, dominance, liking]}`` of one participant; ``video_rng(k)``
    gives video ``k``'s own generator (the same for every participant)."""
    bias = rng.normal(0, 0.5, size=2)
    react = rng.uniform(0.6, 1.2)
    out = {}
    for k in videos:
        cv, ca = QUADRANTS[(k - 1) % 4]
        jv, ja = video_rng(k).normal(0, 0.5, size=2)
        val = 5 + react * (cv + jv - 5) + bias[0] + rng.normal(0, 0.7)
        aro = 5 + react * (ca + ja - 5) + bias[1] + rng.normal(0, 0.7)
        dom = 5 + 0.5 * (val - 5) + rng.normal(0, 1.0)
        lik = 5 + 0.7 * (val - 5) + rng.normal(0, 0.9)
        out[k] = [round(float(np.clip(x, 1.0, 9.0)), 2) for x in (val, aro, dom, lik)]
    return out


def _eeg(rng, par: dict, n: int, fs: float, v: float, a: float, band) -> np.ndarray:
    f = np.fft.rfftfreq(n, 1 / fs)
    r = par["react"]
    mult = np.array([1 + 0.2 * r * a, 1 - 0.35 * r * a, 1 + 0.35 * r * a,
                     1 + 0.3 * r * v + 0.15 * r * a])
    g = par["gains"] * np.clip(mult, 0.2, None)[None, :]
    g[_LEFT, 1] *= 1 - par["asym"] * v
    g[_RIGHT, 1] *= 1 + par["asym"] * v
    shape = par["bg"][:, None] * 6 / (f[None, :] + 1.0) ** par["expo"]
    for b, (fc, bw) in enumerate(_BANDS):
        shape = shape + g[:, b:b + 1] * np.exp(-0.5 * ((f[None, :] - fc) / bw) ** 2)
    spec = (rng.standard_normal((32, f.size)) + 1j * rng.standard_normal((32, f.size))) * shape
    spec[:, 0] = 0
    if band is not None:
        spec[:, (f < band[0]) | (f > band[1])] = 0
    x = np.fft.irfft(spec, n=n, axis=1) * math.sqrt(n) * 2.8
    if band is not None:
        x -= x.mean(axis=0, keepdims=True)  # common average reference
    else:
        x += par["offset"][:, None]
    return x


def _bursts(rng, n: int, fs: float, rate: float, dur=(0.3, 0.8)) -> np.ndarray:
    """0..1 envelope of bursts starting at Poisson times (``rate`` per second)."""
    env = np.zeros(n)
    k = rng.poisson(rate * n / fs)
    for s, d in zip(rng.integers(0, max(n, 1), size=k), rng.uniform(*dur, size=k)):
        m = max(1, int(d * fs))
        env[s:s + m] = np.maximum(env[s:s + m], np.hanning(m + 2)[1:-1][:len(env[s:s + m])])
    return env


def _gsr(rng, par: dict, n: int, fs: float, a: float) -> np.ndarray:
    t = np.arange(n) / fs
    tonic = par["scl"] * (1 + 0.25 * par["react"] * a) + 0.2 * np.sin(2 * np.pi * t / 40)
    k = rng.poisson((2 + 3 * (a + 1)) / 60 * n / fs)
    drive = np.zeros(n)
    np.add.at(drive, rng.integers(0, max(n, 1), size=k),
              rng.uniform(0.05, 0.4, size=k) * (1 + 0.5 * a))
    # each response exp(-t / 3 s) - exp(-t / 0.7 s), peak-normalised, as two first-order filters
    from scipy.signal import lfilter
    decay, rise = np.exp(-1 / (fs * 3.0)), np.exp(-1 / (fs * 0.7))
    t_peak = math.log(3.0 / 0.7) / (1 / 0.7 - 1 / 3.0)
    peak = math.exp(-t_peak / 3.0) - math.exp(-t_peak / 0.7)
    phasic = (lfilter([1.0], [1.0, -decay], drive) - lfilter([1.0], [1.0, -rise], drive)) / peak
    conductance = np.maximum(tonic + phasic + rng.normal(0, 0.005, n), 0.3)  # microsiemens
    return 1e6 / conductance  # ohm


def _ppg(rng, par: dict, n: int, fs: float, a: float) -> np.ndarray:
    hr = par["hr"] + 10 * par["react"] * a
    beats, t = [], rng.uniform(0, 0.5)
    while t < n / fs:
        beats.append(t)
        t += 60 / hr * (1 + rng.normal(0, 0.03))
    tk = np.arange(int(0.8 * fs)) / fs
    pulse = np.exp(-0.5 * ((tk - 0.15) / 0.06) ** 2) + 0.4 * np.exp(-0.5 * ((tk - 0.4) / 0.08) ** 2)
    x = np.zeros(n + pulse.size)
    for b in beats:
        s = int(b * fs)
        x[s:s + pulse.size] += pulse
    tt = np.arange(n) / fs
    amp = par["ppg"] * (1 - 0.15 * a)
    return amp * x[:n] + 0.1 * amp * np.sin(2 * np.pi * 0.1 * tt) + rng.normal(0, 0.01 * amp, n)


def span_channels(rng: np.random.Generator, par: dict, n: int, fs: float, v: float, a: float,
                  *, band=(4.0, 45.0)) -> np.ndarray:
    """``(n, 40)`` float64 in :data:`~helo.data.deap.common.CHANNELS` order (see the module
    doc); ``band`` None: unfiltered EEG with electrode offsets, as a raw recording has."""
    out = np.empty((n, len(CHANNELS)))
    out[:, :32] = _eeg(rng, par, n, fs, v, a, band).T
    t = np.arange(n) / fs
    steps = np.cumsum(rng.normal(0, 20, n) * (rng.random(n) < 1 / fs))
    out[:, _ROW["hEOG"]] = steps - steps.mean() + rng.normal(0, 3, n)
    out[:, _ROW["vEOG"]] = 150 * _bursts(rng, n, fs, 0.25 * (1 + 0.3 * a), (0.15, 0.3)) \
        + rng.normal(0, 3, n)
    pos = max(v, 0.0)
    out[:, _ROW["zEMG"]] = rng.normal(0, 1, n) * (par["emg"] + 15 * (0.5 + pos) * _bursts(
        rng, n, fs, 0.1 + 0.6 * pos))
    out[:, _ROW["tEMG"]] = rng.normal(0, 1, n) * par["emg"] * (1.2 + 0.4 * par["react"] * a)
    out[:, _ROW["GSR"]] = _gsr(rng, par, n, fs, a)
    out[:, _ROW["Respiration"]] = par["resp"] * np.sin(
        2 * np.pi * (0.25 + 0.06 * a) * t + rng.uniform(0, 6.28)) + rng.normal(0, 5, n)
    out[:, _ROW["Plethysmograph"]] = _ppg(rng, par, n, fs, a)
    out[:, _ROW["Temperature"]] = par["temp"] - 0.3 * a + 0.05 * np.sin(2 * np.pi * t / 90) \
        + rng.normal(0, 0.002, n)
    return out
