"""GSR features per window: the 28 statistics of :mod:`helo.features.physio` (HeLo Table 6)."""
from __future__ import annotations

from helo.features.physio import feature_names, statistics

PREFIX, PSD = "gsr", True  # physio statistics: name prefix, Welch 0-2 Hz power


def gsr_features(x, fs, ends, window_s: float = 5.0):
    """28 GSR features per window (see module doc)."""
    return statistics(x, fs, ends, window_s=window_s, prefix=PREFIX, psd=PSD)


def compute(data, fs, ends, params: dict, channels=None):
    return gsr_features(data, fs, ends, float(params.get("window_s", 5.0)))


def names(params: dict | None = None, channels=None) -> list[str]:
    """The 28 names :func:`compute` returns (they do not depend on the params)."""
    return feature_names(PREFIX, PSD)
