"""DMER files as the dataset's authors ship and read them: aligned matrices with the clip id as
the last row, ``dis_label`` in ``datas.mat`` (alone or beside the PANAS CSVs), and the
per-subject feature files eegfea.mat / perifea.mat / videoFea.mat (dmer-subject-features)."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import scipy.io

from helo.data import open_reader
from helo.data.base import DataError
from helo.data.dmer import EEG_CHANNELS
from helo.data.labels import DMER_PANAS
from helo.features import block_names
from helo.synth.dmer import generate_dmer

KW = dict(preset="tiny", seed=5, progress=False, return_signals=True, video=False)


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


@pytest.mark.parametrize("video_dim", [768, 32])
def test_subject_feature_files(tmp_path, video_dim):
    out = tmp_path / "sf"
    truth = generate_dmer(out, layout="subject-features", video_dim=video_dim, **KW)
    assert scipy.io.loadmat(out / "1" / "eegfea.mat")["feas"].shape[1:] == (5, 18)
    v = scipy.io.loadmat(out / "1" / "videoFea.mat")
    assert v["vids"].shape[0] == 1 and v["lbps_all"].shape[1] == video_dim
    reader = open_reader("dmer-subject-features", out)
    assert reader.subjects() == ["1", "2", "5"]
    for sid, st in truth["subjects"].items():
        s = reader.read_subject(sid)
        assert [t.trial_id for t in s.trials] == [t["trial_id"] for t in st["trials"]]
        for t, tt in zip(s.trials, st["trials"]):
            sig = truth["_signals"][sid][t.trial_id]
            for m in ("eeg", "gsr", "ppg", "video"):
                np.testing.assert_array_equal(t.features[m].values, sig[m])
                assert t.features[m].values.shape[0] == tt["seconds"] - 4
            np.testing.assert_allclose(t.extra["distribution"], _dist(tt["panas"]), rtol=1e-12)
            names = {m: block_names(m, t.features[m]) for m in t.features}
            # the same features as helo's own: helo's names, so models transfer
            assert names["eeg"][:6] == ["eeg_P3_delta", "eeg_P3_theta", "eeg_P3_alpha",
                                        "eeg_P3_beta", "eeg_P3_gamma", "eeg_C3_delta"]
            assert names["gsr"][0] == "gsr_median" and len(names["gsr"]) == 28
            assert len(names["ppg"]) == 27 and names["ppg"][0] == "ppg_median"
            if video_dim == 768:
                assert names["video"][0] == "video_xy_000" and names["video"][-1] == "video_yt_255"
            else:  # not LBP-TOP: named as what it is, the file's variable and column
                assert names["video"] == [f"video__lbps_all_{j}" for j in range(32)]
                assert any("not helo's LBP-TOP" in w for w in s.warnings)


def test_subject_features_eeg_layouts_and_labels(tmp_path):
    """EEG (N, 18*4) 2-D: EmotionDict's four bands by name; PANAS CSVs take precedence."""
    out = tmp_path / "sf"
    truth = generate_dmer(out, layout="subject-features", labels="both", **KW)
    d = out / "1"
    feas = scipy.io.loadmat(d / "eegfea.mat")["feas"]  # (N, 5, 18)
    four = feas[:, 1:, :].transpose(0, 2, 1).reshape(feas.shape[0], -1)  # (N, 18 x 4)
    scipy.io.savemat(d / "eegfea.mat", {"feas": four})
    s = open_reader("dmer-subject-features", out).read_subject("1", ["eeg"])
    st = truth["subjects"]["1"]
    np.testing.assert_array_equal(s.trials[0].panas, st["trials"][0]["panas"])
    names = block_names("eeg", s.trials[0].features["eeg"])
    assert names[:4] == ["eeg_P3_theta", "eeg_P3_alpha", "eeg_P3_beta", "eeg_P3_gamma"]
    assert len(names) == 72
    want = truth["_signals"]["1"][st["trials"][0]["trial_id"]]["eeg"].reshape(-1, 18, 5)[:, :, 1:]
    np.testing.assert_array_equal(s.trials[0].features["eeg"].values, want.reshape(-1, 72))
    # rows that do not match vids are named
    p = scipy.io.loadmat(d / "perifea.mat")
    scipy.io.savemat(d / "perifea.mat", {"feas_gsr": p["feas_gsr"][:-1], "feas_ppg": p["feas_ppg"]})
    with pytest.raises(DataError, match=r"subject 1.*perifea.mat.*feas_gsr has \d+ rows but vids"):
        open_reader("dmer-subject-features", out).read_subject("1", ["gsr"])
