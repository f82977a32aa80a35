"""The generic precomputed-features layout."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from helo.data import DataError, open_reader
from helo.data.generic import GenericFeaturesReader

ITEMS = ["Happy", "Sad", "Calm"]


def _table(raw_scores=True) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for s in ("P1", "P2", "P10"):
        for t, cat in (("clipA", "pos"), ("clipB", "neg")):
            lab = rng.integers(1, 6, size=3).astype(float)
            if not raw_scores:
                lab = lab / lab.sum()
            for w in (2, 0, 1):  # deliberately not in window order
                rows.append({"subject": s, "trial": t, "window": w, "category": cat,
                             "ecg__hr": 60 + w + rng.normal(), "ecg__sdnn": rng.normal(),
                             "acc__energy": rng.normal(),
                             **{f"label__{i}": v for i, v in zip(ITEMS, lab)}})
    return pd.DataFrame(rows)


def _check_round_trip(reader, df):
    assert reader.subjects() == ["P1", "P2", "P10"]
    assert reader.modalities() == ["ecg", "acc"] or set(reader.modalities()) == {"ecg", "acc"}
    assert reader.check() == []
    for sid in reader.subjects():
        subj = reader.read_subject(sid)
        assert [t.trial_id for t in subj.trials] == ["clipA", "clipB"]
        for tr in subj.trials:
            rows = df[(df.subject == sid) & (df.trial == tr.trial_id)].sort_values("window")
            np.testing.assert_array_equal(tr.extra["windows"], [0, 1, 2])
            assert tr.features["ecg"].names == ["hr", "sdnn"]
            np.testing.assert_allclose(tr.features["ecg"].values,
                                       rows[["ecg__hr", "ecg__sdnn"]].to_numpy(), rtol=1e-12)
            np.testing.assert_allclose(tr.features["acc"].values, rows[["acc__energy"]].to_numpy())
            lab = rows[[f"label__{i}" for i in ITEMS]].iloc[0].to_numpy(float)
            assert tr.panas_items == ITEMS
            np.testing.assert_allclose(tr.panas, lab)
            np.testing.assert_allclose(tr.extra["distribution"], lab / lab.sum())
            assert abs(tr.extra["distribution"].sum() - 1) < 1e-12
        only = reader.read_subject(sid, ["acc"])
        assert set(only.trials[0].features) == {"acc"}


def test_csv_round_trip(tmp_path):
    df = _table()
    df.to_csv(tmp_path / "features.csv", index=False)
    reader = open_reader("generic", tmp_path)
    assert isinstance(reader, GenericFeaturesReader)
    _check_round_trip(reader, df)
    tr = reader.read_subject("P1").trials[0]
    assert tr.category == "pos" and tr.extra["label_kind"] == "scores"


def test_parquet_round_trip_with_sidecar(tmp_path):
    df = _table(raw_scores=False)
    df.to_parquet(tmp_path / "features.parquet", index=False)
    (tmp_path / "helo.json").write_text(json.dumps(
        {"physiological": ["ecg"], "behavioural": ["acc"], "labels": ITEMS}))
    reader = GenericFeaturesReader(tmp_path / "features.parquet")  # the table itself as root
    assert reader.modalities() == ["ecg", "acc"]
    assert reader.modality_groups() == {"physiological": ["ecg"], "behavioural": ["acc"]}
    _check_round_trip(reader, df)
    assert reader.read_subject("P2").trials[1].extra["label_kind"] == "distribution"


def test_mat_round_trip(tmp_path):
    from scipy.io import savemat
    df = _table()
    num = df.drop(columns=["subject", "trial", "category"])
    savemat(tmp_path / "features.mat", {
        "data": num.to_numpy(float), "columns": np.array(list(num.columns), dtype=object),
        "subject": np.array(list(df.subject), dtype=object),
        "trial": np.array(list(df.trial), dtype=object)})
    _check_round_trip(GenericFeaturesReader(tmp_path), df)


def _write(tmp_path, df, sidecar=None):
    df.to_csv(tmp_path / "features.csv", index=False)
    if sidecar is not None:
        (tmp_path / "helo.json").write_text(json.dumps(sidecar))
    return GenericFeaturesReader(tmp_path)


def test_missing_columns(tmp_path):
    reader = _write(tmp_path, _table().drop(columns=["trial"]))
    probs = reader.check()
    assert any("missing required column" in p.message and "trial" in p.message
               and p.path.endswith("features.csv") for p in probs)
    with pytest.raises(DataError, match="missing required column"):
        reader.read_subject("P1")
    reader = _write(tmp_path, _table(), {"labels": ITEMS + ["Angry"]})
    assert any("label__Angry" in p.message for p in reader.check())
    reader = _write(tmp_path, _table().drop(columns=[f"label__{i}" for i in ITEMS]), {})
    assert any("no label columns" in p.message for p in reader.check())


def test_nan_and_negative_labels(tmp_path):
    df = _table()
    df.loc[4, "label__Sad"] = np.nan        # P1 clipB
    df.loc[13, "label__Calm"] = -1.0        # P10 clipA
    reader = _write(tmp_path, df)
    probs = reader.check()
    nan = [p for p in probs if "NaN label" in p.message]
    neg = [p for p in probs if "negative label" in p.message]
    assert len(nan) == 1 and nan[0].subject == "P1" and "row 5" in nan[0].message
    assert len(neg) == 1 and neg[0].subject == "P10" and "row 14" in neg[0].message
    assert all(p.path.endswith("features.csv") for p in nan + neg)
    with pytest.raises(DataError, match="NaN label") as info:
        reader.read_subject("P1")
    assert info.value.subject == "P1" and "features.csv" in str(info.value)
    with pytest.raises(DataError, match="negative label"):
        reader.read_subject("P10")
    assert reader.read_subject("P2").trials  # the others still read


def test_unknown_modality_prefix_and_bad_columns(tmp_path):
    df = _table()
    df["eeg__alpha"] = 1.0
    reader = _write(tmp_path, df, {"physiological": ["ecg"], "behavioural": ["acc"]})
    probs = reader.check()
    assert any("unknown modality prefix 'eeg'" in p.message for p in probs)
    with pytest.raises(DataError, match="unknown modality prefix"):
        reader.read_subject("P1")
    df = _table()
    df["ecg_hr_typo"] = 1.0
    assert any("ecg_hr_typo" in p.message for p in _write(tmp_path, df, {}).check())


def test_other_label_problems(tmp_path):
    df = _table()
    df.loc[0, "label__Happy"] += 1  # labels differ within P1 clipA
    df.loc[[6, 7, 8], "window"] = 1  # repeated window in P1? rows 6-8 are P2 clipA
    probs = _write(tmp_path, df, {}).check()
    assert any("differ between its rows" in p.message and p.subject == "P1" for p in probs)
    assert any("repeats" in p.message and p.subject == "P2" for p in probs)
    df = _table()
    reader = _write(tmp_path, df, {"label_kind": "distribution"})
    assert any("not 1" in p.message for p in reader.check())
