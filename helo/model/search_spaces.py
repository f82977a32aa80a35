"""Hyper-parameter search spaces of every method, for ``helo tune`` (:mod:`helo.stages.tune`).

One table, :data:`SPACES`: method name -> list of :class:`Dim`. Each dimension's ``key`` is the
name of a keyword the method accepts, i.e. a key of ``model.<method>`` in ``params.yaml``, so
the chosen value can be written there unchanged. Kept in one place (not in each method's
module) so every method is searched the same way and the budget is the same for all.

What is searched, and why (the paper gives no search ranges; these are the usual ranges of
each method's own paper or library, kept small enough for a few trials to matter):

* deep methods: learning rate and weight decay (log scale), dropout and each method's own loss
  weights (HeLo's label-correlation weight ``lambda_cc``, Eq. 8; RSM-UAL's ``alpha``/``beta``;
  MAET's adversarial ``lambda_domain``; EmotionDict's consistency ``lambda_uni``).
  What sets a deep method's cost -- epochs, widths (``d``, ``hidden``), token counts, depth --
  is *not* searched: it would make trials of one budget unequal and could make the default
  ``dvc repro`` slower (a first search that included HeLo's ``d`` and ``tokens`` chose the
  largest, doubling HeLo's time); the presets set those;
* PyLDL methods: the PCA size in front of them (``pca``; ``null`` = none where the method
  allows it), and the method's own regularisers (LDL-LRR's ``alpha`` and ``beta``, AA-kNN's
  ``k``, SA-CPNN's and CAD's hidden width, PT-SVM's ``svm_c``);
* methods without an entry: the learning rate and weight decay every
  :class:`helo.model.baselines.common.TorchLearner` accepts (:data:`TORCH_COMMON`), when the
  method is one; otherwise the method has nothing to tune (the mean predictor).

Sampled floats are rounded to three significant digits (:func:`suggest`) so the values written
into ``params.yaml`` are the values that were evaluated.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence


@dataclass(frozen=True)
class Dim:
    """One searched keyword: ``kind`` float | int | categorical."""

    key: str
    kind: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: Sequence[Any] = ()


def _f(key, low, high, log=False):
    return Dim(key, "float", low, high, log)


def _i(key, low, high, log=False):
    return Dim(key, "int", low, high, log)


def _c(key, *choices):
    return Dim(key, "categorical", choices=tuple(choices))


#: the two keywords every TorchLearner baseline has (helo/model/baselines/common.py)
TORCH_COMMON = [_f("lr", 1e-4, 3e-3, log=True), _f("weight_decay", 1e-6, 1e-2, log=True)]

SPACES: dict[str, list[Dim]] = {
    "helo": [_f("lr", 1e-4, 3e-3, log=True), _f("weight_decay", 1e-5, 1e-2, log=True),
             _f("dropout", 0.0, 0.5), _f("lambda_cc", 0.1, 3.0, log=True)],
    "mean": [],
    "pt-svm": [_c("pca", 16, 32, 64, 128), _f("svm_c", 1e-3, 10.0, log=True)],
    "aa-knn": [_i("k", 2, 50, log=True), _c("pca", None, 16, 32, 64)],
    "sa-cpnn": [_c("n_hidden", 16, 32, 64, 128), _c("pca", None, 16, 32, 64)],
    "ldl-lrr": [_f("alpha", 1e-5, 1e-1, log=True), _f("beta", 1e-5, 1.0, log=True),
                _c("pca", None, 16, 32, 64), _c("whiten", False, True)],
    "tlrldl": [_c("pca", 16, 32, 64, 128), _i("max_iterations", 50, 300, log=True)],
    "cad": [_c("n_hidden", 16, 32, 64, 128), _c("pca", 16, 32, 64, 128)],
    "carat": [*TORCH_COMMON, _f("dropout", 0.0, 0.5)],
    "rsm-ual": [*TORCH_COMMON, _f("dropout", 0.0, 0.5), _f("alpha", 0.01, 1.0, log=True),
                _f("beta", 0.01, 1.0, log=True)],
    "amanda": [*TORCH_COMMON, _f("dropout", 0.0, 0.5)],
    "conformer": [*TORCH_COMMON, _f("dropout", 0.0, 0.5)],
    "maet": [*TORCH_COMMON, _f("dropout", 0.0, 0.5), _f("lambda_domain", 0.01, 1.0, log=True)],
    "emotiondict": [*TORCH_COMMON, _f("dropout", 0.0, 0.5),
                    _f("lambda_uni", 0.01, 1.0, log=True)],
}


def round_sig(x: float, digits: int = 3) -> float:
    if x == 0 or not math.isfinite(x):
        return float(x)
    return float(round(x, digits - 1 - int(math.floor(math.log10(abs(x))))))


def space_of(method: str, model_class: type | None = None) -> list[Dim]:
    """The search space of ``method``: its :data:`SPACES` entry, else :data:`TORCH_COMMON` for
    a class with TorchLearner's common defaults (``_common_defaults``), else empty."""
    if method in SPACES:
        return list(SPACES[method])
    common = getattr(model_class, "_common_defaults", None) or {}
    if all(d.key in common for d in TORCH_COMMON):
        return list(TORCH_COMMON)
    return []


def suggest(trial, space: list[Dim]) -> dict[str, Any]:
    """Draw one configuration from an Optuna ``trial`` (floats rounded to 3 significant
    digits; ``None`` is a valid categorical choice, written ``null`` in params.yaml)."""
    out: dict[str, Any] = {}
    for d in space:
        if d.kind == "float":
            out[d.key] = round_sig(trial.suggest_float(d.key, d.low, d.high, log=d.log))
        elif d.kind == "int":
            out[d.key] = int(trial.suggest_int(d.key, int(d.low), int(d.high), log=d.log))
        elif d.kind == "categorical":
            out[d.key] = trial.suggest_categorical(d.key, list(d.choices))
        else:
            raise ValueError(f"unknown dimension kind {d.kind!r} for {d.key}")
    return out


def contains(space: list[Dim], values: dict[str, Any]) -> bool:
    """Whether ``values`` (e.g. the current params.yaml settings) lie inside ``space`` (so they
    can be enqueued as the study's first trial)."""
    for d in space:
        if d.key not in values:
            return False
        v = values[d.key]
        if d.kind == "categorical":
            if v not in d.choices:
                return False
        elif v is None or not (d.low <= v <= d.high):
            return False
    return True
