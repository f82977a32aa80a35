"""CARAT (Peng et al., AAAI 2024, "Contrastive Feature Reconstruction and Aggregation for
Multi-Modal Multi-Label Emotion Recognition") turned into an emotion-*distribution* learner.

Kept from the paper (three sequential components, trained jointly with Eq. 15):

1. Uni-modal label-specific features: per-modality Transformer encoder over the modality's
   tokens, then label-wise attention (Eq. 1) giving ``U_o^m`` (C x d) per modality.
2. Contrastive reconstruction-based fusion: modality-specific 2-layer-MLP encoders ``En^m`` to an
   L2-normalised latent space (``d_z``) and decoders ``De^m``; momentum prototypes
   ``mu^m_{j,k}`` per (modality, label, polarity) (Eq. 8, momentum ``phi``); intrinsic vectors
   ``D^m`` from the prototypes by soft-max weighting when training (Eq. 9) and hard-max when
   predicting (Eq. 10); two-level reconstruction ``U_alpha^m = f^m([.. De(Z_o^n) .., De(D^m),
   ..])``, ``U_beta^m = f^m([U_alpha^1; ...; U_alpha^M])`` (Eq. 2, generalised to M modalities:
   ``f^m`` receives every other modality's decoded semantic features and its own decoded
   intrinsic features, in modality order); reconstruction loss Eq. 3 (unsquared Frobenius
   norms); label-specific classifiers ``h_m`` and the max-pooling over modalities (Eq. 4) on
   ``U_o, U_alpha, U_beta`` weighted by ``gamma_o, gamma_alpha, gamma_beta`` (Eq. 5).
3. Shuffle-based aggregation: sample-wise then modality-wise shuffle of the stacked ``U_beta``
   vectors (Eq. 11-13) and the aggregation classifier ``h_c`` on ``q^m`` and shuffled
   ``q_hat^m`` (Eq. 14, ``gamma_sf``); prediction Eq. 16 = mean of (the average over modalities
   of ``h_c(q^m)``) and ``s^beta``.

Changed for distributions:

* Every BCE (Eq. 5, 14) is replaced by softmax over labels + KL(y || p); Eq. 16 averages the
  probability vectors (softmax of the aggregated logits, softmax of ``s^beta``).
* Label polarity (pos / neg) for the contrastive classes and prototypes is
  ``y_j >= 1/C`` (label above the uniform share) instead of the 0/1 multi-hot value.
* Shuffle targets: the shuffles act per label (each label-j vector of ``q_hat_i^m`` comes from a
  random sample and modality, which is what creates new label co-occurrences); the target of
  label j is that source sample's ``y_j`` and the resulting vector is renormalised to sum to 1.

Simplified (for CPU-sized training on window features):

* Tokens: a window's modality vector is split into channel chunks / projected tokens (see
  :class:`~helo.model.baselines.common.ModalityTokenizer`) instead of utterance frame sequences;
  ``n_layers`` Transformer layers per modality (default 1; paper 4-6).
* Supervised contrastive loss: instead of contrasting every embedding against the whole batch
  plus an 8192-long queue, each embedding (``Z_o, Z_alpha, Z_beta`` of every modality and label)
  is contrasted against the momentum prototypes of all (modality, label, polarity) classes
  (its own class is the positive), temperature ``tau``; prototypes are updated once per step with
  the batch mean of each class's embeddings (Eq. 8 applied to the class mean).
* Adam with a constant learning rate (no warm-up / linear decay), fixed epochs (or early stopping
  on the validation KL when ``X_val`` and ``patience`` are given) instead of best-F1 selection.

Stacked training (:class:`~helo.model.baselines.common.TorchLearner`): the prototypes are a
buffer read from a copy taken before the forward and updated in place at the end of the loss
(what the update after the optimiser step gave: it does not depend on the parameters), from the
rows of weight 1 only; the shuffles draw their permutations on the batch's device without a
generator (:func:`shuffle_views`), so in a stack every member draws its own, and the
sample-wise shuffle permutes a padded batch's real rows among themselves.
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
    mlp,
    wmean,
)


class _CARATNet(ForwardByModality):
    def __init__(self, dims, channels, n_labels, d, dz, heads, n_layers, dropout, n_tokens):
        super().__init__()
        self.modalities = list(dims)
        M, C = len(self.modalities), n_labels
        self.M, self.C, self.d, self.dz = M, C, d, dz
        self.tok = nn.ModuleDict({m: ModalityTokenizer(dims[m], d, channels.get(m), n_tokens)
                                  for m in self.modalities})
        self.encoder = nn.ModuleDict({m: nn.TransformerEncoder(
            nn.TransformerEncoderLayer(d, heads, dim_feedforward=2 * d, dropout=dropout,
                                       batch_first=True),
            num_layers=n_layers, enable_nested_tensor=False) for m in self.modalities})
        self.label_query = nn.ParameterDict({m: nn.Parameter(torch.randn(C, d) * d ** -0.5)
                                             for m in self.modalities})
        self.En = nn.ModuleDict({m: mlp(d, d, dz) for m in self.modalities})
        self.De = nn.ModuleDict({m: mlp(dz, d, d) for m in self.modalities})
        self.f = nn.ModuleDict({m: mlp(M * d, d, d) for m in self.modalities})
        self.cls_w = nn.ParameterDict({m: nn.Parameter(torch.randn(C, d) * d ** -0.5)
                                       for m in self.modalities})
        self.cls_b = nn.ParameterDict({m: nn.Parameter(torch.zeros(C)) for m in self.modalities})
        self.h_c = mlp(C * d, d, C, dropout)
        self.register_buffer("protos", F.normalize(torch.randn(M, C, 2, dz), dim=-1))

    # -- pieces -----------------------------------------------------------------------------
    def label_specific(self, xb):
        out = []
        for m in self.modalities:
            H = self.encoder[m](self.tok[m](xb[m]))  # (B, T, d)
            a = torch.softmax(H @ self.label_query[m].T, dim=1)  # (B, T, C) over tokens
            out.append(a.transpose(1, 2) @ H)  # (B, C, d)
        return out

    def latent(self, i, U):
        return F.normalize(self.En[self.modalities[i]](U), dim=-1)

    def intrinsic(self, i, z, hard: bool, protos=None):
        """Eq. 9 (soft-max, training) / Eq. 10 (hard-max, prediction) intrinsic vectors from
        the prototypes (``protos``: a copy of the buffer, see :meth:`CARAT._batch_loss`)."""
        mu = (self.protos if protos is None else protos)[i]  # (C, 2, dz)
        sim = torch.einsum("bcz,ckz->bck", z, mu)
        if hard:
            w = _one_hot2(sim.argmax(-1), z.dtype)
        else:
            w = torch.softmax(sim, dim=-1)
        return torch.einsum("bck,ckz->bcz", w, mu)

    def classify(self, i, U):
        m = self.modalities[i]
        return (U * self.cls_w[m]).sum(-1) + self.cls_b[m]  # (B, C)

    def forward_all(self, xb, hard: bool, protos=None):
        M = self.M
        Uo = self.label_specific(xb)
        Zo = [self.latent(i, Uo[i]) for i in range(M)]
        Uo_dec = [self.De[self.modalities[i]](Zo[i]) for i in range(M)]
        D_dec = [self.De[self.modalities[i]](self.intrinsic(i, Zo[i], hard, protos))
                 for i in range(M)]
        Ua = []
        for i, m in enumerate(self.modalities):
            parts = [D_dec[n] if n == i else Uo_dec[n] for n in range(M)]
            Ua.append(self.f[m](torch.cat(parts, dim=-1)))
        cat_a = torch.cat(Ua, dim=-1)
        Ub = [self.f[m](cat_a) for m in self.modalities]
        s = {k: torch.stack([self.classify(i, U[i]) for i in range(M)], 0).amax(0)
             for k, U in (("o", Uo), ("a", Ua), ("b", Ub))}
        return dict(Uo=Uo, Zo=Zo, Uo_dec=Uo_dec, Ua=Ua, Ub=Ub, s=s)

    def aggregate_logits(self, V):
        """V: (B, M, C, d) -> (B, M, C) logits of h_c on q^m."""
        B, M, C, d = V.shape
        return self.h_c(V.reshape(B, M, C * d))

    def predict_proba(self, xb):
        out = self.forward_all(xb, hard=True)
        V = torch.stack(out["Ub"], dim=1)
        p_agg = torch.softmax(self.aggregate_logits(V), dim=-1).mean(1)
        return 0.5 * (p_agg + torch.softmax(out["s"]["b"], dim=-1))


def _one_hot2(idx: torch.Tensor, dtype) -> torch.Tensor:
    """``F.one_hot(idx, 2)`` without its range check (a host synchronisation)."""
    return (idx.unsqueeze(-1) == torch.arange(2, device=idx.device)).to(dtype)


def shuffle_views(V: torch.Tensor, y: torch.Tensor, w: torch.Tensor | None = None):
    """Sample-wise then modality-wise shuffle (paper Eq. 11-12), per label.

    V: (B, M, C, d); y: (B, C); ``w``: row weights (the sample-wise shuffle permutes the rows
    of weight 1 among themselves). Returns shuffled V_hat (B, M, C, d) and renormalised targets
    (B, M, C): label j of row (i, m) takes ``y[source_sample, j]``.

    The permutations are the argsort of uniform draws made on V's device without a generator
    (no host copy, no synchronisation): alone they continue torch's global stream, in a stack
    (``vmap(randomness="different")``) every member draws its own."""
    B, M, C, _ = V.shape
    dev = V.device
    # sample-wise: an independent permutation of the batch for every (modality, label)
    keys = torch.rand(M, C, B, device=dev)
    if w is None:
        S1 = keys.argsort(-1)
    else:  # real rows sort first; the r-th real row takes the r-th source
        real = w > 0
        order = (keys + (~real).to(keys.dtype) * 2).argsort(-1)
        rank = (torch.cumsum(real.long(), 0) - 1).clamp_min(0)
        S1 = order.gather(-1, rank.expand(M, C, B))
    S1 = S1.permute(2, 0, 1)  # (B, M, C)
    m_idx = torch.arange(M, device=dev).view(1, M, 1).expand(B, M, C)
    j_idx = torch.arange(C, device=dev).view(1, 1, C).expand(B, M, C)
    V1 = V[S1, m_idx, j_idx]
    # modality-wise: an independent permutation of the modalities for every (sample, label)
    R = torch.rand(B, C, M, device=dev).argsort(-1).permute(0, 2, 1)  # (B, M, C)
    i_idx = torch.arange(B, device=dev).view(B, 1, 1).expand(B, M, C)
    V2 = V1[i_idx, R, j_idx]
    src = S1[i_idx, R, j_idx]  # (B, M, C) source sample of each label vector
    t = y[src, j_idx]
    t = t / t.sum(-1, keepdim=True).clamp_min(1e-8)
    return V2, t


class CARAT(TorchLearner):
    """See module docstring. Params: ``d`` (256, paper), ``dz`` (64, paper), ``heads`` (4),
    ``n_layers`` (1), ``dropout`` (0.1), ``n_tokens`` (4), ``tau`` (0.1), ``phi`` (0.9),
    ``gamma_o`` (0.01), ``gamma_alpha`` (0.1), ``gamma_beta`` (1), ``gamma_s`` (1),
    ``gamma_sf`` (0.1), ``gamma_r`` (1) (paper values), plus the common ones (batch 64 as paper)."""

    name = "carat"
    defaults = dict(d=256, dz=64, heads=4, n_layers=1, dropout=0.1, n_tokens=4, tau=0.1,
                    phi=0.9, gamma_o=0.01, gamma_alpha=0.1, gamma_beta=1.0, gamma_s=1.0,
                    gamma_sf=0.1, gamma_r=1.0, batch_size=64, epochs=30, lr=3e-4)

    def _build(self):
        p = self.params
        return _CARATNet(self.spec.dims, self.spec.channels, self.n_labels, int(p["d"]),
                         int(p["dz"]), int(p["heads"]), int(p["n_layers"]), float(p["dropout"]),
                         int(p["n_tokens"]))

    def _batch_loss(self, net, xb, yb, w, xt=None, wt=None):
        """Eq. 15. The prototypes are read from a copy taken before the forward, and the
        buffer is updated in place (Eq. 8, under ``no_grad``) at the end of the loss, from this
        step's embeddings of the rows of weight 1: what an update after the optimiser step
        gives, since the parameters do not enter it."""
        p = self.params
        M, C = net.M, net.C
        mu = net.protos.clone()
        out = net.forward_all(xb, hard=False, protos=mu)
        # Eq. 3 reconstruction
        l_rec = 0.0
        rms = (C * net.d) ** 0.5  # Frobenius norm -> root-mean-square scale (see docstring)
        for i in range(M):
            l_rec = l_rec + wmean(torch.linalg.matrix_norm(out["Uo"][i] - out["Uo_dec"][i]),
                                  w) / rms
            l_rec = l_rec + wmean(torch.linalg.matrix_norm(out["Uo"][i] - out["Ua"][i]),
                                  w) / rms
        # Eq. 5 (KL instead of BCE)
        s = out["s"]
        l_lsr = (p["gamma_o"] * kl_div(yb, F.log_softmax(s["o"], -1), w)
                 + p["gamma_alpha"] * kl_div(yb, F.log_softmax(s["a"], -1), w)
                 + p["gamma_beta"] * kl_div(yb, F.log_softmax(s["b"], -1), w))
        # Eq. 6-8 contrastive learning against momentum prototypes
        pol = (yb >= 1.0 / C).long()  # (B, C): 1 = pos, 0 = neg
        k_idx = 1 - pol  # prototype slot 0 = pos, 1 = neg
        protos = mu.reshape(M * C * 2, -1)
        oh = _one_hot2(k_idx, mu.dtype)  # (B, C, 2)
        if w is not None:
            oh = oh * w.to(mu.dtype)[:, None, None]
        l_scl = 0.0
        new_sum, new_cnt = [], []
        for i in range(M):
            Zs = [out["Zo"][i], net.latent(i, out["Ua"][i]), net.latent(i, out["Ub"][i])]
            cls = (i * C + torch.arange(C, device=yb.device).view(1, C)) * 2 + k_idx  # (B, C)
            s_i = 0.0
            for Z in Zs:
                logp = F.log_softmax(Z @ protos.T / p["tau"], dim=-1)  # (B, C, 2 M C)
                s_i = s_i - logp.gather(-1, cls.unsqueeze(-1)).squeeze(-1).sum(-1)  # (B,)
            l_scl = l_scl + s_i
            Zd = torch.stack([Z.detach() for Z in Zs]).sum(0)
            new_sum.append(torch.einsum("bck,bcz->ckz", oh, Zd))
            new_cnt.append(3 * oh.sum(0))
        # the mean over every anchor (3 embeddings x M modalities x C labels x rows)
        l_scl = wmean(l_scl, w) / (3 * M * C)
        # Eq. 11-14 shuffle-based aggregation
        V = torch.stack(out["Ub"], dim=1)  # (B, M, C, d)
        V_hat, t_hat = shuffle_views(V, yb, w)
        lq = net.aggregate_logits(V)
        lq_hat = net.aggregate_logits(V_hat)
        l_agg = 0.0
        for i in range(M):
            l_agg = l_agg + kl_div(yb, F.log_softmax(lq[:, i], -1), w)
            l_agg = l_agg + p["gamma_sf"] * kl_div(t_hat[:, i], F.log_softmax(lq_hat[:, i], -1),
                                                   w)
        l_agg = l_agg / M
        loss = l_agg + l_lsr + p["gamma_s"] * l_scl + p["gamma_r"] * l_rec
        self._update_protos(net, torch.stack(new_sum), torch.stack(new_cnt))
        return loss, {"agg": l_agg.detach(), "lsr": l_lsr.detach(), "scl": l_scl.detach(),
                      "rec": l_rec.detach()}

    @torch.no_grad()
    def _update_protos(self, net: _CARATNet, new_sum: torch.Tensor, new_cnt: torch.Tensor):
        """Eq. 8 on the class means of the step's embeddings; a class without a row keeps
        its prototype."""
        has = new_cnt > 0
        mean = F.normalize(new_sum / new_cnt.clamp_min(1).unsqueeze(-1), dim=-1)
        phi = self.params["phi"]
        upd = F.normalize(phi * net.protos + (1 - phi) * mean, dim=-1)
        net.protos.copy_(torch.where(has.unsqueeze(-1), upd, net.protos))
