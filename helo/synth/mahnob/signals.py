"""Self-reports and the signals of one synthetic MAHNOB-HCI session.

Self-reports: each clip has a nominal valence and arousal shared by all participants; a
participant's rating adds a personal bias and noise, rounded to 1..9. Control follows valence,
predictability is noise around the middle; the felt-emotion keyword is the one whose quadrant
of the valence/arousal plane the ratings fall in (:func:`felt_emotion`).

From the written ratings, ``v = (valence - 5) / 4`` in [-1, 1] and ``a = (arousal - 1) / 8`` in
[0, 1] give the state ``pos = max(v, 0)``, ``neg = max(-v, 0)``, ``aro = a`` during the stimulus
(neutral, all zero, in the baselines), which drives:

* EEG (32 channels, microvolts): per-channel 1/f background plus delta/theta/alpha/beta/gamma
  bumps; alpha falls and beta rises with arousal, theta rises and gamma falls with negative
  affect, gamma rises with positive affect, frontal alpha is lower on the left and higher on the
  right with ``pos - neg`` (frontal asymmetry);
* ECG (EXG1-3, microvolts): a P-QRS-T template on a beat train whose rate rises with arousal and
  negative affect, with AR(1) beat-to-beat variability; the three electrodes see it with
  different gains and signs, plus baseline wander, offsets and noise;
* GSR (skin conductance, written as resistance in Ohm): a tonic level rising with arousal and
  skin-conductance responses whose rate and size grow with it;
* respiration, skin temperature and the unused channels: plausible values, not driven.

Every effect size is drawn per participant, so leave-one-subject-out is harder than within.
"""
from __future__ import annotations

import math

import numpy as np

from helo.data.mahnob.protocol import EEG_CHANNELS
from helo.synth.mahnob.config import CLIPS

_BANDS = [(2.0, 1.0), (6.0, 1.2), (10.0, 1.5), (20.0, 4.0), (40.0, 5.0)]  # centre, width (Hz)
_LEFT = [EEG_CHANNELS.index(c) for c in ("Fp1", "AF3", "F3", "F7")]
_RIGHT = [EEG_CHANNELS.index(c) for c in ("Fp2", "AF4", "F4", "F8")]
_POSTERIOR = [EEG_CHANNELS.index(c) for c in ("P3", "P7", "PO3", "O1", "Oz", "Pz", "P4", "P8",
                                              "PO4", "O2")]


def rng(seed: int, subject: int, stream: int) -> np.random.Generator:
    """The random stream ``stream`` of participant ``subject``: independent of the others."""
    return np.random.default_rng([seed, subject, stream])


def clip_affect(seed: int) -> dict[str, tuple[float, float]]:
    """Nominal ``(v in [-1, 1], a in [0, 1])`` of every clip, shared by all participants."""
    r = np.random.default_rng([seed, 7919])
    v = r.uniform(-0.9, 0.9, len(CLIPS))
    a = r.uniform(0.1, 0.95, len(CLIPS))
    return {c: (float(v[i]), float(a[i])) for i, c in enumerate(CLIPS)}


def felt_emotion(valence: int, arousal: int, r: np.random.Generator) -> int:
    """A ``feltEmo`` code consistent with the ratings' quadrant (chosen at random within it)."""
    if valence >= 6:
        options = [4, 11] if arousal >= 5 else [4, 0]
    elif valence <= 4:
        options = [3, 12, 1, 2] if arousal >= 6 else [5, 2]
    else:
        options = [0, 6]
    return int(options[int(r.integers(0, len(options)))])


def ratings(seed: int, subject: int, clips: list[str]) -> list[dict]:
    """The self-reports of a participant for the clips in presentation order."""
    r = rng(seed, subject, 1)
    nominal = clip_affect(seed)
    bias_v, bias_a = r.normal(0, 0.6), r.normal(0, 0.6)
    out = []
    for c in clips:
        v0, a0 = nominal[c]
        val = int(np.clip(round(5 + 4 * v0 + bias_v + r.normal(0, 0.7)), 1, 9))
        aro = int(np.clip(round(1 + 8 * a0 + bias_a + r.normal(0, 0.7)), 1, 9))
        ctrl = int(np.clip(round(5 + 2 * (val - 5) / 4 + r.normal(0, 1.0)), 1, 9))
        pred = int(np.clip(round(5 + r.normal(0, 1.5)), 1, 9))
        out.append(dict(valence=val, arousal=aro, control=ctrl, predictability=pred,
                        feltEmo=felt_emotion(val, aro, r)))
    return out


def state(rep: dict | None) -> tuple[float, float, float]:
    """``(pos, neg, aro)`` of a self-report (neutral without one)."""
    if rep is None:
        return 0.0, 0.0, 0.0
    v = (rep["valence"] - 5) / 4.0
    return max(v, 0.0), max(-v, 0.0), (rep["arousal"] - 1) / 8.0


def _lag(x: np.ndarray, fs: float, tau_s: float) -> np.ndarray:
    """First-order low-pass (time constant ``tau_s``) of ``x`` along its first axis, starting
    at rest at ``x[0]``."""
    from scipy.signal import lfilter
    alpha = 1.0 - math.exp(-1.0 / (tau_s * fs))
    x = np.asarray(x, dtype=np.float64)
    zi = (1.0 - alpha) * x[:1]
    y, _ = lfilter([alpha], [1.0, alpha - 1.0], x, axis=0, zi=zi)
    return y


def _drive(n: int, span: tuple[int, int], st: tuple[float, float, float]) -> np.ndarray:
    """``(n, 3)`` state per sample: the stimulus' inside ``span``, neutral elsewhere."""
    out = np.zeros((n, 3))
    out[span[0]:span[1]] = st
    return out


# ------------------------------------------------------------------------------------ EEG

def eeg_params(seed: int, subject: int) -> dict:
    r = rng(seed, subject, 10)
    gains = np.array([6.0, 4.0, 6.0, 2.5, 1.2]) * np.exp(r.normal(0, 0.15, (32, 5)))
    gains[_POSTERIOR, 2] *= 1.8
    eff = np.array([[0.0, 0.05, -0.05],     # delta: pos, neg, aro
                    [0.0, 0.30, 0.05],      # theta
                    [0.10, -0.05, -0.35],   # alpha
                    [0.05, 0.30, 0.40],     # beta
                    [0.45, -0.15, 0.20]])   # gamma
    eff = eff * r.uniform(0.6, 1.4) + r.normal(0, 0.05, eff.shape)
    return dict(bg=np.exp(r.normal(math.log(8.0), 0.25, 32)), expo=r.uniform(0.85, 1.15),
                gains=gains, eff=eff, asym=r.uniform(0.2, 0.45), line=r.uniform(0.2, 1.0))


def band_gains(par: dict, pos: float, neg: float, aro: float) -> np.ndarray:
    """(32, 5) band amplitudes of a participant in a state."""
    mult = np.clip(1.0 + par["eff"] @ np.array([pos, neg, aro]), 0.2, None)
    g = par["gains"] * mult[None, :]
    g[_LEFT, 2] *= 1 - par["asym"] * (pos - neg)
    g[_RIGHT, 2] *= 1 + par["asym"] * (pos - neg)
    return g


def _eeg_part(n: int, fs: int, par: dict, st: tuple, r: np.random.Generator) -> np.ndarray:
    f = np.fft.rfftfreq(n, 1 / fs)
    g = band_gains(par, *st) * np.exp(r.normal(0, 0.08, (1, 5)))
    shape = par["bg"][:, None] / (f[None, :] + 1.0) ** par["expo"] * 6
    for b, (fc, bw) in enumerate(_BANDS):
        shape = shape + g[:, b:b + 1] * np.exp(-0.5 * ((f[None, :] - fc) / bw) ** 2)
    spec = (r.standard_normal((32, f.size)) + 1j * r.standard_normal((32, f.size))) * shape
    spec[:, 0] = 0
    x = np.fft.irfft(spec, n=n, axis=1) * math.sqrt(n) * 0.35
    x += par["line"] * np.sin(2 * np.pi * 50 * np.arange(n) / fs + r.uniform(0, 6.28))[None, :]
    return x.T


def eeg(seed: int, subject: int, stream: int, n: int, fs: int, span: tuple[int, int],
        st: tuple[float, float, float]) -> np.ndarray:
    """(n, 32) microvolts: baseline, stimulus (state ``st``), baseline."""
    par = eeg_params(seed, subject)
    r = rng(seed, subject, stream)
    cuts = [0, span[0], span[1], n]
    states = [(0.0, 0.0, 0.0), st, (0.0, 0.0, 0.0)]
    parts = [_eeg_part(b - a, fs, par, s, r) for a, b, s in zip(cuts[:-1], cuts[1:], states)
             if b > a]
    return np.concatenate(parts, axis=0)


# ------------------------------------------------------------------------------------ ECG

def _pqrst(fs: int) -> np.ndarray:
    t = np.arange(int(0.9 * fs)) / fs - 0.3  # R at 0.3 s into the kernel
    waves = [(150, -0.17, 0.025), (-120, -0.03, 0.008), (1200, 0.0, 0.01), (-300, 0.03, 0.01),
             (350, 0.25, 0.04)]  # microvolts, centre (s), width (s)
    return sum(amp * np.exp(-0.5 * ((t - c) / w) ** 2) for amp, c, w in waves)


def ecg(seed: int, subject: int, stream: int, n: int, fs: int, span: tuple[int, int],
        st: tuple[float, float, float]) -> tuple[np.ndarray, list[float]]:
    """``((n, 3) EXG1-3 in microvolts, R-peak times in s)``."""
    par = rng(seed, subject, 20)
    hr0, gain = par.uniform(62, 78), par.uniform(10, 20)
    rr_sd = par.uniform(0.02, 0.05)
    leads = np.array([-0.5, 0.35, 1.0]) * par.uniform(0.8, 1.2, 3)
    offsets = par.uniform(-2000, 2000, 3)
    r = rng(seed, subject, stream)
    d = _lag(_drive(n, span, st), fs, 2.0)
    hr = hr0 + gain * (0.7 * d[:, 2] + 0.3 * d[:, 1])
    beats, t, e = [], r.uniform(0.1, 0.6), 0.0
    while t < n / fs:
        e = 0.5 * e + r.normal(0, 1.0)
        beats.append(t)
        t += 60.0 / hr[min(int(t * fs), n - 1)] + rr_sd * e
    imp = np.zeros(n + fs)
    np.add.at(imp, (np.asarray(beats) * fs).astype(int), 1.0)
    kern = _pqrst(fs)
    shift = int(0.3 * fs)
    clean = np.convolve(imp, kern)[shift:shift + n]
    tt = np.arange(n) / fs
    wander = 80 * np.sin(2 * np.pi * 0.2 * tt + r.uniform(0, 6.28))
    x = clean[:, None] * leads[None, :] + offsets[None, :] + wander[:, None]
    x += r.normal(0, 8.0, (n, 3))
    return x, [float(b) for b in beats]


# ------------------------------------------------------------------------------------ GSR

def conductance(seed: int, subject: int, stream: int, n: int, fs: int, span: tuple[int, int],
                st: tuple[float, float, float]) -> np.ndarray:
    """(n,) skin conductance in microsiemens."""
    par = rng(seed, subject, 30)
    s0, tonic_gain = par.uniform(2.0, 8.0), par.uniform(0.15, 0.4)
    base_rate, rate_gain = par.uniform(1.0, 3.0), par.uniform(4.0, 10.0)
    amp0 = par.uniform(0.05, 0.3)
    r = rng(seed, subject, stream)
    d = _drive(n, span, st)
    drive = 0.8 * d[:, 2] + 0.2 * d[:, 1]
    tonic = s0 * (1 + tonic_gain * _lag(drive, fs, 6.0)) + np.cumsum(r.normal(0, 2e-4, n))
    onsets = np.flatnonzero(r.random(n) < (base_rate + rate_gain * drive) / 60.0 / fs)
    kt = np.arange(int(15 * fs)) / fs
    kern = np.exp(-kt / 3.5) - np.exp(-kt / 0.7)
    kern /= kern.max()
    imp = np.zeros(n)
    imp[onsets] = amp0 * (1 + 1.5 * drive[onsets]) * r.uniform(0.5, 1.5, onsets.size)
    return tonic + np.convolve(imp, kern)[:n] + r.normal(0, 0.003, n)


# ------------------------------------------------------------------------------------ others

def other_channels(seed: int, subject: int, stream: int, n: int, fs: int) -> dict[str, np.ndarray]:
    """The channels the reader does not use: EXG4-8, GSR2, Erg1/2 (noise), Resp (microvolts),
    Temp (degrees Celsius)."""
    r = rng(seed, subject, stream)
    tt = np.arange(n) / fs
    out = {f"EXG{k}": r.normal(0, 20.0, n) for k in range(4, 9)}
    out["GSR2"] = np.zeros(n)
    out["Erg1"], out["Erg2"] = r.normal(0, 5.0, n), r.normal(0, 5.0, n)
    out["Resp"] = 800 * np.sin(2 * np.pi * r.uniform(0.2, 0.3) * tt) + r.normal(0, 20, n)
    out["Temp"] = r.uniform(31.0, 34.0) + 0.01 * np.cumsum(r.normal(0, 0.01, n))
    return out


__all__ = ["rng", "clip_affect", "felt_emotion", "ratings", "state", "eeg_params", "band_gains",
           "eeg", "ecg", "conductance", "other_channels"]
