"""The shared window grid (docs/design.md) and helpers to cut a signal on it.

Window ``w`` of a trial ends at ``t_end = L + w * step`` seconds after the trial start, ``L``
being the longest window of any modality in the dataset. Each modality's own window is
``[t_end - own_length, t_end)``, so every modality of a trial lands on the same rows.
"""
from __future__ import annotations

import numpy as np

#: absolute tolerance (s) when deciding whether a window still fits in the recording
EPS_S = 1e-6


def grid_ends(duration_s: float, longest_window_s: float = 5.0, step_s: float = 1.0) -> np.ndarray:
    """End times (s from trial start) of the windows of a ``duration_s`` trial.

    A DMER trial of T whole seconds gives T - 4 windows (5 s longest window, 1 s step);
    a trial shorter than ``longest_window_s`` gives none.
    """
    if step_s <= 0 or longest_window_s <= 0:
        raise ValueError("step_s and longest_window_s must be positive")
    if not np.isfinite(duration_s) or duration_s + EPS_S < longest_window_s:
        return np.zeros(0)
    n = int(np.floor((duration_s - longest_window_s) / step_s + EPS_S)) + 1
    return longest_window_s + step_s * np.arange(n, dtype=np.float64)


def window_bounds(ends, fs: float, window_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Sample index ``(start, stop)`` of each window ``[end - window_s, end)`` at rate ``fs``."""
    ends = np.asarray(ends, dtype=np.float64)
    stop = np.round(ends * fs).astype(np.int64)
    start = stop - int(round(window_s * fs))
    return start, stop


def take_windows(x: np.ndarray, start: np.ndarray, length: int) -> np.ndarray:
    """Windows of ``x`` (samples along axis 0) starting at ``start``, each ``length`` long.

    ``x`` 1-D gives ``(n_windows, length)``; 2-D ``(n, ch)`` gives ``(n_windows, ch, length)``.
    Every window must lie inside ``x`` (check with :func:`valid_windows` first). The result is a
    copy (fancy index of a strided view).
    """
    view = np.lib.stride_tricks.sliding_window_view(x, length, axis=0)
    return view[np.asarray(start, dtype=np.int64)]


def valid_windows(start: np.ndarray, stop: np.ndarray, n_samples: int) -> np.ndarray:
    return (start >= 0) & (stop <= n_samples) & (stop > start)


def fill_nan(x: np.ndarray) -> np.ndarray:
    """Linear interpolation over NaN runs per column (edges held); all-NaN columns become 0."""
    x = np.array(x, dtype=np.float64, copy=True)
    one = x.ndim == 1
    if one:
        x = x[:, None]
    for j in range(x.shape[1]):
        col = x[:, j]
        bad = ~np.isfinite(col)
        if bad.any():
            good = ~bad
            if not good.any():
                col[:] = 0.0
            else:
                idx = np.arange(col.size)
                col[bad] = np.interp(idx[bad], idx[good], col[good])
    return x[:, 0] if one else x


def window_notes(x: np.ndarray, fs: float, ends, window_s: float, *, what: str = "signal",
                 flat_tol: float = 0.0, flat_is_fault: bool = True
                 ) -> tuple[np.ndarray, list[str]]:
    """Quality of each window: ``(bad mask, notes)``; a note is "" for a good window.

    A window is bad when it runs past the recording, holds a NaN/inf, or -- when
    ``flat_is_fault`` (the modality's :attr:`helo.features.ModalityInfo.flat_is_fault`) --
    every channel is flat (peak-to-peak <= ``flat_tol``).
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    ends = np.asarray(ends, dtype=np.float64)
    start, stop = window_bounds(ends, fs, window_s)
    ok = valid_windows(start, stop, x.shape[0])
    bad = np.zeros(ends.size, dtype=bool)
    notes = [""] * ends.size
    if ends.size == 0:
        return bad, notes
    nonfinite = ~np.isfinite(x).all(axis=1)
    cum_bad = np.concatenate([[0], np.cumsum(nonfinite)])
    xf = np.where(np.isfinite(x), x, 0.0)
    for i in range(ends.size):
        if not ok[i]:
            bad[i] = True
            notes[i] = f"{what} window [{ends[i] - window_s:g}, {ends[i]:g}) s exceeds the " \
                       f"recording ({x.shape[0] / fs:g} s)"
            continue
        a, b = start[i], stop[i]
        n_bad = cum_bad[b] - cum_bad[a]
        if n_bad:
            bad[i] = True
            notes[i] = f"{what}: {n_bad} NaN/inf samples in window"
            continue
        if flat_is_fault and (np.ptp(xf[a:b], axis=0) <= flat_tol).all():
            bad[i] = True
            notes[i] = f"{what}: flat signal in window"
    return bad, notes
