"""Comparison methods of the HeLo paper behind the :class:`~helo.model.base.DistributionLearner`
interface, one module per method family; :data:`helo.model.registry.METHODS` maps each method
name to its class (``BASELINES`` here is the same mapping restricted to the baselines).

Classical LDL (PyLDL, on concatenated features): ``pt-svm``, ``aa-knn``, ``sa-cpnn`` (PyLDL's
CPNN re-implemented on the torch engine, so that its folds stack; ``solver: pyldl`` runs PyLDL's),
``ldl-lrr``, ``tlrldl``, ``cad``. Deep multimodal: ``carat``, ``rsm-ual``, ``amanda`` (uses the
held-out subject's unlabelled windows, ``uses_target = True``), ``conformer``, ``maet``
(adversarial over the training subjects), ``emotiondict`` (the DMER authors' dictionary model).
"""
from __future__ import annotations


def __getattr__(name):
    """``BASELINES`` (method name -> class), built on first use: importing this package does
    not import every baseline (and PyTorch with them)."""
    if name == "BASELINES":
        from helo.model.registry import METHODS, get_class
        return {n: get_class(n) for n, (mod, _) in METHODS.items()
                if mod.startswith("helo.model.baselines.")}
    raise AttributeError(name)
