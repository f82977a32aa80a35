"""Label values of every kind -> distributions (helo.data.labels), and a generic table of
distribution labels assembled through the real extract and assemble code (no DVC)."""
import warnings

import numpy as np
import pandas as pd
import pytest

from helo.data.labels import (
    DISTRIBUTION_TOL,
    LabelError,
    detect_kind,
    panas_to_distribution,
    to_distributions,
)

DMER = ["Inspired", "Alert", "Excited", "Enthusiastic", "Determined",
        "Afraid", "Upset", "Nervous", "Scared", "Distressed"]


def test_auto_tells_panas_distribution_and_scores_apart():
    rng = np.random.default_rng(0)
    panas = rng.integers(1, 6, (5, 10)).astype(float)
    assert detect_kind(panas, DMER, "dmer") == "panas"
    dist = rng.dirichlet(np.ones(10), 5)
    # a distribution over DMER's own item names (DMER's dis_label) is no PANAS report
    assert detect_kind(dist, DMER, "dmer") == "distribution"
    assert detect_kind(dist, [f"e{i}" for i in range(10)], "dmer") == "distribution"
    assert detect_kind(dist * 7.0, [f"e{i}" for i in range(10)], "dmer") == "scores"
    # within the tolerance (values written with 4 decimals) still a distribution
    rounded = np.round(dist, 4)
    assert np.abs(rounded.sum(1) - 1).max() <= DISTRIBUTION_TOL
    assert detect_kind(rounded, DMER, "dmer") == "distribution"


def test_distributions_pass_through_exactly():
    rng = np.random.default_rng(1)
    items = ["joy", "fear", "sad"]
    d = rng.dirichlet(np.ones(3), 4)
    D, names, kind, skipped, warns = to_distributions(d, items)
    assert kind == "distribution" and names == items and not skipped and not warns
    np.testing.assert_allclose(D, d / d.sum(1, keepdims=True), rtol=0, atol=1e-15)
    # an explicit item list selects and orders the label set
    D2, names2, *_ = to_distributions(d, items, items=["sad", "joy", "fear"])
    assert names2 == ["sad", "joy", "fear"]
    np.testing.assert_allclose(D2, d[:, [2, 0, 1]], atol=1e-15)
    # PANAS stays PANAS: d = s / sum(s) over the item set
    s = rng.integers(1, 6, (3, 10)).astype(float)
    Dp, namesp, kindp, *_ = to_distributions(s, DMER, items="dmer")
    assert kindp == "panas" and namesp == DMER
    np.testing.assert_allclose(Dp, panas_to_distribution(s, DMER, "dmer"))


def test_declared_distribution_is_validated_with_rows_named():
    d = np.array([[0.5, 0.5, 0.0], [0.6, 0.6, 0.0], [0.2, -0.1, 0.9], [0.1, 0.2, 0.7]])
    where = ["subject 1, trial a", "subject 1, trial b", "subject 2, trial c", "subject 2, t d"]
    with pytest.raises(LabelError) as e:
        to_distributions(d, ["x", "y", "z"], kind="distribution", where=where)
    msg = str(e.value)
    assert "subject 1, trial b: labels sum to 1.2" in msg
    assert "subject 2, trial c: negative label for ['y']" in msg
    assert "trial a" not in msg and "t d" not in msg


def test_scores_are_normalised_with_a_warning_and_nan_rows_skipped():
    s = np.array([[2.0, 6.0, 2.0], [np.nan, 1.0, 1.0], [0.0, 3.0, 1.0]])
    D, names, kind, skipped, warns = to_distributions(s, ["x", "y", "z"], kind="auto")
    assert kind == "scores" and len(warns) == 1 and "scores" in warns[0]
    np.testing.assert_allclose(D[0], [0.2, 0.6, 0.2])
    np.testing.assert_allclose(D[2], [0.0, 0.75, 0.25])
    assert np.isnan(D[1]).all() and skipped[0][0] == 1 and "NaN" in skipped[0][1]
    with pytest.raises(LabelError, match="all zero"):
        to_distributions(np.zeros((1, 3)), ["x", "y", "z"], kind="scores")
    with pytest.raises(ValueError, match="data.labels"):
        to_distributions(s, ["x", "y", "z"], kind="ldl")


def _store_generic(root, store, params=None):
    """the extract stage's code for a generic table: labels and every modality -> the store"""
    from helo.data import open_reader
    from helo.stages.extract import extract_subject
    reader = open_reader("generic", root)
    for sid in reader.subjects():
        for m in ["labels"] + reader.modalities():
            extract_subject("generic", root, sid, m, store, params or {})
    return reader


def test_generic_distribution_labels_assemble_unchanged(tmp_path):
    """the issue's failure: a generic table of distribution labels used to go through the
    PANAS conversion and lose every trial; now its labels reach the dataset as they are"""
    from helo.data.assemble import assemble
    from helo.synth import generate
    truth = generate("generic", tmp_path / "raw", seed=3, preset="tiny", progress=False)
    _store_generic(tmp_path / "raw", tmp_path / "store")
    ds = assemble(tmp_path / "store", ["hrv", "eye"], items="dmer", physiological=["hrv"],
                  behavioural=["eye"], out=tmp_path / "asm")
    table = pd.read_csv(tmp_path / "raw" / "features.csv", dtype={"subject": str, "trial": str})
    assert ds.n == len(table) == 3 * 4 * 6
    assert ds.label_names == truth["items"]
    key = table.set_index(["subject", "trial", "window"])
    want = key.loc[list(zip(ds.subject, ds.trial, ds.window)),
                   [f"label__{i}" for i in truth["items"]]].to_numpy()
    np.testing.assert_allclose(ds.y, want.astype(np.float32), rtol=0, atol=0)
    for s, t, y in zip(ds.subject, ds.trial, ds.y):
        np.testing.assert_allclose(y, truth["labels"][f"{s}|{t}"], atol=1e-7)
    assert ds.feature_names == {"hrv": [f"hrv__f{j}" for j in range(1, 7)],
                                "eye": [f"eye__f{j}" for j in range(1, 5)]}
    np.testing.assert_allclose(ds.X["hrv"][:, 0], key.loc[list(zip(ds.subject, ds.trial,
                                                                    ds.window)), "hrv__f1"],
                               rtol=1e-6)
    import json
    rep = json.loads((tmp_path / "asm" / "assembly.json").read_text())
    assert rep["label_kind"] == "distribution" and rep["label_errors"] == []


def test_generic_scores_warn_and_declared_distribution_fails(tmp_path):
    from helo.data.assemble import assemble
    from helo.synth import generate
    generate("generic", tmp_path / "raw", seed=4, preset="tiny", progress=False)
    table = pd.read_csv(tmp_path / "raw" / "features.csv")
    lab = [c for c in table.columns if c.startswith("label__")]
    table[lab] = np.round(table[lab] * 10)  # scores 0..10, not summing to 1
    table.loc[table[lab].sum(axis=1) == 0, lab[0]] = 1.0
    table.to_csv(tmp_path / "raw" / "features.csv", index=False)
    _store_generic(tmp_path / "raw", tmp_path / "store")
    kw = dict(physiological=["hrv"], behavioural=["eye"])
    with pytest.warns(UserWarning, match="normalised as scores"):
        ds = assemble(tmp_path / "store", ["hrv", "eye"], **kw)
    np.testing.assert_allclose(ds.y.sum(axis=1), 1.0, rtol=1e-6)
    with pytest.raises(LabelError, match=r"subject s01, trial t01: labels sum to"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assemble(tmp_path / "store", ["hrv", "eye"], labels="distribution", **kw)
