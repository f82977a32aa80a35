"""PPG features per window: the 27 statistics of :mod:`helo.features.physio` (HeLo Table 6)."""
from __future__ import annotations

from helo.features.physio import statistics


def ppg_features(x, fs, ends, window_s: float = 5.0):
    """27 PPG features per window (see module doc)."""
    return statistics(x, fs, ends, window_s=window_s, prefix="ppg", psd=False)


def compute(data, fs, ends, params: dict, channels=None):
    return ppg_features(data, fs, ends, float(params.get("window_s", 5.0)))
