"""HeLo (CAPF -> OTHM -> LCDCA) as a ``torch.nn.Module`` and as a ``DistributionLearner``.

Data flow for DMER (``C = tokens``, default 8, ``d = 128``)::

    eeg(90) gsr(28) ppg(27) --tokenise--> 3 x (C, d)
        CAPF: eeg queries gsr, ppg      -> x^phy (2C, d)
    video(768) --tokenise--> x^v (2C, d)             (behavioural gets as many tokens as x^phy)
        OTHM: plan T (2C x 2C), T^T x^phy, Transformer_l on each branch, concat -> x^m (4C, d)
        LCDCA: label queries on x^m, correlation-refined -> (l, d) -> 3-layer MLP -> softmax

Tokenisation (paper silent), ``tokenizer`` = ``"linear"`` (default) or ``"channels"``, or a
dict modality -> mode:

* ``"linear"``: ``Linear(d_m, n * d)`` reshaped to ``(n, d)`` -- every token has its own
  weights, so no positional embedding is needed;
* ``"channels"``: when the spec gives the modality's channel count ``ch`` (EEG: 18 channels x 5
  bands = 90) and ``ch`` divides ``d_m``, the vector is reshaped to ``(ch, d_m / ch)`` channel
  tokens, each projected to ``d`` by one shared ``Linear`` plus a learned per-channel
  embedding, then mixed to ``n`` tokens by a ``Linear`` over the token axis when ``ch != n``.
  Modalities without a usable channel count fall back to ``"linear"``.

Several behavioural modalities are concatenated feature-wise, then tokenised together.

Token counts and degradation (ablation switches ``use_capf``, ``use_othm``, ``use_ot``,
``use_lcdca``; modality subsets through the spec or ``modalities``):

* physiological, CAPF on, ``k >= 2`` key modalities: every physiological modality -> ``C``
  tokens, ``x^phy`` has ``k * C`` tokens (2C for DMER/WESAD's two key modalities);
* CAPF on, exactly one key modality (two physiological modalities): both are tokenised to
  ``2C`` tokens, so ``x^phy`` keeps ``2C`` tokens;
* one physiological modality, CAPF on: it is tokenised to ``2C`` tokens and attends to itself
  (self-attention with the same Eq. 3 residual), so ``x^phy`` keeps ``2C`` tokens;
* CAPF off: each physiological modality -> ``C`` tokens (``2C`` if it is the only one),
  concatenated along the token axis (3C for DMER);
* behavioural: tokenised to as many tokens as ``x^phy`` (``2C`` if there is no physiological
  modality), so the plan is square as in the paper;
* OTHM on with both groups: Eq. 5-6 (``use_ot=False`` keeps the two Transformers but not the
  plan); OTHM on with one group: just that group's ``depth``-layer Transformer; OTHM off:
  ``x^m`` is the token concatenation of ``x^phy`` and ``x^v`` (no plan, no Transformer);
* LCDCA off: the 3-layer MLP head reads the flattened ``x^m`` directly (no label tokens, no CC
  loss).
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from helo.model.base import DistributionLearner, MeanDistribution, ModalitySpec  # noqa: F401 (re-exported)
from helo.model.capf import CAPF
from helo.model.lcdca import LCDCA, MLPHead, batch_label_correlation, cc_loss
from helo.model.othm import OTHM, transformer_encoder
from helo.model.train import (
    FoldPool,
    Hooks,
    Member,
    Rules,
    fit_members,
    fold_pool,
    select_device,
    set_seed,
)

DEFAULT_QUERIES = ("eeg", "ecg")


class Tokenizer(nn.Module):
    """``(B, d_in) -> (B, n_tokens, d)``; see the module docstring."""

    def __init__(self, d_in: int, n_tokens: int, d: int, mode: str = "linear",
                 channels: int | None = None):
        super().__init__()
        if mode not in ("linear", "channels"):
            raise ValueError(f"tokenizer mode must be 'linear' or 'channels', got {mode!r}")
        if mode == "channels" and (not channels or d_in % channels):
            mode = "linear"
        self.mode, self.n, self.d = mode, n_tokens, d
        if mode == "linear":
            self.proj = nn.Linear(d_in, n_tokens * d)
        else:
            self.ch = channels
            self.proj = nn.Linear(d_in // channels, d)
            self.pos = nn.Parameter(torch.randn(channels, d) * 0.02)
            self.mix = nn.Linear(channels, n_tokens) if channels != n_tokens else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B = x.shape[0]
        if self.mode == "linear":
            return self.proj(x).view(B, self.n, self.d)
        t = self.proj(x.view(B, self.ch, -1)) + self.pos
        if self.mix is not None:
            t = self.mix(t.transpose(1, 2)).transpose(1, 2)
        return t


def default_query(physiological: list[str]) -> str | None:
    for q in DEFAULT_QUERIES:
        if q in physiological:
            return q
    return physiological[0] if physiological else None


class HeLoNet(nn.Module):
    """HeLo network. ``forward(X) -> (distribution (B, l), aux)``.

    ``aux`` (keys present when the stage exists): ``log_prob``; ``tokens_phy`` (x^phy, before
    OT), ``tokens_beh`` (x^v), ``tokens_phy_ot`` (T^T x^phy), ``plan`` (B, n_p, n_b),
    ``capf_attn`` {key modality: (B, heads, C, C)}, ``tokens`` (x^m, LCDCA input), ``M_L``
    ((B, l, l) or (l, l)), ``label_attn``. ``sinkhorn`` picks OTHM's solver of the plan
    (:func:`helo.model.othm.sinkhorn`: ``"scaling"``, ``"implicit"`` or ``"log"``, the same
    plan to rounding).
    """

    def __init__(self, spec: ModalitySpec, d: int = 128, heads: int = 4, ff: int = 64,
                 depth: int = 1, tokens: int = 8, query: str | None = None,
                 use_capf: bool = True, use_othm: bool = True, use_ot: bool = True,
                 use_lcdca: bool = True, modalities: list[str] | None = None,
                 tokenizer: str | dict[str, str] = "linear", capf_residual: str = "key_ln",
                 ot_eps: float = 0.05, ot_iter: int = 50, plan_apply: str = "barycentric",
                 detach_plan: bool = False, corr_mode: str = "propagate",
                 label_cond: str = "film", lcdca_heads: int = 1, head_hidden: int = 256,
                 dropout: float = 0.1, sinkhorn: str = "scaling"):
        super().__init__()
        mods = list(modalities) if modalities is not None else spec.modalities
        unknown = [m for m in mods if m not in spec.dims]
        if unknown:
            raise ValueError(f"modalities {unknown} not in the spec {spec.modalities}")
        unassigned = [m for m in mods if m not in spec.physiological + spec.behavioural]
        if unassigned:
            raise ValueError(f"modalities {unassigned} are neither physiological nor "
                             "behavioural in the spec")
        self.phys = [m for m in spec.physiological if m in mods]
        self.beh = [m for m in spec.behavioural if m in mods]
        if not self.phys and not self.beh:
            raise ValueError("HeLoNet needs at least one modality")
        if query is not None and query not in self.phys:
            raise ValueError(f"query modality {query!r} is not among the physiological "
                             f"modalities {self.phys}")
        self.query = query if query is not None else default_query(self.phys)
        self.use_capf, self.use_othm, self.use_lcdca = use_capf, use_othm, use_lcdca
        self.n_labels, self.d = spec.n_labels, d
        C = tokens

        def mode_of(m: str) -> str:
            return tokenizer.get(m, "linear") if isinstance(tokenizer, dict) else tokenizer

        def tok(m: str, n: int) -> Tokenizer:
            return Tokenizer(spec.dims[m], n, d, mode_of(m), spec.channels.get(m))

        # Physiological stage
        self.tok = nn.ModuleDict()
        self.capf = None
        n_phy = 0
        if self.phys:
            single = len(self.phys) == 1
            if use_capf:
                keys = [self.query] if single else [m for m in self.phys if m != self.query]
                per = 2 * C if len(keys) == 1 else C
                self.capf = CAPF(keys, d, heads, dropout, capf_residual)
                n_phy = len(keys) * per
            else:
                per = 2 * C if single else C
                n_phy = len(self.phys) * per
            for m in self.phys:
                self.tok[m] = tok(m, per)
        # Behavioural stage
        n_beh = 0
        self.tok_beh = None
        if self.beh:
            n_beh = n_phy if n_phy else 2 * C
            d_beh = sum(spec.dims[m] for m in self.beh)
            ch = spec.channels.get(self.beh[0]) if len(self.beh) == 1 else None
            self.tok_beh = Tokenizer(d_beh, n_beh, d, mode_of(self.beh[0]), ch)
        # Heterogeneity mining
        self.othm = None
        self.enc_single = None
        if self.phys and self.beh:
            if use_othm:
                self.othm = OTHM(d, heads, ff, depth, dropout, ot_eps, ot_iter, plan_apply,
                                 use_ot, detach_plan, sinkhorn)
                n_tokens = 2 * n_beh
            else:
                n_tokens = n_phy + n_beh
        else:
            n_tokens = n_phy or n_beh
            if use_othm:
                self.enc_single = transformer_encoder(d, heads, ff, depth, dropout)
        self.n_tokens = n_tokens
        # Label stage
        if use_lcdca:
            self.lcdca = LCDCA(spec.n_labels, n_tokens, d, lcdca_heads, head_hidden, dropout,
                               corr_mode, label_cond)
            self.head = None
        else:
            self.lcdca = None
            self.head = MLPHead(n_tokens * d, head_hidden, spec.n_labels, dropout)

    @property
    def modalities(self) -> list[str]:
        return self.phys + self.beh

    def forward(self, X: dict[str, torch.Tensor]):
        aux: dict[str, Any] = {}
        x_phy = x_beh = None
        if self.phys:
            toks = {m: self.tok[m](X[m]) for m in self.phys}
            if self.capf is not None:
                keys = {m: toks[m] for m in self.capf.keys}
                x_phy, aux["capf_attn"] = self.capf(toks[self.query], keys)
            else:
                x_phy = torch.cat([toks[m] for m in self.phys], dim=1)
            aux["tokens_phy"] = x_phy
        if self.beh:
            xb = torch.cat([X[m] for m in self.beh], dim=1) if len(self.beh) > 1 \
                else X[self.beh[0]]
            x_beh = self.tok_beh(xb)
            aux["tokens_beh"] = x_beh
        if x_phy is not None and x_beh is not None:
            if self.othm is not None:
                x_m, oaux = self.othm(x_phy, x_beh)
                if "plan" in oaux:
                    aux["plan"] = oaux["plan"]
                    aux["tokens_phy_ot"] = oaux["phy_after_ot"]
            else:
                x_m = torch.cat([x_phy, x_beh], dim=1)
        else:
            x_m = x_phy if x_phy is not None else x_beh
            if self.enc_single is not None:
                x_m = self.enc_single(x_m)
        aux["tokens"] = x_m
        if self.lcdca is not None:
            logits, laux = self.lcdca(x_m)
            aux.update(laux)
        else:
            logits = self.head(x_m)
        log_prob = F.log_softmax(logits, dim=-1)
        aux["log_prob"] = log_prob
        return log_prob.exp(), aux


def kl_loss(log_prob: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Batch mean of KL(y || p) = sum y (log y - log p); 0 log 0 = 0."""
    return (torch.xlogy(y, y) - y * log_prob).sum(dim=1).mean()


#: The library's defaults are the paper's configuration (d 128, 8 tokens, 4 heads, ff 64, depth 1,
#: 50 Sinkhorn iterations, dropout 0.1; 300 epochs of Adam at 1e-3, batch 128). The pipeline
#: always passes every key from ``params.yaml`` (``model.helo``), which is what DVC tracks.
NET_DEFAULTS: dict[str, Any] = dict(
    d=128, heads=4, ff=64, depth=1, tokens=8, query=None, use_capf=True, use_othm=True,
    use_ot=True, use_lcdca=True, modalities=None, tokenizer="linear", capf_residual="key_ln",
    ot_eps=0.05, ot_iter=50, plan_apply="barycentric", detach_plan=False, sinkhorn="scaling",
    corr_mode="propagate", label_cond="film", lcdca_heads=1, head_hidden=256, dropout=0.1)

TRAIN_DEFAULTS: dict[str, Any] = dict(
    lr=1e-3, batch_size=128, epochs=300, weight_decay=0.0, lambda_cc=1.0, cc_reduction="mean",
    device="auto", seed=0, patience=None, min_delta=0.0, grad_clip=None, progress=False,
    deterministic=True, predict_batch=4096, compile=False, precision="fp32")


def helo_loss(lambda_cc: float, reduction: str = "mean"):
    """HeLo's training loss ``KL + lambda_cc * CC`` (Eq. 8-9) as the engine's
    ``loss_fn(net, xb, yb, w)``. ``w`` (stacked padding, 0/1 per row): the KL and per-sample
    CC terms are averaged over the rows of weight 1 and the batch label correlation
    ``M^gt`` is computed from them only (zero rows add nothing to a cosine), so a padded batch
    gives the loss of its real rows."""
    lam = float(lambda_cc)

    def loss_fn(net, xb, yb, w):
        _, aux = net(xb)
        if w is None:
            kl = kl_loss(aux["log_prob"], yb)
        else:
            wsum = w.sum().clamp_min(1.0)
            kl = ((torch.xlogy(yb, yb) - yb * aux["log_prob"]).sum(1) * w).sum() / wsum
        logs = {"kl": kl.detach()}
        loss = kl
        if "M_L" in aux and lam:
            if w is None:
                cc = cc_loss(aux["M_L"], yb, reduction)
            else:
                m_gt = batch_label_correlation(yb * w[:, None])
                sq = (aux["M_L"] - m_gt) ** 2
                per = sq.mean(dim=(-1, -2)) if reduction == "mean" else sq.sum(dim=(-1, -2))
                cc = (per * w).sum() / wsum if per.dim() == 1 else per
            loss = loss + lam * cc
            logs["cc"] = cc.detach()
        return loss, logs
    return loss_fn


def _net_log_prob(net, xb):
    return net(xb)[1]["log_prob"]


def _to_tensors(X: dict[str, np.ndarray], mods: list[str], device) -> dict[str, torch.Tensor]:
    missing = [m for m in mods if m not in X]
    if missing:
        raise KeyError(f"input lacks modalities {missing}")
    return {m: torch.as_tensor(np.asarray(X[m], dtype=np.float32), device=device) for m in mods}


class HeLoLearner(DistributionLearner):
    """HeLo behind the common interface. ``HeLoLearner(spec, **params)``; params are the
    ``HeLoNet`` keywords (``NET_DEFAULTS``) and the training ones (``TRAIN_DEFAULTS``: Adam
    ``lr`` 1e-3, ``batch_size`` 128, ``epochs`` 300, ``lambda_cc`` 1,
    ``device`` "auto", ``seed``, ``patience`` (early stopping on ``X_val``/``y_val``))."""

    name = "helo"

    def __init__(self, spec: ModalitySpec, **params):
        unknown = set(params) - set(NET_DEFAULTS) - set(TRAIN_DEFAULTS)
        if unknown:
            raise TypeError(f"unknown HeLo parameters: {sorted(unknown)}")
        self.spec = spec
        self.net_params = {k: params.get(k, v) for k, v in NET_DEFAULTS.items()}
        self.train_params = {k: params.get(k, v) for k, v in TRAIN_DEFAULTS.items()}
        self.net: HeLoNet | None = None
        self._history: list[dict] = []
        self.device = select_device(self.train_params["device"])

    # -- building / training ----------------------------------------------------------------
    def build(self) -> HeLoNet:
        set_seed(int(self.train_params["seed"]))
        self.net = HeLoNet(self.spec, **self.net_params).to(self.device)
        return self.net

    def rules(self) -> Rules:
        """The engine's rules from the training parameters (``helo.model.train``)."""
        tp = self.train_params
        return Rules(epochs=int(tp["epochs"]), batch_size=int(tp["batch_size"]),
                     lr=float(tp["lr"]), weight_decay=float(tp["weight_decay"]),
                     grad_clip=tp["grad_clip"], patience=tp["patience"] or None,
                     min_delta=float(tp["min_delta"]), deterministic=bool(tp["deterministic"]),
                     compile=bool(tp["compile"]), precision=str(tp["precision"]),
                     eval_batch=int(tp["predict_batch"]))

    def fit(self, X, y, *, X_val=None, y_val=None, X_target=None, groups=None):
        type(self).fit_many([self], [(X, y, X_val, y_val)], stacked=False)
        return self

    @staticmethod
    def auto_stack(params: dict, n_members: int, n_rows: int, n_features: int) -> int:
        """``evaluate.stack: auto``: 1 on the CPU (a stacked member does not reproduce the
        same member trained alone: other dropout masks, other rounding; on the CPU a stack of 8
        runs at 0.97-1.7x the speed of its members one at a time: docs/benchmarks.md); on CUDA
        the members that fit in half of the free memory, a member estimated as its pool rows
        (features + labels, float32, training and validation of a fold <= ``n_rows``), four
        copies of its parameters (weights, gradient, two Adam moments) and the activations of
        a batch (~200 tensors of batch x 4 tokens x d, forward and backward)."""
        dev = select_device(params.get("device", "auto"))
        if dev.type != "cuda" or n_members <= 1:
            return 1
        free, _ = torch.cuda.mem_get_info(dev)
        d, tokens = int(params.get("d", 128)), int(params.get("tokens", 8))
        bs = int(params.get("batch_size", 128))
        n_par = 40 * d * d + n_features * tokens * d
        member = 4 * (n_rows * (n_features + 16) + 4 * n_par + 200 * bs * 4 * tokens * d)
        return int(max(1, min(n_members, (free // 2) // max(member, 1))))

    @classmethod
    def fit_many(cls, learners: list["HeLoLearner"], data: list[tuple], *,
                 stacked: bool | None = None) -> list["HeLoLearner"]:
        """Train several HeLo learners -- the folds / seeds of a protocol -- with one engine
        call: ``data[k] = (X, y, X_val, y_val)`` for ``learners[k]`` (further items, the
        baselines' ``X_target`` and ``groups``, are ignored: HeLo uses neither), or a
        :class:`~helo.model.pool.FoldPool` (the rows once, each fold's rows and
        standardisation: what the runner passes; its target rows are ignored). They must share
        the
        spec, the network and the training parameters except ``seed``; ``stacked`` (default:
        more than one learner) trains them as one stacked model (``helo.model.train``)."""
        if not learners:
            return []
        first = learners[0]
        for other in learners[1:]:
            same_train = {k: v for k, v in other.train_params.items() if k != "seed"} == \
                {k: v for k, v in first.train_params.items() if k != "seed"}
            if other.net_params != first.net_params or not same_train \
                    or asdict(other.spec) != asdict(first.spec):
                raise ValueError("fit_many: the learners differ in more than their seed")
        tp, dev, spec = first.train_params, first.device, first.spec
        mods = HeLoNet(spec, **first.net_params).modalities if first.net is None \
            else first.net.modalities
        if isinstance(data, FoldPool):
            pool = dataclasses.replace(data, folds=[dataclasses.replace(f, target_rows=None)
                                                    for f in data.folds])
        else:
            pool = fold_pool([tuple(d[:4]) for d in data], mods)
        if len(pool.folds) != len(learners):
            raise ValueError(f"fit_many: {len(learners)} learners for {len(pool.folds)} folds")
        members = pool.members([lr_.train_params["seed"] for lr_ in learners])
        pool_X, pool_y, groups = pool.to(dev)
        Xp = {m: pool_X[m] for m in mods}
        yp = pool_y
        net_params = dict(first.net_params)

        def make(member: Member) -> HeLoNet:
            set_seed(member.seed)
            return HeLoNet(spec, **net_params)

        bar = None
        hooks = Hooks()
        if tp["progress"]:
            from tqdm.auto import tqdm
            bar = tqdm(total=int(tp["epochs"]) * len(learners), desc="train", unit="epoch")
            hooks.on_epoch = lambda k, row: bar.update(1)
        try:
            nets = fit_members(make, helo_loss(float(tp["lambda_cc"]), tp["cc_reduction"]),
                               Xp, yp, members, first.rules(), log_prob=_net_log_prob,
                               stacked=stacked, hooks=hooks, groups=groups)
        finally:
            if bar is not None:
                bar.close()
        for lr_, net, mem in zip(learners, nets, members):
            lr_.net = net.eval()
            lr_._history = mem.history
        return learners

    def _log_prob(self, Xt: dict[str, torch.Tensor]) -> torch.Tensor:
        n = next(iter(Xt.values())).shape[0]
        bs = int(self.train_params["predict_batch"])
        out = []
        for s in range(0, n, bs):
            _, aux = self.net({m: v[s:s + bs] for m, v in Xt.items()})
            out.append(aux["log_prob"])
        return torch.cat(out) if out else torch.zeros(0, self.spec.n_labels)

    # -- inference ----------------------------------------------------------------------------
    def _check_fitted(self):
        if self.net is None:
            raise RuntimeError("HeLoLearner is not fitted")

    def predict(self, X) -> np.ndarray:
        self._check_fitted()
        self.net.eval()
        with torch.no_grad():
            lp = self._log_prob(_to_tensors(X, self.net.modalities, self.device))
        p = lp.double().exp().cpu().numpy()
        return p / p.sum(axis=1, keepdims=True)

    def forward_aux(self, X, batch: int | None = None) -> dict[str, np.ndarray]:
        """Run the network in eval mode and return its ``aux`` tensors as NumPy arrays
        (concatenated over batches; dict-valued entries such as ``capf_attn`` flattened to
        ``capf_attn.<modality>``). For figures: t-SNE of tokens, plans, ``M_L`` heatmaps."""
        self._check_fitted()
        self.net.eval()
        Xt = _to_tensors(X, self.net.modalities, self.device)
        n = next(iter(Xt.values())).shape[0]
        bs = batch or int(self.train_params["predict_batch"])
        parts: dict[str, list] = {}
        with torch.no_grad():
            for s in range(0, n, bs):
                dist, aux = self.net({m: v[s:s + bs] for m, v in Xt.items()})
                flat = {"distribution": dist}
                for k, v in aux.items():
                    if isinstance(v, dict):
                        flat.update({f"{k}.{kk}": vv for kk, vv in v.items()})
                    else:
                        flat[k] = v
                for k, v in flat.items():
                    parts.setdefault(k, []).append(v.cpu().numpy())
        out = {}
        for k, v in parts.items():
            # a static (l, l) M_L is the same for every batch: keep one copy
            out[k] = v[0] if v[0].ndim == 2 and k == "M_L" else np.concatenate(v)
        return out

    def history(self) -> list[dict]:
        return list(self._history)

    def count_parameters(self) -> int | None:
        if self.net is None:
            return sum(p.numel() for p in HeLoNet(self.spec, **self.net_params).parameters())
        return sum(p.numel() for p in self.net.parameters())

    # -- persistence --------------------------------------------------------------------------
    def config(self) -> dict:
        return {"net": dict(self.net_params), "train": dict(self.train_params),
                "spec": asdict(self.spec)}

    def save(self, path: str | Path) -> None:
        """Atomic checkpoint: ``{"format", "config" (JSON text), "state_dict", "history"
        (JSON text)}``, loadable with ``torch.load(..., weights_only=True)``."""
        self._check_fitted()
        from helo.io import atomic_path
        state = {k: v.detach().cpu() for k, v in self.net.state_dict().items()}
        # no timings, and a file object (torch then names the archive "archive", not after the
        # temporary file): the same training gives the same bytes
        history = [{k: v for k, v in row.items() if k != "seconds"} for row in self._history]
        obj = {"format": "helo.HeLoLearner/1", "config": json.dumps(self.config()),
               "history": json.dumps(history), "state_dict": state}
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            torch.save(obj, fh)

    @classmethod
    def load(cls, path: str | Path, device: str | None = None) -> "HeLoLearner":
        obj = torch.load(path, map_location="cpu", weights_only=True)
        if obj.get("format") != "helo.HeLoLearner/1":
            raise ValueError(f"{path}: not a HeLoLearner checkpoint")
        cfg = json.loads(obj["config"])
        spec = ModalitySpec(**cfg["spec"])
        params = {**cfg["net"], **cfg["train"]}
        if device is not None:
            params["device"] = device
        self = cls(spec, **params)
        self.net = HeLoNet(spec, **self.net_params)
        self.net.load_state_dict(obj["state_dict"])
        self.net.to(self.device).eval()
        self._history = json.loads(obj["history"])
        return self

