"""The aligned-release reader (helo.data.dmer.aligned): ``datas.mat`` read back as written (with
or without the time row), labels from ``dis_label`` and/or the PANAS CSVs, and corrupted files
named (with the features release's)."""
from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
import scipy.io
from dmer_checks import check_reports, has_problem

from helo.data import open_reader
from helo.data.base import DataError
from helo.data.dmer import (
    EEG_CHANNELS,
    DmerAlignedReader,
    DmerFeaturesReader,
)
from helo.data.labels import DMER_PANAS
from helo.synth.dmer import generate_dmer

os.environ.setdefault("OMP_NUM_THREADS", "1")

KW = dict(preset="tiny", seed=5, progress=False, return_signals=True, video=False)


@pytest.fixture(scope="module")
def aligned(tmp_path_factory):
    out = tmp_path_factory.mktemp("dmer_aligned")
    return out, generate_dmer(out, layout="aligned", preset="tiny", seed=5, progress=False,
                              return_signals=True)


@pytest.fixture(scope="module")
def features(tmp_path_factory):
    out = tmp_path_factory.mktemp("dmer_features")
    return out, generate_dmer(out, layout="features", preset="tiny", seed=6, progress=False,
                              return_signals=True)


@pytest.fixture(scope="module")
def aligned_id_dis(tmp_path_factory):
    out = tmp_path_factory.mktemp("al_id_dis")
    return out, generate_dmer(out, layout="aligned", aligned_rows="id", labels="dis_label", **KW)


@pytest.fixture(scope="module")
def aligned_both(tmp_path_factory):
    out = tmp_path_factory.mktemp("al_both")
    return out, generate_dmer(out, layout="aligned", labels="both", **KW)


def _save(path, mat):
    scipy.io.savemat(path, {k: v for k, v in mat.items() if not k.startswith("__")})


def _dist(panas):
    s = np.asarray(panas, dtype=float)
    return s / s.sum()


def test_aligned_reader_matches_truth(aligned):
    out, truth = aligned
    reader = open_reader("dmer-aligned", out)
    assert reader.subjects() == ["1", "2", "5"]
    for sid, st in truth["subjects"].items():
        s = reader.read_subject(sid)
        assert s.warnings == []
        check_reports(s, st)
        for t, tt in zip(s.trials, st["trials"]):
            T = tt["seconds"]
            for m, fs in (("eeg", 300), ("gsr", 4), ("ppg", 100)):
                np.testing.assert_array_equal(t.signals[m].data,
                                              truth["_signals"][sid][t.trial_id][m])
                assert t.signals[m].fs == fs and t.signals[m].data.shape[0] == T * fs
            assert t.video.path.name == f"{t.trial_id}.mp4"
            assert (t.video.start_frame, t.video.stop_frame) == (0, T * 30)
    assert reader.check() == []
    s = reader.read_subject("2", ["ppg"])
    assert all(set(t.signals) == {"ppg"} and t.video is None for t in s.trials)


def test_aligned_and_features_corruption(aligned, features, tmp_path):
    import scipy.io
    src, truth = aligned
    out = tmp_path / "al"
    shutil.copytree(src, out)
    (out / "1" / "datas.mat").unlink()
    first = truth["subjects"]["2"]["trials"][0]["trial_id"]
    (out / "2" / f"{first}.mp4").unlink()
    mat = scipy.io.loadmat(out / "5" / "datas.mat")
    mat["gsr_datas"][0, -3:] = np.nan
    scipy.io.savemat(out / "5" / "datas.mat",
                     {k: v for k, v in mat.items() if not k.startswith("__")})
    problems = DmerAlignedReader(out).check()
    assert has_problem(problems, "1", "datas.mat", ["missing"])
    assert has_problem(problems, "2", f"{first}.mp4", ["no video"], "warning")
    assert has_problem(problems, "5", "datas.mat", ["NaN"], "warning")
    assert DmerAlignedReader(out).read_subject("2").trial(first).video is None
    with pytest.raises(DataError):
        DmerAlignedReader(out).read_subject("1")

    src, truth = features
    out = tmp_path / "fe"
    shutil.copytree(src, out)
    scipy.io.savemat(out / "2.mat", {"feas": np.zeros((5, 140)), "vids": np.zeros((5, 1))})
    (out / "5" / "5_panas.csv").write_text("0,1,2,3\n")  # the row misses values: NaN
    problems = DmerFeaturesReader(out).check()
    assert has_problem(problems, "2", "2.mat", ["913"])
    assert has_problem(problems, "5", "5_panas.csv", ["missing value"], "warning")
    assert not [p for p in problems if p.subject == "1"]


def test_aligned_id_row_last_and_dis_label(aligned_id_dis):
    out, truth = aligned_id_dis
    mat = scipy.io.loadmat(out / "1" / "datas.mat")
    assert mat["eeg_datas"].shape[0] == 19 and mat["gsr_datas"].shape[0] == 2
    assert mat["dis_label"].shape == (32, 10)
    assert not (out / "1" / "1_panas.csv").exists()
    reader = open_reader("dmer-aligned", out)
    assert reader.subjects() == ["1", "2", "5"]
    for sid, st in truth["subjects"].items():
        s = reader.read_subject(sid, ["eeg", "gsr", "ppg"])
        assert [t.trial_id for t in s.trials] == [t["trial_id"] for t in st["trials"]]
        for t, tt in zip(s.trials, st["trials"]):
            np.testing.assert_allclose(t.extra["distribution"], _dist(tt["panas"]), rtol=1e-12)
            np.testing.assert_allclose(t.panas, _dist(tt["panas"]), rtol=1e-12)
            assert t.panas_items == DMER_PANAS and t.extra["label_kind"] == "distribution"
            assert t.category == tt["category"]
            for m in ("eeg", "gsr", "ppg"):
                np.testing.assert_array_equal(t.signals[m].data,
                                              truth["_signals"][sid][t.trial_id][m])
            assert t.signals["eeg"].channels == EEG_CHANNELS
    # labels alone need no EEG: the clips come from the smallest matrix's id row
    s = reader.read_subject("2", [])
    assert len(s.trials) == 3 and all(not t.signals for t in s.trials)


def test_aligned_both_labels_agree_then_disagree(aligned_both, tmp_path):
    out, truth = aligned_both
    reader = open_reader("dmer-aligned", out)
    s = reader.read_subject("1", [])
    st = truth["subjects"]["1"]
    np.testing.assert_array_equal(s.trials[0].panas, st["trials"][0]["panas"])  # raw scores
    bad = tmp_path / "bad"
    shutil.copytree(out, bad)
    mat = scipy.io.loadmat(bad / "1" / "datas.mat")
    clip = int(st["trials"][1]["trial_id"])
    mat["dis_label"][clip] = np.roll(mat["dis_label"][clip], 1)
    _save(bad / "1" / "datas.mat", mat)
    with pytest.raises(DataError) as e:
        open_reader("dmer-aligned", bad).read_subject("1", [])
    msg = str(e.value)
    assert "datas.mat" in msg and "1_panas.csv" in msg and f"[{clip}]" in msg
    assert "subject 1" in msg


def test_aligned_bad_dis_label_and_rows(aligned_id_dis, tmp_path):
    out, _ = aligned_id_dis
    bad = tmp_path / "bad"
    shutil.copytree(out, bad)
    mat = scipy.io.loadmat(bad / "2" / "datas.mat")
    mat["dis_label"] = mat["dis_label"][:, :9]
    mat["eeg_datas"] = mat["eeg_datas"][:17]
    _save(bad / "2" / "datas.mat", mat)
    r = open_reader("dmer-aligned", bad)
    with pytest.raises(DataError, match=r"subject 2.*datas.mat.*dis_label has shape \(32, 9\)"):
        r.read_subject("2", [])
    msgs = [p.message for p in r.check() if p.subject == "2"]
    assert any("dis_label has shape" in m for m in msgs)
    mat["dis_label"] = scipy.io.loadmat(out / "2" / "datas.mat")["dis_label"]
    _save(bad / "2" / "datas.mat", mat)
    with pytest.raises(DataError, match=r"eeg_datas has shape \(17, \d+\).*\(19 or 20, N\)"):
        r.read_subject("2", ["eeg"])
