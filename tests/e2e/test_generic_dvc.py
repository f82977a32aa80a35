"""`dvc repro` on a generic table of label distributions (the format of every public LDL data
set): pointing data.layout/data.root at it and naming its modalities in features.modalities and
the assemble groups is all a user does -- no features.<modality> group, no model.helo.query."""
import json
import sys

import numpy as np
import pandas as pd
import pytest
import yaml
from e2e_util import READER_TEST_RUNNER, copy_project, dvc, run

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _kl(u, v, eps=1e-12):
    u, v = np.clip(u, eps, 1.0), np.clip(v, eps, 1.0)
    return np.sum(u * (np.log(u) - np.log(v)), axis=1)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    from helo.synth import generate
    proj = copy_project(tmp_path_factory.mktemp("generic"), "tiny")
    truth = generate("generic", proj / "data" / "ldl", seed=5, preset="tiny", progress=False)
    params = yaml.safe_load((proj / "params.yaml").read_text())
    params["data"].update(name="generic-ldl", layout="generic", root="data/ldl")
    params["features"]["modalities"] = ["hrv", "eye"]
    params["assemble"].update(physiological=["hrv"], behavioural=["eye"])
    params["evaluate"].update(protocols=["loso"], methods=["helo", "mean"])
    params["model"]["helo"]["epochs"] = 2
    assert "hrv" not in params["features"] and "eye" not in params["features"]
    assert params["model"]["helo"]["query"] == "eeg"  # left as it is: not a modality we have
    params["orchestrator"]["task_runner"] = READER_TEST_RUNNER
    (proj / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        out = dvc("repro", cwd=proj).stdout
    finally:  # no warm server left behind by the test
        run([sys.executable, "-m", "helo", "warm", "stop"], proj, check=False)
    return proj, truth, out


def test_assembled_labels_are_the_tables(project):
    from helo.data.assemble import load
    proj, truth, out = project
    assert "Running stage 'extract@hrv'" in out and "Running stage 'feature-params'" in out
    ds = load(proj / "data" / "assembled")
    table = pd.read_csv(proj / "data" / "ldl" / "features.csv",
                        dtype={"subject": str, "trial": str})
    assert ds.n == len(table) == 3 * 4 * 6 and ds.label_names == truth["items"]
    want = table.set_index(["subject", "trial", "window"]).loc[
        list(zip(ds.subject, ds.trial, ds.window)), [f"label__{i}" for i in truth["items"]]]
    np.testing.assert_array_equal(ds.y, want.to_numpy().astype(np.float32))
    rep = json.loads((proj / "data" / "assembled" / "assembly.json").read_text())
    assert rep["label_kind"] == "distribution" and rep["label_errors"] == []
    assert json.loads((proj / "data/params/features/hrv.json").read_text()) == \
        yaml.safe_load((proj / "params.yaml").read_text())["features"]["common"]


def test_mean_baseline_kl_is_the_hand_computed_one_and_helo_runs(project):
    from helo.data.assemble import load
    proj, _, _ = project
    ds = load(proj / "data" / "assembled")
    y = ds.y.astype(np.float64)
    folds = pd.read_csv(proj / "outputs/eval/loso/mean/folds.csv", dtype={"subject": str})
    hand = {}
    for s in sorted(set(ds.subject)):
        m = y[ds.subject != s].mean(axis=0)
        pred = np.tile(m / m.sum(), (int((ds.subject == s).sum()), 1))
        hand[s] = _kl(y[ds.subject == s], pred).mean()
    assert sorted(folds["subject"]) == sorted(hand)
    for _, row in folds.iterrows():
        assert row["kl"] == pytest.approx(hand[row["subject"]], abs=1e-6)
    mean_metrics = json.loads((proj / "outputs/eval/loso/mean/metrics.json").read_text())
    assert mean_metrics["kl"] == pytest.approx(np.mean(list(hand.values())), rel=1e-6)
    helo = json.loads((proj / "outputs/eval/loso/helo/metrics.json").read_text())
    assert helo["n_folds"] == 3 and helo["n_rows"] == ds.n
    assert np.isfinite(helo["kl"]) and 0 < helo["kl"] < 10
    assert np.isfinite(mean_metrics["kl"]) and mean_metrics["kl"] > 0
    pred = pd.read_parquet(proj / "outputs/eval/loso/helo/predictions.parquet")
    p = pred[[c for c in pred.columns if c.startswith("pred_")]].to_numpy()
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-5)
    assert (proj / "outputs/report/comparison.md").exists()
    assert "up to date" in dvc("status", cwd=proj).stdout


def test_changing_one_modality_params_reruns_only_its_extraction(project):
    """features.<modality> groups are optional, and tracking stays per modality: a new
    features.eye group re-runs feature-params and extract@eye, not extract@hrv"""
    proj, _, _ = project
    params = yaml.safe_load((proj / "params.yaml").read_text())
    params["features"]["eye"] = {"note": "a group the user added"}
    (proj / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    status = json.loads(dvc("status", "--json", cwd=proj).stdout)
    assert "feature-params" in status
    try:
        out = dvc("repro", "extract@eye", "extract@hrv", cwd=proj).stdout
    finally:
        run([sys.executable, "-m", "helo", "warm", "stop"], proj, check=False)
    assert "Running stage 'extract@eye'" in out
    assert "Running stage 'extract@hrv'" not in out
