"""EmotionDict (Liu, Yang, Shu, Yan, Zhang & Liu, IEEE TAFFC 2023, "Emotion Dictionary Learning
with Modality Attentions for Mixed Emotion Exploration"): the DMER authors' multimodal
emotion-distribution learner, behind the helo learner interface.

Architecture (from the paper and its authors' public code, read as a specification only):

* **Multimodal encoder**: every modality's window features are cut into tokens, all
  modalities' tokens form one sequence, a Transformer encoder (``depth`` layers, 4 heads,
  width ``d_joint``; authors: 3 layers, width 24) models the cross-modal interactions, and a
  linear map of the *last* token's output gives the **dictionary coefficients**
  ``c in R^K`` (authors: K = 32).
* **Emotion dictionary**: a learned matrix ``W in R^{E x K}`` (E = 128) orthonormalised by a
  QR decomposition every forward pass; the emotion representation is the weighted sum of the
  K basic emotion elements, ``z = Q c`` (a mixed emotion as a combination of basic ones).
* **Modality-attention classifier** on ``z``: ``h = LeakyReLU(BN(Linear_E->128 z))``, an
  attention branch ``a = sigmoid(LeakyReLU(BN(Linear(LeakyReLU(BN(Linear_128->64 h)))))``,
  logits ``= Linear_128->C (h * a)``, softmax -> the predicted emotion distribution.
* **Unimodal branches**: each modality alone goes through its own small Transformer encoder
  (width ``d_uni``; authors: 12) to its own coefficients and, through the *same* dictionary, to
  its own representation ``z_m``; a consistency loss pulls ``z_m`` towards the (detached)
  multimodal ``z``, so every modality is expressed in the shared dictionary space.

Adaptations (the paper is silent or its setting differs):

* **Tokens**: the authors reshape their DMER features into per-channel tokens of 4 values
  (EEG 18 x 4, video 8 x 4, ...); here every modality uses
  :class:`~helo.model.baselines.common.ModalityTokenizer` (channel chunks when
  ``spec.channels`` divides the feature count, else ``n_tokens`` projected tokens), with a
  learned position embedding instead of the fixed sinusoidal one, plus a learned modality-type
  embedding in the joint sequence. This works for any modality set (DMER's four, WESAD's).
* **Loss for distributions**: the task loss is KL(y || p) (the authors combine a cross-entropy
  against the dominant emotion with a KL/MSE term on the distribution); the dominant-emotion
  cross-entropy is kept as an option, ``lambda_dominant`` (default 0: off, the comparison is on
  distributions). The consistency term is the mean over modalities of the squared error
  ``||z_m - stopgrad(z)||^2 / E`` with weight ``lambda_uni`` (authors: 0.1 on a KL between the
  EEG / averaged-peripheral representations and the multimodal one; a KL is not defined on
  these signed vectors, so the squared error is used, for every modality separately).
* Encoder layers: feed-forward width ``4 x d`` (the authors' code leaves PyTorch's default of
  2048 on its width-24 and width-12 encoders), dropout ``dropout`` (0.1, PyTorch's default
  there too); ``depth`` 3 is the authors', ``params.yaml`` uses 1 for the synthetic default.
* Optimiser: the shared Adam of :class:`~helo.model.baselines.common.TorchLearner`.

Prediction uses the multimodal branch only (as the authors' test path does).

Stacked training (:class:`~helo.model.baselines.common.TorchLearner`): the classifier's batch
norms take their statistics over a padded batch's real rows only. The joint representation's
offset is a direction no loss term constrains (the classifier's batch norm removes it, the
consistency loss reads it through a stop-gradient), so its biases get gradients that are zero
up to rounding, which Adam turns into steps of up to ``lr``: two runs that round differently
(a stack and a member alone, two BLAS builds) drift apart there, and through the consistency
loss elsewhere, faster than in the other methods (``tests/unit/test_baselines_stack.py``).
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
    wmean,
)


class EmotionDictionary(nn.Module):
    """``K`` orthonormal basic-emotion elements in ``R^E`` (QR of a free matrix); maps
    coefficients ``(B, K)`` to representations ``(B, E)``."""

    def __init__(self, E: int, K: int):
        super().__init__()
        if K > E:
            raise ValueError(f"EmotionDict: {K} dictionary elements cannot be orthonormal in "
                             f"{E} dimensions (need n_atoms <= d_embed)")
        self.weight = nn.Parameter(torch.randn(E, K))

    def basis(self) -> torch.Tensor:
        q, _ = torch.linalg.qr(self.weight)  # (E, K), orthonormal columns
        return q

    def forward(self, c: torch.Tensor) -> torch.Tensor:
        return c @ self.basis().T


class ModalityAttentionClassifier(nn.Module):
    def __init__(self, E: int, n_labels: int, hidden: int = 128, bottleneck: int = 64):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(E, hidden), nn.BatchNorm1d(hidden),
                                  nn.LeakyReLU())
        self.att = nn.Sequential(nn.Linear(hidden, bottleneck), nn.BatchNorm1d(bottleneck),
                                 nn.LeakyReLU(), nn.Linear(bottleneck, hidden),
                                 nn.BatchNorm1d(hidden), nn.LeakyReLU(), nn.Sigmoid())
        self.fc = nn.Linear(hidden, n_labels)

    def forward(self, z: torch.Tensor, w: torch.Tensor | None = None) -> torch.Tensor:
        """``w``: the batch's row weights (batch norms over the rows of weight 1)."""
        h = run_sequential(self.body, z, w)
        return self.fc(h * run_sequential(self.att, h, w))


class _Encoder(nn.Module):
    """Tokens -> Transformer -> last token -> K coefficients."""

    def __init__(self, d: int, heads: int, depth: int, dropout: float, K: int):
        super().__init__()
        self.tr = nn.TransformerEncoder(
            nn.TransformerEncoderLayer(d, heads, dim_feedforward=4 * d, dropout=dropout,
                                       batch_first=True),
            num_layers=depth, enable_nested_tensor=False)
        self.out = nn.Linear(d, K)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.out(self.tr(tokens)[:, -1])


class _EmotionDictNet(ForwardByModality):
    def __init__(self, dims, channels, n_labels, d_joint, d_uni, heads, depth, dropout,
                 n_tokens, n_atoms, d_embed):
        super().__init__()
        self.modalities = list(dims)
        M = len(self.modalities)
        self.tok = nn.ModuleDict({m: ModalityTokenizer(dims[m], d_joint, channels.get(m),
                                                       n_tokens) for m in self.modalities})
        self.type_emb = nn.Parameter(torch.zeros(M, 1, d_joint))
        nn.init.normal_(self.type_emb, std=0.02)
        self.joint = _Encoder(d_joint, heads, depth, dropout, n_atoms)
        self.tok_uni = nn.ModuleDict({m: ModalityTokenizer(dims[m], d_uni, channels.get(m),
                                                           n_tokens) for m in self.modalities})
        self.uni = nn.ModuleDict({m: _Encoder(d_uni, heads, depth, dropout, n_atoms)
                                  for m in self.modalities})
        self.dictionary = EmotionDictionary(d_embed, n_atoms)
        self.classifier = ModalityAttentionClassifier(d_embed, n_labels)

    def joint_repr(self, xb):
        seq = torch.cat([self.tok[m](xb[m]) + self.type_emb[i]
                         for i, m in enumerate(self.modalities)], dim=1)
        return self.dictionary(self.joint(seq))

    def unimodal_repr(self, xb):
        return [self.dictionary(self.uni[m](self.tok_uni[m](xb[m]))) for m in self.modalities]

    def predict_proba(self, xb):
        return torch.softmax(self.classifier(self.joint_repr(xb)), dim=-1)


class EmotionDict(TorchLearner):
    """See module docstring. Params: ``d_joint`` (24), ``d_uni`` (12), ``heads`` (4),
    ``depth`` (3), ``dropout`` (0.1), ``n_tokens`` (4), ``n_atoms`` (32), ``d_embed`` (128),
    ``lambda_uni`` (0.1), ``lambda_dominant`` (0.0), plus the common ones."""

    name = "emotiondict"
    defaults = dict(d_joint=24, d_uni=12, heads=4, depth=3, dropout=0.1, n_tokens=4,
                    n_atoms=32, d_embed=128, lambda_uni=0.1, lambda_dominant=0.0,
                    lr=1e-3, batch_size=32, epochs=30)

    def _build(self):
        p = self.params
        for k in ("d_joint", "d_uni"):
            if int(p[k]) % int(p["heads"]):
                raise ValueError(f"EmotionDict: {k}={p[k]} is not divisible by "
                                 f"heads={p['heads']}")
        return _EmotionDictNet(self.spec.dims, self.spec.channels, self.n_labels,
                               int(p["d_joint"]), int(p["d_uni"]), int(p["heads"]),
                               int(p["depth"]), float(p["dropout"]), int(p["n_tokens"]),
                               int(p["n_atoms"]), int(p["d_embed"]))

    def _batch_loss(self, net, xb, yb, w, xt=None, wt=None):
        p = self.params
        z = net.joint_repr(xb)
        logits = net.classifier(z, w)
        logp = F.log_softmax(logits, -1)
        l_kl = kl_div(yb, logp, w)
        loss = l_kl
        parts = {"kl": l_kl.detach()}
        if p["lambda_dominant"]:
            nll = -logp.gather(-1, yb.argmax(-1, keepdim=True)).squeeze(-1)
            l_dom = wmean(nll, w)
            loss = loss + p["lambda_dominant"] * l_dom
            parts["dominant"] = l_dom.detach()
        if p["lambda_uni"]:
            zt = z.detach()
            l_uni = torch.stack([wmean(((zm - zt) ** 2).mean(-1), w)
                                 for zm in net.unimodal_repr(xb)]).mean()
            loss = loss + p["lambda_uni"] * l_uni
            parts["uni"] = l_uni.detach()
        return loss, parts
