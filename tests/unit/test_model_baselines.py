"""Baselines: valid distributions, better than the mean predictor on an easy problem,
deterministic, PyLDL cross-checks, Amanda uses the unlabelled target domain."""
from __future__ import annotations

import inspect
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np
import pytest
import torch

from helo.model.base import ModalitySpec, concat
from helo.model.baselines import BASELINES
from helo.model.baselines.pyldl_methods import pyldl_class

torch.set_num_threads(1)

DIMS = {"a": 12, "b": 8, "c": 20}
L = 5
SPEC = ModalitySpec(dims=DIMS, physiological=["a", "b"], behavioural=["c"], n_labels=L,
                    channels={"a": 4})

# small / short settings so the whole file runs in well under a minute on one core
FAST = {
    "pt-svm": {},
    "aa-knn": {},
    "sa-cpnn": {"epochs": 150},
    "ldl-lrr": {},
    "tlrldl": {"max_iterations": 50},
    "cad": {"epochs": 200},
    "carat": {"d": 32, "dz": 16, "heads": 2, "epochs": 15, "lr": 2e-3, "batch_size": 32},
    "rsm-ual": {"d": 32, "heads": 2, "epochs": 12},
    "amanda": {"d": 32, "hidden": 64, "epochs": 25, "lr": 2e-3},
    "conformer": {"d": 16, "depth": 2, "heads": 2, "epochs": 15},
    "maet": {"d": 16, "depth": 2, "epochs": 12},
    "emotiondict": {"depth": 1, "epochs": 12},
}
DEEP = ["carat", "rsm-ual", "amanda", "conformer", "maet", "emotiondict"]


def _make(n, seed, shift=0.0, noise=0.5):
    rng = np.random.default_rng(seed)
    y = rng.dirichlet(np.full(L, 0.5), n)
    g = np.random.default_rng(123)  # the same linear map for every split
    X = {m: (3 * y @ g.normal(size=(L, d)) + noise * rng.normal(size=(n, d)) + shift)
         for m, d in DIMS.items()}
    return X, y


def _standardise(train, *others):
    stats = {m: (v.mean(0), v.std(0) + 1e-8) for m, v in train.items()}
    f = lambda X: {m: ((X[m] - stats[m][0]) / stats[m][1]).astype(np.float32) for m in X}
    return [f(train)] + [f(o) for o in others]


@pytest.fixture(scope="module")
def data():
    Xtr, ytr = _make(200, 0)
    Xte, yte = _make(150, 1)
    Xtr, Xte = _standardise(Xtr, Xte)
    return Xtr, ytr, Xte, yte


def kl(y, p):
    p = np.clip(p, 1e-12, None)
    return float(np.mean(np.sum(np.where(y > 0, y * np.log(np.clip(y, 1e-12, None) / p), 0), 1)))


def cheb(y, p):
    return float(np.mean(np.max(np.abs(y - p), axis=1)))


_FITTED: dict = {}


def _fit(name, data, **extra):
    Xtr, ytr, Xte, yte = data
    m = BASELINES[name](SPEC, **{**FAST[name], **extra})
    m.fit(Xtr, ytr)
    return m, m.predict(Xte)


def _cached(name, data):
    if name not in _FITTED:
        _FITTED[name] = _fit(name, data)
    return _FITTED[name]


def test_names():
    assert {"pt-svm", "aa-knn", "sa-cpnn", "ldl-lrr", "tlrldl", "cad", "carat", "rsm-ual",
            "amanda", "conformer", "maet", "emotiondict"} <= set(BASELINES)
    assert BASELINES["amanda"].uses_target is True
    assert all(not BASELINES[n].uses_target for n in BASELINES if n != "amanda")


@pytest.mark.parametrize("name", list(FAST))
def test_valid_and_beats_mean(name, data):
    Xtr, ytr, Xte, yte = data
    model, p = _cached(name, data)
    assert p.shape == (len(yte), L)
    assert np.all(np.isfinite(p)) and np.all(p >= 0)
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-6)
    mean = np.tile(ytr.mean(0), (len(yte), 1))
    assert kl(yte, p) < kl(yte, mean), (name, kl(yte, p), kl(yte, mean))
    assert cheb(yte, p) < cheb(yte, mean), (name, cheb(yte, p), cheb(yte, mean))
    if name in DEEP:
        assert model.count_parameters() > 0
        assert isinstance(model.torch_module(), torch.nn.Module)
        h = model.history()
        assert len(h) == FAST[name]["epochs"] and "loss" in h[0]


@pytest.mark.parametrize("name", ["pt-svm", "sa-cpnn", "tlrldl", "carat", "rsm-ual", "amanda",
                                  "conformer", "maet", "emotiondict"])
def test_deterministic(name, data):
    _, p1 = _cached(name, data)
    _, p2 = _fit(name, data)
    np.testing.assert_allclose(p1, p2, rtol=0, atol=1e-6)


def test_deep_seed_changes_result(data):
    _, p1 = _cached("amanda", data)
    _, p2 = _fit("amanda", data, seed=1)
    assert not np.allclose(p1, p2)


# -- PyLDL cross-checks: the wrappers give exactly what PyLDL gives when called directly -------
@pytest.mark.parametrize("name,cls,fit_kw,wrap_kw", [
    ("pt-svm", "PT_SVM", {}, {"pca": None, "solver": "pyldl"}),
    ("aa-knn", "AA_KNN", {}, {}),
    ("tlrldl", "TLRLDL", {"max_iterations": 50}, {"solver": "pyldl"}),
    ("ldl-lrr", "LDL_LRR", {"max_iterations": 50}, {}),
    ("sa-cpnn", "CPNN", {"epochs": 60}, {"pca": None, "epochs": 60}),
])
def test_pyldl_wrappers_equal_direct(name, cls, fit_kw, wrap_kw, data):
    Xtr, ytr, Xte, yte = data
    wrapped = BASELINES[name](SPEC, **{**FAST[name], **wrap_kw}).fit(Xtr, ytr)
    state = np.random.get_state()
    np.random.seed(0)
    kw = {"random_state": 0} if name in ("ldl-lrr", "sa-cpnn") else {}
    direct = pyldl_class(cls)(**kw)
    direct.fit(concat(Xtr, SPEC.modalities).astype(np.float64), ytr, **fit_kw)
    np.random.set_state(state)
    xte = concat(Xte, SPEC.modalities).astype(np.float64)
    if name in ("ldl-lrr", "sa-cpnn"):
        xte = xte.astype(np.float32)
    ref = np.asarray(direct.predict(xte), dtype=np.float64)
    ref = ref / ref.sum(1, keepdims=True)
    np.testing.assert_allclose(wrapped.predict(Xte), ref, rtol=1e-5, atol=1e-6)


def test_aa_knn_k1_returns_nearest_training_distribution(data):
    Xtr, ytr, Xte, _ = data
    p = BASELINES["aa-knn"](SPEC, k=1).fit(Xtr, ytr).predict(Xte)
    a, b = concat(Xtr), concat(Xte)
    nearest = np.argmin(((b[:, None, :] - a[None, :, :]) ** 2).sum(-1), axis=1)
    np.testing.assert_allclose(p, ytr[nearest], atol=1e-6)


def test_cad_loss_matches_hand_formula():
    from pyldl.algorithms.loss_function_engineering import cad
    rng = np.random.default_rng(0)
    D, P = rng.dirichlet(np.ones(4), 6), rng.dirichlet(np.ones(4), 6)
    got = float(cad(torch.tensor(D, dtype=torch.float32), torch.tensor(P, dtype=torch.float32)))
    want = 0.0
    for i in range(1, 5):  # CAD: mean |cumulative difference| over every label prefix,
        # summed over prefixes and rows (PyLDL sums the per-row values)
        want += np.sum(np.mean(np.abs(np.cumsum(D[:, :i], 1) - np.cumsum(P[:, :i], 1)), 1))
    assert got == pytest.approx(want, rel=1e-5)


def test_pca_option_reduces_dimension(data):
    Xtr, ytr, Xte, _ = data
    m = BASELINES["aa-knn"](SPEC, pca=6).fit(Xtr, ytr)
    assert m.transform(Xte).shape == (len(Xte["a"]), 6)


# -- Amanda: target domain --------------------------------------------------------------------
def test_amanda_uses_target_and_never_target_labels(data):
    Xtr, ytr, _, _ = data
    Xt_raw, _ = _make(120, 2, shift=1.5)  # shifted "held-out subject", labels discarded
    Xt = {m: ((Xt_raw[m] - Xt_raw[m].mean(0)) / 4 + 0.8).astype(np.float32) for m in Xt_raw}
    params = inspect.signature(BASELINES["amanda"].fit).parameters
    assert set(params) == {"self", "X", "y", "X_val", "y_val", "X_target", "groups"}
    src_only, p_src = _cached("amanda", data)
    assert src_only.used_target_ is False
    adapted = BASELINES["amanda"](SPEC, **FAST["amanda"]).fit(Xtr, ytr, X_target=Xt)
    assert adapted.used_target_ is True
    assert {"la", "ca"} <= set(adapted.history()[-1])
    p_t_src, p_t_ad = src_only.predict(Xt), adapted.predict(Xt)
    assert not np.allclose(p_t_src, p_t_ad, atol=1e-4)
    # label alignment pulls the mean target prediction towards the training label mean
    gap = lambda p: np.abs(p.mean(0) - ytr.mean(0)).sum()
    assert gap(p_t_ad) < gap(p_t_src)


# -- MAET: multi-view embedding, modality experts, adversarial domain generalisation ----------
def test_maet_pieces():
    from helo.model.baselines.maet import MultiViewEmbedding, grad_reverse, smoothed_ce
    torch.manual_seed(0)
    emb = MultiViewEmbedding(7, 6, 5)
    assert emb(torch.randn(9, 7)).shape == (9, 5, 6)
    x = torch.randn(4, 3, requires_grad=True)
    (grad_reverse(x, 0.25) * 2).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), -0.5)  # identity forward, -alpha * grad back
    logits, t = torch.tensor([[2.0, 0.0, -1.0]]), torch.tensor([0])
    logp = np.log(np.exp([2.0, 0.0, -1.0]) / np.exp([2.0, 0.0, -1.0]).sum())
    want = 0.3 * -logp.mean() + 0.7 * -logp[0]  # hand-computed label smoothing 0.3
    assert float(smoothed_ce(logits, t, 0.3)) == pytest.approx(want, rel=1e-6)


def test_maet_adversarial_uses_subjects(data):
    Xtr, ytr, Xte, yte = data
    groups = np.repeat(np.arange(4), 50)
    m = BASELINES["maet"](SPEC, **FAST["maet"]).fit(Xtr, ytr, groups=groups)
    h = m.history()
    assert "domain" in h[0] and m.module.domain[-1].out_features == 4
    p = m.predict(Xte)  # the domain column is a training-only input
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-6)
    mean = np.tile(ytr.mean(0), (len(yte), 1))
    assert kl(yte, p) < 0.5 * kl(yte, mean)
    # the domain head only shapes the representation: off, the task loss path is the same
    off = BASELINES["maet"](SPEC, **FAST["maet"], adversarial=False).fit(Xtr, ytr, groups=groups)
    assert "domain" not in off.history()[0] and off.module.domain is None


# -- EmotionDict: orthonormal dictionary, representation in its span -------------------------
def test_emotiondict_dictionary():
    from helo.model.baselines.emotiondict import EmotionDictionary
    torch.manual_seed(0)
    d = EmotionDictionary(16, 5)
    Q = d.basis().detach()
    np.testing.assert_allclose((Q.T @ Q).numpy(), np.eye(5), atol=1e-5)
    c = torch.randn(3, 5)
    z = d(c).detach()
    np.testing.assert_allclose((z @ Q).numpy(), c.numpy(), atol=1e-5)  # coefficients recovered
    with pytest.raises(ValueError, match="orthonormal"):
        EmotionDictionary(4, 5)


def test_emotiondict_unimodal_consistency_is_trained(data):
    Xtr, ytr, _, _ = data
    m = BASELINES["emotiondict"](SPEC, **FAST["emotiondict"]).fit(Xtr, ytr)
    h = m.history()
    assert h[-1]["uni"] < h[0]["uni"]  # unimodal representations move towards the joint one


# -- scalable forms: exact reformulations, checked against the direct computation -------------
def test_tlrldl_lowrank_equals_pyldl_from_the_same_start(data):
    """The factored ADMM gives PyLDL's TLRLDL model when both start from the same O."""
    from pyldl.algorithms import TLRLDL as PyTLRLDL
    from pyldl.algorithms.utils import proj

    from helo.model.baselines.pyldl_methods import tlrldl_lowrank
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
    from helo.model.baselines.pyldl_methods import _max_abs_diff_lowrank
    rng = np.random.default_rng(1)
    P, Q, Po, Qo = (rng.normal(size=(37, 3)) for _ in range(4))
    want = np.abs(P @ Q.T - Po @ Qo.T).max()
    assert _max_abs_diff_lowrank(P, Q, Po, Qo, block_bytes=8 * 37 * 5) == pytest.approx(want)
    from helo.model.baselines.pyldl_methods import _lowrank_change_within
    assert _lowrank_change_within(P, Q, Po, Qo, want + 1e-9)
    assert not _lowrank_change_within(P, Q, Po, Qo, want - 1e-9)
    small = 1e-4 * Po  # tiny change: decided by the bound alone
    assert _lowrank_change_within(Po + small, Qo, Po, Qo, 1e-3 * want)


def test_pt_svm_weighted_form_equals_expanded_single_label_data(data):
    """One-vs-rest on the 2n weighted rows = one-vs-rest on the n*C weighted single-label rows
    (x_i, j, d_ij) that the problem transformation defines."""
    from sklearn.svm import LinearSVC

    from helo.model.baselines.pyldl_methods import _weighted_pt_svm
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

    from helo.model.baselines.pyldl_methods import _platt
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
