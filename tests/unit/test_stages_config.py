"""The typed configuration: one loader (params.yaml + ``-S`` overrides -> validated ``Params``),
attribute reads everywhere, a misspelt attribute an error, and each method's options checked
against the keys its learner accepts."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from helo.stages.method_options import METHOD_OPTIONS
from helo.stages.params import load, load_config, presets
from helo.stages.schema import Params, ParamsError, validate

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "helo"
#: the loader: the one module that may read the raw mapping by dotted keys
LOADER = PKG / "stages" / "params.py"

#: dotted-string reads of params: ``P.get(...)``, ``get(params, "a.b")``,
#: ``params.get("a.b")`` / ``cfg.get("a.b")``, and the ``params as P`` import
DOTTED_READS = [
    re.compile(r"\bP\.get\("),
    re.compile(r"\bget\(\s*(params|cfg|p)\s*,\s*f?[\"'][A-Za-z_]+\.[A-Za-z_.{}]+[\"']"),
    re.compile(r"\b(params|cfg|config)\.get\(\s*f?[\"'][A-Za-z_]+\.[A-Za-z_.{}]+[\"']"),
    re.compile(r"import\s+params\s+as\s+P\b|\bparams\s+as\s+P\b"),
]


def test_no_dotted_params_reads_outside_the_loader():
    found = []
    for path in sorted(PKG.rglob("*.py")):
        if path == LOADER:
            continue
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if any(rx.search(line) for rx in DOTTED_READS):
                found.append(f"{path.relative_to(ROOT)}:{i}: {line.strip()}")
    assert not found, "read the typed Params (cfg.<group>.<key>) instead:\n" + "\n".join(found)


def test_nothing_turns_a_misspelt_attribute_into_a_default():
    """``getattr(cfg, name, default)`` or ``except AttributeError`` in a module that reads the
    parameters would make a misspelling silently take a default again."""
    found = []
    for path in sorted(PKG.rglob("*.py")):
        text = path.read_text()
        if not re.search(r"\bcfg\.", text):  # reads no parameters
            continue
        for i, line in enumerate(text.splitlines(), 1):
            if re.search(r"getattr\(\s*(cfg|params|ev|orch|settings)\b|except\s*\(?[^:]*"
                         r"AttributeError", line):
                found.append(f"{path.relative_to(ROOT)}:{i}: {line.strip()}")
    assert not found, "\n".join(found)


def test_a_misspelt_attribute_is_an_error():
    cfg = load_config(ROOT / "params.yaml")
    assert cfg.evaluate.test_fraction == 0.2
    with pytest.raises(AttributeError, match="test_fractoin"):
        cfg.evaluate.test_fractoin
    with pytest.raises(AttributeError):
        cfg.evaluat
    with pytest.raises(AttributeError):
        cfg.report.confidenc


def test_the_loader_applies_overrides_and_fills_every_default(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("data: {layout: dmer-raw, root: data/raw/synth}\n")
    cfg = load_config(path, ["evaluate.test_fraction=0.3", "model.helo.epochs=2"],
                      allow_partial=True)
    assert isinstance(cfg, Params)
    assert cfg.evaluate.test_fraction == 0.3 and cfg.method_options("helo") == {"epochs": 2}
    assert cfg.orchestrator.allow_partial is True
    # every default from the schema
    assert cfg.data.name == "dataset" and cfg.report.alpha == 0.05 and cfg.tune.trials == 10
    assert cfg.orchestrator.task_runner == "processes" and cfg.orchestrator.workers == 2
    assert cfg.method_options("carat") == {} and not cfg.has_method("carat")
    with pytest.raises(ParamsError, match="evaluate.test_fraction"):
        load_config(path, ["evaluate.test_fraction=2"])


def test_options_handed_on_are_copies_as_given():
    """``model.<method>`` and ``features.<modality>`` go to learners and extractors as given:
    no defaults added (the DVC-tracked feature params stay byte-identical), no coercion
    (``step_s: 1`` stays an int), and a caller's edit does not change the configuration."""
    raw = load(ROOT / "params.yaml")
    raw["features"]["common"]["step_s"] = 1
    cfg = validate(raw)
    video = cfg.features.for_modality("video")
    assert video == {**raw["features"]["common"], **raw["features"]["video"]}
    assert type(video["step_s"]) is int
    assert cfg.features.for_modality("hrv") == raw["features"]["common"]
    opts = cfg.method_options("helo")
    assert opts == {k: v for k, v in raw["model"]["helo"].items() if k != "by_protocol"}
    opts["epochs"] = 999
    video["face_size"] = 1
    assert cfg.method_options("helo")["epochs"] == raw["model"]["helo"]["epochs"]
    assert cfg.features.for_modality("video")["face_size"] == raw["features"]["video"]["face_size"]


def test_every_preset_and_the_default_fit_the_options_table():
    base = load(ROOT / "params.yaml")
    validate(base)
    from helo.io import read_yaml
    from helo.stages.params import merge
    for name, path in presets().items():
        validate(merge(base, read_yaml(path.read_text()) or {}), source=name)


def test_an_unknown_method_option_is_named():
    raw = load(ROOT / "params.yaml")
    raw["model"]["carat"]["dz_size"] = 3
    raw["model"]["helo"]["epoch"] = 3
    with pytest.raises(ParamsError) as err:
        validate(raw)
    text = str(err.value)
    assert "model.carat.dz_size: unknown option of carat" in text
    assert "model.helo.epoch: unknown option of helo" in text and "epochs" in text
    raw = load(ROOT / "params.yaml")
    raw["model"]["ldl-lrr"]["any_pyldl_keyword"] = 1  # handed on to the PyLDL estimator
    validate(raw)


def test_the_options_table_is_the_learners_own():
    """METHOD_OPTIONS (read without importing a learner) equals the keys each learner accepts;
    None only for learners that hand unknown keys on (PyLDL) or ignore them (the mean)."""
    from helo.model.base import MeanDistribution
    from helo.model.baselines.common import TorchLearner
    from helo.model.baselines.pyldl_methods import PyLDLLearner
    from helo.model.helo import NET_DEFAULTS, TRAIN_DEFAULTS, HeLoLearner
    from helo.model.registry import METHODS, get_class

    assert set(METHOD_OPTIONS) == set(METHODS)
    for method in METHODS:
        cls = get_class(method)
        if cls is HeLoLearner:
            want = set(NET_DEFAULTS) | set(TRAIN_DEFAULTS)
        elif issubclass(cls, TorchLearner):
            want = set(cls._common_defaults) | set(cls.defaults)
        else:
            assert issubclass(cls, (PyLDLLearner, MeanDistribution)), method
            want = None
        got = METHOD_OPTIONS[method]
        assert (got if got is None else set(got)) == want, method


def test_validating_imports_no_learner():
    import subprocess
    import sys
    code = ("import sys\nfrom helo.stages.params import load_config\n"
            "load_config('params.yaml')\n"
            "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('helo.model.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout
    assert "'torch'" not in out and "baselines" not in out and "helo.model.helo" not in out
