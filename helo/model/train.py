"""The one training engine of every deep method (HeLo and the torch baselines).

:func:`fit_members` trains ``K`` *members* -- independent copies of one network, e.g. the folds
of a protocol times the seeds -- either one model at a time (``K = 1``: the module itself is
trained) or as one *stacked* model: the members' parameters are stacked along a leading member
dimension (``torch.func.stack_module_state``) and one step runs the forward and backward of all
of them at once (``torch.func.functional_call`` under ``torch.vmap(randomness="different")``).
Why ``torch.func`` and not an explicit member dimension inside the modules: the modules stay the
plain ``nn.Module`` of the paper (the checkpoints, the FLOP counter and the figures use them
unchanged), any subclass of the baselines can be stacked without rewriting its layers, and on
the CPU the vmapped step costs what K separate steps cost (measured: ``benchmarks/
bench_train.py``, ``docs/benchmarks.md``), so an explicit dimension would only pay off where
vmap's batching rules fall back to loops, which HeLo does not hit in training mode.

The rules (the same for every method and for ``K = 1`` and ``K > 1``):

* **Data.** The rows of all members live in one *pool* (a dict of modality tensors plus the
  label tensor) moved to the device once; a member is its training rows (and optional
  validation rows) in that pool, so a batch is an index gather on the device.
* **Batches.** Every epoch, each member draws a permutation of its own training rows from its
  own ``torch.Generator`` (seeded with the member's seed, exactly as when it is trained alone)
  and cuts it into batches of ``min(batch_size, n_train)`` rows; a final batch of fewer than
  ``min_batch`` (2) rows is dropped (batch statistics -- the CC loss's label correlation,
  variances -- need two rows).
* **Ragged epochs.** Members with different training sizes take different numbers of steps per
  epoch (per-member step counts): a stacked epoch runs as many steps as its largest member;
  at a step where a member has no batch left (or only a shorter last batch), its batch is
  padded with weight-0 rows and, when it has no batch at all, the member is *inactive*: its
  parameters, its Adam moments and its Adam step count do not change (a masked update). So
  every member sees exactly the batches and the number of updates it would see alone.
* **Optimiser.** Adam (L2 ``weight_decay`` added to the gradient, as ``torch.optim.Adam``) with a
  per-member step count (:class:`MemberAdam`); Adam is elementwise, so one Adam over the stacked
  parameters equals K separate Adams (``tests/unit/test_model_stack.py`` checks it against
  ``torch.optim.Adam``).
* **Gradient clipping.** ``grad_clip`` (``None``: off) bounds each member's global gradient
  norm (over all of that member's parameters, as ``clip_grad_norm_`` on the member alone).
  HeLo's default is off (the paper is silent), the baselines keep 5.0 as before.
* **Early stopping.** With validation rows, the validation loss is the mean ``KL(y || p)`` over
  the member's validation rows, ``p`` the member's prediction in eval mode. An epoch improves
  when it is lower than the best so far by more than ``min_delta``; the best epoch's weights
  (parameters and buffers) are put back at the end (whenever validation rows are given); with ``patience`` (``None``/0: off)
  a member stops after ``patience`` epochs without improvement and, stopped, no longer changes
  while the others go on. A member without validation rows trains all ``epochs``.
* **Logs.** Per member and epoch: ``loss`` and every extra value the loss function logs, as
  means over the epoch's samples (batch-size weighted), ``val_loss``, ``seconds``. Losses are
  accumulated on the device and read once per epoch (no host synchronisation inside an epoch
  unless a loss function itself returns Python floats).
* **Divergence.** A member whose epoch ``loss`` or ``val_loss`` is not finite (NaN or inf: a
  step that overflowed, an infinite learning rate) has *diverged*: checked on the once-per-epoch
  read (a NaN anywhere in the epoch makes the epoch mean NaN, so no step is missed and no sync is
  added), its history ends with that epoch's row (the non-finite value kept), ``Member.diverged``
  says what and when (``"training loss is nan at epoch 3"``), and it stops like an early-stopped
  member (no more updates, no best-epoch restore: its weights stay the diverged ones) while the
  other members of a stack go on. Training alone, it stops at once. The engine does not raise:
  the caller decides (the evaluation runner fails the fold, naming method, fold and epoch).
* **Randomness.** The caller builds each member under ``set_seed(member seed)`` (initialisation
  as alone). With ``K = 1`` dropout draws continue the global stream after the initialisation,
  as in a plain training loop. In a stack, dropout masks come from vmap's batched draws: they
  are as random as alone but not the same numbers, so member k of a stack with dropout follows
  a different (equally distributed) trajectory than fold k alone; without dropout it follows
  the same one up to floating-point reordering of batched matrix products.
* **Determinism.** ``torch.use_deterministic_algorithms(True, warn_only=True)`` for the
  duration (restored afterwards): on the CPU the same seeds give bit-identical weights, stacked
  or not. On CUDA a few kernels have no deterministic implementation (a warning) and cuBLAS
  needs ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` (set here if unset).
* **Attention in a stack.** Stacked training and evaluation run scaled-dot-product attention
  through the math backend (:func:`math_attention`) and with the Transformer's eval fast path
  off (:func:`mha_fastpath`): the fused kernels have no vmap batching rule.
* **Speed options.** ``compile`` wraps the step's forward + loss in ``torch.compile`` (CUDA
  graphs with ``mode="reduce-overhead"`` on CUDA) and falls back to eager, with a warning, when
  compilation fails; ``amp`` runs forward and loss under bf16 autocast (weights, gradients and
  Adam stay float32).

Subclass hooks of the baselines stay what they were: the loss function may call any method of
the learner, ``before_epoch`` runs after the batch order is drawn, ``after_step`` after each
optimiser step.
"""
from __future__ import annotations

import contextlib
import copy
import logging
import math
import os
import random
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
from torch import nn

log_warn = warnings.warn
log = logging.getLogger(__name__)


def set_seed(seed: int) -> None:
    """Seed Python's, NumPy's and torch's (all devices) global RNGs."""
    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch.manual_seed(seed)


def select_device(device: str | torch.device | None = "auto") -> torch.device:
    """``"auto"``/``None`` -> CUDA if available, else MPS if available, else CPU."""
    if device is None or device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(device)


@contextlib.contextmanager
def deterministic(enabled: bool = True) -> Iterator[None]:
    """Turn deterministic algorithms on (warn-only) inside the block, then restore."""
    if not enabled:
        yield
        return
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    prev = torch.are_deterministic_algorithms_enabled()
    prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(prev, warn_only=prev_warn)


@contextlib.contextmanager
def mha_fastpath(enabled: bool) -> Iterator[None]:
    """The Transformer eval fast path (``_transformer_encoder_layer_fwd``) has no vmap batching
    rule (vmap then silently loops over the members): off inside stacked evaluation."""
    mha = getattr(torch.backends, "mha", None)
    if mha is None or not hasattr(mha, "set_fastpath_enabled"):
        yield
        return
    prev = mha.get_fastpath_enabled()
    mha.set_fastpath_enabled(enabled)
    try:
        yield
    finally:
        mha.set_fastpath_enabled(prev)


@contextlib.contextmanager
def math_attention() -> Iterator[None]:
    """Scaled-dot-product attention through its composite math backend: the fused kernels
    (flash / memory-efficient, CPU and CUDA) have no vmap batching rule, so under vmap they run
    once per member; the math backend is plain matmuls and softmax, batched (3x faster for a
    3-member stack of a small HeLo on the CPU, measured)."""
    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel
    except ImportError:  # older torch
        yield
        return
    with sdpa_kernel([SDPBackend.MATH]):
        yield


def batches(n: int, batch_size: int, generator: torch.Generator | None,
            shuffle: bool = True) -> Iterator[torch.Tensor]:
    """Row-index batches (CPU ``int64``) over ``range(n)``; the last may be smaller."""
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    for start in range(0, n, batch_size):
        yield order[start:start + batch_size]


# -- rules, members, optimiser --------------------------------------------------------------
@dataclass(frozen=True)
class Rules:
    """The training rules (module docstring)."""
    epochs: int = 30
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0
    grad_clip: float | None = None
    patience: int | None = None
    min_delta: float = 0.0
    min_batch: int = 2
    deterministic: bool = True
    compile: bool = False
    amp: bool = False
    eval_batch: int = 4096
    max_steps: int | None = None  # cap on the steps of an epoch (benchmarks only)
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8


@dataclass
class Member:
    """One model to train: its seed, its training rows (and validation rows) in the pool, and
    the generator of its batch order (default: ``torch.Generator().manual_seed(seed)``)."""
    seed: int
    rows: np.ndarray | torch.Tensor
    val_rows: np.ndarray | torch.Tensor | None = None
    generator: torch.Generator | None = None
    history: list[dict] = field(default_factory=list)
    #: why it stopped as diverged (``"training loss is nan at epoch 3"``); None: it did not
    diverged: str | None = None


class MemberAdam:
    """Adam over parameters with a leading member dimension ``K``, one step count per member.

    ``step(grads, active)``: ``active`` is a host-side boolean array (``None``: all members);
    inactive members' parameters, moments and step counts stay as they are. With equal step
    counts the arithmetic is ``torch.optim.Adam``'s single-tensor update, op for op."""

    def __init__(self, params: Sequence[torch.Tensor], K: int, lr: float, betas=(0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0):
        self.params = list(params)
        self.K, self.lr, self.eps, self.wd = K, float(lr), float(eps), float(weight_decay)
        self.b1, self.b2 = float(betas[0]), float(betas[1])
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        self.steps = np.zeros(K, dtype=np.int64)
        self._mask_cache: dict[bytes, torch.Tensor] = {}

    def _mask(self, active: np.ndarray, ndim: int, device) -> torch.Tensor:
        key = active.tobytes() + bytes([ndim])
        t = self._mask_cache.get(key)
        if t is None:
            t = torch.as_tensor(active, device=device)
            t = t.view(-1, *([1] * (ndim - 1))) if ndim > 1 else t
            self._mask_cache[key] = t
        return t

    def _device_steps(self, device) -> torch.Tensor:
        if getattr(self, "_steps_dev", None) is None:
            self._steps_dev = torch.zeros(self.K, dtype=torch.float64, device=device)
        return self._steps_dev

    @torch.no_grad()
    def step(self, grads: Sequence[torch.Tensor], active: np.ndarray | None = None) -> None:
        if active is not None and active.all():
            active = None
        if active is not None and not active.any():
            return
        device = self.params[0].device
        sd = self._device_steps(device)
        if active is None:
            self.steps += 1
            sd += 1
        else:
            self.steps[active] += 1
            sd += self._mask(active, 1, device).to(sd.dtype)
        uniform = active is None and bool((self.steps == self.steps[0]).all())
        if uniform:  # torch.optim.Adam's arithmetic with Python scalars, op for op
            st = float(self.steps[0])
            bc2_sqrt = (1.0 - self.b2 ** st) ** 0.5
            step_size = self.lr / (1.0 - self.b1 ** st)
        else:  # per-member bias corrections, computed on the device (no host transfer)
            s = torch.clamp(sd, min=1.0)
            bc2_all = torch.sqrt(1.0 - self.b2 ** s).float()
            neg_all = (-self.lr / (1.0 - self.b1 ** s)).float()
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            if g is None:
                continue
            if self.wd:
                g = g.add(p, alpha=self.wd)
            if uniform:
                m.lerp_(g, 1 - self.b1)
                v.mul_(self.b2).addcmul_(g, g, value=1 - self.b2)
                denom = (v.sqrt() / bc2_sqrt).add_(self.eps)
                p.addcdiv_(m, denom, value=-step_size)
                continue
            shape = (-1, *([1] * (p.dim() - 1)))
            b2s, neg = bc2_all.to(p.dtype).view(shape), neg_all.to(p.dtype).view(shape)
            if active is None:
                m.lerp_(g, 1 - self.b1)
                v.mul_(self.b2).addcmul_(g, g, value=1 - self.b2)
                denom = (v.sqrt() / b2s).add_(self.eps)
                p.add_(neg * m / denom)
            else:
                mask = self._mask(active, p.dim(), device)
                m_new = m.lerp(g, 1 - self.b1)
                v_new = v.mul(self.b2).addcmul_(g, g, value=1 - self.b2)
                denom = (v_new.sqrt() / b2s).add_(self.eps)
                p.copy_(torch.where(mask, p + neg * m_new / denom, p))
                m.copy_(torch.where(mask, m_new, m))
                v.copy_(torch.where(mask, v_new, v))


@torch.no_grad()
def clip_per_member(grads: Sequence[torch.Tensor], max_norm: float, K: int) -> torch.Tensor:
    """Scale each member's gradients so that its global norm is at most ``max_norm`` (as
    ``clip_grad_norm_`` on the member alone: coefficient ``max_norm / (norm + 1e-6)``, at most
    1). Returns the members' norms before clipping (a device tensor, no sync)."""
    gs = [g for g in grads if g is not None]
    norms = torch.stack([torch.linalg.vector_norm(g.reshape(K, -1), dim=1) for g in gs], 1)
    total = torch.linalg.vector_norm(norms, dim=1)
    coef = torch.clamp(max_norm / (total + 1e-6), max=1.0)
    for g in gs:
        g.mul_(coef.view(-1, *([1] * (g.dim() - 1))))
    return total


# -- the engine -----------------------------------------------------------------------------
LossFn = Callable[[nn.Module, dict, torch.Tensor, "torch.Tensor | None"],
                  "tuple[torch.Tensor, dict[str, Any]]"]


@dataclass
class Hooks:
    """Optional callbacks (the baselines' ``before_epoch`` / ``after_step`` plumbing)."""
    before_epoch: Callable[[int], None] | None = None
    after_step: Callable[[], None] | None = None
    on_epoch: Callable[[int, dict], None] | None = None


class _Wrapped(nn.Module):
    """``forward`` = a loss / prediction function of the wrapped net, so that
    ``functional_call`` swaps the net's parameters for a member's slice."""

    def __init__(self, net: nn.Module, fn: Callable):
        super().__init__()
        self.net = net
        self.fn = fn

    def forward(self, *args):
        return self.fn(self.net, *args)


def _as_rows(rows, device) -> torch.Tensor:
    return torch.as_tensor(np.asarray(rows, dtype=np.int64) if not torch.is_tensor(rows)
                           else rows, dtype=torch.long).to(device)


def _kl_rows(y: torch.Tensor, log_p: torch.Tensor) -> torch.Tensor:
    """Per-row KL(y || p) (0 log 0 = 0)."""
    return (torch.xlogy(y, y) - y * log_p).sum(-1)


def _compiled(fn: Callable, device: torch.device, name: str) -> Callable:
    """``torch.compile(fn)`` with an eager fallback on the first failure."""
    try:
        mode = "reduce-overhead" if device.type == "cuda" else None
        cfn = torch.compile(fn, mode=mode, dynamic=False)
    except Exception as err:  # noqa: BLE001 - no compiler on this platform
        log_warn(f"torch.compile unavailable for {name} ({err}); training eagerly")
        return fn
    state = {"ok": None}

    def call(*args):
        if state["ok"] is False:
            return fn(*args)
        try:
            out = cfn(*args)
            state["ok"] = True
            return out
        except Exception as err:  # noqa: BLE001
            if state["ok"]:
                raise
            state["ok"] = False
            log_warn(f"torch.compile failed for {name} ({type(err).__name__}: {err}); "
                     "training eagerly")
            return fn(*args)
    return call


def fit_members(make: Callable[[Member], nn.Module], loss_fn: LossFn,
                X: dict[str, torch.Tensor], y: torch.Tensor, members: list[Member],
                rules: Rules, *, log_prob: Callable[[nn.Module, dict], torch.Tensor],
                stacked: bool | None = None, hooks: Hooks | None = None,
                ) -> list[nn.Module]:
    """Train every member; returns one trained module per member (eval mode) and fills each
    member's ``history``.

    ``make(member)`` builds and initialises a fresh module (the caller seeds it);
    ``loss_fn(net, xb, yb, w)`` -> ``(scalar loss, {name: value})`` with ``w`` ``None`` (every
    row counts) or per-row 0/1 weights (stacked padding); ``log_prob(net, xb)`` -> ``(B, l)``
    log-probabilities (validation). ``X``/``y`` is the pool on the target device.
    ``stacked``: ``None`` -> stacked when there is more than one member; ``False`` trains the
    members one after the other with the same rules.
    """
    if not members:
        return []
    stacked = len(members) > 1 if stacked is None else bool(stacked)
    hooks = hooks or Hooks()
    with deterministic(rules.deterministic):
        if stacked:
            with math_attention():
                return _fit_stacked(make, loss_fn, X, y, members, rules, log_prob, hooks)
        return [_fit_stacked(make, loss_fn, X, y, [m], rules, log_prob, hooks, single=True)[0]
                for m in members]


def _fit_stacked(make, loss_fn, X, y, members, rules, log_prob, hooks, single=False):
    """The loop. ``single``: one member trained as the module itself (no vmap)."""
    from torch.func import functional_call, stack_module_state

    K = len(members)
    dev = y.device
    modules = [make(m) for m in members]
    for mod in modules:
        mod.to(dev)
    if single:
        base = modules[0]
        names = [n for n, _ in base.named_parameters()]
        plist = [p for _, p in base.named_parameters()]
        views = [p.data.unsqueeze(0) for p in plist]  # (1, ...) views written in place
        buffers = None
    else:
        params, buffers = stack_module_state(modules)
        names = list(params)
        plist = [params[n] for n in names]
        views = [p.data for p in plist]
        base = copy.deepcopy(modules[0]).to("meta")
    opt = MemberAdam(views, K, rules.lr, rules.betas, rules.eps, rules.weight_decay)
    # what the best-epoch state holds: the parameters and the buffers (BatchNorm statistics)
    if single:
        state_views = views + [b.data.unsqueeze(0) for b in base.buffers()]
    else:
        state_views = views + [b.data for b in buffers.values()]
    rows = [_as_rows(m.rows, dev) for m in members]
    n = np.array([len(r) for r in rows])
    if (n < max(rules.min_batch, 1)).any():
        raise ValueError(f"a member has fewer than {rules.min_batch} training rows: {n.tolist()}")
    bs = int(min(rules.batch_size, n.max()))
    bs_k = np.minimum(bs, n)
    # per-member batch counts (a final batch shorter than min_batch is dropped)
    full, rest = n // bs_k, n % bs_k
    steps_k = full + (rest >= rules.min_batch)
    steps_max = int(steps_k.max())
    val = [(_as_rows(m.val_rows, dev) if m.val_rows is not None and len(m.val_rows) else None)
           for m in members]
    has_val = any(v is not None for v in val)
    gens = [m.generator if m.generator is not None
            else torch.Generator().manual_seed(int(m.seed)) for m in members]
    amp = (torch.autocast(dev.type, dtype=torch.bfloat16) if rules.amp
           else contextlib.nullcontext())

    # forward + loss of the whole stack for one step: returns (loss per member (K,), logs)
    if single:
        def step_loss(xb, yb, w):
            loss, logs = loss_fn(base, xb, yb, None)
            return loss.reshape(1), {k: (v.detach().reshape(1) if torch.is_tensor(v) else v)
                                     for k, v in logs.items()}
        train_fn = step_loss
    else:
        wrapped_loss = _Wrapped(base, loss_fn)
        pkeys = ["net." + k for k in names]
        bkeys = ["net." + k for k in buffers]

        def one(p, b, xb, yb, w):
            loss, logs = functional_call(wrapped_loss, (dict(zip(pkeys, p)), dict(zip(bkeys, b))),
                                         (xb, yb, w))
            return loss, {k: (v.detach() if torch.is_tensor(v) else torch.as_tensor(v))
                          for k, v in logs.items()}

        vm = torch.vmap(one, randomness="different")
        blist = [buffers[k] for k in buffers]

        def step_loss(xb, yb, w):
            return vm(plist, blist, xb, yb, w)
        train_fn = step_loss
    if rules.compile:
        train_fn = _compiled(train_fn, dev, "training step")

    mask_cache: dict = {}
    best = np.full(K, math.inf)
    stale = np.zeros(K, dtype=np.int64)
    stopped = np.zeros(K, dtype=bool)
    best_params = None
    improved_any = np.zeros(K, dtype=bool)
    diverged = np.zeros(K, dtype=bool)
    for mem in members:
        mem.history = []
        mem.diverged = None
    for epoch in range(1, int(rules.epochs) + 1):
        if stopped.all():
            break
        t0 = time.perf_counter()
        base.train()
        perms = [torch.randperm(int(n[k]), generator=gens[k]) for k in range(K)]
        if hooks.before_epoch is not None:
            hooks.before_epoch(epoch)
        if single:
            order = rows[0][perms[0].to(dev)]
        else:
            # (K, steps_max * bs) gather indices, padded with the member's first row, weight 0
            idx = np.zeros((K, steps_max * bs), dtype=np.int64)
            wts = np.zeros((K, steps_max * bs), dtype=np.float32)
            for k in range(K):
                nk = int(steps_k[k] * bs)
                take = min(int(n[k]), nk)
                idx[k, :take] = perms[k][:take].numpy()
                wts[k, :take] = 1.0
            idx_t = torch.as_tensor(idx, device=dev)
            gidx = torch.stack([rows[k][idx_t[k]] for k in range(K)])
            gidx = gidx.view(K, steps_max, bs)
            w_all = torch.as_tensor(wts, device=dev).view(K, steps_max, bs)
            # steps in which a member has a batch (host side: no sync)
            act_steps = np.arange(steps_max)[None, :] < steps_k[:, None]
            # rows per member and step, for the sample-weighted logs (one transfer an epoch)
            bsz_all = np.clip(n[None, :] - np.arange(steps_max)[:, None] * bs, 0, bs) \
                * act_steps.T
            bw_all = torch.as_tensor(bsz_all, dtype=torch.float32, device=dev)
        sums: dict[str, torch.Tensor | float] = {}
        seen = np.zeros(K)
        n_steps = int(steps_k[0]) if single else steps_max
        if rules.max_steps:
            n_steps = min(n_steps, int(rules.max_steps))
        for t in range(n_steps):
            if single:
                bidx = order[t * bs:(t + 1) * bs]
                xb = {m: v[bidx] for m, v in X.items()}
                yb = y[bidx]
                w = None
                active = None
                bsz = np.array([len(bidx)])
            else:
                active = act_steps[:, t] & ~stopped
                if not active.any():
                    break
                bidx = gidx[:, t]
                xb = {m: v[bidx] for m, v in X.items()}
                yb = y[bidx]
                w = w_all[:, t]
                bsz = np.clip(n - t * bs, 0, bs) * active
                bw = bw_all[t] * self_mask(active, dev, mask_cache)
            with amp:
                loss, logs = train_fn(xb, yb, w)
            grads = list(torch.autograd.grad(loss.float().sum(), plist, allow_unused=True))
            if single:  # the module's own parameters: add the member dimension (views)
                grads = [None if g is None else g.unsqueeze(0) for g in grads]
            if rules.grad_clip:
                clip_per_member(grads, float(rules.grad_clip), K)
            opt.step(grads, None if active is None else active)
            if hooks.after_step is not None:
                hooks.after_step()
            seen += bsz
            if single:
                bw = None
            for key, v in (("loss", loss.detach()), *logs.items()):
                if torch.is_tensor(v):
                    v = v.detach().float().reshape(-1) * (bw if bw is not None else float(bsz[0]))
                    sums[key] = sums[key] + v if key in sums else v
                else:
                    sums[key] = sums.get(key, 0.0) + float(v) * float(bsz[0])
        # one read of the epoch's losses
        vals = {k: (v.cpu().numpy() if torch.is_tensor(v) else np.array([v])) for k, v in
                sums.items()}
        row_vals = [{k: float(vals[k][i] / max(seen[i], 1)) for k in vals} for i in range(K)]
        if has_val:
            vl = _val_losses(base, plist, names, buffers, log_prob, X, y, val, rules, single)
        dt = time.perf_counter() - t0
        for k, mem in enumerate(members):
            if stopped[k]:
                continue
            row = {"epoch": epoch, **row_vals[k]}
            if has_val and val[k] is not None:
                row["val_loss"] = float(vl[k])
            row["seconds"] = dt
            mem.history.append(row)
            if hooks.on_epoch is not None:
                hooks.on_epoch(k, row)
            why = _non_finite(row, epoch)
            if why is not None:
                mem.diverged, diverged[k], stopped[k] = why, True, True
                log.warning("member %d (seed %d): %s; stopped", k, mem.seed, why)
        if has_val:
            improved = np.array([val[k] is not None and not stopped[k]
                                 and vl[k] < best[k] - rules.min_delta for k in range(K)])
            for k in range(K):
                if stopped[k] or val[k] is None:
                    continue
                if improved[k]:
                    best[k], stale[k] = vl[k], 0
                else:
                    stale[k] += 1
                    if rules.patience and stale[k] >= rules.patience:
                        stopped[k] = True
            if improved.any():
                with torch.no_grad():
                    if best_params is None:
                        best_params = [p.detach().clone() for p in state_views]
                    else:
                        mask = torch.as_tensor(improved, device=dev)
                        for bp, p in zip(best_params, state_views):
                            bp.copy_(torch.where(mask.view(-1, *([1] * (p.dim() - 1))), p, bp))
                improved_any |= improved
    # best-epoch restore (not of a diverged member), then one module per member
    improved_any &= ~diverged
    if best_params is not None:
        with torch.no_grad():
            mask = torch.as_tensor(improved_any, device=dev)
            for bp, p in zip(best_params, state_views):
                p.copy_(torch.where(mask.view(-1, *([1] * (p.dim() - 1))), bp, p))
    if single:
        base.eval()
        return [base]
    with torch.no_grad():
        for k, mod in enumerate(modules):
            for name, p in mod.named_parameters():
                p.copy_(params[name][k])
            for name, b in mod.named_buffers():
                if name in buffers:
                    b.copy_(buffers[name][k])
            mod.eval()
    return modules


def _non_finite(row: dict, epoch: int) -> str | None:
    """What is not finite in an epoch's log row (``loss``, then ``val_loss``), or None."""
    for key, what in (("loss", "training loss"), ("val_loss", "validation loss")):
        if key in row and not math.isfinite(row[key]):
            return f"{what} is {row[key]} at epoch {epoch}"
    return None


def self_mask(active: np.ndarray, dev, cache: dict) -> torch.Tensor:
    """A cached float device copy of a host-side member mask (transferred once per pattern)."""
    key = active.tobytes()
    t = cache.get(key)
    if t is None:
        t = cache[key] = torch.as_tensor(active, dtype=torch.float32, device=dev)
    return t


@torch.no_grad()
def _val_losses(net, plist, names, buffers, log_prob, X, y, val, rules, single):
    """Mean validation KL per member (a host array: the once-per-epoch read)."""
    K = len(val)
    eb = int(rules.eval_batch)
    if single:
        net.eval()
        r = val[0]
        tot = torch.zeros((), device=y.device)
        for s in range(0, len(r), eb):
            b = r[s:s + eb]
            tot = tot + _kl_rows(y[b], log_prob(net, {m: v[b] for m, v in X.items()}).float()).sum()
        return np.array([float(tot) / len(r)])
    from torch.func import functional_call
    dev = y.device
    sizes = np.array([0 if v is None else len(v) for v in val])
    vmax = int(sizes.max())
    idx = torch.stack([torch.cat([v, v[:1].expand(vmax - len(v))]) if v is not None
                       else torch.zeros(vmax, dtype=torch.long, device=dev) for v in val])
    wts = (torch.arange(vmax, device=dev)[None, :]
           < torch.as_tensor(sizes, device=dev)[:, None]).float()
    # the members' own (stacked) parameters, the template in eval mode
    wrapped = _Wrapped(net, log_prob)
    wrapped.eval()
    pkeys = ["net." + k for k in names]
    bkeys = ["net." + k for k in buffers]
    blist = [buffers[k] for k in buffers]

    def one(p, b, xb):
        return functional_call(wrapped, (dict(zip(pkeys, p)), dict(zip(bkeys, b))), (xb,))

    vm = torch.vmap(one, randomness="different")
    tot = torch.zeros(K, device=dev)
    with mha_fastpath(False):
        for s in range(0, vmax, eb):
            b = idx[:, s:s + eb]
            lp = vm(plist, blist, {m: v[b] for m, v in X.items()}).float()
            tot = tot + (_kl_rows(y[b], lp) * wts[:, s:s + eb]).sum(1)
    out = tot.cpu().numpy() / np.maximum(sizes, 1)
    out[sizes == 0] = np.nan
    return out

