"""RSM-UAL (Du et al., 2024, "Integrating Representation Subspace Mapping with Unimodal Auxiliary
Loss for Attention-based Multimodal Emotion Recognition") as an emotion-distribution learner,
generalised from two modalities (audio, text) to any number.

Implemented (paper Sec. 3.3-3.6, Table 2 settings: hidden 100, 4 heads, dropout 0.2, L2 1e-5,
alpha = beta = 0.1, batch 20 -> here 32 by default for speed):

* unimodal feature extraction: per-modality linear reduction to ``d`` (the paper's FC to 100),
  then a self-attention block; the result ``U_m`` (a token sequence) feeds two branches.
* unimodal auxiliary loss (Eq. 1-3): a head per modality on mean-pooled ``U_m``, trained with
  KL(y || softmax) instead of cross-entropy on a one-hot label; ``L_ua = sum_m KL_m``.
* representation subspace mapping (Eq. 4-9): a shared public encoder ``E^pub`` and a unique
  encoder ``E^uni_m`` per modality; ``L_sim`` = CMD (K = 5 moments) between the public
  representations of every pair of modalities (averaged over pairs); ``L_dif`` = orthogonality
  ``||A^T B||_F^2`` (averaged over the d x d entries) between unique representations of every
  pair and between each modality's unique and public representation;
  ``L_rec`` = ``||U_m - D_m(pub_m + uni_m)||^2 / d``;
  ``L_cyc`` = ``||uni_m - E^uni_m(D_m(pub_m + uni_m))||^2 / d``;
  ``L_sp = L_rec + L_cyc + alpha (L_sim + L_dif)``.
* modality adaptation with cross-modality attention (Eq. 10-11): for every target modality m,
  its unique tokens query the unique tokens of all other modalities (4 heads) -> ``F_{->m}``.
* fusion: ``[F_{->m} for m] ++ [pub_m for m]`` (pooled) -> linear -> softmax, ``L_task`` =
  KL(y || .); total ``L_task + L_ua + beta L_sp`` (Eq. 13).

Changes / choices:

* Cross-entropy on one-hot classes (Eq. 1, 2, 12) -> KL to the label distribution.
* The Bi-GRU over the utterances of a dialogue has no counterpart (windows are scored one by one);
  the self-attention therefore runs over the tokens of one window's modality (channel chunks or
  projected tokens, see :class:`~helo.model.baselines.common.ModalityTokenizer`) and the
  subspace losses use token-mean-pooled representations. The cross-modality attention runs on the
  token sequences (as in MulT, which the paper follows).
* ``L_dif`` uses row-centred, L2-normalised batch matrices (as MISA does) so its scale is
  bounded; ``L_rec`` / ``L_cyc`` targets (``U_m``, ``uni_m``) are detached; CMD uses the
  (unsquared) L2 norm of Zellinger et al.

Stacked training (:class:`~helo.model.baselines.common.TorchLearner`): the batch statistics of
``L_sim`` (CMD moments) and ``L_dif`` (row centring, the ``A^T B`` sums) and every mean over rows
count a padded batch's real rows only.
"""
from __future__ import annotations

import itertools

import torch
import torch.nn as nn
import torch.nn.functional as F

from helo.model.baselines.common import (
    ForwardByModality,
    ModalityTokenizer,
    TorchLearner,
    kl_div,
    wmean,
)


def cmd(a: torch.Tensor, b: torch.Tensor, k: int = 5,
        w: torch.Tensor | None = None) -> torch.Tensor:
    """Central moment discrepancy between two batches of representations (n, d); ``w``: row
    weights (moments over the rows of weight 1)."""
    ma, mb = wmean(a, w), wmean(b, w)
    loss = torch.linalg.vector_norm(ma - mb)
    ca, cb = a - ma, b - mb
    for order in range(2, k + 1):
        loss = loss + torch.linalg.vector_norm(wmean(ca.pow(order), w)
                                               - wmean(cb.pow(order), w))
    return loss


def diff_loss(a: torch.Tensor, b: torch.Tensor, w: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared entry of ``A^T B`` over the row-centred, L2-normalised batches; ``w``:
    row weights (centred on, and summed over, the rows of weight 1)."""
    a = F.normalize(a - wmean(a, w), dim=1)
    b = F.normalize(b - wmean(b, w), dim=1)
    if w is not None:
        a = a * w.to(a.dtype)[:, None]
    return (a.T @ b).pow(2).mean()


class _SelfAttnBlock(nn.Module):
    def __init__(self, d: int, heads: int, dropout: float):
        super().__init__()
        self.attn = nn.MultiheadAttention(d, heads, dropout=dropout, batch_first=True)
        self.ln = nn.LayerNorm(d)
        self.drop = nn.Dropout(dropout)

    def forward(self, q, kv=None):
        kv = q if kv is None else kv
        h, _ = self.attn(q, kv, kv, need_weights=False)
        return self.ln(q + self.drop(h))


class _RSMNet(ForwardByModality):
    def __init__(self, dims, channels, n_labels, d, heads, dropout, n_tokens):
        super().__init__()
        self.modalities = list(dims)
        M = len(self.modalities)
        self.tok = nn.ModuleDict({m: ModalityTokenizer(dims[m], d, channels.get(m), n_tokens)
                                  for m in self.modalities})
        self.sa = nn.ModuleDict({m: _SelfAttnBlock(d, heads, dropout) for m in self.modalities})
        self.uni_head = nn.ModuleDict({m: nn.Linear(d, n_labels) for m in self.modalities})
        self.pub = nn.Sequential(nn.Linear(d, d), nn.Sigmoid())
        self.uni = nn.ModuleDict({m: nn.Sequential(nn.Linear(d, d), nn.Sigmoid())
                                  for m in self.modalities})
        self.dec = nn.ModuleDict({m: nn.Linear(d, d) for m in self.modalities})
        self.cross = nn.ModuleDict({m: _SelfAttnBlock(d, heads, dropout)
                                    for m in self.modalities}) if M > 1 else None
        self.drop = nn.Dropout(dropout)
        self.head = nn.Sequential(nn.Linear(2 * M * d, d), nn.ReLU(), nn.Dropout(dropout),
                                  nn.Linear(d, n_labels))

    def parts(self, xb):
        U = {m: self.sa[m](self.tok[m](xb[m])) for m in self.modalities}
        pub = {m: self.pub(U[m]) for m in self.modalities}
        uni = {m: self.uni[m](U[m]) for m in self.modalities}
        fused = []
        for m in self.modalities:
            others = [uni[o] for o in self.modalities if o != m]
            if others:
                f = self.cross[m](uni[m], torch.cat(others, dim=1)).mean(1)
            else:
                f = uni[m].mean(1)
            fused.append(f)
        fused += [pub[m].mean(1) for m in self.modalities]
        logits = self.head(self.drop(torch.cat(fused, dim=1)))
        return U, pub, uni, logits

    def predict_proba(self, xb):
        return F.softmax(self.parts(xb)[-1], dim=-1)


class RSMUAL(TorchLearner):
    """See module docstring. Params: ``d`` (100), ``heads`` (4), ``dropout`` (0.2), ``alpha``
    (0.1), ``beta`` (0.1), ``cmd_k`` (5), ``n_tokens`` (4, tokens per modality without channel
    layout), plus the common ones."""

    name = "rsm-ual"
    defaults = dict(d=100, heads=4, dropout=0.2, alpha=0.1, beta=0.1, cmd_k=5, n_tokens=4,
                    batch_size=32, epochs=30, lr=1e-3, weight_decay=1e-5)

    def _build(self):
        p = self.params
        return _RSMNet(self.spec.dims, self.spec.channels, self.n_labels, int(p["d"]),
                       int(p["heads"]), float(p["dropout"]), int(p["n_tokens"]))

    def _batch_loss(self, net, xb, yb, w, xt=None, wt=None):
        p = self.params
        U, pub, uni, logits = net.parts(xb)
        l_task = kl_div(yb, F.log_softmax(logits, -1), w)
        Up = {m: U[m].mean(1) for m in net.modalities}
        pp = {m: pub[m].mean(1) for m in net.modalities}
        up = {m: uni[m].mean(1) for m in net.modalities}
        l_ua = sum(kl_div(yb, F.log_softmax(net.uni_head[m](Up[m]), -1), w)
                   for m in net.modalities)
        pairs = list(itertools.combinations(net.modalities, 2))
        l_sim = (sum(cmd(pp[a], pp[b], int(p["cmd_k"]), w) for a, b in pairs) / len(pairs)
                 if pairs else torch.zeros((), device=yb.device))
        l_dif = sum(diff_loss(up[a], up[b], w) for a, b in pairs) if pairs else 0.0
        l_dif = l_dif + sum(diff_loss(up[m], pp[m], w) for m in net.modalities)
        d = float(p["d"])
        l_rec = 0.0
        l_cyc = 0.0
        for m in net.modalities:
            rec = net.dec[m](pp[m] + up[m])
            l_rec = l_rec + wmean((Up[m].detach() - rec).pow(2).sum(1), w) / d
            l_cyc = l_cyc + wmean((up[m].detach() - net.uni[m](rec)).pow(2).sum(1), w) / d
        l_sp = l_rec + l_cyc + p["alpha"] * (l_sim + l_dif)
        loss = l_task + l_ua + p["beta"] * l_sp
        return loss, {"task": l_task.detach(), "ua": l_ua.detach(), "sp": l_sp.detach(),
                      "sim": l_sim.detach(), "dif": l_dif.detach()}
