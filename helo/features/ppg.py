"""PPG features per window: the 27 statistics of :mod:`helo.features.physio` (HeLo Table 6,
without the Welch power), and with ``cardiac`` the pulse rate and its variability.

The 27 statistics hold no heart rate (their ``ppg_maxratio`` counts every local maximum of the
raw samples, noise included, not pulse waves), so ``cardiac`` adds 5 features from the systolic
peaks, after the 27:

``ppg_hr_mean``, ``ppg_hr_std``
    mean and standard deviation (ddof 0) over the window's samples of NeuroKit2's pulse-rate
    signal (bpm; :func:`rate_signal`, ``nk.ppg_process``'s ``PPG_Rate`` of the whole trial), so
    ``ppg_hr_mean`` is NeuroKit2's ``PPG_Rate_Mean`` (``nk.ppg_intervalrelated``) of the window.
    This is a mean over time of the interpolated rate, where ``ecg_hr_mean`` is the mean of
    ``60000 / IBI`` over the beats; the two differ where the intervals vary;
``ppg_prv_meannn``, ``ppg_prv_sdnn``, ``ppg_prv_rmssd``
    pulse-rate variability: NeuroKit2 ``hrv_time``'s MeanNN, SDNN (ddof 1) and RMSSD (ms) of the
    inter-beat intervals.

Systolic peaks as ``nk.ppg_process`` finds them, once per trial: ``nk.ppg_clean`` and
``nk.ppg_peaks``, both with Elgendi et al.'s method (2013; a 0.5-8 Hz Butterworth band-pass,
then blocks of interest from two moving averages of the squared signal), with no artifact
correction (``ppg_process``'s default). The windows select from the trial's peaks, as the ECG
windows do: the beats of a window are the peaks inside ``[end - window_s, end)``, its intervals
those between consecutive beats inside it (integer sample differences converted to ms once).
Per window the five are sums over those samples and intervals, taken from cumulative sums
over the trial, so the cost does not grow with the window or its beats; written here rather
than calling ``nk.hrv_time`` on each window, which costs milliseconds a call
(docs/benchmarks.md); the tests check them equal to it.

A value that needs more beats than the window holds is NaN: the rate and MeanNN need 2 beats in
the window (the rate between beats outside it is no measurement of it), SDNN and RMSSD 3, as
NeuroKit2's ``hrv_time`` leaves them, and the rate needs 4 peaks in the trial (NeuroKit2's
``signal_rate`` rule). The 27 statistics of such a window stay defined; the feature store notes
the NaN and ``assemble``'s ``nan_policy`` decides about the row. A PPG in which the detector
finds no pulse wave at all has no peaks (every cardiac feature NaN). The band-pass needs a
sampling rate above 16 Hz: a slower PPG with ``cardiac`` on is refused with an error saying so.

``cardiac`` left out of the params is off: the paper's 27 features, which is also what the
DMER features release and the authors' per-subject files hold (their readers name the columns
by these params); params.yaml turns it on, the paper presets off.
"""
from __future__ import annotations

import warnings

import numpy as np

from helo.features._common import _1d, usable_windows
from helo.features.physio import feature_names, statistics
from helo.features.windows import fill_nan

PREFIX, PSD = "ppg", False  # physio statistics: name prefix, Welch 0-2 Hz power
CARDIAC_NAMES = ["ppg_hr_mean", "ppg_hr_std", "ppg_prv_meannn", "ppg_prv_sdnn", "ppg_prv_rmssd"]
#: the elgendi band-pass's upper edge (Hz): the sampling rate must exceed twice it
BANDPASS_HIGH_HZ = 8.0
#: the elgendi beat window (s): a shorter signal has no peaks
BEAT_WINDOW_S = 0.667


def systolic_peaks(ppg: np.ndarray, fs: float) -> np.ndarray:
    """Systolic peak sample indices of a whole trial (``nk.ppg_clean`` + ``nk.ppg_peaks``, method
    elgendi, as ``nk.ppg_process``), sorted; none when the detector finds no pulse wave."""
    import neurokit2 as nk
    if fs <= 2 * BANDPASS_HIGH_HZ:
        raise ValueError(f"ppg: sampling rate {fs:g} Hz is too low for the systolic peaks "
                         f"(NeuroKit2's elgendi band-pass reaches {BANDPASS_HIGH_HZ:g} Hz, so it "
                         f"needs more than {2 * BANDPASS_HIGH_HZ:g} Hz); set "
                         f"features.ppg.cardiac: false")
    ppg = np.asarray(ppg, dtype=np.float64)
    if ppg.size <= int(np.rint(BEAT_WINDOW_S * fs)) or np.ptp(ppg) == 0:
        return np.zeros(0, np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clean = nk.ppg_clean(ppg, sampling_rate=fs, method="elgendi")
        try:
            _, info = nk.ppg_peaks(clean, sampling_rate=fs, method="elgendi")
        except IndexError:  # elgendi: the signal never rises above its threshold, no wave
            return np.zeros(0, np.int64)
    return np.unique(np.asarray(info["PPG_Peaks"], dtype=np.int64))


def _window_sums(v: np.ndarray, lo: np.ndarray, hi: np.ndarray):
    """Count, sum and sum of squares of ``v[lo:hi]`` for each pair, about ``v``'s mean (so the
    variance ``(s2 - s1**2 / n) / ddof`` cancels no large mean): ``(n, s1, s2, centre)``."""
    centre = float(v.mean()) if v.size else 0.0
    c = v - centre
    c1 = np.concatenate([[0.0], np.cumsum(c)])
    c2 = np.concatenate([[0.0], np.cumsum(c * c)])
    return (hi - lo).astype(np.float64), c1[hi] - c1[lo], c2[hi] - c2[lo], centre


def _std(n, s1, s2, ddof):
    with np.errstate(invalid="ignore", divide="ignore"):
        var = (s2 - s1 * s1 / n) / (n - ddof)
    return np.sqrt(np.maximum(var, 0.0))


def rate_signal(peaks: np.ndarray, fs: float, n: int) -> np.ndarray:
    """NeuroKit2's pulse rate (bpm) at each of ``n`` samples (``nk.signal_rate``, as
    ``nk.ppg_process``'s ``PPG_Rate``): 60 / the interval ending at each peak (the first peak:
    the mean interval), monotone cubic between peaks, held before the first and after the last;
    NaN everywhere when the trial has fewer than 4 peaks (NeuroKit2's own rule)."""
    import neurokit2 as nk
    if np.size(peaks) < 4:
        return np.full(n, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rate = nk.signal_rate(np.asarray(peaks, dtype=np.int64), sampling_rate=fs,
                              desired_length=n)
    return np.asarray(rate, dtype=np.float64)


def pulse_rate(peaks: np.ndarray, fs: float, n: int, start: np.ndarray, stop: np.ndarray
               ) -> np.ndarray:
    """The 5 cardiac features (:data:`CARDIAC_NAMES`) of windows ``[start, stop)`` (samples,
    inside ``[0, n)``) of an ``n``-sample trial whose sorted systolic peak indices are
    ``peaks`` -> ``(n_windows, 5)``; NaN where the window holds too few beats."""
    peaks = np.asarray(peaks, dtype=np.int64)
    start, stop = np.asarray(start, np.int64), np.asarray(stop, np.int64)
    out = np.full((start.size, 5), np.nan)
    if peaks.size < 2 or start.size == 0:
        return out
    rri = np.diff(peaks) / fs * 1000.0
    d = np.diff(rri)
    b = np.searchsorted(peaks, stop)  # one past the window's last beat
    a = np.minimum(np.searchsorted(peaks, start), b)  # its first beat
    k = np.maximum(b - a - 1, 0)  # intervals inside the window: rri[a : a + k]
    a = np.minimum(a, rri.size)  # past the last interval only where k == 0
    one, two = k >= 1, k >= 2
    nr, r1, r2, rmid = _window_sums(rate_signal(peaks, fs, n), start, stop)
    nn, s1, s2, mid = _window_sums(rri, a, a + k)
    kd = np.maximum(k - 1, 0)  # successive differences inside: d[a : a + kd]
    dd = np.concatenate([[0.0], np.cumsum(d * d)])
    sq = dd[np.minimum(a + kd, d.size)] - dd[np.minimum(a, d.size)]
    out[one, 0] = rmid + r1[one] / nr[one]
    out[one, 1] = _std(nr[one], r1[one], r2[one], 0)
    out[one, 2] = mid + s1[one] / nn[one]
    out[two, 3] = _std(nn[two], s1[two], s2[two], 1)
    out[two, 4] = np.sqrt(sq[two] / kd[two])
    return out


def ppg_features(x, fs, ends, window_s: float = 5.0, *, cardiac: bool = False):
    """27 PPG statistics per window (+ 5 cardiac with ``cardiac``); returns ``(X, names)``."""
    X, names = statistics(x, fs, ends, window_s=window_s, prefix=PREFIX, psd=PSD)
    if not cardiac:
        return X, names
    x = _1d(x)
    ends, start, stop, ok = usable_windows(x, fs, ends, window_s, PREFIX)
    C = np.full((ends.size, len(CARDIAC_NAMES)), np.nan)
    if ok.any():
        C[ok] = pulse_rate(systolic_peaks(fill_nan(x), fs), fs, x.size, start[ok], stop[ok])
    return np.hstack([X, C]), names + list(CARDIAC_NAMES)


def compute(data, fs, ends, params: dict, channels=None):
    return ppg_features(data, fs, ends, float(params.get("window_s", 5.0)),
                        cardiac=bool(params.get("cardiac", False)))


def names(params: dict | None = None, channels=None) -> list[str]:
    """The names :func:`compute` returns: the 27 statistics, + :data:`CARDIAC_NAMES` when
    ``cardiac``."""
    base = feature_names(PREFIX, PSD)
    return base + list(CARDIAC_NAMES) if (params or {}).get("cardiac", False) else base
