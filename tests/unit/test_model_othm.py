import numpy as np
import ot
import pytest
import torch

from helo.model.othm import OTHM, apply_plan, cosine_cost, sinkhorn_log

torch.set_num_threads(1)


@pytest.mark.parametrize("n,m,reg", [(16, 16, 0.05), (6, 9, 0.1), (16, 16, 0.5)])
def test_plan_matches_pot(n, m, reg):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 8))
    y = rng.normal(size=(m, 8))
    M = cosine_cost(torch.tensor(x)[None], torch.tensor(y)[None])[0].numpy()
    a, b = np.full(n, 1 / n), np.full(m, 1 / m)
    ref = ot.sinkhorn(a, b, M, reg, numItermax=20000, stopThr=1e-14)
    plan = sinkhorn_log(torch.tensor(M, dtype=torch.float64), eps=reg, n_iter=3000).numpy()
    np.testing.assert_allclose(plan, ref, rtol=1e-4, atol=1e-10)


def test_nonuniform_marginals_match_pot():
    rng = np.random.default_rng(1)
    M = rng.uniform(0, 2, size=(5, 7))
    a = rng.dirichlet(np.ones(5))
    b = rng.dirichlet(np.ones(7))
    ref = ot.sinkhorn(a, b, M, 0.2, numItermax=20000, stopThr=1e-14)
    plan = sinkhorn_log(torch.tensor(M), 0.2, 3000, torch.tensor(a), torch.tensor(b)).numpy()
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
