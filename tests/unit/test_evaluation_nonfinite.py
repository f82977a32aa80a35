"""Issue 21, point 2 ("non-finite is failure"): a fold whose training loss or predictions are
not finite fails, naming method, fold, seed and epoch; with partial results allowed it is listed
as failed and never scored; the engine stops only the diverged member of a stack.

The data: 3 subjects x 3 trials x 4 windows. ``huge`` scales subject 2's EEG by 1e38: the
z-scoring of every training part that holds subject 2 overflows (NaN features, so folds loso-1
and loso-3 diverge at epoch 1), while fold loso-2 (subject 2 held out) trains on clean rows and
predicts finite values -- one healthy fold between two failed ones, alone or in a stack.
"""
from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from helo.data import assemble as asm
from helo.evaluation.runner import FoldFailed, fold_failure, run_evaluation
from helo.model.base import ModalitySpec
from helo.model.helo import HeLoLearner

DIMS = {"eeg": 6, "gsr": 3, "video": 5}
SMALL = dict(d=8, heads=2, tokens=2, head_hidden=8, ot_iter=3, dropout=0.0, epochs=2,
             batch_size=16, lr=3e-3, device="cpu", query="eeg")
ROOT = Path(__file__).resolve().parents[2]


def _assembled(path: Path, huge: bool = False) -> Path:
    rng = np.random.default_rng(0)
    subj = np.repeat(np.arange(1, 4), 12)
    trial = np.tile(np.repeat(np.arange(1, 4), 4), 3)
    window = np.tile(np.arange(4), 9)
    X = {m: rng.normal(size=(len(subj), d)).astype(np.float32) for m, d in DIMS.items()}
    z = X["eeg"][:, :4] + 0.5 * X["video"][:, :4]
    y = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    if huge:
        X["eeg"][subj == 2] *= np.float32(1e38)
    ds = asm.Dataset(X=X, feature_names={m: [f"f{i}" for i in range(d)] for m, d in DIMS.items()},
                     y=y, label_names=list("abcd"), subject=subj, trial=trial, window=window,
                     physiological=["eeg", "gsr"], behavioural=["video"])
    asm.save(ds, path)
    return path


def _evaluate(data, out, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the planted overflow
        return run_evaluation(data, "loso", "helo", out, progress=False,
                              model_params={**SMALL, **kw.pop("params", {})}, **kw)


# ------------------------------------------------------------------------ the engine


def _member_data(n, seed, nan=False):
    rng = np.random.default_rng(seed)
    X = {m: rng.normal(size=(n, d)).astype(np.float32) for m, d in DIMS.items()}
    z = X["eeg"][:, :4] + 0.5 * X["video"][:, :4]
    y = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    if nan:
        X["gsr"][3, 1] = np.nan
    return X, y


SPEC = ModalitySpec(dims=DIMS, physiological=["eeg", "gsr"], behavioural=["video"], n_labels=4,
                    label_names=list("abcd"))


def _fit(which, nan_member=None, epochs=3):
    learners, data = [], []
    for k in which:
        learners.append(HeLoLearner(SPEC, **{**SMALL, "epochs": epochs}, seed=10 + k))
        data.append((*_member_data(30 + 4 * k, k, nan=(k == nan_member)), None, None))
    HeLoLearner.fit_many(learners, data, stacked=len(which) > 1)
    Xt, _ = _member_data(9, 99)
    return learners, [lr.predict(Xt) for lr in learners]


def test_stack_stops_only_the_diverged_member_and_names_it():
    """Member 1 of a 3-member stack sees a NaN feature: it stops at epoch 1 with its history
    saying so, while members 0 and 2 train all epochs to what they reach alone."""
    learners, preds = _fit([0, 1, 2], nan_member=1)
    h = learners[1].history()
    assert len(h) == 1 and np.isnan(h[0]["loss"])
    assert fold_failure(h, preds[1]) == "training loss is nan at epoch 1"
    for k in (0, 2):
        assert [r["epoch"] for r in learners[k].history()] == [1, 2, 3]
        assert fold_failure(learners[k].history(), preds[k]) is None
    _, alone = _fit([2])
    np.testing.assert_allclose(preds[2], alone[0], atol=1e-6, rtol=0)
    # trained alone, the diverged member stops at once (no 3 epochs of NaN)
    alone_bad, _ = _fit([1], nan_member=1)
    assert len(alone_bad[0].history()) == 1


def test_fold_failure_names_predictions_and_epoch():
    pred = np.full((4, 2), 0.5)
    assert fold_failure([{"epoch": 1, "loss": 0.3}], pred) is None
    pred[2, 0] = np.inf
    assert fold_failure([{"epoch": 1, "loss": 0.3}, {"epoch": 2, "loss": 0.2}], pred) == \
        "1 of 4 test predictions are not finite after epoch 2"
    assert fold_failure(None, pred) == "1 of 4 test predictions are not finite"
    assert fold_failure([{"epoch": 1, "loss": 0.3, "val_loss": float("inf")}], pred) == \
        "validation loss is inf at epoch 1"


# ------------------------------------------------------------------------ the runner


@pytest.mark.parametrize("stack", [1, 3])
def test_infinite_lr_fails_naming_fold_and_epoch_and_writes_nothing(tmp_path, stack):
    data = _assembled(tmp_path / "data")
    with pytest.raises(FoldFailed) as err:
        _evaluate(data, tmp_path / "out", params={"lr": float("inf")}, stack=stack)
    msg = str(err.value)
    assert msg.startswith("evaluate loso/helo: fold loso-1 (seed 0) failed: training loss is "
                          "nan at epoch 1")
    assert "--allow-partial" in msg
    assert not (tmp_path / "out" / "metrics.json").exists()
    # every fold failing is an error even with partial results allowed
    with pytest.raises(FoldFailed, match=r"all 3 fold run\(s\) failed, nothing to score"):
        _evaluate(data, tmp_path / "out", params={"lr": float("inf")}, stack=stack,
                  allow_partial=True)
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_partial_failure_is_listed_and_never_scored(tmp_path):
    data = _assembled(tmp_path / "data", huge=True)
    with pytest.raises(FoldFailed, match=r"fold loso-1 \(seed 0\) failed: training loss is nan "
                                         r"at epoch 1"):
        _evaluate(data, tmp_path / "refused")
    results = {}
    for stack in (1, 3):
        out = tmp_path / f"s{stack}"
        _evaluate(data, out, stack=stack, allow_partial=True)
        m = json.loads((out / "metrics.json").read_text())
        folds = pd.read_csv(out / "folds.csv")
        assert m["n_folds"] == 3 and m["n_failed"] == 2 and m["stack"] == stack
        assert m["failed"] == [
            {"fold": "loso-1", "seed": 0, "reason": "training loss is nan at epoch 1"},
            {"fold": "loso-3", "seed": 0, "reason": "training loss is nan at epoch 1"}]
        assert list(folds["failed"].fillna("")) == ["training loss is nan at epoch 1", "",
                                                    "training loss is nan at epoch 1"]
        assert folds.loc[[0, 2], "kl"].isna().all()
        # the mean is the one healthy fold's score, its std 0: the failed ones are not in it
        ok = folds.iloc[1]
        for k in ("chebyshev", "clark", "canberra", "kl", "cosine", "intersection"):
            assert m[k] == pytest.approx(ok[k], abs=1e-6) and m["std"][k] == 0.0
        preds = pd.read_parquet(out / "predictions.parquet")
        assert set(preds["fold"]) == {"loso-2"} and len(preds) == 12
        assert np.isfinite(preds.filter(like="pred_").to_numpy()).all()
        hist = pd.read_csv(out / "history.csv")
        bad = hist[hist["fold"] == "loso-1"]
        assert list(bad["epoch"]) == [1] and bad["loss"].isna().all()
        assert list(hist.loc[hist["fold"] == "loso-2", "epoch"]) == [1, 2]
        results[stack] = m
    # the stacked healthy member scores what it scores alone
    assert results[3]["kl"] == pytest.approx(results[1]["kl"], abs=1e-6)


def test_non_deep_learner_with_nan_predictions_fails(tmp_path, monkeypatch):
    from helo.model.base import MeanDistribution
    data = _assembled(tmp_path / "data")
    monkeypatch.setattr(MeanDistribution, "predict",
                        lambda self, X: np.full((len(next(iter(X.values()))), 4), np.nan))
    with pytest.raises(FoldFailed, match=r"evaluate loso/mean: fold loso-1 \(seed 0\) failed: "
                                         r"12 of 12 test predictions are not finite \("):
        run_evaluation(data, "loso", "mean", tmp_path / "out", model_params={},
                       progress=False)


# ------------------------------------------------------------------------ the command


@pytest.fixture
def project(tmp_path, monkeypatch):
    proj = tmp_path / "proj"
    proj.mkdir()
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["assemble"].update(physiological=["eeg", "gsr"], behavioural=["video"])
    params["features"]["modalities"] = list(DIMS)
    params["model"]["helo"].update({k: v for k, v in SMALL.items() if k != "device"})
    params["model"]["helo"].pop("by_protocol", None)  # the shared settings under every protocol
    params["orchestrator"].update(task_runner="serial", warm=False)
    (proj / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    monkeypatch.chdir(proj)
    return proj


def test_evaluate_command_exits_1_or_reports_the_failed_folds(project, capsys):
    from helo.cli import main
    argv = ["evaluate", "--protocol", "loso", "--method", "helo"]
    _assembled(project / "data" / "assembled")
    assert main(argv + ["-S", "model.helo.lr=1000"]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert re.search(r"^helo evaluate: error: evaluate loso/helo: fold loso-1 \(seed 0\) "
                     r"failed: training loss is (nan|inf) at epoch \d+ ", err)
    assert not (project / "outputs" / "eval" / "loso" / "helo" / "metrics.json").exists()
    # an infinite learning rate never reaches training: the schema names the key
    assert main(argv + ["-S", "model.helo.lr=.inf"]) == 1
    assert "model.helo.lr" in capsys.readouterr().err
    # with --allow-partial the diverged folds are listed and the stage succeeds
    _assembled(project / "data" / "assembled", huge=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert main(argv + ["--allow-partial"]) == 0
    m = json.loads((project / "outputs" / "eval" / "loso" / "helo" / "metrics.json").read_text())
    assert m["n_failed"] == 2 and [f["fold"] for f in m["failed"]] == ["loso-1", "loso-3"]


def test_deep_baseline_divergence_names_method_fold_and_epoch(tmp_path):
    """The baselines train on the same engine: an infinite learning rate fails CARAT's first
    fold at the epoch its loss went NaN (its history says so), before any score."""
    data = _assembled(tmp_path / "data")
    with pytest.raises(FoldFailed, match=r"^evaluate loso/carat: fold loso-1 \(seed 0\) failed: "
                                         r"training loss is nan at epoch \d"):
        run_evaluation(data, "loso", "carat", tmp_path / "out", progress=False,
                       model_params={"lr": float("inf"), "epochs": 3, "d": 8, "dz": 4,
                                     "device": "cpu"})


def test_fit_final_refuses_to_save_a_diverged_model(tmp_path):
    """The final model helo predict would serve: a divergence is an error, nothing saved."""
    from helo.stages.fit_final import fit_final_model
    data = _assembled(tmp_path / "data")
    rooms = {"physiological": ["eeg", "gsr"], "behavioural": ["video"]}
    params = {"model": {"helo": {**SMALL, "lr": 1e6}}, "evaluate": {"seed": 0}, "assemble": rooms}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(ValueError, match=r"fit-final: HeLo diverged .*at epoch \d"):
            fit_final_model(data, tmp_path / "model", params)
    assert not (tmp_path / "model").exists()
    fit_final_model(data, tmp_path / "model",
                    {"model": {"helo": SMALL}, "evaluate": {"seed": 0}, "assemble": rooms})
    assert (tmp_path / "model" / "model.pt").is_file()
