"""The envelope route of the EEG DE (helo/features/band_variance.py) against direct references:
the window-sum factor against the plain sum of exponentials, the window variances against
``numpy.var`` of the band signal that ``scipy.fft.irfft`` gives."""
import numpy as np
import pytest
from scipy import fft as sfft

from helo.features import eeg
from helo.features.band_variance import (
    BandWindowVariance,
    factors_needed,
    fold_period,
    use_envelope,
    window_sum_factor,
)


@pytest.mark.parametrize("n_fft,length,start", [(97, 13, 5), (1200, 300, 1800), (1215, 64, 0),
                                                (48, 6, 7)])
def test_window_sum_factor_is_the_sum_it_names(n_fft, length, start):
    """against the plain sum of the exponentials (angles reduced exactly in integers), through
    two multiples of N, where the factor is L whatever the parity of L"""
    q = np.arange(0, 2 * n_fft + 3)
    turns = np.outer(q, start + np.arange(length)) % n_fft
    brute = np.exp(2j * np.pi * turns / n_fft).sum(axis=1)
    got = window_sum_factor(0, q.size, n_fft, length, start)
    np.testing.assert_allclose(got, brute, rtol=0, atol=1e-12 * length)
    np.testing.assert_allclose(got[[0, n_fft, 2 * n_fft]], length, rtol=1e-14)
    np.testing.assert_allclose(window_sum_factor(40, 30, n_fft, length, start), got[40:70],
                               rtol=0, atol=1e-13 * length)


def _direct(spec, k0, gain, n_fft, starts, length):
    Y = np.zeros_like(spec)
    Y[:, k0:k0 + gain.size] = spec[:, k0:k0 + gain.size] * gain
    y = sfft.irfft(Y, n_fft, axis=1)
    return np.stack([y[:, s:s + length].var(axis=1) for s in starts], axis=1)


@pytest.mark.parametrize("n_fft,k0,m,a0,step,n_win,length", [
    (1200, 30, 40, 100, 50, 20, 50),     # back-to-back windows, Q = 24
    (1200, 0, 25, 7, 40, 25, 60),        # the zero bin in the band, overlapping windows
    (1200, 570, 31, 0, 37, 30, 20),      # up to the Nyquist bin, gaps, gcd 1 (Q = N)
    (1200, 500, 101, 0, 30, 30, 30),     # up to the Nyquist bin, Q = 40
    (48, 20, 5, 0, 6, 7, 6),             # up to the Nyquist bin, even window length
    (1215, 100, 60, 300, 45, 20, 45),    # odd N (no Nyquist bin)
    (1000, 50, 30, 123, 1000, 1, 100),   # one window
])
def test_band_window_variance_matches_numpy_var(n_fft, k0, m, a0, step, n_win, length):
    """within 1e-11 of each variance on channels it trusts, within 1e-13 of the band's peak
    power on any channel"""
    rng = np.random.default_rng(k0 + m)
    spec = sfft.rfft(rng.standard_normal((3, n_fft)), axis=1)
    gain = rng.uniform(0.2, 1.0, m)
    starts = a0 + step * np.arange(n_win)
    assert starts[-1] + length <= n_fft
    factors = window_sum_factor(0, factors_needed(k0, m), n_fft, length, a0)
    bwv = BandWindowVariance(n_fft, k0, gain, step, n_win, length, factors)
    var, trusted = bwv.variance(spec[:, k0:k0 + m])
    assert bwv.q_len == fold_period(n_fft, step)
    ref = _direct(spec, k0, gain, n_fft, starts, length)
    assert trusted.any()
    np.testing.assert_allclose(var[trusted], ref[trusted], rtol=1e-11, atol=0)
    bins = np.arange(k0, k0 + m)
    analytic = np.zeros((3, n_fft), dtype=complex)  # u, y = Re u (module doc)
    analytic[:, bins] = spec[:, bins] * gain * np.where((bins == 0) | (2 * bins == n_fft), 1, 2)
    peak = (np.abs(sfft.ifft(analytic, axis=1)) ** 2).max(axis=1)
    assert (np.abs(var - ref).max(axis=1) < 1e-13 * peak).all()


def test_flags_a_channel_whose_rounding_could_show():
    """an 80 dB step leaves windows with 1e-8 of the peak power: that channel is flagged (the
    DE recomputes it directly), white noise is not; flagged or not, the variances are the
    numbers, only their last digits are in doubt"""
    rng = np.random.default_rng(3)
    n_fft, length, a0, n_win = 24000, 300, 600, 70
    x = rng.standard_normal((2, n_fft))
    x[1, n_fft // 2:] *= 1e-4
    spec = sfft.rfft(x, axis=1)
    k0, m = 200, 100
    gain = np.ones(m)
    factors = window_sum_factor(0, factors_needed(k0, m), n_fft, length, a0)
    var, trusted = BandWindowVariance(n_fft, k0, gain, length, n_win, length,
                                      factors).variance(spec[:, k0:k0 + m])
    assert trusted.tolist() == [True, False]
    ref = _direct(spec, k0, gain, n_fft, a0 + length * np.arange(n_win), length)
    np.testing.assert_allclose(var[0], ref[0], rtol=1e-11)
    np.testing.assert_allclose(var[1], ref[1], rtol=1e-3)


def test_paper_bands_take_the_envelope_route_at_300_hz():
    """the route the benchmark and DMER exercise: at 300 Hz on a 1 s grid every paper band is
    cheaper by the envelope, a band 100 Hz wide by the direct inverse FFT"""
    for n_fft in (19200, 182250):
        freqs = np.fft.rfftfreq(n_fft, 1 / 300.0)
        for lo, hi in eeg.PAPER_BANDS.values():
            k0, g = eeg._passband(freqs, lo, hi, 300.0, 1.0)
            assert use_envelope(n_fft, g.size, 300)
        k0, g = eeg._passband(freqs, 1.0, 100.0, 300.0, 1.0)
        assert not use_envelope(n_fft, g.size, 300)


@pytest.mark.parametrize("q_len,n,offset", [(7, 3, 2), (7, 30, 5), (7, 14, 0), (64, 2557, 1000),
                                            (5, 1, 4)])
def test_fold_adds_each_frequency_to_its_residue(q_len, n, offset):
    from helo.features.band_variance import _fold_add
    rng = np.random.default_rng(n)
    v = rng.standard_normal((3, n)) + 1j * rng.standard_normal((3, n))
    out = np.ones((3, q_len), dtype=complex)
    _fold_add(out, v, offset)
    ref = np.ones((3, q_len), dtype=complex)
    for i in range(n):
        ref[:, (offset + i) % q_len] += v[:, i]
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-13)
