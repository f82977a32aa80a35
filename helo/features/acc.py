"""ACC (12) features per window (HeLo Table 7, WESAD chest).

All on windows ``[end - window_s, end)`` of the shared grid; whole-trial work is done once
per trial and the windows only select from it.

ACC (12)
    Per axis x, y, z: ``acc_<axis>_{mean, std, absint, peak_freq}`` (absint = sum |a| / fs;
    peak frequency = arg max of the periodogram of the mean-removed window, DC excluded).
    Table 7's "summed over all axes" mean and absolute integral are sums of the per-axis ones
    (exactly redundant), so the count 12 = 4 x 3 keeps the per-axis set.

A constant window (a still body) is a measurement, not a fault
(:attr:`helo.features.ModalityInfo.flat_is_fault` is False for ``acc``): an axis constant at
``c`` over the window gives mean ``c``, std exactly 0, absint ``|c| * window_s`` and peak
frequency 0 (no oscillation: the arg max of an all-zero periodogram would be an arbitrary bin).
"""
from __future__ import annotations

import numpy as np

from helo.features._common import CHUNK, _periodogram, usable_windows
from helo.features.windows import take_windows

ACC_NAMES = [f"acc_{a}_{k}" for a in "xyz" for k in ("mean", "std", "absint", "peak_freq")]
assert len(ACC_NAMES) == 12


def acc_features(x, fs, ends, window_s: float = 5.0):
    """12 ACC features per window from ``(n, 3)`` x/y/z; returns ``(X, names)``."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != 3:
        raise ValueError(f"acc: expected (n, 3), got {x.shape}")
    ends, start, stop, ok = usable_windows(x, fs, ends, window_s, "acc")
    X = np.full((ends.size, 12), np.nan)
    if not ok.any():
        return X, list(ACC_NAMES)
    n = int(round(window_s * fs))
    for idx in np.array_split(np.flatnonzero(ok), max(1, int(np.ceil(ok.sum() / CHUNK)))):
        if idx.size == 0:
            continue
        for k in range(3):
            W = take_windows(x[:, k], start[idx], n)
            f, p = _periodogram(W, fs)
            flat = np.ptp(W, axis=1) == 0  # exactly constant: no spread, no oscillation
            X[idx, 4 * k:4 * k + 4] = np.column_stack([
                W.mean(axis=1), np.where(flat, 0.0, W.std(axis=1)), np.abs(W).sum(axis=1) / fs,
                np.where(flat, 0.0, f[np.argmax(p[:, 1:], axis=1) + 1])])
    return X, list(ACC_NAMES)


def compute(data, fs, ends, params: dict, channels=None):
    return acc_features(data, fs, ends, float(params.get("window_s", 5.0)))


def names(params: dict | None = None, channels=None) -> list[str]:
    """The names :func:`compute` returns (:data:`ACC_NAMES`; they do not depend on the params)."""
    return list(ACC_NAMES)
