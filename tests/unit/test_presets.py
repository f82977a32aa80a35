"""`helo preset NAME`: a preset's outcome does not depend on the preset applied before it, the
default preset restores the committed params.yaml (values, comments and layout), and the
rule's parts: leaf keys, the default preset's values, per-protocol blocks, the file's text."""
from __future__ import annotations

import difflib
import functools
import shutil
from pathlib import Path

import pytest

from helo.io import read_yaml
from helo.stages import params as P
from helo.stages.schema import ParamsError, validate

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "params.yaml"
NAMES = sorted(P.presets())


@functools.lru_cache(maxsize=None)
def _direct(name: str) -> str:
    """The text of the committed params.yaml with preset ``name`` applied (through the same
    path ``helo preset`` takes)."""
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "params.yaml"
        shutil.copy(SHIPPED, path)
        P.apply_preset(name, path)
        return path.read_text()


def _diff(want: str, got: str) -> str:
    return "".join(difflib.unified_diff(want.splitlines(True), got.splitlines(True),
                                        "want", "got", n=1))


@pytest.mark.parametrize("first", NAMES)
def test_a_preset_gives_the_same_values_whatever_came_before(first, tmp_path):
    """For every ordered pair (A, B): A then B equals B alone over every key (comments aside),
    and the result fits the schema. B = the default preset gives back the committed file, text
    and all; its values on every key a preset sets are the committed ones."""
    path = tmp_path / "params.yaml"
    shutil.copy(SHIPPED, path)
    P.apply_preset(first, path)
    after_first = path.read_text()
    shipped = read_yaml(SHIPPED.read_text())
    for then in NAMES:
        path.write_text(after_first)
        got = P.apply_preset(then, path)
        assert got == read_yaml(path.read_text())  # what it returns is what it wrote
        want = read_yaml(_direct(then))
        assert got == want, f"{first} then {then} differs from {then} alone"
        validate(got, source=f"{first} then {then}")
        if then == P.DEFAULT_PRESET:
            for key in P.preset_changes(then):
                assert P._at(got, key) == P._at(shipped, key), ".".join(key)
            assert path.read_text() == SHIPPED.read_text(), (
                f"{first} then {then} does not give back the committed params.yaml (an "
                f"end-of-line comment off the file's usual column moves; a key the committed "
                f"file holds and {then} does not state leaves it):\n"
                + _diff(SHIPPED.read_text(), path.read_text()))


def test_the_default_preset_states_every_preset_key_the_committed_file_holds():
    """Else applying it would drop that key from params.yaml (per-protocol blocks too: when
    params.yaml holds tuned ``by_protocol`` blocks, the default preset carries the same)."""
    shipped = read_yaml(SHIPPED.read_text())
    default = P.preset_keys(read_yaml(P.presets()[P.DEFAULT_PRESET].read_text()))
    for key in P.preset_changes(P.DEFAULT_PRESET):
        if P._at(shipped, key)[0]:
            assert key in default, (f"{'.'.join(key)} is in params.yaml but not in "
                                    f"{P.DEFAULT_PRESET}.yaml")


def test_switching_data_sets_leaves_nothing_of_the_previous_one(tmp_path):
    """The cases that leaked when a preset was merged into the file."""
    path = tmp_path / "params.yaml"
    shutil.copy(SHIPPED, path)
    P.apply_preset("paper-dmer", path)
    got = P.apply_preset("synth-wesad", path)
    default = read_yaml(P.presets()[P.DEFAULT_PRESET].read_text())
    for key in ("d", "tokens", "ot_iter", "weight_decay", "dropout"):
        assert got["model"]["helo"][key] == default["model"]["helo"][key]
    assert "settings_notes" not in got["report"]
    assert got["features"]["ppg"]["cardiac"] is True
    assert got["features"]["video"] == read_yaml(SHIPPED.read_text())["features"]["video"]
    # the WESAD preset's own tuned blocks, nothing of the DMER default's
    wesad = read_yaml(P.presets()["synth-wesad"].read_text())["model"]
    assert {m: opts.get("by_protocol") for m, opts in got["model"].items()} == {
        m: (wesad.get(m) or {}).get("by_protocol") for m in got["model"]}
    P.apply_preset("synth-seed", path)
    got = P.apply_preset("paper-dmer", path)
    assert got["features"]["common"] == {"step_s": 1.0, "longest_window_s": 5.0}
    assert got["data"]["labels"] == "auto" and got["data"]["task"] is None
    P.apply_preset("seed-iv", path)  # its bands hold delta; DEAP's do not
    got = P.apply_preset("deap", path)
    assert got["features"]["eeg"]["bands"] == read_yaml(
        P.presets()["deap"].read_text())["features"]["eeg"]["bands"]


@pytest.fixture
def toy_presets(tmp_path, monkeypatch):
    """Three presets of a toy project: ``synth-dmer`` (the default, with a tuned block),
    ``paper`` and ``other``."""
    folder = tmp_path / "presets"
    folder.mkdir()
    (folder / "synth-dmer.yaml").write_text(
        "data: {name: toy, labels: auto}\n"
        "model: {helo: {d: 64, by_protocol: {loso: {lr: 0.002}}}}\n")
    (folder / "paper.yaml").write_text(
        "data: {name: paper, label_smoothing: 0.1}\n"
        "features: {eeg: {bands: {theta: [4, 7], alpha: [8, 13]}}}\n"
        "model: {helo: {d: 128, tokens: 8}, aa-knn: {by_protocol: {loso: {k: 3}}}}\n"
        "report: {settings_notes: {helo: the paper's}}\n")
    (folder / "other.yaml").write_text("data: {name: other, labels: circumplex}\n"
                                       "features: {eeg: {bands: {delta: [1, 4]}}}\n")
    monkeypatch.setattr(P, "PRESETS_DIR", folder)
    path = tmp_path / "params.yaml"
    path.write_text(
        "# the toy project\n"
        "data:\n"
        "  name: toy            # a label\n"
        "  labels: auto         # what labels are\n"
        "  task: null           # no preset sets it: left alone\n"
        "features:\n"
        "  eeg: {window_s: 1.0}\n"
        "model:\n"
        "  helo:                # the model\n"
        "    d: 64\n"
        "    lambda_cc: 1.0     # no preset sets it: left alone\n"
        "  aa-knn: {k: 5}       # neighbours\n")
    return path


def test_the_rule_on_a_toy_project(toy_presets):
    path = toy_presets
    start = path.read_text()
    got = P.apply_preset("paper", path)
    assert got["data"] == {"name": "paper", "labels": "auto", "task": None,
                           "label_smoothing": 0.1}
    assert got["model"]["helo"] == {"d": 128, "tokens": 8, "lambda_cc": 1.0}
    assert got["model"]["aa-knn"] == {"k": 5, "by_protocol": {"loso": {"k": 3}}}
    assert got["report"] == {"settings_notes": {"helo": "the paper's"}}

    got = P.apply_preset("other", path)
    # a key only another preset sets: the default preset's value, else out of the file
    assert got["data"] == {"name": "other", "labels": "circumplex", "task": None}
    assert got["model"]["helo"] == {"d": 64, "lambda_cc": 1.0}
    # a band set is one value: replaced, never merged with the previous preset's bands
    assert got["features"]["eeg"] == {"window_s": 1.0, "bands": {"delta": [1, 4]}}
    # a data set's own blocks and notes leave with it, without falling back on the default's
    assert got["model"]["aa-knn"] == {"k": 5} and got["report"] == {}

    got = P.apply_preset("synth-dmer", path)
    assert got["model"]["helo"] == {"d": 64, "lambda_cc": 1.0,
                                    "by_protocol": {"loso": {"lr": 0.002}}}
    assert "bands" not in got["features"]["eeg"]
    text = path.read_text()
    for comment in ("# the toy project", "# a label", "# no preset sets it: left alone",
                    "# the model", "# neighbours"):
        assert comment in text
    assert "  aa-knn: {k: 5}       # neighbours\n" in text  # its line and comment kept
    assert "    by_protocol:\n      loso: {lr: 0.002}\n" in text  # as helo tune writes blocks
    assert read_yaml(text) == {**read_yaml(start), "model": got["model"], "report": {}}


def test_a_preset_whose_result_does_not_fit_the_schema_writes_nothing(toy_presets):
    path = toy_presets
    P.PRESETS_DIR.joinpath("bad.yaml").write_text("data: {labels: nonsense}\n")
    before = path.read_text()
    with pytest.raises(ParamsError, match="data.labels"):
        P.apply_preset("bad", path)
    assert path.read_text() == before


def test_an_unknown_preset_is_named():
    with pytest.raises(ValueError, match="unknown preset 'nope'"):
        P.preset_changes("nope")


def test_written_floats_read_back_as_numbers():
    """PyYAML (YAML 1.1, what the stages read with) takes ``1e-05`` for text."""
    text = P.edit_text("model:\n  helo: {lr: 0.001}\n",
                       {("model", "helo", "lr"): 1e-05, ("model", "helo", "ot_eps"): 2.5e-07})
    assert read_yaml(text) == {"model": {"helo": {"lr": 1e-05, "ot_eps": 2.5e-07}}}
