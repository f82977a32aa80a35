"""The report's tables (helo.evaluation.tables) on hand-built results: ranks with ties and
higher-is-better metrics, intervals over folds, failed methods, the markdown cells, the paper's
reference rows and the efficiency table."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helo.evaluation import tables
from helo.evaluation.metrics import METRICS


def test_rank_table_averages_ties_and_follows_each_metric_direction():
    table = {"a": {"kl": 0.1, "cosine": 0.9}, "b": {"kl": 0.2, "cosine": 0.9},
             "c": {"kl": 0.3, "cosine": 0.8}}
    ranks = tables.rank_table(table, ["kl", "cosine"])
    # KL: lower is better -> 1, 2, 3; cosine: higher is better, a and b tie on 1 and 2 -> 1.5
    assert ranks["per_metric"] == {"a": {"kl": 1.0, "cosine": 1.5},
                                   "b": {"kl": 2.0, "cosine": 1.5},
                                   "c": {"kl": 3.0, "cosine": 3.0}}
    assert ranks["average"] == {"a": 1.25, "b": 1.75, "c": 3.0}


def test_comparison_table_interval_over_folds_and_mean_without_folds():
    results = {"helo": {"kl": 99.0}, "mean": {"kl": 0.5, "std": {"kl": 0.05}, "n_folds": 3}}
    folds = {"helo": pd.DataFrame({"fold": ["s0", "s1", "s2"], "kl": [0.1, 0.2, 0.3]})}
    df = tables.comparison_table(results, ["kl"], folds).set_index("method")
    # folds: mean 0.2, sample std 0.1, t_{0.975, 2} = 4.302653 -> half width 0.1 * t / sqrt(3)
    half = 4.302653 * 0.1 / np.sqrt(3)
    assert df.loc["helo", "kl"] == pytest.approx(0.2)
    assert df.loc["helo", "kl_std"] == pytest.approx(0.1)
    assert df.loc["helo", "kl_ci_low"] == pytest.approx(0.2 - half, rel=1e-6)
    assert df.loc["helo", "kl_ci_high"] == pytest.approx(0.2 + half, rel=1e-6)
    assert df.loc["helo", "n_folds"] == 3 and df.loc["helo", "kl_rank"] == 1.0
    # no folds.csv: metrics.json's mean and std, no interval
    assert df.loc["mean", "kl"] == 0.5 and df.loc["mean", "kl_std"] == 0.05
    assert np.isnan(df.loc["mean", "kl_ci_low"]) and df.loc["mean", "average_rank"] == 2.0


def test_failed_methods_counts_failed_folds_and_non_finite_means():
    finite = {k: 0.5 for k in METRICS}
    results = {
        "helo": {**finite, "n_folds": 4, "n_failed": 1,
                 "failed": [{"fold": "s1", "seed": 0, "reason": "training loss is nan"}]},
        "cad": {**finite, "kl": None, "n_folds": 3},
        "mean": {**finite, "n_folds": 4},
    }
    # a folds table with one unscored row outranks metrics.json's count
    folds = {"cad": pd.DataFrame({"fold": ["a", "b", "c"], "kl": [0.1, np.nan, 0.2]})}
    failed = tables.failed_methods(results, folds, list(METRICS))
    assert set(failed) == {"helo", "cad"}
    assert failed["helo"]["label"] == "failed (1/4 folds)"
    assert failed["helo"]["reasons"] == ["s1 (seed 0): training loss is nan"]
    assert failed["cad"] == {"label": "failed (1/3 folds)", "n_failed": 1, "n_folds": 3,
                             "reasons": ["non-finite scores"]}
    # no row to blame: every fold counts as failed
    only_mean = tables.failed_methods({"cad": results["cad"]}, {}, list(METRICS))
    assert only_mean["cad"]["label"] == "failed (3/3 folds)"
    rows = tables.failed_rows(failed).set_index("method")
    assert rows.loc["helo", "note"] == "failed (1/4 folds): s1 (seed 0): training loss is nan"


def test_markdown_cells_marks_and_failed_rows():
    df = pd.DataFrame([
        {"method": "helo", "kl": 0.1, "kl_std": 0.01, "kl_ci_low": 0.09, "kl_ci_high": 0.11,
         "kl_rank": 1.0, "average_rank": 1.0},
        {"method": "mean", "kl": 0.2, "kl_std": 0.02, "kl_ci_low": np.nan,
         "kl_ci_high": np.nan, "kl_rank": 2.0, "average_rank": 2.0}])
    failed = {"cad": {"label": "failed (1/4 folds)", "reasons": ["s1 (seed 0): nan"]}}
    md = tables.to_markdown(df, ["kl"], {"mean": " †"}, failed=failed).splitlines()
    assert md[0] == "| Method | KL ↓ | Avg. rank |"
    assert md[2] == "| **helo** | **0.1000 ± 0.0100 [0.0900, 0.1100] (1)** | 1.00 |"
    assert md[3] == "| mean † | 0.2000 ± 0.0200 (2) | 2.00 |"
    assert md[4] == "| cad ‡ | failed (1/4 folds) | not ranked |"
    note = tables.failed_markdown(failed)
    assert note[1] == "- cad: failed (1/4 folds): s1 (seed 0): nan"


def test_paper_rows_of_the_papers_tables():
    rows = tables.paper_rows("WESAD", "loso", list(METRICS))
    assert rows.set_index("method").loc["emotiondict", "kl"] == 0.0282  # Table 2, rank 1
    assert rows["average_rank"].is_monotonic_increasing
    assert tables.paper_rows("WESAD", "trial-held-out", list(METRICS)).empty
    md = tables.paper_markdown(tables.paper_rows("DMER", "subject-dependent", list(METRICS)),
                               list(METRICS), "DMER")
    assert "*Reported by the paper* (Table 1, DMER" in md
    assert "| HeLo | 0.0446 (1) | 0.3256 (1) | 0.8664 (1) | 0.0323 (2) |" in md


def test_efficiency_markdown_in_millions():
    md = tables.efficiency_markdown([{"method": "helo", "params": 1_234_567,
                                      "flops": 9_870_000}])
    assert md.startswith("# Efficiency at DMER's dimensions (90/28/27/768 features, 10 labels)")
    assert md.splitlines()[-1] == "| helo | 1.23 M | 9.87 M |"
