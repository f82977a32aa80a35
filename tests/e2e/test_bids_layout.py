"""The BIDS example (docs/data.md) end to end: `data.layout: bids` on the tiny synthetic set, then
`dvc repro assemble` (synthesize writes BIDS, labels and every modality are extracted through
the BIDS reader, assemble joins them)."""
import json

import numpy as np
import pytest
import yaml
from e2e_util import READER_TEST_RUNNER, copy_project, dvc

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_bids_extract_and_assemble(tmp_path):
    proj = copy_project(tmp_path / "proj", "tiny")
    params = yaml.safe_load((proj / "params.yaml").read_text())
    params["data"].update(layout="bids", root="data/raw/synth")
    params["orchestrator"]["task_runner"] = READER_TEST_RUNNER
    (proj / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    dvc("repro", "assemble", cwd=proj)
    assert (proj / "data/raw/synth/sub-01/eeg/sub-01_task-emotion_eeg.edf").is_file()
    meta = json.loads((proj / "data/assembled/meta.json").read_text())
    eeg = meta["feature_names"]["eeg"]
    assert len(eeg) == 90 and "eeg_T7_delta" in eeg and not any("_T3_" in n for n in eeg)
    assert len(meta["feature_names"]["gsr"]) == 28
    cardiac = params["features"]["ppg"].get("cardiac", False)  # + 5 pulse-rate features
    assert len(meta["feature_names"]["ppg"]) == 27 + 5 * cardiac
    assert len(meta["feature_names"]["video"]) > 0
    truth = json.loads((proj / "data/raw/synth/_ground_truth.json").read_text())
    # tiny: 3 subjects x 3 trials of 7 s -> 3 windows each on the 5 s grid
    n_trials = sum(len(s["trials"]) for s in truth["subjects"].values())
    z = np.load(proj / "data/assembled/dataset.npz", allow_pickle=False)
    assert z["y"].shape == (n_trials * 3, 10)
    assert sorted(set(z["subject"].tolist())) == sorted(truth["subjects"])
    # every window carries its trial's PANAS scores / their sum, as the generator wrote them
    dist = {(lab, t["trial_id"]): t["distribution"] for lab, st in truth["subjects"].items()
            for t in st["trials"]}
    want = np.array([dist[(s, t)] for s, t in zip(z["subject"].tolist(), z["trial"].tolist())])
    np.testing.assert_allclose(z["y"], want, atol=1e-6)
