"""Amanda (Zhang et al., 2024, "Adaptively Modality-Balanced Domain Adaptation for Multimodal
Emotion Recognition") as an emotion-distribution learner.

Used under leave-one-subject-out: the labelled training subjects are the source domain, the
held-out subject's *unlabelled* windows (``X_target`` of :meth:`fit`) are the target domain.
The method never sees target labels (``fit`` has no argument for them).

What is implemented (paper Sec. 3):

* one deterministic encoder ``f_m`` per modality (``Z_m``, ``d`` = 128 as in the paper) and the
  joint representation ``Z_{M+1} = [Z_1; ...; Z_M]``; one MLP head ``g_m`` per
  ``m in [M+1]``; the joint head's output is the prediction.
* information-bottleneck loss (Eq. 5): for every ``m in [M+1]``,
  ``gamma/2 * log|Sigma_m^s|`` (diagonal Gaussian, batch variances) plus the supervised term.
* label alignment (Eq. 6-8): cross-entropy between the mean training label distribution and
  the mean predicted distribution on the target batch.
* modality-wise correlation alignment (Eq. 9) ``||C_m^t - C_m^s||_F^2`` for every
  ``m in [M+1]``, combined with the modality-balanced surrogate ``h`` (Eq. 11): p-norm
  (``surrogate="norm"``, ``p`` = 2 default, ``p=inf`` allowed) or log-sum-exp
  (``surrogate="logexp"``, ``t``).
* total loss (Eq. 10) ``L_IB + alpha1 * L_LA + alpha2 * h(L_CA)`` with the paper's
  ``gamma = 5e-4, alpha1 = 0.08, alpha2 = 0.1``, Adam lr 5e-4, batch 128.

Changes / choices (documented deviations):

* Labels are distributions: the IB supervised term ``-log p(y|z)`` becomes KL(y || g_m(z_m))
  (= soft-label cross-entropy up to a constant); the label-alignment source distribution is the
  mean of the training distributions.
* Encoders are 2-layer MLPs on the window feature vectors (the paper uses TextCNN / LSTM on
  frame sequences that do not exist here).
* The covariances are scaled by ``1/(4 d^2)`` as in Deep CORAL (Sun & Saenko 2016, which the
  paper cites for Eq. 9) so the CORAL terms have a scale comparable to the KL terms; this is a
  constant factor and does not change the balancing weights of the p-norm surrogate.
* When ``X_target`` is ``None`` (or has < 2 rows) the model trains source-only: ``L_IB`` only
  (the paper's "direct transfer").

Stacked training (:class:`~helo.model.baselines.common.TorchLearner`): the training label mean
is a buffer of each member's module; the batch variances and covariances (source and target)
and every mean over rows count a padded batch's real rows only (the engine pads a member's
shorter target batch too).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from helo.model.baselines.common import ForwardByModality, TorchLearner, kl_div, mlp, wmean


class _AmandaNet(ForwardByModality):
    def __init__(self, dims: dict[str, int], n_labels: int, d: int, hidden: int,
                 dropout: float):
        super().__init__()
        self.modalities = list(dims)
        self.enc = nn.ModuleDict({m: nn.Sequential(
            nn.Linear(dims[m], hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, d),
            nn.ReLU()) for m in self.modalities})
        M = len(self.modalities)
        self.heads = nn.ModuleDict({m: mlp(d, d, n_labels, dropout) for m in self.modalities})
        self.joint_head = mlp(M * d, d, n_labels, dropout)
        # the member's mean training label distribution (label alignment's source side)
        self.register_buffer("ybar", torch.full((n_labels,), 1.0 / n_labels), persistent=False)

    def encode(self, xb):
        zs = [self.enc[m](xb[m]) for m in self.modalities]
        return zs + [torch.cat(zs, dim=1)]

    def logits(self, zs):
        out = [self.heads[m](z) for m, z in zip(self.modalities, zs[:-1])]
        return out + [self.joint_head(zs[-1])]

    def predict_proba(self, xb):
        zs = self.encode(xb)
        return F.softmax(self.joint_head(zs[-1]), dim=-1)


def _cov(z: torch.Tensor, w: torch.Tensor | None = None) -> torch.Tensor:
    """Unbiased covariance of the rows (of weight 1: ``w``) of ``z``."""
    zc = z - wmean(z, w)
    n = z.shape[0] if w is None else w.sum()
    if w is not None:
        zc = zc * w.to(z.dtype)[:, None]
    return zc.T @ zc / _dof(n)


def _var(z: torch.Tensor, w: torch.Tensor | None = None) -> torch.Tensor:
    """Unbiased per-column variance of the rows (of weight 1: ``w``) of ``z``."""
    if w is None:
        return z.var(0, unbiased=True)
    zc = z - wmean(z, w)
    return (zc * zc * w.to(z.dtype)[:, None]).sum(0) / _dof(w.sum())


def _dof(n):
    """``max(n - 1, 1)`` for a Python or a tensor row count."""
    return max(n - 1, 1) if isinstance(n, int) else (n - 1).clamp_min(1.0)


def mbal(a: torch.Tensor, surrogate: str = "norm", p: float = 2.0, t: float = 1.0) -> torch.Tensor:
    """Modality-balanced alignment loss h(a) (paper Eq. 11): p-norm or log-sum-exp of the
    per-modality alignment losses ``a`` (non-negative)."""
    if surrogate == "norm":
        if np.isinf(p):
            return a.max()
        return (a.clamp_min(0) + 1e-12).pow(p).sum().pow(1.0 / p)
    if surrogate == "logexp":
        return torch.logsumexp(t * a, dim=0) / t
    raise ValueError(f"unknown surrogate {surrogate!r}")


class Amanda(TorchLearner):
    """See module docstring. Params: ``d`` (128), ``hidden`` (256), ``dropout`` (0.2),
    ``gamma`` (5e-4), ``alpha1`` (0.08), ``alpha2`` (0.1), ``surrogate`` ("norm"|"logexp"),
    ``p`` (2.0), ``t`` (1.0), ``coral_scale`` (True: 1/(4 d^2)), plus the common ones."""

    name = "amanda"
    uses_target = True
    defaults = dict(d=128, hidden=256, dropout=0.2, gamma=5e-4, alpha1=0.08, alpha2=0.1,
                    surrogate="norm", p=2.0, t=1.0, coral_scale=True,
                    lr=5e-4, batch_size=128, epochs=40)

    def _build(self):
        p = self.params
        return _AmandaNet(self.spec.dims, self.n_labels, int(p["d"]), int(p["hidden"]),
                          float(p["dropout"]))

    def _before_fit(self, net, y):
        net.ybar.copy_(torch.as_tensor(y.mean(0), dtype=torch.float32))

    def _batch_loss(self, net, xb, yb, w, xt=None, wt=None):
        p = self.params
        zs = net.encode(xb)
        logits = net.logits(zs)
        sup = sum(kl_div(yb, F.log_softmax(lg, -1), w) for lg in logits)
        logdet = sum(torch.log(_var(z, w) + 1e-6).sum() for z in zs)
        l_ib = sup + 0.5 * p["gamma"] * logdet
        parts = {"ib": l_ib.detach(),
                 "kl_joint": kl_div(yb, F.log_softmax(logits[-1], -1), w).detach()}
        loss = l_ib
        if xt is not None:
            zt = net.encode(xt)
            pt = wmean(F.softmax(net.joint_head(zt[-1]), dim=-1), wt)
            l_la = -(net.ybar * torch.log(pt + 1e-8)).sum()
            cas = []
            for zs_m, zt_m in zip(zs, zt):
                dd = zs_m.shape[1]
                scale = 1.0 / (4.0 * dd * dd) if p["coral_scale"] else 1.0
                cas.append(((_cov(zt_m, wt) - _cov(zs_m, w)) ** 2).sum() * scale)
            a = torch.stack(cas)
            l_ca = mbal(a, p["surrogate"], float(p["p"]), float(p["t"]))
            loss = loss + p["alpha1"] * l_la + p["alpha2"] * l_ca
            parts.update(la=l_la.detach(), ca=l_ca.detach(),
                         **{f"ca_{m}": c.detach()
                            for m, c in zip(self.modalities + ["joint"], cas)})
        return loss, parts
