"""The one training engine of every deep method (HeLo and the torch baselines).

:func:`fit_members` trains ``K`` *members* -- independent copies of one network, e.g. the folds
of a protocol times the seeds -- on one of two paths:

* **one model** (:class:`OneModelTrainer`, ``K = 1`` on the CPU): the module itself is trained,
  the plainest loop there is;
* **a stack** (:class:`StackTrainer`): the members' parameters are stacked along a leading member
  dimension (``torch.func.stack_module_state``) and one step runs the forward and backward of all
  of them at once (``torch.func.functional_call`` under ``torch.vmap(randomness="different")``).
  Why ``torch.func`` and not an explicit member dimension inside the modules: the modules stay the
  plain ``nn.Module`` of the paper (checkpoints, the FLOP counter and the figures use them
  unchanged), and any baseline can be stacked without rewriting its layers.

Both paths share everything else (:class:`Trainer`): the rules below, the optimiser, clipping,
logs and the callbacks (early stopping, divergence, the caller's hooks). The parts live beside
this module: :mod:`helo.model.pool` (members, the pool of rows folds share),
:mod:`helo.model.optim` (flat parameters, ``MemberAdam``, clipping), :mod:`helo.model.callbacks`
(early stopping, divergence, hooks) and :mod:`helo.model.runtime` (device, determinism,
precision, attention backends, the CUDA graph).

The rules (the same for every method, for both paths and for any ``K``):

* **Data.** The rows of all members live in one *pool* (a dict of modality tensors plus the
  label tensor) moved to the device once; a member is its training rows (and optional
  validation rows, and optional unlabelled *target* rows) in that pool, so a batch is an index
  gather on the device.
* **Batches.** Every epoch, each member draws a permutation of its own training rows from its
  own ``torch.Generator`` (seeded with the member's seed; on the pool's device) and cuts it into
  batches of ``min(batch_size, n_train)`` rows; a final batch of fewer than ``min_batch`` (2)
  rows is dropped (batch statistics -- the CC loss's label correlation, variances -- need two
  rows).
* **Target rows** (domain adaptation). Right after its batch order, a member with target rows
  draws a permutation of them from the same generator; its target batch at step ``t`` is the
  ``bt = min(batch_size, n_target)`` rows at positions ``(t * bt + j) mod n_target`` of that
  permutation (cyclic). The loss gets them as ``xb["target"]`` (a dict of modality tensors)
  with ``xb["target_w"]`` (0/1 per row: in a stack a member with fewer target rows is padded).
* **Ragged epochs.** Members with different training sizes take different numbers of steps per
  epoch: a stacked epoch runs as many steps as its largest member; at a step where a member has
  only a shorter last batch its batch is padded with weight-0 rows (the loss's ``w``), and when
  it has no batch at all it is *inactive*: its parameters, Adam moments and Adam step count do
  not change (a masked update). So every member sees exactly the batches and the number of
  updates it would see alone.
* **Optimiser.** Adam (L2 ``weight_decay`` added to the gradient, as ``torch.optim.Adam``) over
  all of a member's parameters as one flat row of a ``(K, P)`` tensor, with per-member step
  counts on the device (:class:`MemberAdam`); its arithmetic is ``torch.optim.Adam``'s
  capturable form (bias corrections from the device step counts). ``optimizer="rprop"``:
  Rprop with weight backtracking instead (:class:`MemberRprop`, PyLDL's ``RProp``; ``lr`` the
  initial step size, ``etas``, ``step_sizes``), masked per member the same way.
* **Gradient clipping.** ``grad_clip`` (``None``: off) bounds each member's global gradient
  norm (the norm of its whole flat gradient row, as ``clip_grad_norm_`` on the member alone).
* **Early stopping** (:class:`EarlyStopping`). With validation rows, the validation loss is
  the mean ``KL(y || p)`` over the member's validation rows, ``p`` its prediction in eval mode.
  An epoch improves when it is lower than the best so far by more than ``min_delta``; the best
  epoch's weights (parameters and buffers) are put back at the end (whenever validation rows are
  given); with ``patience`` (``None``/0: off) a member stops after ``patience`` epochs without
  improvement and, stopped, no longer changes while the others go on.
* **Logs.** Per member and epoch: ``loss`` and every extra value the loss logs, as means over
  the epoch's samples (batch-size weighted), ``val_loss``, ``seconds``. Loss parts are summed on
  the device and read once per epoch: no host synchronisation inside a step (the loss
  functions return tensors; ``tests/unit/test_train_sync.py`` counts them).
* **Divergence** (:class:`DivergenceStop`). A member whose epoch ``loss`` or ``val_loss`` is not
  finite has *diverged*: its history ends with that epoch's row, ``Member.diverged`` says what
  and when (``"training loss is nan at epoch 3"``), and it stops without best-epoch restore
  while the other members go on. The engine does not raise: the caller decides.
* **Randomness.** The caller builds each member under ``set_seed(member seed)``. On the
  one-model path dropout draws continue the global stream after the initialisation, as in a
  plain training loop; in a stack they come from vmap's batched draws (as random, not the same
  numbers), so with dropout member k of a stack follows a different, equally distributed
  trajectory than alone; without dropout the same one up to the summation order of batched
  matrix products.
* **Determinism.** ``torch.use_deterministic_algorithms(True, warn_only=True)`` for the
  duration (restored afterwards): on the CPU the same seeds give bit-identical weights. Its
  filling of every new uninitialised tensor with NaN (``fill_uninitialized_memory``) is off
  unless ``fill_uninitialized`` asks for it: it only guards against reading memory before
  writing it, which nothing here does, and it costs one kernel per allocation.
* **Attention in a stack** runs through the math backend (:func:`math_attention`) with the
  Transformer's eval fast path off (:func:`mha_fastpath`): the fused kernels have no vmap rule;
  a linear map of a non-contiguous input (the in-projection) is folded into one product per
  member (:func:`folded_linear`).
* **Precision** (``precision``): ``fp32``; ``tf32`` (CUDA matmuls and convolutions in TF32; on
  the CPU the same as fp32); ``bf16`` (forward and loss under bf16 autocast; the weights,
  gradients, Adam, the Sinkhorn and the losses' reductions stay float32).
* **Compile** (``compile``). On the CPU the step's forward + loss runs through
  ``torch.compile`` (eager fallback with a warning). On CUDA, in a stack, the whole step --
  batch gather, forward, backward, clipping, the masked Adam update, the log sums -- is one
  CUDA graph (:class:`CudaGraphStep`): captured after three eager warm-up steps and replayed,
  its only inputs the step index and the epoch's batch plan, copied into fixed buffers.
"""
from __future__ import annotations

import copy
import logging
import time
import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from helo.model.callbacks import Callback, DivergenceStop, EarlyStopping, Hooks, non_finite
from helo.model.optim import (
    FlatParameters,
    MemberAdam,
    MemberRprop,
    clip_per_member,
    member_optimizer,
)
from helo.model.pool import FoldPool, FoldRows, Member, fold_pool
from helo.model.runtime import (
    PRECISIONS,
    CudaGraphStep,
    autocast,
    deterministic,
    folded_linear,
    math_attention,
    mha_fastpath,
    retained_heap,
    select_device,
    set_seed,
    stack_members,
    tf32_matmuls,
)

__all__ = ["Callback", "CudaGraphStep", "DivergenceStop", "EarlyStopping", "FlatParameters",
           "FoldPool", "FoldRows", "Hooks", "Member", "MemberAdam", "MemberRprop",
           "OneModelTrainer",
           "PRECISIONS", "Rules", "StackTrainer", "Trainer", "clip_per_member", "deterministic",
           "fit_members", "fold_pool", "non_finite", "select_device", "set_seed"]

log = logging.getLogger(__name__)

#: the engine's optimisers (``Rules.optimizer``)
OPTIMIZERS = ("adam", "rprop")

#: the profiler range around each training step (what the sync-counting test looks inside)
STEP_RANGE = "helo.train.step"


# -- rules ------------------------------------------------------------------------------------
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
    fill_uninitialized: bool = False
    compile: bool = False
    precision: str = "fp32"
    eval_batch: int = 4096
    max_steps: int | None = None  # cap on the steps of an epoch (benchmarks only)
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    optimizer: str = "adam"  # "adam" (MemberAdam) | "rprop" (MemberRprop, lr its first step)
    etas: tuple[float, float] = (0.5, 1.2)  # Rprop's step factors after a sign flip / keep
    step_sizes: tuple[float, float] = (1e-6, 50.0)  # Rprop's smallest / largest step

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, not {self.optimizer!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, not {self.precision!r}")


# -- the loop both paths share ------------------------------------------------------------------
LossFn = Callable[[nn.Module, dict, torch.Tensor, "torch.Tensor | None"],
                  "tuple[torch.Tensor, dict[str, Any]]"]


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


def _compiled(fn: Callable, name: str) -> Callable:
    """``torch.compile(fn)`` with an eager fallback on the first failure."""
    try:
        cfn = torch.compile(fn, dynamic=False)
    except Exception as err:  # noqa: BLE001 - no compiler on this platform
        warnings.warn(f"torch.compile unavailable for {name} ({err}); training eagerly")
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
            warnings.warn(f"torch.compile failed for {name} ({type(err).__name__}: {err}); "
                          "training eagerly")
            return fn(*args)
    return call


def _member_generator(member: Member, device: torch.device) -> torch.Generator:
    if member.generator is not None:
        return member.generator
    return torch.Generator(device=device).manual_seed(int(member.seed))


def _randperm(n: int, gen: torch.Generator, device: torch.device) -> torch.Tensor:
    """A permutation drawn from ``gen`` (on its own device), on ``device``."""
    return torch.randperm(n, generator=gen, device=gen.device).to(device)


class Trainer(ABC):
    """The epoch loop of both paths: draw the batch plan, run the steps, read the loss sums once,
    validate, log, call the callbacks. Subclasses provide the parameters (:attr:`flat`,
    :attr:`state`), :meth:`begin_epoch`, :meth:`run_step`, :meth:`val_losses` and
    :meth:`modules`."""

    flat: FlatParameters
    state: list[torch.Tensor]

    def __init__(self, loss_fn: LossFn, X: dict[str, torch.Tensor], y: torch.Tensor,
                 members: list[Member], rules: Rules, log_prob: Callable,
                 callbacks: Sequence[Callback], groups: torch.Tensor | None = None):
        self.loss_fn, self.X, self.y, self.members = loss_fn, X, y, members
        self.rules, self.log_prob = rules, log_prob
        self.device = y.device
        self.K = len(members)
        self.rows = [_as_rows(m.rows, self.device) for m in members]
        self.n = np.array([len(r) for r in self.rows])
        if (self.n < max(rules.min_batch, 1)).any():
            raise ValueError(f"a member has fewer than {rules.min_batch} training rows: "
                             f"{self.n.tolist()}")
        self.val = [_as_rows(m.val_rows, self.device)
                    if m.val_rows is not None and len(m.val_rows) else None for m in members]
        self.has_val = any(v is not None for v in self.val)
        has_t = [m.target_rows is not None and len(m.target_rows) > 0 for m in members]
        if any(has_t) and not all(has_t):
            raise ValueError("either every member has target rows or none has")
        self.targets = ([_as_rows(m.target_rows, self.device) for m in members]
                        if all(has_t) else None)
        self.gens = [_member_generator(m, self.device) for m in members]
        self._standardisation(groups)
        # batches: min(batch_size, largest member) rows, per member its own share
        self.bs = int(min(rules.batch_size, self.n.max()))
        bs_k = np.minimum(self.bs, self.n)
        self.steps_k = self.n // bs_k + (self.n % bs_k >= rules.min_batch)
        self.callbacks = [*callbacks, DivergenceStop(),
                          EarlyStopping(rules.patience, rules.min_delta)]
        self.autocast = autocast(rules.precision, self.device)
        self.stopped = np.zeros(self.K, dtype=bool)
        self.diverged = np.zeros(self.K, dtype=bool)
        self.epoch = 0
        self.logged: np.ndarray = np.zeros(0, dtype=np.int64)
        self.log_keys: list[str] | None = None
        self.sums: torch.Tensor | None = None  # (keys, K) sample-weighted loss parts
        self.opt: MemberAdam | MemberRprop | None = None

    # -- the parts every path has -------------------------------------------------------------
    def _standardisation(self, groups: torch.Tensor | None) -> None:
        """The members' ``shift`` / ``scale`` as ``(K, G, d)`` device tensors per modality."""
        has = [m.shift is not None for m in self.members]
        self.shift = self.scale = None
        if not any(has):
            return
        if not all(has) or any(m.scale is None for m in self.members):
            raise ValueError("either every member has a shift and a scale or none has")
        self.shift, self.scale = {}, {}
        for mod, x in self.X.items():
            d = x.shape[1]
            for name, out in (("shift", self.shift), ("scale", self.scale)):
                tabs = [np.asarray(getattr(m, name)[mod], dtype=np.float32).reshape(-1, d)
                        for m in self.members]
                if len({t.shape for t in tabs}) != 1:
                    raise ValueError(f"members' {name} tables of {mod!r} differ in shape")
                out[mod] = torch.as_tensor(np.stack(tabs), device=self.device)
        self.n_groups = next(iter(self.shift.values())).shape[1]
        if self.n_groups > 1 and groups is None:
            raise ValueError(f"{self.n_groups} standardisation groups but no row groups")
        self.groups = groups if self.n_groups > 1 else None
        self.member_index = torch.arange(self.K, device=self.device).unsqueeze(1)

    def gather(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        """The pool rows ``idx`` of every modality (``(K, b)`` in a stack, ``(b,)`` alone),
        standardised with each member's own shift and scale when the members have them."""
        xb = {m: v[idx] for m, v in self.X.items()}
        if self.shift is None:
            return xb
        if self.groups is None:
            at = (slice(0, 1), 0) if idx.dim() == 1 else (slice(None), slice(0, 1))
        else:
            g = self.groups[idx]
            at = (0, g) if idx.dim() == 1 else (self.member_index, g)
        return {m: (x - self.shift[m][at]) / self.scale[m][at] for m, x in xb.items()}

    def _update(self, loss: torch.Tensor, logs: dict, grads_of: Callable,
                active: torch.Tensor | None, weight) -> None:
        """Backward, clipping, Adam and the log sums of one step (no host read)."""
        grad = self.flat.gradient(grads_of(loss.float().sum()))
        if self.rules.grad_clip:
            clip_per_member(grad, float(self.rules.grad_clip))
        self.opt.step(grad, active)
        if self.log_keys is None:
            self.log_keys = ["loss", *logs]
            self.sums = torch.zeros(len(self.log_keys), self.K, device=self.device)
        parts = torch.stack([loss.detach().float().reshape(self.K),
                             *[self._log_value(logs[k]) for k in self.log_keys[1:]]])
        if torch.is_tensor(weight):  # an inactive member's loss may be 0/0: it must not count
            parts = torch.where(weight > 0, parts, 0.0)
        self.sums.add_(parts * weight)

    def _log_value(self, v) -> torch.Tensor:
        if not torch.is_tensor(v):
            v = torch.tensor(float(v))
        return v.detach().float().reshape(self.K).to(self.device)

    def target_plan(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Static target positions ``(K, steps, bt_max)`` and weights ``(K, bt_max)``."""
        nt = np.array([len(t) for t in self.targets])
        bt = np.minimum(self.bs, nt)
        bt_max, steps = int(bt.max()), int(self.steps_k.max())
        pos = np.zeros((self.K, steps, bt_max), dtype=np.int64)
        wts = np.zeros((self.K, bt_max), dtype=np.float32)
        j = np.arange(bt_max)
        for k in range(self.K):
            pos[k] = (np.arange(steps)[:, None] * bt[k] + j[None, :]) % nt[k]
            pos[k][:, bt[k]:] = 0
            wts[k, :bt[k]] = 1.0
        return torch.as_tensor(pos, device=self.device), torch.as_tensor(wts, device=self.device)

    # -- the loop -----------------------------------------------------------------------------
    def fit(self) -> list[nn.Module]:
        for mem in self.members:
            mem.history, mem.diverged = [], None
        for epoch in range(1, int(self.rules.epochs) + 1):
            if self.stopped.all():
                break
            self.epoch = epoch
            t0 = time.perf_counter()
            n_steps = self.begin_epoch()
            for cb in self.callbacks:
                cb.on_epoch_begin(self)
            if self.sums is not None:
                self.sums.zero_()
            for t in range(n_steps):
                with torch.profiler.record_function(STEP_RANGE):
                    self.run_step(t)
                for cb in self.callbacks:
                    cb.on_step_end(self)
            means = self.epoch_means()
            val = self.val_losses() if self.has_val else None
            dt = time.perf_counter() - t0
            self.logged = np.flatnonzero(~self.stopped)
            for k in self.logged:
                row = {"epoch": epoch, **{key: float(means[i, k])
                                          for i, key in enumerate(self.log_keys or [])}}
                if val is not None and self.val[k] is not None:
                    row["val_loss"] = float(val[k])
                row["seconds"] = dt
                self.members[k].history.append(row)
            for cb in self.callbacks:
                cb.on_epoch_end(self, val)
        for cb in self.callbacks:
            cb.on_train_end(self)
        return self.modules()

    def epoch_means(self) -> np.ndarray:
        """The epoch's loss parts per member (the one read of the training sums)."""
        if self.sums is None:
            return np.zeros((0, self.K))
        return self.sums.cpu().numpy() / np.maximum(self.seen, 1)[None, :]

    # -- per path -----------------------------------------------------------------------------
    @abstractmethod
    def begin_epoch(self) -> int:
        """Per path."""

    @abstractmethod
    def run_step(self, t: int) -> None:
        """Per path."""

    @abstractmethod
    def val_losses(self) -> np.ndarray:
        """Per path."""

    @abstractmethod
    def modules(self) -> list[nn.Module]:
        """Per path."""


class OneModelTrainer(Trainer):
    """One member: its module is trained in place (its parameters become views of the flat
    row while training, their own tensors again at the end)."""

    def __init__(self, make, loss_fn, X, y, members, rules, log_prob, callbacks, groups=None):
        super().__init__(loss_fn, X, y, members, rules, log_prob, callbacks, groups)
        self.net = make(members[0]).to(self.device)
        self.params = list(self.net.parameters())
        self.flat = FlatParameters([p.detach().unsqueeze(0) for p in self.params])
        for p, v in zip(self.params, self.flat.views):
            p.data = v[0]
        self.state = [self.flat.flat] + [b.data.unsqueeze(0) for b in self.net.buffers()]
        self.opt = member_optimizer(self.flat.flat, rules)
        self.step_loss = _compiled(self._loss, "training step") if rules.compile else self._loss
        self.n_steps = int(self.steps_k[0])
        if rules.max_steps:
            self.n_steps = min(self.n_steps, int(rules.max_steps))
        if self.targets is not None:
            self.tpos, self.tw = self.target_plan()

    def _loss(self, xb, yb):
        loss, logs = self.loss_fn(self.net, xb, yb, None)
        return loss.reshape(1), logs

    def begin_epoch(self) -> int:
        self.net.train()
        self.order = self.rows[0][_randperm(int(self.n[0]), self.gens[0], self.device)]
        if self.targets is not None:
            tperm = _randperm(len(self.targets[0]), self.gens[0], self.device)
            self.target_order = self.targets[0][tperm[self.tpos[0]]]
        self.seen = np.zeros(1)
        return self.n_steps

    def run_step(self, t: int) -> None:
        bidx = self.order[t * self.bs:(t + 1) * self.bs]
        xb = self.gather(bidx)
        if self.targets is not None:
            xb["target"] = self.gather(self.target_order[t])
            xb["target_w"] = self.tw[0]
        with self.autocast:
            loss, logs = self.step_loss(xb, self.y[bidx])

        def grads_of(total):
            return torch.autograd.grad(total, self.params, allow_unused=True,
                                       materialize_grads=True)
        self._update(loss, logs, grads_of, None, float(len(bidx)))
        self.seen += len(bidx)

    @torch.no_grad()
    def val_losses(self) -> np.ndarray:
        self.net.eval()
        r, eb = self.val[0], int(self.rules.eval_batch)
        tot = torch.zeros((), device=self.device)
        for s in range(0, len(r), eb):
            b = r[s:s + eb]
            lp = self.log_prob(self.net, self.gather(b)).float()
            tot = tot + _kl_rows(self.y[b], lp).sum()
        return np.array([float(tot) / len(r)])

    def modules(self) -> list[nn.Module]:
        for p in self.params:
            p.data = p.data.clone()
        self.net.eval()
        return [self.net]


class StackTrainer(Trainer):
    """K members as one stacked model (module docstring). A step's inputs are fixed buffers
    filled once per epoch (the batch plan) and a step index, so the step has no host read and
    no Python branch on values: on CUDA with ``compile`` it is captured as one CUDA graph."""

    def __init__(self, make, loss_fn, X, y, members, rules, log_prob, callbacks, groups=None):
        from torch.func import functional_call, stack_module_state

        super().__init__(loss_fn, X, y, members, rules, log_prob, callbacks, groups)
        dev, K, bs = self.device, self.K, self.bs
        self.nets = [make(m).to(dev) for m in members]
        params, buffers = stack_module_state(self.nets)
        self.names = list(params)
        self.buffer_names = list(buffers)
        self.flat = FlatParameters([params[k] for k in self.names])
        self.leaves = [v.detach().requires_grad_() for v in self.flat.views]
        self.blist = [buffers[k] for k in self.buffer_names]
        self.state = [self.flat.flat, *self.blist]
        self.base = copy.deepcopy(self.nets[0]).to("meta")
        self.opt = member_optimizer(self.flat.flat, rules)
        wrapped = _Wrapped(self.base, loss_fn)
        pkeys = ["net." + k for k in self.names]
        bkeys = ["net." + k for k in self.buffer_names]

        def one(p, b, xb, yb, w):
            loss, logs = functional_call(wrapped, (dict(zip(pkeys, p)), dict(zip(bkeys, b))),
                                         (xb, yb, w))
            return loss, {k: (v.detach() if torch.is_tensor(v) else torch.as_tensor(v))
                          for k, v in logs.items()}

        vm = torch.vmap(one, randomness="different")
        self.step_loss = (_compiled(vm, "training step")
                          if rules.compile and dev.type != "cuda" else vm)
        # the static batch plan: padded rows, weights, activity, rows per step
        steps = int(self.steps_k.max())
        self.steps_max = steps
        n_max = int(self.n.max())
        padded = torch.stack([torch.cat([r, r[:1].expand(n_max - len(r))]) for r in self.rows])
        self.padded_rows = padded
        pos = np.arange(steps * bs)
        take = np.minimum(self.n, self.steps_k * bs)
        # the plan's row weights (padding 0); the step reads ``weights``, the plan's with the
        # members stopped so far zeroed each epoch, so a stopped member's forward pass leaves
        # its buffers (batch statistics, step counters) as they were when it stopped
        self.plan_weights = torch.as_tensor((pos[None, :] < take[:, None]).astype(np.float32)
                                            .reshape(K, steps, bs), device=dev)
        self.weights = self.plan_weights.clone()
        act = np.arange(steps)[:, None] < self.steps_k[None, :]
        self.plan_active = torch.as_tensor(act, device=dev)
        rows_per_step = np.clip(self.n[None, :] - np.arange(steps)[:, None] * bs, 0, bs) * act
        self.plan_rows = rows_per_step.astype(np.float64)
        self.plan_rows_dev = torch.as_tensor(rows_per_step, dtype=torch.float32, device=dev)
        # the buffers a step reads (filled per epoch) and the step index
        self.batch_rows = torch.zeros(K, steps, bs, dtype=torch.long, device=dev)
        self.active = torch.zeros(steps, K, dtype=torch.bool, device=dev)
        self.row_weights = torch.zeros(steps, K, device=dev)
        self.step_index = torch.zeros(1, dtype=torch.long, device=dev)
        self.step_indices = torch.arange(steps, device=dev)
        if self.targets is not None:
            nt_max = max(len(t) for t in self.targets)
            self.target_padded = torch.stack(
                [torch.cat([t, t[:1].expand(nt_max - len(t))]) for t in self.targets])
            self.tpos, self.tw = self.target_plan()
            self.target_rows = torch.zeros_like(self.tpos)
        self.runner = (CudaGraphStep(self._step, self.step_index)
                       if rules.compile and dev.type == "cuda" else None)

    def begin_epoch(self) -> int:
        self.base.train()
        K, n_max = self.K, int(self.n.max())
        L = self.steps_max * self.bs
        perms, tperms = [], []
        for k in range(K):
            perms.append(_randperm(int(self.n[k]), self.gens[k], self.device))
            if self.targets is not None:
                tperms.append(_randperm(len(self.targets[k]), self.gens[k], self.device))
        pos = torch.nn.utils.rnn.pad_sequence(perms, batch_first=True, padding_value=0)
        order = torch.gather(self.padded_rows, 1, pos)
        if n_max < L:
            order = torch.cat([order, self.padded_rows[:, :1].expand(K, L - n_max)], 1)
        self.batch_rows.copy_(order[:, :L].view(K, self.steps_max, self.bs))
        if self.targets is not None:
            tp = torch.nn.utils.rnn.pad_sequence(tperms, batch_first=True, padding_value=0)
            at = torch.gather(tp, 1, self.tpos.view(K, -1))
            self.target_rows.copy_(torch.gather(self.target_padded, 1, at).view_as(self.tpos))
        live = ~self.stopped
        live_dev = torch.as_tensor(live, device=self.device)
        self.active.copy_(self.plan_active & live_dev[None, :])
        self.weights.copy_(self.plan_weights * live_dev[:, None, None])
        self.row_weights.copy_(self.plan_rows_dev * self.active)
        self.seen = (self.plan_rows * live[None, :]).sum(0)
        n_steps = int(self.steps_k[live].max())
        if self.rules.max_steps:
            n_steps = min(n_steps, int(self.rules.max_steps))
            self.seen = (self.plan_rows[:n_steps] * live[None, :]).sum(0)
        return n_steps

    def _step(self, t: torch.Tensor) -> None:
        """One step of every member, reading only device tensors (capturable)."""
        bidx = self.batch_rows.index_select(1, t).squeeze(1)
        w = self.weights.index_select(1, t).squeeze(1)
        active = self.active.index_select(0, t).squeeze(0)
        weight = self.row_weights.index_select(0, t).squeeze(0)
        xb = self.gather(bidx)
        if self.targets is not None:
            xb["target"] = self.gather(self.target_rows.index_select(1, t).squeeze(1))
            xb["target_w"] = self.tw
        with self.autocast:
            loss, logs = self.step_loss(self.leaves, self.blist, xb, self.y[bidx], w)

        def grads_of(total):
            return torch.autograd.grad(total, self.leaves, allow_unused=True,
                                       materialize_grads=True)
        self._update(loss, logs, grads_of, active, weight)

    def run_step(self, t: int) -> None:
        idx = self.step_indices[t:t + 1]
        if self.runner is None:
            self._step(idx)
        else:
            self.runner(idx)

    @torch.no_grad()
    def val_losses(self) -> np.ndarray:
        from torch.func import functional_call
        dev, K, eb = self.device, self.K, int(self.rules.eval_batch)
        sizes = np.array([0 if v is None else len(v) for v in self.val])
        vmax = int(sizes.max())
        idx = torch.stack([torch.cat([v, v[:1].expand(vmax - len(v))]) if v is not None
                           else torch.zeros(vmax, dtype=torch.long, device=dev)
                           for v in self.val])
        wts = (torch.arange(vmax, device=dev)[None, :]
               < torch.as_tensor(sizes, device=dev)[:, None]).float()
        wrapped = _Wrapped(self.base, self.log_prob)
        wrapped.eval()
        pkeys = ["net." + k for k in self.names]
        bkeys = ["net." + k for k in self.buffer_names]

        def one(p, b, xb):
            return functional_call(wrapped, (dict(zip(pkeys, p)), dict(zip(bkeys, b))), (xb,))

        vm = torch.vmap(one, randomness="different")
        tot = torch.zeros(K, device=dev)
        with mha_fastpath(False):
            for s in range(0, vmax, eb):
                b = idx[:, s:s + eb]
                lp = vm(self.leaves, self.blist, self.gather(b)).float()
                tot = tot + (_kl_rows(self.y[b], lp) * wts[:, s:s + eb]).sum(1)
        out = tot.cpu().numpy() / np.maximum(sizes, 1)
        out[sizes == 0] = np.nan
        return out

    def modules(self) -> list[nn.Module]:
        with torch.no_grad():
            for k, mod in enumerate(self.nets):
                named = dict(mod.named_parameters())
                for name, leaf in zip(self.names, self.leaves):
                    named[name].copy_(leaf[k])
                bufs = dict(mod.named_buffers())
                for name, b in zip(self.buffer_names, self.blist):
                    bufs[name].copy_(b[k])
                mod.eval()
        return self.nets


def fit_members(make: Callable[[Member], nn.Module], loss_fn: LossFn,
                X: dict[str, torch.Tensor], y: torch.Tensor, members: list[Member],
                rules: Rules, *, log_prob: Callable[[nn.Module, dict], torch.Tensor],
                stacked: bool | None = None, hooks: Callback | None = None,
                groups: torch.Tensor | None = None) -> list[nn.Module]:
    """Train every member; returns one trained module per member (eval mode) and fills each
    member's ``history`` (and ``diverged``).

    ``make(member)`` builds and initialises a fresh module (the caller seeds it);
    ``loss_fn(net, xb, yb, w)`` -> ``(scalar loss, {name: tensor})`` with ``w`` ``None`` (every
    row counts) or per-row 0/1 weights (stacked padding); ``log_prob(net, xb)`` -> ``(B, l)``
    log-probabilities (validation). ``X``/``y`` is the pool on the target device; ``groups``
    the standardisation group of each pool row when members have per-group ``shift`` /
    ``scale`` tables.
    ``stacked``: ``None`` -> stacked when there is more than one member; ``False`` trains the
    members one after the other on the one-model path.
    """
    if not members:
        return []
    stacked = len(members) > 1 if stacked is None else bool(stacked)
    callbacks = [hooks] if hooks is not None else []
    dev = y.device
    with deterministic(rules.deterministic, rules.fill_uninitialized), \
            tf32_matmuls(rules.precision, dev), retained_heap(dev.type == "cpu"):
        if stacked:
            with math_attention(), folded_linear(), stack_members(len(members)):
                return StackTrainer(make, loss_fn, X, y, members, rules, log_prob, callbacks,
                                    groups).fit()
        return [OneModelTrainer(make, loss_fn, X, y, [m], rules, log_prob, callbacks,
                                groups).fit()[0] for m in members]
