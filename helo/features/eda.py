"""EDA (4) features per window (HeLo Table 7, WESAD chest).

All on windows ``[end - window_s, end)`` of the shared grid; whole-trial work is done once
per trial and the windows only select from it.

EDA (4)
    ``eda_mean``, ``eda_std`` of the raw signal; ``eda_scr_count`` (SCR peaks whose peak lies in the
    window) and ``eda_scr_amp`` (their mean amplitude, 0 when none), from ``nk.eda_clean`` ->
    ``nk.eda_phasic(method="highpass")`` -> ``nk.eda_peaks`` once per trial (on a copy decimated to
    at most ``eda_work_fs`` Hz, 50 by default: the cleaned EDA is low-passed at 3 Hz anyway).
"""
from __future__ import annotations

import warnings

import numpy as np

from helo.features._common import CHUNK, _1d, usable_windows
from helo.features.windows import fill_nan, take_windows

EDA_NAMES = ["eda_mean", "eda_std", "eda_scr_count", "eda_scr_amp"]


def scr_peaks(eda: np.ndarray, fs: float, work_fs: float = 50.0):
    """SCR peak times (s) and amplitudes of a whole trial (NeuroKit2 phasic decomposition)."""
    import neurokit2 as nk
    q = max(1, int(fs // work_fs))
    clean = np.asarray(nk.eda_clean(eda, sampling_rate=fs), dtype=np.float64)
    sig, f2 = clean, fs
    if q > 1:
        sig = clean[::q]  # already low-passed at 3 Hz by eda_clean
        f2 = fs / q
    if sig.size < 4 * f2 or np.ptp(sig) == 0:
        return np.zeros(0), np.zeros(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        phasic = nk.eda_phasic(sig, sampling_rate=f2, method="highpass")["EDA_Phasic"].to_numpy()
        try:
            _, info = nk.eda_peaks(phasic, sampling_rate=f2, method="neurokit")
        except (ValueError, IndexError):
            return np.zeros(0), np.zeros(0)
    pk = np.asarray(info["SCR_Peaks"], dtype=np.float64)
    amp = np.asarray(info["SCR_Amplitude"], dtype=np.float64)
    keep = np.isfinite(pk) & np.isfinite(amp)
    return pk[keep] / f2, amp[keep]


def eda_features(x, fs, ends, window_s: float = 5.0, *, work_fs: float = 50.0):
    """4 EDA features per window; returns ``(X, names)``."""
    x = _1d(x)
    ends, start, stop, ok = usable_windows(x, fs, ends, window_s, "eda")
    X = np.full((ends.size, 4), np.nan)
    if not ok.any():
        return X, list(EDA_NAMES)
    t_pk, amp = scr_peaks(fill_nan(x), fs, work_fs)
    cs = np.concatenate([[0.0], np.cumsum(amp)])
    n = int(round(window_s * fs))
    for idx in np.array_split(np.flatnonzero(ok), max(1, int(np.ceil(ok.sum() / CHUNK)))):
        W = take_windows(x, start[idx], n)
        a = np.searchsorted(t_pk, ends[idx] - window_s)
        b = np.searchsorted(t_pk, ends[idx])
        cnt = b - a
        X[idx, 0] = W.mean(axis=1)
        X[idx, 1] = W.std(axis=1)
        X[idx, 2] = cnt
        X[idx, 3] = np.where(cnt > 0, (cs[b] - cs[a]) / np.maximum(cnt, 1), 0.0)
    return X, list(EDA_NAMES)


def compute(data, fs, ends, params: dict, channels=None):
    return eda_features(data, fs, ends, float(params.get("window_s", 5.0)),
                        work_fs=float(params.get("work_fs", 50.0)))


def names(params: dict | None = None, channels=None) -> list[str]:
    """The names :func:`compute` returns (:data:`EDA_NAMES`; they do not depend on the params)."""
    return list(EDA_NAMES)
