"""DREAMER and AMIGOS end to end: `helo preset synth-dreamer` / `synth-amigos` on the tiny
synthetic set (HeLo and the mean predictor, LOSO, 2 epochs), `dvc repro` to the report. The
assembled labels are the circumplex rule computed here by hand from the ratings the generator
wrote; the rows are the windows of each trial's duration, less those the release's NaN stretch
spoils."""
import json
import sys

import numpy as np
import pytest
import yaml
from e2e_util import READER_TEST_RUNNER, copy_project, dvc, run

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _project(tmp_path, layout: str):
    proj = copy_project(tmp_path / "proj", "tiny")
    run([sys.executable, "-m", "helo", "preset", f"synth-{layout}"], proj)
    params = yaml.safe_load((proj / "params.yaml").read_text())
    params["synth"]["preset"] = "tiny"
    params["evaluate"].update(protocols=["loso"], methods=["helo", "mean"])  # the tiny run's
    params["model"]["helo"]["epochs"] = 2
    params["orchestrator"]["task_runner"] = READER_TEST_RUNNER
    (proj / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    dvc("repro", cwd=proj)
    return proj


def _circumplex(valence: float, arousal: float, lo: float, hi: float) -> np.ndarray:
    """Russell's eight categories (pleasure at 0 deg, 45 deg apart), von Mises kappa 3"""
    x, y = (valence - (lo + hi) / 2) / ((hi - lo) / 2), (arousal - (lo + hi) / 2) / ((hi - lo) / 2)
    rho, theta = min(1.0, float(np.hypot(x, y))), float(np.arctan2(y, x))
    w = np.exp(3 * rho * np.cos(theta - np.deg2rad(45 * np.arange(8))))
    return w / w.sum()


def _windows(seconds: float, first_end: float = 5.0) -> int:
    """windows ending at first_end, first_end + 1, ... <= seconds (5 s longest, 1 s step)"""
    return int(np.floor(seconds - first_end + 1e-9)) + 1 if seconds >= first_end else 0


def _report_made(proj) -> None:
    metrics = json.loads((proj / "outputs/metrics.json").read_text())
    assert set(metrics["loso"]) == {"helo", "mean"}
    assert 0 <= metrics["loso"]["helo"]["kl"] < 100
    assert "helo" in (proj / "outputs/report/comparison.md").read_text()


def test_dreamer_to_the_report(tmp_path):
    proj = _project(tmp_path, "dreamer")
    _report_made(proj)
    truth = json.loads((proj / "data/raw/synth/_ground_truth.json").read_text())
    meta = json.loads((proj / "data/assembled/meta.json").read_text())
    assert {m: len(n) for m, n in meta["feature_names"].items()} == {"eeg": 70, "ecg": 73}
    assert "eeg_AF4_gamma" in meta["feature_names"]["eeg"]
    z = np.load(proj / "data/assembled/dataset.npz", allow_pickle=False)
    want_rows = sum(_windows(n / 128) for s in truth["subjects"].values() for n in s["n_eeg"])
    assert z["y"].shape == (want_rows, 8)
    scores = {s: t["scores"] for s, t in truth["subjects"].items()}
    want = np.array([_circumplex(scores[s]["valence"][int(k) - 1],
                                 scores[s]["arousal"][int(k) - 1], 1, 5)
                     for s, k in zip(z["subject"].tolist(), z["trial"].tolist())])
    np.testing.assert_allclose(z["y"], want, atol=1e-6)


def test_amigos_to_the_report(tmp_path):
    proj = _project(tmp_path, "amigos")
    _report_made(proj)
    truth = json.loads((proj / "data/raw/synth/_ground_truth.json").read_text())
    meta = json.loads((proj / "data/assembled/meta.json").read_text())
    assert {m: len(n) for m, n in meta["feature_names"].items()} == {"eeg": 70, "ecg": 73,
                                                                     "gsr": 28}
    z = np.load(proj / "data/assembled/dataset.npz", allow_pickle=False)
    rows: dict = {}
    for s, k in zip(z["subject"].tolist(), z["trial"].tolist()):
        rows[(s, k)] = rows.get((s, k), 0) + 1
    want = {}
    for sid, st in truth["subjects"].items():
        for vid, v in st["videos"].items():
            if v is None:  # P08 did not watch the long video: no trial
                continue
            seconds = v["n_samples"] / 128
            # NaN from 0.5 s to 1.5 s spoils the 5 s windows ending before 6.5 s
            want[(sid, vid)] = _windows(seconds, 7.0 if v["nan_span"] else 5.0)
    assert rows == want and ("P08", "N1") not in rows
    labels = {(s, v): t["labels"] for s, st in truth["subjects"].items()
              for v, t in st["videos"].items() if t is not None}
    y = np.array([_circumplex(labels[(s, k)]["valence"], labels[(s, k)]["arousal"], 1, 9)
                  for s, k in zip(z["subject"].tolist(), z["trial"].tolist())])
    np.testing.assert_allclose(z["y"], y, atol=1e-6)
