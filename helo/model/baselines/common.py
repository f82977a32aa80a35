"""Shared torch pieces for the deep baselines.

* :func:`resolve_device` / :func:`seed_everything`: ``device="auto"`` picks CUDA when present;
  every random draw of a baseline goes through a seeded ``torch.Generator`` / numpy ``Generator``
  so that a fit is deterministic for a seed on CPU.
* :class:`ModalityTokenizer`: turns one modality's feature vector into a short token sequence.
  When ``spec.channels[m]`` divides the feature dimension the vector is cut into that many
  contiguous chunks (e.g. EEG 90 = 18 channels x 5 band powers; the feature store keeps the
  columns channel-major) and each chunk is embedded by one shared linear map; otherwise the
  vector is linearly projected to ``n_tokens`` tokens. A learned position embedding is added.
* :class:`TorchLearner`: the fit / predict / history / count_parameters / torch_module plumbing.
  Training is the one engine of every deep method, :func:`helo.model.train.fit_members`, with
  its rules (batches, ragged last batch, Adam, per-member gradient clipping, early stopping on
  the validation KL with best-epoch restore, logs), here always one model at a time; on top of
  it the optional unlabelled target batches of the domain-adaptation methods (a fresh
  permutation of the target rows each epoch, drawn after the batch order from the same
  generator). Subclasses provide ``_build`` (the ``nn.Module``), ``_batch_loss`` and
  ``_predict_proba``, and may override ``_before_fit`` (called once the module exists) and
  ``_after_step`` (after every optimiser step).
"""
from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from helo.model.base import DistributionLearner, ModalitySpec, normalize_rows
from helo.model.train import Hooks, Member, Rules, fit_members

EPS = 1e-8


def resolve_device(device: str | None = "auto") -> torch.device:
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def seed_everything(seed: int) -> torch.Generator:
    """Seed torch's global RNG (parameter init, dropout) and return a dedicated generator for
    batch order / shuffles."""
    torch.manual_seed(int(seed))
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(int(seed))
    gen = torch.Generator()
    gen.manual_seed(int(seed))
    return gen


def kl_div(y: torch.Tensor, log_p: torch.Tensor) -> torch.Tensor:
    """Mean over rows of KL(y || p) given ``log p`` (targets may contain zeros)."""
    t = y.clamp_min(0)
    return (torch.xlogy(t, t) - t * log_p).sum(-1).mean()


def mlp(d_in: int, d_hidden: int, d_out: int, dropout: float = 0.0,
        act: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Linear(d_in, d_hidden), act()]
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(d_hidden, d_out))
    return nn.Sequential(*layers)


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


def _to_tensors(X: dict[str, np.ndarray], modalities: list[str]) -> dict[str, torch.Tensor]:
    out = {}
    for m in modalities:
        if m not in X:
            raise KeyError(f"modality {m!r} missing from the input (have {sorted(X)})")
        a = np.nan_to_num(np.asarray(X[m], dtype=np.float32))
        out[m] = torch.from_numpy(np.ascontiguousarray(a))
    return out


class TorchLearner(DistributionLearner):
    """Base class of the deep baselines. Common params (all optional):

    ``seed`` (0), ``epochs``, ``batch_size``, ``lr``, ``weight_decay``, ``device`` ("auto"),
    ``patience`` (early stopping on validation KL when ``X_val`` is given; 0 = off),
    ``min_delta`` (0), ``max_grad_norm`` (5.0; the engine's ``grad_clip``), ``num_threads``
    (None: leave torch's setting alone), ``deterministic``, ``compile``, ``amp`` (the engine's
    options). With validation rows the best epoch's weights are restored at the end.
    """

    defaults: dict = {}
    _common_defaults = dict(seed=0, epochs=40, batch_size=64, lr=1e-3, weight_decay=1e-5,
                            device="auto", patience=0, min_delta=0.0, max_grad_norm=5.0,
                            num_threads=None, deterministic=True, compile=False, precision="fp32")
    # Trained one model at a time (the engine with K = 1): the baselines' losses read Python
    # floats and CARAT's ``_after_step`` updates the module in place, neither of which vmaps.
    # A subclass with a pure tensor loss could be stacked as ``HeLoLearner.fit_many`` does
    # (and listed in ``helo.evaluation.runner.STACKABLE_METHODS``).

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
    def _build(self) -> nn.Module:
        raise NotImplementedError

    def _before_fit(self, y: np.ndarray, gen: torch.Generator) -> None:
        """Called once the module exists (e.g. to store training-label statistics)."""

    def _batch_loss(self, xb: dict[str, torch.Tensor], yb: torch.Tensor,
                    xt: dict[str, torch.Tensor] | None,
                    gen: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        raise NotImplementedError

    def _predict_proba(self, xb: dict[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def _after_step(self) -> None:
        """Called after each optimiser step."""

    # -- interface --------------------------------------------------------------------------
    def rules(self) -> Rules:
        """The engine's rules (``helo.model.train``) from the common params."""
        p = self.params
        return Rules(epochs=int(p["epochs"]), batch_size=int(p["batch_size"]), lr=float(p["lr"]),
                     weight_decay=float(p["weight_decay"]),
                     grad_clip=float(p["max_grad_norm"]) if p["max_grad_norm"] else None,
                     patience=int(p["patience"]) if p["patience"] else None,
                     min_delta=float(p["min_delta"]), deterministic=bool(p["deterministic"]),
                     compile=bool(p["compile"]), precision=str(p["precision"]), eval_batch=1024)

    def fit(self, X, y, *, X_val=None, y_val=None, X_target=None, groups=None):
        t0 = time.perf_counter()
        p = self.params
        if p["num_threads"]:
            torch.set_num_threads(int(p["num_threads"]))
        gen = seed_everything(p["seed"])
        self.device = resolve_device(p["device"])
        dev = self.device
        y = np.asarray(y, dtype=np.float32)
        if y.ndim != 2 or y.shape[1] != self.n_labels:
            raise ValueError(f"y must be (n, {self.n_labels}), got {y.shape}")
        Xs = _to_tensors(X, self.modalities)
        n = y.shape[0]
        use_target = bool(getattr(self, "uses_target", False)) and X_target is not None
        Xt = _to_tensors(X_target, self.modalities) if use_target else None
        nt = next(iter(Xt.values())).shape[0] if Xt is not None else 0
        if Xt is not None and nt < 2:
            Xt, nt = None, 0
        self.used_target_ = Xt is not None
        has_val = X_val is not None and y_val is not None and len(y_val) > 0
        # the pool on the device: training rows, then validation rows
        pool = {m: [Xs[m]] for m in self.modalities}
        ys = [torch.from_numpy(np.ascontiguousarray(y))]
        val_rows = None
        if has_val:
            Xv = _to_tensors(X_val, self.modalities)
            for m in self.modalities:
                pool[m].append(Xv[m])
            ys.append(torch.from_numpy(np.ascontiguousarray(np.asarray(y_val, np.float32))))
            val_rows = np.arange(n, n + len(y_val))
        Xp = {m: torch.cat(v).to(dev) for m, v in pool.items()}
        yp = torch.cat(ys).to(dev)
        Xt_dev = {m: v.to(dev) for m, v in Xt.items()} if Xt is not None else None
        bs = int(min(p["batch_size"], n))
        state = {"tperm": None, "step": 0}

        def make(member):
            self.module = self._build().to(dev)
            self._before_fit(y, gen)
            return self.module

        def before_epoch(epoch):
            # drawn after the batch order, from the same generator, as before the engine
            state["tperm"] = torch.randperm(nt, generator=gen) if Xt is not None else None
            state["step"] = 0

        def loss_fn(net, xb, yb, w):
            xt = None
            if Xt_dev is not None:
                k = (state["step"] * bs) % nt
                tidx = state["tperm"][k:k + bs]
                if len(tidx) < 2:
                    tidx = state["tperm"][:min(bs, nt)]
                tidx = tidx.to(dev)
                xt = {m: Xt_dev[m][tidx] for m in self.modalities}
            state["step"] += 1
            return self._batch_loss(xb, yb, xt, gen)

        def log_prob(net, xb):
            return torch.log(self._predict_proba(xb).clamp_min(1e-12))

        member = Member(seed=int(p["seed"]), rows=np.arange(n), val_rows=val_rows,
                        generator=gen)
        fit_members(make, loss_fn, Xp, yp, [member], self.rules(), log_prob=log_prob,
                    stacked=False, hooks=Hooks(before_epoch=before_epoch,
                                               after_step=self._after_step))
        self._history = [{("val_kl" if k == "val_loss" else k): v for k, v in row.items()}
                         for row in member.history]
        self.module.eval()
        self.fit_seconds = time.perf_counter() - t0
        return self

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
