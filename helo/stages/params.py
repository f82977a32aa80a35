"""The params file's plumbing: reading ``params.yaml``, ``-S`` dotted overrides, named presets,
and :func:`load_config`, the one loader that turns them into the validated, typed
:class:`helo.stages.schema.Params` every stage reads.

The raw mapping functions here (:func:`load`, :func:`get`, :func:`set_dotted`, :func:`merge`,
:func:`merge_text`, :func:`edit_text`) serve the edges that handle the file as text or as a
mapping: writing params.yaml (presets, ``helo tune``, the ``helo`` flow's parameters) and the
overrides themselves. Stages never read a raw mapping: they take the ``Params`` from
:func:`load_config`. A preset (``helo/presets/NAME.yaml``) is applied by :func:`apply_preset`,
whose docstring has the rule that makes its outcome independent of the preset before it.
"""
from __future__ import annotations

import copy
import math
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
        _warn_if_shadowed(params, key)
    if allow_partial:
        set_dotted(params, "orchestrator.allow_partial", True)
    return validate(params, source=str(path))


def _warn_if_shadowed(params: dict, key: str) -> None:
    """Warn when an override of a method's shared setting (``model.<m>.<k>``) is overridden in
    turn by per-protocol blocks (``model.<m>.by_protocol.<p>.<k>``): under those protocols the
    block's value is used, so the override changes nothing there."""
    parts = key.split(".")
    if len(parts) != 3 or parts[0] != "model":
        return
    method, option = parts[1], parts[2]
    blocks = ((params.get("model") or {}).get(method) or {}).get("by_protocol") or {}
    under = sorted(p for p, block in blocks.items() if isinstance(block, dict) and option in block)
    if under:
        import warnings
        warnings.warn(f"-S {key}: under {', '.join(under)} the tuned "
                      f"model.{method}.by_protocol.<protocol>.{option} is used instead; set "
                      f"-S model.{method}.by_protocol.<protocol>.{option}=... to change it there",
                      stacklevel=3)


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


#: mappings that belong to one data set: a method's settings per protocol
#: (``model.<method>.by_protocol``, one search's outcome each) and the report's notes on where the
#: settings came from. A preset replaces them whole instead of merging into them (never a mix of
#: two data sets'), and one that leaves them out clears them (:func:`apply_preset`)
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


#: the preset of the project's default data set (what the committed params.yaml holds): the value
#: a key takes when the preset applied leaves it out (see :func:`apply_preset`)
DEFAULT_PRESET = "synth-dmer"


def _is_group(parts: tuple[str, ...]) -> bool:
    """Whether the key at ``parts`` is a group of settings (a preset's mapping there is merged
    key by key) rather than one value (replaced whole): the schema's groups (``data``,
    ``data.label_rule``, ``features.<modality>``, ...), ``model`` and each ``model.<method>``.
    A mapping that is a value -- ``features.eeg.bands``, ``report.settings_notes``, a method's
    option such as ``by_protocol`` -- is a leaf."""
    from pydantic import BaseModel

    from helo.stages import schema
    if parts[:1] == ("model",):
        return len(parts) <= 2
    node: type[BaseModel] = schema.Params
    for part in parts:
        field = node.model_fields.get(part)
        if field is None and node is schema.Features:  # features.<modality>
            node = schema.MODALITY_GROUPS.get(part, schema._Modality)
            continue
        ann = getattr(field, "annotation", None)
        if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
            return False
        node = ann
    return True


def preset_keys(over: dict, _at: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    """The keys a preset mapping sets, at leaf level (:func:`_is_group`), with their values."""
    out: dict[tuple[str, ...], Any] = {}
    for k, v in over.items():
        parts = (*_at, str(k))
        if isinstance(v, dict) and _is_group(parts):
            out.update(preset_keys(v, parts))
        else:
            out[parts] = v
    return out


#: :func:`preset_changes`' mark of a key to remove from params.yaml
REMOVE = object()


def _read_preset(name: str) -> dict:
    found = presets()
    if name not in found:
        raise ValueError(f"unknown preset {name!r}; available: {sorted(found)}")
    return read_yaml(found[name].read_text()) or {}


def preset_changes(name: str) -> dict[tuple[str, ...], Any]:
    """What applying preset ``name`` does (see :func:`apply_preset`): for every key that any
    preset sets, at leaf level (:func:`preset_keys`), and every method's
    ``model.<method>.by_protocol``, the value it takes -- the preset's, else the default
    preset's (:data:`DEFAULT_PRESET`; never for a key of :data:`REPLACED_WHOLE`), else
    :data:`REMOVE` (the key leaves params.yaml, so the schema's, the extractor's or the
    learner's default applies)."""
    from helo.model.registry import METHODS
    every = {k: None for n in presets() for k in preset_keys(_read_preset(n))}
    every.update({("model", m, "by_protocol"): None for m in METHODS})
    own = preset_keys(_read_preset(name))
    default = preset_keys(_read_preset(DEFAULT_PRESET))
    return {k: own[k] if k in own else REMOVE if k[-1] in REPLACED_WHOLE else
            default.get(k, REMOVE) for k in every}


def apply_preset(name: str, params_path: str | Path = "params.yaml") -> dict:
    """Apply preset ``name`` to ``params_path`` and return the result (checked against the
    schema first, then written atomically; comments, key order and layout kept).

    A preset states a data set's settings, never a patch over the previous preset's: every key
    that *any* preset sets (at leaf level: a value inside a group, such as
    ``features.video.face_size``, ``model.helo.d`` or a whole ``features.eeg.bands``) takes this
    preset's value; one it leaves out takes the default preset's (:data:`DEFAULT_PRESET`,
    ``synth-dmer``, which states each of these keys the committed params.yaml holds), and one
    that preset does not state either leaves the file, so its default applies (the schema's,
    the extractor's or the learner's). The result is the same whatever preset was applied
    before; keys no preset sets stay as they are.

    A data set's own mappings (:data:`REPLACED_WHOLE`) are replaced whole, and a preset that
    leaves them out clears them without falling back on the default preset's: a
    ``model.<method>.by_protocol`` tuned on one data set never follows a switch to another (no
    per-protocol settings; the default preset's blocks come only with the default preset), nor
    does ``report.settings_notes``."""
    changes = preset_changes(name)
    load(params_path)  # a missing file: the usual message
    new_text = edit_text(Path(params_path).read_text(), changes)
    result = read_yaml(new_text) or {}
    from helo.stages.schema import validate
    validate(result, source=f"{params_path} with preset {name}")
    write_text(params_path, new_text)
    return result


def _float(representer, x: float):
    """A float as PyYAML (YAML 1.1, what the stages read with) reads it back: always with a dot
    before the exponent (``1.0e-05``; ``1e-05`` would read as text)."""
    if math.isnan(x) or math.isinf(x):
        text = ".nan" if math.isnan(x) else (".inf" if x > 0 else "-.inf")
    else:
        text = repr(float(x))
        if "e" in text and "." not in text.split("e")[0]:
            mantissa, exponent = text.split("e")
            text = f"{mantissa}.0e{exponent}"
    return representer.represent_scalar("tag:yaml.org,2002:float", text)


def _round_trip():
    """ruamel.yaml's round trip as params.yaml is written: comments, key order and layout kept,
    the file's spelling of null, floats PyYAML reads back, no line wrapping."""
    from ruamel.yaml import YAML

    rt = YAML()  # round-trip mode
    rt.preserve_quotes = True
    rt.width = 4096
    rt.representer.add_representer(  # keep the file's spelling of null
        type(None), lambda r, _: r.represent_scalar("tag:yaml.org,2002:null", "null"))
    rt.representer.add_representer(float, _float)
    return rt


def _node(v):
    """``v`` as ruamel nodes laid out like the file's own: lists and mappings of values on one
    line (``[a, b]``, ``{a: 1}``), a mapping of mappings (``by_protocol``) one key a line."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    if isinstance(v, dict):
        m = CommentedMap()
        for k, x in v.items():
            m[k] = _node(x)
        if any(isinstance(x, dict) for x in v.values()):
            m.fa.set_block_style()
        else:
            m.fa.set_flow_style()
        return m
    if isinstance(v, list):
        seq = CommentedSeq(_node(x) for x in v)
        seq.fa.set_flow_style()
        return seq
    return v


def _flow_style(node) -> bool:
    return getattr(node, "fa", None) is not None and node.fa.flow_style()


def _dump(rt, doc) -> str:
    import io
    buf = io.StringIO()
    rt.dump(doc, buf)
    return buf.getvalue()


def merge_text(text: str, over: dict) -> str:
    """``text`` (a params.yaml) with the values of ``over`` merged in, comments, key order and
    layout kept (ruamel.yaml's round trip; a replaced list is written in flow style,
    ``[a, b]``, like the file's own)."""
    from ruamel.yaml.comments import CommentedMap

    rt = _round_trip()
    doc = rt.load(text) or CommentedMap()

    def into(node, o):
        for k, v in o.items():
            if isinstance(v, dict) and isinstance(node.get(k), dict) and k not in REPLACED_WHOLE:
                into(node[k], v)
            else:
                node[k] = _node(v)

    into(doc, over)
    return _dump(rt, doc)


def _same(a: Any, b: Any) -> bool:
    """Equal and spelt alike in YAML (``1`` is not ``1.0``, ``true`` not ``1``)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def _at(mapping: Any, parts: tuple[str, ...]) -> tuple[bool, Any]:
    """``(True, value)`` at ``parts`` in nested mappings, ``(False, None)`` when absent."""
    for part in parts:
        if not isinstance(mapping, dict) or part not in mapping:
            return False, None
        mapping = mapping[part]
    return True, mapping


def _comment_column(text: str) -> int | None:
    """The column most end-of-line comments of ``text`` start at (None: it has none)."""
    import collections
    import re
    found = collections.Counter(
        len(m.group(1)) for m in re.finditer(r"^(\s*[^\s#][^#\n]*?\s+)#", text, re.M))
    return found.most_common(1)[0][0] if found else None


def _align_comment(mapping, key: str, column: int | None) -> None:
    """Start the end-of-line comment on ``key``'s line at ``column`` (one space after a value
    that reaches past it), so that a value changed back restores the line as it was."""
    if column is None:
        return
    tokens = [(mapping.ca.items.get(key) or [None] * 3)[2]]
    if getattr(mapping[key], "ca", None) is not None and mapping[key].ca.comment:
        tokens.append(mapping[key].ca.comment[0])  # a flow mapping's copy of its line's comment
    for token in tokens:
        if token is not None and token.value.startswith("#"):
            token.column = column


def edit_text(text: str, changes: dict[tuple[str, ...], Any]) -> str:
    """``text`` (a params.yaml) with each key of ``changes`` (a tuple of its parts) set to its
    value, or removed where the value is :data:`REMOVE`: comments, key order and layout kept
    (ruamel.yaml's round trip). A key that already holds the value is left as written; a new
    value is laid out like the file's own (:func:`_node`; a mapping of mappings joins a
    one-line group on its line, as ``helo tune`` writes its blocks), and the end-of-line
    comment of a line that changes starts at the file's usual comment column."""
    from ruamel.yaml.comments import CommentedMap

    rt = _round_trip()
    doc = rt.load(text) or CommentedMap()
    plain = read_yaml(text) or {}
    column = _comment_column(text)
    for parts, value in changes.items():
        present, now = _at(plain, parts)
        if (not present) if value is REMOVE else (present and _same(now, value)):
            continue
        node, path = doc, []
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = _node({})
            elif not node[part]:
                node[part].fa.set_flow_style()  # `{}` takes its first key on the same line
            path.append((node, part))
            node = node[part]
        if value is REMOVE:
            del node[parts[-1]]
        else:
            node[parts[-1]] = new = _node(value)
            _align_comment(node, parts[-1], column)
            if isinstance(new, dict) and not _flow_style(new) and _flow_style(node):
                new.fa.set_flow_style()  # a one-line group keeps its line: the block joins it
        for mapping, key in path:  # a group on one line: that line changed
            if _flow_style(mapping[key]):
                _align_comment(mapping, key, column)
    return _dump(rt, doc)
