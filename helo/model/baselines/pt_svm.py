"""PT-SVM (Geng 2016) behind the helo interface: :class:`PTSVM`, whose default solver is the
weighted problem transformation with Platt-calibrated linear SVMs (this module), and whose
``solver="pyldl"`` is PyLDL's ``PT_SVM`` through
:class:`~helo.model.baselines.pyldl_methods.PyLDLLearner`."""
from __future__ import annotations

import time
import warnings

import numpy as np

from helo.model.base import normalize_rows
from helo.model.baselines.pyldl_methods import PyLDLLearner


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

    PCA to 64 components by default, on the training rows only.
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
