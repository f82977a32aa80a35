"""PT-SVM's weighted problem transformation (helo.model.baselines.pt_svm): equal to the expanded
single-label data, Platt scaling as scikit-learn's, the RBF map and the solver choice."""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pytest
from baseline_problem import SPEC, L, easy_problem, kl

from helo.model.base import concat
from helo.model.baselines import BASELINES


@pytest.fixture(scope="module")
def data():
    return easy_problem()


def test_pt_svm_weighted_form_equals_expanded_single_label_data(data):
    """One-vs-rest on the 2n weighted rows = one-vs-rest on the n*C weighted single-label rows
    (x_i, j, d_ij) that the problem transformation defines."""
    from sklearn.svm import LinearSVC

    from helo.model.baselines.pt_svm import _weighted_pt_svm
    Xtr, ytr, _, _ = data
    X = concat(Xtr).astype(np.float64)
    n = len(X)
    W, b, _, _ = _weighted_pt_svm(X, ytr, c=1.0, cv=1, seed=0, tol=1e-10, max_iter=10000)[0]
    Xe, ye, we = np.repeat(X, L, 0), np.tile(np.arange(L), n), ytr.reshape(-1)
    ref = LinearSVC(C=1.0, dual=False, tol=1e-10, max_iter=10000).fit(Xe, ye, sample_weight=we)
    np.testing.assert_allclose(W, ref.coef_, atol=1e-5)
    np.testing.assert_allclose(b, ref.intercept_, atol=1e-5)


def test_platt_matches_sklearn_sigmoid_calibration():
    from sklearn.calibration import _sigmoid_calibration

    from helo.model.baselines.pt_svm import _platt
    rng = np.random.default_rng(2)
    f = rng.normal(size=300)
    t = (rng.random(300) < 1 / (1 + np.exp(-2 * f + 0.3))).astype(float)
    a, b = _platt(f, t)  # hard 0/1 weights: ordinary Platt scaling
    A, B = _sigmoid_calibration(f, t)  # sklearn: P = 1 / (1 + exp(A f + B))
    assert a == pytest.approx(-A, rel=1e-3) and b == pytest.approx(-B, rel=1e-3, abs=1e-3)


def test_pt_svm_rbf_and_solvers(data):
    Xtr, ytr, Xte, yte = data
    mean = np.tile(ytr.mean(0), (len(yte), 1))
    p = BASELINES["pt-svm"](SPEC, kernel="rbf", n_components=64).fit(Xtr, ytr).predict(Xte)
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-9)
    assert kl(yte, p) < kl(yte, mean)
    with pytest.raises(ValueError, match="solver"):
        BASELINES["pt-svm"](SPEC, solver="nope").fit(Xtr, ytr)
