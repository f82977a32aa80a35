"""Comparison methods of the HeLo paper behind the :class:`~helo.model.base.DistributionLearner`
interface. ``BASELINES`` maps the method name used in configs / reports to its class; build one
with ``BASELINES[name](spec, **params)``.

Classical LDL (PyLDL, on concatenated features): ``pt-svm``, ``aa-knn``, ``sa-cpnn``,
``ldl-lrr``, ``tlrldl``, ``cad``. Deep multimodal: ``carat``, ``rsm-ual``, ``amanda`` (uses the
held-out subject's unlabelled windows, ``uses_target = True``), ``conformer``.
"""
from __future__ import annotations

from helo.model.baselines.amanda import Amanda
from helo.model.baselines.carat import CARAT
from helo.model.baselines.conformer import Conformer
from helo.model.baselines.pyldl_methods import AAKNN, CAD, LDLLRR, PTSVM, SACPNN, TLRLDL
from helo.model.baselines.rsm_ual import RSMUAL

BASELINES: dict[str, type] = {
    "pt-svm": PTSVM,
    "aa-knn": AAKNN,
    "sa-cpnn": SACPNN,
    "ldl-lrr": LDLLRR,
    "tlrldl": TLRLDL,
    "cad": CAD,
    "carat": CARAT,
    "rsm-ual": RSMUAL,
    "amanda": Amanda,
    "conformer": Conformer,
}

__all__ = ["BASELINES", "AAKNN", "Amanda", "CAD", "CARAT", "Conformer", "LDLLRR", "PTSVM",
           "RSMUAL", "SACPNN", "TLRLDL"]
