"""Synthetic EEG, GSR and PPG of a session, driven by the trials' affect."""
from __future__ import annotations

import math

import numpy as np

from helo.data.dmer.protocol import EEG_CHANNELS
from helo.synth.dmer.config import DmerSynthConfig
from helo.synth.dmer.plan import _affect_at, _index, _lag, _Plan
from helo.synth.dmer.truth import _rng


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
    kern = (np.exp(-0.5 * ((kt - 0.15) / 0.06) ** 2)
            + 0.35 * np.exp(-0.5 * ((kt - 0.42) / 0.09) ** 2))
    imp = np.zeros(n)
    np.add.at(imp, np.minimum((beats * fs).astype(int), n - 1), 1.0)
    x = np.convolve(imp, kern)[:n] * amp
    tt = np.arange(n) / fs
    x += offset + 0.15 * amp * np.sin(2 * np.pi * 0.25 * tt + r.uniform(0, 6.28))
    return x + r.normal(0, 0.01 * amp, n)
