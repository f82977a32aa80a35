"""Build any method by name: ``make_model(name, spec, params)``.

:data:`METHODS` maps each method name used in ``params.yaml`` and the reports to the module and
class that implement it. A method's module is imported only when that method is built, so the
mean predictor or a PyLDL baseline never imports PyTorch or the other baselines (what keeps a
stage process's start-up short). Every class is constructed as ``cls(spec, **params)``.
"""
from __future__ import annotations

import importlib
from typing import Any, Mapping

from helo.model.base import DistributionLearner, ModalitySpec

METHODS: dict[str, tuple[str, str]] = {
    "helo": ("helo.model.helo", "HeLoLearner"),
    "mean": ("helo.model.base", "MeanDistribution"),
    "pt-svm": ("helo.model.baselines.pt_svm", "PTSVM"),
    "aa-knn": ("helo.model.baselines.pyldl_methods", "AAKNN"),
    "sa-cpnn": ("helo.model.baselines.sa_cpnn", "SACPNN"),
    "ldl-lrr": ("helo.model.baselines.pyldl_methods", "LDLLRR"),
    "tlrldl": ("helo.model.baselines.tlrldl", "TLRLDL"),
    "cad": ("helo.model.baselines.pyldl_methods", "CAD"),
    "carat": ("helo.model.baselines.carat", "CARAT"),
    "rsm-ual": ("helo.model.baselines.rsm_ual", "RSMUAL"),
    "amanda": ("helo.model.baselines.amanda", "Amanda"),
    "conformer": ("helo.model.baselines.conformer", "Conformer"),
    "maet": ("helo.model.baselines.maet", "MAET"),
    "emotiondict": ("helo.model.baselines.emotiondict", "EmotionDict"),
}


def available() -> list[str]:
    """Every buildable name."""
    return list(METHODS)


def module_of(name: str) -> str:
    """The module implementing ``name`` (what a stage evaluating it imports)."""
    try:
        return METHODS[name.lower()][0]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; available: {available()}") from None


def get_class(name: str) -> type[DistributionLearner]:
    module = module_of(name)
    return getattr(importlib.import_module(module), METHODS[name.lower()][1])


def make_model(name: str, spec: ModalitySpec,
               params: Mapping[str, Any] | None = None) -> DistributionLearner:
    """Instantiate ``name`` for ``spec`` with keyword ``params``."""
    return get_class(name)(spec, **dict(params or {}))
