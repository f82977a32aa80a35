"""MAET (Jiang, Liu, Zheng & Lu, ACM MM 2023, "Multimodal Adaptive Emotion Transformer with
Flexible Modality Inputs on A Novel Dataset with Continuous Labels") as an emotion-distribution
learner over any number of modalities.

The architecture follows the paper and its authors' public model code (read as a specification
only; nothing is copied):

* **Multi-view embedding** per modality: a feature vector ``x`` (one window's features) becomes
  ``V`` tokens ``t_v = (W x + b) * sigmoid(W_v x + b_v)``: one shared linear view gated by a
  view-specific sigmoid, then batch normalisation over the embedding channels.
* Per modality a learned ``[CLS]`` token, a learned position embedding (``V + 1`` positions) and
  a learned modality-type embedding; all modalities' sequences are concatenated.
* ``depth`` pre-norm Transformer blocks with **layer scale** (``gamma`` initialised to 0.1):
  self-attention is shared and runs over the whole multimodal sequence; the feed-forward part is
  a **mixture of modality experts** (one FFN per modality, each applied to its own tokens) in the
  blocks before ``mixffn_start`` and one shared multimodal FFN from there on (the VLMo-style
  design MAET builds on; the authors' default: 3 blocks, shared FFN from block 2).
* **Adaptive fusion** of the ``[CLS]`` outputs (after the final LayerNorm): a learned vector
  ``w`` scores each modality's ``[CLS]`` (``c_m . w``), a softmax over modalities gives the
  weights, the fused vector is the weighted sum; a linear head gives the label logits.
* **Adversarial domain generalisation** (the paper's remedy for subject discrepancy): a gradient
  reversal layer on the first ``[CLS]`` token (the first modality's, as in the authors' code)
  feeds a 2-layer domain classifier over the training subjects (``groups`` of :meth:`fit`); the
  reversal strength follows ``alpha = 2 / (1 + exp(-10 p)) - 1`` and the domain loss is a
  label-smoothed cross-entropy with smoothing ``(D - 1) / D * p``, ``p`` = training progress in
  [0, 1], ``D`` = number of training subjects (the authors' schedule).

Adaptations (written here because the paper is silent or its setting differs):

* **Four modalities instead of two** (EEG and eye movements in the paper): every modality gets
  its own multi-view embedding, ``[CLS]``, position/type embeddings and FFN expert; the fusion
  weights are a softmax over all modalities. The paper's modality-flexible inputs (EEG-only,
  eye-only) are not exercised: every window here has every modality.
* **Distributions instead of classes**: the head's softmax is the predicted distribution and
  the task loss is KL(y || p) instead of cross-entropy on a class index.
* The domain adversary is on by default whenever ``groups`` names at least two subjects (under
  the subject-dependent protocol too, where the paper used the plain model; switch it off with
  ``adversarial: false``). Its domain labels are passed through the training loop as an extra
  input column (``_DOMAIN``) that the network itself never reads.
* Optimiser: the shared Adam of :class:`~helo.model.baselines.common.TorchLearner` with a
  constant learning rate (the authors' training scripts are not part of the public model code).
* Small implementation differences: attention is ``torch.nn.MultiheadAttention`` (biases on
  query, key and value; the authors bias query and value only) and the linear layers keep
  PyTorch's default initialisation (the authors: truncated normal, std 0.02); no stochastic
  depth (the authors' default rate is 0 as well).

Defaults are the authors' (embedding 32, 5 views, 3 blocks, 4 heads, MLP ratio 4, shared FFN
from block 2); ``params.yaml`` keeps the epochs small for the synthetic default.

Stacked training (:class:`~helo.model.baselines.common.TorchLearner`): the adversary's schedule
is two buffers of each member's module, its step count and its planned total
(``epochs x ceil(n / batch)``), and the step count moves on inside the loss; the gradient
reversal is tensor arithmetic with a tensor ``alpha`` (:func:`grad_reverse`); the multi-view
embeddings' batch norms take their statistics over a padded batch's real rows only. Members
with different numbers of training subjects (domain classifiers of different widths) are
trained in separate engine calls.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from helo.model.baselines.common import ForwardByModality, TorchLearner, batch_norm, kl_div, wmean

_DOMAIN = "__maet_domain__"


class MultiViewEmbedding(nn.Module):
    """``(B, d_in)`` -> ``(B, views, d)``: a shared linear view gated per view by a sigmoid,
    batch-normalised over the embedding channels."""

    def __init__(self, d_in: int, d: int, views: int):
        super().__init__()
        self.views, self.d = int(views), int(d)
        self.value = nn.Linear(d_in, d)
        self.gates = nn.Linear(d_in, d * self.views)
        self.bn = nn.BatchNorm1d(d)

    def forward(self, x: torch.Tensor, w: torch.Tensor | None = None) -> torch.Tensor:
        """``w``: the batch's row weights (batch statistics over the rows of weight 1)."""
        B = x.shape[0]
        v = self.value(x).unsqueeze(1)  # (B, 1, d)
        g = torch.sigmoid(self.gates(x)).reshape(B, self.views, self.d)
        h = v * g  # (B, V, d)
        return batch_norm(self.bn, h.transpose(1, 2), w).transpose(1, 2)


class _FFN(nn.Sequential):
    def __init__(self, d: int, hidden: int, dropout: float):
        super().__init__(nn.Linear(d, hidden), nn.GELU(), nn.Dropout(dropout),
                         nn.Linear(hidden, d), nn.Dropout(dropout))


class MAETBlock(nn.Module):
    """Pre-norm block: shared self-attention, then modality-expert FFNs (``shared=False``) or
    one multimodal FFN (``shared=True``); both residuals scaled by layer-scale vectors."""

    def __init__(self, d: int, heads: int, mlp_ratio: float, dropout: float, n_mod: int,
                 shared: bool, layer_scale: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(d, eps=1e-6)
        self.attn = nn.MultiheadAttention(d, heads, dropout=dropout, batch_first=True)
        hidden = int(d * mlp_ratio)
        self.shared = shared
        if shared:
            self.norm2 = nn.LayerNorm(d, eps=1e-6)
            self.ffn = _FFN(d, hidden, dropout)
        else:
            self.norm2s = nn.ModuleList([nn.LayerNorm(d, eps=1e-6) for _ in range(n_mod)])
            self.ffns = nn.ModuleList([_FFN(d, hidden, dropout) for _ in range(n_mod)])
        self.gamma1 = nn.Parameter(torch.full((d,), float(layer_scale)))
        self.gamma2 = nn.Parameter(torch.full((d,), float(layer_scale)))

    def forward(self, x: torch.Tensor, spans: list[tuple[int, int]]) -> torch.Tensor:
        h = self.norm1(x)
        a, _ = self.attn(h, h, h, need_weights=False)
        x = x + self.gamma1 * a
        if self.shared:
            return x + self.gamma2 * self.ffn(self.norm2(x))
        parts = [x[:, s:e] + self.gamma2 * self.ffns[i](self.norm2s[i](x[:, s:e]))
                 for i, (s, e) in enumerate(spans)]
        return torch.cat(parts, dim=1)


def grad_reverse(x: torch.Tensor, alpha: float | torch.Tensor) -> torch.Tensor:
    """Identity forward, gradient multiplied by ``-alpha`` backward. Plain tensor arithmetic
    (``x`` plus ``-alpha`` times a term that is zero in value), so ``alpha`` may be a tensor
    computed on the device and the whole thing vmaps: the forward value is ``x`` exactly."""
    xd = x.detach()
    return xd - alpha * (x - xd)


class _MAETNet(ForwardByModality):
    def __init__(self, dims: dict[str, int], n_labels: int, d: int, views: int, depth: int,
                 heads: int, mlp_ratio: float, dropout: float, mixffn_start: int,
                 layer_scale: float, n_domains: int):
        super().__init__()
        self.modalities = list(dims)
        M = len(self.modalities)
        self.views = int(views)
        self.embed = nn.ModuleDict({m: MultiViewEmbedding(dims[m], d, views)
                                    for m in self.modalities})
        self.cls = nn.Parameter(torch.zeros(M, 1, d))
        self.pos = nn.Parameter(torch.zeros(M, views + 1, d))
        self.type_emb = nn.Parameter(torch.zeros(M, 1, d))
        for p_ in (self.cls, self.pos, self.type_emb):
            nn.init.trunc_normal_(p_, std=0.02)
        self.blocks = nn.ModuleList([
            MAETBlock(d, heads, mlp_ratio, dropout, M, shared=i >= mixffn_start,
                      layer_scale=layer_scale) for i in range(depth)])
        self.norm = nn.LayerNorm(d, eps=1e-6)
        self.fusion_w = nn.Parameter(torch.randn(d) * d ** -0.5)
        self.head = nn.Linear(d, n_labels)
        self.domain = (nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.Linear(d, n_domains))
                       if n_domains >= 2 else None)
        L = views + 1
        self.spans = [(i * L, (i + 1) * L) for i in range(M)]
        # the adversary's schedule: optimiser steps taken and the member's planned total
        self.register_buffer("step", torch.zeros(()), persistent=False)
        self.register_buffer("total", torch.ones(()), persistent=False)

    def encode(self, xb: dict[str, torch.Tensor], w: torch.Tensor | None = None) -> torch.Tensor:
        """Final-normed ``[CLS]`` outputs, ``(B, M, d)``; ``w``: row weights (the
        embeddings' batch norm)."""
        seqs = []
        for i, m in enumerate(self.modalities):
            t = self.embed[m](xb[m], w)
            c = self.cls[i].expand(t.shape[0], -1, -1)
            seqs.append(torch.cat([c, t], dim=1) + self.pos[i] + self.type_emb[i])
        x = torch.cat(seqs, dim=1)
        for blk in self.blocks:
            x = blk(x, self.spans)
        x = self.norm(x)
        return torch.stack([x[:, s] for s, _ in self.spans], dim=1)

    def fuse(self, cls: torch.Tensor) -> torch.Tensor:
        w = torch.softmax(cls @ self.fusion_w, dim=1)  # (B, M) over modalities
        return (w.unsqueeze(-1) * cls).sum(1)

    def logits(self, xb, w=None):
        cls = self.encode(xb, w)
        return self.head(self.fuse(cls)), cls

    def predict_proba(self, xb):
        return torch.softmax(self.logits(xb)[0], dim=-1)


def smoothed_ce(logits: torch.Tensor, target: torch.Tensor, eps: float | torch.Tensor,
                w: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy with label smoothing ``eps``: ``eps * mean_k(-log p_k) + (1 - eps) * NLL``,
    averaged over the rows (of weight 1: ``w``)."""
    logp = F.log_softmax(logits, dim=-1)
    nll = -logp.gather(-1, target.unsqueeze(-1)).squeeze(-1)
    return wmean(eps * (-logp.mean(-1)) + (1 - eps) * nll, w)


class MAET(TorchLearner):
    """See module docstring. Params: ``d`` (32), ``views`` (5), ``depth`` (3), ``heads`` (4),
    ``mlp_ratio`` (4.0), ``dropout`` (0.0), ``mixffn_start`` (2), ``layer_scale`` (0.1),
    ``adversarial`` (True), ``lambda_domain`` (1.0), plus the common ones."""

    name = "maet"
    defaults = dict(d=32, views=5, depth=3, heads=4, mlp_ratio=4.0, dropout=0.0,
                    mixffn_start=2, layer_scale=0.1, adversarial=True, lambda_domain=1.0,
                    lr=1e-3, batch_size=64, epochs=30)

    def __init__(self, spec, **params):
        super().__init__(spec, **params)
        self._n_domains = 0

    def _build(self):
        p = self.params
        return _MAETNet(self.spec.dims, self.n_labels, int(p["d"]), int(p["views"]),
                        int(p["depth"]), int(p["heads"]), float(p["mlp_ratio"]),
                        float(p["dropout"]), int(p["mixffn_start"]), float(p["layer_scale"]),
                        self._n_domains)

    # -- training ---------------------------------------------------------------------------
    def _inputs(self, X, y, groups):
        """The modalities plus, with the adversary on and at least two training subjects, the
        subject code of each row (column ``_DOMAIN``, read by the loss only)."""
        cols = super()._inputs(X, y, groups)
        self._n_domains = 0
        if self.params["adversarial"] and groups is not None:
            groups = np.asarray(groups)
            if len(groups) != len(y):
                raise ValueError(f"MAET: groups has {len(groups)} rows, y has {len(y)}")
            _, codes = np.unique(groups, return_inverse=True)
            if codes.max(initial=0) >= 1:
                self._n_domains = int(codes.max()) + 1
                cols[_DOMAIN] = codes.astype(np.float32).reshape(-1, 1)
        return cols

    def _stack_key(self):
        return (self._n_domains,)  # the domain classifier's width

    def _before_fit(self, net, y):
        n = len(y)
        bs = int(min(self.params["batch_size"], n))
        net.total.fill_(float(max(1, int(self.params["epochs"]) * math.ceil(n / max(bs, 1)))))
        net.step.zero_()

    def _batch_loss(self, net, xb, yb, w, xt=None, wt=None):
        """KL task loss plus the adversary's domain loss; the schedule's progress is the
        member's step count over its planned total (buffers), and the count moves on at the
        end of the loss when the member has a real row at this step."""
        logits, cls = net.logits(xb, w)
        l_task = kl_div(yb, F.log_softmax(logits, -1), w)
        parts = {"kl": l_task.detach()}
        loss = l_task
        if net.domain is not None and _DOMAIN in xb:
            prog = (net.step / net.total).clamp(max=1.0)
            alpha = 2.0 / (1.0 + torch.exp(-10.0 * prog)) - 1.0
            D = self._n_domains
            dom = xb[_DOMAIN][:, 0].round().long()
            d_logits = net.domain(grad_reverse(cls[:, 0], alpha))
            l_dom = smoothed_ce(d_logits, dom, (D - 1) / D * prog, w)
            loss = loss + self.params["lambda_domain"] * l_dom
            parts["domain"] = l_dom.detach()
        with torch.no_grad():
            net.step.add_(1.0 if w is None else (w.sum() > 0).to(net.step.dtype))
        return loss, parts
