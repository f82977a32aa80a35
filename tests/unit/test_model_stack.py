"""The one training engine: K members trained as one stacked model (helo.model.train).

Tolerances: a stacked step runs the same arithmetic as K separate steps but through batched
kernels (``bmm`` instead of ``mm``, reductions over a leading member axis), which sum in another
order; a difference of ~1e-7 relative per step grows through Adam's ~1/sqrt(v) normalisation
over the steps of training. After 4 epochs of a small HeLo the members' predictions agree with
their alone-trained twins to ~3e-8 (measured), so 1e-6 absolute on probabilities in [0, 1]
leaves room for other BLAS builds and still fails on any real difference (another batch order
or init changes them by >1e-2, checked below).
"""
import contextlib
import platform
import threading

import numpy as np
import pytest
import torch

from helo.model.base import ModalitySpec
from helo.model.helo import HeLoLearner
from helo.model.train import FlatParameters, Member, MemberAdam, Rules, clip_per_member, fit_members

DIMS = {"eeg": 10, "gsr": 4, "ppg": 3, "video": 12}
SPEC = ModalitySpec(dims=DIMS, physiological=["eeg", "gsr", "ppg"], behavioural=["video"],
                    n_labels=5, label_names=list("abcde"))
SMALL = dict(d=16, heads=2, tokens=2, head_hidden=16, ot_iter=5, dropout=0.0, epochs=4,
             batch_size=16, lr=3e-3, device="cpu")


def make_data(n, seed):
    rng = np.random.default_rng(seed)
    X = {m: rng.normal(size=(n, d)).astype(np.float32) for m, d in DIMS.items()}
    z = X["eeg"][:, :5] + 0.5 * X["video"][:, :5]
    y = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    return X, y


# ragged: 50 (3 full batches + 2), 37 (2 + 5), 33 (2 + a 1-row batch that is dropped)
SIZES = [50, 37, 33]


def _fit(k_list, stacked, seeds=None, **kw):
    learners, data = [], []
    for i, k in enumerate(k_list):
        X, y = make_data(SIZES[k], seed=k)
        Xv, yv = make_data(11, seed=100 + k)
        learners.append(HeLoLearner(SPEC, **{**SMALL, **kw},
                                    seed=(seeds[i] if seeds else 10 + k)))
        data.append((X, y, Xv if kw.get("patience") else None,
                     yv if kw.get("patience") else None))
    HeLoLearner.fit_many(learners, data, stacked=stacked)
    Xt, _ = make_data(20, seed=999)
    return learners, [lr.predict(Xt) for lr in learners]


def test_member_of_a_stack_predicts_what_it_predicts_alone():
    _, stacked = _fit([0, 1, 2], stacked=True)
    for k in range(3):
        _, alone = _fit([k], stacked=False)
        np.testing.assert_allclose(stacked[k], alone[0], atol=1e-6, rtol=0)
    # the tolerance is meaningful: another seed moves the predictions far more
    _, other = _fit([0], stacked=False, seeds=[77])
    assert np.abs(other[0] - stacked[0]).max() > 1e-2


def test_histories_match_alone_and_ragged_steps():
    lrs, _ = _fit([0, 2], stacked=True)
    alone, _ = _fit([2], stacked=False)
    h_s, h_a = lrs[1].history(), alone[0].history()
    assert len(h_s) == len(h_a) == SMALL["epochs"]
    for a, b in zip(h_s, h_a):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-4)


def test_same_seed_reruns_are_bit_identical():
    _, p1 = _fit([0, 1], stacked=True, dropout=0.2)
    _, p2 = _fit([0, 1], stacked=True, dropout=0.2)
    for a, b in zip(p1, p2):
        assert np.array_equal(a, b)


def test_early_stop_of_one_member_leaves_the_others_unchanged():
    # seeds 5 and 11 with patience 1: member 0 stops after 2 epochs, member 1 trains all 8
    kw = dict(patience=1, epochs=8)
    lrs, ps = _fit([0, 1], stacked=True, seeds=[5, 11], **kw)
    assert [len(lr.history()) for lr in lrs] == [2, 8]
    alone1, pa1 = _fit([1], stacked=False, seeds=[11], **kw)
    np.testing.assert_allclose(ps[1], pa1[0], atol=1e-6, rtol=0)
    assert [r["val_loss"] for r in lrs[1].history()] == pytest.approx(
        [r["val_loss"] for r in alone1[0].history()], rel=1e-5)
    # the stopped member holds its best (first) epoch's weights, as alone
    alone0, pa0 = _fit([0], stacked=False, seeds=[5], **kw)
    assert len(alone0[0].history()) == 2
    np.testing.assert_allclose(ps[0], pa0[0], atol=1e-6, rtol=0)


def test_stopped_member_stops_changing_engine_level():
    torch.manual_seed(0)
    n, d = 64, 6
    X = {"x": torch.randn(n, d)}
    y = torch.softmax(torch.randn(n, 3), 1)

    def make(m):
        torch.manual_seed(m.seed)
        return torch.nn.Linear(d, 3)

    def loss_fn(net, xb, yb, w):
        lp = torch.log_softmax(net(xb["x"]), -1)
        per = (torch.xlogy(yb, yb) - yb * lp).sum(-1)
        loss = per.mean() if w is None else (per * w).sum() / w.sum().clamp_min(1)
        return loss, {}

    def log_prob(net, xb):
        return torch.log_softmax(net(xb["x"]), -1)

    rows = np.arange(48)
    val = np.arange(48, 64)
    # member 0: min_delta so large that no epoch after the first counts -> stops after epoch 2
    rules_stop = Rules(epochs=6, batch_size=16, lr=1e-2, patience=1, min_delta=0.0)
    members = [Member(seed=1, rows=rows, val_rows=val), Member(seed=2, rows=rows, val_rows=val)]
    mods = fit_members(make, loss_fn, X, y, members, rules_stop, log_prob=log_prob,
                       stacked=True)
    alone = [Member(seed=2, rows=rows, val_rows=val)]
    ref = fit_members(make, loss_fn, X, y, alone, rules_stop, log_prob=log_prob,
                      stacked=False)[0]
    for p, q in zip(mods[1].parameters(), ref.parameters()):
        torch.testing.assert_close(p, q, atol=1e-5, rtol=0)
    # a member with a tiny learning signal: force a stop by giving it constant targets
    rules = Rules(epochs=8, batch_size=16, lr=1e-2, patience=1, min_delta=10.0)
    ms = [Member(seed=1, rows=rows, val_rows=val), Member(seed=2, rows=rows, val_rows=val)]
    out = fit_members(make, loss_fn, X, y, ms, rules, log_prob=log_prob, stacked=True)
    # min_delta 10: only the first epoch improves (from inf) -> both stop after epoch 2 and
    # the best (epoch 1) weights are restored: equal to 1 epoch of training alone
    one = fit_members(make, loss_fn, X, y, [Member(seed=1, rows=rows, val_rows=val)],
                      Rules(epochs=1, batch_size=16, lr=1e-2), log_prob=log_prob,
                      stacked=False)[0]
    assert len(ms[0].history) == 2
    for p, q in zip(out[0].parameters(), one.parameters()):
        torch.testing.assert_close(p, q, atol=1e-6, rtol=0)


def test_a_stopped_member_leaves_its_buffers_as_alone():
    """A member that stops early keeps the buffers it had (here: weighted rows seen, updated
    inside the step as batch statistics are) while the others train on: equal to training it
    alone, and the member that trains on equals its own run alone too."""
    torch.manual_seed(0)
    n, d = 80, 6
    X = {"x": torch.randn(n, d)}
    logits = 3 * X["x"][:, :3]
    logits[64:] = -logits[64:]  # rows 64-79: labels against the rule the rest follow
    y = torch.softmax(logits, 1)

    class Counting(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(d, 3)
            self.register_buffer("seen", torch.zeros(()))

        def forward(self, x):
            return self.lin(x)

    def make(m):
        torch.manual_seed(m.seed)
        return Counting()

    def loss_fn(net, xb, yb, w):
        lp = torch.log_softmax(net(xb["x"]), -1)
        per = (torch.xlogy(yb, yb) - yb * lp).sum(-1)
        w = torch.ones(len(per)) if w is None else w
        net.seen.add_(w.sum())
        return (per * w).sum() / w.sum().clamp_min(1), {}

    def log_prob(net, xb):
        return torch.log_softmax(net(xb["x"]), -1)

    rows = np.arange(48)
    vals = (np.arange(64, 80), np.arange(48, 64))  # member 0 validates on the contrary rows
    rules = Rules(epochs=6, batch_size=16, lr=1e-2, patience=1, min_delta=0.0)
    stack = [Member(seed=s, rows=rows, val_rows=v) for s, v in zip((1, 2), vals)]
    mods = fit_members(make, loss_fn, X, y, stack, rules, log_prob=log_prob, stacked=True)
    epochs = [len(m.history) for m in stack]
    assert epochs[0] < epochs[1] == 6, epochs  # member 0 stopped, member 1 trained on
    for k, (seed, val) in enumerate(zip((1, 2), vals)):
        alone = [Member(seed=seed, rows=rows, val_rows=val)]
        ref = fit_members(make, loss_fn, X, y, alone, rules, log_prob=log_prob,
                          stacked=False)[0]
        assert float(mods[k].seen) == float(ref.seen), (k, epochs)


def test_member_adam_equals_separate_torch_adams():
    """Masked steps (ragged epochs, stopped members) leave a member's parameters, moments and
    step count alone; every member follows torch.optim.Adam on its own steps. The update is
    Adam's capturable form (bias corrections from float32 device step counts), so it agrees
    with the host-scalar form to float32 rounding: at most 3 ulps of parameters of size ~1
    (2.7e-7) after six steps of 1e-2, well under the 1e-2 a wrong step count or mask moves."""
    torch.manual_seed(0)
    K, shape = 3, (4, 5)
    init = torch.randn(K, *shape)
    flat = init.clone().reshape(K, -1)
    opt = MemberAdam(flat, lr=1e-2, weight_decay=1e-3)
    refs = [torch.nn.Parameter(init[k].clone()) for k in range(K)]
    ref_opts = [torch.optim.Adam([p], lr=1e-2, weight_decay=1e-3) for p in refs]
    active_plan = [None, None, [True, False, True], None, [False, True, True], None]
    for active in active_plan:
        g = torch.randn(K, *shape)
        opt.step(g.reshape(K, -1), None if active is None else torch.tensor(active))
        for k in range(K):
            if active is None or active[k]:
                refs[k].grad = g[k].clone()
                ref_opts[k].step()
    for k in range(K):
        torch.testing.assert_close(flat[k].view(shape), refs[k].detach(), atol=1e-6, rtol=0)
        st = ref_opts[k].state[refs[k]]
        torch.testing.assert_close(opt.m[k].view(shape), st["exp_avg"], atol=1e-7, rtol=1e-6)
        torch.testing.assert_close(opt.v[k].view(shape), st["exp_avg_sq"], atol=1e-9,
                                   rtol=1e-6)
        assert opt.steps[k].item() == int(st["step"])
    # a masked step with every member active is the unmasked step, bit for bit
    a, b = init.clone().reshape(K, -1), init.clone().reshape(K, -1)
    oa, ob = MemberAdam(a, lr=1e-3), MemberAdam(b, lr=1e-3)
    for _ in range(3):
        g = torch.randn(K, a.shape[1])
        oa.step(g)
        ob.step(g, torch.ones(K, dtype=torch.bool))
    assert torch.equal(a, b) and torch.equal(oa.v, ob.v)


def test_member_adam_blocks_equal_one_pass():
    """On the CPU the masked update runs over blocks of columns (the cache): the same
    arithmetic element by element, so the same bits as one pass over the whole tensors and,
    every member active, as the unmasked update; a masked member does not move."""
    torch.manual_seed(3)
    K, P = 3, 1000
    init = torch.randn(K, P)
    a, b, c = init.clone(), init.clone(), init.clone()
    oa, ob, oc = (MemberAdam(t, lr=1e-3, weight_decay=1e-4) for t in (a, b, c))
    oa.block = 3 * 128  # blocks of 128 columns and a last one of 104
    ob.block = K * P    # one pass
    for active in ([True, True, True], [True, False, True], [True, True, True]):
        g = torch.randn(K, P)
        act = torch.tensor(active)
        oa.step(g, act)
        ob.step(g, act)
        oc.step(g, act if not all(active) else None)
    assert torch.equal(a, b) and torch.equal(oa.m, ob.m) and torch.equal(oa.v, ob.v)
    assert torch.equal(a[0], c[0]) and torch.equal(a[2], c[2])


def test_member_adam_masked_member_with_a_non_finite_gradient_keeps_its_state():
    """The masked update's coefficients make an inactive member's update the identity even
    when its gradient is NaN or infinite (a member with nothing to learn this step): its
    parameters, moments and step count keep their bits, blocked or in one pass, while the
    active member moves as the unmasked update moves it."""
    torch.manual_seed(5)
    K, P = 3, 700
    for block in (3 * 64, None):
        a = torch.randn(K, P)
        ref = a[0:1].clone()
        opt, opt_ref = MemberAdam(a, lr=1e-3, weight_decay=1e-4), MemberAdam(ref, lr=1e-3,
                                                                             weight_decay=1e-4)
        opt.block = block
        for _ in range(2):
            g = torch.randn(K, P)
            opt.step(g.clone(), torch.tensor([True, True, True]))
            opt_ref.step(g[0:1].clone())
        before = [t.clone() for t in (a, opt.m, opt.v, opt.steps)]
        g = torch.randn(K, P)
        g[1] = float("nan")
        g[2, ::2], g[2, 1::2] = float("inf"), -float("inf")
        opt.step(g.clone(), torch.tensor([True, False, False]))
        opt_ref.step(g[0:1].clone())
        for now, was in zip((a, opt.m, opt.v, opt.steps), before):
            assert torch.equal(now[1:], was[1:])
        assert torch.equal(a[0:1], ref) and torch.equal(opt.m[0:1], opt_ref.m)
        assert opt.steps.tolist() == [3.0, 2.0, 2.0]


def test_folded_linear_is_the_same_product_without_the_broadcast_batch():
    """Under vmap a linear map of a non-contiguous (T, B, d) view (the attention's
    in-projection) runs as one (K, T * B, d) product instead of a (K * T)-batch bmm, with the
    same values and gradients."""
    from torch.profiler import profile

    from helo.model.runtime import folded_linear
    torch.manual_seed(4)
    K, B, T, d = 2, 5, 3, 4
    x = torch.randn(K, B, T, d, requires_grad=True)
    w = torch.randn(K, 6, d, requires_grad=True)
    bias = torch.randn(K, 6, requires_grad=True)

    def run():
        def one(x, w, b):  # the module's function, looked up at the call
            return torch.nn.functional.linear(x.transpose(0, 1), w, b)
        out = torch.vmap(one)(x, w, bias)
        return out, torch.autograd.grad(out.square().sum(), [x, w, bias])
    def bmm_batches():
        with profile(record_shapes=True) as prof:
            result = run()
        return result, {e.input_shapes[0][0] for e in
                        prof.key_averages(group_by_input_shape=True) if e.key == "aten::bmm"}
    (out, grads), plain = bmm_batches()
    assert plain != {K}  # the broadcast batch
    with folded_linear():
        (out2, grads2), batches = bmm_batches()
    torch.testing.assert_close(out2, out)
    for g, g2 in zip(grads, grads2):
        torch.testing.assert_close(g2, g)
    assert batches == {K}
    # it acts in its own thread only: a model alone in another thread computes as before
    inside, done = threading.Event(), threading.Event()

    def hold():
        with folded_linear():
            inside.set()
            done.wait(30)
    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert inside.wait(30)
        (out3, _), batches = bmm_batches()
        assert batches == plain and torch.equal(out3, out)
    finally:
        done.set()
        holder.join()
    assert bmm_batches()[1] == plain  # and after the context, as before


def test_flat_parameters_are_views_and_gradients_concatenate():
    a, b = torch.randn(2, 3, 4), torch.randn(2, 5)
    fp = FlatParameters([a, b])
    assert fp.flat.shape == (2, 17)
    assert torch.equal(fp.views[0], a) and torch.equal(fp.views[1], b)
    fp.flat.add_(1.0)  # the views see the flat tensor's updates
    assert torch.equal(fp.views[1], b + 1.0)
    g = fp.gradient([torch.ones(2, 3, 4), 2 * torch.ones(2, 5)])
    assert torch.equal(g[:, :12], torch.ones(2, 12))
    assert torch.equal(g[:, 12:], 2 * torch.ones(2, 5))


def test_clip_per_member_uses_each_members_own_norm():
    torch.manual_seed(2)
    g1, g2 = torch.randn(2, 3, 4) * 10, torch.randn(2, 5) * 10
    refs = []
    for k in range(2):
        a, b = torch.nn.Parameter(torch.zeros(3, 4)), torch.nn.Parameter(torch.zeros(5))
        a.grad, b.grad = g1[k].clone(), g2[k].clone()
        torch.nn.utils.clip_grad_norm_([a, b], 1.0)
        refs.append((a.grad, b.grad))
    flat = torch.cat([g1.reshape(2, -1), g2], 1)
    clip_per_member(flat, 1.0)
    for k in range(2):
        torch.testing.assert_close(flat[k, :12].view(3, 4), refs[k][0])
        torch.testing.assert_close(flat[k, 12:], refs[k][1])


def _tiny_assembled(path):
    from helo.data import assemble as asm
    rng = np.random.default_rng(0)
    subj = np.repeat(np.arange(1, 4), 24)
    trial = np.tile(np.repeat(np.arange(1, 4), 8), 3)
    window = np.tile(np.arange(8), 9)
    X = {m: rng.normal(size=(len(subj), d)).astype(np.float32) for m, d in DIMS.items()}
    z = X["eeg"][:, :5] + 0.5 * X["video"][:, :5]
    y = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    ds = asm.Dataset(X=X, feature_names={m: [f"f{i}" for i in range(d)] for m, d in DIMS.items()},
                     y=y, label_names=list("abcde"), subject=subj, trial=trial, window=window,
                     physiological=["eeg", "gsr", "ppg"], behavioural=["video"])
    asm.save(ds, path)
    return path


def test_runner_stacked_chunks_equal_one_at_a_time(tmp_path):
    import json

    import pandas as pd

    from helo.evaluation.runner import resolve_seeds, run_evaluation
    data = _tiny_assembled(tmp_path / "assembled")
    params = {k: v for k, v in SMALL.items()}
    params["epochs"] = 2
    outs = {}
    for stack in (1, 4):
        out = tmp_path / f"s{stack}"
        run_evaluation(data, "loso", "helo", out, model_params=params, seeds=2, stack=stack,
                       progress=False)
        outs[stack] = (pd.read_csv(out / "folds.csv"), json.loads((out / "metrics.json")
                                                                   .read_text()))
    f1, m1 = outs[1]
    f4, m4 = outs[4]
    assert list(f1["seed"]) == [0, 0, 0, 1, 1, 1] and list(f1["fold"]) == list(f4["fold"])
    assert m1["stack"] == 1 and m4["stack"] == 4 and m4["seeds"] == [0, 1]
    np.testing.assert_allclose(f1["kl"], f4["kl"], atol=1e-5)
    assert m1["kl"] == pytest.approx(f1["kl"].mean(), abs=1e-6)  # mean over folds x seeds
    assert resolve_seeds(None, 3) == [3] and resolve_seeds(2, 3) == [3, 4]
    with pytest.raises(ValueError):
        resolve_seeds([1, 1])


def test_compile_falls_back_to_eager_when_compilation_fails(monkeypatch):
    def broken(fn, **kw):
        def call(*a):
            raise RuntimeError("no compiler here")
        return call
    monkeypatch.setattr(torch, "compile", broken)
    with pytest.warns(UserWarning, match="training eagerly"):
        _, p_c = _fit([0, 1], stacked=True, compile=True, epochs=1)
    _, p_e = _fit([0, 1], stacked=True, epochs=1)
    for a, b in zip(p_c, p_e):
        assert np.array_equal(a, b)


def test_bf16_trains_close_to_float32():
    _, p32 = _fit([0], stacked=False, epochs=2)
    _, p16 = _fit([0], stacked=False, epochs=2, precision="bf16")
    diff = np.abs(p32[0] - p16[0]).max()
    assert 0 < diff < 0.05  # bf16 (8-bit mantissa) changes the numbers, not the model


def test_baselines_train_under_the_same_rules():
    """A torch baseline runs through the same engine: early stopping on the validation KL
    with the best epoch restored, and its hooks (``_after_step``) still called."""
    from helo.model.baselines.conformer import Conformer
    X, y = make_data(60, seed=1)
    Xv, yv = make_data(15, seed=2)
    calls = []

    class Counting(Conformer):
        def _after_step(self):
            calls.append(1)
            super()._after_step()

    m = Counting(SPEC, d=16, depth=1, heads=2, epochs=30, batch_size=16, lr=5e-2,
                 patience=2, device="cpu", seed=3)
    m.fit(X, y, X_val=Xv, y_val=yv)
    h = m.history()
    assert "val_loss" in h[0] and len(h) < 30  # lr 5e-2 overfits: it stops early
    # 60 rows at batch 16: 3 full batches + a 12-row one per epoch, each followed by the hook
    assert len(calls) == 4 * len(h)
    # the restored weights are the best epoch's: the validation KL of the final model
    pv = m.predict(Xv)
    kl = np.mean(np.sum(yv * (np.log(yv) - np.log(np.clip(pv, 1e-12, None))), axis=1))
    assert kl == pytest.approx(min(r["val_loss"] for r in h), rel=1e-4)


def test_target_rows_follow_the_rule_and_stack_like_alone():
    """Unlabelled target rows (domain adaptation): each epoch a permutation after the batch
    order, then ``bt = min(batch, n_target)`` rows a step taken cyclically; a stack pads a
    member with fewer target rows (``target_w``) and gives what each member gives alone."""
    torch.manual_seed(0)
    X = {"x": torch.randn(120, 4)}
    y = torch.softmax(torch.randn(120, 3), 1)
    seen: list = []

    def make(m):
        torch.manual_seed(m.seed)
        return torch.nn.Linear(4, 3)

    def loss_fn(net, xb, yb, w):
        lp = torch.log_softmax(net(xb["x"]), -1)
        per = (torch.xlogy(yb, yb) - yb * lp).sum(-1)
        kl = per.mean() if w is None else (per * w).sum() / w.sum()
        tw = xb["target_w"]
        # pull the target rows' mean prediction towards uniform (a domain term)
        pt = torch.softmax(net(xb["target"]["x"]), -1)
        dom = (((pt - 1 / 3) ** 2).sum(-1) * tw).sum() / tw.sum()
        return kl + dom, {"dom": dom.detach()}

    def log_prob(net, xb):
        return torch.log_softmax(net(xb["x"]), -1)

    def spy(net, xb, yb, w):
        seen.append(xb["target"]["x"].clone())
        return loss_fn(net, xb, yb, w)

    rules = Rules(epochs=2, batch_size=8, lr=1e-2)
    # the rule, hand-computed for one member: 20 rows -> 3 steps (8, 8, 4); 5 target rows
    one = Member(seed=3, rows=np.arange(20), target_rows=np.arange(100, 105))
    fit_members(make, spy, X, y, [one], rules, log_prob=log_prob, stacked=False)
    gen = torch.Generator().manual_seed(3)
    for epoch in range(2):
        torch.randperm(20, generator=gen)
        tperm = torch.randperm(5, generator=gen)
        for t in range(3):
            pos = (t * 5 + torch.arange(5)) % 5
            want = X["x"][100 + tperm[pos]]
            assert torch.equal(seen[epoch * 3 + t], want)
    members = [Member(seed=1, rows=np.arange(30), target_rows=np.arange(100, 120)),
               Member(seed=2, rows=np.arange(30, 50), target_rows=np.arange(100, 105))]
    stacked = fit_members(make, loss_fn, X, y, members, rules, log_prob=log_prob, stacked=True)
    for k, m in enumerate(members):
        alone = fit_members(make, loss_fn, X, y, [Member(seed=m.seed, rows=m.rows,
                                                         target_rows=m.target_rows)],
                            rules, log_prob=log_prob, stacked=False)[0]
        for p, q in zip(stacked[k].parameters(), alone.parameters()):
            torch.testing.assert_close(p, q, atol=1e-6, rtol=0)
        assert members[k].history[-1]["dom"] > 0


@pytest.mark.parametrize("normalise", ["fold", "subject"])
def test_pool_standardised_on_the_device_equals_standardised_copies(normalise):
    """The runner's pool (raw rows once, each fold's standardisation applied after the gather)
    trains what per-fold standardised copies of the rows train: float32 standardisation on the
    device against float64 on the host then rounded, ~1 ulp per feature (measured 3e-8 on the
    predictions after 2 epochs; another seed moves them by > 1e-2)."""
    from helo.evaluation.runner import Standardiser, SubjectStandardiser, _subject_tables
    from helo.model.train import FoldPool, FoldRows

    rng = np.random.default_rng(4)
    n = 90
    X = {m: (rng.normal(size=(n, d)) * 3 + 5).astype(np.float32) for m, d in DIMS.items()}
    z = X["eeg"][:, :5] + 0.5 * X["video"][:, :5]
    y = (np.exp(z) / np.exp(z).sum(1, keepdims=True)).astype(np.float32)
    subject = np.repeat(np.arange(3), 30)
    subjects, groups = np.unique(subject, return_inverse=True)
    folds = [(np.flatnonzero(subject != s)[:40 + 5 * s], np.flatnonzero(subject == s))
             for s in range(3)]

    class DS:  # the two things _subject_tables reads
        pass
    ds = DS()
    ds.X = X
    ds.subset = lambda rows: {m: x[rows] for m, x in X.items()}
    params = {**SMALL, "epochs": 2}
    copies, rows_of = [], []
    for k, (fit, test) in enumerate(folds):
        if normalise == "fold":
            st = Standardiser().fit(ds.subset(fit))
            copies.append((st.transform(ds.subset(fit)), y[fit], None, None))
            shift = {m: st.mean[m][None] for m in X}
            scale = {m: st.std[m][None] for m in X}
        else:
            st = SubjectStandardiser().fit(ds.subset(fit), subject[fit])
            copies.append((st.transform(ds.subset(fit), subject[fit]), y[fit], None, None))
            shift, scale = _subject_tables(ds, subjects, groups, fit, fit[:0], test)
        rows_of.append(FoldRows(rows=fit, shift=shift, scale=scale))
    pool = FoldPool(X=X, y=y, folds=rows_of,
                    groups=groups if normalise == "subject" else None)
    a = [HeLoLearner(SPEC, **params, seed=10 + k) for k in range(3)]
    b = [HeLoLearner(SPEC, **params, seed=10 + k) for k in range(3)]
    HeLoLearner.fit_many(a, copies, stacked=True)
    HeLoLearner.fit_many(b, pool, stacked=True)
    Xt, _ = make_data(20, seed=999)
    for la, lb in zip(a, b):
        np.testing.assert_allclose(la.predict(Xt), lb.predict(Xt), atol=1e-6, rtol=0)
        assert la.history()[-1]["loss"] == pytest.approx(lb.history()[-1]["loss"], rel=1e-5)


class _FakeCuda:
    """The parts of ``torch.cuda`` that :class:`CudaGraphStep` uses, on the CPU: a capture
    records the step instead of running it (as a CUDA graph does), a replay runs it."""

    def __init__(self, fail=False):
        self.fail, self.capturing, self.graphs = fail, None, []

    class Stream:
        def wait_stream(self, other):
            pass

    def current_stream(self):
        return self.Stream()

    @contextlib.contextmanager
    def stream(self, s):
        yield

    def CUDAGraph(self):  # noqa: N802 - torch.cuda's name
        fake = self

        class Graph:
            def replay(self):
                self.fn()
        g = Graph()
        fake.graphs.append(g)
        return g

    @contextlib.contextmanager
    def graph(self, g):
        if self.fail:
            raise RuntimeError("operation not permitted when stream is capturing")
        self.capturing = g
        try:
            yield
        finally:
            self.capturing = None


@pytest.mark.parametrize("fail", [False, True])
def test_cuda_graph_step_warms_up_captures_once_and_replays_with_the_new_index(fail):
    from helo.model.train import CudaGraphStep
    fake = _FakeCuda(fail)
    index = torch.zeros(1, dtype=torch.long)
    plan = torch.arange(10, 20)
    seen = []

    def step(idx):
        if fake.capturing is not None:  # recorded, not run
            fake.capturing.fn = lambda: seen.append(int(plan[idx]))
            return
        seen.append(int(plan[idx]))

    runner = CudaGraphStep(step, index, graphs=fake)
    if fail:
        with pytest.warns(UserWarning, match="training eagerly"):
            for t in range(6):
                runner(torch.tensor([t]))
    else:
        for t in range(6):
            runner(torch.tensor([t]))
    # every step ran exactly once, in order, reading the index it was given
    assert seen == [10, 11, 12, 13, 14, 15]
    assert len(fake.graphs) == 1 and runner.warm == CudaGraphStep.warmup
    assert runner.eager is fail


def _glibc_thp_always() -> bool:
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as fh:
            return "[always]" in fh.read()
    except OSError:
        return False


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt only")
def test_retained_heap_reuses_the_pages_of_a_steps_freed_tensors():
    """A "step" that makes three 64 MB tensors: outside the context glibc maps each freshly
    (above its 32 MiB mmap ceiling), so every step faults in all their 4 KiB pages again
    (~49,000); inside, freed memory stays in the heap and, once its free chunks have settled
    (a few steps; glibc's aligned allocations leave a freed chunk a little short of the next
    request now and then), the steps reuse resident pages: over the last 8 of 16 at most a
    few tensors' worth of faults, against ~390,000 outside."""
    import resource

    from helo.model.runtime import retained_heap

    def step_faults(steps: int) -> list[int]:
        out = []
        for _ in range(steps):
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            a, b = torch.ones(16 << 20), torch.ones(16 << 20)
            assert float((a + b)[-1]) == 2.0
            out.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
        return out

    outside = step_faults(3)
    with retained_heap():
        inside = step_faults(16)
    assert sum(inside[-8:]) <= 3 * 16_384 + 1_000
    if not _glibc_thp_always():  # with huge pages always on the kernel faults 2 MiB at once
        assert min(outside) > 30_000
