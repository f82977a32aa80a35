"""SA-CPNN on the torch engine (``helo/model/baselines/sa_cpnn.py``) against PyLDL's ``CPNN``,
``MemberRprop`` against hand-computed steps, stacked members against one-at-a-time fits, the
in-network PCA against scikit-learn.

Tolerances. PyLDL: from the same initial keras weights, the forward pass agrees to ~3e-8 and
the loss exactly (float32); after 40 full-batch Rprop epochs the predictions agree to ~2e-7
(measured 1.8e-7; 80 epochs 1.1e-7): Rprop reads only the gradients' signs, so the two
summation orders (keras multiplies ``[x, j]`` by one kernel, here ``x W_x + j w_label``) can
only part where a gradient is within rounding of zero -- in exact arithmetic only the output
bias's, which the softmax ignores (its value differs between the two, the predictions do not).
The test allows 1e-5. Stacked members: the same arithmetic through batched kernels, 1e-5 as
``test_baselines_stack.py``.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np
import pytest
import torch

from helo.model.base import ModalitySpec
from helo.model.baselines import sa_cpnn
from helo.model.baselines.sa_cpnn import SACPNN, keras_kl
from helo.model.optim import MemberRprop

torch.set_num_threads(1)

N, D, L = 60, 8, 5
SPEC1 = ModalitySpec(dims={"x": D}, physiological=["x"], behavioural=[], n_labels=L)
SPEC2 = ModalitySpec(dims={"a": 5, "b": 3}, physiological=["a"], behavioural=["b"],
                     n_labels=L)


def problem(n=N + 20, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, D)).astype(np.float32)
    W = np.random.default_rng(99).normal(size=(D, L))
    y = np.exp(0.7 * X @ W)
    return X, (y / y.sum(1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def pyldl_cpnn():
    from helo.model.baselines.pyldl_methods import pyldl_class
    return pyldl_class("CPNN")


def loaded(weights):
    """SA-CPNN whose network starts from a keras CPNN's weights."""
    class Loaded(SACPNN):
        def _build(self):
            net = super()._build()
            net.set_keras_weights(weights)
            return net
    return Loaded


def test_forward_and_loss_at_init_equal_pyldl(pyldl_cpnn):
    X, y = problem()
    est = pyldl_cpnn(random_state=3)
    est.fit(X[:N].astype(np.float64), y[:N], epochs=0)  # builds the keras model, no update
    net = loaded(est._model.get_weights())(SPEC1, device="cpu")._build()
    with torch.no_grad():
        p = net.predict_proba({"x": torch.from_numpy(X)})
    ref = np.asarray(est.predict(X))
    np.testing.assert_allclose(p.numpy(), ref, rtol=0, atol=1e-6)
    ours = float(keras_kl(torch.from_numpy(y[:N]), p[:N]))
    theirs = float(pyldl_cpnn.loss_function(torch.from_numpy(y[:N]), torch.from_numpy(ref[:N])))
    assert ours == pytest.approx(theirs, rel=1e-6)
    # and with row weights: the mean over the rows of weight 1
    w = torch.tensor([1.0] * 40 + [0.0] * 20)
    part = float(pyldl_cpnn.loss_function(torch.from_numpy(y[:40]), torch.from_numpy(ref[:40])))
    assert float(keras_kl(torch.from_numpy(y[:N]), p[:N], w)) == pytest.approx(part, rel=1e-6)


def test_full_batch_rprop_training_equals_pyldl(pyldl_cpnn):
    X, y = problem()
    epochs = 40
    est = pyldl_cpnn(random_state=3)
    est.fit(X[:N].astype(np.float64), y[:N], epochs=0)
    ref = pyldl_cpnn(random_state=3)
    ref.fit(X[:N].astype(np.float64), y[:N], epochs=epochs)  # the same initial weights
    m = loaded(est._model.get_weights())(SPEC1, epochs=epochs, device="cpu", seed=3)
    m.fit({"x": X[:N]}, y[:N])
    want = np.asarray(ref.predict(X[N:]), dtype=np.float64)
    got = m.predict({"x": X[N:]})
    np.testing.assert_allclose(got, want / want.sum(1, keepdims=True), rtol=0, atol=1e-5)
    assert len(m.history()) == epochs and m.history()[-1]["loss"] < m.history()[0]["loss"]


def test_member_rprop_hand_steps():
    """Member 0: sign kept (x1.2), then flipped (revert, x0.5, stored gradient zeroed), then a
    zero product (step kept); member 1 inactive at step 2 (nothing of it changes)."""
    p = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    opt = MemberRprop(p, lr=0.1, etas=(0.5, 1.2), step_sizes=(1e-6, 50.0))
    both = torch.tensor([True, True])
    g1 = torch.tensor([[1.0, -2.0, 0.0], [1.0, 1.0, 1.0]])
    opt.step(g1, both)  # no previous gradient: step 0.1, move -sign(g) * 0.1
    torch.testing.assert_close(p[0], torch.tensor([0.9, 2.1, 3.0]))
    torch.testing.assert_close(opt.steps[0], torch.tensor([0.1, 0.1, 0.1]))
    saved = [t[1].clone() for t in (p, opt.steps, opt.prev_grad, opt.prev_move)]
    g2 = torch.tensor([[3.0, 5.0, -1.0], [-9.0, -9.0, -9.0]])
    opt.step(g2, torch.tensor([True, False]))
    # kept sign: 0.12; flipped: the previous move (+0.1) reverted, step 0.05; zero product:
    # step 0.1 kept, move +0.1
    torch.testing.assert_close(p[0], torch.tensor([0.9 - 0.12, 2.0, 3.1]))
    torch.testing.assert_close(opt.steps[0], torch.tensor([0.12, 0.05, 0.1]))
    torch.testing.assert_close(opt.prev_grad[0], torch.tensor([3.0, 0.0, -1.0]))
    torch.testing.assert_close(opt.prev_move[0], torch.tensor([-0.12, -0.1, 0.1]))
    for t, s in zip((p, opt.steps, opt.prev_grad, opt.prev_move), saved):
        assert torch.equal(t[1], s)
    g3 = torch.tensor([[3.0, 5.0, -1.0], [1.0, 1.0, 1.0]])
    opt.step(g3, None)
    # member 0: kept, zero product after the flip (step 0.05, move -0.05), kept
    torch.testing.assert_close(p[0], torch.tensor([0.9 - 0.12 - 0.144, 1.95, 3.22]))
    torch.testing.assert_close(opt.steps[0], torch.tensor([0.144, 0.05, 0.12]))
    # member 1 takes its second step now: kept sign, 0.12
    torch.testing.assert_close(p[1], torch.tensor([-0.22, -0.22, -0.22]))
    # the bounds
    q = torch.zeros(1, 2)
    opt = MemberRprop(q, lr=40.0, step_sizes=(30.0, 45.0))
    opt.step(torch.tensor([[1.0, 1.0]]))
    opt.step(torch.tensor([[1.0, -1.0]]))
    torch.testing.assert_close(opt.steps, torch.tensor([[45.0, 30.0]]))


def members(sizes=(37, 50, 64)):
    rng = np.random.default_rng(1)
    W = rng.normal(size=(8, L))
    out = []
    for k, n in enumerate(sizes):
        r = np.random.default_rng(10 + k)
        X = r.normal(size=(n + 9, 8)).astype(np.float32)
        y = np.exp(0.5 * X @ W)
        y = (y / y.sum(1, keepdims=True)).astype(np.float32)
        Xd = {"a": X[:, :5], "b": X[:, 5:]}
        out.append(({m: v[:n] for m, v in Xd.items()}, y[:n],
                    {m: v[n:] for m, v in Xd.items()}, y[n:]))
    return out


@pytest.mark.parametrize("extra,block_rows", [({}, None), ({"pca": 4, "whiten": True}, None),
                                              ({}, 20)], ids=["plain", "pca", "blocks"])
def test_stacked_members_equal_one_at_a_time(extra, block_rows, monkeypatch):
    """Three members of 37, 50 and 64 rows, full batch (one padded step an epoch), with
    validation rows: the stack gives each member its fit alone; also with the stack's hidden
    layer in blocks of 20 rows (the last one ragged), as a large stack runs it on the CPU."""
    blocks = []
    if block_rows:
        monkeypatch.setattr(sa_cpnn, "STACK_BLOCK_ELEMENTS", 3 * block_rows * L * 8)
        real = sa_cpnn._BlockedHiddenScores.apply
        monkeypatch.setattr(sa_cpnn._BlockedHiddenScores, "apply",
                            lambda *args: blocks.append(args[-1]) or real(*args))

    def run(stacked):
        lrs = [SACPNN(SPEC2, n_hidden=8, epochs=15, device="cpu", seed=s, **extra)
               for s in (1, 2, 3)]
        return SACPNN.fit_many(lrs, members(), stacked=stacked)
    st, alone = run(True), run(False)
    Xq = {"a": np.random.default_rng(5).normal(size=(13, 5)).astype(np.float32),
          "b": np.random.default_rng(6).normal(size=(13, 3)).astype(np.float32)}
    for a, b in zip(st, alone):
        np.testing.assert_allclose(a.predict(Xq), b.predict(Xq), rtol=0, atol=1e-5)
        ha, hb = a.history(), b.history()
        assert len(ha) == len(hb) == 15
        for ra, rb in zip(ha, hb):
            assert ra["loss"] == pytest.approx(rb["loss"], rel=1e-5)
            assert ra["val_loss"] == pytest.approx(rb["val_loss"], rel=1e-5)
    assert set(blocks) == ({block_rows} if block_rows else set())


def test_blocked_hidden_layer_equals_autograd_of_the_whole():
    """The stack's blocked hidden layer (blocks of 7 rows of 30, hidden units recomputed in
    the backward, a hand-written gradient) gives the values and the gradients that autograd
    gives through :func:`hidden_scores` at once, for one member and for three under vmap."""
    from torch.func import grad, vmap
    torch.manual_seed(0)
    K, n, L, H = 3, 30, 5, 6
    label = torch.arange(1.0, L + 1)
    a, w_label, w2 = torch.randn(K, n, H), 0.3 * torch.randn(K, H), torch.randn(K, H)
    g_out = torch.randn(K, n, L)

    def loss(fn):
        return lambda a, wl, w2, g: (fn(a, wl, w2) * g).sum()
    whole = loss(lambda a, wl, w2: sa_cpnn.hidden_scores(a, label, wl, w2))
    blocked = loss(lambda a, wl, w2: sa_cpnn._BlockedHiddenScores.apply(a, label, wl, w2, 7))
    torch.testing.assert_close(
        sa_cpnn._BlockedHiddenScores.apply(a[0], label, w_label[0], w2[0], 7),
        sa_cpnn.hidden_scores(a[0], label, w_label[0], w2[0]), rtol=1e-6, atol=1e-6)
    for batch in (lambda f: f, vmap):
        args = (a, w_label, w2, g_out) if batch is vmap else (a[0], w_label[0], w2[0], g_out[0])
        want = batch(grad(whole, argnums=(0, 1, 2)))(*args)
        got = batch(grad(blocked, argnums=(0, 1, 2)))(*args)
        for g, w in zip(got, want):
            torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("pca,whiten", [(3, False), (4, True), (0.9, True)])
def test_pca_in_the_network_equals_sklearn(pca, whiten):
    from sklearn.decomposition import PCA
    X, y, _, _ = members()[2]
    m = SACPNN(SPEC2, pca=pca, whiten=whiten, epochs=1, device="cpu")
    m.fit(X, y)
    Xc = np.concatenate([X["a"], X["b"]], 1).astype(np.float64)
    ref = PCA(n_components=pca, svd_solver="full", whiten=whiten).fit(Xc)
    Xq = np.random.default_rng(7).normal(size=(11, 8))
    with torch.no_grad():
        got = m.module.features({"a": torch.tensor(Xq[:, :5], dtype=torch.float32),
                                 "b": torch.tensor(Xq[:, 5:], dtype=torch.float32)})
    want = ref.transform(Xq)
    assert got.shape == want.shape
    # a component's sign is the SVD's choice: compare up to it
    sign = np.sign((got.numpy() * want).sum(0))
    np.testing.assert_allclose(got.numpy() * sign, want, rtol=0, atol=1e-5)
    assert m._stack_key() == (ref.n_components_,)


def test_options_and_the_pyldl_solver(pyldl_cpnn):
    with pytest.raises(TypeError, match="unknown parameter"):
        SACPNN(SPEC1, n_hiden=8)
    with pytest.raises(ValueError, match="solver"):
        SACPNN(SPEC1, solver="keras")
    with pytest.raises(ValueError, match="optimizer"):
        SACPNN(SPEC1, optimizer="sgd")
    r = SACPNN(SPEC1).rules()
    assert (r.optimizer, r.lr, r.etas, r.step_sizes, r.weight_decay, r.grad_clip) == \
        ("rprop", 1e-3, (0.5, 1.2), (1e-6, 50.0), 0.0, None)
    assert r.batch_size >= 2**40  # None: full batch
    X, y = problem()
    m = SACPNN(SPEC1, solver="pyldl", n_hidden=8, epochs=5, seed=2).fit({"x": X[:N]}, y[:N])
    ref = pyldl_cpnn(random_state=2, n_hidden=8)
    state = np.random.get_state()
    np.random.seed(2)
    ref.fit(X[:N].astype(np.float64), y[:N], epochs=5)
    np.random.set_state(state)
    want = np.asarray(ref.predict(X[N:]), dtype=np.float64)
    np.testing.assert_allclose(m.predict({"x": X[N:]}), want / want.sum(1, keepdims=True),
                               rtol=1e-5, atol=1e-6)
    assert m.count_parameters() == 8 * (D + 1) + 8 + 8 + 1 == \
        SACPNN(SPEC1, n_hidden=8).count_parameters()
    assert m.history() == []


def test_auto_stack_estimates_a_full_batch_member(monkeypatch):
    """1 on the CPU; on a (pretended) GPU with 100 GB free, DMER-scale folds (50,688 rows,
    913 features) fit many at a time (a member ~1.4 GB: 38 in 50 GB), unlike the base class's
    mini-batch Transformer estimate, which counts a full batch as 200 x rows x 32 x 128
    floats."""
    import helo.model.baselines.sa_cpnn as mod
    assert SACPNN.auto_stack({"device": "cpu"}, 8, 50_688, 913) == 1
    monkeypatch.setattr(mod, "select_device", lambda _: torch.device("cuda"))
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda _: (100 * 2**30, 140 * 2**30))
    assert SACPNN.auto_stack({}, 8, 50_688, 913) == 8
    assert SACPNN.auto_stack({}, 73, 50_688, 913) == 38
    assert SACPNN.auto_stack({"solver": "pyldl"}, 73, 50_688, 913) == 1
