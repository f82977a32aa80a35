"""Label correlation-driven cross-attention, LCDCA (HeLo Sec. 3.3, Eq. 7-10).

Label embeddings ``x^L`` (``l x d``, learnable) query the multimodal tokens ``x^m``
(``N x d``); a learned label correlation ``M^L`` refines the attention scores; a 3-layer MLP on
the ``l`` attended label tokens (flattened, ``l * d``) gives logits, softmax gives ``L_hat``.

Choices where the paper is silent (all documented switches):

* ``M^gt`` (Eq. 7 right). The printed formula takes ``L`` as an ``l x 1`` vector, whose "rows"
  are scalars (cosine of two positive scalars is always 1). We read it over the batch: with the
  batch's label matrix ``Y`` (``B x l``), ``M^gt_ij = cos(Y[:, i], Y[:, j])`` -- cosine between
  label *columns*, an ``l x l`` matrix per batch (``batch_label_correlation``).
* CC loss (Eq. 8). ``||M^L - M^gt||_F^2``; ``cc_reduction="mean"`` (default) averages the
  squared entries (so the term is O(1) next to the KL, and lambda=1 as in Eq. 10 stays sane),
  ``"sum"`` is the plain squared Frobenius norm. With sample-specific ``M^L`` the loss is the
  mean over the batch's samples.
* Sample-specific ``M^L`` (Fig. 9 shows it vary by trial; a fixed ``x^L`` cannot). With
  ``label_cond="film"`` (default) the label embeddings are modulated per sample:
  ``x^L_s = x^L * (1 + gamma_s) + beta_s`` with ``(gamma_s, beta_s) = W_c mean_tokens(x^m_s)``,
  ``W_c`` zero-initialised (so training starts from the static correlation);
  ``M^L_s = cos(x^L_s)``. ``label_cond="static"``: one ``M^L`` for all samples.
* Adding an ``l x l`` matrix to ``l x N`` scores (Eq. 9). ``corr_mode``:

  - ``"propagate"`` (default): ``score = (M~ @ (Q K^T)) / sqrt(d_k)`` with
    ``M~ = M^L / sum_j |M^L_ij|`` (row-normalised): each label's scores over the tokens are a
    correlation-weighted mix of all labels' scores, so correlated labels attend alike. With
    random ``x^L`` in high dimension ``M^L ~ I`` and this starts as plain attention.
  - ``"bias"``: ``score = (Q K^T + M^L W_b) / sqrt(d_k)``, ``W_b`` an ``l x N`` learned map
    (so the additive form of Eq. 9 typechecks). Note that adding anything constant along the
    token axis (e.g. a row mean of ``M^L``) is a no-op under the softmax, hence a learned map.
  - ``"none"``: plain cross-attention; ``M^L`` is still learned through the CC loss only.

* Heads: Eq. 9 is single-head (``heads=1`` default); with more heads ``M^L`` refines each head.
"""
from __future__ import annotations

import math

import torch
from torch import nn


def cosine_matrix(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """``(..., l, d) -> (..., l, l)`` pairwise cosine similarity of rows."""
    xn = x / x.norm(dim=-1, keepdim=True).clamp_min(eps)
    return xn @ xn.transpose(-1, -2)


def batch_label_correlation(y: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """``M^gt``: cosine similarity between the label columns of ``y (B, l)`` -> ``(l, l)``."""
    return cosine_matrix(y.transpose(0, 1), eps)


def cc_loss(m_l: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Eq. 8. ``m_l``: ``(l, l)`` or per-sample ``(B, l, l)``; ``y``: the batch's labels."""
    m_gt = batch_label_correlation(y)
    sq = (m_l - m_gt) ** 2
    if reduction == "mean":
        per = sq.mean(dim=(-1, -2))
    elif reduction == "sum":
        per = sq.sum(dim=(-1, -2))
    else:
        raise ValueError(f"cc_reduction must be 'mean' or 'sum', got {reduction!r}")
    return per.mean()


class MLPHead(nn.Module):
    """Three linear layers (ReLU, dropout between) -> logits."""

    def __init__(self, d_in: int, hidden: int, d_out: int, dropout: float = 0.1):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(d_in, hidden), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden, d_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1))


class LCDCA(nn.Module):
    """``forward(x_m (B, N, d)) -> (logits (B, l), aux)``; aux has ``M_L`` ((B, l, l) or
    (l, l)), ``label_attn`` (B, heads, l, N) and ``x_o`` (B, l, d)."""

    CORR_MODES = ("propagate", "bias", "none")
    LABEL_CONDS = ("film", "static")

    def __init__(self, n_labels: int, n_tokens: int, d: int = 128, heads: int = 1,
                 head_hidden: int = 256, dropout: float = 0.1, corr_mode: str = "propagate",
                 label_cond: str = "film"):
        super().__init__()
        if corr_mode not in self.CORR_MODES:
            raise ValueError(f"corr_mode must be one of {self.CORR_MODES}, got {corr_mode!r}")
        if label_cond not in self.LABEL_CONDS:
            raise ValueError(f"label_cond must be one of {self.LABEL_CONDS}, "
                             f"got {label_cond!r}")
        if d % heads:
            raise ValueError(f"d={d} is not divisible by heads={heads}")
        self.l, self.d, self.heads = n_labels, d, heads
        self.corr_mode, self.label_cond = corr_mode, label_cond
        self.x_l = nn.Parameter(torch.randn(n_labels, d))
        self.q = nn.Linear(d, d)
        self.k = nn.Linear(d, d)
        self.v = nn.Linear(d, d)
        if label_cond == "film":
            self.film = nn.Linear(d, 2 * d)
            nn.init.zeros_(self.film.weight)
            nn.init.zeros_(self.film.bias)
        if corr_mode == "bias":
            self.w_b = nn.Parameter(torch.randn(n_labels, n_tokens) * 0.02)
        self.drop = nn.Dropout(dropout)
        self.head = MLPHead(n_labels * d, head_hidden, n_labels, dropout)

    def label_embeddings(self, x_m: torch.Tensor) -> torch.Tensor:
        if self.label_cond == "static":
            return self.x_l.unsqueeze(0).expand(x_m.shape[0], -1, -1)
        gamma, beta = self.film(x_m.mean(dim=1)).chunk(2, dim=-1)
        return self.x_l * (1 + gamma[:, None, :]) + beta[:, None, :]

    def forward(self, x_m: torch.Tensor):
        B, N, d = x_m.shape
        h, dh = self.heads, d // self.heads
        x_ls = self.label_embeddings(x_m)  # (B, l, d)
        m_l = cosine_matrix(x_ls if self.label_cond == "film" else self.x_l)
        qh = self.q(x_ls).view(B, self.l, h, dh).transpose(1, 2)  # (B, h, l, dh)
        kh = self.k(x_m).view(B, N, h, dh).transpose(1, 2)
        vh = self.v(x_m).view(B, N, h, dh).transpose(1, 2)
        s = qh @ kh.transpose(-1, -2)  # (B, h, l, N)
        mb = m_l if m_l.dim() == 3 else m_l.unsqueeze(0)  # (B or 1, l, l)
        if self.corr_mode == "propagate":
            m_n = mb / mb.abs().sum(dim=-1, keepdim=True).clamp_min(1e-8)
            s = m_n.unsqueeze(1) @ s
        elif self.corr_mode == "bias":
            s = s + (mb @ self.w_b).unsqueeze(1)
        attn = torch.softmax(s / math.sqrt(dh), dim=-1)
        x_o = (self.drop(attn) @ vh).transpose(1, 2).reshape(B, self.l, d)
        logits = self.head(x_o)
        return logits, {"M_L": m_l, "label_attn": attn, "x_o": x_o}
