"""Build any method by name: ``make_model(name, spec, params)``.

Built in: ``"helo"`` (:class:`helo.model.helo.HeLoLearner`) and ``"mean"``
(:class:`helo.model.helo.MeanDistribution`, the mean training distribution). Baselines come
from ``helo.model.baselines.BASELINES`` (``dict[str, type[DistributionLearner]]``), imported
lazily the first time a name is not built in, and only if that package exists; every class is
constructed as ``cls(spec, **params)``.
"""
from __future__ import annotations

import importlib
from typing import Any, Mapping

from helo.model.base import DistributionLearner, ModalitySpec
from helo.model.helo import HeLoLearner, MeanDistribution

BUILTIN: dict[str, type[DistributionLearner]] = {
    "helo": HeLoLearner,
    "mean": MeanDistribution,
}


def _baselines() -> dict[str, type[DistributionLearner]]:
    try:
        mod = importlib.import_module("helo.model.baselines")
    except ModuleNotFoundError as e:
        if e.name in ("helo.model.baselines",):
            return {}
        raise
    return dict(getattr(mod, "BASELINES", {}))


def available() -> list[str]:
    """Every buildable name (built-ins first, then baselines)."""
    names = list(BUILTIN)
    names += [n for n in _baselines() if n not in BUILTIN]
    return names


def get_class(name: str) -> type[DistributionLearner]:
    key = name.lower()
    if key in BUILTIN:
        return BUILTIN[key]
    base = _baselines()
    for n, cls in base.items():
        if n.lower() == key:
            return cls
    raise KeyError(f"unknown model {name!r}; available: {available()}")


def make_model(name: str, spec: ModalitySpec,
               params: Mapping[str, Any] | None = None) -> DistributionLearner:
    """Instantiate ``name`` for ``spec`` with keyword ``params``."""
    return get_class(name)(spec, **dict(params or {}))
