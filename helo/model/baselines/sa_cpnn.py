"""SA-CPNN (Geng, Yin and Zhou, TPAMI 2013: the conditional probability neural network, CPNN)
on helo's torch training engine, so that the folds of a protocol can be trained as one stacked
model like the other deep baselines.

Why re-implemented: PyLDL's ``CPNN`` is a keras model trained by keras' own loop, which the
engine (:mod:`helo.model.train`) cannot stack; so the network, the loss and PyLDL's optimiser
(``RProp``, here :class:`~helo.model.optim.MemberRprop`) are written again in torch, following
PyLDL's code (``pyldl/algorithms/_cpnn.py``, ``optimizers.py``, ``base/deep.py``) as the
specification. ``solver="pyldl"`` still trains PyLDL's ``CPNN`` itself
(:class:`~helo.model.baselines.pyldl_methods.PyLDLCPNN`), one fit at a time.

What PyLDL's CPNN is (mode ``"none"``, the one SA-CPNN uses): each instance ``x`` (``d``
features) is repeated once per label ``j = 1..L`` with ``j`` appended as one more input; a
3-layer network ``Dense(n_hidden, sigmoid) -> Dense(1, linear)`` maps each of the ``n L`` rows
to a score, the scores of an instance are reshaped to ``(n, L)`` and soft-maxed; the loss is
the mean over instances of keras' ``kl_divergence`` (label and prediction both clipped to
``[1e-7, 1]``); training is full batch (``batch_size`` None), 1000 epochs by default, with
Rprop (initial step 1e-3, factors 0.5 / 1.2, steps in ``[1e-6, 50]``, weight backtracking).

How it is computed here (the same function, not the same kernels):

* no ``L``-fold copy of the inputs: the first layer's kernel ``[W_x; w_label]`` (``(d + 1) x
  H``) splits into ``W_x`` and the label row ``w_label``, so the hidden units of row ``(x, j)``
  are ``sigmoid(x W_x + b + j w_label)``: one ``n x d`` by ``d x H`` product, then a broadcast
  over the ``L`` labels (``(n, L, H)``), instead of PyLDL's ``n L x (d + 1)`` input matrix;
  the scores are ``h w_2 + b_2`` (a matrix-vector product) -> ``(n, L)`` -> softmax.
* initialisation as keras': Glorot-uniform kernels over the full input width (fan-in
  ``d + 1``, the label column included; ``limit = sqrt(6 / (fan_in + fan_out))``), drawn from
  torch's global RNG right after seeding with ``seed`` (keras' own draws differ), zero biases.
* the loss is keras' clipped KL, ``y log(y / p)`` with both clipped, as a weighted mean over
  rows (the engine pads a stack's smaller members with weight-0 rows).
* the output bias ``b_2`` shifts every score of an instance alike, so the softmax ignores it:
  its gradient is zero up to rounding and Rprop moves it on the rounding's signs, in PyLDL as
  here. It is kept (the parameters are PyLDL's, one for one) and changes no prediction.

Choices (options, defaults):

* ``n_hidden`` (64, PyLDL's), ``epochs`` (300: PyLDL's 1000 overfits small folds),
  ``batch_size`` (None: full batch, as PyLDL), ``optimizer`` (``"rprop"``; ``"adam"`` is the
  engine's Adam at ``lr``), ``lr`` (1e-3: Rprop's initial step, PyLDL's ``init_alpha``),
  ``etas`` ((0.5, 1.2)) and ``step_sizes`` ((1e-6, 50)): PyLDL's Rprop constants;
  ``weight_decay`` 0 and ``grad_clip`` None (PyLDL has neither; a norm clip would not change
  an Rprop step anyway, which reads signs only).
* ``pca`` (None) / ``whiten`` (False): as PyLDL's wrappers (:class:`~helo.model.baselines.
  pyldl_methods.PyLDLLearner`): a PCA fitted on each member's training rows (scikit-learn,
  full SVD, float64; an int: components, at most ``min(rows, features)``; a float in (0, 1):
  the explained-variance share), here applied *inside* the network as fixed buffers (mean,
  components, whitening scale) set when the member's network is built, so stacking,
  prediction and the FLOP counter see one plain module. An int keeps the members' widths
  equal (one stack); a share can give members different widths, which then train in one
  engine call per width (:meth:`SACPNN._stack_key`). Before fitting (parameter / FLOP counts)
  the network is built with the PCA width ``min(pca, d)`` (a share: ``d``).
* the concatenated modalities in ``spec.modalities`` order, NaN -> 0 (as the PyLDL wrapper).
* the engine's rules otherwise (per-member batch order, validation loss and best-epoch
  restore when validation rows are given, ``patience``, divergence stop, ``device``,
  ``compile``, ``precision``, ``deterministic``). PyLDL ignores validation rows; with
  ``evaluate.val_fraction`` 0 (the default) there are none.
* ``solver`` (``"torch"``; ``"pyldl"``: PyLDL's ``CPNN`` with ``n_hidden``, ``epochs``,
  ``batch_size``, ``pca``, ``whiten``, ``seed``; the engine's options and the Rprop constants
  do not reach it: PyLDL's own defaults apply). The option set is the same for both solvers,
  so ``params.yaml`` keys are checked
  (:data:`helo.stages.method_options.METHOD_OPTIONS`) and a typo is refused; PyLDL's other
  ``CPNN`` keywords (``mode``, ``v``) are not offered (``mode`` other than ``"none"`` are
  BCPNN / ACPNN, not SA-CPNN).

Equivalence (``tests/unit/test_model_sa_cpnn.py``): from PyLDL's initial keras weights, the
forward pass, the loss and 40 full-batch Rprop epochs give PyLDL's predictions; stacked members
equal their one-at-a-time fits; the in-network PCA equals scikit-learn's ``transform``. Rprop
reads only signs, so where a gradient is within rounding of zero a stack (batched kernels) and
a member alone can take opposite full steps: predictions agreed to 1e-7-1e-5 in the tests, and
to 9e-5 in a LOSO run of 24-row folds through the runner (``stack`` 3 against 1).
In a stack on the CPU the hidden layer runs over blocks of rows (:class:`_BlockedHiddenScores`):
the stack's ``(K, rows, L, H)`` hidden units at full batch are out of every cache, and batched
they cost more than the members' own; by blocks a stack of 8 DMER folds is about as fast as the
folds one at a time (``docs/benchmarks.md``). ``evaluate.stack: auto`` is 1 on the CPU (a
stacked member is not bit for bit the member alone); :meth:`SACPNN.auto_stack` sizes the GPU's
stacks, where the layer is computed whole.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch
import torch.nn as nn

from helo.model.baselines.common import ForwardByModality, TorchLearner, _unpack, wmean
from helo.model.pool import FoldPool
from helo.model.runtime import select_device, stacked_members

#: keras' ``backend.epsilon()``: the clip of ``kl_divergence``
KERAS_EPS = 1e-7
SOLVERS = ("torch", "pyldl")
#: the options the PyLDL solver passes on (the rest are the engine's)
PYLDL_KEYS = ("seed", "pca", "whiten", "n_hidden", "epochs", "batch_size")
#: elements of a stack's ``(K, rows, L, H)`` hidden units per block of rows on the CPU
#: (:class:`_BlockedHiddenScores`): 4 MiB of float32, a block that stays in the cache; None:
#: the layer whole, as on other devices
STACK_BLOCK_ELEMENTS: int | None = 1 << 20


def keras_kl(y: torch.Tensor, p: torch.Tensor, w: torch.Tensor | None = None) -> torch.Tensor:
    """keras' ``kl_divergence(y, p)`` per row (both clipped to ``[1e-7, 1]``), its weighted
    mean over rows (:func:`~helo.model.baselines.common.wmean`)."""
    yc = y.clamp(KERAS_EPS, 1.0)
    pc = p.clamp(KERAS_EPS, 1.0)
    return wmean((yc * torch.log(yc / pc)).sum(-1), w)


def hidden_scores(a: torch.Tensor, label: torch.Tensor, w_label: torch.Tensor,
                  w2: torch.Tensor) -> torch.Tensor:
    """The scores ``(n, L)`` before the output bias: ``sum_h w2[h] sigmoid(a[n, h] + label[j]
    w_label[h])``, the ``(n, L, H)`` hidden units materialised (autograd keeps them)."""
    h = torch.sigmoid(a.unsqueeze(-2) + label.unsqueeze(-1) * w_label)
    # a matrix-vector product: as a matmul with an (H, 1) kernel, the backward's outer product
    # runs as a batched matmul with an inner size of 1 in a stack (2x slower)
    return torch.mv(h.reshape(-1, h.shape[-1]), w2).view(h.shape[:-1])


class _BlockedHiddenScores(torch.autograd.Function):
    """:func:`hidden_scores` over blocks of ``block`` rows, the hidden units recomputed in the
    backward instead of kept: every ``(rows, L, H)`` temporary is one block's, so in a stack on
    the CPU (``K`` members, ``K x rows x L x H`` floats: 1 GB for 8 DMER folds at full batch)
    each elementwise pass runs in the cache instead of memory, and nothing of that size is
    allocated. The output layer is a product and a sum over ``H`` (in the cache that is faster
    than vmap's batched matrix-vector product, whose inner size is 1). Why by hand: autograd
    keeps every block's hidden units, which is the whole tensor again; a recomputing
    checkpoint (``torch.utils.checkpoint``) per block would run each block's forward twice
    through autograd and does not compose with the engine's vmap. The gradient is the same
    function's (``tests/unit/test_model_sa_cpnn.py``): for
    ``s = sum_h w2 sigma(z)``, ``z = a + j w_label``: ``d w2 = sum_{n,j} g sigma(z)``,
    ``dz = g w2 sigma(z) (1 - sigma(z))``, ``d a = sum_j dz``, ``d w_label = sum_{n,j} j dz``.
    ``generate_vmap_rule``: plain batched tensor ops, so the engine's vmap batches them."""

    generate_vmap_rule = True

    @staticmethod
    def forward(a, label, w_label, w2, block):
        lw = label.unsqueeze(-1) * w_label
        out = []
        for r in range(0, a.shape[0], block):
            h = torch.sigmoid(a[r:r + block].unsqueeze(-2) + lw)
            out.append((h * w2).sum(-1))  # in the cache; vmap's batched mv is slower here
        return torch.cat(out)

    @staticmethod
    def setup_context(ctx, inputs, output):
        a, label, w_label, w2, block = inputs
        ctx.save_for_backward(a, label, w_label, w2)
        ctx.block = block

    @staticmethod
    def backward(ctx, g_scores):
        a, label, w_label, w2 = ctx.saved_tensors
        lw = label.unsqueeze(-1) * w_label
        g_a, g_w2, g_lw = [], torch.zeros_like(w2), torch.zeros_like(lw)
        for r in range(0, a.shape[0], ctx.block):
            h = torch.sigmoid(a[r:r + ctx.block].unsqueeze(-2) + lw)
            g = g_scores[r:r + ctx.block].unsqueeze(-1)
            g_w2 = g_w2 + (g * h).sum((0, 1))
            dz = torch.ops.aten.sigmoid_backward(g * w2, h)
            g_a.append(dz.sum(-2))
            g_lw = g_lw + dz.sum(0)
        return torch.cat(g_a), None, (g_lw * label.unsqueeze(-1)).sum(0), g_w2, None


class CPNNNet(ForwardByModality):
    """The CPNN (module docstring): ``(n, d)`` concatenated modalities -> optional fixed PCA ->
    ``(n, L)`` label distribution. ``pca_width``: None (no PCA) or the PCA's output width."""

    def __init__(self, dims: dict[str, int], modalities: list[str], n_labels: int,
                 n_hidden: int, pca_width: int | None = None):
        super().__init__()
        self.modalities = list(modalities)
        self.n_labels = int(n_labels)
        d = sum(int(dims[m]) for m in self.modalities)
        self.has_pca = pca_width is not None
        width = int(pca_width) if self.has_pca else d
        if self.has_pca:
            self.register_buffer("pca_mean", torch.zeros(d))
            self.register_buffer("pca_components", torch.zeros(d, width))
            self.register_buffer("pca_scale", torch.ones(width))
        self.register_buffer("label_index", torch.arange(1, self.n_labels + 1,
                                                         dtype=torch.float32))
        H = int(n_hidden)
        lim1 = math.sqrt(6.0 / (width + 1 + H))
        kernel = torch.empty(width + 1, H).uniform_(-lim1, lim1)
        self.w_x = nn.Parameter(kernel[:width].clone())
        self.w_label = nn.Parameter(kernel[width].clone())
        self.b1 = nn.Parameter(torch.zeros(H))
        lim2 = math.sqrt(6.0 / (H + 1))
        self.w2 = nn.Parameter(torch.empty(H, 1).uniform_(-lim2, lim2))
        self.b2 = nn.Parameter(torch.zeros(1))

    def set_pca(self, mean: np.ndarray, components: np.ndarray, scale: np.ndarray) -> None:
        """The PCA's mean ``(d,)``, components ``(c, d)`` (scikit-learn's layout) and whitening
        scale ``(c,)`` (ones without whitening)."""
        with torch.no_grad():
            self.pca_mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
            self.pca_components.copy_(torch.as_tensor(components, dtype=torch.float32).T)
            self.pca_scale.copy_(torch.as_tensor(scale, dtype=torch.float32))

    def set_keras_weights(self, weights) -> None:
        """Load a keras CPNN's ``get_weights()`` (``[(d + 1, H) kernel, (H,) bias, (H, 1)
        kernel, (1,) bias]``)."""
        k1, b1, k2, b2 = (torch.as_tensor(np.asarray(w), dtype=torch.float32) for w in weights)
        with torch.no_grad():
            self.w_x.copy_(k1[:-1])
            self.w_label.copy_(k1[-1])
            self.b1.copy_(b1)
            self.w2.copy_(k2)
            self.b2.copy_(b2)

    def features(self, xb: dict[str, torch.Tensor]) -> torch.Tensor:
        x = torch.cat([xb[m] for m in self.modalities], dim=-1)
        if self.has_pca:
            x = ((x - self.pca_mean) @ self.pca_components) / self.pca_scale
        return x

    def scores(self, xb: dict[str, torch.Tensor]) -> torch.Tensor:
        """The per-label scores ``(n, L)`` (before the softmax)."""
        a = self.features(xb) @ self.w_x + self.b1  # (n, H): the instance's part
        w2, k = self.w2.squeeze(-1), stacked_members()
        if k > 1 and a.device.type == "cpu" and STACK_BLOCK_ELEMENTS:  # a stack: by blocks
            block = max(16, STACK_BLOCK_ELEMENTS // (k * self.n_labels * a.shape[-1]))
            return _BlockedHiddenScores.apply(a, self.label_index, self.w_label, w2,
                                              block) + self.b2
        return hidden_scores(a, self.label_index, self.w_label, w2) + self.b2

    def predict_proba(self, xb: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.softmax(self.scores(xb), dim=-1)


def _n_components(pca, shape) -> float | int:
    """PyLDL wrappers' rule: a share in (0, 1) as is, else an int at most ``min(shape)``."""
    return pca if isinstance(pca, float) and pca < 1 else int(min(pca, *shape))


class SACPNN(TorchLearner):
    """SA-CPNN (module docstring). Params: ``n_hidden`` (64), ``pca`` (None), ``whiten``
    (False), ``solver`` (``"torch"`` | ``"pyldl"``), ``optimizer`` (``"rprop"`` | ``"adam"``),
    ``etas`` ((0.5, 1.2)), ``step_sizes`` ((1e-6, 50)), plus the common ones (``epochs`` 300,
    ``batch_size`` None = full batch, ``lr`` 1e-3 = Rprop's initial step, ``weight_decay`` 0,
    ``grad_clip`` None)."""

    name = "sa-cpnn"
    defaults = dict(n_hidden=64, pca=None, whiten=False, solver="torch", optimizer="rprop",
                    etas=(0.5, 1.2), step_sizes=(1e-6, 50.0), epochs=300, batch_size=None,
                    lr=1e-3, weight_decay=0.0, grad_clip=None)

    def __init__(self, spec, **params):
        super().__init__(spec, **params)
        from helo.model.train import OPTIMIZERS
        if self.params["solver"] not in SOLVERS:
            raise ValueError(f"sa-cpnn: solver must be one of {SOLVERS}, not "
                             f"{self.params['solver']!r}")
        if self.params["optimizer"] not in OPTIMIZERS:
            raise ValueError(f"sa-cpnn: optimizer must be one of {OPTIMIZERS}, not "
                             f"{self.params['optimizer']!r}")
        self.pca_ = None
        self.pyldl_ = None

    # -- the engine's hooks -------------------------------------------------------------------
    def rules(self):
        p = self.params
        return dataclasses.replace(super().rules(), optimizer=str(p["optimizer"]),
                                   etas=tuple(float(v) for v in p["etas"]),
                                   step_sizes=tuple(float(v) for v in p["step_sizes"]))

    def _inputs(self, X, y, groups):
        """The modalities (NaN -> 0), and the member's PCA fitted on them (``pca``)."""
        from helo.model.baselines.common import _to_arrays
        arrays = _to_arrays(X, self.modalities)
        self.pca_ = None
        pca = self.params["pca"]
        if pca:
            from sklearn.decomposition import PCA
            Xc = np.concatenate([arrays[m] for m in self.modalities], 1).astype(np.float64)
            self.pca_ = PCA(n_components=_n_components(pca, Xc.shape), svd_solver="full",
                            whiten=bool(self.params["whiten"]),
                            random_state=int(self.params["seed"])).fit(Xc)
        return arrays

    def _pca_width(self) -> int | None:
        pca = self.params["pca"]
        if not pca:
            return None
        if self.pca_ is not None:
            return int(self.pca_.n_components_)
        d = sum(int(self.spec.dims[m]) for m in self.modalities)
        return d if isinstance(pca, float) and pca < 1 else int(min(pca, d))

    def _stack_key(self) -> tuple:
        return (self._pca_width(),)

    def _build(self) -> CPNNNet:
        net = CPNNNet(self.spec.dims, self.modalities, self.n_labels,
                      int(self.params["n_hidden"]), self._pca_width())
        if self.pca_ is not None:
            pca = self.pca_
            scale = np.ones(pca.n_components_)
            if pca.whiten:  # scikit-learn's transform: sqrt(variance), clipped at machine eps
                scale = np.sqrt(pca.explained_variance_)
                scale[scale < np.finfo(scale.dtype).eps] = np.finfo(scale.dtype).eps
            net.set_pca(pca.mean_, pca.components_, scale)
        return net

    def _batch_loss(self, net, xb, yb, w, xt=None, wt=None):
        return keras_kl(yb, net.predict_proba(xb), w), {}

    # -- the PyLDL solver ---------------------------------------------------------------------
    @classmethod
    def auto_stack(cls, params, n_members, n_rows, n_features):
        """``evaluate.stack: auto``: 1 on the CPU or with ``solver="pyldl"``; on CUDA the
        members that fit in half of the free memory, a member estimated (float32) as its pool
        rows (features + 16 labels), four copies of its parameters (weights, gradient, Rprop's
        two states) and a full batch's activations: the ``(rows, 16, n_hidden)`` hidden units
        four times (pre-activation, sigmoid, their gradients) and the gathered inputs twice
        (the base class's estimate assumes a Transformer's mini-batch)."""
        p = {**cls._common_defaults, **cls.defaults, **params}
        dev = select_device(p["device"])
        if p["solver"] == "pyldl" or dev.type != "cuda" or n_members <= 1:
            return 1
        free, _ = torch.cuda.mem_get_info(dev)
        H, L = int(p["n_hidden"]), 16
        bs = min(int(p["batch_size"] or n_rows), n_rows)
        n_par = (n_features + 2) * H + H + 1
        member = 4 * (n_rows * (n_features + L) + 4 * n_par + 4 * bs * L * H
                      + 2 * bs * n_features)
        return int(max(1, min(n_members, (free // 2) // max(member, 1))))

    @classmethod
    def fit_many(cls, learners, data, *, stacked=None):
        """As :meth:`TorchLearner.fit_many`; ``solver="pyldl"``: PyLDL's CPNN per learner, one
        after the other (validation and target rows unused, as PyLDL)."""
        solvers = {lr.params["solver"] for lr in learners}
        if solvers != {"pyldl"}:
            if "pyldl" in solvers:
                raise ValueError("fit_many: the learners differ in more than their seed")
            return super().fit_many(learners, data, stacked=stacked)
        if isinstance(data, FoldPool):
            data = [data.fold_arrays(k) for k in range(len(data.folds))]
        if len(data) != len(learners):
            raise ValueError(f"fit_many: {len(learners)} learners but {len(data)} data tuples")
        from helo.model.baselines.pyldl_methods import PyLDLCPNN
        for lr, item in zip(learners, data):
            X, y = _unpack(item)[:2]
            lr.pyldl_ = PyLDLCPNN(lr.spec, **{k: lr.params[k] for k in PYLDL_KEYS}).fit(X, y)
            lr.fit_seconds = lr.pyldl_.fit_seconds
            lr._history = []
        return learners

    def predict(self, X) -> np.ndarray:
        if self.pyldl_ is not None:
            return self.pyldl_.predict(X)
        return super().predict(X)

    def torch_module(self):
        if self.params["solver"] == "pyldl":
            return self.pyldl_.torch_module() if self.pyldl_ is not None else None
        return super().torch_module()

    def count_parameters(self) -> int | None:
        if self.params["solver"] == "pyldl":
            return self.pyldl_.count_parameters() if self.pyldl_ is not None else None
        return super().count_parameters()
