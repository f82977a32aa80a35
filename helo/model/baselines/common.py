"""Shared torch pieces for the deep baselines.

* ``select_device`` (:mod:`helo.model.runtime`) / :func:`seed_everything`: ``device="auto"``
  picks CUDA when present;
  a member's initialisation is drawn right after seeding torch's global RNG with its seed, its
  batch order comes from its own ``torch.Generator``, so a fit is deterministic for a seed on
  the CPU.
* :class:`ModalityTokenizer`: turns one modality's feature vector into a short token sequence.
  When ``spec.channels[m]`` divides the feature dimension the vector is cut into that many
  contiguous chunks (e.g. EEG 90 = 18 channels x 5 band powers; the feature store keeps the
  columns channel-major) and each chunk is embedded by one shared linear map; otherwise the
  vector is linearly projected to ``n_tokens`` tokens. A learned position embedding is added.
* Row weights: the training engine (:mod:`helo.model.train`) calls a loss with ``w``, ``None``
  (every row of the batch counts) or per-row 0/1 weights (in a stack a member's short or
  missing batch is padded with weight-0 rows). :func:`wmean`, :func:`kl_div`,
  :func:`batch_norm` and :func:`run_sequential` make every mean over rows and every batch
  statistic (BatchNorm's included) count the rows of weight 1 only, so a padded batch gives
  the loss, the gradients and the running statistics of its real rows.
* :class:`TorchLearner`: the fit / fit_many / predict / history / count_parameters /
  torch_module plumbing; its docstring says what a stackable loss is.
"""
from __future__ import annotations

import math
import time
from abc import abstractmethod
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from helo.model.base import DistributionLearner, ModalitySpec, normalize_rows
from helo.model.pool import FoldPool
from helo.model.runtime import select_device
from helo.model.train import Hooks, Member, Rules, fit_members

EPS = 1e-8
#: the engine's batch size for ``batch_size: null``: every training row of a member in one batch
#: (the engine cuts ``min(batch_size, rows of the largest member)``)
FULL_BATCH = 2**62


def seed_everything(seed: int) -> torch.Generator:
    """Seed torch's global RNG (parameter init, dropout) and return a dedicated generator for
    batch order / shuffles."""
    torch.manual_seed(int(seed))
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(int(seed))
    gen = torch.Generator()
    gen.manual_seed(int(seed))
    return gen


def wmean(v: torch.Tensor, w: torch.Tensor | None) -> torch.Tensor:
    """Mean over the rows (dim 0) of ``v``, counting only the rows of weight 1 (``w`` None:
    every row)."""
    if w is None:
        return v.mean(0)
    wv = w.to(v.dtype).reshape(-1, *([1] * (v.dim() - 1)))
    return (v * wv).sum(0) / w.sum().clamp_min(1.0).to(v.dtype)


def kl_div(y: torch.Tensor, log_p: torch.Tensor, w: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over rows (of weight 1) of KL(y || p) given ``log p`` (targets may contain zeros)."""
    t = y.clamp_min(0)
    return wmean((torch.xlogy(t, t) - t * log_p).sum(-1), w)


def mlp(d_in: int, d_hidden: int, d_out: int, dropout: float = 0.0,
        act: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Linear(d_in, d_hidden), act()]
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(d_hidden, d_out))
    return nn.Sequential(*layers)


def batch_norm(bn: nn.Module, x: torch.Tensor, w: torch.Tensor | None) -> torch.Tensor:
    """``bn(x)`` (a ``BatchNorm1d``/``2d``/``3d``, rows on dim 0, channels on dim 1) with its
    batch statistics taken over the rows of weight 1 only; the running statistics are updated
    from those rows as ``bn`` itself does (momentum, unbiased variance), not at all when a
    member has no row of weight 1 at this step. In a stack the running statistics are the
    member's own slice of the stacked buffers, updated in place under ``no_grad`` (they take
    no part in the training-mode forward, so nothing autograd saved changes). ``w`` None, or
    ``bn`` normalising with its running statistics (eval mode): ``bn(x)``."""
    batch_stats = bn.training or bn.running_mean is None
    if w is None or not batch_stats:
        return bn(x)
    dtype = x.dtype
    x = x.float()  # statistics in float32 also under bf16 autocast, as the native kernel does
    red = [0, *range(2, x.dim())]
    shape = (1, -1, *([1] * (x.dim() - 2)))
    wv = w.float().reshape(-1, *([1] * (x.dim() - 1)))
    cnt = w.float().sum() * math.prod(x.shape[2:])
    mean = (x * wv).sum(red) / cnt.clamp_min(1.0)
    xc = x - mean.view(shape)
    var = (xc * xc * wv).sum(red) / cnt.clamp_min(1.0)
    out = xc * torch.rsqrt(var.view(shape) + bn.eps)
    if bn.affine:
        out = out * bn.weight.float().view(shape) + bn.bias.float().view(shape)
    if bn.training and bn.track_running_stats:
        with torch.no_grad():
            has = cnt > 1
            nbt = bn.num_batches_tracked
            mom = (bn.momentum if bn.momentum is not None
                   else 1.0 / (nbt + has.to(nbt.dtype)).clamp_min(1).float())
            unbiased = var * cnt / (cnt - 1).clamp_min(1.0)
            rm, rv = bn.running_mean, bn.running_var
            rm.copy_(torch.where(has, (1 - mom) * rm + mom * mean, rm))
            rv.copy_(torch.where(has, (1 - mom) * rv + mom * unbiased, rv))
            nbt.add_(has.to(nbt.dtype))
    return out.to(dtype)


def run_sequential(seq: nn.Sequential, x: torch.Tensor, w: torch.Tensor | None) -> torch.Tensor:
    """``seq(x)`` with its BatchNorm layers through :func:`batch_norm` (row weights ``w``)."""
    for mod in seq:
        x = batch_norm(mod, x, w) if isinstance(mod, nn.modules.batchnorm._BatchNorm) else mod(x)
    return x


class ModalityTokenizer(nn.Module):
    """``(n, d_m)`` -> ``(n, T_m, d)`` tokens (see module docstring)."""

    def __init__(self, d_in: int, d_model: int, channels: int | None = None, n_tokens: int = 4):
        super().__init__()
        self.d_in = d_in
        if channels and channels > 1 and d_in % channels == 0:
            self.mode = "chunk"
            self.n_tokens = channels
            self.proj = nn.Linear(d_in // channels, d_model)
        else:
            self.mode = "project"
            self.n_tokens = max(1, int(n_tokens))
            self.proj = nn.Linear(d_in, self.n_tokens * d_model)
        self.d_model = d_model
        self.pos = nn.Parameter(torch.zeros(1, self.n_tokens, d_model))
        nn.init.normal_(self.pos, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        if self.mode == "chunk":
            h = self.proj(x.reshape(n, self.n_tokens, -1))
        else:
            h = self.proj(x).reshape(n, self.n_tokens, self.d_model)
        return h + self.pos


def _to_arrays(X: dict[str, np.ndarray], modalities: list[str]) -> dict[str, np.ndarray]:
    out = {}
    for m in modalities:
        if m not in X:
            raise KeyError(f"modality {m!r} missing from the input (have {sorted(X)})")
        a = np.nan_to_num(np.asarray(X[m], dtype=np.float32))
        out[m] = np.ascontiguousarray(a)
    return out


def _to_tensors(X: dict[str, np.ndarray], modalities: list[str]) -> dict[str, torch.Tensor]:
    return {m: torch.from_numpy(a) for m, a in _to_arrays(X, modalities).items()}


@dataclass
class _Prepared:
    """One member's inputs as pool columns (training, validation, unlabelled target rows) and
    the kind of engine call it can share (:meth:`TorchLearner._stack_key`)."""
    X: dict[str, np.ndarray]
    y: np.ndarray
    X_val: dict[str, np.ndarray] | None
    y_val: np.ndarray | None
    X_target: dict[str, np.ndarray] | None
    key: tuple


class TorchLearner(DistributionLearner):
    """Base class of the deep baselines. Common params (all optional):

    ``seed`` (0), ``epochs``, ``batch_size`` (None: full batch, every training row of a member
    in one step; in a stack the smaller members' batches are padded with weight-0 rows),
    ``lr``, ``weight_decay``, ``device`` ("auto"),
    ``patience`` (early stopping on validation KL when ``X_val`` is given; 0 = off),
    ``min_delta`` (0), ``grad_clip`` (5.0: the largest gradient norm of a member; None/0:
    off), ``num_threads`` (None: leave torch's setting alone), ``deterministic``, ``compile``,
    ``precision`` (the engine's options). With validation rows the best epoch's weights are
    restored at the end.

    Training is the one engine of every deep method, :func:`helo.model.train.fit_members`:
    :meth:`fit_many` trains several learners -- the folds / seeds of a protocol -- in one
    engine call, stacked (``torch.func`` over the members' stacked parameters) or one at a
    time; :meth:`fit` is ``fit_many([self], ..., stacked=False)``. A member's unlabelled target
    rows (``X_target`` of the ``uses_target`` methods) are the engine's per-member target
    batches (``xb["target"]``, ``xb["target_w"]``: a fresh permutation of the target rows each
    epoch, drawn after the batch order from the member's generator, cut cyclically).

    A subclass provides ``_build`` (the ``nn.Module``, with a ``predict_proba(xb)``) and
    ``_batch_loss``, and may override ``_inputs`` (extra per-row input columns),
    ``_before_fit`` and ``_stack_key``. What makes a loss stackable (the same code runs alone
    and under ``torch.vmap`` in a stack):

    * ``_batch_loss(net, xb, yb, w, xt, wt)`` uses the ``net`` it receives (the member's
      module alone; in a stack the template with the member's parameters and buffers swapped
      in), never ``self.module``; it is pure tensor code (no ``float()``, ``.item()``,
      ``bool(tensor)`` or Python branching on tensor values: each would be a host
      synchronisation, and none vmaps) and returns ``(loss, {name: detached tensor})``.
    * ``w`` / ``wt``: ``None`` or 0/1 weights of the labelled / target rows; every mean over
      rows, every batch statistic and every pairwise term counts the rows of weight 1 only
      (:func:`wmean`, :func:`kl_div`, :func:`batch_norm`).
    * A member's constants (Amanda's training label mean, MAET's step budget) are buffers of
      its module, set by ``_before_fit(net, y)`` when the module is built; state a loss carries
      from step to step (CARAT's prototypes, MAET's step count) is a buffer updated in place
      under ``no_grad`` inside the loss (in a stack: the member's slice of the stacked buffer)
      once nothing of the step's graph still reads it, and only when the member has a real row
      at this step.
    * Randomness inside a loss is drawn with device-side ops without a generator argument
      (``torch.rand(..., device=x.device)``): alone it continues torch's global stream, under
      ``vmap(randomness="different")`` each member draws its own numbers, as for dropout: a
      member of a stack follows an equally distributed but not the same trajectory as alone.
    * ``_after_step()`` is still called after every engine step (for every learner of the call)
      but a stackable loss must not depend on it.

    Members that cannot share one stacked model -- different network shapes (MAET's number of
    training subjects) or some with target rows and some without -- are trained in one engine
    call per kind (:meth:`_stack_key`); the folds of a protocol are normally all one kind.
    """

    defaults: dict = {}
    _common_defaults = dict(seed=0, epochs=40, batch_size=64, lr=1e-3, weight_decay=1e-5,
                            device="auto", patience=0, min_delta=0.0, grad_clip=5.0,
                            num_threads=None, deterministic=True, compile=False, precision="fp32")

    def __init__(self, spec: ModalitySpec, **params):
        self.spec = spec
        p = {**self._common_defaults, **self.defaults}
        unknown = set(params) - set(p)
        if unknown:
            raise TypeError(f"{type(self).__name__}: unknown parameter(s) {sorted(unknown)}; "
                            f"known: {sorted(p)}")
        p.update(params)
        self.params = p
        self.modalities = list(spec.modalities)
        self.n_labels = int(spec.n_labels)
        self.module: nn.Module | None = None
        self._history: list[dict] = []
        self.fit_seconds: float | None = None

    # -- hooks ------------------------------------------------------------------------------
    @abstractmethod
    def _build(self) -> nn.Module:
        """The member's ``nn.Module`` (with a ``predict_proba(xb)``)."""

    def _inputs(self, X: dict[str, np.ndarray], y: np.ndarray,
                groups: np.ndarray | None) -> dict[str, np.ndarray]:
        """A member's training inputs as pool columns (float32 ``(n, width)`` arrays): the
        modalities, plus any per-row column the loss reads (MAET's domain labels). Validation
        and target rows get the modalities and zeros in the extra columns."""
        return _to_arrays(X, self.modalities)

    def _stack_key(self) -> tuple:
        """What members must share to be stacked beyond their parameters (network shapes
        that depend on the data); called after :meth:`_inputs`."""
        return ()

    def _before_fit(self, net: nn.Module, y: np.ndarray) -> None:
        """Called once a member's module is built, with its training labels: per-member
        constants go into the module's buffers."""

    @abstractmethod
    def _batch_loss(self, net: nn.Module, xb: dict[str, torch.Tensor], yb: torch.Tensor,
                    w: torch.Tensor | None, xt: dict[str, torch.Tensor] | None = None,
                    wt: torch.Tensor | None = None,
                    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``(loss, {name: detached tensor})`` of a batch (the class docstring says what a
        stackable loss is)."""

    def _predict_proba(self, xb: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.module.predict_proba(xb)

    def _after_step(self) -> None:
        """Called after each optimiser step."""

    # -- interface --------------------------------------------------------------------------
    def rules(self) -> Rules:
        """The engine's rules (``helo.model.train``) from the common params."""
        p = self.params
        bs = int(p["batch_size"]) if p["batch_size"] else FULL_BATCH
        return Rules(epochs=int(p["epochs"]), batch_size=bs, lr=float(p["lr"]),
                     weight_decay=float(p["weight_decay"]),
                     grad_clip=float(p["grad_clip"]) if p["grad_clip"] else None,
                     patience=int(p["patience"]) if p["patience"] else None,
                     min_delta=float(p["min_delta"]), deterministic=bool(p["deterministic"]),
                     compile=bool(p["compile"]), precision=str(p["precision"]), eval_batch=1024)

    def fit(self, X, y, *, X_val=None, y_val=None, X_target=None, groups=None):
        type(self).fit_many([self], [(X, y, X_val, y_val, X_target, groups)], stacked=False)
        return self

    @classmethod
    def auto_stack(cls, params: dict, n_members: int, n_rows: int, n_features: int) -> int:
        """``evaluate.stack: auto``: 1 on the CPU (a stacked member does not reproduce the
        same member trained alone: other dropout masks, other rounding; on the CPU a stack of 8
        runs at 0.97-1.7x the speed of its members one at a time: docs/benchmarks.md); on CUDA
        the members that fit in half of the free memory, a member estimated as its pool rows
        (features + labels, float32, at most ``n_rows``), four copies of its parameters
        (weights, gradient, two Adam moments; counted on the network built for one modality
        of ``n_features`` features) and the activations of a batch (~200 tensors of batch x
        32 tokens x width), as ``HeLoLearner.auto_stack`` does."""
        dev = select_device(params.get("device", "auto"))
        if dev.type != "cuda" or n_members <= 1:
            return 1
        free, _ = torch.cuda.mem_get_info(dev)
        spec = ModalitySpec(dims={"x": int(n_features)}, physiological=["x"], behavioural=[],
                            n_labels=16)
        try:
            probe = {k: v for k, v in params.items() if k != "modalities"}
            n_par = int(cls(spec, **probe).count_parameters() or 0)
        except Exception:  # noqa: BLE001 - an estimate: fall back to a generous guess
            n_par = 1_000_000
        p = {**cls._common_defaults, **cls.defaults, **params}
        width = int(p.get("d", p.get("d_joint", 128)))
        act = 200 * int(p["batch_size"] or n_rows) * 32 * width
        member = 4 * (n_rows * (n_features + 16) + 4 * n_par + act)
        return int(max(1, min(n_members, (free // 2) // max(member, 1))))

    @classmethod
    def fit_many(cls, learners: list["TorchLearner"], data: list[tuple], *,
                 stacked: bool | None = None) -> list["TorchLearner"]:
        """Train several learners of this class -- the folds / seeds of a protocol -- through
        one engine call: ``data[k] = (X, y, X_val, y_val, X_target)`` for ``learners[k]``
        (``X_val``/``y_val``/``X_target`` may be None; an optional sixth item is ``groups``,
        the subject of each training row, which MAET reads), or a
        :class:`~helo.model.pool.FoldPool` (the runner's), taken as per-fold standardised
        copies (:meth:`~helo.model.pool.FoldPool.fold_arrays`: unlike HeLo's, a baseline's
        memory grows with the number of stacked folds). The learners must share the
        spec and every parameter but ``seed`` (else ValueError); ``stacked`` (default: more
        than one learner) trains them as one stacked model (``helo.model.train``), ``False``
        one after the other under the same rules. Members of different kinds
        (:meth:`_stack_key`) take one engine call per kind."""
        if not learners:
            return []
        if isinstance(data, FoldPool):
            data = [data.fold_arrays(k) for k in range(len(data.folds))]
        if len(data) != len(learners):
            raise ValueError(f"fit_many: {len(learners)} learners but {len(data)} data tuples")
        first = learners[0]

        def rest(lr):
            return {k: v for k, v in lr.params.items() if k != "seed"}
        for other in learners[1:]:
            if type(other) is not type(first) or rest(other) != rest(first) \
                    or asdict(other.spec) != asdict(first.spec):
                raise ValueError("fit_many: the learners differ in more than their seed")
        t0 = time.perf_counter()
        prepared = [lr._prepare(*_unpack(d)) for lr, d in zip(learners, data)]
        kinds: dict[tuple, list[int]] = {}
        for k, pr in enumerate(prepared):
            kinds.setdefault(pr.key, []).append(k)
        for idx in kinds.values():
            group = [learners[k] for k in idx]
            nets, members = cls._fit_kind(group, [prepared[k] for k in idx], stacked)
            for k, net, mem in zip(idx, nets, members):
                lr = learners[k]
                lr.module = net.eval()
                lr.used_target_ = prepared[k].X_target is not None
                lr._history = [dict(row) for row in mem.history]
        dt = (time.perf_counter() - t0) / len(learners)
        for lr in learners:
            lr.fit_seconds = dt
        return learners

    def _prepare(self, X, y, X_val=None, y_val=None, X_target=None, groups=None) -> _Prepared:
        y = np.asarray(y, dtype=np.float32)
        if y.ndim != 2 or y.shape[1] != self.n_labels:
            raise ValueError(f"y must be (n, {self.n_labels}), got {y.shape}")
        Xs = self._inputs(X, y, groups)
        n = len(y)
        for c, a in Xs.items():
            if len(a) != n:
                raise ValueError(f"input {c!r} has {len(a)} rows, y has {n}")

        def columns(Xo, rows):
            out = _to_arrays(Xo, self.modalities)
            for c, a in Xs.items():
                if c not in out:
                    out[c] = np.zeros((rows, a.shape[1]), dtype=np.float32)
            return out
        Xv = yv = None
        if X_val is not None and y_val is not None and len(y_val) > 0:
            yv = np.asarray(y_val, dtype=np.float32)
            Xv = columns(X_val, len(yv))
        Xt = None
        if getattr(self, "uses_target", False) and X_target is not None:
            nt = len(np.asarray(X_target[self.modalities[0]]))
            Xt = columns(X_target, nt) if nt >= 2 else None
        return _Prepared(Xs, y, Xv, yv, Xt, (Xt is not None, *self._stack_key()))

    @classmethod
    def _fit_kind(cls, learners: list["TorchLearner"], prepared: list[_Prepared],
                  stacked: bool | None) -> tuple[list[nn.Module], list[Member]]:
        """One engine call: the members' rows in one pool on the device (training, then
        validation, then target rows of each member in turn)."""
        first = learners[0]
        p = first.params
        if p["num_threads"]:
            torch.set_num_threads(int(p["num_threads"]))
        dev = select_device(p["device"])
        cols = list(prepared[0].X)
        parts: dict[str, list] = {c: [] for c in cols}
        ys, members, off = [], [], 0
        for lr, pr in zip(learners, prepared):
            blocks = [(pr.X, pr.y)]
            if pr.X_val is not None:
                blocks.append((pr.X_val, pr.y_val))
            if pr.X_target is not None:
                nt = len(pr.X_target[cols[0]])
                blocks.append((pr.X_target, np.zeros((nt, first.n_labels), np.float32)))
            spans = []
            for Xb, yb in blocks:
                for c in cols:
                    parts[c].append(Xb[c])
                ys.append(yb)
                spans.append(np.arange(off, off + len(yb)))
                off += len(yb)
            extra = {"target_rows": spans[-1]} if pr.X_target is not None else {}
            members.append(Member(seed=int(lr.params["seed"]), rows=spans[0],
                                  val_rows=spans[1] if pr.X_val is not None else None,
                                  **extra))
            lr.device = dev
        Xp = {c: torch.from_numpy(np.concatenate(parts[c])).to(dev) for c in cols}
        yp = torch.from_numpy(np.concatenate(ys)).to(dev)
        make, loss_fn, log_prob, hooks = cls._engine_parts(learners, [pr.y for pr in prepared],
                                                           members)
        stacked = len(members) > 1 if stacked is None else bool(stacked)
        nets = fit_members(make, loss_fn, Xp, yp, members, first.rules(), log_prob=log_prob,
                           stacked=stacked, hooks=hooks)
        return nets, members

    @classmethod
    def _engine_parts(cls, learners: list["TorchLearner"], ys: list[np.ndarray],
                      members: list[Member]):
        """``(make, loss_fn, log_prob, hooks)`` of :func:`helo.model.train.fit_members` for
        ``learners[k]`` trained as ``members[k]`` on labels ``ys[k]`` (also what
        ``benchmarks/bench_train.py`` times)."""
        first = learners[0]
        which = {id(m): k for k, m in enumerate(members)}

        def make(member: Member) -> nn.Module:
            k = which[id(member)]
            lr = learners[k]
            seed_everything(lr.params["seed"])
            net = lr._build()
            lr._before_fit(net, ys[k])
            return net

        def loss_fn(net, xb, yb, w):
            return first._batch_loss(net, xb, yb, w, xb.get("target"), xb.get("target_w"))

        def log_prob(net, xb):
            return torch.log(net.predict_proba(xb).clamp_min(1e-12))

        def after_step():
            for lr in learners:
                lr._after_step()
        return make, loss_fn, log_prob, Hooks(after_step=after_step)

    @torch.no_grad()
    def predict(self, X) -> np.ndarray:
        if self.module is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted")
        was_training = self.module.training
        self.module.eval()
        Xs = _to_tensors(X, self.modalities)
        n = next(iter(Xs.values())).shape[0]
        outs = []
        for s in range(0, n, 1024):
            xb = {m: Xs[m][s:s + 1024].to(self.device) for m in self.modalities}
            outs.append(self._predict_proba(xb).double().cpu().numpy())
        if was_training:
            self.module.train()
        if not outs:
            return np.zeros((0, self.n_labels))
        return normalize_rows(np.concatenate(outs, axis=0))

    def history(self) -> list[dict]:
        return list(self._history)

    def count_parameters(self) -> int | None:
        m = self.torch_module()
        if m is None:
            return None
        return int(sum(p.numel() for p in m.parameters() if p.requires_grad))

    def torch_module(self) -> nn.Module | None:
        """The fitted ``nn.Module`` (built un-trained on demand so parameters / FLOPs can be
        counted before fitting). Its ``forward`` takes the modality tensors as keyword or
        positional arguments in ``spec.modalities`` order and returns probabilities."""
        if self.module is None:
            self.module = self._build()
            self.module.eval()
            self.device = torch.device("cpu")
        return self.module


def _unpack(item: tuple) -> tuple:
    """``(X, y, X_val, y_val[, X_target[, groups]])`` -> all six."""
    if not 4 <= len(item) <= 6:
        raise ValueError("fit_many: each data item is (X, y, X_val, y_val[, X_target"
                         f"[, groups]]), got {len(item)} items")
    return tuple(item) + (None,) * (6 - len(item))


class ForwardByModality(nn.Module):
    """Mixin giving modules a ``forward(*tensors)`` in modality order (for FLOP counters)."""

    modalities: list[str]

    def forward(self, *args, **kwargs):  # noqa: D401
        if args and isinstance(args[0], dict):
            xb = args[0]
        else:
            xb = dict(zip(self.modalities, args))
            xb.update(kwargs)
        return self.predict_proba(xb)

    def predict_proba(self, xb):
        raise NotImplementedError


def log_softmax(z: torch.Tensor) -> torch.Tensor:
    return F.log_softmax(z, dim=-1)
