"""Stage ``feature-params``: each listed modality's extraction params as one small JSON file,
``data/params/features/<modality>.json``, which ``extract@<modality>`` depends on.

Why a stage: a DVC params dependency on ``features.<modality>`` fails ("Parameters ... are
missing from params.yaml") when that group does not exist, and a modality read from a generic
table (``hrv``, ``eye``: features computed elsewhere) has no feature parameters, so its user
should not have to write an empty group. This stage depends on the whole ``features`` group
and writes, per modality in ``features.modalities``, ``features.common`` merged with
``features.<modality>`` when there is one (:meth:`helo.stages.schema.Features.for_modality`,
exactly what the extraction uses), keys sorted. DVC compares the files by content, so changing
``features.eeg`` re-runs this cheap stage and ``extract@eeg`` only: every other modality's
file is byte-identical and its extraction stays up to date.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING

from helo.io import write_text
from helo.stages.common import FEATURE_PARAMS, config_of
from helo.stages.ownership import place

if TYPE_CHECKING:
    from helo.stages.schema import Params


def params_text(cfg: Params, modality: str) -> str:
    """The file's text for ``modality`` (sorted keys, so equal params give equal bytes)."""
    return json.dumps(config_of(cfg).features.for_modality(modality), indent=2, sort_keys=True,
                      default=str) + "\n"


def run(cfg: Params) -> dict:
    cfg = config_of(cfg)
    mods = list(cfg.features.modalities)
    out = place(FEATURE_PARAMS)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.json"):
        if old.stem not in mods:
            old.unlink()
    for m in mods:
        write_text(out / f"{m}.json", params_text(cfg, m))
    return {"modalities": mods, "folder": str(FEATURE_PARAMS)}
