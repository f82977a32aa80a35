"""The house rules, checked on the source: rooms import only rooms below them, no import cycles,
and every DVC stage depends on exactly the modules its command imports.

Imports are read with ``ast`` from the files by :mod:`helo.orchestration.codedeps` (its
docstring gives the rules: lazy imports included, ``helo/cli.py`` at module level only, imports
by name resolved through the tables that drive them); one test cross-checks that reading against
what Python really imports.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from helo.orchestration import codedeps

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "helo"

#: rooms from the bottom up; a module may import its own room and the rooms below it
LAYERS = [["helo.cpu_kernels"], ["helo.io"], ["helo.data"], ["helo.features", "helo.synth"],
          ["helo.model"], ["helo.evaluation"], ["helo.stages"], ["helo.orchestration"],
          ["helo.cli"], ["helo.__main__"]]


MODULES = codedeps.modules()
imports_of = codedeps.imports_of
closure = codedeps.closure


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
            if m == "helo" and dep == "helo.cpu_kernels":
                continue  # the package pins the CPU kernels before anything else loads
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
#
# Each stage depends on one digest of the code its command runs, written by the code-deps stage
# (helo/orchestration/codedeps.py); these tests check that the digests are that code, that every
# stage depends on its own digest and on no module directly, and that the committed digests match
# the committed code (so the committed dvc.lock reproduces).

DIGEST_OF = {"synthesize": "codedeps/synthesize.txt", "labels": "codedeps/labels.txt",
             "feature-params": "codedeps/feature-params.txt",
             "method-params": "codedeps/method-params.txt",
             "extract": "codedeps/extract-${item}.txt", "assemble": "codedeps/assemble.txt",
             "evaluate": "codedeps/evaluate-${item.method}.txt",
             "fit-final": "codedeps/fit-final.txt", "report": "codedeps/report.txt"}


def _stages() -> dict:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def test_code_deps_stage_covers_the_whole_package():
    stage = _stages()["code-deps"]
    assert stage["cmd"] == "helo code-deps"
    assert stage["deps"] == ["helo"]
    assert [next(iter(o)) if isinstance(o, dict) else o for o in stage["outs"]] == ["codedeps"]


@pytest.mark.parametrize("group", sorted(DIGEST_OF))
def test_every_stage_depends_on_its_digest_and_lists_no_module(group):
    stage = _stages()[group]
    stage = stage.get("do", stage)
    deps = [str(d) for d in stage.get("deps", [])]
    assert DIGEST_OF[group] in deps, f"{group} must depend on {DIGEST_OF[group]}"
    assert not [d for d in deps if d.startswith("helo")], (
        f"{group} lists code directly; its code is its digest {DIGEST_OF[group]}")
    assert [d for d in deps if d.startswith("codedeps/")] == [DIGEST_OF[group]]


def test_digests_are_the_import_closures():
    """A digest lists exactly its command's import closure (the params schema left out), each
    file with its SHA-256, then the schema models of the params groups its stage reads."""
    entries = codedeps.stage_entries()
    schema = codedeps.path_of(codedeps.SCHEMA)
    for name, text in codedeps.digests().items():
        paths = [line.split("  ", 1)[1] for line in text.splitlines()]
        want = sorted(codedeps.path_of(m) for m in closure(entries[name[:-4]],
                                                            opaque=(codedeps.SCHEMA,)))
        models = [f"{schema}:{m}" for m in codedeps.schema_models(codedeps.reads(name[:-4]))]
        assert paths == want + models, name
        assert schema not in paths, name
    # one method's digest does not hold another method's module
    assert "helo/model/baselines/carat.py" in codedeps.digests()["evaluate-carat.txt"]
    assert "helo/model/baselines/carat.py" not in codedeps.digests()["evaluate-amanda.txt"]
    assert "helo/features/eeg.py" not in codedeps.digests()["extract-gsr.txt"]
    # a generic table's own modality: the extraction code without a feature module
    # (reading the features group, which the labels do not)
    own = codedeps.digests(("hrv",))["extract-hrv.txt"]
    files = [line for line in own.splitlines() if ".py:" not in line]
    assert files == [line for line in codedeps.digests()["labels.txt"].splitlines()
                     if ".py:" not in line]
    assert codedeps.reads("extract-hrv") == codedeps.reads("extract-eeg")


def test_committed_digests_match_the_code():
    bad = codedeps.stale(ROOT / codedeps.OUT, codedeps.params_modalities(ROOT / "params.yaml"))
    assert not bad, (f"stale digests {bad}: run `helo code-deps` (or dvc repro) and commit "
                     "codedeps/ with dvc.lock")


def test_a_changed_module_changes_exactly_the_digests_that_import_it(tmp_path):
    out = tmp_path / "codedeps"
    codedeps.write(out)
    assert codedeps.stale(out) == []
    text = (out / "evaluate-carat.txt").read_text()
    (out / "evaluate-carat.txt").write_text(text.replace(
        "helo/model/baselines/carat.py", "helo/model/baselines/amanda.py"))
    assert codedeps.stale(out) == ["evaluate-carat.txt"]
    (out / "evaluate-gone.txt").write_text("")
    assert codedeps.stale(out) == ["evaluate-carat.txt", "evaluate-gone.txt"]
    assert codedeps.write(out)["changed"] == ["evaluate-carat.txt"]
    assert codedeps.stale(out) == []


@pytest.fixture
def schema_copy(tmp_path, monkeypatch):
    """codedeps pointed at a copy of the package; the test edits the copy's schema.py."""
    import shutil
    shutil.copytree(ROOT / "helo", tmp_path / "helo",
                    ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(codedeps, "ROOT", tmp_path)
    monkeypatch.setattr(codedeps, "PKG", tmp_path / "helo")
    codedeps.modules.cache_clear()
    yield tmp_path / "helo" / "stages" / "schema.py"
    codedeps.modules.cache_clear()  # the real package again once monkeypatch restores it


def _changed(before: dict, after: dict) -> set[str]:
    return {n[:-4] for n in before if before[n] != after[n]}


@pytest.mark.parametrize("old, new, readers", [
    # evaluate.test_fraction: every evaluation, fit-final (evaluate.seed), the report
    ("test_fraction: float = Field(0.2,", "test_fraction: float = Field(0.3,",
     {"evaluate", "fit-final", "report", "method-params"}),
    ("alpha: float = Field(0.05,", "alpha: float = Field(0.01,", {"report"}),
    ("    seed: int = 0\n\n\nclass Common", "    seed: int = 1\n\n\nclass Common",
     {"synthesize"}),
    ('nan_policy: Literal["drop", "zero"] = "drop"', 'nan_policy: Literal["drop", "zero"] = "zero"',
     {"assemble", "evaluate", "fit-final"}),
    ("allow_partial: bool = False", "allow_partial: bool = True",
     {"labels", "extract", "assemble", "evaluate"}),
    ('    name: str = "dataset"', '    name: str = "data"',
     {"synthesize", "labels", "extract", "assemble", "fit-final", "report"}),
    # features.<modality> options go to the extractor as given: the schema's defaults of them
    # are used by no stage, and the checks can only refuse a run
    ("face_size: int = Field(128, gt=0)", "face_size: int = Field(96, gt=0)", set()),
    ("MAX_EPOCHS = 100_000", "MAX_EPOCHS = 50_000", set()),
])
def test_a_changed_schema_default_changes_exactly_the_digests_that_read_it(schema_copy, old, new,
                                                                           readers):
    before = codedeps.digests()
    text = schema_copy.read_text()
    assert text.count(old) == 1, old
    schema_copy.write_text(text.replace(old, new))
    changed = _changed(before, codedeps.digests())
    assert {n.split("-", 1)[0] if n.startswith(("extract-", "evaluate-")) else n
            for n in changed} == readers
    for group in ("evaluate", "extract"):  # every method's evaluation, every modality's
        if group in readers:
            assert {n for n in changed if n.startswith(f"{group}-")} == {
                n[:-4] for n in before if n.startswith(f"{group}-")}


def test_the_params_groups_each_stage_reads_cover_its_dvc_params():
    """Every top-level group a stage's ``params:`` in dvc.yaml names is one it reads
    (codedeps.READS), so its schema models are in its digest."""
    stages = _stages()
    names = {"synthesize": "synthesize", "labels": "labels", "extract": "extract",
             "feature-params": "feature-params", "method-params": "method-params",
             "assemble": "assemble", "evaluate": "evaluate", "fit-final": "fit-final",
             "report": "report"}
    for stage, digest_name in names.items():
        spec = stages[stage].get("do", stages[stage])
        groups = {str(p).split(".")[0] for p in spec.get("params", [])}
        assert groups <= set(codedeps.READS[digest_name]), (stage, groups)


@pytest.mark.parametrize("name", ["assemble", "extract-gsr", "evaluate-mean"])
def test_static_closure_holds_every_module_the_command_really_imports(name):
    """Cross-check of the static reading against Python itself: the helo modules present after
    importing a stage's entry modules are all in its digest (the static closure also holds
    lazy imports a run may need, so it may be larger)."""
    entries = codedeps.stage_entries()[name]
    code = ("import importlib, sys\n"
            f"for m in {entries!r}: importlib.import_module(m)\n"
            "print('\\n'.join(sorted(m for m in sys.modules if m == 'helo' or "
            "m.startswith('helo.'))))")
    got = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout.split()
    static = closure(entries)
    assert set(got) <= static, sorted(set(got) - static)
    assert len(got) >= 10


def test_stage_processes_import_torch_only_where_needed():
    """Readers, features, assembly, the mean predictor and the non-Keras PyLDL baselines import
    no PyTorch in their stage's process (a stage process pays its imports on every run)."""
    torch_modules = {m for m in MODULES if any(
        isinstance(n, (ast.Import, ast.ImportFrom)) and (
            (isinstance(n, ast.Import) and any(a.name.split(".")[0] == "torch" for a in n.names))
            or (isinstance(n, ast.ImportFrom) and (n.module or "").split(".")[0] == "torch"))
        for n in ast.parse(MODULES[m].read_text()).body)}
    light = {name: entries for name, entries in codedeps.stage_entries().items()
             if name in ("synthesize", "feature-params", "method-params", "labels", "assemble",
                         "evaluate-mean",
                         "evaluate-pt-svm", "evaluate-tlrldl", "evaluate-aa-knn")
             or name.startswith("extract-")}
    heavy = {name: sorted(closure(entries) & torch_modules) for name, entries in light.items()}
    assert not any(heavy.values()), {k: v for k, v in heavy.items() if v}


def test_dvc_ignores_what_differs_between_machines():
    """The feature store's records (absolute paths, mtimes), the warm server's socket and the
    stage runs' staging folders are never part of a dependency's hash, so a clone in another
    folder writes the same dvc.lock (asked of DVC itself)."""
    import os

    from helo.data.store import RECORDS
    paths = [f"data/features/{RECORDS}/eeg/1.json", ".helo/warm.sock",
             "outputs/.report.helo-run-0123abcd/report"]
    proc = subprocess.run([sys.executable, "-m", "dvc", "check-ignore", *paths], cwd=ROOT,
                          capture_output=True, text=True,
                          env={**os.environ, "DVC_NO_ANALYTICS": "1"})
    assert proc.stdout.split() == paths, proc.stdout + proc.stderr
