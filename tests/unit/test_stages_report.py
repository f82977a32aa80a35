"""The report stage end to end on fabricated evaluation outputs (folds.csv, metrics.json,
predictions.parquet per method): its statistics, mean-predictor marks, the paper's reference
rows and failed methods in the files it writes. The tables, figures and notes it calls are
tested beside their rooms (test_evaluation_tables.py, _figures.py, _diagnosis.py)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from helo.evaluation.metrics import METRICS, evaluate
from helo.stages import report

LABELS = ["a", "b", "c", "d"]


def _fake_eval(root, protocol, method, y, preds, fold_of):
    out = root / protocol / method
    out.mkdir(parents=True)
    rows = []
    for f in sorted(set(fold_of)):
        sel = fold_of == f
        rows.append({"fold": f, "subject": f, "n_train": 10, "n_val": 0,
                     "n_test": int(sel.sum()), **evaluate(y[sel], preds[sel])})
    folds = pd.DataFrame(rows)
    folds.to_csv(out / "folds.csv", index=False)
    metrics = {"method": method, "protocol": protocol, "n_folds": len(rows), "n_rows": len(y),
               **{k: float(folds[k].mean()) for k in METRICS},
               "std": {k: float(folds[k].std(ddof=0)) for k in METRICS}}
    (out / "metrics.json").write_text(json.dumps(metrics))
    frame = pd.DataFrame({"fold": fold_of, "row": np.arange(len(y)), "subject": fold_of,
                          "trial": "t1", "window": np.arange(len(y))})
    for j, lab in enumerate(LABELS):
        frame[f"true_{lab}"] = y[:, j]
        frame[f"pred_{lab}"] = preds[:, j]
    frame.to_parquet(out / "predictions.parquet")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Fabricated results for two protocols, and the report built once from them (DMER)."""
    tmp_path = tmp_path_factory.mktemp("report")
    rng = np.random.default_rng(0)
    n, folds = 160, 8
    fold_of = np.repeat([f"s{i}" for i in range(folds)], n // folds)
    y = rng.dirichlet(np.ones(4) * 3, size=n)
    noise = lambda s: np.abs(y + rng.normal(0, s, y.shape)) + 1e-3  # noqa: E731
    preds = {"helo": noise(0.03), "aa-knn": noise(0.08),
             "mean": np.tile(y.mean(axis=0), (n, 1)),
             # over-confident: almost all mass on the arg-max of a noisy copy
             "ldl-lrr": np.eye(4)[np.argmax(noise(0.2), axis=1)] + 1e-6}
    for protocol in ("subject-dependent", "loso"):
        for m, p in preds.items():
            _fake_eval(tmp_path / "eval", protocol, m, y, p / p.sum(1, keepdims=True), fold_of)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path)
        mp.setattr(report, "_efficiency", lambda out, params: [])
        res = report.build_report(tmp_path / "eval", tmp_path / "report", _params())
    return tmp_path, res


def _params(**data):
    return {"data": {"name": "DMER", "layout": "dmer-raw", "root": "/data/DMER", **data},
            "evaluate": {"protocols": ["subject-dependent", "loso"],
                         "methods": ["helo", "mean", "aa-knn", "ldl-lrr"]},
            "report": {"figure_samples": 2}}


def test_report_statistics_marks_and_paper_rows(built):
    evaluated, res = built
    out = evaluated / "report"
    assert res["paper_reference"] == "DMER" and "cd_diagram.png" in res["figures"]
    assert (out / "cd_diagram.png").stat().st_size > 10_000
    sig = pd.read_csv(out / "significance.csv")
    kl = sig[(sig.protocol == "loso") & (sig.metric == "kl")].set_index("method")
    # helo is better than every other method on all 8 folds: exact two-sided p = 2 / 2^8,
    # and Holm over three comparisons multiplies the smallest by 3
    assert kl.loc["aa-knn", "p"] == pytest.approx(2 / 256)
    assert kl.loc["aa-knn", "p_holm"] == pytest.approx(3 * 2 / 256)
    assert bool(kl.loc["ldl-lrr", "significant"]) and not bool(kl.loc["ldl-lrr", "better"])
    assert kl["friedman_p"].iloc[0] < 0.01
    # interval from the folds: mean +- t * s / sqrt(8)
    folds = pd.read_csv(evaluated / "eval" / "loso" / "aa-knn" / "folds.csv")
    half = 2.364624 * folds["kl"].std(ddof=1) / np.sqrt(8)
    assert kl.loc["aa-knn", "ci_high"] == pytest.approx(folds["kl"].mean() + half, rel=1e-5)
    md = (out / "comparison.md").read_text()
    assert "ldl-lrr †" in md and "over-confident" in md and "aa-knn †" not in md
    assert "*Reported by the paper* (Table 1, DMER" in md
    assert "*Reported by the paper* (Table 2, DMER" in md
    assert "| HeLo | 0.0446 (1) | 0.3256 (1) | 0.8664 (1) | 0.0323 (2) |" in md  # Table 1
    assert "| PT-SVM | 0.1462 (11) |" in md  # Table 2
    csv = pd.read_csv(out / "comparison_subject-dependent.csv")
    paper = csv[csv["source"].str.startswith("reported by the paper")]
    assert len(paper) == 11 and paper.set_index("method").loc["helo", "kl"] == 0.0323
    assert (out / "significance.md").read_text().count("Friedman") >= 12


def test_paper_rows_only_on_real_dmer_or_wesad(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert report.paper_dataset(_params(name="synth-dmer", root="data/raw/synth")) is None
    assert report.paper_dataset(_params(layout="generic", name="mine", root="/d")) is None
    assert report.paper_dataset({**_params(name="synth-dmer", root="data/raw/synth"),
                                 "report": {"paper_reference": "always"}}) == "DMER"
    assert report.paper_dataset(_params(layout="wesad", name="x", root="/d/WESAD")) == "WESAD"
    assert report.paper_dataset({**_params(), "report": {"paper_reference": "never"}}) is None


def test_failed_method_is_shown_failed_and_never_ranked(tmp_path, monkeypatch):
    """Issue 21: a HeLo with 2 of 8 folds failed (evaluated with --allow-partial) and near
    perfect scores on the others, and, under another protocol, an old-style HeLo whose NaN
    predictions were scored as Clark / Canberra 0: neither ranks, neither is tested, the
    t-SNE of its non-finite tokens is not attempted, and the others rank among themselves."""
    rng = np.random.default_rng(1)
    n, n_folds = 80, 8
    fold_of = np.repeat([f"s{i}" for i in range(n_folds)], n // n_folds)
    y = rng.dirichlet(np.ones(4) * 3, size=n)
    preds = {"helo": y + 1e-4, "aa-knn": np.abs(y + rng.normal(0, 0.05, y.shape)) + 1e-3,
             "mean": np.tile(y.mean(axis=0), (n, 1)),
             "ldl-lrr": np.abs(y + rng.normal(0, 0.1, y.shape)) + 1e-3}
    ev = tmp_path / "eval"
    for protocol in ("subject-dependent", "loso", "trial-held-out"):
        for m, p in preds.items():
            if protocol == "trial-held-out" and m != "helo":
                continue
            _fake_eval(ev, protocol, m, y, p / p.sum(1, keepdims=True), fold_of)
    # loso: 2 folds failed, reported the way the runner reports them
    d = ev / "loso" / "helo"
    folds = pd.read_csv(d / "folds.csv")
    folds.loc[[1, 4], list(METRICS)] = np.nan
    folds["failed"] = ["", "training loss is nan at epoch 3", "", "",
                       "training loss is inf at epoch 1", "", "", ""]
    folds.to_csv(d / "folds.csv", index=False)
    m = json.loads((d / "metrics.json").read_text())
    m.update(n_failed=2, failed=[{"fold": "s1", "seed": 0, "reason": "training loss is nan "
                                  "at epoch 3"}, {"fold": "s4", "seed": 0,
                                                  "reason": "training loss is inf at epoch 1"}])
    (d / "metrics.json").write_text(json.dumps(m))
    n_tok = 40
    np.savez(d / "explain.npz", rows=np.arange(n_tok), label_corr=np.full((4, 4), np.nan),
             **{k: np.full((n_tok, 2, 3), np.nan) for k in ("phys_before", "beh_before",
                                                             "phys_after", "beh_after")})
    # subject-dependent and trial-held-out: the old scoring of NaN predictions
    for protocol in ("subject-dependent", "trial-held-out"):
        d = ev / protocol / "helo"
        folds = pd.read_csv(d / "folds.csv")
        folds[["chebyshev", "kl", "intersection"]] = np.nan
        folds[["clark", "canberra", "cosine"]] = 0.0
        folds.to_csv(d / "folds.csv", index=False)
        m = json.loads((d / "metrics.json").read_text())
        m.update(chebyshev=None, kl=None, intersection=None, clark=0.0, canberra=0.0,
                 cosine=0.0)
        (d / "metrics.json").write_text(json.dumps(m))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(report, "_efficiency", lambda out, params: [])
    params = _params(name="synth", layout="generic", root="x")
    params["evaluate"]["protocols"] = ["subject-dependent", "trial-held-out", "loso"]
    res = report.build_report(ev, tmp_path / "report", params)
    out = tmp_path / "report"
    md = (out / "comparison.md").read_text()
    assert "| **helo ‡** | failed (2/8 folds) | failed (2/8 folds) |" in md
    assert "| **helo ‡** | failed (8/8 folds) |" in md  # the NaN-scored HeLo
    assert md.count("| not ranked |") == 3
    assert "- helo: failed (2/8 folds): s1 (seed 0): training loss is nan at epoch 3; s4 " \
           "(seed 0): training loss is inf at epoch 1" in md
    assert "No method without failed folds" in (out / "significance.md").read_text()
    for protocol in ("subject-dependent", "loso"):
        csv = pd.read_csv(out / f"comparison_{protocol}.csv").set_index("method")
        assert np.isnan(csv.loc["helo", "average_rank"]) and np.isnan(csv.loc["helo", "kl"])
        assert csv.loc["helo", "note"].startswith("failed (")
        # the three others rank among themselves: ranks 1..3 on each metric, mean 2
        others = csv.drop(index="helo")["average_rank"]
        assert others.sum() == pytest.approx(6.0) and others.min() >= 1.0
        assert csv.loc["aa-knn", "kl_rank"] == 1.0
    sig = pd.read_csv(out / "significance.csv")
    assert "helo" not in set(sig["method"]) and set(sig["protocol"]) == {"subject-dependent",
                                                                        "loso"}
    summary = json.loads((tmp_path / "outputs" / "metrics.json").read_text())
    assert summary["loso"]["helo"] == {"failed_folds": 2, "n_folds": 8}
    assert summary["trial-held-out"] == {"helo": {"failed_folds": 8, "n_folds": 8}}
    assert summary["loso"]["aa-knn"]["average_rank"] == 1.0
    assert "tsne_tokens.png" not in res["figures"] and "label_correlation.png" not in \
        res["figures"]


def test_efficiency_table_builds_helo_at_the_paper_configuration():
    """The paper preset's `by_protocol: null` is a settings block, not a network option: the
    efficiency table must leave it out when it builds HeLo at the paper's configuration."""
    from pathlib import Path

    from helo.stages.efficiency import efficiency_table
    from helo.stages.params import load_config
    cfg = load_config(Path(__file__).resolve().parents[2] / "params.yaml")
    rows = {r["method"]: r for r in efficiency_table(["helo"], cfg)}
    assert rows["helo (paper configuration)"]["params"] > 0
    assert rows["HeLo (paper, Table 5)"]["params"] == 4_040_000
