"""OT-based heterogeneity mining (HeLo Sec. 3.2, Eq. 5-6).

Cost. ``Cost_ij = 1 - cos(x^phy_i, x^v_j)`` (cosine distance, in ``[0, 2]``), per sample.

Sinkhorn. Entropic OT with uniform marginals ``u = 1/n_p``, ``v = 1/n_b``. It solves
``min_T <T, Cost> - eps * H(T)`` with ``H(T) = -sum T (log T - 1)``, i.e. exactly what POT's
``ot.sinkhorn(a, b, M, reg)`` solves: **eps here == reg in POT** (kernel ``exp(-M / reg)``).
A fixed number of iterations (no convergence test: no host synchronisation, so a training step
can be one captured CUDA graph); the last update is on the column scaling, so the column
marginals hold exactly and the row marginals up to the convergence error. Three solvers of the
same iterations (``sinkhorn(method=...)``, ``model.helo.sinkhorn``); kernels of one forward +
backward of 50 iterations, counted by ``benchmarks/bench_train.py --count-kernels`` (the same
for any batch size and number of stacked members):

* ``"scaling"`` (default, 292 kernels): ``u = a / (K v)``, ``v = b / (K^T u)`` with
  ``K = exp(-C / eps)``, 2 batched products and 2 divisions an iteration, in a custom
  ``autograd.Function`` whose backward is the exact reverse of the unrolled iterations written
  by hand: the v-gradient goes back through ``A_t = K^T diag(-u_t^2 / a) K diag(-v_t^2 / b)``
  each iteration, and every ``A_t`` is built at once before the loop (two products and one
  batched matmul, ``(B, m, T, m)``: 6.5 MB a member at the paper's shapes), so the reverse loop
  is one small product an iteration. Plan and gradients are the log domain's up to rounding
  (the same iterations with ``u = exp(f)``, ``v = exp(g)``): 1e-12 relative in float64; in
  float32 the plan is closer to the float64 one than the log domain's own float32 plan
  (measured 5e-6 against 1.8e-5 relative at eps 0.025). Float32-safe while ``exp(-2 / eps)``
  (cosine cost <= 2) is a normal float, i.e. ``eps >= SCALING_MIN_EPS`` (0.025); a smaller
  ``eps`` runs the log domain.
* ``"implicit"`` (236 kernels): the same forward; the gradient of the converged plan by
  implicit differentiation (one ``(n + m)`` Cholesky solve instead of the reverse loop). Equal
  to the unrolled gradient as far as the iterations have converged: ~1e-6 relative on random
  tokens at the paper's shapes even at 20 iterations, but 1-2 % on small structured costs that
  20 iterations leave unconverged; its batched Cholesky is unmeasured on a GPU (CUDA-graph
  capture of cuSOLVER). Not the default for these two reasons.

Under ``torch.compile`` of a vmapped step (the engine's stacked ``evaluate.compile``), torch 2.13
differentiates the Functions' forward instead of calling their backward (measured): both
give the unrolled gradient there (``"implicit"`` too), with autograd's kernel count inside the
captured graph.
* ``"log"`` (1,714 kernels): the dual potentials
  ``f, g`` updated with ``logsumexp``, autograd through the unrolled loop; stable for any
  ``eps``.

All run in float32 at least with autocast off (bf16 autocast casts the cost up). The plan is
differentiable w.r.t. both token sets (``detach_plan=True`` stops that); the marginals are
constants.

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


#: the smallest ``eps`` the scaling domain takes: ``exp(-max cost / eps)`` with the cosine cost's
#: maximum 2 must stay a float32 normal (``exp(-87.3)``); below it ``sinkhorn`` runs the log
#: domain
SCALING_MIN_EPS = 2.0 / 80.0

#: the solvers of ``sinkhorn(method=...)``
SINKHORN_METHODS = ("log", "scaling", "implicit")


def _marginals(cost: torch.Tensor, a, b):
    B, n, m = cost.shape
    a = cost.new_full((B, n), 1.0 / n) if a is None else a.to(cost.dtype)
    b = cost.new_full((B, m), 1.0 / m) if b is None else b.to(cost.dtype)
    return a, b


def _scaling_iterations(cost, a, b, eps, n_iter, us=None, vs=None):
    """``n_iter`` scaling-domain Sinkhorn iterations ``u = a / (K v)``, ``v = b / (K^T u)`` from
    ``v = 1``; ``(plan, K)``. ``us`` / ``vs`` (lists), when given, collect every iterate (``vs``
    starts with the initial ``v``), which the hand-written reverse loop needs."""
    kern = torch.exp(cost * (-1.0 / eps))
    kern_t = kern.transpose(-1, -2)
    v = torch.ones_like(b).unsqueeze(-1)
    a_, b_ = a.unsqueeze(-1), b.unsqueeze(-1)
    if vs is not None:
        vs.append(v)
    for _ in range(n_iter):
        u = a_ / torch.bmm(kern, v)
        v = b_ / torch.bmm(kern_t, u)
        if us is not None:
            us.append(u)
            vs.append(v)
    return u * kern * v.transpose(-1, -2), kern


class _ScalingSinkhorn(torch.autograd.Function):
    """Scaling-domain Sinkhorn with the exact adjoint of its unrolled iterations.

    Forward (no autograd graph): ``K = exp(-C / eps)``, ``v_0 = 1``, then ``n_iter`` times
    ``u_t = a / (K v_{t-1})``, ``v_t = b / (K^T u_t)``; plan ``u_T K v_T`` (diagonal scalings).
    The scalings of every iteration are kept ((B, T, n) and (B, T, m): small).

    Backward: reverse-mode through the same iterations by hand. With ``ds_t = gv_t * (-v_t^2 /
    b)``, ``gu_t = K ds_t``, ``dr_t = gu_t * (-u_t^2 / a)``, ``gv_{t-1} = K^T dr_t``, the
    v-gradient moves back by the linear map ``A_t`` (module docstring), built for every ``t``
    before the loop, so the loop is one product an iteration; then ``ds``, ``dr`` for all ``t``
    in three batched ops and the kernel's gradient ``sum_t u_t ds_t^T + dr_t v_{t-1}^T`` in two
    batched products, then ``dC = -gK K / eps``. Autograd through the unrolled loop would
    record ~4x the ops (each bmm's two input gradients, the division's, and one accumulation
    per use of ``K``).
    The marginals are constants (no gradient). ``generate_vmap_rule``: the forward and backward
    are plain batched tensor ops, so ``torch.func.vmap`` over a member dimension batches them.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(cost, a, b, eps, n_iter):
        us, vs = [], []
        plan, kern = _scaling_iterations(cost, a, b, eps, n_iter, us, vs)
        return plan, kern, torch.cat(us, dim=-1), torch.cat(vs, dim=-1)

    @staticmethod
    def setup_context(ctx, inputs, output):
        _, a, b, eps, n_iter = inputs
        _, kern, us, vs = output
        ctx.save_for_backward(kern, us, vs, a, b)
        ctx.eps, ctx.n_iter = eps, n_iter
        ctx.mark_non_differentiable(kern, us, vs)
        ctx.set_materialize_grads(False)

    @staticmethod
    def backward(ctx, g_plan, _gk, _gu, _gv):
        if g_plan is None:  # the plan was not used (grads are not materialised)
            return None, None, None, None, None
        kern, us, vs, a, b = ctx.saved_tensors
        T = ctx.n_iter
        B, n, m = kern.shape
        kern_t = kern.transpose(-1, -2)
        # us (B, n, T): u_1..u_T; vs (B, m, T + 1): v_0..v_T
        cu = us * us / (-a.unsqueeze(-1))  # d u_t / d r_t = -u_t^2 / a
        cv = vs[..., 1:] * vs[..., 1:] / (-b.unsqueeze(-1))  # d v_t / d s_t, t = 1..T
        u_T, v_T = us[..., T - 1:T], vs[..., T:T + 1]
        gk_direct = g_plan * kern
        gu_T = torch.bmm(gk_direct, v_T)  # the plan's own use of u_T
        gv = torch.bmm(gk_direct.transpose(-1, -2), u_T)  # d plan / d v_T
        # every iteration's linear map of the v-gradient, A_t = K^T diag(cu_t) K diag(cv_t),
        # for all t at once (layout (B, m, T, m)): the reverse loop is one product a step
        scaled = kern.unsqueeze(2) * (cu.unsqueeze(-1) * cv.transpose(1, 2).unsqueeze(1))
        step_maps = torch.bmm(kern_t, scaled.reshape(B, n, T * m)).view(B, m, T, m)
        gvs = [gv]  # gradients of v_T, v_{T-1}, ..., v_1
        if T > 1:
            gv = torch.bmm(step_maps[:, :, T - 1], gv) + torch.bmm(kern_t, gu_T * u_T * u_T
                                                                   / (-a.unsqueeze(-1)))
            gvs.append(gv)
            for t in range(T - 1, 1, -1):
                gv = torch.bmm(step_maps[:, :, t - 1], gv)
                gvs.append(gv)
        gv_all = torch.cat(gvs[::-1], dim=-1)  # (B, m, T) for t = 1..T
        ds_all = gv_all * cv
        gu_all = torch.bmm(kern, ds_all)
        gu_all[..., T - 1:].add_(gu_T)
        dr_all = gu_all * cu  # (B, n, T)
        g_kern = torch.baddbmm(torch.bmm(us, ds_all.transpose(-1, -2)), dr_all,
                               vs[..., :T].transpose(-1, -2))
        g_kern = g_kern + g_plan * (u_T * v_T.transpose(-1, -2))
        g_cost = g_kern * kern * (-1.0 / ctx.eps)
        return g_cost, None, None, None, None


class _ImplicitSinkhorn(torch.autograd.Function):
    """Scaling-domain Sinkhorn (the iterations of :class:`_ScalingSinkhorn`, nothing kept)
    with the gradient of the converged plan by implicit differentiation.

    At the fixed point ``P = exp((f_i + g_j - C_ij) / eps)`` with ``P 1 = r``, ``P^T 1 = c``
    held, a cost change moves the potentials by ``H [df; dg] = [(P o dC) 1; (P o dC)^T 1]``
    with ``H = [[diag(r), P], [P^T, diag(c)]]``. For an upstream gradient ``G``:
    ``dL/dC = P o (y_i + y'_j - G) / eps`` with ``H [y; y'] = [(G o P) 1; (G o P)^T 1]``.
    ``H`` is singular along ``[1; -1]`` (a constant moved between ``f`` and ``g``), to which
    the right-hand side is orthogonal, so ``H + nu nu^T / (n + m)`` (``nu = [1; -1]``) is solved
    instead: same ``y_i + y'_j``. ``H`` is positive semi-definite (``[x; y]^T H [x; y] =
    sum P_ij (x_i + y_j)^2``), so that matrix is positive definite: one batched Cholesky
    factorisation and two triangular solves of size ``n + m`` (``cholesky_ex`` without its
    error check, ``solve_triangular``: no host synchronisation, where ``linalg.solve`` and
    ``cholesky_solve`` read an error code back)
    replaces the reverse loop; it is the unrolled gradient only as far
    as the ``n_iter`` iterations have converged.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(cost, a, b, eps, n_iter):
        return _scaling_iterations(cost, a, b, eps, n_iter)[0]

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output)
        ctx.eps = inputs[3]

    @staticmethod
    def backward(ctx, g_plan):
        (plan,) = ctx.saved_tensors
        n, m = plan.shape[-2], plan.shape[-1]
        gp = g_plan * plan
        rhs = torch.cat([gp.sum(-1), gp.sum(-2)], dim=-1).unsqueeze(-1)
        plan_t = plan.transpose(-1, -2)
        hess = torch.cat([torch.cat([torch.diag_embed(plan.sum(-1)), plan], dim=-1),
                          torch.cat([plan_t, torch.diag_embed(plan.sum(-2))], dim=-1)], dim=-2)
        nu = torch.cat([plan.new_ones(n), plan.new_full((m,), -1.0)])
        hess = hess + (nu[:, None] * nu[None, :]) * (1.0 / (n + m))
        chol = torch.linalg.cholesky_ex(hess, check_errors=False)[0]
        half = torch.linalg.solve_triangular(chol, rhs, upper=False)
        y = torch.linalg.solve_triangular(chol.transpose(-1, -2), half, upper=True).squeeze(-1)
        g_cost = plan * (y[..., :n, None] + y[..., None, n:] - g_plan) * (1.0 / ctx.eps)
        return g_cost, None, None, None, None


def sinkhorn_scaling(cost: torch.Tensor, eps: float = 0.05, n_iter: int = 50,
                     a: torch.Tensor | None = None, b: torch.Tensor | None = None) -> torch.Tensor:
    """Batched scaling-domain Sinkhorn (:class:`_ScalingSinkhorn`): the iterations of
    :func:`sinkhorn_log` with ``u = exp(f)``, ``v = exp(g)``, so the same plan up to rounding.
    ``cost (B, n, m)`` (or ``(n, m)``) -> plan. Float32-safe while ``max(cost) / eps`` stays
    below ~87 (cosine cost: ``eps >= SCALING_MIN_EPS``); :func:`sinkhorn` checks that."""
    if cost.dim() == 2:
        return sinkhorn_scaling(cost[None], eps, n_iter,
                                None if a is None else a[None], None if b is None else b[None])[0]
    a, b = _marginals(cost, a, b)
    return _ScalingSinkhorn.apply(cost, a, b, float(eps), int(n_iter))[0]


def sinkhorn_implicit(cost: torch.Tensor, eps: float = 0.05, n_iter: int = 50,
                      a: torch.Tensor | None = None, b: torch.Tensor | None = None
                      ) -> torch.Tensor:
    """The plan of :func:`sinkhorn_scaling` with the implicit gradient of
    :class:`_ImplicitSinkhorn` (the converged plan's)."""
    if cost.dim() == 2:
        return sinkhorn_implicit(cost[None], eps, n_iter,
                                 None if a is None else a[None], None if b is None else b[None])[0]
    a, b = _marginals(cost, a, b)
    return _ImplicitSinkhorn.apply(cost, a, b, float(eps), int(n_iter))


def sinkhorn(cost: torch.Tensor, eps: float = 0.05, n_iter: int = 50,
             a: torch.Tensor | None = None, b: torch.Tensor | None = None,
             method: str = "scaling") -> torch.Tensor:
    """The plan of ``cost`` by ``method`` (``"scaling"``: :func:`sinkhorn_scaling`, ``"log"``:
    :func:`sinkhorn_log`, ``"implicit"``: :func:`sinkhorn_implicit`), always in at least
    float32 with autocast off (under bf16 autocast the cost is cast up and the plan comes back
    in float32). ``"scaling"`` and ``"implicit"`` with ``eps < SCALING_MIN_EPS`` run the log
    domain (the kernel would leave float32's normal range for a cosine cost); the choice is
    made on the Python ``eps``, never on tensor values.
    """
    if method not in SINKHORN_METHODS:
        raise ValueError(f"sinkhorn must be one of {SINKHORN_METHODS}, got {method!r}")
    if cost.dtype in (torch.float16, torch.bfloat16):
        cost = cost.float()
    with torch.autocast(cost.device.type, enabled=False):
        if method != "log" and eps >= SCALING_MIN_EPS:
            solve = sinkhorn_scaling if method == "scaling" else sinkhorn_implicit
            return solve(cost, eps, n_iter, a, b)
        return sinkhorn_log(cost, eps, n_iter, a, b)


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
    alone). ``detach_plan`` computes the plan without gradient. ``sinkhorn``: the solver of
    :func:`sinkhorn` (``"scaling"``, ``"implicit"`` or ``"log"``; the same plan up to rounding).
    """

    def __init__(self, d: int = 128, heads: int = 4, ff: int = 64, depth: int = 1,
                 dropout: float = 0.1, eps: float = 0.05, n_iter: int = 50,
                 plan_apply: str = "barycentric", use_ot: bool = True,
                 detach_plan: bool = False, sinkhorn: str = "scaling"):
        super().__init__()
        if plan_apply not in ("barycentric", "raw"):
            raise ValueError(f"plan_apply must be 'barycentric' or 'raw', got {plan_apply!r}")
        if sinkhorn not in SINKHORN_METHODS:
            raise ValueError(f"sinkhorn must be one of {SINKHORN_METHODS}, got {sinkhorn!r}")
        self.eps, self.n_iter, self.plan_apply = eps, n_iter, plan_apply
        self.sinkhorn = sinkhorn
        self.use_ot, self.detach_plan = use_ot, detach_plan
        self.enc_phy = transformer_encoder(d, heads, ff, depth, dropout)
        self.enc_beh = transformer_encoder(d, heads, ff, depth, dropout)

    def forward(self, x_phy: torch.Tensor, x_beh: torch.Tensor):
        aux: dict[str, torch.Tensor] = {}
        if self.use_ot:
            cost = cosine_cost(x_phy, x_beh)
            if self.detach_plan:
                with torch.no_grad():
                    plan = sinkhorn(cost, self.eps, self.n_iter, method=self.sinkhorn)
            else:
                plan = sinkhorn(cost, self.eps, self.n_iter, method=self.sinkhorn)
            moved = apply_plan(x_phy, plan, self.plan_apply)
            aux["plan"] = plan
            aux["phy_after_ot"] = moved
        else:
            moved = x_phy
        out = torch.cat([self.enc_phy(moved), self.enc_beh(x_beh)], dim=1)
        return out, aux
