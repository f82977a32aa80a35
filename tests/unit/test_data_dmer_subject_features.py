"""The per-subject feature files the dataset's authors' code reads
(helo.data.dmer.subject_features): eegfea.mat / perifea.mat / videoFea.mat with ``dis_label``
or PANAS labels."""
from __future__ import annotations

import os

import numpy as np
import pytest
import scipy.io

from helo.data import open_reader
from helo.data.base import DataError
from helo.features import block_names
from helo.synth.dmer import generate_dmer

os.environ.setdefault("OMP_NUM_THREADS", "1")

KW = dict(preset="tiny", seed=5, progress=False, return_signals=True, video=False)


def _save(path, mat):
    scipy.io.savemat(path, {k: v for k, v in mat.items() if not k.startswith("__")})


def _dist(panas):
    s = np.asarray(panas, dtype=float)
    return s / s.sum()


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
