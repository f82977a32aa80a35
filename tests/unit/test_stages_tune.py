"""helo tune: nested inner splits that never touch a test fold, a seeded search, and params.yaml
edits that keep everything else byte for byte."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from helo.data import assemble as asm
from helo.evaluation.splits import make_folds
from helo.stages import tune

PARAMS = """\
# a comment at the top
evaluate:
  methods: [helo, mean, aa-knn]   # kept as it is
  seed: 0
  test_fraction: 0.2
model:
  helo:
    lr: 0.001                 # a comment beside a value
    patience: null            # null stays null
  mean: {}
  aa-knn: {k: 5}
  ldl-lrr: {}
tune:
  trials: 4
  outer_folds: 2
  val_fraction: 0.25
  inner_split: mirror
  seed: 0
"""


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """4 subjects x 4 trials x 10 windows; labels depend on the EEG features."""
    rng = np.random.default_rng(0)
    subj = np.repeat(["1", "2", "3", "4"], 40)
    trial = np.tile(np.repeat(["t1", "t2", "t3", "t4"], 10), 4)
    window = np.tile(np.arange(10), 16)
    eeg = rng.normal(size=(160, 6))
    logits = eeg[:, :3] + 0.3 * rng.normal(size=(160, 3))
    y = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    ds = asm.Dataset(X={"eeg": eeg.astype(np.float32),
                        "video": rng.normal(size=(160, 4)).astype(np.float32)},
                     feature_names={"eeg": [f"e{i}" for i in range(6)],
                                    "video": [f"v{i}" for i in range(4)]},
                     y=y, label_names=["a", "b", "c"], subject=subj, trial=trial,
                     window=window, physiological=["eeg"], behavioural=["video"])
    out = tmp_path_factory.mktemp("assembled")
    asm.save(ds, out)
    return out


@pytest.mark.parametrize("protocol,split", [("subject-dependent", "mirror"),
                                            ("subject-dependent", "grouped"),
                                            ("trial-held-out", "mirror"), ("loso", "mirror")])
def test_inner_splits_stay_inside_the_training_part(dataset, protocol, split):
    ds, splits = tune.inner_splits(dataset, protocol, outer_folds=None, val_fraction=0.25,
                                   inner_split=split)
    folds = {f.name: f for f in make_folds(protocol, ds.subject, ds.trial, seed=0)}
    assert len(splits) == len(folds)
    keys = ds.trial_keys()
    for sp in splits:
        fold = folds[sp["fold"]]
        assert np.array_equal(np.sort(np.r_[sp["fit"], sp["val"]]), np.sort(fold.train))
        assert not np.intersect1d(np.r_[sp["fit"], sp["val"]], fold.test).size
        if protocol == "loso":  # whole subjects
            assert not set(ds.subject[sp["fit"]]) & set(ds.subject[sp["val"]])
        elif split == "grouped" or protocol == "trial-held-out":  # whole trials
            assert not set(keys[sp["fit"]]) & set(keys[sp["val"]])
        else:  # the paper's random window split: trials on both sides
            assert set(keys[sp["fit"]]) & set(keys[sp["val"]])
    ds, two = tune.inner_splits(dataset, protocol, outer_folds=2, inner_split=split)
    assert [s["fold"] for s in two] == [list(folds)[0], list(folds)[-1]]


def test_tune_searches_records_and_writes_params(dataset, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(PARAMS)
    params = yaml.safe_load(PARAMS)
    kw = dict(params_path="params.yaml", out_root=tmp_path / "tune", dataset_dir=dataset)
    dry = tune.run(params, "aa-knn", "subject-dependent", dry_run=True, **kw)
    assert (tmp_path / "params.yaml").read_text() == PARAMS  # dry run: untouched
    study = pd.read_csv(tmp_path / "tune" / "subject-dependent" / "aa-knn" / "study.csv")
    assert len(study) == 4 and (study["state"] == "COMPLETE").all()
    assert dry["best"]["val"]["kl"] == pytest.approx(study["val_kl"].min())
    assert (tmp_path / "tune" / "subject-dependent" / "aa-knn" / "history.png").exists()
    summary = pd.read_csv(tmp_path / "tune" / "summary.csv")
    assert summary[["protocol", "method", "trials"]].values.tolist() == \
        [["subject-dependent", "aa-knn", 4]]
    # seeded: the same trials again
    rec = tune.run(params, "aa-knn", "subject-dependent", **kw)
    again = pd.read_csv(tmp_path / "tune" / "subject-dependent" / "aa-knn" / "study.csv")
    pd.testing.assert_series_equal(study["val_kl"], again["val_kl"])
    assert json.loads((tmp_path / "tune" / "subject-dependent" / "aa-knn" / "best.json")
                      .read_text())["written"] == rec["written"]
    text = (tmp_path / "params.yaml").read_text()
    # the protocol's own block, over the untouched shared settings
    model = yaml.safe_load(text)["model"]["aa-knn"]
    assert model["k"] == 5 and rec["written"]
    block = model["by_protocol"]["subject-dependent"]
    if rec["improves_on_baseline"]:
        best = rec["best"]["params"]
        assert block == {"k": best["k"], "pca": best["pca"]}
    else:  # the settings before the search won: the block records them (k; pca was unset)
        assert rec["best"]["val"]["kl"] >= rec["baseline"]["val"]["kl"] and block == {"k": 5}
    assert rec["written_to"] == "model.aa-knn.by_protocol.subject-dependent"
    assert rec["settings"]["k"] == block["k"]
    unchanged = [a for a in PARAMS.splitlines() if a != "  aa-knn: {k: 5}"]
    assert [a for a in text.splitlines() if a in unchanged] == unchanged


def test_diverging_settings_fail_their_trial_not_the_search(dataset, tmp_path, monkeypatch):
    """Current settings whose predictions are NaN score as diverged (any finite trial beats
    them); a diverging trial is recorded as FAIL and the search goes on."""
    from helo.evaluation.metrics import NonFiniteError
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(PARAMS)
    params = yaml.safe_load(PARAMS)
    real = tune.score_config

    def diverging_at_k5(method, ds, splits, model_params, **kw):
        if model_params.get("k") in (5, 3):
            raise NonFiniteError("prediction has 3 NaN value(s)")
        return real(method, ds, splits, model_params, **kw)

    monkeypatch.setattr(tune, "score_config", diverging_at_k5)
    rec = tune.run(params, "aa-knn", "subject-dependent", dry_run=True, params_path="params.yaml",
                   out_root=tmp_path / "tune", dataset_dir=dataset)
    assert rec["baseline"]["val"] == {"kl": None, "error": "prediction has 3 NaN value(s)"}
    study = pd.read_csv(tmp_path / "tune" / "subject-dependent" / "aa-knn" / "study.csv")
    assert len(study) == 4
    assert set(study["state"]) <= {"COMPLETE", "FAIL"} and (study["state"] == "COMPLETE").any()
    assert rec["improves_on_baseline"] and rec["best"]["val"]["kl"] > 0
    summary = pd.read_csv(tmp_path / "tune" / "summary.csv")
    assert summary["val_kl_before"].isna().all()


def test_write_params_keeps_layout_and_types(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(PARAMS)
    tune.write_params(path, "ldl-lrr", {"alpha": 1e-05, "pca": None, "whiten": True})
    tune.write_params(path, "helo", {"lr": 0.000523, "d": 64})
    text = path.read_text()
    got = yaml.safe_load(text)["model"]  # PyYAML (YAML 1.1), as the stages read it
    assert got["ldl-lrr"] == {"alpha": 1e-05, "pca": None, "whiten": True}
    assert isinstance(got["ldl-lrr"]["alpha"], float)
    assert got["helo"] == {"lr": 0.000523, "patience": None, "d": 64}
    assert "  ldl-lrr: {alpha: 1.0e-05, pca: null, whiten: true}" in text
    assert "    lr: 0.000523              # a comment beside a value" in text
    assert "    patience: null            # null stays null" in text
    assert text.startswith("# a comment at the top\n")
    assert "  methods: [helo, mean, aa-knn]   # kept as it is" in text


def test_search_spaces_name_real_parameters():
    from helo.model.registry import get_class
    from helo.model.search_spaces import SPACES, space_of
    assert space_of("mean", get_class("mean")) == []
    for method, space in SPACES.items():
        assert len({d.key for d in space}) == len(space), method
    # HeLo's keys are keywords HeLoLearner accepts
    from helo.model.helo import NET_DEFAULTS, TRAIN_DEFAULTS
    assert {d.key for d in SPACES["helo"]} <= set(NET_DEFAULTS) | set(TRAIN_DEFAULTS)
    # what sets a deep method's cost is not searched (equal trials, no slower default run)
    cost = {"epochs", "d", "dz", "tokens", "n_tokens", "hidden", "depth", "head_hidden"}
    for method in ("helo", "carat", "rsm-ual", "amanda", "conformer"):
        assert not cost & {d.key for d in SPACES[method]}, method


def test_write_params_per_protocol_blocks(tmp_path):
    """``protocol=``: the block under by_protocol is replaced, the shared settings and every
    other line kept; blocks stay in protocol order whatever order they were written in."""
    path = tmp_path / "params.yaml"
    path.write_text(PARAMS)
    tune.write_params(path, "aa-knn", {"k": 9}, protocol="loso")
    tune.write_params(path, "aa-knn", {"k": 3, "pca": 8}, protocol="subject-dependent")
    tune.write_params(path, "aa-knn", {"k": 4}, protocol="loso")
    tune.write_params(path, "helo", {"lr": 0.002}, protocol="trial-held-out")
    text = path.read_text()
    got = yaml.safe_load(text)["model"]
    assert got["aa-knn"] == {"k": 5, "by_protocol": {"subject-dependent": {"k": 3, "pca": 8},
                                                     "loso": {"k": 4}}}
    assert list(got["aa-knn"]["by_protocol"]) == ["subject-dependent", "loso"]
    assert got["helo"] == {"lr": 0.001, "patience": None,
                           "by_protocol": {"trial-held-out": {"lr": 0.002}}}
    assert "    lr: 0.001                 # a comment beside a value" in text
    assert "  aa-knn: {k: 5, by_protocol: {subject-dependent: {k: 3, pca: 8}, loso: {k: 4}}}" \
        in text
    from helo.stages.schema import validate
    cfg = validate(yaml.safe_load(text))
    assert cfg.method_options("aa-knn", "loso") == {"k": 4}
    assert cfg.method_options("aa-knn", "subject-dependent") == {"k": 3, "pca": 8}
    assert cfg.method_options("aa-knn", "trial-held-out") == {"k": 5}
    assert cfg.method_options("aa-knn") == {"k": 5}


def test_tune_all_runs_every_pair_once_and_resumes(dataset, tmp_path, monkeypatch):
    """--all: every (protocol, method) of evaluate.* searched with the same budget; a second
    call skips what is recorded for this budget and data, a new budget searches again, and a
    failing method fails the call after the others ran."""
    monkeypatch.chdir(tmp_path)
    text = PARAMS.replace("methods: [helo, mean, aa-knn]", "methods: [mean, aa-knn]") \
        .replace("  seed: 0\n  test_fraction", "  seed: 0\n  protocols: [subject-dependent, "
                 "loso]\n  test_fraction").replace("trials: 4", "trials: 2")
    (tmp_path / "params.yaml").write_text(text)
    calls = []
    real = tune.run

    def counted(cfg, method, protocol, **kw):
        calls.append((protocol, method))
        return real(cfg, method, protocol, **kw)

    monkeypatch.setattr(tune, "run", counted)
    kw = dict(params_path="params.yaml", out_root=tmp_path / "tune", dataset_dir=dataset,
              progress=False)
    from helo.stages.params import load_config
    first = tune.run_all(load_config("params.yaml"), **kw)
    assert calls == [("subject-dependent", "mean"), ("subject-dependent", "aa-knn"),
                     ("loso", "mean"), ("loso", "aa-knn")]
    assert first["skipped"] == [] and not first["failed"]
    blocks = yaml.safe_load((tmp_path / "params.yaml").read_text())["model"]["aa-knn"]
    assert set(blocks["by_protocol"]) == {"subject-dependent", "loso"}
    calls.clear()
    again = tune.run_all(load_config("params.yaml"), **kw)
    assert calls == [] and len(again["skipped"]) == 4
    bigger = tune.run_all(load_config("params.yaml"), trials=3, methods=["aa-knn"],
                          protocols=["loso"], **kw)
    assert calls == [("loso", "aa-knn")] and bigger["budget"]["trials"] == 3

    def broken(cfg, method, protocol, **kw):
        if method == "mean":
            raise ValueError("bad")
        return real(cfg, method, protocol, **kw)

    monkeypatch.setattr(tune, "run", broken)
    with pytest.raises(RuntimeError, match="1 search.*subject-dependent/mean"):
        tune.run_all(load_config("params.yaml"), force=True, protocols=["subject-dependent"],
                     **kw)
