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
