"""EMG (14) features per window (HeLo Table 7, WESAD chest).

All on windows ``[end - window_s, end)`` of the shared grid; whole-trial work is done once
per trial and the windows only select from it.

EMG (14)
    ``emg_{mean, std, range, integral, median, p10, p90}`` of the raw window (integral = sum |x| /
    fs); ``emg_peak_freq`` (Hz) and ``emg_psd_total`` (integral of the periodogram, mean removed);
    peaks of the rectified 20 Hz high-passed signal (4th-order Butterworth, zero phase, whole
    trial) higher than its trial mean + 2 std and at least 10 ms apart: ``emg_peak_count``,
    ``emg_peak_amp_{mean, std, sum}`` and ``emg_peak_amp_normsum`` (sum per second of window).
    No ``nk.emg_amplitude`` (it assumes 1000 Hz).
"""
from __future__ import annotations

import numpy as np

from helo.features._common import CHUNK, _1d, _periodogram, usable_windows
from helo.features.windows import fill_nan, take_windows

EMG_NAMES = ["emg_mean", "emg_std", "emg_range", "emg_integral", "emg_median", "emg_p10",
             "emg_p90", "emg_peak_freq", "emg_psd_total", "emg_peak_count", "emg_peak_amp_mean",
             "emg_peak_amp_std", "emg_peak_amp_sum", "emg_peak_amp_normsum"]
assert len(EMG_NAMES) == 14


def emg_peaks(x: np.ndarray, fs: float, hp_hz: float = 20.0):
    """Peaks (sample index, amplitude) of the rectified high-passed EMG of a whole trial."""
    from scipy.signal import butter, find_peaks, sosfiltfilt
    if hp_hz and hp_hz < fs / 2:
        sos = butter(4, hp_hz, btype="highpass", fs=fs, output="sos")
        y = np.abs(sosfiltfilt(sos, x))
    else:
        y = np.abs(x - x.mean())
    thr = y.mean() + 2 * y.std()
    pk, _ = find_peaks(y, height=thr, distance=max(1, int(round(0.01 * fs))))
    return pk, y[pk]


def emg_features(x, fs, ends, window_s: float = 5.0):
    """14 EMG features per window; returns ``(X, names)``."""
    x = _1d(x)
    ends, start, stop, ok = usable_windows(x, fs, ends, window_s, "emg")
    X = np.full((ends.size, 14), np.nan)
    if not ok.any():
        return X, list(EMG_NAMES)
    xf = fill_nan(x)
    pk, amp = emg_peaks(xf, fs)
    c1 = np.concatenate([[0.0], np.cumsum(amp)])
    c2 = np.concatenate([[0.0], np.cumsum(amp * amp)])
    n = int(round(window_s * fs))
    for idx in np.array_split(np.flatnonzero(ok), max(1, int(np.ceil(ok.sum() / CHUNK)))):
        W = take_windows(xf, start[idx], n)
        p10, med, p90 = np.percentile(W, [10, 50, 90], axis=1)
        f, p = _periodogram(W, fs)
        a = np.searchsorted(pk, start[idx])
        b = np.searchsorted(pk, stop[idx])
        cnt = b - a
        s1, s2 = c1[b] - c1[a], c2[b] - c2[a]
        m = np.where(cnt > 0, s1 / np.maximum(cnt, 1), 0.0)
        var = np.where(cnt > 0, s2 / np.maximum(cnt, 1) - m * m, 0.0)
        X[idx] = np.column_stack([
            W.mean(axis=1), W.std(axis=1), np.ptp(W, axis=1), np.abs(W).sum(axis=1) / fs, med,
            p10, p90, f[np.argmax(p[:, 1:], axis=1) + 1], p.sum(axis=1) * (f[1] - f[0]), cnt,
            m, np.sqrt(np.maximum(var, 0.0)), s1, s1 / window_s])
    return X, list(EMG_NAMES)


def compute(data, fs, ends, params: dict, channels=None):
    return emg_features(data, fs, ends, float(params.get("window_s", 5.0)))


def names(params: dict | None = None, channels=None) -> list[str]:
    """The names :func:`compute` returns (:data:`EMG_NAMES`; they do not depend on the params)."""
    return list(EMG_NAMES)
