"""The synthetic DMER (helo.synth.dmer): presets, the ground-truth file and the emotion in the
signals, determinism."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from helo.synth.dmer import PRESETS, generate_dmer, make_config

os.environ.setdefault("OMP_NUM_THREADS", "1")


def test_presets_and_config():
    assert set(PRESETS) >= {"default", "dmer-scale", "tiny"}
    scale = make_config("dmer-scale")
    assert len(scale.subject_ids) == 73 and not {3, 4, 13, 16, 17, 27, 31} & set(scale.subject_ids)
    assert scale.video_size == (640, 480) and scale.n_trials == 32
    cfg = make_config("default", n_subjects=3, trial_seconds=9, video_size=(80, 60))
    assert cfg.subject_ids == [1, 2, 5] and cfg.trial_seconds == (9, 9)
    with pytest.raises(ValueError):
        make_config("default", no_such_option=1)


def test_ground_truth_file_and_emotion_signal(raw_channel):
    out, truth = raw_channel
    import json
    disk = json.loads((out / "_ground_truth.json").read_text())
    assert disk["subjects"].keys() == truth["subjects"].keys() and "_signals" not in disk
    # the emotion is in the signals: GSR level is higher in negative than positive trials
    # (relative to the subject's own mean), pooled over subjects
    diffs = []
    for sid, st in truth["subjects"].items():
        lv = {t["category"]: truth["_signals"][sid][t["trial_id"]]["gsr"].mean()
              for t in st["trials"]}
        diffs.append(lv["negative"] - lv["positive"])
    assert np.mean(diffs) > 0


def _digest(folder: Path, pattern: str) -> dict:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob(pattern)) if p.name != "_ground_truth.json"}


def test_determinism(tmp_path):
    kw = dict(layout="raw", preset="tiny", progress=False, n_subjects=1, return_signals=True)
    a = generate_dmer(tmp_path / "a", seed=11, **kw)
    b = generate_dmer(tmp_path / "b", seed=11, **kw)
    c = generate_dmer(tmp_path / "c", seed=12, **kw)
    for pat in ("*.csv", "*.edf"):
        assert _digest(tmp_path / "a", pat) == _digest(tmp_path / "b", pat)
    sa, sb, sc = a["_signals"]["1"], b["_signals"]["1"], c["_signals"]["1"]
    for tid in sa:
        for m in sa[tid]:
            np.testing.assert_array_equal(sa[tid][m], sb[tid][m])
    assert a["subjects"] == b["subjects"]
    first_c = next(iter(sc))
    assert not np.array_equal(next(iter(sa.values()))["eeg"], sc[first_c]["eeg"])
