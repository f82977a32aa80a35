"""Cross-attention physiological fusion, CAPF (HeLo Sec. 3.1, Eq. 1-4).

The query modality ``q`` (EEG on DMER, ECG on WESAD) attends to every other physiological
("key") modality ``m``:

* Eq. 1: one query projection ``W_Q^q`` shared by all key modalities, and per-key-modality
  ``W_K^m``, ``W_V^m``;
* Eq. 2: ``softmax(Q K^T / sqrt(d_k)) V`` per head, ``d_k = d / heads`` (standard multi-head
  scaling; the paper writes sqrt(d) with d "the dimension of K^m");
* Eq. 3: heads concatenated, output projection ``W_MHA^m`` (one per key modality), plus a
  residual. Eq. 3 as printed adds ``LN(x^m)`` -- the LayerNorm of the *key* modality's tokens --
  to the attention output, with no norm on the sum. ``residual`` selects the reading:

  - ``"key_ln"`` (default, the literal Eq. 3): ``MHA(x^q, x^m) + LN(x^m)``;
  - ``"query_postln"``: ``LN(x^q + MHA(x^q, x^m))`` (the usual post-LN Transformer block);
  - ``"key_postln"``: ``LN(x^m + MHA(x^q, x^m))`` (LN of the residual sum with the key).

  All three need ``x^q`` and ``x^m`` to have the same token count ``C`` -- true here since
  every physiological modality is tokenised to ``C`` tokens.
* Eq. 4: the per-key results are concatenated along the *token* axis: ``k`` key modalities give
  ``k * C`` tokens (``2C`` for DMER's GSR+PPG and WESAD's EMG+EDA).

With a single physiological modality (no key modality) the caller passes the query as its own
key (self-attention); see ``helo.model.helo.HeLoNet`` for how the token count is kept at 2C.
"""
from __future__ import annotations

import math

import torch
from torch import nn


class CrossAttention(nn.Module):
    """Multi-head attention with given projections; returns (output, attention weights)."""

    def __init__(self, d: int, heads: int, dropout: float = 0.0):
        super().__init__()
        if d % heads:
            raise ValueError(f"d={d} is not divisible by heads={heads}")
        self.d, self.heads = d, heads
        self.k = nn.Linear(d, d)
        self.v = nn.Linear(d, d)
        self.out = nn.Linear(d, d)
        self.drop = nn.Dropout(dropout)

    def forward(self, q: torch.Tensor, x_kv: torch.Tensor,
                bias: torch.Tensor | None = None):
        """``q``: already projected queries ``(B, n, d)``; ``x_kv``: ``(B, m, d)`` tokens;
        ``bias``: optional additive score term broadcastable to ``(B, heads, n, m)``."""
        B, n, d = q.shape
        m = x_kv.shape[1]
        h, dh = self.heads, d // self.heads
        qh = q.view(B, n, h, dh).transpose(1, 2)
        kh = self.k(x_kv).view(B, m, h, dh).transpose(1, 2)
        vh = self.v(x_kv).view(B, m, h, dh).transpose(1, 2)
        scores = qh @ kh.transpose(-1, -2) / math.sqrt(dh)
        if bias is not None:
            scores = scores + bias
        attn = torch.softmax(scores, dim=-1)
        o = (self.drop(attn) @ vh).transpose(1, 2).reshape(B, n, d)
        return self.out(o), attn


class CAPF(nn.Module):
    """Query modality attends to each key modality; outputs ``(B, len(keys) * C, d)``."""

    RESIDUALS = ("key_ln", "query_postln", "key_postln")

    def __init__(self, key_modalities: list[str], d: int = 128, heads: int = 4,
                 dropout: float = 0.1, residual: str = "key_ln"):
        super().__init__()
        if residual not in self.RESIDUALS:
            raise ValueError(f"residual must be one of {self.RESIDUALS}, got {residual!r}")
        if not key_modalities:
            raise ValueError("CAPF needs at least one key modality (pass the query itself "
                             "for self-attention)")
        self.keys = list(key_modalities)
        self.residual = residual
        self.q = nn.Linear(d, d)  # W_Q^q, shared (Eq. 1)
        self.attn = nn.ModuleDict({m: CrossAttention(d, heads, dropout) for m in self.keys})
        self.norm = nn.ModuleDict({m: nn.LayerNorm(d) for m in self.keys})
        self.drop = nn.Dropout(dropout)

    def forward(self, x_query: torch.Tensor, x_keys: dict[str, torch.Tensor]):
        q = self.q(x_query)
        outs, attns = [], {}
        for m in self.keys:
            xm = x_keys[m]
            o, a = self.attn[m](q, xm)
            o = self.drop(o)
            if self.residual == "key_ln":
                o = o + self.norm[m](xm)
            elif self.residual == "query_postln":
                o = self.norm[m](x_query + o)
            else:
                o = self.norm[m](xm + o)
            outs.append(o)
            attns[m] = a
        return torch.cat(outs, dim=1), attns
