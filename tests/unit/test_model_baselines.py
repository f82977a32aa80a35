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
from baseline_problem import SPEC, L, easy_problem, kl, make_split

from helo.model.base import concat
from helo.model.baselines import BASELINES
from helo.model.baselines.pyldl_methods import pyldl_class

torch.set_num_threads(1)

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
DEEP = ["carat", "rsm-ual", "amanda", "conformer", "maet", "emotiondict", "sa-cpnn"]



@pytest.fixture(scope="module")
def data():
    return easy_problem()



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
    ("sa-cpnn", "CPNN", {"epochs": 60}, {"pca": None, "epochs": 60, "solver": "pyldl"}),
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
    Xt_raw, _ = make_split(120, 2, shift=1.5)  # shifted "held-out subject", labels discarded
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
    def gap(p):
        return np.abs(p.mean(0) - ytr.mean(0)).sum()
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
