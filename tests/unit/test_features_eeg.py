"""EEG differential entropy: cross-checks against Welch band power and a hand-computed case."""
import numpy as np
import pytest
from scipy.signal import welch

from helo.features import eeg
from helo.features.windows import grid_ends

FS = 300.0


def pink_alpha(n, rng, fs=FS):
    white = rng.standard_normal(n)
    f = np.fft.rfftfreq(n, 1 / fs)
    spec = np.fft.rfft(white)
    spec[1:] /= np.sqrt(f[1:])
    spec[0] = 0
    x = np.fft.irfft(spec, n)
    x /= x.std()
    t = np.arange(n) / fs
    return 10 * x + 8 * np.sin(2 * np.pi * 10 * t + rng.uniform(0, 6)) + rng.standard_normal(n)


def test_grid():
    assert grid_ends(25.0).tolist() == [5.0 + i for i in range(21)]  # T - 4 rows
    assert grid_ends(4.9).size == 0
    assert grid_ends(5.0).tolist() == [5.0]


def test_shape_names_band_fastest():
    rng = np.random.default_rng(0)
    chans = [f"c{i}" for i in range(18)]
    x = rng.standard_normal((int(12 * FS), 18))
    ends = grid_ends(12.0)
    X, names = eeg.differential_entropy(x, FS, ends, channels=chans)
    assert X.shape == (8, 90) and len(names) == 90
    assert names[:6] == ["eeg_c0_delta", "eeg_c0_theta", "eeg_c0_alpha", "eeg_c0_beta",
                         "eeg_c0_gamma", "eeg_c1_delta"]
    assert np.isfinite(X).all()
    Xo, _ = eeg.differential_entropy(x, FS, ends, channels=chans, bands="official")
    assert Xo.shape == (8, 90)


def _mne_gain2(lo, hi, fs, f, l_tb="auto", h_tb="auto"):
    """|H(f)|^2 of the FIR filter MNE applies (firwin design, zero phase: one pass of the
    linear-phase filter with its delay compensated)"""
    import mne
    h = mne.filter.create_filter(None, fs, lo, hi, method="fir", phase="zero",
                                 fir_design="firwin", l_trans_bandwidth=l_tb,
                                 h_trans_bandwidth=h_tb, verbose="error")
    H = np.fft.rfft(h, 1 << 16)
    ff = np.fft.rfftfreq(1 << 16, 1 / fs)
    return np.interp(f, ff, np.abs(H) ** 2)


def _band_var_mean(X, col):
    """mean over windows of the band variance behind a DE column: exp(2 DE) / (2 pi e)"""
    return np.mean(np.exp(2 * X[:, col]) / (2 * np.pi * np.e))


@pytest.mark.parametrize("seed", [1, 2])
def test_matches_welch_bandpower(seed):
    """the band variance behind the DE equals the Welch PSD integrated through the filter's
    known |H|^2 (:func:`eeg.band_gain`): within 0.05 nats (Welch and window-mean estimation
    noise on 120 s; the window mean removed per window costs delta about 2 %)"""
    rng = np.random.default_rng(seed)
    n = int(120 * FS)
    x = np.column_stack([pink_alpha(n, rng), pink_alpha(n, rng)])
    ends = grid_ends(120.0)
    X, names = eeg.differential_entropy(x, FS, ends, channels=["a", "b"])
    f, p = welch(x, fs=FS, nperseg=2048, axis=0)
    df = f[1] - f[0]
    for j, (band, (lo, hi)) in enumerate(eeg.PAPER_BANDS.items()):
        g = eeg.band_gain(f, lo, hi, FS) ** 2
        for c in range(2):
            de_welch = 0.5 * np.log(2 * np.pi * np.e * (p[:, c] * g).sum() * df)
            de_ours = 0.5 * np.log(2 * np.pi * np.e * _band_var_mean(X, c * 5 + j))
            assert abs(de_ours - de_welch) < 0.05, (band, c, de_ours, de_welch)
            # per window, the median DE differs by the Jensen gap only (< 0.35 nats)
            assert -0.05 < de_welch - np.median(X[:, c * 5 + j]) < 0.35


def test_hand_computed_white_noise():
    """white noise of variance s2: the power-complementary edges make each band's equivalent
    bandwidth exactly hi - lo, so the band variance is s2 * 2 (hi - lo) / fs. 600 windows:
    the mean variance is within 4 % (0.02 nats; delta, 4 degrees of freedom a window, also
    loses ~2 % to the per-window mean)"""
    rng = np.random.default_rng(3)
    s2 = 4.0
    x = rng.normal(0, np.sqrt(s2), (int(600 * FS), 1))
    X, _ = eeg.differential_entropy(x, FS, grid_ends(600.0), channels=["c"])
    for j, (lo, hi) in enumerate(eeg.PAPER_BANDS.values()):
        expected = s2 * 2 * (hi - lo) / FS
        tol = 0.1 if hi - lo <= 3 else 0.04  # few degrees of freedom in delta and theta
        assert _band_var_mean(X, j) / expected == pytest.approx(1.0, abs=tol), (lo, hi)


def test_same_as_scipy_fir_of_the_same_response():
    """independent time-domain implementation of the same frequency response: a long
    linear-phase FIR (scipy.signal.firwin2 with the amplitude of eeg.band_gain), convolved
    (zero phase); per-window DE agrees within 0.01 nats away from the trial edges (FIR design
    ripple), which pins the normalisation and the window alignment"""
    from scipy.signal import firwin2, oaconvolve
    rng = np.random.default_rng(6)
    T = 40.0
    x = pink_alpha(int(T * FS), rng)
    ends = grid_ends(T)
    X, _ = eeg.differential_entropy(x[:, None], FS, ends, channels=["a"])
    grid = np.linspace(0, FS / 2, 4097)
    inner = (ends >= 8) & (ends <= T - 3)
    for j, (lo, hi) in enumerate(eeg.PAPER_BANDS.values()):
        h = firwin2(int(12 * FS) + 1, grid, eeg.band_gain(grid, lo, hi, FS), fs=FS)
        y = oaconvolve(x - x.mean(), h, mode="same")
        for w in np.flatnonzero(inner):
            seg = y[int(round((ends[w] - 1) * FS)):int(round(ends[w] * FS))]
            ref = 0.5 * np.log(2 * np.pi * np.e * seg.var())
            assert abs(X[w, j] - ref) < 0.01, (lo, hi, ends[w], X[w, j], ref)


def test_against_mne_fir_with_narrow_transitions():
    """MNE's FIR with explicit 1 Hz transitions passes [lo, hi] flat and rolls off outside
    (its -6 dB points half a transition outside). The mean DE difference to helo's is the one
    the two known gains |H|^2 predict on the signal's Welch PSD, within 0.03 nats; and for
    alpha and above (bands much wider than the transition) it is below 0.07 nats anyway"""
    rng = np.random.default_rng(7)
    n = int(120 * FS)
    x = pink_alpha(n, rng)[:, None]
    ends = grid_ends(120.0)
    X, _ = eeg.differential_entropy(x, FS, ends, channels=["a"])
    Xm, _ = eeg.differential_entropy(x, FS, ends, channels=["a"], filter="mne",
                                     l_trans_bandwidth=1.0, h_trans_bandwidth=1.0)
    f, p = welch(x[:, 0], fs=FS, nperseg=4096)
    for j, (band, (lo, hi)) in enumerate(eeg.PAPER_BANDS.items()):
        g_ours = eeg.band_gain(f, lo, hi, FS) ** 2
        g_mne = _mne_gain2(lo, hi, FS, f, 1.0, 1.0)
        predicted = 0.5 * np.log((p * g_ours).sum() / (p * g_mne).sum())
        measured = 0.5 * np.log(_band_var_mean(X, j) / _band_var_mean(Xm, j))
        assert abs(measured - predicted) < 0.03, (band, measured, predicted)
        if lo >= 8:
            assert abs(measured) < 0.07, band


def test_band_edges_sharp_within_transition():
    """a sine 0.6 Hz outside a band passes nothing (transition 1 Hz: 0.5 Hz each side), one
    inside passes whole; MNE's 'auto' transitions (the old default) let 53 Hz into gamma"""
    T = 30.0
    t = np.arange(int(T * FS)) / FS
    ends = grid_ends(T)
    bands = eeg.PAPER_BANDS
    for j, (lo, hi) in enumerate(bands.values()):
        for f0, inside in ((lo - 0.6, False), (hi + 0.6, False), ((lo + hi) / 2, True),
                           (lo + 0.6, True), (hi - 0.6, True)):
            if f0 <= 0:
                continue
            x = np.sin(2 * np.pi * f0 * t)[:, None]
            X, _ = eeg.differential_entropy(x, FS, ends, channels=["a"])
            v = np.median(np.exp(2 * X[:, j]) / (2 * np.pi * np.e))
            if inside:  # (a 1 s window holds a non-integer number of delta cycles: its
                # own mean takes up to 5 % of the variance)
                assert v == pytest.approx(0.5, rel=0.05 if hi <= 3 else 0.02), (lo, hi, f0, v)
            else:
                assert v < 1e-4 * 0.5, (lo, hi, f0, v)  # below -40 dB (trial FFT leakage)
    x = np.sin(2 * np.pi * 53.0 * t)[:, None]
    Xm, _ = eeg.differential_entropy(x, FS, ends, channels=["a"], filter="mne")
    assert np.median(np.exp(2 * Xm[:, 4]) / (2 * np.pi * np.e)) > 0.05  # the old leak
    Xb, _ = eeg.differential_entropy(x, FS, ends, channels=["a"], transition_hz=0.0)
    assert np.median(np.exp(2 * Xb[:, 4]) / (2 * np.pi * np.e)) < 1e-4  # brick wall


def test_band_gain_power_complementary():
    f = np.linspace(0, 150, 30001)
    g = sum(eeg.band_gain(f, lo, hi, FS) ** 2 for lo, hi in eeg.OFFICIAL_BANDS.values())
    inner = (f >= 1.5) & (f <= 48.5)  # the official bands tile 1-49 Hz without gaps
    np.testing.assert_allclose(g[inner], 1.0, atol=1e-12)
    assert eeg.band_gain(np.array([3.0, 1.0]), 1, 3, FS) ** 2 == pytest.approx([0.5, 0.5])
    # the equivalent noise bandwidth is exactly hi - lo
    for lo, hi in eeg.PAPER_BANDS.values():
        enbw = np.trapezoid(eeg.band_gain(f, lo, hi, FS) ** 2, f)
        assert enbw == pytest.approx(hi - lo, abs=1e-3)


def test_mne_filter_still_available():
    """filter="mne" keeps the earlier path: white noise through MNE's 'auto' alpha 8-13 Hz
    has the variance of an ideal 7-14.625 Hz band (-6 dB points half a transition outside)"""
    rng = np.random.default_rng(3)
    s2 = 4.0
    x = rng.normal(0, np.sqrt(s2), (int(120 * FS), 1))
    X, _ = eeg.differential_entropy(x, FS, grid_ends(120.0), channels=["c"],
                                    bands={"alpha": (8, 13)}, filter="mne")
    expected = 0.5 * np.log(2 * np.pi * np.e * s2 * 2 * (14.625 - 7.0) / FS)
    assert -0.09 < 0.5 * np.log(2 * np.pi * np.e * _band_var_mean(X, 0)) - expected < 0.01
    with pytest.raises(ValueError, match="filter"):
        eeg.differential_entropy(x, FS, grid_ends(120.0), channels=["c"], filter="iir")


def test_spectral_convention():
    rng = np.random.default_rng(4)
    s2 = 2.0
    x = rng.normal(0, np.sqrt(s2), (int(30 * FS), 2))
    X, names = eeg.differential_entropy(x, FS, grid_ends(30.0), channels=["a", "b"],
                                        method="spectral", resample=100)
    assert X.shape == (26, 10) and np.isfinite(X).all()
    # white noise of variance s2 at 300 Hz keeps s2/3 below the new Nyquist after resampling
    # to 100 Hz; with 100-sample Hann windows E|X_k|^2 = (s2/3) * sum(hann^2)
    expected = np.log2(100 * s2 / 3 * (np.hanning(100) ** 2).sum())
    for col in (2, 3, 7, 8):  # alpha, beta of both channels (away from the anti-alias edge)
        assert abs(np.log2(np.mean(2.0 ** X[:, col])) - expected) < 0.3


def test_bad_input_nan_flat_short():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((int(10 * FS), 2))
    x[int(7.2 * FS):int(7.5 * FS), 0] = np.nan
    x[:, 1] = 3.0  # a dead channel
    ends = grid_ends(10.0)
    X, _ = eeg.differential_entropy(x, FS, ends, channels=["a", "b"])
    bad = (ends > 7.2) & (ends - 1 < 7.5)
    assert np.isnan(X[bad]).all()
    assert np.isfinite(X[~bad, :5]).all()
    assert np.isnan(X[:, 5:]).all()  # flat channel -> NaN, never -inf
    X2, names = eeg.differential_entropy(x[: int(3 * FS)], FS, grid_ends(3.0), channels=["a", "b"])
    assert X2.shape == (0, 10)


def test_spectral_resampled_flat_window_is_the_recorded_one():
    """with ``resample`` the flat-channel check looks at the windows of the recording at its own
    rate: a channel flat over [10, 12) s gives NaN on the windows ending at 11 and 12 s only"""
    rng = np.random.default_rng(8)
    x = rng.standard_normal((int(40 * FS), 2))
    x[int(10 * FS):int(12 * FS), 1] = 2.5
    ends = grid_ends(40.0)
    X, _ = eeg.differential_entropy(x, FS, ends, channels=["a", "b"], method="spectral",
                                    resample=100)
    assert np.isfinite(X[:, :5]).all()
    assert ends[np.isnan(X[:, 5:]).any(axis=1)].tolist() == [11.0, 12.0]
    assert np.isnan(X[np.isin(ends, [11.0, 12.0]), 5:]).all()


def _frozen_fft_de(data, fs, ends, bands=eeg.PAPER_BANDS, window_s=1.0, transition_hz=1.0):
    """helo's ``"fft"`` DE as it was before the envelope route (frozen here as the reference):
    ``window_notes`` and ``fill_nan``, the padded trial's FFT, per band the whole spectrum times
    ``band_gain`` and one full-length inverse FFT, ``numpy.var`` per window, then NaN for bad
    windows and for channels flat in a window"""
    from scipy import fft as sfft

    from helo.features.windows import (
        fill_nan,
        take_windows,
        valid_windows,
        window_bounds,
        window_notes,
    )
    data = np.asarray(data, dtype=np.float64)
    n, n_ch = data.shape
    bands = eeg.resolve_bands(bands)
    n_b = len(bands)
    X = np.full((len(ends), n_ch * n_b), np.nan)
    bad, _ = window_notes(data, fs, ends, window_s, what="eeg")
    x = fill_nan(data)
    start, stop = window_bounds(ends, fs, window_s)
    ok = valid_windows(start, stop, n)
    length = int(round(window_s * fs))
    if ok.any():
        pad = min(n - 1, int(np.ceil(eeg.FFT_PAD_S * fs)))
        n_fft = sfft.next_fast_len(n + 2 * pad, real=True)
        freqs = np.fft.rfftfreq(n_fft, 1.0 / fs)
        buf = np.zeros((n_ch, n_fft))
        buf[:, pad:pad + n] = x.T
        buf[:, pad:pad + n] -= buf[:, pad:pad + n].mean(axis=1, keepdims=True)
        buf[:, :pad] = buf[:, 2 * pad:pad:-1]
        buf[:, pad + n:pad + n + pad] = buf[:, pad + n - 2:n - 2:-1]
        spec = sfft.rfft(buf, axis=1)
        for j, (lo, hi) in enumerate(bands.values()):
            y = sfft.irfft(spec * eeg.band_gain(freqs, lo, hi, fs, transition_hz), n_fft, axis=1)
            var = take_windows(y.T, start[ok] + pad, length).var(axis=-1)
            with np.errstate(divide="ignore", invalid="ignore"):
                de = 0.5 * np.log(2 * np.pi * np.e * var)
            de[~np.isfinite(de) | (var <= 0)] = np.nan
            X[np.flatnonzero(ok)[:, None], np.arange(n_ch)[None, :] * n_b + j] = de
        segs = take_windows(data, start[ok], length)
        with np.errstate(invalid="ignore"):
            flat = np.ptp(segs, axis=-1) == 0
        for r, c in zip(*np.nonzero(flat)):
            X[np.flatnonzero(ok)[r], c * n_b:(c + 1) * n_b] = np.nan
    X[bad] = np.nan
    return X


def _adversarial(n, fs, rng):
    """channels that stress the envelope route's rounding: steps and bursts of 60-120 dB,
    spikes, a drift, a chirp through every band, a sine at a band edge, a DC offset"""
    t = np.arange(n) / fs
    T = n / fs
    return np.column_stack([
        rng.standard_normal(n),
        rng.standard_normal(n) * np.where(t < T / 2, 1e4, 1.0),
        rng.standard_normal(n) * np.where((t > 10) & (t < 12), 1e4, 1e-2),
        rng.standard_normal(n) * np.where(t < 3, 1e4, 1.0),
        rng.standard_normal(n) + 1e5 * (rng.random(n) < 1e-4),
        np.cumsum(rng.standard_normal(n)),
        np.sin(2 * np.pi * (0.5 + 25 * t / T) * t),
        1e3 * np.sin(2 * np.pi * 0.6 * t) + 1e-6 * rng.standard_normal(n),
        1e6 + rng.standard_normal(n),
    ])


@pytest.mark.parametrize("case", ["paper", "official+edges", "adversarial", "faults",
                                  "irregular", "256Hz"])
def test_same_as_frozen_reference(case):
    """the DE equals the frozen full-length-inverse-FFT computation within 1e-9 nats (and has
    the same NaN cells) whichever route each band takes: the envelope route for the paper's
    bands at 300 Hz, the direct route for wide ones, the fallback for flagged channels"""
    rng = np.random.default_rng(11)
    fs, T, kw = FS, 60.0, {}
    ends = grid_ends(T)
    if case == "paper":
        x = rng.standard_normal((int(T * fs), 6)) * 10
    elif case == "official+edges":
        x = pink_alpha(int(T * fs), rng)[:, None] * np.ones((1, 3)) + rng.standard_normal(
            (int(T * fs), 3))
        kw = {"bands": {"dc": (0.0, 4.0), "official_beta": (14.0, 31.0), "wide": (1.0, 100.0),
                        "nyquist": (140.0, 150.0)}}
    elif case == "adversarial":
        T = 120.0
        ends = grid_ends(T)
        x = _adversarial(int(T * fs), fs, rng)
        kw = {"bands": dict(eeg.PAPER_BANDS, dc=(0.0, 1.0))}
    elif case == "faults":
        x = rng.standard_normal((int(T * fs), 4))
        x[1000:1100, 0] = np.nan
        x[5000:5400, 1] = 3.0
        x[:, 2] = -1.0
        x[7000, 3] = np.inf
        kw = {"transition_hz": 0.0, "window_s": 2.0}
    elif case == "irregular":
        x = rng.standard_normal((int(T * fs), 3))
        ends = np.array([3.3, 7.9, 7.95, 20.0, 59.99, 70.0])
    else:
        fs = 256.0
        x = rng.standard_normal((int(T * fs), 3))
    X, _ = eeg.differential_entropy(x, fs, ends, **kw)
    ref = _frozen_fft_de(x, fs, ends, **kw)
    assert np.array_equal(np.isnan(X), np.isnan(ref))
    assert np.isfinite(ref).sum() > 0.5 * ref.size
    assert np.nanmax(np.abs(X - ref)) < 1e-9
