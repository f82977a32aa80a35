"""The ablation summary's intervals and its test of each variant against the full model."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helo.stages import ablation


def test_ablation_significance_against_the_full_model():
    rng = np.random.default_rng(0)
    folds = [f"s{i}" for i in range(10)]
    full = rng.uniform(0.08, 0.12, 10)
    kl = {"baseline (HEAD)": full,
          "abl-uselcdca-false": full + 0.02 + rng.uniform(0, 0.002, 10),  # worse on every fold
          "abl-heads-2": full + rng.normal(0, 0.01, 10),                   # noise
          "abl-depth-2": full + rng.normal(0, 0.01, 10)}                   # noise
    df = pd.DataFrame([{"experiment": e, "protocol": "loso", "kl": v.mean()}
                       for e, v in kl.items()])
    tables = {(e, "loso"): pd.DataFrame({"fold": folds, "kl": v}) for e, v in kl.items()}
    del tables[("abl-heads-2", "loso")]  # its folds.csv could not be read: left untested
    out = ablation.significance(df, tables).set_index("experiment")
    worse = out.loc["abl-uselcdca-false"]
    # all 10 differences positive: exact two-sided p = 2 / 2^10; Holm over two tests doubles
    # the smaller p
    assert worse["p"] == pytest.approx(2 / 1024) and worse["p_holm"] == pytest.approx(4 / 1024)
    assert out.loc["abl-depth-2", "differs"] == "no"
    assert worse["differs"] == "worse"
    t = 2.262157  # t_{0.975, 9}
    v = kl["abl-uselcdca-false"]
    assert worse["kl_ci_low"] == pytest.approx(v.mean() - t * v.std(ddof=1) / np.sqrt(10),
                                               rel=1e-5)
    assert out.loc["baseline (HEAD)", "differs"] == "(full model)"
    assert np.isnan(out.loc["abl-heads-2", "p"]) and out.loc["abl-heads-2", "differs"] == ""
