"""`dvc repro` end to end on the tiny preset, incremental re-runs, and an ablation experiment."""
import json
import sys

import pandas as pd
import pytest
from e2e_util import copy_project, dvc, run

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    proj = copy_project(tmp_path_factory.mktemp("proj"), "tiny")
    dvc("repro", cwd=proj)
    return proj


def test_repro_produces_metrics_tables_and_figures(project):
    metrics = json.loads((project / "outputs/metrics.json").read_text())
    assert set(metrics["loso"]) == {"helo", "mean"}
    for m in ("chebyshev", "clark", "canberra", "kl", "cosine", "intersection"):
        assert 0 <= metrics["loso"]["helo"][m] < 100
    assert (project / "outputs/report/comparison.md").read_text().count("| helo") + \
        (project / "outputs/report/comparison.md").read_text().count("**helo**") >= 1
    assert (project / "outputs/report/figures/comparison_loso.png").stat().st_size > 1000
    assert (project / "models/helo/model.pt").exists()
    shown = dvc("metrics", "show", "--json", cwd=project).stdout
    assert "loso" in shown
    assert "up to date" in dvc("status", cwd=project).stdout


def test_model_param_reruns_training_not_features(project):
    params = (project / "params.yaml").read_text()
    (project / "params.yaml").write_text(params.replace("epochs: 2", "epochs: 3", 1))
    status = json.loads(dvc("status", "--json", cwd=project).stdout)
    # the settings reach the evaluations through method-params' files (one per protocol and
    # method): DVC sees the params change there, the evaluations once the file changed
    assert "method-params" in status
    assert not [s for s in status if s.startswith(("extract", "labels", "synthesize",
                                                   "assemble"))]
    assert "evaluate@loso-mean" not in status
    out = dvc("repro", cwd=project).stdout
    assert "Stage 'extract@eeg' didn't change" in out
    assert "Running stage 'evaluate@loso-helo'" in out and "Running stage 'fit-final'" in out
    assert "Running stage 'evaluate@loso-mean'" not in out
    (project / "params.yaml").write_text(params)
    dvc("repro", cwd=project)


def test_exp_run_ablation_switch(project):
    run(["git", "add", "-A"], project)  # the baseline's results committed, as on a real main
    run(["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "repro"], project)
    dvc("exp", "run", "--name", "no-othm", "-S", "model.helo.use_othm=false", cwd=project)
    shown = json.loads(dvc("exp", "show", "--json", cwd=project).stdout)
    text = json.dumps(shown)
    assert "no-othm" in text and '"use_othm": false' in text
    # the summary: the workspace baseline and the finished experiment, with its own metrics
    run([sys.executable, "-m", "helo", "ablate", "summary", "--out", "abl"], project)
    df = pd.read_csv(project / "abl" / "ablation.csv")
    assert set(df["experiment"]) == {"baseline (HEAD)", "no-othm"}
    base = df[(df.experiment == "baseline (HEAD)") & (df.protocol == "loso")].iloc[0]
    exp = df[(df.experiment == "no-othm") & (df.protocol == "loso")].iloc[0]
    assert bool(base["othm"]) and not bool(exp["othm"])
    head = json.loads(run(["git", "show", "HEAD:outputs/metrics.json"], project).stdout)
    assert base["kl"] == pytest.approx(head["loso"]["helo"]["kl"], abs=1e-6)
    revs = [r for c in shown for ex in (c.get("experiments") or []) for r in ex["revs"]
            if r.get("name") == "no-othm"]
    kl = revs[0]["data"]["metrics"]["outputs/metrics.json"]["data"]["loso"]["helo"]["kl"]
    assert exp["kl"] == pytest.approx(kl, abs=1e-6) and exp["kl"] != base["kl"]
    assert (project / "abl" / "ablation.png").stat().st_size > 1000
