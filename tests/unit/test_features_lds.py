"""LDS smoothing of window sequences (helo.features.lds): a hand-computed Kalman/RTS case, the
posterior mean against a direct solve of the Gaussian model, NaN windows, and the wiring into the
EEG extractor (features.eeg.smooth)."""
import numpy as np
import pytest

from helo.features import eeg, lds
from helo.features.windows import grid_ends


def test_hand_computed_filter_and_smoother():
    # x = [1, 3, 2], mu_0 = 0, p_0 = q = r = 1. Filter: gains 1/2, 3/5, 8/13 ->
    # [0.5, 2, 2]; smoother back from 2: J_1 = 0.6 / 1.6, J_0 = 0.5 / 1.5 -> [1, 2, 2]
    x = np.array([1.0, 3.0, 2.0])
    kw = dict(process_var=1.0, observation_var=1.0, prior_var=1.0, prior_mean=0.0)
    np.testing.assert_allclose(lds.lds_smooth(x, smoother=False, **kw), [0.5, 2.0, 2.0])
    np.testing.assert_allclose(lds.lds_smooth(x, **kw), [1.0, 2.0, 2.0])


def _map_solve(x, q, r, p0, mu0, observed=None):
    """argmin (z_1 - mu0)^2 / p0 + sum_obs (x_t - z_t)^2 / r + sum (z_t - z_{t-1})^2 / q: the
    posterior mean of the model, solved as one linear system (independent of the recursions)"""
    T = x.size
    observed = np.ones(T, bool) if observed is None else observed
    A = np.zeros((T, T))
    b = np.zeros(T)
    A[0, 0] += 1 / p0
    b[0] += mu0 / p0
    for t in range(T):
        if observed[t]:
            A[t, t] += 1 / r
            b[t] += x[t] / r
    for t in range(1, T):
        A[t, t] += 1 / q
        A[t - 1, t - 1] += 1 / q
        A[t, t - 1] -= 1 / q
        A[t - 1, t] -= 1 / q
    return np.linalg.solve(A, b)


@pytest.mark.parametrize("q,r,p0", [(1e-4, 1.0, 0.01), (0.3, 2.0, 5.0), (2.0, 0.1, 1.0)])
def test_smoother_is_the_posterior_mean_and_filter_its_prefix(q, r, p0):
    rng = np.random.default_rng(3)
    x = np.cumsum(rng.standard_normal(40)) + 5.0
    mu0 = x.mean()  # the default prior mean: the sequence's own mean
    got = lds.lds_smooth(x, process_var=q, observation_var=r, prior_var=p0)
    np.testing.assert_allclose(got, _map_solve(x, q, r, p0, mu0), rtol=1e-9, atol=1e-9)
    filt = lds.lds_smooth(x, process_var=q, observation_var=r, prior_var=p0, smoother=False)
    # E[z_t | x_1..x_t] is the last element of the posterior mean given the prefix alone
    for t in (0, 7, 39):
        assert filt[t] == pytest.approx(_map_solve(x[:t + 1], q, r, p0, mu0)[-1], abs=1e-9)


def test_units_do_not_change_the_smoothing():
    """fixed variances: the result is linear in the sequence (nats or log2 units alike)"""
    x = np.cumsum(np.random.default_rng(2).standard_normal(50)) + 20.0
    np.testing.assert_allclose(lds.lds_smooth(0.5 * np.log(2) * x),
                               0.5 * np.log(2) * lds.lds_smooth(x), rtol=1e-12)


def test_nan_windows_are_skipped_and_stay_nan():
    rng = np.random.default_rng(5)
    x = rng.standard_normal(12) + 3.0
    x[[0, 5, 6]] = np.nan
    seen = np.isfinite(x)
    got = lds.lds_smooth(x, process_var=0.5, observation_var=1.0, prior_var=2.0)
    assert np.isnan(got[~seen]).all()
    want = _map_solve(np.nan_to_num(x), 0.5, 1.0, 2.0, np.nanmean(x), observed=seen)
    np.testing.assert_allclose(got[seen], want[seen], atol=1e-9)
    assert np.isnan(lds.lds_smooth(np.full(4, np.nan))).all()


def test_axis_and_independent_sequences():
    rng = np.random.default_rng(7)
    X = rng.standard_normal((3, 20, 4)) * 2 + 10  # (channels, windows, bands)
    got = lds.lds_smooth(X, axis=1, process_var=0.1)
    for c, b in ((0, 0), (2, 3)):
        np.testing.assert_allclose(got[c, :, b], lds.lds_smooth(X[c, :, b], process_var=0.1))
    assert got.shape == X.shape


def test_default_variances_keep_the_slow_course_and_remove_the_scatter():
    """q / r = 1e-4: a gain near 0.01, so white scatter around a constant loses almost all of
    its variance while a step of 3 that lasts 300 windows is still followed"""
    rng = np.random.default_rng(11)
    level = np.r_[np.zeros(300), np.full(300, 3.0)]
    x = level + rng.standard_normal(600)
    got = lds.lds_smooth(x)
    assert np.std(got[:150] - got[:150].mean()) < 0.1 * np.std(x[:150])
    assert got[550:].mean() - got[:50].mean() > 2.0


def test_eeg_extractor_smooths_each_trials_windows():
    rng = np.random.default_rng(0)
    fs = 200.0
    data = rng.standard_normal((int(30 * fs), 3)) * 10
    ends = grid_ends(30.0, 1.0, 1.0)
    base = {"window_s": 1.0, "bands": "paper"}
    X, names = eeg.compute(data, fs, ends, base, channels=["Fz", "Cz", "Pz"])
    for how, smoother in (("lds", True), ("lds-filter", False)):
        Xs, ns = eeg.compute(data, fs, ends, {**base, "smooth": how, "lds_process_var": 0.01},
                             channels=["Fz", "Cz", "Pz"])
        assert ns == names
        np.testing.assert_allclose(Xs, lds.lds_smooth(X, axis=0, process_var=0.01,
                                                      smoother=smoother))
    Xn, _ = eeg.compute(data, fs, ends, {**base, "smooth": "none"}, channels=["Fz", "Cz", "Pz"])
    np.testing.assert_array_equal(Xn, X)
    with pytest.raises(ValueError, match="smooth must be one of"):
        lds.smooth_windows(X, {"smooth": "kalman"})
    with pytest.raises(ValueError, match="process_var must be a positive number"):
        lds.lds_smooth(X, process_var=0.0)


@pytest.mark.parametrize("over,words", [
    ({"features": {"eeg": {"smooth": "kalman"}}}, "features.eeg.smooth: Input should be 'none'"),
    ({"features": {"eeg": {"lds_process_var": 0}}}, "features.eeg.lds_process_var"),
    ({"data": {"label_smoothing": 1.0}}, "data.label_smoothing: Input should be less than 1")])
def test_the_options_are_schema_checked(over, words):
    from pathlib import Path

    from helo.stages import params as P
    from helo.stages.schema import ParamsError, validate
    base = P.load(Path(__file__).resolve().parents[2] / "params.yaml")
    validate(P.merge(base, {"features": {"eeg": {"smooth": "lds"}},
                            "data": {"label_smoothing": 0.1}}))
    with pytest.raises(ParamsError, match=words.replace("(", r"\(")):
        validate(P.merge(base, over))
