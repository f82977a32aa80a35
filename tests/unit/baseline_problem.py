"""The easy label-distribution problem the baseline tests share: three modalities whose features
are a fixed linear map of the labels plus noise, standardised on the training split."""
from __future__ import annotations

import numpy as np

from helo.model.base import ModalitySpec

DIMS = {"a": 12, "b": 8, "c": 20}
L = 5
SPEC = ModalitySpec(dims=DIMS, physiological=["a", "b"], behavioural=["c"], n_labels=L,
                    channels={"a": 4})


def make_split(n, seed, shift=0.0, noise=0.5):
    rng = np.random.default_rng(seed)
    y = rng.dirichlet(np.full(L, 0.5), n)
    g = np.random.default_rng(123)  # the same linear map for every split
    X = {m: (3 * y @ g.normal(size=(L, d)) + noise * rng.normal(size=(n, d)) + shift)
         for m, d in DIMS.items()}
    return X, y


def _standardise(train, *others):
    stats = {m: (v.mean(0), v.std(0) + 1e-8) for m, v in train.items()}

    def f(X):
        return {m: ((X[m] - stats[m][0]) / stats[m][1]).astype(np.float32) for m in X}
    return [f(train)] + [f(o) for o in others]


def easy_problem():
    """``(X_train, y_train, X_test, y_test)``: 200 training and 150 test rows."""
    Xtr, ytr = make_split(200, 0)
    Xte, yte = make_split(150, 1)
    Xtr, Xte = _standardise(Xtr, Xte)
    return Xtr, ytr, Xte, yte


def kl(y, p):
    p = np.clip(p, 1e-12, None)
    return float(np.mean(np.sum(np.where(y > 0, y * np.log(np.clip(y, 1e-12, None) / p), 0), 1)))
