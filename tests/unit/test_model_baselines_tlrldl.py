"""TLRLDL's factored ADMM (helo.model.baselines.tlrldl): the same model as PyLDL's TLRLDL
from the same start, and its exact low-rank change test."""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pytest
from baseline_problem import L, easy_problem

from helo.model.base import concat


@pytest.fixture(scope="module")
def data():
    return easy_problem()


def test_tlrldl_lowrank_equals_pyldl_from_the_same_start(data):
    """The factored ADMM gives PyLDL's TLRLDL model when both start from the same O."""
    from pyldl.algorithms import TLRLDL as PyTLRLDL
    from pyldl.algorithms.utils import proj

    from helo.model.baselines.tlrldl import tlrldl_lowrank
    Xtr, ytr, Xte, _ = data
    X, Xt = concat(Xtr).astype(np.float64), concat(Xte).astype(np.float64)
    rng = np.random.default_rng(0)
    P0, Q0 = rng.random((len(X), L)) * (2 / L), rng.random((len(X), L))

    class SameStart(PyTLRLDL):
        def _before_train(self):
            super()._before_train()
            self._O = P0 @ Q0.T  # PyLDL's dense n x n O, from the factored start

    ref = SameStart().fit(X, ytr, max_iterations=100)
    W = tlrldl_lowrank(X, ytr, P0, Q0, max_iterations=100)
    assert ref._current_iteration < 100  # the stopping rule (incl. the O change) was used
    np.testing.assert_allclose(W, ref._W, rtol=0, atol=1e-9)
    np.testing.assert_allclose(proj(Xt @ W), ref.predict(Xt), rtol=0, atol=1e-9)


def test_max_abs_diff_lowrank_blocks():
    from helo.model.baselines.tlrldl import _max_abs_diff_lowrank
    rng = np.random.default_rng(1)
    P, Q, Po, Qo = (rng.normal(size=(37, 3)) for _ in range(4))
    want = np.abs(P @ Q.T - Po @ Qo.T).max()
    assert _max_abs_diff_lowrank(P, Q, Po, Qo, block_bytes=8 * 37 * 5) == pytest.approx(want)
    from helo.model.baselines.tlrldl import _lowrank_change_within
    assert _lowrank_change_within(P, Q, Po, Qo, want + 1e-9)
    assert not _lowrank_change_within(P, Q, Po, Qo, want - 1e-9)
    small = 1e-4 * Po  # tiny change: decided by the bound alone
    assert _lowrank_change_within(Po + small, Qo, Po, Qo, 1e-3 * want)

