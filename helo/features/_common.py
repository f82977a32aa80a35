"""Small numeric helpers shared by the ECG, EDA, EMG and ACC feature modules (no I/O)."""
from __future__ import annotations

import numpy as np

from helo.features.windows import valid_windows, window_bounds, window_notes

CHUNK = 256  # windows per vectorised chunk (bounds memory at 700 Hz)


def _1d(x):
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 2:
        if x.shape[1] != 1:
            raise ValueError(f"expected one channel, got {x.shape[1]}")
        x = x[:, 0]
    return x


def _div(a, b):
    return a / b if b != 0 and np.isfinite(b) else 0.0


def _moments(v):
    """population skewness and excess kurtosis; 0 when constant"""
    d = v - v.mean()
    m2 = (d * d).mean()
    if m2 <= 1e-24:
        return 0.0, 0.0
    return (d ** 3).mean() / m2 ** 1.5, (d ** 4).mean() / m2 ** 2 - 3.0


def _slope(t, v):
    t = t - t.mean()
    den = (t * t).sum()
    return float((t * (v - v.mean())).sum() / den) if den > 0 else 0.0


def _mad(v):
    return 1.4826 * np.median(np.abs(v - np.median(v)))


def _periodogram(W, fs):
    """one-sided periodogram (density, boxcar, mean removed) of each row"""
    n = W.shape[1]
    D = W - W.mean(axis=1, keepdims=True)
    p = np.abs(np.fft.rfft(D, axis=1)) ** 2 / (fs * n)
    if n % 2 == 0:
        p[:, 1:-1] *= 2
    else:
        p[:, 1:] *= 2
    return np.fft.rfftfreq(n, 1.0 / fs), p


def usable_windows(x: np.ndarray, fs: float, ends, window_s: float, what: str):
    """``(ends, start, stop, ok)`` for per-window features of ``x`` (samples along axis 0):
    window bounds in samples and which windows lie inside the recording and hold no recorded fault
    (NaN; flat where the modality ``what`` says a flat window is a fault,
    :attr:`helo.features.ModalityInfo.flat_is_fault`; see
    :func:`helo.features.windows.window_notes`)."""
    from helo.features import flat_is_fault
    ends = np.asarray(ends, dtype=np.float64)
    n = x.shape[0]
    if ends.size == 0 or n == 0:
        empty = np.zeros(ends.size, np.int64)
        return ends, empty, empty, np.zeros(ends.size, bool)
    bad, _ = window_notes(x, fs, ends, window_s, what=what, flat_is_fault=flat_is_fault(what))
    start, stop = window_bounds(ends, fs, window_s)
    return ends, start, stop, valid_windows(start, stop, n) & ~bad
