"""EEG-Conformer-style baseline (Song et al., TNSRE 2022) on window features.

The original network convolves raw EEG (temporal then spatial convolution, average pooling),
then a Transformer encoder models global dependencies, then an MLP classifies. Raw EEG is not
available to the models here (inputs are window features), so the adaptation is:

* tokens: every modality is tokenised (EEG: its channels, 5 band features each; others:
  projected tokens, :class:`~helo.model.baselines.common.ModalityTokenizer`) and all tokens are
  concatenated into one sequence (``modalities`` param: which modalities to use; default all;
  ``["eeg"]`` gives the EEG-only variant);
* the "local" part: a 1-D convolution block over the token axis (conv, batch norm, ELU,
  average pooling with stride, dropout) mirroring the shallow conv stem;
* the "global" part: ``depth`` Transformer encoder layers (``heads`` heads);
* head: flatten-free mean pooling + 2-layer MLP, softmax; KL(y || p) loss (instead of CE).

Stacked training (:class:`~helo.model.baselines.common.TorchLearner`): the conv block's batch
norm takes its statistics over a padded batch's real rows only (``logits(xb, w)``). The
convolution's bias, right before that batch norm, has a gradient that is zero up to rounding,
which Adam turns into steps of up to ``lr``; it reaches predictions through the running mean,
so a stack and a member alone (which round differently) drift apart a little faster than in
the methods without such a parameter.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from helo.model.baselines.common import (
    ForwardByModality,
    ModalityTokenizer,
    TorchLearner,
    kl_div,
    run_sequential,
)


class _ConformerNet(ForwardByModality):
    def __init__(self, dims, channels, n_labels, d, depth, heads, dropout, n_tokens, kernel):
        super().__init__()
        self.modalities = list(dims)
        self.tok = nn.ModuleDict({m: ModalityTokenizer(dims[m], d, channels.get(m), n_tokens)
                                  for m in self.modalities})
        self.conv = nn.Sequential(
            nn.Conv1d(d, d, kernel, padding=kernel // 2), nn.BatchNorm1d(d), nn.ELU(),
            nn.AvgPool1d(2, stride=2, ceil_mode=True), nn.Dropout(dropout))
        self.transformer = nn.TransformerEncoder(
            nn.TransformerEncoderLayer(d, heads, dim_feedforward=2 * d, dropout=dropout,
                                       batch_first=True, activation="gelu"),
            num_layers=depth, enable_nested_tensor=False)
        self.head = nn.Sequential(nn.Linear(d, d), nn.ELU(), nn.Dropout(dropout),
                                  nn.Linear(d, n_labels))

    def logits(self, xb, w=None):
        """``w``: the batch's row weights (batch statistics over rows of weight 1)."""
        h = torch.cat([self.tok[m](xb[m]) for m in self.modalities], dim=1)  # (B, T, d)
        h = run_sequential(self.conv, h.transpose(1, 2), w).transpose(1, 2)
        h = self.transformer(h).mean(1)
        return self.head(h)

    def predict_proba(self, xb):
        return F.softmax(self.logits(xb), dim=-1)


class Conformer(TorchLearner):
    """See module docstring. Params: ``d`` (40, as the paper's 40 conv filters), ``depth`` (6,
    paper), ``heads`` (10, paper), ``dropout`` (0.5 conv / 0.5 paper -> 0.3 here), ``n_tokens``
    (4), ``kernel`` (3), ``modalities`` (None = all), plus the common ones."""

    name = "conformer"
    defaults = dict(d=40, depth=6, heads=10, dropout=0.3, n_tokens=4, kernel=3,
                    modalities=None, batch_size=64, epochs=40, lr=1e-3)

    def __init__(self, spec, **params):
        super().__init__(spec, **params)
        if self.params["modalities"]:
            self.modalities = [m for m in self.params["modalities"] if m in spec.dims]

    def _build(self):
        p = self.params
        dims = {m: self.spec.dims[m] for m in self.modalities}
        return _ConformerNet(dims, self.spec.channels, self.n_labels, int(p["d"]), int(p["depth"]),
                             int(p["heads"]), float(p["dropout"]), int(p["n_tokens"]),
                             int(p["kernel"]))

    def _batch_loss(self, net, xb, yb, w, xt=None, wt=None):
        loss = kl_div(yb, F.log_softmax(net.logits(xb, w), -1), w)
        return loss, {}
