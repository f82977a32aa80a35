"""DEAP's preprocessed layout end to end: `data.layout: deap` on the tiny synthetic set with the
circumplex label rule, `dvc repro` through extraction, assembly, HeLo and the mean predictor
under LOSO, to the report."""
import json
import math

import numpy as np
import pytest
import yaml
from e2e_util import READER_TEST_RUNNER, copy_project, dvc

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

BANDS = {"theta": [4, 7], "alpha": [8, 13], "beta": [14, 30], "gamma": [31, 45]}


def _circumplex(valence: float, arousal: float, kappa: float = 3.0) -> np.ndarray:
    x, y = (valence - 5) / 4, (arousal - 5) / 4
    rho, theta = min(1.0, math.hypot(x, y)), math.atan2(y, x)
    w = np.array([math.exp(kappa * rho * math.cos(theta - math.radians(45 * k)))
                  for k in range(8)])
    return w / w.sum()


def test_deap_repro_to_the_report(tmp_path):
    proj = copy_project(tmp_path / "proj", "tiny")
    params = yaml.safe_load((proj / "params.yaml").read_text())
    params["data"].update(name="synth-deap-tiny", layout="deap", root="data/raw/synth",
                          labels="circumplex", label_rule={"scale": [1, 9], "kappa": 3,
                                                           "sigma": 1.0, "dimension": "valence"})
    params["features"]["modalities"] = ["eeg", "gsr", "ppg", "emg"]
    params["features"]["eeg"]["bands"] = BANDS
    params["assemble"].update(physiological=["eeg", "gsr", "ppg"], behavioural=["emg"])
    assert params["evaluate"]["methods"] == ["helo", "mean"]  # the tiny preset's
    params["orchestrator"]["task_runner"] = READER_TEST_RUNNER
    (proj / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    dvc("repro", cwd=proj)
    assert (proj / "data/raw/synth/data_preprocessed_python/s01.dat").is_file()
    meta = json.loads((proj / "data/assembled/meta.json").read_text())
    eeg = meta["feature_names"]["eeg"]
    assert len(eeg) == 32 * 4 and "eeg_Fp1_alpha" in eeg and "eeg_O2_gamma" in eeg
    # PPG: the paper's 27 statistics and the 5 pulse-rate features (features.ppg.cardiac)
    assert [len(meta["feature_names"][m]) for m in ("gsr", "ppg", "emg")] == [28, 32, 14]
    truth = json.loads((proj / "data/raw/synth/_ground_truth.json").read_text())
    z = np.load(proj / "data/assembled/dataset.npz", allow_pickle=False)
    # tiny: 3 participants x 3 videos of 8 s -> 4 windows each on the 5 s grid
    assert z["y"].shape == (3 * 3 * 4, 8)
    want = np.array([_circumplex(*truth["subjects"][s]["ratings"][t][:2])
                     for s, t in zip(z["subject"].tolist(), z["trial"].tolist())])
    np.testing.assert_allclose(z["y"], want, atol=1e-6)
    metrics = json.loads((proj / "outputs/metrics.json").read_text())
    assert set(metrics["loso"]) == {"helo", "mean"}
    assert 0 <= metrics["loso"]["helo"]["kl"] < 100
    report = (proj / "outputs/report/comparison.md").read_text()
    assert report.startswith("# Comparison on synth-deap-tiny\n")
    assert "| **helo** |" in report or "| helo |" in report
