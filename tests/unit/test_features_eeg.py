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


def _filter_gain2(lo, hi, fs, f):
    """|H(f)|^2 of the very FIR filter MNE applies (zero phase: the filter applied twice? no:
    firwin 'zero' phase = one pass of a linear-phase filter, delay compensated)"""
    import mne
    h = mne.filter.create_filter(None, fs, lo, hi, method="fir", phase="zero",
                                 fir_design="firwin", verbose="error")
    H = np.fft.rfft(h, 1 << 16)
    ff = np.fft.rfftfreq(1 << 16, 1 / fs)
    return np.interp(f, ff, np.abs(H) ** 2)


@pytest.mark.parametrize("seed", [1, 2])
def test_matches_welch_bandpower(seed):
    """mean over windows of exp(2 DE)/(2 pi e) is the band variance; 1/2 ln(2 pi e P_welch) with
    P the Welch PSD integrated through the filter's |H|^2 agrees within 0.2 nats"""
    rng = np.random.default_rng(seed)
    n = int(60 * FS)
    x = np.column_stack([pink_alpha(n, rng), pink_alpha(n, rng)])
    ends = grid_ends(60.0)
    X, names = eeg.differential_entropy(x, FS, ends, channels=["a", "b"])
    f, p = welch(x, fs=FS, nperseg=1024, axis=0)
    df = f[1] - f[0]
    for j, (band, (lo, hi)) in enumerate(eeg.PAPER_BANDS.items()):
        g = _filter_gain2(lo, hi, FS, f)
        for c in range(2):
            bp = (p[:, c] * g).sum() * df
            de_welch = 0.5 * np.log(2 * np.pi * np.e * bp)
            var_mean = np.mean(np.exp(2 * X[:, c * 5 + j]) / (2 * np.pi * np.e))
            de_ours = 0.5 * np.log(2 * np.pi * np.e * var_mean)
            assert abs(de_ours - de_welch) < 0.2, (band, c, de_ours, de_welch)
            # and per window, the median DE is close too (Jensen gap < 0.2 nats)
            assert abs(np.median(X[:, c * 5 + j]) - de_welch) < 0.35


def test_hand_computed_white_noise():
    """white noise of variance s2 through alpha 8-13 Hz: MNE's -6 dB edges lie half a transition
    band outside (auto transitions 2 Hz low, 3.25 Hz high), so the equivalent ideal band is
    7 .. 14.625 Hz and var = s2 * 2 B / fs"""
    rng = np.random.default_rng(3)
    s2 = 4.0
    x = rng.normal(0, np.sqrt(s2), (int(120 * FS), 1))
    X, _ = eeg.differential_entropy(x, FS, grid_ends(120.0), channels=["c"],
                                    bands={"alpha": (8, 13)})
    B = 14.625 - 7.0
    expected = 0.5 * np.log(2 * np.pi * np.e * s2 * 2 * B / FS)
    var_mean = np.mean(np.exp(2 * X[:, 0]) / (2 * np.pi * np.e))
    # the FIR transition bands pass less than the ideal band (about w/8 per edge for a
    # raised-cosine-like edge: -0.046 nats here), hence the one-sided tolerance
    assert -0.09 < 0.5 * np.log(2 * np.pi * np.e * var_mean) - expected < 0.01


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
