"""Every deep baseline trains stacked through the one engine (issue 22, point 1).

``TorchLearner.fit_many(stacked=True)`` must give each member what ``fit_many(stacked=False)``
(one member at a time, the module itself) gives it: three members with different training
sizes (37, 50 and 64 rows at batch 16: a padded short last batch, members without a batch at
the last step), validation rows, Amanda's unlabelled target rows of different sizes, MAET's
subjects; dropout 0.

Tolerances: a stacked step is the same arithmetic through batched kernels, so one step's loss
and gradients agree to ~1e-7 (checked below with padded batches, against the real rows alone).
Over training, Adam divides each gradient by its running RMS, which turns rounding noise into
steps of up to ``lr`` in a parameter whose gradient is zero in exact arithmetic: the Conformer's
convolution bias right before its batch norm, and EmotionDict's joint-representation biases
(its classifier's batch norm removes that offset, its consistency loss reads it through a
stop-gradient). Measured after 2 epochs, predictions of a stack of one and of the module alone
differ by ~4e-6 for both at lr 1e-3, by 1e-4 relative in EmotionDict's consistency loss. So the
end-to-end comparison runs the Conformer at lr 3e-4 and EmotionDict at lr 1e-4 without the
consistency loss (the one-step test covers it); the other four methods at their default lr
agree to ~1e-7. A padding or buffer mistake moves the first epoch's losses by far more than
1e-5. SA-CPNN trains with Rprop (signs of the gradients) on mini-batches of 16 here.
That no method reads a value on the host inside a step is tested in
``tests/unit/test_train_sync.py`` (both paths, every deep method).
"""
from __future__ import annotations

import copy
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pytest
import torch
from torch.func import functional_call, stack_module_state

from helo.model.base import ModalitySpec
from helo.model.registry import get_class
from helo.model.train import Member, _Wrapped, math_attention

torch.set_num_threads(1)

DIMS = {"a": 12, "b": 8, "c": 20}
L = 5
SPEC = ModalitySpec(dims=DIMS, physiological=["a", "b"], behavioural=["c"], n_labels=L,
                    channels={"a": 4})
METHODS = ["carat", "rsm-ual", "amanda", "conformer", "maet", "emotiondict", "sa-cpnn"]
# tiny networks, dropout 0; CARAT without its random shuffle term (each member of a stack
# draws its own permutations, as it draws its own dropout masks)
TINY = {
    "carat": dict(d=8, dz=4, heads=2, n_tokens=2, dropout=0.0, gamma_sf=0.0),
    "rsm-ual": dict(d=8, heads=2, n_tokens=2, dropout=0.0),
    "amanda": dict(d=8, hidden=8, dropout=0.0),
    "conformer": dict(d=8, depth=1, heads=2, n_tokens=2, dropout=0.0),
    "maet": dict(d=8, depth=2, heads=2, views=2, mixffn_start=1, dropout=0.0),
    "emotiondict": dict(d_joint=8, d_uni=4, heads=2, depth=1, dropout=0.0, n_atoms=4,
                        d_embed=8, lambda_dominant=0.5),
    "sa-cpnn": dict(n_hidden=8),  # Rprop on mini-batches of 16 here
}
# the end-to-end comparison's settings where Adam amplifies rounding (module docstring)
END_TO_END = {"conformer": dict(lr=3e-4), "emotiondict": dict(lr=1e-4, lambda_uni=0.0)}
SIZES = [37, 50, 64]
TARGETS = [11, 20, 30]  # target batches of 11, 16, 16 rows: member 0's is padded in a stack


def data(n, seed):
    rng = np.random.default_rng(seed)
    y = rng.dirichlet(np.full(L, 0.5), n).astype(np.float32)
    g = np.random.default_rng(123)
    X = {m: (2 * y @ g.normal(size=(L, d)) + rng.normal(size=(n, d))).astype(np.float32)
         for m, d in DIMS.items()}
    return X, y


def member_data(k, n=None):
    """``(X, y, X_val, y_val, X_target, groups)`` of member ``k``."""
    n = SIZES[k] if n is None else n
    X, y = data(n, k)
    Xv, yv = data(9, 100 + k)
    Xt, _ = data(TARGETS[k], 200 + k)
    return X, y, Xv, yv, Xt, np.arange(n) % 3  # three subjects


def fit(name, stacked, members=(0, 1, 2), epochs=2, **extra):
    cls = get_class(name)
    learners = [cls(SPEC, **{**TINY[name], **extra}, epochs=epochs, batch_size=16,
                     device="cpu", seed=10 + k) for k in members]
    cls.fit_many(learners, [member_data(k) for k in members], stacked=stacked)
    return learners


def predictions(learners):
    Xq, _ = data(13, 999)
    return [lr.predict(Xq) for lr in learners]


@pytest.mark.parametrize("name", METHODS)
def test_stacked_members_equal_one_at_a_time(name):
    extra = END_TO_END.get(name, {})
    stacked = fit(name, True, **extra)
    alone = fit(name, False, **extra)
    for a, b in zip(predictions(stacked), predictions(alone)):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)
    for sa, sb in zip(stacked, alone):
        ha, hb = sa.history(), sb.history()
        assert len(ha) == len(hb) == 2
        for ra, rb in zip(ha, hb):
            assert set(ra) == set(rb) and "val_loss" in ra
            for key in rb:
                if key not in ("epoch", "seconds"):
                    assert ra[key] == pytest.approx(rb[key], rel=1e-5, abs=1e-12), key
    if name == "amanda":
        assert all(lr.used_target_ for lr in stacked) and "la" in stacked[0].history()[0]
    if name == "maet":
        assert "domain" in stacked[0].history()[0]


# -- one step: a padded batch in a stack = the real rows alone ---------------------------------
ONE_STEP_EXTRA = {"emotiondict": dict(lambda_uni=0.1)}
#: parameters whose gradient is zero in exact arithmetic (SA-CPNN's output bias: the softmax
#: ignores it), so the two sides hold rounding noise of either sign
ZERO_GRADS = {"sa-cpnn": ("b2",)}


@pytest.mark.parametrize("name", METHODS)
def test_one_padded_step_equals_the_real_rows_alone(name):
    """Three members with 16, 9 and 4 real rows of a 16-row batch (Amanda: 10, 7 and 3 target
    rows of 10): the vmapped loss, its logs, its gradients and the buffers it updates (batch
    norm statistics, CARAT's prototypes, MAET's step count) equal those of each member's real
    rows alone."""
    cls = get_class(name)
    params = {**TINY[name], **ONE_STEP_EXTRA.get(name, {}), "device": "cpu"}
    learners = [cls(SPEC, **params, seed=s) for s in (1, 2, 3)]
    n_real, n_tgt, B, BT = [16, 9, 4], [10, 7, 3], 16, 10
    preps = []
    for k, lr in enumerate(learners):
        X, y = data(B, k)
        Xt, _ = data(BT, 50 + k)
        preps.append(lr._prepare(X, y, None, None, Xt, np.arange(B) % 3))
    members = [Member(seed=s, rows=np.arange(n)) for s, n in zip((1, 2, 3), n_real)]
    make, loss_fn, _, _ = cls._engine_parts(learners, [p.y[:n] for p, n in zip(preps, n_real)],
                                            members)
    nets = [make(m).train() for m in members]
    alone = [copy.deepcopy(net) for net in nets]

    def pad(a, n):  # the engine's padding: the member's first row, weight 0
        return np.concatenate([a[:n], np.repeat(a[:1], len(a) - n, 0)])
    w = torch.tensor([[1.0] * n + [0.0] * (B - n) for n in n_real])
    xb = {c: torch.from_numpy(np.stack([pad(p.X[c], n) for p, n in zip(preps, n_real)]))
          for c in preps[0].X}
    yb = torch.from_numpy(np.stack([pad(p.y, n) for p, n in zip(preps, n_real)]))
    use_t = preps[0].X_target is not None
    if use_t:
        xb["target"] = {m: torch.from_numpy(np.stack([pad(p.X_target[m], n)
                                                      for p, n in zip(preps, n_tgt)]))
                        for m in SPEC.modalities}
        xb["target_w"] = torch.tensor([[1.0] * n + [0.0] * (BT - n) for n in n_tgt])
    stacked_p, stacked_b = stack_module_state(nets)
    names = list(stacked_p)
    base = copy.deepcopy(nets[0]).to("meta")
    wrapped = _Wrapped(base, loss_fn)

    def one(p, b, xb, yb, w):
        return functional_call(wrapped, ({"net." + k: v for k, v in zip(names, p)},
                                         {"net." + k: v for k, v in b.items()}), (xb, yb, w))
    leaves = [stacked_p[k] for k in names]
    with math_attention():
        loss, logs = torch.vmap(one, randomness="different")(leaves, stacked_b, xb, yb, w)
    grads = torch.autograd.grad(loss.sum(), leaves, allow_unused=True, materialize_grads=True)
    for k, net in enumerate(alone):
        n, nt = n_real[k], n_tgt[k]
        xk = {c: v[k, :n] for c, v in xb.items() if c not in ("target", "target_w")}
        if use_t:
            xk["target"] = {m: v[k, :nt] for m, v in xb["target"].items()}
            xk["target_w"] = torch.ones(nt)
        with math_attention():
            lk, logk = loss_fn(net, xk, yb[k, :n], None)
        assert float(loss[k].detach()) == pytest.approx(float(lk.detach()), rel=1e-5)
        assert set(logk) == set(logs)
        for key, v in logk.items():
            assert float(logs[key][k]) == pytest.approx(float(v), rel=1e-5, abs=1e-7), key
        gk = torch.autograd.grad(lk, list(net.parameters()), allow_unused=True,
                                 materialize_grads=True)
        scale = max(float(g.abs().max()) for g in gk)
        for nm, g_s, g_a in zip(names, grads, gk):
            if nm in ZERO_GRADS.get(name, ()):  # both zero up to rounding, signs arbitrary
                assert max(float(g_s[k].abs().max()), float(g_a.abs().max())) < 1e-5 * scale
                continue
            np.testing.assert_allclose(g_s[k].numpy(), g_a.numpy(), rtol=1e-4,
                                       atol=1e-6 * scale, err_msg=nm)
        own = dict(net.named_buffers())
        for nm, b in stacked_b.items():
            np.testing.assert_allclose(b[k].double().numpy(), own[nm].double().numpy(),
                                       rtol=1e-5, atol=1e-6, err_msg=nm)
    if name == "carat":  # the prototypes moved, in place, inside the loss
        assert not torch.allclose(stacked_b["protos"], torch.stack([n.protos for n in nets]))
    if name == "maet":
        assert stacked_b["step"].tolist() == [1.0, 1.0, 1.0]


# -- pieces ---------------------------------------------------------------------------------------
def test_shuffle_views_permutes_the_real_rows_and_each_member_draws_its_own():
    from helo.model.baselines.carat import shuffle_views
    B, M, C = 7, 3, 4
    V = torch.zeros(B, M, C, 2)
    V[..., 0] = torch.arange(B, dtype=torch.float32).view(B, 1, 1)  # source row
    V[..., 1] = torch.arange(M, dtype=torch.float32).view(1, M, 1)  # source modality
    y = torch.softmax(torch.randn(B, C), -1)
    w = torch.tensor([1.0] * 5 + [0.0] * 2)
    torch.manual_seed(0)
    V2, t = shuffle_views(V, y, w)
    for j in range(C):
        for src_m in range(M):
            picked = sorted(int(V2[i, m, j, 0]) for i in range(5) for m in range(M)
                            if int(V2[i, m, j, 1]) == src_m)
            assert picked == list(range(5))  # a permutation of the real rows
        for i in range(B):  # every (sample, label) takes each modality once
            assert sorted(int(V2[i, m, j, 1]) for m in range(M)) == list(range(M))
    np.testing.assert_allclose(t.sum(-1).numpy(), 1.0, rtol=1e-6)
    # under vmap(randomness="different") the members of a stack draw different permutations
    out, _ = torch.vmap(lambda v: shuffle_views(v, y, w), randomness="different")(
        torch.stack([V, V]))
    assert not torch.equal(out[0], out[1])


def test_fit_many_needs_learners_that_differ_only_in_seed():
    cls = get_class("rsm-ual")
    a = cls(SPEC, **TINY["rsm-ual"], device="cpu", seed=1)
    b = cls(SPEC, **{**TINY["rsm-ual"], "d": 16}, device="cpu", seed=2)
    with pytest.raises(ValueError, match="more than their seed"):
        cls.fit_many([a, b], [member_data(0), member_data(1)])
    c = get_class("conformer")(SPEC, device="cpu")
    with pytest.raises(ValueError, match="more than their seed"):
        cls.fit_many([a, c], [member_data(0), member_data(1)])


def test_auto_stack_is_one_on_the_cpu():
    from helo.evaluation.runner import auto_stack
    for name in METHODS:
        assert get_class(name).auto_stack({"device": "cpu"}, 8, 1000, 40) == 1
        assert auto_stack(name, {"device": "cpu"}, 8, 1000, 40) == 1


def test_maet_members_of_different_subject_counts_and_their_schedules():
    """Members with 3 and 2 training subjects (domain heads of different widths) take one
    engine call each and still equal their fits alone; the step count a member's adversary
    schedule reads is the number of steps it took (4, 4 and 3 per epoch here)."""
    cls = get_class("maet")

    def run(stacked):
        learners = [cls(SPEC, **TINY["maet"], epochs=2, batch_size=16, device="cpu",
                        seed=10 + k) for k in range(3)]
        items = []
        for k in range(3):
            X, y, _, _, _, groups = member_data(k, n=[64, 50, 37][k])
            items.append((X, y, None, None, None, groups % (2 if k == 1 else 3)))
        return cls.fit_many(learners, items, stacked=stacked)
    stacked, alone = run(True), run(False)
    assert [lr.module.domain[-1].out_features for lr in stacked] == [3, 2, 3]
    for a, b in zip(predictions(stacked), predictions(alone)):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)
    assert [float(lr.module.step) for lr in stacked] == [8.0, 8.0, 6.0]


# -- the evaluation runner passes what fit() gets -------------------------------------------
@pytest.mark.parametrize("name", ["amanda", "maet"])
def test_runner_stack_gets_targets_and_subjects(tmp_path, name):
    """LOSO over 3 subjects, the folds stacked (``stack`` 3) or one at a time: the same
    predictions, so the stack got Amanda's target rows and MAET's subjects as fit() does."""
    import pandas as pd

    from helo.data import assemble as asm
    from helo.evaluation.runner import STACKABLE_METHODS, run_evaluation

    assert set(METHODS) < set(STACKABLE_METHODS)
    rng = np.random.default_rng(0)
    subj = np.repeat(np.arange(1, 4), 12)
    X = {m: rng.normal(size=(36, d)).astype(np.float32) for m, d in DIMS.items()}
    y = np.exp(X["a"][:, :L]) / np.exp(X["a"][:, :L]).sum(1, keepdims=True)
    ds = asm.Dataset(X=X, feature_names={m: [f"f{i}" for i in range(d)]
                                         for m, d in DIMS.items()},
                     y=y, label_names=list("abcde"), subject=subj,
                     trial=np.tile(np.repeat(np.arange(1, 4), 4), 3),
                     window=np.tile(np.arange(4), 9), physiological=["a", "b"],
                     behavioural=["c"])
    asm.save(ds, tmp_path / "data")
    params = {**TINY[name], "epochs": 2, "batch_size": 8, "device": "cpu"}
    preds = {}
    for stack in (1, 3):
        out = tmp_path / f"s{stack}"
        res = run_evaluation(tmp_path / "data", "loso", name, out, model_params=params,
                             progress=False, stack=stack)
        assert res["stack"] == stack
        preds[stack] = pd.read_parquet(out / "predictions.parquet")
        hist = pd.read_csv(out / "history.csv")
        assert ("la" if name == "amanda" else "domain") in hist.columns
    cols = [c for c in preds[1].columns if c.startswith("pred_")]
    np.testing.assert_allclose(preds[3][cols].to_numpy(), preds[1][cols].to_numpy(), atol=1e-5)
