"""A generator's size preset with the caller's overrides: what every synthetic generator's
``preset=`` / ``**overrides`` mean, checked the same way."""
from __future__ import annotations

import copy


def preset_config(presets: dict[str, dict], common: dict, preset: str, overrides: dict) -> dict:
    """``common`` updated by ``presets[preset]`` and then by ``overrides`` (deep copies). An
    unknown preset name or an override that names no key of the preset is a ``ValueError``
    listing what exists."""
    if preset not in presets:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(presets)}")
    cfg = copy.deepcopy(common)
    cfg.update(copy.deepcopy(presets[preset]))
    unknown = set(overrides) - set(cfg)
    if unknown:
        raise ValueError(f"unknown override(s) {sorted(unknown)}; known: {sorted(cfg)}")
    cfg.update(copy.deepcopy(overrides))
    return cfg
