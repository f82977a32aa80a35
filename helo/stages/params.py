"""Reading ``params.yaml``, dotted overrides, and named presets."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from helo.io import write_text

PRESETS_DIR = Path(__file__).resolve().parents[1] / "presets"


def load(path: str | Path = "params.yaml") -> dict:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run helo from the project folder, or pass "
                                f"--params PATH")
    return yaml.safe_load(path.read_text()) or {}


def get(params: dict, dotted: str, default: Any = None) -> Any:
    node = params
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


def set_dotted(params: dict, dotted: str, value: Any) -> None:
    node = params
    parts = dotted.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def parse_override(text: str) -> tuple[str, Any]:
    """``a.b=value`` with value parsed as YAML (so numbers, booleans and lists work)."""
    if "=" not in text:
        raise ValueError(f"override {text!r} is not of the form key.path=value")
    key, raw = text.split("=", 1)
    return key.strip(), yaml.safe_load(raw)


def merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def presets() -> dict[str, Path]:
    return {p.stem: p for p in sorted(PRESETS_DIR.glob("*.yaml"))}


def apply_preset(name: str, params_path: str | Path = "params.yaml") -> dict:
    """Merge preset ``name`` into ``params_path`` (written atomically) and return the result."""
    found = presets()
    if name not in found:
        raise ValueError(f"unknown preset {name!r}; available: {sorted(found)}")
    over = yaml.safe_load(found[name].read_text()) or {}
    merged = merge(load(params_path), over)
    write_text(params_path, yaml.safe_dump(merged, sort_keys=False))
    return merged
