"""ECG (73) features per window (HeLo Table 7, WESAD chest).

All on windows ``[end - window_s, end)`` of the shared grid; whole-trial work is done once
per trial and the windows only select from it.

ECG (73)
    R-peaks as ``nk.ecg_process`` finds them, once per trial: ``nk.ecg_clean`` + ``nk.ecg_peaks``
    (NeuroKit2 default method) with its artifact correction (``correct_artifacts``, on by
    default: ``nk.signal_fixpeaks``, Kubios), run on the whole trial as ``ecg_process`` runs it
    on a whole record. The correction judges each interval against the median of the 11
    intervals around it and against thresholds from the quartiles of the 91 beats around it,
    which a 5 s window of 4-8 beats cannot give, so correcting per window would not be
    NeuroKit2's correction. The windows only select from the trial's corrected peaks: a few
    array operations per window instead of a NeuroKit2 call per window (docs/benchmarks.md).
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
    R-peak amplitude on the cleaned ECG ``ecg_ramp_{mean, std}`` (at a beat the correction
    inserted or moved, the cleaned ECG at its corrected sample); the cleaned ECG itself
    ``ecg_sig_{std, range}``.
    Ratios with a zero denominator (perfectly regular beats) are 0, not inf.
    RR intervals are integer R-peak sample differences converted to ms once; the threshold
    counts (pNN50/20/10: ``|dRR| > x ms``) and the signs behind the phase and Guzik indices are
    decided on the integer differences, so an exact tie (50 ms at 100 Hz, 20 ms = 14 samples at
    700 Hz) does not count (NeuroKit2's ``hrv_time`` convention, without its round-off).
"""
from __future__ import annotations

import warnings

import numpy as np

from helo.features._common import _1d, _div, _mad, _moments, _slope, usable_windows
from helo.features.windows import fill_nan

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
assert len(ECG_NAMES) == 73


_FREQ_BANDS = {"vlf": (0.0033, 0.04), "lf": (0.04, 0.15), "hf": (0.15, 0.4), "vhf": (0.4, 0.5)}


def r_peaks(ecg: np.ndarray, fs: float, correct_artifacts: bool = True
            ) -> tuple[np.ndarray, np.ndarray]:
    """R-peak sample indices of a whole trial and the cleaned ECG, as ``nk.ecg_process`` finds
    them: ``nk.ecg_clean`` and ``nk.ecg_peaks`` (NeuroKit2's default method), with
    ``correct_artifacts`` NeuroKit2's Kubios correction (``nk.signal_fixpeaks``, Lipponen &
    Tarvainen 2019: missed beats inserted, extra ones deleted, ectopic and long/short ones moved
    to the midpoint of their neighbours). A corrected index that falls between samples is
    truncated to the sample before it, as NeuroKit2 marks it in its ``ECG_R_Peaks`` column; the
    indices are returned sorted and distinct."""
    import neurokit2 as nk
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clean = np.asarray(nk.ecg_clean(ecg, sampling_rate=fs), dtype=np.float64)
        _, info = nk.ecg_peaks(clean, sampling_rate=fs, correct_artifacts=bool(correct_artifacts))
    peaks = np.asarray(info["ECG_R_Peaks"], dtype=np.float64)
    return np.unique(peaks[np.isfinite(peaks)].astype(np.int64)), clean


def rr_intervals(peaks: np.ndarray, fs: float) -> np.ndarray:
    """RR intervals (ms) of integer R-peak sample indices: the integer sample differences,
    converted once (``np.diff(peaks) / fs * 1000``, NeuroKit2's order), never differences of
    converted times (those carry round-off that breaks exact ties)."""
    return np.diff(np.asarray(peaks, dtype=np.int64)) / fs * 1000.0


def count_over(dd: np.ndarray, fs: float, threshold_ms: float) -> int:
    """How many successive RR differences ``dd`` (integer samples) exceed ``threshold_ms``,
    decided on integers: ``|dd| * 1000 > threshold_ms * fs`` (exact for integer ``fs``; a
    difference of exactly 50 ms does not count for pNN50)."""
    return int(np.sum(np.abs(np.asarray(dd, dtype=np.int64)) * 1000.0 > threshold_ms * fs))


def hrv_window(peaks: np.ndarray, fs: float, window_s: float, *,
               context_peaks: np.ndarray | None = None, context_s: float | None = None,
               t_end: float | None = None, amps: np.ndarray | None = None,
               sig_std: float = np.nan, sig_range: float = np.nan) -> np.ndarray:
    """The 73 ECG features of one window from its R-peak sample indices (integers at rate
    ``fs``); see the module doc. Counts and signs (pNN50/20/10, phase and Guzik indices) are
    decided on the integer sample differences, so exact ties (a 50 ms difference at 100 Hz,
    20 ms = 14 samples at 700 Hz) never count as larger."""
    out = np.zeros(73)
    peaks = np.asarray(peaks, dtype=np.int64)
    n = peaks.size
    di = np.diff(peaks)
    dd = np.diff(di)  # successive RR differences in samples (exact)
    rri = rr_intervals(peaks, fs)
    t_rri = peaks[1:] / fs
    d = np.diff(rri)
    meannn = rri.mean()
    sdnn = rri.std(ddof=1)
    rmssd = np.sqrt(np.mean(d * d))
    sdsd = d.std(ddof=1) if d.size > 1 else 0.0
    med = np.median(rri)
    madnn = _mad(rri)
    q10, q20, q25, q75, q80, q90 = np.percentile(rri, [10, 20, 25, 75, 80, 90])
    nn50, nn20, nn10 = (count_over(dd, fs, thr) for thr in (50, 20, 10))
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
    put(_div(np.sum(dd < 0) * 100.0, np.sum(dd != 0)), _div(ad[dd > 0].sum() * 100.0, ad.sum()))
    # frequency domain of the tachogram
    if context_peaks is None:
        context_peaks, context_s = peaks, window_s
    put(*_tachogram_powers(np.asarray(context_peaks, dtype=np.int64), fs, context_s,
                           t_end if t_end is not None else peaks[-1] / fs))
    if amps is not None and amps.size:
        put(amps.mean(), amps.std())
    else:
        put(np.nan, np.nan)
    put(sig_std, sig_range)
    return out


def _tachogram_powers(peaks, fs, context_s, t_end, fs_i: float = 4.0, nfft: int = 256):
    rri = rr_intervals(peaks, fs)
    t = peaks[1:] / fs
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
                 min_beats: int = 4, correct_artifacts: bool = True):
    """73 ECG features per window; returns ``(X, names)``. ``context_s`` (>= window_s) widens
    only the tachogram used for the frequency indices; ``correct_artifacts``: the R-peaks of
    the whole trial are corrected once (:func:`r_peaks`) before any window selects from them."""
    x = _1d(x)
    ends, start, stop, ok = usable_windows(x, fs, ends, window_s, "ecg")
    X = np.full((ends.size, 73), np.nan)
    if not ok.any():
        return X, list(ECG_NAMES)
    peaks, clean = r_peaks(fill_nan(x), fs, correct_artifacts)
    ctx = max(float(context_s or window_s), window_s)
    cstart = np.round((ends - ctx) * fs).astype(np.int64)
    for w in np.flatnonzero(ok):
        a, b = np.searchsorted(peaks, [start[w], stop[w]])
        if b - a < min_beats:
            continue
        pk = peaks[a:b]
        ca = np.searchsorted(peaks, max(cstart[w], 0))
        seg = clean[start[w]:stop[w]]
        X[w] = hrv_window(pk, fs, window_s, context_peaks=peaks[ca:b], context_s=ctx,
                          t_end=ends[w], amps=clean[pk], sig_std=seg.std(),
                          sig_range=np.ptp(seg))
    return X, list(ECG_NAMES)


def compute(data, fs, ends, params: dict, channels=None):
    return ecg_features(data, fs, ends, float(params.get("window_s", 5.0)),
                        context_s=params.get("context_s"),
                        correct_artifacts=bool(params.get("correct_artifacts", True)))


def names(params: dict | None = None, channels=None) -> list[str]:
    """The names :func:`compute` returns (:data:`ECG_NAMES`; they do not depend on the params)."""
    return list(ECG_NAMES)
