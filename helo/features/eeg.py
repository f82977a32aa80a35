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
    lower edge. The window variances of a band signal need not its every sample: where it is
    cheaper (every paper band at 300 Hz) they come from the band's bins alone, exactly
    (:mod:`helo.features.band_variance`), else from the inverse FFT; both agree to rounding.
    Faster than LibEER's Butterworth ``filtfilt`` per band and than MNE's FIR filters
    (docs/benchmarks.md, *EEG differential entropy*).

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

from helo.features.band_variance import (
    BandWindowVariance,
    factors_needed,
    use_envelope,
    window_sum_factor,
)
from helo.features.windows import fill_nan, take_windows, valid_windows, window_bounds

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
    start, stop = window_bounds(ends, fs, window_s)
    ok = valid_windows(start, stop, data.shape[0])
    clean, bad = _fill_nonfinite(data, start, stop, ok)
    if method == "gaussian":
        if filter == "fft":
            flat = _gaussian_fft(clean, fs, ends, bands, window_s, X, float(transition_hz))
        elif filter == "mne":
            _gaussian(clean, fs, ends, bands, window_s, X, l_trans_bandwidth, h_trans_bandwidth)
            flat = None
        else:
            raise ValueError(f"filter must be 'fft' or 'mne', not {filter!r}")
    elif method == "spectral":
        if resample:
            clean_r, fs_r = _resample(clean, fs, float(resample))
            _spectral(clean_r, fs_r, ends, bands, window_s, nfft, X)
        else:
            _spectral(clean, fs, ends, bands, window_s, nfft, X)
        flat = None
    else:
        raise ValueError(f"method must be 'gaussian' or 'spectral', not {method!r}")
    X[bad] = np.nan
    if flat is None and ok.any():
        flat = _flat_windows(clean.T, start[ok], int(round(window_s * fs)))
    if flat is not None and flat.any():  # (ch, ok window) -> every band of that channel
        rows = np.flatnonzero(ok)
        sub = X[rows].reshape(rows.size, n_ch, len(bands))
        sub[flat.T] = np.nan
        X[rows] = sub.reshape(rows.size, -1)
    return X, names


def _fill_nonfinite(data, start, stop, ok):
    """``(clean, bad)``: ``data`` with NaN/inf runs interpolated (:func:`fill_nan`; ``data``
    itself, not a copy, when every sample is finite) and the windows that have no entropy:
    those past the recording and those holding a NaN/inf sample in any channel"""
    bad = ~ok
    if np.isfinite(data).all():
        return data, bad
    nonfinite = ~np.isfinite(data).all(axis=1)
    cum = np.concatenate([[0], np.cumsum(nonfinite)])
    bad[ok] |= cum[stop[ok]] > cum[start[ok]]
    return fill_nan(data), bad


def _window_view(xt, starts, length):
    """``xt`` ``(ch, n)`` on the windows ``[s, s + length)`` -> ``(ch, n_windows, length)``: a
    reshaped view when the windows are back to back (the shared grid with a step of one window),
    else a copy"""
    m = starts.size
    if m == 1 or np.all(np.diff(starts) == length):
        s0 = int(starts[0])
        return xt[:, s0:s0 + m * length].reshape(xt.shape[0], m, length)
    return take_windows(xt.T, starts, length).transpose(1, 0, 2)


def _flat_windows(xt, starts, length):
    """``(ch, n_windows)``: True where channel ``xt[c]`` is flat (peak-to-peak 0) on the window
    starting at ``starts[w]`` -- no entropy there (``log 0``): NaN, not -inf"""
    seg = _window_view(xt, starts, length)
    return seg.max(axis=-1) == seg.min(axis=-1)


def _window_var_inplace(y, starts, length):
    """population variance of ``y`` ``(ch, n)`` on the windows ``[s, s + length)`` ->
    ``(ch, n_windows)``, overwriting ``y`` where the windows lie. The operations of
    ``numpy.var`` (the window mean subtracted, the squares summed, divided by the length), so
    the same bits, done in place and a block of windows at a time (``VAR_BLOCK_SAMPLES``):
    each block's four passes then run in the CPU cache, not in memory."""
    out = np.empty((y.shape[0], starts.size))
    step = max(1, VAR_BLOCK_SAMPLES // (y.shape[0] * length))
    for p0 in range(0, starts.size, step):
        seg = _window_view(y, starts[p0:p0 + step], length)
        mean = seg.sum(axis=-1, keepdims=True)
        mean /= length
        np.subtract(seg, mean, out=seg)
        np.multiply(seg, seg, out=seg)
        out[:, p0:p0 + step] = seg.sum(axis=-1)
    out /= length
    return out


def _window_starts(fs, ends, window_s, n):
    """``(rows, starts, length)`` of the windows inside a recording of ``n`` samples (None
    when there are none)"""
    start, stop = window_bounds(ends, fs, window_s)
    ok = valid_windows(start, stop, n)
    return (np.flatnonzero(ok), start[ok], int(round(window_s * fs))) if ok.any() else None


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


def _passband(freqs, lo, hi, fs, transition_hz):
    """``(k0, gain)``: the band's non-zero gain on the FFT bins ``k0 .. k0 + gain.size - 1``
    (:func:`band_gain` evaluated only near the band, where it can be non-zero), or None when
    no bin passes"""
    t = max(transition_hz, 0.0)
    f_lo = lo - t / 2 if lo > 0 else -np.inf
    f_hi = hi + t / 2 if hi < fs / 2.0 - 1e-9 else np.inf
    i0 = max(0, int(np.searchsorted(freqs, f_lo)) - 2)  # 2 bins of margin against rounding
    i1 = min(freqs.size, int(np.searchsorted(freqs, f_hi, side="right")) + 2)
    g = band_gain(freqs[i0:i1], lo, hi, fs, transition_hz)
    nz = np.flatnonzero(g > 0)
    if nz.size == 0:
        return None
    return i0 + int(nz[0]), g[nz[0]:nz[-1] + 1]


#: reflect padding (s) on each side of a trial before the FFT filter (the raised-cosine
#: transitions' impulse response has decayed well within it for transitions >= 0.5 Hz)
FFT_PAD_S = 2.0
#: channels filtered together in the FFT path: at most this many FFT samples (bounds the
#: memory of a chunk's padded trial, spectrum and band signal: 32 MiB of spectrum)
FFT_CHUNK_SAMPLES = 1 << 21
#: samples per block when the trial is copied transposed (channels-last to channels-first)
TRANSPOSE_BLOCK = 2048
#: window variances in blocks of at most this many samples (1 MiB of float64: the CPU's L2)
VAR_BLOCK_SAMPLES = 1 << 17


def _grid_step(starts, n_fft):
    """the samples between consecutive window starts when they are evenly spaced (``n_fft``
    for a single window: one point), else None"""
    if starts.size == 1:
        return n_fft
    d = np.diff(starts)
    return int(d[0]) if d[0] > 0 and np.all(d == d[0]) else None


def _direct_var(spec, k0, gain, n_fft, starts, length):
    """window variances ``(ch, n_windows)`` of the band signal by the direct route: the band's
    bins into a zeroed spectrum, one inverse real FFT of length ``n_fft``, the windows' variance
    in place (``starts`` in the padded signal)"""
    from scipy import fft as sfft
    sb = np.zeros(spec.shape, spec.dtype)
    band = slice(k0, k0 + gain.size)
    np.multiply(spec[:, band], gain, out=sb[:, band])
    y = sfft.irfft(sb, n_fft, axis=1)
    del sb
    return _window_var_inplace(y, starts, length)


def _gaussian_fft(x, fs, ends, bands, window_s, X, transition_hz):
    """the ``"fft"`` band-pass and the DE per window into ``X``; returns the flat-channel mask
    ``(ch, n_ok_windows)`` (computed on the transposed copy the filter makes anyway), or None
    when no window lies inside the recording.

    Per channel chunk: one real FFT of the padded trial (``scipy.fft``, pocketfft, one
    thread); then per band the window variances of the band signal, by one of two routes that
    agree to rounding (tests/unit/test_features_eeg.py): the envelope route
    (:mod:`helo.features.band_variance`: FFTs of about twice the band's bins, for bands narrow
    against the sampling rate on an evenly spaced window grid) or the direct route (the band's
    bins, and only those, into a zeroed spectrum, one inverse FFT of the padded length, the
    variance computed in place; also for the channels the envelope route flags)."""
    from scipy import fft as sfft
    n, n_ch = x.shape
    w = _window_starts(fs, ends, window_s, n)
    if w is None:
        return None
    rows, starts, length = w
    n_b = len(bands)
    pad = min(n - 1, int(np.ceil(FFT_PAD_S * fs)))
    n_fft = sfft.next_fast_len(n + 2 * pad, real=True)
    freqs = np.fft.rfftfreq(n_fft, 1.0 / fs)
    passbands = [_passband(freqs, lo, hi, fs, transition_hz) for lo, hi in bands.values()]
    padded = starts + pad  # window starts in the padded signal
    grid_step = _grid_step(padded, n_fft)
    routed = [pb is not None and grid_step is not None
              and use_envelope(n_fft, pb[1].size, grid_step) for pb in passbands]
    factors = None
    if any(routed):
        count = max(factors_needed(pb[0], pb[1].size) for pb, e in zip(passbands, routed) if e)
        factors = window_sum_factor(0, count, n_fft, length, int(padded[0]))
    envelopes = [BandWindowVariance(n_fft, pb[0], pb[1], grid_step, padded.size, length, factors)
                 if e else None for pb, e in zip(passbands, routed)]
    flat = np.empty((n_ch, rows.size), dtype=bool)
    step = max(1, FFT_CHUNK_SAMPLES // n_fft)
    for c0 in range(0, n_ch, step):
        xc = x[:, c0:c0 + step]
        k_ch = xc.shape[1]
        buf = np.zeros((k_ch, n_fft))  # [reflect pad | mean-removed trial | reflect pad | 0..]
        body = buf[:, pad:pad + n]
        for i in range(0, n, TRANSPOSE_BLOCK):  # blocks of rows: the transposed copy in cache
            body[:, i:i + TRANSPOSE_BLOCK] = xc[i:i + TRANSPOSE_BLOCK].T
        flat[c0:c0 + k_ch] = _flat_windows(body, starts, length)
        body -= body.mean(axis=1, keepdims=True)
        if pad:
            buf[:, :pad] = buf[:, 2 * pad:pad:-1]
            buf[:, pad + n:pad + n + pad] = buf[:, pad + n - 2:n - 2:-1]
        spec = sfft.rfft(buf, axis=1)
        del buf, body
        for j, (pb, env) in enumerate(zip(passbands, envelopes)):
            if pb is None:
                continue
            k0, g = pb
            if env is None:
                var = _direct_var(spec, k0, g, n_fft, padded, length)
            else:
                var, trusted = env.variance(spec[:, k0:k0 + g.size])
                if not trusted.all():
                    redo = np.flatnonzero(~trusted)
                    var[redo] = _direct_var(spec[redo], k0, g, n_fft, padded, length)
            with np.errstate(divide="ignore", invalid="ignore"):
                de = 0.5 * np.log(2 * np.pi * np.e * var)
            de[~np.isfinite(de) | (var <= 0)] = np.nan
            cols = (c0 + np.arange(k_ch)) * n_b + j
            X[rows[:, None], cols[None, :]] = de.T
    return flat


def _gaussian(x, fs, ends, bands, window_s, X, l_tb, h_tb):
    import mne
    n_b = len(bands)
    w = _window_starts(fs, ends, window_s, x.shape[0])
    if w is None:
        return
    rows, starts, length = w
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
        segs = take_windows(y, starts, length)  # (n_ok, ch, length)
        var = segs.var(axis=-1)
        with np.errstate(divide="ignore", invalid="ignore"):
            de = 0.5 * np.log(2 * np.pi * np.e * var)
        de[~np.isfinite(de) | (var <= 0)] = np.nan
        X[rows[:, None], np.arange(x.shape[1])[None, :] * n_b + j] = de


def _resample(x, fs, target):
    from scipy.signal import resample_poly
    if abs(fs - target) < 1e-9:
        return x, fs
    frac = Fraction(target / fs).limit_denominator(1000)
    return resample_poly(x, frac.numerator, frac.denominator, axis=0), \
        fs * frac.numerator / frac.denominator


def _spectral(x, fs, ends, bands, window_s, nfft, X):
    n_b = len(bands)
    w = _window_starts(fs, ends, window_s, x.shape[0])
    if w is None:
        return
    rows, starts, length = w
    nfft = max(int(nfft), 1 << int(np.ceil(np.log2(length))))
    segs = take_windows(x, starts, length) * np.hanning(length)
    power = np.abs(np.fft.rfft(segs, n=nfft, axis=-1)) ** 2  # (n_ok, ch, nfft/2+1)
    freqs = np.fft.rfftfreq(nfft, 1.0 / fs)
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
