"""EEG differential entropy (DE) per channel and frequency band on the shared window grid.

Two conventions (``method``):

``"gaussian"`` (HeLo paper, default)
    Each band-limited signal is the continuous trial band-passed to that band, then on each
    window ``DE = 1/2 ln(2 pi e var)`` of its samples (population variance; natural log: nats).
    For a Gaussian band-limited signal this is the exact entropy. Two band-pass filters
    (``filter``):

    ``"fft"`` (default): zero-phase filtering in the frequency domain, one FFT per channel of
    the whole trial (mean removed, reflect-padded by 2 s on each side against the circular
    wrap), the band's gain applied, one inverse FFT per band. The power gain ``|H(f)|^2`` is 1
    inside ``[lo + t/2, hi - t/2]``, 0 outside ``[lo - t/2, hi + t/2]`` and a raised cosine
    across each edge (``t = transition_hz``, 1 Hz by default; 0: brick wall). The half-power
    point is exactly the nominal edge and the transitions of adjacent bands are
    power-complementary, so the filter's equivalent noise bandwidth is exactly ``hi - lo`` and
    nothing beyond ``t/2`` Hz outside the band passes: the paper's gamma 31-50 Hz passes nothing
    above 50.5 Hz. A band whose upper edge reaches Nyquist has no upper edge; ``lo = 0`` no
    lower edge. Faster than a bank of FIR or IIR band-pass filters (docs/benchmarks.md).

    Why not a periodogram per window (Parseval: the band power of a window's one-sided
    periodogram is the variance of the window's circularly band-limited samples)? A 1 s
    rectangular window leaks the large low-frequency power of EEG into the higher bands: on
    1/f^2 noise its DE sits 0.3 nats above the band-limited variance in every band above
    theta, the very bias the sharp edges remove. Filtering the whole trial has no window
    leakage.

    ``"mne"``: MNE's zero-phase FIR band-pass (``mne.filter.filter_data``, ``method="fir"``,
    firwin design) with ``l_trans_bandwidth`` / ``h_trans_bandwidth`` ('auto' by default: MNE
    places the -6 dB points half a transition band *outside* the nominal band, so gamma
    31-50 Hz passes power up to about 56 Hz and delta 1-3 Hz about 0.5-4 Hz): helo's earlier
    default, kept for comparison and for reproducing earlier features.

``"spectral"`` (EmotionDict / SEED code)
    Optional down-sampling (``resample``, e.g. 100 Hz; polyphase, ``scipy.signal.resample_poly``),
    then per window a Hann taper (``numpy.hanning``), a ``nfft``-point FFT (1024, or the next power
    of two above the window length) and per band ``log2(100 * mean |X_k|^2)`` over the bins
    ``lo <= f_k <= hi``. No band-pass filter. This is a log *power*, in bits and with an arbitrary
    factor 100 and the FFT length in the scale: for white noise of variance s^2 its value is about
    ``log2(100 * 0.375 * n * s^2)`` (n window samples) whatever the band width, whereas the
    Gaussian DE is ``1/2 ln(2 pi e s^2 * 2 B / fs)``. The two are therefore not interchangeable;
    both are monotone in band power and both are standardised before any model sees them.

Feature names are ``eeg_<channel>_<band>``, band varying fastest (18 x 5 = 90 for DMER).
Windows that run past the recording or hold NaN samples are NaN; a flat channel gives NaN for
that channel (``log 0``): a flat EEG channel is a recorded fault.
"""
from __future__ import annotations

import logging
from fractions import Fraction

import numpy as np

from helo.features.windows import fill_nan, take_windows, valid_windows, window_bounds, window_notes

PAPER_BANDS: dict[str, tuple[float, float]] = {
    "delta": (1.0, 3.0), "theta": (4.0, 7.0), "alpha": (8.0, 13.0), "beta": (14.0, 30.0),
    "gamma": (31.0, 50.0)}
OFFICIAL_BANDS: dict[str, tuple[float, float]] = {
    "delta": (1.0, 4.0), "theta": (4.0, 8.0), "alpha": (8.0, 14.0), "beta": (14.0, 31.0),
    "gamma": (31.0, 49.0)}
_BAND_NAMES = ["delta", "theta", "alpha", "beta", "gamma"]


def resolve_bands(bands) -> dict[str, tuple[float, float]]:
    """``"paper"``, ``"official"``, a dict name -> (lo, hi), or a list of (lo, hi) pairs."""
    if bands is None or (isinstance(bands, str) and bands == "paper"):
        return dict(PAPER_BANDS)
    if isinstance(bands, str):
        if bands == "official":
            return dict(OFFICIAL_BANDS)
        raise ValueError(f"unknown band set {bands!r}: use 'paper', 'official' or explicit edges")
    if isinstance(bands, dict):
        out = {str(k): (float(v[0]), float(v[1])) for k, v in bands.items()}
    else:
        pairs = [tuple(map(float, b)) for b in bands]
        names = _BAND_NAMES if len(pairs) == 5 else [f"band{i}" for i in range(len(pairs))]
        out = dict(zip(names, pairs))
    for k, (lo, hi) in out.items():
        if not 0 <= lo < hi:
            raise ValueError(f"band {k}: need 0 <= lo < hi, got {lo}, {hi}")
    return out


def feature_name(channel: str, band: str) -> str:
    """The name of the DE of one channel in one band: ``eeg_<channel>_<band>``."""
    return f"eeg_{channel}_{band}"


def feature_names(channels, bands=PAPER_BANDS) -> list[str]:
    """The names :func:`differential_entropy` returns: every channel, band varying fastest."""
    bands = resolve_bands(bands)
    return [feature_name(ch, b) for ch in channels for b in bands]


def names(params: dict | None = None, channels=None) -> list[str]:
    """The names :func:`compute` returns with ``params`` (``bands``) for ``channels``; EEG names
    depend on the channels, so they are required here."""
    if channels is None:
        raise ValueError("EEG feature names depend on the channels: pass channels")
    return feature_names(list(channels), (params or {}).get("bands", "paper"))


def is_feature_name(name: str, params: dict | None = None) -> bool:
    """Whether :func:`compute` with ``params`` names a column ``name`` for *some* channel
    (``eeg_<channel>_<band>``, a band of ``params``' band set)."""
    for band in resolve_bands((params or {}).get("bands", "paper")):
        head, tail = "eeg_", f"_{band}"
        if name.startswith(head) and name.endswith(tail) and len(name) > len(head) + len(tail):
            if feature_name(name[len(head):-len(tail)], band) == name:
                return True
    return False


def differential_entropy(data: np.ndarray, fs: float, ends, *, channels=None, bands=PAPER_BANDS,
                         window_s: float = 1.0, method: str = "gaussian",
                         filter: str = "fft", transition_hz: float = 1.0,
                         resample: float | None = None, nfft: int = 1024,
                         l_trans_bandwidth="auto", h_trans_bandwidth="auto"):
    """DE of every channel and band on each window ``[end - window_s, end)``.

    ``data`` ``(n_samples, n_channels)``; returns ``(X (n_windows, n_channels * n_bands), names)``.
    """
    data = np.asarray(data, dtype=np.float64)
    if data.ndim == 1:
        data = data[:, None]
    n_ch = data.shape[1]
    channels = list(channels) if channels is not None else [f"ch{i}" for i in range(n_ch)]
    if len(channels) != n_ch:
        raise ValueError(f"{len(channels)} channel names for {n_ch} channels")
    bands = resolve_bands(bands)
    names = feature_names(channels, bands)
    ends = np.asarray(ends, dtype=np.float64)
    X = np.full((ends.size, n_ch * len(bands)), np.nan)
    if ends.size == 0 or data.shape[0] == 0:
        return X, names
    bad, _ = window_notes(data, fs, ends, window_s, what="eeg")
    clean = fill_nan(data)
    if method == "gaussian":
        if filter == "fft":
            _gaussian_fft(clean, fs, ends, bands, window_s, X, float(transition_hz))
        elif filter == "mne":
            _gaussian(clean, fs, ends, bands, window_s, X, l_trans_bandwidth, h_trans_bandwidth)
        else:
            raise ValueError(f"filter must be 'fft' or 'mne', not {filter!r}")
    elif method == "spectral":
        if resample:
            clean, fs = _resample(clean, fs, float(resample))
        _spectral(clean, fs, ends, bands, window_s, nfft, X)
    else:
        raise ValueError(f"method must be 'gaussian' or 'spectral', not {method!r}")
    X[bad] = np.nan
    _nan_flat_channels(data, fs, ends, window_s, len(bands), X)
    return X, names


def _nan_flat_channels(data, fs, ends, window_s, n_b, X):
    """a channel flat (peak-to-peak 0) within a window has no entropy: NaN, not -inf"""
    start, stop = window_bounds(ends, fs, window_s)
    ok = valid_windows(start, stop, data.shape[0])
    if not ok.any():
        return
    segs = take_windows(data, start[ok], int(round(window_s * fs)))
    with np.errstate(invalid="ignore"):
        flat = np.ptp(segs, axis=-1) == 0  # (n_ok, ch)
    rows, chans = np.nonzero(flat)
    for r, c in zip(np.flatnonzero(ok)[rows], chans):
        X[r, c * n_b:(c + 1) * n_b] = np.nan


def _windows(x, fs, ends, window_s):
    """``(start, ok, length)`` of the windows inside the recording (None when there are none)."""
    start, stop = window_bounds(ends, fs, window_s)
    ok = valid_windows(start, stop, x.shape[0])
    return (start, ok, int(round(window_s * fs))) if ok.any() else None


def band_gain(freqs: np.ndarray, lo: float, hi: float, fs: float,
              transition_hz: float = 1.0) -> np.ndarray:
    """Amplitude gain ``H(f)`` of the ``"fft"`` band-pass at ``freqs`` (Hz, >= 0): ``|H|^2`` a
    raised cosine across each edge, 1/2 at ``lo`` and ``hi`` (see the module doc). No upper
    edge when ``hi`` reaches Nyquist, no lower edge when ``lo`` is 0."""
    f = np.asarray(freqs, dtype=np.float64)
    t = max(float(transition_hz), 0.0)

    def rise(edge):  # |H|^2 going from 0 (below edge - t/2) to 1 (above edge + t/2)
        if t == 0:
            return (f >= edge).astype(np.float64)
        u = np.clip((f - edge) / t + 0.5, 0.0, 1.0)
        return 0.5 - 0.5 * np.cos(np.pi * u)

    p2 = np.ones_like(f)
    if lo > 0:
        p2 *= rise(lo)
    if hi < fs / 2.0 - 1e-9:
        p2 *= 1.0 - rise(hi) if t > 0 else (f <= hi).astype(np.float64)
    return np.sqrt(p2)


#: reflect padding (s) on each side of a trial before the FFT filter (the raised-cosine
#: transitions' impulse response has decayed well within it for transitions >= 0.5 Hz)
FFT_PAD_S = 2.0
#: channels filtered together in the FFT path at most this many samples (bounds memory)
FFT_CHUNK_SAMPLES = 1 << 22


def _window_var(y, starts, length):
    """population variance of ``y`` ``(ch, n)`` on the windows ``[s, s + length)`` ->
    ``(n_windows, ch)``; a reshaped view (no copy) when the windows are back to back"""
    m = starts.size
    if m > 1 and np.all(np.diff(starts) == length) or m == 1:
        seg = y[:, starts[0]:starts[0] + m * length].reshape(y.shape[0], m, length)
        return seg.var(axis=-1).T
    return take_windows(y.T, starts, length).var(axis=-1)


def _gaussian_fft(x, fs, ends, bands, window_s, X, transition_hz):
    from scipy import fft as sfft
    n_b = len(bands)
    w = _windows(x, fs, ends, window_s)
    if w is None:
        return
    start, ok, length = w
    n, n_ch = x.shape
    pad = min(n - 1, int(np.ceil(FFT_PAD_S * fs)))
    n_fft = sfft.next_fast_len(n + 2 * pad, real=True)
    freqs = np.fft.rfftfreq(n_fft, 1.0 / fs)
    gains = [band_gain(freqs, lo, hi, fs, transition_hz) for lo, hi in bands.values()]
    keep = [np.flatnonzero(g > 0) for g in gains]
    rows = np.flatnonzero(ok)
    starts = start[ok] + pad  # window starts in the padded signal
    step = max(1, FFT_CHUNK_SAMPLES // max(n_fft, 1))
    for c0 in range(0, n_ch, step):
        xc = x[:, c0:c0 + step].T
        k_ch = xc.shape[0]
        buf = np.zeros((k_ch, n_fft))  # [reflect pad | mean-removed trial | reflect pad | 0..]
        buf[:, pad:pad + n] = xc
        buf[:, pad:pad + n] -= buf[:, pad:pad + n].mean(axis=1, keepdims=True)
        if pad:
            buf[:, :pad] = buf[:, 2 * pad:pad:-1]
            buf[:, pad + n:pad + n + pad] = buf[:, pad + n - 2:n - 2:-1]
        spec = sfft.rfft(buf, axis=1)
        del buf
        sb = np.zeros_like(spec)
        prev = None
        for j, (g, k) in enumerate(zip(gains, keep)):
            if k.size == 0:
                continue
            if prev is not None:
                sb[:, prev] = 0
            sb[:, k] = spec[:, k] * g[k]
            prev = k
            var = _window_var(sfft.irfft(sb, n_fft, axis=1), starts, length)
            with np.errstate(divide="ignore", invalid="ignore"):
                de = 0.5 * np.log(2 * np.pi * np.e * var)
            de[~np.isfinite(de) | (var <= 0)] = np.nan
            cols = (c0 + np.arange(k_ch)) * n_b + j
            X[rows[:, None], cols[None, :]] = de


def _gaussian(x, fs, ends, bands, window_s, X, l_tb, h_tb):
    import mne
    n_b = len(bands)
    w = _windows(x, fs, ends, window_s)
    if w is None:
        return
    start, ok, length = w
    nyq = fs / 2.0
    for j, (lo, hi) in enumerate(bands.values()):
        h = hi if hi < nyq - 1e-9 else None
        l = lo if lo > 0 else None
        kw = {}
        if l is not None:
            kw["l_trans_bandwidth"] = l_tb
        if h is not None:
            kw["h_trans_bandwidth"] = h_tb
        with _quiet_mne():
            y = mne.filter.filter_data(np.ascontiguousarray(x.T), fs, l, h, method="fir",
                                       phase="zero", fir_design="firwin", verbose="error",
                                       **kw).T
        segs = take_windows(y, start[ok], length)  # (n_ok, ch, length)
        var = segs.var(axis=-1)
        with np.errstate(divide="ignore", invalid="ignore"):
            de = 0.5 * np.log(2 * np.pi * np.e * var)
        de[~np.isfinite(de) | (var <= 0)] = np.nan
        X[np.flatnonzero(ok)[:, None], np.arange(x.shape[1])[None, :] * n_b + j] = de


def _resample(x, fs, target):
    from scipy.signal import resample_poly
    if abs(fs - target) < 1e-9:
        return x, fs
    frac = Fraction(target / fs).limit_denominator(1000)
    return resample_poly(x, frac.numerator, frac.denominator, axis=0), \
        fs * frac.numerator / frac.denominator


def _spectral(x, fs, ends, bands, window_s, nfft, X):
    n_b = len(bands)
    w = _windows(x, fs, ends, window_s)
    if w is None:
        return
    start, ok, length = w
    nfft = max(int(nfft), 1 << int(np.ceil(np.log2(length))))
    segs = take_windows(x, start[ok], length) * np.hanning(length)
    power = np.abs(np.fft.rfft(segs, n=nfft, axis=-1)) ** 2  # (n_ok, ch, nfft/2+1)
    freqs = np.fft.rfftfreq(nfft, 1.0 / fs)
    rows = np.flatnonzero(ok)
    for j, (lo, hi) in enumerate(bands.values()):
        sel = (freqs >= lo) & (freqs <= hi)
        if not sel.any():
            continue
        m = power[..., sel].mean(axis=-1)
        with np.errstate(divide="ignore"):
            de = np.log2(100.0 * m)
        de[~np.isfinite(de)] = np.nan
        X[rows[:, None], np.arange(x.shape[1])[None, :] * n_b + j] = de


class _quiet_mne:
    def __enter__(self):
        self.logger = logging.getLogger("mne")
        self.level = self.logger.level
        self.logger.setLevel(logging.ERROR)
        import warnings
        self.cm = warnings.catch_warnings()
        self.cm.__enter__()
        warnings.simplefilter("ignore")

    def __exit__(self, *exc):
        self.cm.__exit__(*exc)
        self.logger.setLevel(self.level)


def compute(data, fs, ends, params: dict, channels=None):
    """:func:`differential_entropy` with the ``features.eeg`` params (bands, method, filter,
    transition_hz, resample, nfft, MNE transition bands), then the trial's windows smoothed
    when ``smooth`` is ``lds`` or ``lds-filter`` (:mod:`helo.features.lds`)."""
    kw = {k: params[k] for k in ("filter", "transition_hz", "resample", "nfft",
                                 "l_trans_bandwidth", "h_trans_bandwidth")
          if params.get(k) is not None}
    X, names = differential_entropy(data, fs, ends, channels=channels,
                                    bands=params.get("bands", "paper"),
                                    window_s=float(params.get("window_s", 1.0)),
                                    method=params.get("method", "gaussian"), **kw)
    # features.eeg.smooth: LDS smoothing of the trial's windows (helo.features.lds)
    if (params.get("smooth") or "none") != "none":
        from helo.features.lds import smooth_windows
        X = smooth_windows(X, params)
    return X, names
