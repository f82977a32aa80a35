import math

import numpy as np
import pytest

from helo.evaluation import metrics as M

pm = pytest.importorskip("pyldl.metrics")

PYLDL = {"chebyshev": pm.chebyshev, "clark": pm.clark, "canberra": pm.canberra,
         "kl": pm.kl_divergence, "cosine": pm.cosine, "intersection": pm.intersection}


@pytest.mark.parametrize("name", list(M.METRICS))
def test_matches_pyldl(name):
    rng = np.random.default_rng(42)
    u = rng.dirichlet(np.ones(10), size=200)
    v = rng.dirichlet(np.ones(10), size=200)
    ours = M.METRICS[name].fn(u, v)
    ref = PYLDL[name](u, v, reduction=None)
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-12)
    assert math.isclose(M.evaluate(u, v)[name], float(np.mean(ref)), rel_tol=1e-9)


def test_hand_computed():
    u = np.array([0.5, 0.5, 0.0])
    v = np.array([0.25, 0.25, 0.5])
    assert M.chebyshev(u, v)[0] == pytest.approx(0.5)
    # Clark: (0.25/0.75)^2 * 2 + (0.5/0.5)^2 = 2/9 + 1
    assert M.clark(u, v)[0] == pytest.approx(math.sqrt(2 / 9 + 1))
    assert M.canberra(u, v)[0] == pytest.approx(1 / 3 + 1 / 3 + 1)
    assert M.kl(u, v)[0] == pytest.approx(2 * 0.5 * math.log(2), abs=1e-9)
    assert M.cosine(u, v)[0] == pytest.approx(0.25 / (math.sqrt(0.5) * math.sqrt(0.375)))
    assert M.intersection(u, v)[0] == pytest.approx(0.5)


def test_zero_handling_and_identity():
    u = np.array([[0.0, 0.3, 0.7]])
    r = M.evaluate(u, u)
    assert r["chebyshev"] == 0 and r["clark"] == 0 and r["canberra"] == 0
    assert r["kl"] == pytest.approx(0.0, abs=1e-12)
    assert r["cosine"] == pytest.approx(1.0) and r["intersection"] == pytest.approx(1.0)
    # a zero predicted where the truth has mass: finite, large KL
    kl = M.kl([[0.5, 0.5]], [[1.0, 0.0]])[0]
    assert np.isfinite(kl) and kl == pytest.approx(0.5 * math.log(0.5 / 1e-12) + 0.5 *
                                                    math.log(0.5), rel=1e-9)


def test_directions():
    assert [m for m, x in M.METRICS.items() if x.higher_is_better] == ["cosine",
                                                                       "intersection"]
    assert M.METRICS["kl"].direction == "lower"


def test_average_rank_with_ties():
    table = {
        "a": {"chebyshev": 0.1, "clark": 0.5, "canberra": 1.0, "kl": 0.1, "cosine": 0.9,
              "intersection": 0.8},
        "b": {"chebyshev": 0.2, "clark": 0.5, "canberra": 2.0, "kl": 0.2, "cosine": 0.95,
              "intersection": 0.7},
        "c": {"chebyshev": 0.3, "clark": 0.6, "canberra": 3.0, "kl": 0.3, "cosine": 0.8,
              "intersection": 0.7},
    }
    r = M.average_rank(table)
    # a: 1, 1.5, 1, 1, 2, 1 ; b: 2, 1.5, 2, 2, 1, 2.5 ; c: 3, 3, 3, 3, 3, 2.5
    assert r["a"] == pytest.approx((1 + 1.5 + 1 + 1 + 2 + 1) / 6)
    assert r["b"] == pytest.approx((2 + 1.5 + 2 + 2 + 1 + 2.5) / 6)
    assert r["c"] == pytest.approx((3 + 3 + 3 + 3 + 3 + 2.5) / 6)
    assert sum(r.values()) == pytest.approx(6 * 6 / 6)  # ranks of 3 methods sum to 6


def test_shape_mismatch_raises():
    with pytest.raises(ValueError):
        M.evaluate(np.ones((2, 3)) / 3, np.ones((2, 4)) / 4)


def test_zero_terms_hand_computed():
    """0/0 terms count 0 only where both entries are truly zero."""
    u = np.array([[0.0, 0.4, 0.6]])
    v = np.array([[0.0, 0.6, 0.4]])
    # Clark: 0 + (0.2 / 1.0)^2 + (0.2 / 1.0)^2 = 0.08; Canberra: 0 + 0.2 + 0.2
    assert M.clark(u, v)[0] == pytest.approx(math.sqrt(0.08), rel=1e-12)
    assert M.canberra(u, v)[0] == pytest.approx(0.4, rel=1e-12)
    # cosine: (0.24 + 0.24) / (|u| |v|), |u|^2 = |v|^2 = 0.16 + 0.36
    assert M.cosine(u, v)[0] == pytest.approx(0.48 / 0.52, rel=1e-12)
    # a zero in one vector only is a full term: |0 - 0.5| / 0.5 = 1, then 0.5 / 1.5
    assert M.canberra([[0.0, 1.0]], [[0.5, 0.5]])[0] == pytest.approx(1 + 1 / 3, rel=1e-12)
    assert M.clark([[0.0, 1.0]], [[0.5, 0.5]])[0] == pytest.approx(math.sqrt(1 + 1 / 9),
                                                                   rel=1e-12)
    # an all-zero prediction: cosine 0 (zero norm), Canberra l (every term |u_j| / u_j = 1 or 0)
    assert M.cosine([[0.2, 0.8]], [[0.0, 0.0]])[0] == 0.0
    assert M.canberra([[0.2, 0.8]], [[0.0, 0.0]])[0] == pytest.approx(2.0)


@pytest.mark.parametrize("name", list(M.METRICS))
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_input_is_an_error_not_a_distance(name, bad):
    """A NaN/inf prediction (a diverged model) used to become a zero Clark / Canberra distance
    and a zero cosine; now every metric refuses it, naming the array and the rows."""
    u = np.array([[0.2, 0.8], [0.5, 0.5], [1.0, 0.0]])
    v = u.copy()
    v[1, 0] = bad
    with pytest.raises(M.NonFiniteError, match=r"y_pred has 1 non-finite value.*rows 1\)"):
        M.METRICS[name].fn(u, v)
    with pytest.raises(M.NonFiniteError, match="y_true"):
        M.METRICS[name].fn(v, u)
    with pytest.raises(ValueError):
        M.evaluate(u, v)
