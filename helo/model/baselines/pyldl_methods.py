"""Classical label-distribution learners from PyLDL (``python-ldl``) behind the helo interface.

All of them work on the concatenated features (:func:`helo.model.base.concat`, modality order of
the spec). Every wrapper calls the PyLDL class itself; nothing is re-implemented except the tiny
``CAD`` model class, which is assembled from PyLDL's own building blocks (see below). PT-SVM and
TLRLDL, whose default solvers are helo's scalable forms, are in
:mod:`helo.model.baselines.pt_svm` and :mod:`helo.model.baselines.tlrldl`; their
``solver="pyldl"`` goes through :class:`PyLDLLearner` here; so does SA-CPNN's
(:class:`PyLDLCPNN`), whose default solver trains the same network on helo's torch engine
(:mod:`helo.model.baselines.sa_cpnn`).

=============  =====================================  ====================================
helo name      PyLDL class                            needs keras?
=============  =====================================  ====================================
``pt-svm``     weighted problem transformation +      no (scikit-learn ``LinearSVC``,
               Platt-calibrated linear SVMs (the      primal solver; ``solver="pyldl"``:
               scalable form, ``pt_svm.py``)          PyLDL ``PT_SVM`` itself)
``aa-knn``     ``AA_KNN`` (mean distribution of the   no (scikit-learn ``NearestNeighbors``)
               k nearest neighbours)
``sa-cpnn``    ``CPNN`` (conditional probability      yes (3-layer net, RProp); only
               neural network, label as input)        ``solver="pyldl"``: the default is
                                                      the torch form, ``sa_cpnn.py``
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
  (``fit_params``), e.g. ``AAKNN(spec, k=10)``, ``PyLDLCPNN(spec, epochs=300)``.
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


class PyLDLCPNN(PyLDLLearner):
    """SA-CPNN's ``solver="pyldl"`` (:class:`helo.model.baselines.sa_cpnn.SACPNN`, whose
    default solver is the same network on helo's torch engine): PyLDL ``CPNN`` (Geng et al.,
    TPAMI 2013; label index as an extra input, sigmoid hidden layer of ``n_hidden`` units,
    softmax over the per-label outputs, KL loss, full-batch RProp) on the keras torch backend.
    300 epochs by default (PyLDL: 1000, which overfits on small folds). No PCA by default:
    RProp adapts per weight, and on PCA-rotated inputs it overfit badly in our synthetic checks
    (test KL 0.56 vs 0.13 without PCA); a small whitened PCA (``pca=16, whiten=True``) is the
    fast alternative.

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


class CAD(PyLDLLearner):
    """CAD (Wen et al., ICCV 2023): PyLDL has the CAD *loss* but no ready model; this is a PyLDL
    deep LDL model (3-layer net, ``n_hidden`` sigmoid units, softmax, full-batch Adam 1e-3)
    trained with ``pyldl.algorithms.loss_function_engineering.cad``. Whitened PCA to 64 components
    and 500 epochs by default. Note CAD is an ordinal (cumulative) loss: it depends on the label
    order of ``spec.label_names``.

    Scale: full-batch Adam on the PCA-reduced rows; each epoch is linear in the rows."""

    name = "cad"
    algorithm = "CAD"
    deep = True
    defaults = {"pca": 64, "whiten": True, "n_hidden": 64, "epochs": 500}
    fit_keys = ("epochs", "batch_size")

    def _make_estimator(self, model_kw):
        return cad_ldl_class()(random_state=int(self.params["seed"]), **model_kw)
