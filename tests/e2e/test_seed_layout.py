"""SEED end to end: `helo preset synth-seed` on the tiny synthetic release with LDS-smoothed DE
and label smoothing, `dvc repro` through every stage to the report."""
import json

import numpy as np
import pytest
import yaml
from e2e_util import READER_TEST_RUNNER, copy_project, dvc

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_seed_repro_to_the_report(tmp_path):
    proj = copy_project(tmp_path / "proj", "synth-seed")
    params = yaml.safe_load((proj / "params.yaml").read_text())
    params["synth"]["preset"] = "tiny"
    params["evaluate"].update(protocols=["loso"], methods=["helo", "mean"])
    params["model"]["helo"]["epochs"] = 2
    params["features"]["eeg"]["smooth"] = "lds"
    params["data"]["label_smoothing"] = 0.3
    params["orchestrator"]["task_runner"] = READER_TEST_RUNNER
    (proj / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    dvc("repro", cwd=proj)

    meta = json.loads((proj / "data/assembled/meta.json").read_text())
    assert meta["label_names"] == ["negative", "neutral", "positive"]
    eeg = meta["feature_names"]["eeg"]
    assert len(eeg) == 62 * 5 and eeg[:2] == ["eeg_Fp1_delta", "eeg_Fp1_theta"]
    z = np.load(proj / "data/assembled/dataset.npz", allow_pickle=False)
    # tiny: 3 subjects x 2 sessions x clips of 4, 5, 4 s -> 1 s windows from each clip's start
    assert z["y"].shape == (3 * 2 * (4 + 5 + 4), 3)
    truth = json.loads((proj / "data/raw/synth/_ground_truth.json").read_text())
    onehot = {(s, t["trial_id"]): t["distribution"] for s, st in truth["subjects"].items()
              for t in st["trials"]}
    want = np.array([onehot[(s, t)] for s, t in zip(z["subject"].tolist(),
                                                    z["trial"].tolist())])
    np.testing.assert_allclose(z["y"], 0.7 * want + 0.1, atol=1e-6)  # epsilon 0.3, 3 labels

    # the stored features are helo's DE of the clip, LDS-smoothed over its windows
    import helo  # noqa: F401
    from helo.data import open_reader
    from helo.features import eeg as eeg_features
    from helo.features.lds import lds_smooth
    from helo.features.windows import grid_ends
    trial = open_reader("seed", proj / "data/raw/synth").read_subject("2").trial("s2-t2")
    sig = trial.signals["eeg"]
    fp = json.loads((proj / "data/params/features/eeg.json").read_text())
    ends = grid_ends(sig.duration, 1.0, 1.0)
    X, _ = eeg_features.compute(sig.data, sig.fs, ends, {**fp, "smooth": "none"},
                                channels=sig.channels)
    rows = (z["subject"] == "2") & (z["trial"] == "s2-t2")
    np.testing.assert_allclose(z["X_eeg"][rows], lds_smooth(X, axis=0), rtol=1e-5)

    metrics = json.loads((proj / "outputs/metrics.json").read_text())
    assert set(metrics["loso"]) == {"helo", "mean"}
    assert 0 < metrics["loso"]["mean"]["kl"] < 2
    assert "mean" in (proj / "outputs/report/comparison.md").read_text()


def test_seed_iv_repro_to_the_report(tmp_path):
    """SEED-IV's raw layout (three session folders, 24 clips each in the release, four classes):
    `helo preset synth-seed-iv` on the tiny set through every stage to the report."""
    proj = copy_project(tmp_path / "proj", "synth-seed-iv")
    params = yaml.safe_load((proj / "params.yaml").read_text())
    params["synth"]["preset"] = "tiny"
    params["evaluate"].update(protocols=["loso"], methods=["helo", "mean"])
    params["model"]["helo"]["epochs"] = 2
    params["orchestrator"]["task_runner"] = READER_TEST_RUNNER
    (proj / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    dvc("repro", cwd=proj)

    meta = json.loads((proj / "data/assembled/meta.json").read_text())
    assert meta["label_names"] == ["neutral", "sad", "fear", "happy"]
    assert len(meta["feature_names"]["eeg"]) == 62 * 5
    z = np.load(proj / "data/assembled/dataset.npz", allow_pickle=False)
    truth = json.loads((proj / "data/raw/synth/_ground_truth.json").read_text())
    onehot = {(s, t["trial_id"]): t["distribution"] for s, st in truth["subjects"].items()
              for t in st["trials"]}
    assert {(s, t) for s, t in zip(z["subject"].tolist(), z["trial"].tolist())} == set(onehot)
    want = np.array([onehot[(s, t)] for s, t in zip(z["subject"].tolist(),
                                                    z["trial"].tolist())])
    np.testing.assert_array_equal(z["y"], want)  # one-hot, no smoothing by default
    metrics = json.loads((proj / "outputs/metrics.json").read_text())
    assert set(metrics["loso"]) == {"helo", "mean"}
    assert "helo" in (proj / "outputs/report/comparison.md").read_text()
