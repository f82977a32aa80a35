"""The features-release reader (helo.data.dmer.features): ``<n>.mat`` read back as written, with
helo's feature names."""
from __future__ import annotations

import os

import numpy as np
import pytest
from dmer_checks import check_reports

from helo.data import open_reader
from helo.data.dmer import (
    EEG_CHANNELS,
)
from helo.features import block_names
from helo.synth.dmer import generate_dmer

os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="module")
def features(tmp_path_factory):
    out = tmp_path_factory.mktemp("dmer_features")
    return out, generate_dmer(out, layout="features", preset="tiny", seed=6, progress=False,
                              return_signals=True)


def test_features_reader_matches_truth(features):
    out, truth = features
    reader = open_reader("dmer-features", out)
    assert reader.subjects() == ["1", "2", "5"]
    for sid, st in truth["subjects"].items():
        s = reader.read_subject(sid)
        check_reports(s, st)
        for t, tt in zip(s.trials, st["trials"]):
            feas = truth["_signals"][sid][t.trial_id]["feas"]
            assert feas.shape == (tt["seconds"] - 4, 913)
            got = np.concatenate([t.features[m].values for m in ("eeg", "gsr", "ppg", "video")], 1)
            np.testing.assert_array_equal(got, feas)
            # the reader names nothing: it says which helo computation each block is
            assert all(t.features[m].names == [] for m in ("eeg", "gsr", "ppg", "video"))
            assert t.features["eeg"].computed == {"channels": EEG_CHANNELS, "bands": "paper"}
            names = {m: block_names(m, t.features[m]) for m in ("eeg", "gsr", "ppg", "video")}
            assert [len(names[m]) for m in ("eeg", "gsr", "ppg", "video")] == [90, 28, 27, 768]
            assert names["eeg"][:6] == ["eeg_P3_delta", "eeg_P3_theta", "eeg_P3_alpha",
                                        "eeg_P3_beta", "eeg_P3_gamma", "eeg_C3_delta"]
            assert names["gsr"][-1] == "gsr_psd_0_2hz" and names["video"][-1] == "video_yt_255"
    assert reader.check() == []
    s = reader.read_subject("1", [])
    assert all(not t.features for t in s.trials)
    s = reader.read_subject("1", ["gsr"])
    assert all(set(t.features) == {"gsr"} for t in s.trials)
