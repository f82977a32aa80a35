"""MAHNOB-HCI end to end: `data.layout: mahnob` on the tiny synthetic set, `dvc repro` through
the report (synthesize writes the session folders, the labels are the felt valence/arousal by
the circumplex rule, EEG/ECG/GSR come from the BDFs and video from the frontal camera)."""
import json
import sys

import numpy as np
import pytest
import yaml
from e2e_util import READER_TEST_RUNNER, copy_project, dvc, run

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_mahnob_repro_to_the_report(tmp_path):
    proj = copy_project(tmp_path / "proj", "tiny")
    params = yaml.safe_load((proj / "params.yaml").read_text())
    params["data"].update(name="synth-mahnob-tiny", layout="mahnob", root="data/raw/synth",
                          labels="circumplex")
    params["data"]["label_rule"].update(scale=[1.0, 9.0], kappa=3.0)
    params["features"]["modalities"] = ["eeg", "ecg", "gsr", "video"]
    params["assemble"].update(physiological=["eeg", "ecg", "gsr"], behavioural=["video"])
    params["orchestrator"]["task_runner"] = READER_TEST_RUNNER
    (proj / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        dvc("repro", cwd=proj)
    finally:  # no warm server left behind by the test
        run([sys.executable, "-m", "helo", "warm", "stop"], proj, check=False)

    root = proj / "data/raw/synth"
    truth = json.loads((root / "_ground_truth.json").read_text())
    assert (root / "Sessions/2/Part_1_S_Trial1_emotion.bdf").is_file()
    meta = json.loads((proj / "data/assembled/meta.json").read_text())
    dims = {m: len(n) for m, n in meta["feature_names"].items()}
    assert dims["eeg"] == 160 and dims["ecg"] == 73 and dims["gsr"] == 28 and dims["video"] > 0
    assert "eeg_Fp1_delta" in meta["feature_names"]["eeg"]
    assert meta["label_names"] == ["pleasure", "excitement", "arousal", "distress", "misery",
                                   "depression", "sleepiness", "contentment"]
    rep = json.loads((proj / "data/assembled/assembly.json").read_text())
    assert rep["label_kind"] == "circumplex" and rep["label_errors"] == []
    # 3 + 3 + 2 trials (participant 3's third BDF is missing), 7 s each: windows ending at
    # 5, 6, 7 s on the 5 s grid
    z = np.load(proj / "data/assembled/dataset.npz", allow_pickle=False)
    keys = set(zip(z["subject"].tolist(), z["trial"].tolist()))
    assert keys == {(s, t["clip"]) for s, st in truth["subjects"].items() for t in st["trials"]}
    assert len(z["y"]) == 8 * 3
    # every window carries its trial's circumplex distribution of the written ratings
    rating = {(s, t["clip"]): (t["valence"], t["arousal"]) for s, st in truth["subjects"].items()
              for t in st["trials"]}
    angles = np.deg2rad(np.arange(0, 360, 45))
    for y, s, t in zip(z["y"], z["subject"].tolist(), z["trial"].tolist()):
        x, v = (rating[(s, t)][0] - 5) / 4, (rating[(s, t)][1] - 5) / 4
        p = np.exp(3.0 * min(1.0, np.hypot(x, v)) * np.cos(np.arctan2(v, x) - angles))
        np.testing.assert_allclose(y, p / p.sum(), atol=1e-6)

    metrics = json.loads((proj / "outputs/metrics.json").read_text())
    assert set(metrics["loso"]) == {"helo", "mean"}
    assert 0 <= metrics["loso"]["helo"]["kl"] < 100
    assert "helo" in (proj / "outputs/report/comparison.md").read_text()

    out = run([sys.executable, "-m", "helo", "check-data", str(root), "--layout", "mahnob"],
              proj).stdout
    assert "3 subject(s)" in out and "0 error(s)" in out
    assert "subject 3" in out and "Part_3_S_Trial3_emotion.bdf: the stimulus session's BDF is " \
                                  "missing" in out
