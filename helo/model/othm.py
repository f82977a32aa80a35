"""OT-based heterogeneity mining (HeLo Sec. 3.2, Eq. 5-6).

Cost. ``Cost_ij = 1 - cos(x^phy_i, x^v_j)`` (cosine distance, in ``[0, 2]``), per sample.

Sinkhorn. Entropic OT with uniform marginals ``u = 1/n_p``, ``v = 1/n_b`` solved by a batched
log-domain Sinkhorn (dual potentials ``f, g`` updated with ``logsumexp``, so it is stable in
float32 even for small ``eps``). It solves ``min_T <T, Cost> - eps * H(T)`` with
``H(T) = -sum T (log T - 1)``, i.e. exactly what POT's ``ot.sinkhorn(a, b, M, reg)`` solves:
**eps here == reg in POT** (kernel ``exp(-M / reg)``). The iterations are unrolled, so the plan
is differentiable w.r.t. both token sets (``detach_plan=True`` stops that).

Applying the plan (Eq. 6, ``x^phy (x) T``). ``x^phy`` is ``(2C, d)`` and ``T`` is ``(2C, 2C)``
with rows indexed by physiological tokens and columns by behavioural tokens, so the only
product that typechecks is ``T^T x^phy`` ``(n_b, d)``: behavioural token ``j`` receives the
physiological tokens weighted by the mass sent to it. ``plan_apply``:

* ``"barycentric"`` (default): ``n_b * T^T x^phy`` -- each column of ``T`` sums to ``1/n_b``,
  so every output token is a convex combination of physiological tokens (the barycentric
  projection of ``x^phy`` onto the behavioural positions); keeps the feature scale.
* ``"raw"``: ``T^T x^phy`` as written (features shrink by ``1/n_b``; the following LayerNorm in
  the Transformer mostly undoes it).

Then each branch goes through its own ``depth``-layer ``nn.TransformerEncoder`` and the two are
concatenated along the token axis: output ``(B, n_b + n_b, d)``.
"""
from __future__ import annotations

import math

import torch
from torch import nn


def cosine_cost(x: torch.Tensor, y: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """``(B, n, d), (B, m, d) -> (B, n, m)`` cosine distance ``1 - cos``."""
    xn = x / x.norm(dim=-1, keepdim=True).clamp_min(eps)
    yn = y / y.norm(dim=-1, keepdim=True).clamp_min(eps)
    return 1.0 - xn @ yn.transpose(-1, -2)


def sinkhorn_log(cost: torch.Tensor, eps: float = 0.05, n_iter: int = 50,
                 a: torch.Tensor | None = None, b: torch.Tensor | None = None) -> torch.Tensor:
    """Batched log-domain Sinkhorn. ``cost (B, n, m)`` -> plan ``T (B, n, m)``.

    ``a (B, n)`` / ``b (B, m)`` are the marginals (uniform when ``None``). ``eps`` is the
    entropic regularisation (POT's ``reg``). The last update is on ``g``, so the column
    marginals hold exactly and the row marginals up to the convergence error.
    """
    if cost.dim() == 2:
        return sinkhorn_log(cost[None], eps, n_iter,
                            None if a is None else a[None], None if b is None else b[None])[0]
    B, n, m = cost.shape
    if a is None:
        log_a = torch.full((B, n), -math.log(n), dtype=cost.dtype, device=cost.device)
    else:
        log_a = torch.log(a)
    if b is None:
        log_b = torch.full((B, m), -math.log(m), dtype=cost.dtype, device=cost.device)
    else:
        log_b = torch.log(b)
    mk = -cost / eps  # log kernel
    f = torch.zeros_like(log_a)  # scaled potentials: f / eps, g / eps
    g = torch.zeros_like(log_b)
    for _ in range(n_iter):
        f = log_a - torch.logsumexp(mk + g[:, None, :], dim=2)
        g = log_b - torch.logsumexp(mk + f[:, :, None], dim=1)
    return torch.exp(f[:, :, None] + mk + g[:, None, :])


def apply_plan(x_phy: torch.Tensor, plan: torch.Tensor, mode: str = "barycentric") -> torch.Tensor:
    """Transport physiological tokens onto behavioural positions: ``(B, n_p, d), (B, n_p, n_b)
    -> (B, n_b, d)``. See the module docstring for ``mode``."""
    out = plan.transpose(-1, -2) @ x_phy
    if mode == "barycentric":
        return out * plan.shape[-1]
    if mode == "raw":
        return out
    raise ValueError(f"plan_apply must be 'barycentric' or 'raw', got {mode!r}")


def transformer_encoder(d: int, heads: int, ff: int, depth: int, dropout: float) -> nn.Module:
    layer = nn.TransformerEncoderLayer(d, heads, dim_feedforward=ff, dropout=dropout,
                                       batch_first=True)
    return nn.TransformerEncoder(layer, num_layers=depth, enable_nested_tensor=False)


class OTHM(nn.Module):
    """Eq. 5-6: OT plan between physiological and behavioural tokens, plan-transported
    physiological tokens and behavioural tokens each through a Transformer, concatenated.

    ``use_ot=False`` keeps the two Transformers but skips the transport (ablation of the plan
    alone). ``detach_plan`` computes the plan without gradient.
    """

    def __init__(self, d: int = 128, heads: int = 4, ff: int = 64, depth: int = 1,
                 dropout: float = 0.1, eps: float = 0.05, n_iter: int = 50,
                 plan_apply: str = "barycentric", use_ot: bool = True,
                 detach_plan: bool = False):
        super().__init__()
        if plan_apply not in ("barycentric", "raw"):
            raise ValueError(f"plan_apply must be 'barycentric' or 'raw', got {plan_apply!r}")
        self.eps, self.n_iter, self.plan_apply = eps, n_iter, plan_apply
        self.use_ot, self.detach_plan = use_ot, detach_plan
        self.enc_phy = transformer_encoder(d, heads, ff, depth, dropout)
        self.enc_beh = transformer_encoder(d, heads, ff, depth, dropout)

    def forward(self, x_phy: torch.Tensor, x_beh: torch.Tensor):
        aux: dict[str, torch.Tensor] = {}
        if self.use_ot:
            cost = cosine_cost(x_phy, x_beh)
            if self.detach_plan:
                with torch.no_grad():
                    plan = sinkhorn_log(cost, self.eps, self.n_iter)
            else:
                plan = sinkhorn_log(cost, self.eps, self.n_iter)
            moved = apply_plan(x_phy, plan, self.plan_apply)
            aux["plan"] = plan
            aux["phy_after_ot"] = moved
        else:
            moved = x_phy
        out = torch.cat([self.enc_phy(moved), self.enc_beh(x_beh)], dim=1)
        return out, aux
