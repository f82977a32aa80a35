"""WESAD chest features per window (HeLo Table 7): ECG 73, EDA 4, EMG 14, ACC 12.

All on 5 s windows ``[end - 5, end)`` of the shared grid. Whole-trial work (R-peak detection,
EDA phasic decomposition and SCR peaks, EMG high-pass and peak picking) is done once per trial;
the windows then only select from it.

ECG (73)
    R-peaks: ``nk.ecg_clean`` + ``nk.ecg_peaks`` (NeuroKit2 default method) once per trial.
    In a window, the beats are the R-peaks inside it and the inter-beat intervals (IBI, ms) are
    the intervals between consecutive beats inside it. A window with fewer than 4 beats is NaN.
    ``ecg_n_beats``, ``ecg_hr_count`` (beats * 60 / window);
    NeuroKit2 ``hrv_time`` indices, same formulas (cross-checked in the tests):
    ``ecg_hrv_{meannn, sdnn, rmssd, sdsd, cvnn, cvsd, mediannn, madnn, mcvnn, iqrnn, sdrmssd,
    prc20nn, prc80nn, pnn50, pnn20, minnn, maxnn, hti}``;
    more IBI statistics ``ecg_ibi_{range, p10, p90, skew, kurt, slope, pnn10}`` (slope: least
    squares ms per s; skew/kurt: population moments, excess kurtosis, 0 when the IBI are constant);
    the instantaneous heart rate 60000/IBI (bpm) ``ecg_hr_{mean, median, std, min, max, range,
    p10, p90, iqr, cv, skew, kurt, slope}``; its successive differences
    ``ecg_dhr_{mean, std, absmean, absmax}``; IBI successive differences
    ``ecg_hrv_{absdiff_mean, absdiff_median, absdiff_max, diff_mean}``;
    Poincare (NeuroKit2 ``hrv_nonlinear`` formulas) ``ecg_hrv_{sd1, sd2, sd1sd2, s, csi, cvi,
    csi_modified}``; asymmetry ``ecg_hrv_pi`` (Porta: % of non-zero IBI differences that are
    negative) and ``ecg_hrv_gi`` (Guzik: % of the summed Poincare distance from the identity line
    carried by points above it);
    frequency domain of the IBI tachogram (IBI at each beat time, linear interpolation at 4 Hz
    over the last ``context_s`` seconds, mean removed, Hann periodogram, 256-point FFT, power in
    ms^2): ``ecg_hrv_{vlf (0.0033-0.04 Hz), lf (0.04-0.15), hf (0.15-0.4), vhf (0.4-0.5), tp (sum of
    the four), lfhf, lfn (lf/(lf+hf)), hfn, lnhf, lf_rel (lf/tp), hf_rel, hf_peak (Hz)}``. On a 5 s
    window the VLF and LF bands are far below the resolution: these are kept for the paper's
    count and are mostly zero/noise; ``context_s=60`` gives meaningful values;
    R-peak amplitude on the cleaned ECG ``ecg_ramp_{mean, std}``; the cleaned ECG itself
    ``ecg_sig_{std, range}``.
    Ratios with a zero denominator (perfectly regular beats) are 0, not inf.

EDA (4)
    ``eda_mean``, ``eda_std`` of the raw signal; ``eda_scr_count`` (SCR peaks whose peak lies in the
    window) and ``eda_scr_amp`` (their mean amplitude, 0 when none), from ``nk.eda_clean`` ->
    ``nk.eda_phasic(method="highpass")`` -> ``nk.eda_peaks`` once per trial (on a copy decimated to
    at most ``eda_work_fs`` Hz, 50 by default: the cleaned EDA is low-passed at 3 Hz anyway).

EMG (14)
    ``emg_{mean, std, range, integral, median, p10, p90}`` of the raw window (integral = sum |x| /
    fs); ``emg_peak_freq`` (Hz) and ``emg_psd_total`` (integral of the periodogram, mean removed);
    peaks of the rectified 20 Hz high-passed signal (4th-order Butterworth, zero phase, whole
    trial) higher than its trial mean + 2 std and at least 10 ms apart: ``emg_peak_count``,
    ``emg_peak_amp_{mean, std, sum}`` and ``emg_peak_amp_normsum`` (sum per second of window).
    No ``nk.emg_amplitude`` (it assumes 1000 Hz).

ACC (12)
    Per axis x, y, z: ``acc_<axis>_{mean, std, absint, peak_freq}`` (absint = sum |a| / fs;
    peak frequency = arg max of the periodogram of the mean-removed window, DC excluded).
    Table 7's "summed over all axes" mean and absolute integral are sums of the per-axis ones
    (exactly redundant), so the count 12 = 4 x 3 keeps the per-axis set.
"""
from __future__ import annotations

import warnings

import numpy as np

from helo.features.windows import (fill_nan, take_windows, valid_windows, window_bounds, window_notes)

CHUNK = 256  # windows per vectorised chunk (bounds memory at 700 Hz)

ECG_NAMES = (
    ["ecg_n_beats", "ecg_hr_count"]
    + [f"ecg_hrv_{k}" for k in ("meannn", "sdnn", "rmssd", "sdsd", "cvnn", "cvsd", "mediannn",
                                "madnn", "mcvnn", "iqrnn", "sdrmssd", "prc20nn", "prc80nn",
                                "pnn50", "pnn20", "minnn", "maxnn", "hti")]
    + [f"ecg_ibi_{k}" for k in ("range", "p10", "p90", "skew", "kurt", "slope", "pnn10")]
    + [f"ecg_hr_{k}" for k in ("mean", "median", "std", "min", "max", "range", "p10", "p90",
                               "iqr", "cv", "skew", "kurt", "slope")]
    + [f"ecg_dhr_{k}" for k in ("mean", "std", "absmean", "absmax")]
    + [f"ecg_hrv_{k}" for k in ("absdiff_mean", "absdiff_median", "absdiff_max", "diff_mean")]
    + [f"ecg_hrv_{k}" for k in ("sd1", "sd2", "sd1sd2", "s", "csi", "cvi", "csi_modified")]
    + ["ecg_hrv_pi", "ecg_hrv_gi"]
    + [f"ecg_hrv_{k}" for k in ("vlf", "lf", "hf", "vhf", "tp", "lfhf", "lfn", "hfn", "lnhf",
                                "lf_rel", "hf_rel", "hf_peak")]
    + ["ecg_ramp_mean", "ecg_ramp_std", "ecg_sig_std", "ecg_sig_range"])
EDA_NAMES = ["eda_mean", "eda_std", "eda_scr_count", "eda_scr_amp"]
EMG_NAMES = ["emg_mean", "emg_std", "emg_range", "emg_integral", "emg_median", "emg_p10",
             "emg_p90", "emg_peak_freq", "emg_psd_total", "emg_peak_count", "emg_peak_amp_mean",
             "emg_peak_amp_std", "emg_peak_amp_sum", "emg_peak_amp_normsum"]
ACC_NAMES = [f"acc_{a}_{k}" for a in "xyz" for k in ("mean", "std", "absint", "peak_freq")]
assert len(ECG_NAMES) == 73 and len(EMG_NAMES) == 14 and len(ACC_NAMES) == 12

_FREQ_BANDS = {"vlf": (0.0033, 0.04), "lf": (0.04, 0.15), "hf": (0.15, 0.4), "vhf": (0.4, 0.5)}


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


# --------------------------------------------------------------------------------------- ECG
def r_peaks(ecg: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """R-peak sample indices of a whole trial and the cleaned ECG (NeuroKit2 defaults)."""
    import neurokit2 as nk
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clean = np.asarray(nk.ecg_clean(ecg, sampling_rate=fs), dtype=np.float64)
        _, info = nk.ecg_peaks(clean, sampling_rate=fs)
    return np.asarray(info["ECG_R_Peaks"], dtype=np.int64), clean


def hrv_window(peaks_s: np.ndarray, window_s: float, *, context_peaks_s: np.ndarray | None = None,
               context_s: float | None = None, t_end: float | None = None,
               amps: np.ndarray | None = None, sig_std: float = np.nan,
               sig_range: float = np.nan) -> np.ndarray:
    """The 73 ECG features of one window from its R-peak times (s); see the module doc."""
    out = np.zeros(73)
    n = peaks_s.size
    rri = np.diff(peaks_s) * 1000.0
    t_rri = peaks_s[1:]
    d = np.diff(rri)
    meannn = rri.mean()
    sdnn = rri.std(ddof=1)
    rmssd = np.sqrt(np.mean(d * d))
    sdsd = d.std(ddof=1) if d.size > 1 else 0.0
    med = np.median(rri)
    madnn = _mad(rri)
    q10, q20, q25, q75, q80, q90 = np.percentile(rri, [10, 20, 25, 75, 80, 90])
    nn50 = np.sum(np.abs(d) > 50)
    nn20 = np.sum(np.abs(d) > 20)
    nn10 = np.sum(np.abs(d) > 10)
    binsize = 1000.0 / 128
    bins = np.arange(0, rri.max() + binsize, binsize)
    hist, _ = np.histogram(rri, bins=bins)
    i = 0

    def put(*vals):
        nonlocal i
        for v in vals:
            out[i] = v
            i += 1

    put(n, n * 60.0 / window_s)
    put(meannn, sdnn, rmssd, sdsd, _div(sdnn, meannn), _div(rmssd, meannn), med, madnn,
        _div(madnn, med), q75 - q25, _div(sdnn, rmssd), q20, q80,
        nn50 / (d.size + 1) * 100, nn20 / (d.size + 1) * 100, rri.min(), rri.max(),
        _div(rri.size, hist.max()))
    sk, ku = _moments(rri)
    put(rri.max() - rri.min(), q10, q90, sk, ku, _slope(t_rri, rri), nn10 / (d.size + 1) * 100)
    hr = 60000.0 / rri
    h10, h25, h75, h90 = np.percentile(hr, [10, 25, 75, 90])
    hsk, hku = _moments(hr)
    put(hr.mean(), np.median(hr), hr.std(), hr.min(), hr.max(), hr.max() - hr.min(), h10, h90,
        h75 - h25, _div(hr.std(), hr.mean()), hsk, hku, _slope(t_rri, hr))
    dh = np.diff(hr)
    put(dh.mean(), dh.std(), np.abs(dh).mean(), np.abs(dh).max())
    ad = np.abs(d)
    put(ad.mean(), np.median(ad), ad.max(), d.mean())
    x1 = (rri[:-1] - rri[1:]) / np.sqrt(2)
    x2 = (rri[:-1] + rri[1:]) / np.sqrt(2)
    sd1 = x1.std(ddof=1)
    sd2 = x2.std(ddof=1)
    T, L = 4 * sd1, 4 * sd2
    put(sd1, sd2, _div(sd1, sd2), np.pi * sd1 * sd2, _div(L, T),
        np.log10(L * T) if L * T > 0 else 0.0, _div(L * L, T))
    nz = d[d != 0]
    put(_div(np.sum(nz < 0) * 100.0, nz.size), _div(ad[d > 0].sum() * 100.0, ad.sum()))
    # frequency domain of the tachogram
    if context_peaks_s is None:
        context_peaks_s, context_s = peaks_s, window_s
    put(*_tachogram_powers(context_peaks_s, context_s, t_end if t_end is not None
                           else peaks_s[-1]))
    if amps is not None and amps.size:
        put(amps.mean(), amps.std())
    else:
        put(np.nan, np.nan)
    put(sig_std, sig_range)
    return out


def _tachogram_powers(peaks_s, context_s, t_end, fs_i: float = 4.0, nfft: int = 256):
    rri = np.diff(peaks_s) * 1000.0
    t = peaks_s[1:]
    tg = np.arange(t_end - context_s, t_end, 1.0 / fs_i)
    if rri.size < 2 or tg.size < 4:
        return [0.0] * 12
    y = np.interp(tg, t, rri)
    y = (y - y.mean()) * np.hanning(tg.size)
    nfft = max(nfft, 1 << int(np.ceil(np.log2(tg.size))))
    p = np.abs(np.fft.rfft(y, nfft)) ** 2 / (fs_i * (np.hanning(tg.size) ** 2).sum())
    p[1:-1] *= 2
    f = np.fft.rfftfreq(nfft, 1.0 / fs_i)
    df = f[1] - f[0]
    pw = {k: p[(f >= lo) & (f < hi)].sum() * df for k, (lo, hi) in _FREQ_BANDS.items()}
    tp = sum(pw.values())
    lf, hf = pw["lf"], pw["hf"]
    hsel = (f >= 0.15) & (f < 0.4)
    hf_peak = f[hsel][np.argmax(p[hsel])] if hf > 0 else 0.0
    return [pw["vlf"], lf, hf, pw["vhf"], tp, _div(lf, hf), _div(lf, lf + hf), _div(hf, lf + hf),
            np.log(hf) if hf > 0 else 0.0, _div(lf, tp), _div(hf, tp), hf_peak]


def ecg_features(x, fs, ends, window_s: float = 5.0, *, context_s: float | None = None,
                 min_beats: int = 4):
    """73 ECG features per window; returns ``(X, names)``. ``context_s`` (>= window_s) widens
    only the tachogram used for the frequency indices."""
    x = _1d(x)
    ends = np.asarray(ends, dtype=np.float64)
    X = np.full((ends.size, 73), np.nan)
    if ends.size == 0 or x.size == 0:
        return X, list(ECG_NAMES)
    bad, _ = window_notes(x, fs, ends, window_s, what="ecg")
    start, stop = window_bounds(ends, fs, window_s)
    ok = valid_windows(start, stop, x.size) & ~bad
    if not ok.any():
        return X, list(ECG_NAMES)
    peaks, clean = r_peaks(fill_nan(x), fs)
    ctx = max(float(context_s or window_s), window_s)
    cstart = np.round((ends - ctx) * fs).astype(np.int64)
    for w in np.flatnonzero(ok):
        a, b = np.searchsorted(peaks, [start[w], stop[w]])
        if b - a < min_beats:
            continue
        pk = peaks[a:b]
        ca = np.searchsorted(peaks, max(cstart[w], 0))
        seg = clean[start[w]:stop[w]]
        X[w] = hrv_window(pk / fs, window_s, context_peaks_s=peaks[ca:b] / fs, context_s=ctx,
                          t_end=ends[w], amps=clean[pk], sig_std=seg.std(),
                          sig_range=np.ptp(seg))
    return X, list(ECG_NAMES)


# --------------------------------------------------------------------------------------- EDA
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
    ends = np.asarray(ends, dtype=np.float64)
    X = np.full((ends.size, 4), np.nan)
    if ends.size == 0 or x.size == 0:
        return X, list(EDA_NAMES)
    bad, _ = window_notes(x, fs, ends, window_s, what="eda")
    start, stop = window_bounds(ends, fs, window_s)
    ok = valid_windows(start, stop, x.size) & ~bad
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


# --------------------------------------------------------------------------------------- EMG
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


def emg_features(x, fs, ends, window_s: float = 5.0):
    """14 EMG features per window; returns ``(X, names)``."""
    x = _1d(x)
    ends = np.asarray(ends, dtype=np.float64)
    X = np.full((ends.size, 14), np.nan)
    if ends.size == 0 or x.size == 0:
        return X, list(EMG_NAMES)
    bad, _ = window_notes(x, fs, ends, window_s, what="emg")
    start, stop = window_bounds(ends, fs, window_s)
    ok = valid_windows(start, stop, x.size) & ~bad
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


# --------------------------------------------------------------------------------------- ACC
def acc_features(x, fs, ends, window_s: float = 5.0):
    """12 ACC features per window from ``(n, 3)`` x/y/z; returns ``(X, names)``."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != 3:
        raise ValueError(f"acc: expected (n, 3), got {x.shape}")
    ends = np.asarray(ends, dtype=np.float64)
    X = np.full((ends.size, 12), np.nan)
    if ends.size == 0 or x.shape[0] == 0:
        return X, list(ACC_NAMES)
    bad, _ = window_notes(x, fs, ends, window_s, what="acc")
    start, stop = window_bounds(ends, fs, window_s)
    ok = valid_windows(start, stop, x.shape[0]) & ~bad
    n = int(round(window_s * fs))
    for idx in np.array_split(np.flatnonzero(ok), max(1, int(np.ceil(ok.sum() / CHUNK)))):
        if idx.size == 0:
            continue
        for k in range(3):
            W = take_windows(x[:, k], start[idx], n)
            f, p = _periodogram(W, fs)
            X[idx, 4 * k:4 * k + 4] = np.column_stack([
                W.mean(axis=1), W.std(axis=1), np.abs(W).sum(axis=1) / fs,
                f[np.argmax(p[:, 1:], axis=1) + 1]])
    return X, list(ACC_NAMES)
