"""Classical label-distribution learners from PyLDL (``python-ldl``) behind the helo interface.

All of them work on the concatenated features (:func:`helo.model.base.concat`, modality order of
the spec). Every wrapper calls the PyLDL class itself; nothing is re-implemented except PT-SVM's
scalable form (weighted problem transformation, see :class:`PTSVM`) and the tiny
``CAD`` model class, which is assembled from PyLDL's own building blocks (see below).

=============  =====================================  ====================================
helo name      PyLDL class                            needs keras?
=============  =====================================  ====================================
``pt-svm``     weighted problem transformation +      no (scikit-learn ``LinearSVC``,
               Platt-calibrated linear SVMs (the      primal solver; ``solver="pyldl"``:
               scalable form, see :class:`PTSVM`)     PyLDL ``PT_SVM`` itself)
``aa-knn``     ``AA_KNN`` (mean distribution of the   no (scikit-learn ``NearestNeighbors``)
               k nearest neighbours)
``sa-cpnn``    ``CPNN`` (conditional probability      yes (3-layer net, RProp)
               neural network, label as input)
``ldl-lrr``    ``LDL_LRR`` (max-entropy model, KL +   yes (L-BFGS on the keras model)
               label-ranking-relation loss)
``tlrldl``     ``TLRLDL`` (low-rank label             no (numpy ADMM; the default
               correlation, threshold binarisation)   keeps its n x n matrix factored)
``cad``        PyLDL ``BaseAdam`` + ``BaseDeepLDL``   yes
               3-layer net trained with PyLDL's
               ``loss_function_engineering.cad``
               (cumulative absolute distance loss)
=============  =====================================  ====================================

Keras: PyLDL's deep algorithms import ``keras`` (v3). This environment has no TensorFlow, but
keras 3 runs them on the installed torch: this module sets ``KERAS_BACKEND=torch`` (only when
the variable is unset) *before* keras is first imported. If keras was already imported with a
backend that is not installed, a clear error is raised.

Options common to all wrappers:

* ``seed`` (0): passed as PyLDL ``random_state`` (deep models) and used to seed numpy's
  global RNG around ``fit`` (PT-SVM's resampling and TLRLDL's initialisation draw from it); the
  previous global numpy state is restored afterwards.
* ``pca`` (None): if an int (components) or a float in (0, 1) (explained-variance share), the
  concatenated features are first reduced by a PCA fitted on the training rows only
  (``sklearn.decomposition.PCA``, full SVD, deterministic); ``whiten`` (False) scales the
  components to unit variance (on for the sigmoid networks, whose units otherwise saturate on
  the large leading components). Used to keep the kernel / ADMM /
  neural methods fast on ~900-dimensional inputs; the defaults below say where it is on.
* any other keyword is passed to the PyLDL constructor (``model_params``) or its ``fit``
  (``fit_params``), e.g. ``AAKNN(spec, k=10)``, ``SACPNN(spec, epochs=300)``.
"""
from __future__ import annotations

import os
import time
import warnings

import numpy as np

from helo.model.base import DistributionLearner, ModalitySpec, concat, normalize_rows



def _keras_ready():
    """Import keras with a backend that works here (torch unless the user chose otherwise)."""
    import sys
    if "keras" not in sys.modules:
        os.environ.setdefault("KERAS_BACKEND", "torch")
    try:
        import keras
        backend = keras.backend.backend()
    except Exception as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError(
            "PyLDL's deep algorithms need keras with a working backend; keras failed to import "
            f"({exc!r}). Set KERAS_BACKEND=torch before anything imports keras.") from exc
    if backend == "tensorflow":
        try:
            import tensorflow  # noqa: F401
        except ImportError as exc:  # pragma: no cover
            raise RuntimeError("keras was imported with the tensorflow backend, which is not "
                               "installed; set KERAS_BACKEND=torch before importing keras") from exc
    return keras


def pyldl_class(name: str):
    """Return ``pyldl.algorithms.<name>`` (importing keras with a usable backend first when the
    algorithm needs it)."""
    if name in _NEEDS_KERAS:
        _keras_ready()
    import pyldl.algorithms as alg
    return getattr(alg, name)


_NEEDS_KERAS = {"CPNN", "LDL_LRR", "BCPNN", "ACPNN", "SA_BFGS", "AA_BP", "LDL_SCL", "LDLLC"}

_CAD_CLASS = None


def cad_ldl_class():
    """A PyLDL deep LDL model (``BaseAdam`` + ``BaseDeepLDL``: 3-layer net, sigmoid hidden layer,
    softmax output, full-batch Adam) whose loss is PyLDL's CAD loss (Wen et al., ICCV 2023)."""
    global _CAD_CLASS
    if _CAD_CLASS is None:
        _keras_ready()
        from pyldl.algorithms.base import BaseAdam, BaseDeepLDL
        from pyldl.algorithms.loss_function_engineering import cad

        class CAD_LDL(BaseAdam, BaseDeepLDL):
            @staticmethod
            def loss_function(D, D_pred):
                return cad(D, D_pred)

        _CAD_CLASS = CAD_LDL
    return _CAD_CLASS


class PyLDLLearner(DistributionLearner):
    """Generic wrapper; subclasses set ``algorithm``, ``defaults`` and ``fit_keys``."""

    algorithm: str = ""
    defaults: dict = {}
    fit_keys: tuple[str, ...] = ()
    deep: bool = False

    def __init__(self, spec: ModalitySpec, **params):
        self.spec = spec
        p = {"seed": 0, "pca": None, "whiten": False, **self.defaults}
        p.update(params)
        self.params = p
        self.estimator_ = None
        self.pca_ = None
        self.fit_seconds: float | None = None

    # -- helpers ----------------------------------------------------------------------------
    def _split_params(self):
        model_kw, fit_kw = {}, {}
        for k, v in self.params.items():
            if k in ("seed", "pca", "whiten"):
                continue
            (fit_kw if k in self.fit_keys else model_kw)[k] = v
        return model_kw, fit_kw

    def _make_estimator(self, model_kw):
        cls = pyldl_class(self.algorithm)
        if self.deep:
            model_kw = {"random_state": int(self.params["seed"]), **model_kw}
        return cls(**model_kw)

    def _fit_inputs(self, X: dict[str, np.ndarray], y) -> tuple[np.ndarray, np.ndarray]:
        """The training rows as one float64 matrix (NaN -> 0) and the labels, with the PCA
        (``pca``, ``whiten``) fitted on these rows and applied."""
        y = np.asarray(y, dtype=np.float64)
        Xc = np.nan_to_num(concat(X, self.spec.modalities)).astype(np.float64)
        if len(Xc) != len(y):
            raise ValueError(f"{self.algorithm}: {len(Xc)} feature rows but {len(y)} label rows")
        self.pca_ = None
        pca = self.params.get("pca")
        if pca:
            from sklearn.decomposition import PCA
            n_comp = pca if isinstance(pca, float) and pca < 1 else int(min(pca, *Xc.shape))
            self.pca_ = PCA(n_components=n_comp, svd_solver="full",
                            whiten=bool(self.params.get("whiten")),
                            random_state=int(self.params["seed"])).fit(Xc)
            Xc = self.pca_.transform(Xc)
        return Xc, y

    def transform(self, X: dict[str, np.ndarray]) -> np.ndarray:
        Xc = np.nan_to_num(concat(X, self.spec.modalities)).astype(np.float64)
        if self.pca_ is not None:
            Xc = self.pca_.transform(Xc)
        return Xc

    # -- interface --------------------------------------------------------------------------
    def fit(self, X, y, *, X_val=None, y_val=None, X_target=None, groups=None):
        t0 = time.perf_counter()
        Xc, y = self._fit_inputs(X, y)
        model_kw, fit_kw = self._split_params()
        state = np.random.get_state()
        try:
            np.random.seed(int(self.params["seed"]))
            est = self._make_estimator(model_kw)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                est.fit(Xc, y, **fit_kw)
        finally:
            np.random.set_state(state)
        self.estimator_ = est
        self.fit_seconds = time.perf_counter() - t0
        return self

    def predict(self, X) -> np.ndarray:
        if self.estimator_ is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted")
        Xc = self.transform(X)
        if self.deep:
            Xc = Xc.astype(np.float32)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = self.estimator_.predict(Xc)
        return normalize_rows(np.asarray(out))

    def torch_module(self):
        """The underlying keras model (torch backend) for the deep ones, else None."""
        if self.deep and self.estimator_ is not None:
            return getattr(self.estimator_, "_model", None)
        return None

    def count_parameters(self) -> int | None:
        if not self.deep or self.estimator_ is None:
            return None
        model = getattr(self.estimator_, "_model", None)
        if model is None:
            return None
        return int(sum(int(np.prod(v.shape)) for v in model.trainable_variables))


class PTSVM(PyLDLLearner):
    """PT-SVM (Geng 2016): problem transformation, then an SVM with probability outputs.

    Two forms (``solver``):

    * ``"weighted"`` (default, the scalable form): the problem transformation written as the
      *weighted single-label data* the paper describes: every training row ``(x_i, d_i)``
      becomes the ``C`` single-label rows ``(x_i, j)`` with weights ``d_ij``. One-vs-rest, the
      binary problem of label ``j`` is then exactly the two rows ``(x_i, +1, d_ij)`` and
      ``(x_i, -1, 1 - d_ij)`` per instance: ``2 n`` rows instead of PyLDL's ``n C`` resampled
      ones, the same objective as PyLDL's resampled problem *in expectation* (PyLDL draws
      ``n C`` rows with probabilities ``d_ij / n``), and no resampling noise. Each binary
      problem is a linear SVM (scikit-learn ``LinearSVC``: squared hinge, ``C`` = ``svm_c``,
      the primal solver, whose cost is linear in the rows), and its scores are calibrated with
      Platt's sigmoid on held-out rows (``cv`` folds over the instances, one calibrated SVM per
      fold, probabilities averaged over the folds and normalised over the labels: the same
      scheme as PyLDL's ``CalibratedClassifierCV(LinearSVC())``, with ``cv`` 5).
      ``kernel="rbf"`` maps the features first through a Nystroem approximation of the RBF
      kernel (``n_components`` landmarks, ``gamma`` default ``1 / (d * var)``) fitted on the
      training rows, so the linear SVM approximates the kernel SVM of Geng's original PT-SVM
      (LIBSVM, RBF) at a cost linear in the rows; ``"linear"`` (default) is PyLDL's choice.
      Why: PyLDL's form runs liblinear's dual solver on ``n C`` resampled rows (five
      calibration folds); on overlapping classes the dual solver's iterations grow with the
      rows, so its cost grows faster than linearly (issue 15: ~300 s per LOSO fold at 1,660
      synthetic-WESAD windows; ``benchmarks/bench_methods.py``: exponent 1.3 between 1,000
      and 4,000 rows), while this form measured 1.1 between 5,000 and 50,000 rows (25 CPU-s
      per fold at 50,000) and 1.1 CPU-s instead of 3.9 per LOSO fold on the synthetic default,
      with a lower KL under all three protocols (docs/benchmarks.md).
    * ``"pyldl"``: PyLDL ``PT_SVM`` itself (resampling + ``CalibratedClassifierCV(LinearSVC())``).

    PCA to 64 components by default (as before), on the training rows only.
    """

    name = "pt-svm"
    algorithm = "PT_SVM"
    defaults = {"pca": 64, "solver": "weighted", "kernel": "linear", "svm_c": 1.0, "cv": 5,
                "n_components": 256, "gamma": None, "tol": 1e-4, "max_iter": 1000}
    _own = ("solver", "kernel", "svm_c", "cv", "n_components", "gamma", "tol", "max_iter")

    def _split_params(self):
        model_kw, fit_kw = super()._split_params()
        for k in self._own:
            model_kw.pop(k, None)
        return model_kw, fit_kw

    def fit(self, X, y, *, X_val=None, y_val=None, X_target=None, groups=None):
        solver = self.params["solver"]
        if solver == "pyldl":
            return super().fit(X, y)
        if solver != "weighted":
            raise ValueError(f"pt-svm: solver must be 'weighted' or 'pyldl', got {solver!r}")
        t0 = time.perf_counter()
        Xc, y = self._fit_inputs(X, y)
        seed = int(self.params["seed"])
        self.kmap_ = None
        if self.params["kernel"] == "rbf":
            from sklearn.kernel_approximation import Nystroem
            gamma = self.params["gamma"] or 1.0 / (Xc.shape[1] * max(float(Xc.var()), 1e-12))
            self.kmap_ = Nystroem(kernel="rbf", gamma=gamma, random_state=seed,
                                  n_components=int(min(self.params["n_components"], len(Xc))))
            Xc = self.kmap_.fit_transform(Xc)
        elif self.params["kernel"] != "linear":
            raise ValueError(f"pt-svm: kernel must be 'linear' or 'rbf', got "
                             f"{self.params['kernel']!r}")
        self.members_ = _weighted_pt_svm(Xc, y, c=float(self.params["svm_c"]),
                                         cv=int(self.params["cv"]), seed=seed,
                                         tol=float(self.params["tol"]),
                                         max_iter=int(self.params["max_iter"]))
        self.estimator_ = "weighted"
        self.fit_seconds = time.perf_counter() - t0
        return self

    def transform(self, X):
        Xc = super().transform(X)
        if getattr(self, "kmap_", None) is not None and isinstance(self.estimator_, str):
            Xc = self.kmap_.transform(Xc)
        return Xc

    def predict(self, X) -> np.ndarray:
        if not isinstance(self.estimator_, str):
            return super().predict(X)
        Xc = self.transform(X)
        prob = np.zeros((len(Xc), len(self.members_[0][0])))
        for W, b, a, c in self.members_:
            prob += _sigmoid(a * (Xc @ W.T + b) + c)
        return normalize_rows(prob / len(self.members_))


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _platt(f: np.ndarray, w_pos: np.ndarray) -> tuple[float, float]:
    """Platt's sigmoid ``P(+1 | f) = 1 / (1 + exp(-(a f + b)))`` fitted by weighted maximum
    likelihood on scores ``f`` whose instance is positive with weight ``w_pos`` and negative
    with ``1 - w_pos`` (Newton's method on the two parameters, Platt's target smoothing)."""
    w = np.concatenate([w_pos, 1.0 - w_pos])
    ff = np.concatenate([f, f])
    n_pos, n_neg = w_pos.sum(), (1.0 - w_pos).sum()
    t = np.concatenate([np.full_like(f, (n_pos + 1) / (n_pos + 2)),
                        np.full_like(f, 1.0 / (n_neg + 2))])
    a, b = 1.0, float(np.log((n_pos + 1) / (n_neg + 1)))
    for _ in range(100):
        p = _sigmoid(a * ff + b)
        g = np.array([np.sum(w * (p - t) * ff), np.sum(w * (p - t))])
        s = w * p * (1 - p) + 1e-12
        H = np.array([[np.sum(s * ff * ff), np.sum(s * ff)], [np.sum(s * ff), np.sum(s)]])
        step = np.linalg.solve(H + 1e-10 * np.eye(2), g)
        a, b = a - step[0], b - step[1]
        if np.abs(step).max() < 1e-10:
            break
    return float(a), float(b)


def _weighted_pt_svm(X, D, *, c, cv, seed, tol, max_iter):
    """One-vs-rest linear SVMs on the weighted problem transformation, Platt-calibrated on
    ``cv`` instance folds; returns ``[(W (C, d), b (C,), a (C,), c (C,)) per fold]``."""
    from sklearn.model_selection import KFold
    from sklearn.svm import LinearSVC

    n, C = D.shape
    members = []
    splits = KFold(n_splits=cv, shuffle=True, random_state=seed).split(X) if cv >= 2 else \
        [(np.arange(n), np.arange(n))]
    for tr, ca in splits:
        X2 = np.vstack([X[tr], X[tr]])
        t = np.r_[np.ones(len(tr)), np.zeros(len(tr))]
        W, b = np.zeros((C, X.shape[1])), np.zeros(C)
        A, B = np.zeros(C), np.zeros(C)
        for j in range(C):
            w = np.r_[D[tr, j], 1.0 - D[tr, j]]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                svm = LinearSVC(C=c, dual=False, tol=tol, max_iter=max_iter,
                                random_state=seed).fit(X2, t, sample_weight=w)
            W[j], b[j] = svm.coef_[0], svm.intercept_[0]
            A[j], B[j] = _platt(X[ca] @ W[j] + b[j], D[ca, j])
        members.append((W, b, A, B))
    return members


class AAKNN(PyLDLLearner):
    """AA-kNN (Geng 2016): PyLDL ``AA_KNN``; ``k`` (default 5, PyLDL's).

    Scale: fitting only stores the rows; a query is answered by scikit-learn's
    ``NearestNeighbors`` with ``algorithm="auto"``, which on these ~900-dimensional inputs is
    the exact brute-force search (blocked matrix products, memory bounded by scikit-learn's
    ``working_memory``): cost ``n_train x n_test x d``, i.e. linear in the training rows for a
    fixed test fold. A KD- or ball tree is kept out on purpose: in hundreds of dimensions it
    visits nearly every leaf and is slower than the brute-force product (with ``pca`` to a
    handful of components ``"auto"`` switches to a tree by itself)."""

    name = "aa-knn"
    algorithm = "AA_KNN"
    defaults = {"k": 5}


class SACPNN(PyLDLLearner):
    """SA-CPNN (Geng et al., TPAMI 2013, CPNN): PyLDL ``CPNN`` (label index as an extra input,
    sigmoid hidden layer of ``n_hidden`` units, softmax over the per-label outputs, KL loss,
    full-batch RProp) on the keras torch backend. 300 epochs by default (PyLDL: 1000, which
    overfits on small folds). No PCA by default: RProp adapts per weight, and on PCA-rotated
    inputs it overfit badly in our synthetic checks (test KL 0.56 vs 0.13 without PCA); a
    small whitened PCA (``pca=16, whiten=True``) is the fast alternative.

    Scale: one epoch is a full-batch pass over the ``n x C`` (instance, label) rows, so time
    and memory are linear in the training rows (no kernel or pairwise term)."""

    name = "sa-cpnn"
    algorithm = "CPNN"
    deep = True
    defaults = {"pca": None, "n_hidden": 64, "epochs": 300}
    fit_keys = ("epochs", "batch_size")


class LDLLRR(PyLDLLearner):
    """LDL-LRR (Jia et al., TKDE 2023): PyLDL ``LDL_LRR`` (max-entropy model, KL + ranking loss,
    L-BFGS) on the keras torch backend; ``alpha`` (1e-3), ``beta`` (0), ``max_iterations`` (50).

    Scale: each L-BFGS iteration evaluates the loss on all rows; the ranking term compares the
    ``C x C`` label pairs *within* each row, so the cost is linear in the rows."""

    name = "ldl-lrr"
    algorithm = "LDL_LRR"
    deep = True
    defaults = {"max_iterations": 50}
    fit_keys = ("max_iterations",)


class TLRLDL(PyLDLLearner):
    """TLRLDL (Kou et al., IJCAI 2024): low-rank label correlation through an auxiliary
    multi-label problem (threshold binarisation), solved by ADMM; ``max_iterations`` (100),
    ``alpha`` (1e-3), ``beta`` (1e-3), ``rho`` (1e-3), ``param`` (binarisation threshold, None
    = PyLDL's 0.5) as in PyLDL.

    ``solver``:

    * ``"lowrank"`` (default, the scalable form): PyLDL's own ADMM updates (with its corrected
      Eq. 8 and 10) carried out with the ``n x n`` auxiliary matrix ``O`` kept as a product of
      two ``n x C`` factors. After the first update ``O`` *is* of rank ``C``:
      ``O = (2 beta I + (1 + rho) A A^T)^{-1} A B^T`` with ``A = X W`` and
      ``B = L + rho Z - V``, and the push-through identity gives
      ``O = A (2 beta I_C + (1 + rho) A^T A)^{-1} B^T``, so every product with ``O`` costs
      ``O(n C^2)`` instead of ``O(n^2)`` memory and ``O(n^3)`` time (PyLDL inverts an
      ``n x n`` matrix every iteration: 20 GB and ~10^14 flops per iteration at DMER's 50,000
      windows). The stopping rule is PyLDL's (largest absolute change of ``W``, ``O``, ``Z``
      below 1e-3), decided exactly for ``O`` too: only once those of ``W`` and ``Z`` are below
      the threshold, first by a Cauchy-Schwarz bound, then by a scan of ``O``'s change in row
      blocks that stops at the first entry above it (a full scan, ``n^2 C``, only when the
      bound cannot tell). The one difference: PyLDL starts
      from a dense uniform random ``O``; this form starts from a uniform random rank-``C``
      product scaled to the same mean entry (0.5), ``O_0 = (2 / C) P_0 Q_0^T``. From the same
      ``O_0`` both give the same model (a unit test checks it against PyLDL's ``TLRLDL``).
    * ``"pyldl"``: PyLDL ``TLRLDL`` itself.
    """

    name = "tlrldl"
    algorithm = "TLRLDL"
    defaults = {"max_iterations": 100, "solver": "lowrank"}
    fit_keys = ("max_iterations",)

    def _split_params(self):
        model_kw, fit_kw = super()._split_params()
        model_kw.pop("solver", None)
        return model_kw, fit_kw

    def fit(self, X, y, *, X_val=None, y_val=None, X_target=None, groups=None):
        solver = self.params["solver"]
        if solver == "pyldl":
            return super().fit(X, y)
        if solver != "lowrank":
            raise ValueError(f"tlrldl: solver must be 'lowrank' or 'pyldl', got {solver!r}")
        t0 = time.perf_counter()
        Xc, y = self._fit_inputs(X, y)
        model_kw, fit_kw = self._split_params()
        unknown = set(model_kw) - {"alpha", "beta", "param"}
        unknown |= set(fit_kw) - {"max_iterations"}
        if unknown:
            raise TypeError(f"tlrldl: unknown parameter(s) {sorted(unknown)}")
        rng = np.random.default_rng(int(self.params["seed"]))
        n, C = y.shape
        P0, Q0 = rng.random((n, C)) * (2.0 / C), rng.random((n, C))
        self.W_ = tlrldl_lowrank(Xc, y, P0, Q0, alpha=model_kw.get("alpha", 1e-3),
                                 beta=model_kw.get("beta", 1e-3), param=model_kw.get("param"),
                                 rho=1e-3, max_iterations=int(fit_kw.get("max_iterations", 100)))
        self.estimator_ = "lowrank"
        self.fit_seconds = time.perf_counter() - t0
        return self

    def predict(self, X) -> np.ndarray:
        if not isinstance(self.estimator_, str):
            return super().predict(X)
        from pyldl.algorithms.utils import proj
        return normalize_rows(proj(self.transform(X) @ self.W_))


def _max_abs_diff_lowrank(P, Q, Po, Qo, block_bytes: int = 64 << 20,
                          stop_above: float | None = None) -> float:
    """``max |P Q^T - Po Qo^T|`` without forming the ``n x n`` matrices (row blocks). With
    ``stop_above``, returns as soon as a block exceeds it (enough to decide ``<= eps``)."""
    n = Q.shape[0]
    step = max(1, block_bytes // (8 * max(n, 1)))
    out = 0.0
    for s in range(0, P.shape[0], step):
        out = max(out, float(np.abs(P[s:s + step] @ Q.T - Po[s:s + step] @ Qo.T).max()))
        if stop_above is not None and out > stop_above:
            break
    return out


def _lowrank_change_within(P, Q, Po, Qo, eps: float) -> bool:
    """Exactly ``max |P Q^T - Po Qo^T| <= eps``: first the Cauchy-Schwarz bound of
    ``(P - Po) Q^T + Po (Q - Qo)^T``, ``max ||dP_i|| max ||Q_j|| + max ||Po_i|| max ||dQ_j||``
    (O(n C)), then, only if the bound does not decide, the blocked scan with an early exit."""
    rn = lambda M: float(np.sqrt((M ** 2).sum(1)).max()) if len(M) else 0.0  # noqa: E731
    bound = rn(P - Po) * rn(Q) + rn(Po) * rn(Q - Qo)
    if bound <= eps:
        return True
    return _max_abs_diff_lowrank(P, Q, Po, Qo, stop_above=eps) <= eps


def tlrldl_lowrank(X, D, P0, Q0, *, alpha=1e-3, beta=1e-3, param=None, rho=1e-3,
                   max_iterations=100, eps_err=1e-3):
    """PyLDL's TLRLDL ADMM with ``O = P Q^T`` kept factored (see :class:`TLRLDL`); returns
    ``W`` (d x C)."""
    from pyldl.algorithms.utils import binaryzation, svt

    n, d = X.shape
    C = D.shape[1]
    L = binaryzation(D, method="threshold", param=param)
    W = np.ones((d, C))
    Z = np.ones((n, C))
    V = np.ones((n, C))
    P, Q = P0, Q0
    XtX = X.T @ X
    XtD = X.T @ D  # (d, C): D^T X transposed
    I_d, I_c = np.eye(d), np.eye(C)
    for _ in range(int(max_iterations)):
        W_old, Z_old, P_old, Q_old = W, Z, P, Q
        # W update: OTX = O^T X = Q (P^T X)
        PtX = P.T @ X  # (C, d)
        G = rho * Z - V + L  # (n, C)
        temp1 = (G.T @ Q) @ PtX + XtD.T  # (C, d)
        temp2 = XtX + 2 * beta * I_d + (1 + rho) * PtX.T @ (Q.T @ Q) @ PtX
        W = np.transpose(temp1 @ np.linalg.inv(temp2))
        # O update (PyLDL does it inside _update_W, with the old Z and V)
        A = X @ W  # (n, C)
        M = np.linalg.inv(2 * beta * I_c + (1 + rho) * A.T @ A)
        P, Q = A @ M, L + rho * Z - V
        # Z update: svt(W^T X^T O + V^T / rho, alpha / rho)
        AtO_left = A.T @ P  # (C, C); W^T X^T O = AtO_left @ Q^T
        AtO = AtO_left @ Q.T  # (C, n)
        Z = np.transpose(svt(AtO + V.T / rho, alpha / rho))
        # V update
        V = np.transpose(V.T + rho * (AtO - Z.T))
        rho *= 1.1
        err = max(np.abs(W - W_old).max(), np.abs(Z - Z_old).max())
        if err <= eps_err and _lowrank_change_within(P, Q, P_old, Q_old, eps_err):
            break
    return W


class CAD(PyLDLLearner):
    """CAD (Wen et al., ICCV 2023): PyLDL has the CAD *loss* but no ready model; this is a PyLDL
    deep LDL model (3-layer net, ``n_hidden`` sigmoid units, softmax, full-batch Adam 1e-3)
    trained with ``pyldl.algorithms.loss_function_engineering.cad``. Whitened PCA to 64 components and
    500 epochs by default. Note CAD is an ordinal (cumulative) loss: it depends on the label
    order of ``spec.label_names``.

    Scale: full-batch Adam on the PCA-reduced rows; each epoch is linear in the rows."""

    name = "cad"
    algorithm = "CAD"
    deep = True
    defaults = {"pca": 64, "whiten": True, "n_hidden": 64, "epochs": 500}
    fit_keys = ("epochs", "batch_size")

    def _make_estimator(self, model_kw):
        return cad_ldl_class()(random_state=int(self.params["seed"]), **model_kw)
