"""helo.evaluation.stats against hand-computed cases and independent references."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from helo.evaluation import stats as S


def test_t_interval_hand_case():
    # 1..5: mean 3, s = sqrt(2.5), t_{0.975,4} = 2.776445 (tables), half = t s / sqrt(5)
    ci = S.t_interval([1, 2, 3, 4, 5])
    assert ci["n"] == 5 and ci["mean"] == pytest.approx(3.0)
    assert ci["std"] == pytest.approx(math.sqrt(2.5))
    half = 2.776445 * math.sqrt(2.5) / math.sqrt(5)
    assert ci["ci_low"] == pytest.approx(3 - half, abs=1e-5)
    assert ci["ci_high"] == pytest.approx(3 + half, abs=1e-5)
    one = S.t_interval([0.4])
    assert one["mean"] == 0.4 and math.isnan(one["ci_low"])


def test_holm_hand_case_and_statsmodels():
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1 -> running max 0.06
    np.testing.assert_allclose(S.holm(p), [0.03, 0.06, 0.06, 0.02])
    from statsmodels.stats.multitest import multipletests
    rng = np.random.default_rng(1)
    q = rng.uniform(0, 0.2, 9)
    np.testing.assert_allclose(S.holm(q), multipletests(q, method="holm")[1])
    out = S.holm([0.02, np.nan, 0.5])  # NaN is not part of the family (m = 2)
    assert math.isnan(out[1])
    np.testing.assert_allclose(out[[0, 2]], [0.04, 0.5])


def test_wilcoxon_exact_small_case_by_hand():
    # d = (1, 2, -3, 4, 5): W+ = 12, W- = 3; exact two-sided p = 2 * #{subsets of 1..5 with
    # rank sum <= 3} / 2^5 = 2 * 5 / 32
    y = np.zeros(5)
    w = S.wilcoxon(y + [1, 2, -3, 4, 5], y)
    assert w["statistic"] == 3 and w["p"] == pytest.approx(10 / 32)
    # a zero difference is dropped (zero_method wilcox): same result
    w0 = S.wilcoxon(np.r_[0.0, [1, 2, -3, 4, 5]], np.zeros(6))
    assert w0["n"] == 6 and w0["n_nonzero"] == 5 and w0["p"] == pytest.approx(10 / 32)
    # all six differences positive: p = 2 / 2^6
    assert S.wilcoxon(np.arange(1, 7) * 0.1, np.zeros(6))["p"] == pytest.approx(2 / 64)
    assert S.wilcoxon([1, 2, 3], [1, 2, 3])["p"] == 1.0
    assert math.isnan(S.wilcoxon([1, 2, 3], [1, 2, 2])["p"])


def test_friedman_and_nemenyi_hand_case():
    # A always best, C always worst on 4 folds: rank sums 4, 8, 12;
    # chi2 = 12 / (n k (k+1)) * sum R^2 - 3 n (k+1) = 56 - 48 = 8, p = exp(-8/2) (2 df)
    table = pd.DataFrame({"A": [0.1, 0.2, 0.15, 0.12], "B": [0.2, 0.3, 0.25, 0.22],
                          "C": [0.3, 0.4, 0.35, 0.32]})
    f = S.friedman(table)
    assert f["statistic"] == pytest.approx(8.0) and f["p"] == pytest.approx(math.exp(-4))
    ranks = S.block_ranks(table).mean()
    assert list(ranks) == [1.0, 2.0, 3.0]
    # Demsar's table: q_0.05 = 2.343 for k = 3
    cd = S.critical_difference(3, 4)
    assert cd == pytest.approx(2.343 * math.sqrt(3 * 4 / 24), abs=1e-3)
    p = S.nemenyi(table)
    assert p.loc["A", "C"] < 0.05 < p.loc["A", "B"]  # rank gaps 2 > CD 1.66 > 1
    # a higher-is-better metric: negated, the same pattern with the best column first
    assert S.block_ranks(-table, higher_is_better=True).mean().tolist() == [1.0, 2.0, 3.0]


def test_paired_uses_shared_fold_seed_keys():
    a = pd.DataFrame({"fold": ["f1", "f1", "f2"], "seed": [0, 1, 0], "kl": [0.1, 0.2, 0.3]})
    b = pd.DataFrame({"fold": ["f1", "f2", "f2"], "seed": [0, 0, 1], "kl": [0.5, 0.6, 0.7]})
    t = S.paired({"a": a, "b": b}, "kl")
    assert list(t.index) == [("f1", 0), ("f2", 0)]
    np.testing.assert_allclose(t["b"], [0.5, 0.6])
    with pytest.raises(ValueError, match="seed"):
        S.paired({"a": a, "c": a.drop(columns="seed").iloc[[0, 2]]}, "kl")


def test_compare_to_reference_marks_significance():
    rng = np.random.default_rng(0)
    folds = [f"f{i}" for i in range(12)]
    base = rng.uniform(0.05, 0.1, 12)
    frames = {"helo": pd.DataFrame({"fold": folds, "kl": base}),
              "worse": pd.DataFrame({"fold": folds, "kl": base + rng.uniform(0.01, 0.02, 12)}),
              "same": pd.DataFrame({"fold": folds, "kl": base + rng.normal(0, 0.01, 12)})}
    df = S.compare_to_reference(frames, "helo", "kl").set_index("method")
    assert df.loc["worse", "p"] == pytest.approx(2 / 2 ** 12)
    assert df.loc["worse", "p_holm"] == pytest.approx(min(1, 2 * df.loc["worse", "p"])) or \
        df.loc["worse", "p_holm"] >= df.loc["worse", "p"]
    assert bool(df.loc["worse", "significant"]) and not bool(df.loc["worse", "better"])
    assert not bool(df.loc["same", "significant"])
    assert math.isnan(df.loc["helo", "p"])


def test_failed_rows_and_methods_are_set_apart():
    """Rows with a failed reason or a non-finite score are counted (the report then sets
    the method apart: no rank, no test)."""
    ok = pd.DataFrame({"fold": ["a", "b", "c"], "kl": [0.1, 0.2, 0.3], "cosine": [0.9, 0.8, 0.7]})
    reason = ok.assign(failed=["", "training loss is nan at epoch 2", np.nan])
    reason.loc[1, "kl"] = np.nan
    inf = ok.assign(kl=[0.1, np.inf, 0.3])
    assert S.failed_rows(ok, ["kl", "cosine"]) == 0
    assert S.failed_rows(reason, ["kl", "cosine"]) == 1
    assert S.failed_rows(reason.drop(columns="kl"), ["kl", "cosine"]) == 1  # the reason alone
    assert S.failed_rows(inf, ["kl"]) == 1 and S.failed_rows(inf, ["cosine"]) == 0
