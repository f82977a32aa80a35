"""The house rules, checked on the source: rooms import only rooms below them, no import cycles,
and every DVC stage depends on exactly the modules its command imports.

Imports are read with ``ast`` from the files (nothing is imported), lazy imports inside
functions included. ``helo/cli.py`` is the exception: it is the dispatcher of every command,
so only its module-level imports belong to a stage; the per-command imports inside its
functions belong to their commands. Dynamic imports by name are resolved by the tables that
drive them: a stage module (``helo.stages.<stage>``, imported by
:mod:`helo.orchestration.run`), a modality's feature module (``helo.features.<modality>``) and
a method's module (:data:`helo.model.registry.METHODS`).
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "helo"

#: rooms from the bottom up; a module may import its own room and the rooms below it
LAYERS = [["helo.io"], ["helo.data"], ["helo.features", "helo.synth"], ["helo.model"],
          ["helo.evaluation"], ["helo.stages"], ["helo.orchestration"], ["helo.cli"],
          ["helo.__main__"]]


def _modules() -> dict[str, Path]:
    out = {}
    for p in PKG.rglob("*.py"):
        rel = p.relative_to(ROOT).with_suffix("")
        parts = list(rel.parts[:-1]) if rel.name == "__init__" else list(rel.parts)
        out[".".join(parts)] = p
    return out


MODULES = _modules()


def _resolve(name: str) -> str | None:
    while name and name not in MODULES:
        if "." not in name:
            return None
        name = name.rsplit(".", 1)[0]
    return name or None


def imports_of(module: str, *, top_level_only: bool = False) -> set[str]:
    """helo modules ``module`` imports (with the packages whose ``__init__`` that runs)."""
    path = MODULES[module]
    tree = ast.parse(path.read_text())
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
    # importing a.b.c runs a/__init__ and a/b/__init__ first
    for m in list(found):
        parts = m.split(".")
        for i in range(1, len(parts)):
            parent = ".".join(parts[:i])
            if parent in MODULES and parent != module:
                found.add(parent)
    return found


def closure(entries: list[str]) -> set[str]:
    """Every helo module that importing ``entries`` runs (``helo.cli``: module level only)."""
    seen: set[str] = set()
    todo = list(entries)
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        todo.extend(imports_of(m, top_level_only=(m == "helo.cli")) - seen)
    return seen


def _layer(module: str) -> int:
    if module == "helo":
        return -1
    for i, rooms in enumerate(LAYERS):
        if any(module == r or module.startswith(r + ".") for r in rooms):
            return i
    raise AssertionError(f"{module} is in no room; add it to LAYERS in {__file__}")


def _room(module: str) -> str:
    return next((r for rooms in LAYERS for r in rooms
                 if module == r or module.startswith(r + ".")), "helo")


def test_rooms_import_only_rooms_below():
    bad = []
    for m in MODULES:
        for dep in imports_of(m):
            if dep == "helo" or _room(dep) == _room(m):
                continue
            if _layer(dep) >= _layer(m):
                bad.append(f"{m} imports {dep} ({_room(dep)} is not below {_room(m)})")
    assert not bad, "\n".join(sorted(bad))


def test_no_import_cycles():
    graph = {m: imports_of(m) for m in MODULES}
    state: dict[str, int] = {}
    cycles = []

    def visit(m, stack):
        state[m] = 1
        stack.append(m)
        for d in sorted(graph[m]):
            if d.startswith(m + "."):
                continue  # a package importing its own submodules
            if state.get(d) == 1:
                cycles.append(" -> ".join(stack[stack.index(d):] + [d]))
            elif d not in state:
                visit(d, stack)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [])
    assert not cycles, "\n".join(cycles)


# --------------------------------------------------------------------------- DVC dependencies

ENTRY = ["helo", "helo.cli", "helo.orchestration.run"]


def stage_items() -> dict[str, list[tuple[str, list[str]]]]:
    """Stage group -> [(item, entry modules)] for every item a foreach/matrix group can have
    (every modality and every method, not only those params.yaml lists now: a preset or
    ``-S`` may switch to others, and their code must already be in the stage's deps)."""
    from helo.data import LAYOUTS
    from helo.features import MODALITIES
    from helo.model.registry import METHODS, module_of
    methods = list(METHODS)
    readers = sorted({mod for mod, _ in LAYOUTS.values()})  # data.layout picks one by name
    extract = ENTRY + ["helo.stages.extract", "helo.orchestration.flow_extract"] + readers
    return {
        "synthesize": [("", ENTRY + ["helo.stages.synthesize"])],
        "labels": [("", extract)],
        "extract": [(m, extract + [f"helo.features.{m}"]) for m in MODALITIES],
        "assemble": [("", ENTRY + ["helo.stages.assemble"])],
        "evaluate": [(m, ENTRY + ["helo.stages.evaluate", "helo.orchestration.flow_evaluate",
                              module_of(m)]) for m in methods],
        "fit-final": [("", ENTRY + ["helo.stages.fit_final", module_of("helo")])],
        # the efficiency table builds every compared method's network by name
        "report": [("", ENTRY + ["helo.stages.report"] + sorted({module_of(m) for m in methods}))],
    }


def _path(module: str) -> str:
    return MODULES[module].relative_to(ROOT).as_posix()


def declared_code_deps(stage: dict, item: str) -> set[str]:
    out = set()
    for d in stage.get("deps", []):
        d = str(d).replace("${item}", item).replace("${item.method}", item)
        if d.startswith("helo/"):
            out.add(d)
    return out


def expected_deps(group: str) -> tuple[list[set[str]], set[str]]:
    """Per item its closure (as paths), and their union."""
    per_item = [{_path(m) for m in closure(entries)} for _, entries in stage_items()[group]]
    return per_item, set().union(*per_item)


@pytest.mark.parametrize("group", ["synthesize", "labels", "extract", "assemble", "evaluate",
                                   "fit-final", "report"])
def test_dvc_stage_deps_are_the_import_closure(group):
    """No stage misses a module its command imports, and none lists a module that no item of
    its group imports. DVC's templating cannot give each item of a foreach/matrix group its own
    list, so a group lists what is common to its items, the item's own module by template
    (``helo/features/${item}.py``), and modules that only some items use (the video modality's
    face and LBP-TOP modules; the methods' modules)."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    stage = stages[group]
    stage = stage.get("do", stage)
    per_item, union = expected_deps(group)
    items = [it for it, _ in stage_items()[group]]
    problems = []
    for item, want in zip(items, per_item):
        have = declared_code_deps(stage, item)
        missing = sorted(want - have)
        if missing:
            problems.append(f"{group}{'@' + item if item else ''} imports but does not depend "
                            f"on: {missing}")
        extra = sorted(have - union)
        if extra:
            problems.append(f"{group} depends on modules none of its commands imports: {extra}")
    if problems:
        common = set.intersection(*per_item)
        problems.append("expected deps (common to every item):\n      - " +
                        "\n      - ".join(sorted(common)) +
                        ("\n  used by some items only:\n      - " +
                         "\n      - ".join(sorted(union - common)) if union - common else ""))
    assert not problems, "\n".join(problems)


def test_stage_processes_import_torch_only_where_needed():
    """Readers, features, assembly, the mean predictor and the non-Keras PyLDL baselines import
    no PyTorch in their stage's process (a stage process pays its imports on every run)."""
    torch_modules = {m for m in MODULES if any(
        isinstance(n, (ast.Import, ast.ImportFrom)) and (
            (isinstance(n, ast.Import) and any(a.name.split(".")[0] == "torch" for a in n.names))
            or (isinstance(n, ast.ImportFrom) and (n.module or "").split(".")[0] == "torch"))
        for n in ast.parse(MODULES[m].read_text()).body)}
    items = stage_items()
    light = {"synthesize": items["synthesize"][0][1], "labels": items["labels"][0][1],
             "assemble": items["assemble"][0][1]}
    light.update({f"extract@{m}": e for m, e in items["extract"]})
    light.update({f"evaluate@{m}": e for m, e in items["evaluate"] if m in ("mean", "pt-svm", "tlrldl",
                                                                           "aa-knn")})
    heavy = {name: sorted(closure(entries) & torch_modules) for name, entries in light.items()}
    assert not any(heavy.values()), {k: v for k, v in heavy.items() if v}
