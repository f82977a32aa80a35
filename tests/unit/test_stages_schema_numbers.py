"""Issue 21, point 2: every number in params must be finite and the counts that set how long a
run takes have an upper bound; each refusal is one line naming the key."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from helo.stages import params as P
from helo.stages.schema import MAX_EPOCHS, MAX_ITERATIONS, MAX_RUNS, ParamsError, validate

ROOT = Path(__file__).resolve().parents[2]
BASE = P.load(ROOT / "params.yaml")


def _problems(text: str) -> list[str]:
    params = P.merge(BASE, {})
    key, value = P.parse_override(text)
    P.set_dotted(params, key, value)
    with pytest.raises(ParamsError) as err:
        validate(params)
    assert "\n" not in str(err.value)
    return err.value.problems


@pytest.mark.parametrize("text, spelled", [
    ("model.helo.lr=.inf", ".inf"), ("model.helo.lr=-.inf", "-.inf"),
    ("model.helo.lr=.nan", ".nan"), ("model.helo.epochs=.inf", ".inf"),
    ("model.helo.lambda_cc=.inf", ".inf"),          # an open model option
    ("model.carat.weight_decay=.nan", ".nan"),
    ("evaluate.test_fraction=.nan", ".nan"), ("report.alpha=.inf", ".inf"),
    ("features.common.step_s=.inf", ".inf"), ("tune.timeout=.inf", ".inf"),
])
def test_non_finite_numbers_are_refused_once_naming_the_key(text, spelled):
    key = text.split("=")[0]
    assert _problems(text) == [f"{key}: {spelled} is not a finite number (every number in "
                               f"params must be finite)"]


def test_non_finite_band_edge_names_its_position():
    assert _problems("features.eeg.bands=[[0, 4], [4, .inf]]") == [
        "features.eeg.bands.1.1: .inf is not a finite number (every number in params must be "
        "finite)"]


@pytest.mark.parametrize("text, bound", [
    ("model.helo.epochs=1.0e+20", MAX_EPOCHS), (f"model.helo.epochs={MAX_EPOCHS + 1}", MAX_EPOCHS),
    ("model.amanda.patience=1.0e+9", MAX_EPOCHS),
    ("model.tlrldl.max_iterations=1.0e+12", MAX_ITERATIONS),
    ("model.pt-svm.max_iter=1.0e+7", MAX_ITERATIONS),
    ("model.helo.ot_iter=1.0e+7", MAX_ITERATIONS), ("tune.trials=20000", MAX_RUNS),
])
def test_counts_have_an_upper_bound_said_in_the_error(text, bound):
    key = text.split("=")[0]
    (problem,) = _problems(text)
    assert problem.startswith(f"{key}: Input should be less than or equal to {bound} (found ")


def test_count_limits_and_their_spellings():
    (problem,) = _problems("model.helo.epochs=1e20")  # YAML 1.1: text, not a float
    assert problem == ("model.helo.epochs: '1e20' is text, not a number (YAML reads an exponent "
                       "without a dot as text); write a whole number")
    assert _problems("evaluate.seeds=100000") == [
        f"evaluate.seeds: a count of seeds must be at least 1 and at most {MAX_RUNS} "
        f"(found 100000)"]
    # within the bounds: accepted, a float without a fraction counts as the whole number
    for text in (f"model.helo.epochs={MAX_EPOCHS}", "model.helo.epochs=5.0", "model.helo.lr=1000",
                 "model.helo.patience=0"):
        params = P.merge(BASE, {})
        P.set_dotted(params, *P.parse_override(text))
        validate(params)


def test_the_repository_params_and_presets_still_validate():
    validate(BASE)
    for name, path in P.presets().items():
        validate(P.merge(BASE, yaml.safe_load(path.read_text()) or {}), source=name)
