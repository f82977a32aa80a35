import importlib.util
import math
from pathlib import Path

import numpy as np
import ot
import pytest
import torch

from helo.model.othm import (
    OTHM,
    SCALING_MIN_EPS,
    apply_plan,
    cosine_cost,
    sinkhorn,
    sinkhorn_implicit,
    sinkhorn_log,
    sinkhorn_scaling,
)
from helo.stages.schema import ParamsError, validate

torch.set_num_threads(1)

SOLVERS = [sinkhorn_log, sinkhorn_scaling, sinkhorn_implicit]


def _bench():
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_train.py"
    spec = importlib.util.spec_from_file_location("bench_train", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _tokens(seed, shape_x, shape_y, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape_x, generator=g, dtype=dtype),
            torch.randn(*shape_y, generator=g, dtype=dtype))


@pytest.mark.parametrize("solve", SOLVERS)
def test_two_by_two_closed_form(solve):
    """Uniform 2 x 2: the optimum has T11 T22 / (T12 T21) = exp(-(C11 + C22 - C12 - C21) / eps)
    and symmetric T, so T11 = T22 = r / (2 (1 + r)) with r = exp(-delta / (2 eps))."""
    cost = torch.tensor([[0.0, 1.0], [1.0, 0.0]], dtype=torch.float64)
    for eps in (0.5, 0.1):
        r = math.exp(2.0 / (2 * eps))
        p = r / (2 * (1 + r))
        plan = solve(cost, eps, 200).numpy()
        np.testing.assert_allclose(plan, [[p, 0.5 - p], [0.5 - p, p]], rtol=1e-12)


@pytest.mark.parametrize("solve", SOLVERS)
@pytest.mark.parametrize("n,m,reg", [(16, 16, 0.05), (6, 9, 0.1), (16, 16, 0.5)])
def test_plan_matches_pot(solve, n, m, reg):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 8))
    y = rng.normal(size=(m, 8))
    M = cosine_cost(torch.tensor(x)[None], torch.tensor(y)[None])[0].numpy()
    a, b = np.full(n, 1 / n), np.full(m, 1 / m)
    ref = ot.sinkhorn(a, b, M, reg, numItermax=20000, stopThr=1e-14)
    plan = solve(torch.tensor(M, dtype=torch.float64), eps=reg, n_iter=3000).numpy()
    np.testing.assert_allclose(plan, ref, rtol=1e-4, atol=1e-10)


@pytest.mark.parametrize("solve", SOLVERS)
def test_nonuniform_marginals_match_pot(solve):
    rng = np.random.default_rng(1)
    M = rng.uniform(0, 2, size=(5, 7))
    a = rng.dirichlet(np.ones(5))
    b = rng.dirichlet(np.ones(7))
    ref = ot.sinkhorn(a, b, M, 0.2, numItermax=20000, stopThr=1e-14)
    plan = solve(torch.tensor(M), 0.2, 3000, torch.tensor(a), torch.tensor(b)).numpy()
    np.testing.assert_allclose(plan, ref, rtol=1e-4, atol=1e-10)


def test_marginals_batched_float32_small_eps():
    torch.manual_seed(0)
    x, y = torch.randn(4, 16, 32), torch.randn(4, 16, 32)
    plan = sinkhorn_log(cosine_cost(x, y), eps=0.01, n_iter=300)
    assert plan.dtype == torch.float32 and torch.isfinite(plan).all()
    np.testing.assert_allclose(plan.sum(1).numpy(), 1 / 16, rtol=1e-5)  # columns exact
    np.testing.assert_allclose(plan.sum(2).numpy(), 1 / 16, rtol=1e-2)


def test_gradients_flow():
    torch.manual_seed(0)
    x = torch.randn(2, 8, 16, requires_grad=True)
    y = torch.randn(2, 8, 16, requires_grad=True)
    plan = sinkhorn_log(cosine_cost(x, y), 0.05, 30)
    out = apply_plan(x, plan)
    (out ** 2).sum().backward()
    for t in (x, y):
        assert t.grad is not None and torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0


def test_apply_plan_is_barycentric():
    torch.manual_seed(0)
    x = torch.randn(1, 4, 3)
    plan = torch.full((1, 4, 6), 1 / 24)  # independent plan: every target gets the mean
    out = apply_plan(x, plan)
    assert out.shape == (1, 6, 3)
    np.testing.assert_allclose(out[0].numpy(), x[0].mean(0, keepdim=True).expand(6, 3).numpy(),
                               rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(apply_plan(x, plan, "raw").numpy(), out.numpy() / 6, rtol=1e-6)


def test_othm_module_shapes_and_switch():
    torch.manual_seed(0)
    xp, xb = torch.randn(3, 8, 32), torch.randn(3, 8, 32)
    m = OTHM(32, 4, 64, 1, dropout=0.0).eval()
    out, aux = m(xp, xb)
    assert out.shape == (3, 16, 32) and aux["plan"].shape == (3, 8, 8)
    m.use_ot = False
    out2, aux2 = m(xp, xb)
    assert "plan" not in aux2 and not torch.allclose(out, out2)


@pytest.mark.parametrize("eps,n_iter", [(SCALING_MIN_EPS, 50), (0.05, 20), (0.05, 50), (0.5, 50)])
def test_scaling_equals_log_domain(eps, n_iter):
    """The same iterations (u = exp f, v = exp g): equal to rounding at any iteration count,
    converged or not. Float64: 1e-12 relative. Float32: the tolerance is the log domain's own
    float32 rounding (against its float64 plan: measured up to 1.8e-5 relative at eps 0.025,
    4e-6 at 0.05), and the scaling plan is no further from the float64 plan than that."""
    x, y = _tokens(0, (8, 16, 32), (8, 16, 32), torch.float64)
    cost = cosine_cost(x, y)
    ref = sinkhorn_log(cost, eps, n_iter)
    np.testing.assert_allclose(sinkhorn_scaling(cost, eps, n_iter).numpy(), ref.numpy(),
                               rtol=1e-12, atol=1e-18)
    c32 = cost.float()
    sc32, log32 = sinkhorn_scaling(c32, eps, n_iter), sinkhorn_log(c32, eps, n_iter)
    np.testing.assert_allclose(sc32.numpy(), log32.numpy(), rtol=4e-5, atol=1e-12)

    def rel(p):
        return float(((p.double() - ref).abs() / ref).max())
    assert rel(sc32) <= 2 * rel(log32) + 1e-7


def test_scaling_marginals_float32():
    """Columns exact to float32 rounding; rows to the convergence error of 50 iterations at the
    paper's eps (measured < 1e-3 relative on random tokens)."""
    x, y = _tokens(1, (4, 16, 128), (4, 16, 128))
    plan = sinkhorn(cosine_cost(x, y), 0.05, 50)
    assert plan.dtype == torch.float32 and torch.isfinite(plan).all()
    np.testing.assert_allclose(plan.sum(1).numpy(), 1 / 16, rtol=1e-5)
    np.testing.assert_allclose(plan.sum(2).numpy(), 1 / 16, rtol=1e-2)


@pytest.mark.parametrize("dtype,rtol", [(torch.float64, 1e-9), (torch.float32, 1e-3)])
def test_scaling_gradients_equal_log_domain(dtype, rtol):
    """The hand-written reverse loop is the unrolled loop's gradient (float32: rounding of two
    different 100-step chains, measured ~1e-5 relative to the largest entry)."""
    grads = []
    for solve in (sinkhorn_log, sinkhorn_scaling):
        x, y = _tokens(2, (3, 16, 24), (3, 16, 24), dtype)
        x.requires_grad_(True)
        y.requires_grad_(True)
        w = torch.linspace(-1, 1, 16 * 16, dtype=dtype).reshape(16, 16)
        plan = solve(cosine_cost(x, y), 0.05, 50)
        grads.append(torch.autograd.grad((plan * w).sum() + (plan ** 2).sum(), (x, y)))
    for g_log, g_sc in zip(*grads):
        scale = g_log.abs().max()
        assert scale > 0
        np.testing.assert_allclose(g_sc.numpy(), g_log.numpy(), atol=rtol * float(scale))


def test_scaling_gradcheck_float64():
    g = torch.Generator().manual_seed(3)
    cost = (torch.rand(2, 4, 5, generator=g, dtype=torch.float64) * 2).requires_grad_(True)
    a = torch.tensor([[0.1, 0.2, 0.3, 0.4]] * 2, dtype=torch.float64)
    b = torch.full((2, 5), 0.2, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda c: sinkhorn_scaling(c, 0.3, 7), (cost,))
    assert torch.autograd.gradcheck(lambda c: sinkhorn_scaling(c, 0.1, 12, a, b), (cost,))


def test_implicit_plan_is_the_scaling_plan_and_gradient_the_converged_one():
    """Same forward as "scaling"; its gradient is the converged plan's: equal to the unrolled
    gradient once the iterations have converged (float64, 2,000 iterations: 1e-10 relative),
    and on the paper's shapes (random tokens, d 128, eps 0.05) already at 20 iterations
    (measured ~1e-6 relative in float32)."""
    x, y = _tokens(7, (3, 6, 5), (3, 7, 5), torch.float64)
    cost = cosine_cost(x, y)
    assert torch.equal(sinkhorn_implicit(cost, 0.1, 30), sinkhorn_scaling(cost, 0.1, 30))
    for shapes, dtype, eps, n_iter, tol in [(((3, 6, 5), (3, 7, 5)), torch.float64, 0.1, 2000,
                                             1e-10),
                                            (((3, 16, 128), (3, 16, 128)), torch.float32, 0.05,
                                             20, 2e-5)]:
        grads = []
        for solve in (sinkhorn_log, sinkhorn_implicit):
            x, y = _tokens(8, *shapes, dtype)
            x.requires_grad_(True)
            y.requires_grad_(True)
            plan = solve(cosine_cost(x, y), eps, n_iter)
            grads.append(torch.autograd.grad((plan ** 2).sum(), (x, y)))
        for g_log, g_imp in zip(*grads):
            np.testing.assert_allclose(g_imp.numpy(), g_log.numpy(),
                                       atol=tol * float(g_log.abs().max()))


def test_implicit_gradcheck_float64_at_convergence():
    g = torch.Generator().manual_seed(9)
    cost = (torch.rand(2, 4, 5, generator=g, dtype=torch.float64) * 2).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda c: sinkhorn_implicit(c, 0.3, 500), (cost,))


@pytest.mark.parametrize("method", ["scaling", "implicit"])
def test_vmap_over_members_equals_loop(method):
    """The engine's stacking: vmap over a member dimension, then autograd over the stack."""
    xs, ys = _tokens(4, (3, 5, 16, 32), (3, 5, 16, 32))
    xs.requires_grad_(True)

    def plan_of(x, y):
        return sinkhorn(cosine_cost(x, y), 0.05, 50, method=method)
    stacked = torch.vmap(plan_of, randomness="different")(xs, ys)
    (g_stacked,) = torch.autograd.grad((stacked ** 2).sum(), xs)
    looped = torch.stack([plan_of(xs[k], ys[k]) for k in range(3)])
    (g_looped,) = torch.autograd.grad((looped ** 2).sum(), xs)
    np.testing.assert_allclose(stacked.detach().numpy(), looped.detach().numpy(),
                               rtol=1e-6, atol=1e-10)
    np.testing.assert_allclose(g_stacked.numpy(), g_looped.numpy(), rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("method", ["scaling", "implicit"])
def test_compiled_vmapped_step_equals_eager(method):
    """The engine's compiled stacked step: the plan of eager, and the unrolled gradient (torch
    2.13 differentiates a vmapped Function's forward when compiling, so "implicit" gives the
    unrolled gradient there; 5 iterations keep it apart from the implicit one)."""
    xs, ys = _tokens(10, (2, 4, 16, 32), (2, 4, 16, 32))
    xs.requires_grad_(True)

    def step(x, y):
        plan = torch.vmap(lambda a, b: sinkhorn(cosine_cost(a, b), 0.05, 5, method=method))(x, y)
        return torch.autograd.grad((plan ** 2).sum(), x)[0], plan
    g_c, p_c = torch.compile(step, backend="aot_eager")(xs, ys)
    g_ref = torch.vmap(torch.func.grad(lambda a, b: (sinkhorn_log(
        cosine_cost(a, b), 0.05, 5) ** 2).sum()))(xs.detach(), ys)
    p_ref = torch.vmap(lambda a, b: sinkhorn_scaling(cosine_cost(a, b), 0.05, 5))(xs, ys)
    np.testing.assert_allclose(p_c.detach().numpy(), p_ref.detach().numpy(), rtol=1e-6,
                               atol=1e-10)
    np.testing.assert_allclose(g_c.numpy(), g_ref.numpy(),
                               atol=1e-5 * float(g_ref.abs().max()))


def test_bf16_autocast_runs_the_sinkhorn_in_float32():
    x, y = _tokens(5, (2, 16, 32), (2, 16, 32))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        cost = cosine_cost(x, y)
        plan = sinkhorn(cost, 0.05, 50)
    assert cost.dtype == torch.bfloat16 and plan.dtype == torch.float32
    np.testing.assert_allclose(plan.numpy(), sinkhorn_scaling(cost.float(), 0.05, 50).numpy(),
                               rtol=1e-6, atol=1e-12)


def test_small_eps_falls_back_to_log_domain():
    x, y = _tokens(6, (2, 16, 32), (2, 16, 32))
    cost = cosine_cost(x, y)
    eps = SCALING_MIN_EPS / 2
    plan = sinkhorn(cost, eps, 50, method="scaling")
    assert torch.isfinite(plan).all()
    assert torch.equal(plan, sinkhorn_log(cost, eps, 50))
    with pytest.raises(ValueError, match="sinkhorn must be one of"):
        sinkhorn(cost, 0.05, 50, method="exp")


@pytest.mark.parametrize("method,per_iter", [("scaling", 9), ("implicit", 5)])
def test_sinkhorn_kernel_count_bounded_and_independent_of_batch_and_members(method, per_iter):
    """Forward + backward of 50 iterations: 8 kernels an iteration ("scaling") or 4 (the
    forward only, "implicit") plus a constant, the same for any batch size and number of
    stacked members, no host synchronisation; the log domain's unrolled loop takes over three
    times as many."""
    bench = _bench()
    counts = {(K, B): bench.sinkhorn_kernels(K, B, 16, method) for K, B in
              [(1, 4), (1, 48), (3, 4)]}
    assert len(set(counts.values())) == 1, counts
    n = counts[(1, 4)]
    assert n <= per_iter * 50 + 40
    assert bench.sinkhorn_kernels(1, 4, 16, "log") >= 3 * n
    cost = (torch.rand(4, 16, 16) * 2).requires_grad_(True)
    ops = bench.count_kernels(
        lambda: torch.autograd.grad(sinkhorn(cost, 0.05, 50, method=method).sum(), cost))
    assert "aten::_local_scalar_dense" not in ops and "aten::item" not in ops


def test_othm_sinkhorn_switch_and_schema():
    torch.manual_seed(0)
    xp, xb = torch.randn(3, 8, 32), torch.randn(3, 8, 32)
    out = {}
    for method in ("log", "scaling"):
        torch.manual_seed(1)
        m = OTHM(32, 4, 64, 1, dropout=0.0, sinkhorn=method).eval()
        out[method] = m(xp, xb)[1]["plan"]
    np.testing.assert_allclose(out["scaling"].detach().numpy(), out["log"].detach().numpy(),
                               rtol=2e-5, atol=1e-9)
    with pytest.raises(ValueError, match="sinkhorn must be one of"):
        OTHM(32, 4, 64, 1, sinkhorn="fast")
    validate({"model": {"helo": {"sinkhorn": "log", "ot_eps": 0.05}}})
    with pytest.raises(ParamsError, match="sinkhorn"):
        validate({"model": {"helo": {"sinkhorn": "fast"}}})
    with pytest.raises(ParamsError, match="ot_eps"):
        validate({"model": {"helo": {"ot_eps": 0.0}}})


def test_a_stacked_helo_step_issues_as_many_kernels_for_one_member_as_for_three():
    """The count behind `bench_train.py --count-kernels` (a small batch, the paper's network):
    the same for K = 1 and 3, so it does not grow with the stack. vmap's reshapes of a
    batched product's non-contiguous input are views for a member dimension of size 1 and
    copies otherwise; in a stack those inputs and the attention's output gradient are made
    contiguous first (``helo.model.runtime.folded_linear``), copies at any K."""
    import argparse
    bench = _bench()
    a = argparse.Namespace(batch=8, tokens=2, precision="fp32", no_deterministic=False)
    one, three = (sum(bench.step_kernels(K, "scaling", a, torch.device("cpu")).values())
                  for K in (1, 3))
    assert one == three
    assert one <= 1000
