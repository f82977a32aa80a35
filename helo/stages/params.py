"""The params file's plumbing: reading ``params.yaml``, ``-S`` dotted overrides, named presets,
and :func:`load_config`, the one loader that turns them into the validated, typed
:class:`helo.stages.schema.Params` every stage reads.

The raw mapping functions here (:func:`load`, :func:`get`, :func:`set_dotted`, :func:`merge`,
:func:`merge_text`) serve the edges that handle the file as text or as a mapping: writing
params.yaml (presets, ``helo tune``, the ``helo`` flow's parameters) and the overrides
themselves. Stages never read a raw mapping: they take the ``Params`` from :func:`load_config`.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import yaml

from helo.io import read_yaml, write_text

if TYPE_CHECKING:
    from helo.stages.schema import Params

PRESETS_DIR = Path(__file__).resolve().parents[1] / "presets"


def load_config(path: str | Path = "params.yaml", overrides: Iterable[str] = (), *,
                allow_partial: bool = False) -> Params:
    """``path`` with the ``-S`` ``overrides`` (``key.path=value``, value read as YAML) applied,
    and ``orchestrator.allow_partial`` set when ``allow_partial`` (``--allow-partial``),
    validated against the schema: the typed parameters of one run. Raises
    :class:`helo.stages.schema.ParamsError` listing every problem."""
    from helo.stages.schema import validate
    params = load(path)
    for text in overrides or ():
        key, value = parse_override(text)
        set_dotted(params, key, value)
    if allow_partial:
        set_dotted(params, "orchestrator.allow_partial", True)
    return validate(params, source=str(path))


def load(path: str | Path = "params.yaml") -> dict:
    """The params file as a raw mapping (for the edges that rewrite it; stages use
    :func:`load_config`)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run helo from the project folder, or pass "
                                f"--params PATH")
    return read_yaml(path.read_text()) or {}


def get(params: dict, dotted: str, default: Any = None) -> Any:
    """The value at ``dotted`` in a raw mapping, ``default`` when absent: for comparing a flow's
    overrides with the file it rewrites, never for a stage's reads."""
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


#: mappings a preset replaces whole instead of merging into: a method's settings per protocol
#: (``model.<method>.by_protocol``) are one search's outcome each, never a mix of two data sets'
REPLACED_WHOLE = ("by_protocol", "settings_notes")


def merge(base: dict, over: dict) -> dict:
    """``over`` merged into a copy of ``base``, mapping by mapping (a key of
    :data:`REPLACED_WHOLE` is replaced, not merged)."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict) and k not in REPLACED_WHOLE:
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
    over = read_yaml(found[name].read_text()) or {}
    merged = merge(load(params_path), over)
    write_text(params_path, merge_text(Path(params_path).read_text(), over))
    return merged


def merge_text(text: str, over: dict) -> str:
    """``text`` (a params.yaml) with the values of ``over`` merged in, comments, key order and
    layout kept (ruamel.yaml's round trip; a replaced list is written in flow style,
    ``[a, b]``, like the file's own)."""
    import io

    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    rt = YAML()  # round-trip mode
    rt.preserve_quotes = True
    rt.width = 4096
    rt.representer.add_representer(  # keep the file's spelling of null
        type(None), lambda r, _: r.represent_scalar("tag:yaml.org,2002:null", "null"))
    doc = rt.load(text) or CommentedMap()

    def plain(v):
        if isinstance(v, dict):
            m = CommentedMap()
            for k, x in v.items():
                m[k] = plain(x)
            m.fa.set_flow_style()
            return m
        if isinstance(v, list):
            seq = CommentedSeq(plain(x) for x in v)
            seq.fa.set_flow_style()
            return seq
        return v

    def into(node, o):
        for k, v in o.items():
            if isinstance(v, dict) and isinstance(node.get(k), dict) and k not in REPLACED_WHOLE:
                into(node[k], v)
            else:
                node[k] = plain(v)

    into(doc, over)
    buf = io.StringIO()
    rt.dump(doc, buf)
    return buf.getvalue()
