"""The engine's optimiser over K stacked members: every member's parameters as one row of a flat
``(K, P)`` tensor, Adam with per-member step counts on the device, per-member clipping.

One flat row per member makes the update, the clipping and the best-epoch copy a fixed handful
of kernels whatever the number of parameter tensors, with no host read (capturable).
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import torch


class FlatParameters:
    """K members' parameters as views of one contiguous ``(K, P)`` tensor :attr:`flat`.

    ``tensors`` are ``(K, ...)``; :attr:`views` are ``(K, ...)`` views of ``flat`` in the same
    order. One flat row per member is what makes the optimiser, the clipping and the best-epoch
    copy a handful of kernels whatever the number of parameter tensors."""

    def __init__(self, tensors: Sequence[torch.Tensor]):
        K = int(tensors[0].shape[0])
        self.flat = torch.cat([t.detach().reshape(K, -1) for t in tensors], 1).contiguous()
        self.views: list[torch.Tensor] = []
        off = 0
        for t in tensors:
            n = t[0].numel()
            self.views.append(self.flat[:, off:off + n].view(t.shape))
            off += n

    def gradient(self, grads: Sequence[torch.Tensor]) -> torch.Tensor:
        """The flat ``(K, P)`` gradient from one gradient per view."""
        K = self.flat.shape[0]
        return torch.cat([g.reshape(K, -1) for g in grads], 1)


class MemberAdam:
    """Adam over a flat ``(K, P)`` parameter tensor, one step count per member on the device.

    ``step(grad, active)``: ``active`` is a ``(K,)`` boolean device tensor (``None``: every
    member); inactive members' parameters, moments and step counts stay as they are. The
    arithmetic is ``torch.optim.Adam``'s capturable single-tensor update (bias corrections from
    the float32 step counts), so a step issues a fixed ~25 kernels, never reads a value on the
    host and can be captured in a CUDA graph.

    The masked update (``active`` given: the stack's path) is the same in-place update with
    per-member coefficients that make it the identity for an inactive member: its gradient
    taken as 0 (one ``where``, so a non-finite gradient of a member with nothing to learn
    cannot reach its state), the first moment's weight 0, the second moment's decay 1 and its
    gradient weight 0, the step's denominator infinite (``m / inf = 0``). For an active member
    the coefficients are Adam's own numbers, so its bits are those of the unmasked update
    (tested). On the CPU it runs over blocks of columns of about :attr:`block` elements, so
    that the temporaries stay in the cache (one trip to memory over the ``(K, P)`` tensors
    instead of one per operation, which a large model's stack would make); the arithmetic is
    the same element by element. Elsewhere it is one block (a fixed kernel count)."""

    #: elements of the ``(K, P)`` tensors per block of the masked update on the CPU (None: one
    #: pass, as on other devices; ``benchmarks/bench_train.py --count-kernels`` counts so)
    block: int | None = 1 << 16

    def __init__(self, flat: torch.Tensor, lr: float, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0):
        self.param = flat
        self.lr, self.eps, self.wd = float(lr), float(eps), float(weight_decay)
        self.b1, self.b2 = float(betas[0]), float(betas[1])
        self.m = torch.zeros_like(flat)
        self.v = torch.zeros_like(flat)
        self.steps = torch.zeros(flat.shape[0], dtype=flat.dtype, device=flat.device)

    @torch.no_grad()
    def step(self, grad: torch.Tensor, active: torch.Tensor | None = None) -> None:
        p, m, v = self.param, self.m, self.v
        if active is None:
            self.steps.add_(1.0)
        else:
            self.steps.add_(active.to(self.steps.dtype))
        bc1 = 1.0 - torch.pow(self.b1, self.steps)
        bc2_sqrt = (1.0 - torch.pow(self.b2, self.steps)).sqrt()
        neg_step = (self.lr / bc1).neg()
        scale = (bc2_sqrt * neg_step).unsqueeze(1)
        eps = (self.eps / neg_step).unsqueeze(1)
        if active is None:
            g = grad.add(p, alpha=self.wd) if self.wd else grad
            m.lerp_(g, 1.0 - self.b1)
            v.mul_(self.b2).addcmul_(g, g, value=1.0 - self.b2)
            p.addcdiv_(m, (v.sqrt() / scale).add_(eps))
            return
        keep = active.unsqueeze(1)
        coef = _MaskedCoefficients(
            keep=keep,
            m_weight=torch.where(keep, 1.0 - self.b1, 0.0),
            v_decay=torch.where(keep, self.b2, 1.0),
            v_weight=torch.where(keep, 1.0 - self.b2, 0.0),
            scale=torch.where(keep, scale, 1.0),
            eps=torch.where(keep, eps, float("inf")))
        width = p.shape[1]
        if p.device.type == "cpu" and self.block:  # blocks of columns that stay in the cache
            width = max(64, self.block // p.shape[0] // 64 * 64)
        for s in range(0, p.shape[1], width):
            cols = slice(s, s + width)
            self._masked(grad[:, cols], p[:, cols], m[:, cols], v[:, cols], coef)

    def _masked(self, g, p, m, v, c: "_MaskedCoefficients") -> None:
        """The masked update of one block of columns, in place (the class docstring)."""
        g = g.add(p, alpha=self.wd) if self.wd else g
        g = torch.where(c.keep, g, 0.0)
        m.lerp_(g, c.m_weight)
        v.mul_(c.v_decay).addcmul_(g * c.v_weight, g)
        p.addcdiv_(m, (v.sqrt() / c.scale).add_(c.eps))


class _MaskedCoefficients(NamedTuple):
    """:meth:`MemberAdam.step`'s per-member ``(K, 1)`` coefficients of a masked update."""

    keep: torch.Tensor
    m_weight: torch.Tensor
    v_decay: torch.Tensor
    v_weight: torch.Tensor
    scale: torch.Tensor
    eps: torch.Tensor


@torch.no_grad()
def clip_per_member(grad: torch.Tensor, max_norm: float) -> torch.Tensor:
    """Scale each member's row of the flat ``(K, P)`` gradient so that its norm is at most
    ``max_norm`` (as ``clip_grad_norm_`` on the member alone: coefficient ``max_norm / (norm +
    1e-6)``, at most 1). Returns the norms before clipping (a device tensor, no sync)."""
    norms = torch.linalg.vector_norm(grad, dim=1)
    grad.mul_((max_norm / (norms + 1e-6)).clamp_(max=1.0).unsqueeze(1))
    return norms


class MemberRprop:
    """Rprop with weight backtracking over a flat ``(K, P)`` parameter tensor, PyLDL's
    ``RProp`` arithmetic (``pyldl.algorithms.optimizers``; Igel and Huesken's Rprop+):

    * ``g * g_prev > 0`` (sign kept): step ``min(step * eta_plus, step_max)``, move
      ``-sign(g) * step``;
    * ``g * g_prev < 0`` (sign flipped): step ``max(step * eta_minus, step_min)``, *revert*
      the previous move (``-prev_move``) and store a zero gradient, so the next step neither
      grows nor shrinks;
    * otherwise (a zero product): the step is kept, move ``-sign(g) * step``.

    Each step size starts at ``lr``. ``weight_decay`` (L2) is added to the gradient as
    :class:`MemberAdam` does. ``step(grad, active)`` as :class:`MemberAdam`'s: inactive
    members' parameters and state (step sizes, stored gradients, previous moves) stay as they
    are; a fixed handful of elementwise kernels and ``torch.where``, no host read (capturable)."""

    def __init__(self, flat: torch.Tensor, lr: float, etas=(0.5, 1.2),
                 step_sizes=(1e-6, 50.0), weight_decay: float = 0.0):
        self.param = flat
        self.eta_minus, self.eta_plus = float(etas[0]), float(etas[1])
        self.step_min, self.step_max = float(step_sizes[0]), float(step_sizes[1])
        self.wd = float(weight_decay)
        self.steps = torch.full_like(flat, float(lr))
        self.prev_grad = torch.zeros_like(flat)
        self.prev_move = torch.zeros_like(flat)

    @torch.no_grad()
    def step(self, grad: torch.Tensor, active: torch.Tensor | None = None) -> None:
        p, a, g_old, d_old = self.param, self.steps, self.prev_grad, self.prev_move
        g = grad.add(p, alpha=self.wd) if self.wd else grad
        prod = g * g_old
        up, down = prod > 0, prod < 0
        a_new = torch.where(up, (a * self.eta_plus).clamp_(max=self.step_max),
                            torch.where(down, (a * self.eta_minus).clamp_(min=self.step_min), a))
        move = torch.where(g > 0, -a_new, torch.where(g < 0, a_new, 0.0))
        move = torch.where(down, -d_old, move)
        g_keep = torch.where(down, 0.0, g)
        if active is not None:
            keep = active.unsqueeze(1)
            a_new = torch.where(keep, a_new, a)
            g_keep = torch.where(keep, g_keep, g_old)
            d_new = torch.where(keep, move, d_old)
            p.copy_(torch.where(keep, p + move, p))
        else:
            d_new = move
            p.add_(move)
        a.copy_(a_new)
        g_old.copy_(g_keep)
        d_old.copy_(d_new)


def member_optimizer(flat: torch.Tensor, rules) -> "MemberAdam | MemberRprop":
    """The engine's optimiser over ``flat`` for ``rules`` (``helo.model.train.Rules``):
    ``rules.optimizer`` ``"adam"`` (:class:`MemberAdam`) or ``"rprop"`` (:class:`MemberRprop`,
    ``lr`` its initial step size)."""
    if rules.optimizer == "rprop":
        return MemberRprop(flat, rules.lr, rules.etas, rules.step_sizes, rules.weight_decay)
    return MemberAdam(flat, rules.lr, rules.betas, rules.eps, rules.weight_decay)
