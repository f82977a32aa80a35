"""Why a method does not beat the mean predictor (helo.evaluation.diagnosis), on hand-built
predictions: over-confident, close to the training mean, collapsed; and the tuning record read
from the folder it is given."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd

from helo.evaluation import diagnosis

LABELS = ["a", "b", "c"]


def _pred(true, pred):
    frame = pd.DataFrame({"fold": "s0", "row": np.arange(len(true))})
    for j, lab in enumerate(LABELS):
        frame[f"true_{lab}"] = true[:, j]
        frame[f"pred_{lab}"] = pred[:, j]
    return frame


def test_prediction_diagnosis_names_the_cause():
    rng = np.random.default_rng(0)
    y = rng.dirichlet(np.ones(3) * 3, size=50)
    mean = np.tile(y.mean(axis=0), (50, 1))
    # all mass on one label: entropy ~0 against the ground truth's ~1
    onehot = np.eye(3)[np.argmax(y, axis=1)] * (1 - 2e-6) + 1e-6
    assert diagnosis._prediction_diagnosis(_pred(y, onehot), None, 0.1).startswith(
        "over-confident predictions")
    # the mean predictor's own output: KL from it is 0 < a tenth of the mean KL
    assert "close to the training mean" in diagnosis._prediction_diagnosis(
        _pred(y, mean), _pred(y, mean), 0.1)
    # one fixed distribution, not the mean's, and no mean predictions to compare with
    fixed = np.tile([0.5, 0.3, 0.2], (50, 1))
    assert diagnosis._prediction_diagnosis(_pred(y, fixed), None, 0.1).startswith(
        "predictions collapsed to nearly one distribution (spread 0.0000")


def test_beats_mean_notes_reads_the_tuning_record_it_is_given(tmp_path):
    df = pd.DataFrame({"method": ["mean", "helo", "cad"], "kl": [0.2, 0.1, 0.3]})
    tune = tmp_path / "tune"
    (tune / "loso" / "cad").mkdir(parents=True)
    (tune / "loso" / "cad" / "best.json").write_text(json.dumps(
        {"trials_complete": 12, "best": {"val": {"kl": 0.25}}}))
    notes = diagnosis.beats_mean_notes(tmp_path / "eval", "loso", df, tune)
    assert notes == {"cad": "KL 0.3000 vs the mean predictor's 0.2000; tuned (12 trials, "
                            "validation KL 0.2500)"}
    notes = diagnosis.beats_mean_notes(tmp_path / "eval", "subject-dependent", df, tune)
    assert notes["cad"].endswith("not tuned under this protocol (`helo tune`)")
    assert diagnosis.beats_mean_notes(tmp_path, "loso", df[df.method != "mean"], tune) == {}
