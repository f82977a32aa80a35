"""Statistics of a physiological signal per window, shared by GSR (28) and PPG (27)
(HeLo Table 6, after the AuBT toolbox).

Per window ``[end - window_s, end)`` (5 s, 1 s step on the shared grid: 80 % overlap):

time domain, for the signal ``s``, its first difference ``d1`` and second difference ``d2``
(differences taken inside the window, in signal units per sample), 7 each::

    median, mean, std (ddof 0), min, max, minratio, maxratio

``minratio`` / ``maxratio`` ("ratio of minimum / maximum", as in AuBT's ``minRatio``/``maxRatio``):
the number of strict local minima (maxima) of the series, ``x[i] < x[i-1] and x[i] < x[i+1]``
(``>`` for maxima) over interior samples, divided by the length of the series. A plain
"fraction of samples at the minimum" would be a constant 1/n for any continuous signal.

frequency domain, of the magnitude spectrum ``|rfft(s)|`` of the raw window (DC bin included,
no taper), 6::

    median, mean, std, max, min, range

GSR adds ``psd_0_2hz``: the integral over [0, 2] Hz of the Welch PSD of the window
(``scipy.signal.welch`` defaults: Hann, ``nperseg = min(256, n)``, 50 % overlap, constant detrend,
density scaling), i.e. ``sum(Pxx[f <= 2]) * df``.

21 + 6 = 27 for PPG, + 1 = 28 for GSR. Names ``gsr_mean``, ``gsr_d1_mean``, ``gsr_d2_mean``,
``gsr_fft_mean``, ``gsr_psd_0_2hz`` (``ppg_...`` likewise). The raw signal is used, no filtering
(the paper says "raw"). Windows past the recording, holding NaN or entirely flat are NaN.
"""
from __future__ import annotations

import numpy as np

from helo.features.windows import take_windows, valid_windows, window_bounds, window_notes

TIME_STATS = ["median", "mean", "std", "min", "max", "minratio", "maxratio"]
FFT_STATS = ["median", "mean", "std", "max", "min", "range"]


def feature_names(prefix: str, psd: bool) -> list[str]:
    names = []
    for series in ("", "d1_", "d2_"):
        names += [f"{prefix}_{series}{s}" for s in TIME_STATS]
    names += [f"{prefix}_fft_{s}" for s in FFT_STATS]
    if psd:
        names.append(f"{prefix}_psd_0_2hz")
    return names


def time_stats(W: np.ndarray) -> np.ndarray:
    """The 7 time statistics of each row of ``W`` ``(n_windows, n)`` -> ``(n_windows, 7)``."""
    n = W.shape[1]
    out = np.empty((W.shape[0], 7))
    out[:, 0] = np.median(W, axis=1)
    out[:, 1] = W.mean(axis=1)
    out[:, 2] = W.std(axis=1)
    out[:, 3] = W.min(axis=1)
    out[:, 4] = W.max(axis=1)
    if n >= 3:
        mid, left, right = W[:, 1:-1], W[:, :-2], W[:, 2:]
        out[:, 5] = ((mid < left) & (mid < right)).sum(axis=1) / n
        out[:, 6] = ((mid > left) & (mid > right)).sum(axis=1) / n
    else:
        out[:, 5:7] = 0.0
    return out


def fft_stats(W: np.ndarray) -> np.ndarray:
    mag = np.abs(np.fft.rfft(W, axis=1))
    mx, mn = mag.max(axis=1), mag.min(axis=1)
    return np.column_stack([np.median(mag, axis=1), mag.mean(axis=1), mag.std(axis=1), mx, mn,
                            mx - mn])


def welch_band_power(W: np.ndarray, fs: float, lo: float = 0.0, hi: float = 2.0) -> np.ndarray:
    from scipy.signal import welch
    f, p = welch(W, fs=fs, nperseg=min(256, W.shape[1]), axis=1)
    sel = (f >= lo) & (f <= hi)
    return p[:, sel].sum(axis=1) * (f[1] - f[0])


def statistics(x: np.ndarray, fs: float, ends, *, window_s: float = 5.0, prefix: str = "gsr",
               psd: bool = True):
    """Table-6 statistics of a 1-D signal on each window; returns ``(X, names)``."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 2:
        if x.shape[1] != 1:
            raise ValueError(f"{prefix}: expected one channel, got {x.shape[1]}")
        x = x[:, 0]
    names = feature_names(prefix, psd)
    ends = np.asarray(ends, dtype=np.float64)
    X = np.full((ends.size, len(names)), np.nan)
    if ends.size == 0:
        return X, names
    start, stop = window_bounds(ends, fs, window_s)
    ok = valid_windows(start, stop, x.size)
    bad, _ = window_notes(x, fs, ends, window_s, what=prefix)
    ok &= ~bad
    n = int(round(window_s * fs))
    if not ok.any() or n < 1:
        return X, names
    W = take_windows(x, start[ok], n)
    parts = [time_stats(W), time_stats(np.diff(W, axis=1)), time_stats(np.diff(W, n=2, axis=1)),
             fft_stats(W)]
    if psd:
        parts.append(welch_band_power(W, fs)[:, None])
    X[ok] = np.hstack(parts)
    return X, names


def modality(prefix: str, psd: bool):
    """``(features, compute, names)`` of a modality made of these statistics (GSR, PPG):
    ``features(x, fs, ends, window_s=5.0) -> (X, names)``, the registry's ``compute`` and
    ``names``, all sharing the name prefix and whether the Welch 0-2 Hz power is included."""
    n = len(feature_names(prefix, psd))

    def features(x, fs, ends, window_s: float = 5.0):
        return statistics(x, fs, ends, window_s=window_s, prefix=prefix, psd=psd)

    def compute(data, fs, ends, params: dict, channels=None):
        return features(data, fs, ends, float(params.get("window_s", 5.0)))

    def names(params: dict | None = None, channels=None) -> list[str]:
        return feature_names(prefix, psd)

    features.__doc__ = f"{n} {prefix.upper()} features per window (see helo.features.physio)."
    names.__doc__ = f"The {n} names ``compute`` returns (they do not depend on the params)."
    return features, compute, names
