"""Each DVC stage's code dependencies: the modules its command imports inside ``helo/``.

A stage must re-run when, and only when, code it runs changes. The set of modules a stage's
command runs is its *import closure*: read statically with :mod:`ast` from the files (nothing is
imported), lazy imports inside functions included, with two rules:

* ``helo/cli.py`` dispatches every command, so only its module-level imports belong to a stage;
  the imports inside its command functions belong to their commands.
* Imports by name are resolved by the tables that drive them: a stage's module
  (``helo.stages.<stage>``, imported by :mod:`helo.orchestration.run`), a modality's feature
  module (``helo.features.<modality>``), a reader (:data:`helo.data.LAYOUTS`) and a method's
  module (:data:`helo.model.registry.METHODS`).

``helo code-deps`` (the first DVC stage, ``code-deps``, which depends on the whole ``helo/``
folder) writes one *digest* per stage command into ``codedeps/``: the closure's files, one per
line with its SHA-256 (``sha256sum`` format), e.g. ``codedeps/evaluate-carat.txt``. Every other
stage depends on its digest file instead of listing the modules. A digest's bytes change exactly
when a module in its closure changes (or the closure itself changes), so DVC re-runs exactly the
stages that run the changed code: editing one baseline re-runs that method's evaluate stages and
the report, nothing else. Digests are per method and per modality, which DVC's ``foreach`` /
``matrix`` templating could not give a listed-modules ``deps`` (it cannot template a list per item).

Why digests rather than listing the modules in ``dvc.yaml``: DVC rewrites ``dvc.lock`` after every
stage with a round-trip YAML parser (1.8-2.3 s per rewrite for a lock whose 1,500 listed code
modules made it 7,000 lines), which made a third of plain ``dvc repro``'s overhead on the
synthetic default; one digest per stage keeps the lock small and the dependencies exact.

Digests are written for every modality and method the code knows, not only those
``params.yaml`` lists now, so a preset or ``-S`` switching to another finds its digest ready.

The params schema (:mod:`helo.stages.schema`) holds every parameter's default, so a changed
default must re-run exactly the stages that read its group. Its file is therefore not hashed
whole: a digest holds one line per schema model of the groups its stage reads (:data:`READS`:
``data`` -> ``Data``, ``features`` -> ``Features`` and ``Common``, ...; always ``Params``, whose
accessors every stage calls), hashed from the model's source, e.g.
``<sha256>  helo/stages/schema.py:Evaluate``. The rest of the schema (the checks, which can only
refuse a run, and the registries they import) is in no digest.
"""
from __future__ import annotations

import ast
import hashlib
import re
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "helo"
#: where ``helo code-deps`` writes the digests (the ``code-deps`` stage's output)
OUT = "codedeps"
#: what every stage command imports first: the package, the CLI (module level) and the runner
ENTRY = ["helo", "helo.cli", "helo.orchestration.run"]
#: the params schema: in a digest as the models of the groups its stage reads, not as a file
SCHEMA = "helo.stages.schema"
#: the params groups each stage command reads (``cfg.<group>``), by digest name (``extract``:
#: every ``extract-<modality>``, ``evaluate``: every ``evaluate-<method>``)
READS: dict[str, tuple[str, ...]] = {
    "synthesize": ("data", "synth"),
    "labels": ("data", "orchestrator"),
    "extract": ("data", "features", "orchestrator"),
    "feature-params": ("features",),
    "method-params": ("evaluate", "model"),
    "assemble": ("data", "features", "assemble", "orchestrator"),
    "evaluate": ("evaluate", "model", "assemble", "orchestrator"),
    "fit-final": ("data", "features", "assemble", "evaluate", "model"),
    "report": ("data", "evaluate", "report", "model"),
}


@lru_cache(maxsize=None)
def modules() -> dict[str, Path]:
    """Every module of the package, dotted name -> file."""
    out = {}
    for p in sorted(PKG.rglob("*.py")):
        rel = p.relative_to(ROOT).with_suffix("")
        parts = list(rel.parts[:-1]) if rel.name == "__init__" else list(rel.parts)
        out[".".join(parts)] = p
    return out


def _resolve(name: str) -> str | None:
    mods = modules()
    while name and name not in mods:
        if "." not in name:
            return None
        name = name.rsplit(".", 1)[0]
    return name or None


def imports_of(module: str, *, top_level_only: bool = False) -> set[str]:
    """The helo modules ``module`` imports, with the packages whose ``__init__`` that runs."""
    return set(_imports_in(module, top_level_only, modules()[module].read_text()))


@lru_cache(maxsize=1024)
def _imports_in(module: str, top_level_only: bool, source: str) -> frozenset[str]:
    """:func:`imports_of` for a module's source text (cached on the text: the closures of all
    the stages share most modules, and an edited file is parsed again)."""
    path = modules()[module]
    tree = ast.parse(source)
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = set()
    base = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in nodes:
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                b = base
                for _ in range(node.level - 1):
                    b = b.rsplit(".", 1)[0]
                mod = b + ("." + node.module if node.module else "")
            else:
                mod = node.module or ""
            names = [mod] + [f"{mod}.{a.name}" for a in node.names]
        for n in names:
            if n == "helo" or n.startswith("helo."):
                r = _resolve(n)
                if r is not None and r != module:
                    found.add(r)
    for m in list(found):  # importing a.b.c runs a/__init__ and a/b/__init__ first
        parts = m.split(".")
        for i in range(1, len(parts)):
            parent = ".".join(parts[:i])
            if parent in modules() and parent != module:
                found.add(parent)
    return frozenset(found)


def closure(entries: list[str], opaque: tuple[str, ...] = ()) -> set[str]:
    """Every helo module that importing ``entries`` runs (``helo.cli``: module level only);
    the modules in ``opaque`` are left out, and so is what only they import."""
    seen: set[str] = set()
    todo = [m for m in entries if m not in opaque]
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        todo.extend(imports_of(m, top_level_only=(m == "helo.cli")) - seen - set(opaque))
    return seen


def reads(name: str) -> tuple[str, ...]:
    """The params groups digest ``name`` (``evaluate-carat``, ``extract-hrv``, ...) reads."""
    return READS.get(name) or READS[name.split("-", 1)[0]]


def schema_models(groups: tuple[str, ...]) -> list[str]:
    """The schema models that hold the defaults of ``groups``: :class:`Params` itself, the
    model each group's field names, and the models those name (fields, bases), sorted."""
    classes, params = _schema_classes()
    todo = [n for g in groups for n in params.get(g, ())]
    found = {"Params"}
    while todo:
        name = todo.pop()
        if name not in found:
            found.add(name)
            todo.extend(classes[name][1] - found)
    return sorted(found)


def _schema_classes() -> tuple[dict[str, tuple[str, frozenset[str]]], dict[str, tuple[str, ...]]]:
    """``({class: (source, classes it names)}, {Params field: classes its annotation names})``
    of the schema module, read with :mod:`ast`."""
    return _classes_in(modules()[SCHEMA].read_text())


@lru_cache(maxsize=8)
def _classes_in(source: str):
    tree = ast.parse(source)
    defs = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}

    def named(node) -> frozenset[str]:
        return frozenset(n.id for n in ast.walk(node) if isinstance(n, ast.Name) and n.id in defs)

    classes = {name: (ast.get_source_segment(source, node), named(node) - {name})
               for name, node in defs.items()}
    fields = {st.target.id: tuple(sorted(named(st.annotation)))
              for st in defs["Params"].body
              if isinstance(st, ast.AnnAssign) and isinstance(st.target, ast.Name)}
    return classes, fields


def stage_entries(modalities: tuple[str, ...] = ()) -> dict[str, list[str]]:
    """Digest name -> the modules its stage command imports by name (see module docstring).

    ``extract-<modality>`` and ``evaluate-<method>`` serve the items of the ``extract`` and
    ``evaluate`` stage groups; ``labels`` is ``helo extract --modality labels``. ``modalities``
    adds digests for modalities without a feature module (a generic table's own, e.g. ``hrv``,
    whose extraction only reads the table)."""
    from helo.data import LAYOUTS
    from helo.features import MODALITIES
    from helo.model.registry import METHODS, module_of
    readers = sorted({mod for mod, _ in LAYOUTS.values()})  # data.layout picks one by name
    extract = ENTRY + ["helo.stages.extract", "helo.orchestration.flow_extract"] + readers
    out = {"synthesize": ENTRY + ["helo.stages.synthesize"], "labels": extract}
    out.update({f"extract-{m}": extract + [f"helo.features.{m}"] for m in MODALITIES})
    out.update({f"extract-{m}": extract for m in modalities if m not in MODALITIES})
    out["feature-params"] = ENTRY + ["helo.stages.feature_params"]
    out["method-params"] = ENTRY + ["helo.stages.method_params"]
    out["assemble"] = ENTRY + ["helo.stages.assemble"]
    out.update({f"evaluate-{m}": ENTRY + ["helo.stages.evaluate",
                                          "helo.orchestration.flow_evaluate", module_of(m)]
                for m in METHODS})
    out["fit-final"] = ENTRY + ["helo.stages.fit_final", module_of("helo")]
    # the report's efficiency table builds every method's network by name
    out["report"] = ENTRY + ["helo.stages.report"] + sorted({module_of(m) for m in METHODS})
    return out


def path_of(module: str) -> str:
    return modules()[module].relative_to(ROOT).as_posix()


def digest(entries: list[str], groups: tuple[str, ...] = ()) -> str:
    """The closure of ``entries`` (the schema left out) as ``sha256sum`` lines sorted by path,
    then one line per schema model of ``groups`` (``<sha256>  helo/stages/schema.py:<Model>``,
    hashed from the model's source)."""
    lines = []
    for path in sorted(path_of(m) for m in closure(entries, opaque=(SCHEMA,))):
        lines.append(f"{hashlib.sha256((ROOT / path).read_bytes()).hexdigest()}  {path}")
    classes, _ = _schema_classes()
    for name in schema_models(groups):
        text = classes[name][0].encode()
        lines.append(f"{hashlib.sha256(text).hexdigest()}  {path_of(SCHEMA)}:{name}")
    return "\n".join(lines) + "\n"


def digests(modalities: tuple[str, ...] = ()) -> dict[str, str]:
    """Digest file name -> content, for every stage command."""
    return {f"{name}.txt": digest(entries, reads(name))
            for name, entries in stage_entries(modalities).items()}


def params_modalities(params_path: str | Path = "params.yaml") -> tuple[str, ...]:
    """``features.modalities`` of a params file (none when there is no such file)."""
    from helo.io import read_yaml
    try:
        params = read_yaml(Path(params_path).read_text()) or {}
    except FileNotFoundError:
        return ()
    mods = (params.get("features") or {}).get("modalities") or []
    bad = [m for m in mods if not isinstance(m, str)
           or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", m)]
    if bad:  # digest names become file names
        raise ValueError(f"{params_path}: features.modalities has names that are not "
                         f"identifiers: {bad}")
    return tuple(mods)


def stale(out: Path, modalities: tuple[str, ...] = ()) -> list[str]:
    """Digest files in ``out`` that are missing, differ from the code, or belong to nothing."""
    want = digests(modalities)
    have = {p.name for p in out.glob("*.txt")} if out.is_dir() else set()
    bad = [n for n, text in sorted(want.items())
           if n not in have or (out / n).read_text() != text]
    return bad + sorted(have - set(want))


def write(out: Path, modalities: tuple[str, ...] = ()) -> dict:
    """Write every digest into ``out`` (only the files whose bytes change; stale ones removed)."""
    from helo.io import write_text
    out.mkdir(parents=True, exist_ok=True)
    want = digests(modalities)
    changed = []
    for name, text in sorted(want.items()):
        target = out / name
        if not target.exists() or target.read_text() != text:
            write_text(target, text)
            changed.append(name)
    removed = sorted(p.name for p in out.glob("*.txt") if p.name not in want)
    for name in removed:
        (out / name).unlink()
    return {"digests": len(want), "changed": changed, "removed": removed}
