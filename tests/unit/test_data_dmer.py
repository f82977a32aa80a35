"""DMER readers against the seeded synthetic generator: ground truth, corruption, determinism."""
from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from helo.data import open_reader
from helo.data.base import DataError
from helo.data.dmer import (EEG_CHANNELS, DmerAlignedReader, DmerFeaturesReader, DmerRawReader, packet_times)
from helo.features import block_names
from helo.synth.dmer import PRESETS, generate_dmer, make_config
from helo.data.labels import DMER_PANAS, panas_to_distribution

os.environ.setdefault("OMP_NUM_THREADS", "1")


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def raw_channel(tmp_path_factory):
    out = tmp_path_factory.mktemp("dmer_raw_chan")
    truth = generate_dmer(out, layout="raw", preset="tiny", seed=3, progress=False,
                          return_signals=True, eeg_extra_channels=("A1", "A2"))
    return out, truth


@pytest.fixture(scope="module")
def raw_annot(tmp_path_factory):
    out = tmp_path_factory.mktemp("dmer_raw_annot")
    truth = generate_dmer(out, layout="raw", preset="tiny", seed=4, progress=False,
                          return_signals=True, trigger="annotations", n_subjects=2, video=False)
    return out, truth


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


def _check_reports(subject, st):
    truth_trials = st["trials"]
    assert [t.trial_id for t in subject.trials] == [t["trial_id"] for t in truth_trials]
    assert [t.order for t in subject.trials] == list(range(len(truth_trials)))
    for t, tt in zip(subject.trials, truth_trials):
        assert t.category == tt["category"]
        assert t.panas_items == DMER_PANAS
        np.testing.assert_array_equal(t.panas, tt["panas"])
        np.testing.assert_array_equal(panas_to_distribution(t.panas, t.panas_items),
                                      np.asarray(tt["distribution"]))
        for k in ("arousal", "valence", "dominance", "amusement", "disgust"):
            assert t.extra[k] == tt[k]


# ----------------------------------------------------------------------------- ground truth


def test_presets_and_config():
    assert set(PRESETS) >= {"default", "dmer-scale", "tiny"}
    scale = make_config("dmer-scale")
    assert len(scale.subject_ids) == 73 and not {3, 4, 13, 16, 17, 27, 31} & set(scale.subject_ids)
    assert scale.video_size == (640, 480) and scale.n_trials == 32
    cfg = make_config("default", n_subjects=3, trial_seconds=9, video_size=(80, 60))
    assert cfg.subject_ids == [1, 2, 5] and cfg.trial_seconds == (9, 9)
    with pytest.raises(ValueError):
        make_config("default", no_such_option=1)


def test_raw_reader_matches_truth_trigger_channel(raw_channel):
    out, truth = raw_channel
    reader = open_reader("dmer-raw", out)
    assert isinstance(reader, DmerRawReader)
    assert reader.subjects() == ["1", "2", "5"]
    assert reader.modalities() == ["eeg", "gsr", "ppg", "video"]
    cats = set()
    for sid, st in truth["subjects"].items():
        s = reader.read_subject(sid)
        assert s.warnings == []
        _check_reports(s, st)
        ranges = np.asarray(st["edf"]["physical_max_uv"]) - np.asarray(st["edf"]["physical_min_uv"])
        for t, tt in zip(s.trials, st["trials"]):
            cats.add(t.category)
            sig = truth["_signals"][sid][t.trial_id]
            T = tt["seconds"]
            eeg = t.signals["eeg"]
            assert eeg.fs == 300 and eeg.channels == EEG_CHANNELS and eeg.data.shape == (T * 300, 18)
            # EDF is 16 bit: half a digital step of each channel's physical range (+ slack)
            assert (np.abs(eeg.data - sig["eeg"]).max(axis=0) <= ranges / 65535 * 0.51 + 1e-9).all()
            gsr, ppg = t.signals["gsr"], t.signals["ppg"]
            assert gsr.data.shape == (T * 4, 1) and gsr.fs == 4
            assert ppg.data.shape == (T * 100, 1) and ppg.fs == 100
            np.testing.assert_allclose(gsr.data, sig["gsr"], rtol=0, atol=0.5e-4 + 1e-9)
            np.testing.assert_allclose(ppg.data, sig["ppg"], rtol=0, atol=0.5e-3 + 1e-9)
            v = t.video
            assert v is not None and v.path.name.startswith("1_") and v.fps == 30
            assert [v.start_frame, v.stop_frame] == tt["spans"]["video"]
            assert v.stop_frame - v.start_frame == T * 30
    assert cats == {"positive", "negative", "mixed"}
    assert reader.check() == []


def test_raw_reader_trigger_annotations(raw_annot):
    out, truth = raw_annot
    reader = DmerRawReader(out)
    for sid, st in truth["subjects"].items():
        s = reader.read_subject(sid, ["eeg"])
        _check_reports(s, st)
        ranges = np.asarray(st["edf"]["physical_max_uv"]) - np.asarray(st["edf"]["physical_min_uv"])
        for t, tt in zip(s.trials, st["trials"]):
            assert set(t.signals) == {"eeg"} and t.video is None
            x = truth["_signals"][sid][t.trial_id]["eeg"]
            assert t.signals["eeg"].data.shape == x.shape == (tt["seconds"] * 300, 18)
            assert (np.abs(t.signals["eeg"].data - x).max(axis=0) <= ranges / 65535 * 0.51 + 1e-9).all()
        # no video in this dataset: the subject still reads, with a warning
        s = reader.read_subject(sid)
        assert all(t.video is None for t in s.trials)
        assert any("no face video" in w for w in s.warnings)


def test_modality_selection(raw_channel):
    out, truth = raw_channel
    reader = DmerRawReader(out)
    s = reader.read_subject("1", [])
    assert all(not t.signals and t.video is None for t in s.trials)
    _check_reports(s, truth["subjects"]["1"])
    s = reader.read_subject("1", ["gsr"])
    assert all(set(t.signals) == {"gsr"} and t.video is None for t in s.trials)
    s = reader.read_subject("1", ["video"])
    assert all(not t.signals and t.video is not None for t in s.trials)
    with pytest.raises(ValueError):
        reader.read_subject("1", ["ecg"])


def test_aligned_reader_matches_truth(aligned):
    out, truth = aligned
    reader = open_reader("dmer-aligned", out)
    assert reader.subjects() == ["1", "2", "5"]
    for sid, st in truth["subjects"].items():
        s = reader.read_subject(sid)
        assert s.warnings == []
        _check_reports(s, st)
        for t, tt in zip(s.trials, st["trials"]):
            T = tt["seconds"]
            for m, fs in (("eeg", 300), ("gsr", 4), ("ppg", 100)):
                np.testing.assert_array_equal(t.signals[m].data, truth["_signals"][sid][t.trial_id][m])
                assert t.signals[m].fs == fs and t.signals[m].data.shape[0] == T * fs
            assert t.video.path.name == f"{t.trial_id}.mp4"
            assert (t.video.start_frame, t.video.stop_frame) == (0, T * 30)
    assert reader.check() == []
    s = reader.read_subject("2", ["ppg"])
    assert all(set(t.signals) == {"ppg"} and t.video is None for t in s.trials)


def test_features_reader_matches_truth(features):
    out, truth = features
    reader = open_reader("dmer-features", out)
    assert reader.subjects() == ["1", "2", "5"]
    for sid, st in truth["subjects"].items():
        s = reader.read_subject(sid)
        _check_reports(s, st)
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


def test_ground_truth_file_and_emotion_signal(raw_channel):
    out, truth = raw_channel
    import json
    disk = json.loads((out / "_ground_truth.json").read_text())
    assert disk["subjects"].keys() == truth["subjects"].keys() and "_signals" not in disk
    # the emotion is in the signals: GSR level is higher in negative than positive trials
    # (relative to the subject's own mean), pooled over subjects
    diffs = []
    for sid, st in truth["subjects"].items():
        lv = {t["category"]: truth["_signals"][sid][t["trial_id"]]["gsr"].mean() for t in st["trials"]}
        diffs.append(lv["negative"] - lv["positive"])
    assert np.mean(diffs) > 0


def test_packet_times():
    ts = np.array([np.nan, 1000.0, np.nan, np.nan, 1030.0, np.nan])
    np.testing.assert_allclose(packet_times(ts, 100.0), [990, 1000, 1010, 1020, 1030, 1040])


# ----------------------------------------------------------------------------- corruption


@pytest.fixture(scope="module")
def raw_corrupt(tmp_path_factory):
    out = tmp_path_factory.mktemp("dmer_raw_bad")
    truth = generate_dmer(out, layout="raw", preset="tiny", seed=7, progress=False, n_subjects=7)
    assert list(truth["subjects"]) == ["1", "2", "5", "6", "7", "8", "9"]
    S = truth["subjects"]
    d = lambda sid: out / sid / sid  # noqa: E731
    # 1: GSR file deleted and a non-numeric value in the emotions file
    (d("1") / "raw_gsr.csv").unlink()
    emo = d("1") / "1_emotions.csv"
    lines = emo.read_text().splitlines()
    lines[1] = lines[1].split(",")[0] + ",x,2"
    emo.write_text("\n".join(lines) + "\n")
    # 2: EDF truncated
    edf = out / "2" / "sub2" / "1_raw.edf"
    edf.write_bytes(edf.read_bytes()[: edf.stat().st_size // 2])
    # 5: a PANAS row dropped (the second trial)
    panas = d("5") / "5_panas.csv"
    lines = panas.read_text().splitlines()
    dropped = lines.pop(1).split(",")[0]
    panas.write_text("\n".join(lines) + "\n")
    # 6: the video deleted
    for v in d("6").glob("*.mp4"):
        v.unlink()
    # 7: NaNs written into PPG samples of the first clip
    ppg = d("7") / "raw_ppg.csv"
    rows = ppg.read_text().splitlines()
    a = S["7"]["trials"][0]["spans"]["ppg"][0]
    for i in range(a + 5, a + 10):
        parts = rows[i].split(",")
        parts[1] = "nan"
        rows[i] = ",".join(parts)
    ppg.write_text("\n".join(rows) + "\n")
    # 8: the end marker of the last clip removed from the GSR file
    gsr = d("8") / "raw_gsr.csv"
    rows = gsr.read_text().splitlines()
    b = S["8"]["trials"][-1]["spans"]["gsr"][1]
    rows[b] = ",".join(rows[b].split(",")[:2])
    gsr.write_text("\n".join(rows) + "\n")
    return out, truth, dropped


def _has(problems, sid, fname, words, severity="error"):
    return any(p.subject == sid and p.path is not None and Path(p.path).name == fname
               and p.severity == severity and all(w in p.message for w in words)
               for p in problems)


def test_check_finds_every_planted_fault(raw_corrupt):
    out, truth, dropped = raw_corrupt
    reader = DmerRawReader(out)
    problems = reader.check()
    assert _has(problems, "1", "raw_gsr.csv", ["missing"])
    assert _has(problems, "1", "1_emotions.csv", ["not a number"])
    assert _has(problems, "2", "1_raw.edf", ["truncated"])
    assert _has(problems, "5", "5_panas.csv", [f"clip {dropped}", "PANAS row missing"])
    assert _has(problems, "6", "6", ["no face video"], "warning")
    assert _has(problems, "7", "raw_ppg.csv", ["NaN"], "warning")
    assert _has(problems, "8", "raw_gsr.csv", ["no end marker"])
    assert not [p for p in problems if p.subject == "9"]
    assert not [p for p in problems if p.subject in ("6", "7") and p.severity == "error"]


def test_bad_subjects_raise_and_others_still_read(raw_corrupt):
    out, truth, _ = raw_corrupt
    reader = DmerRawReader(out)
    for sid, fname in (("1", "raw_gsr.csv"), ("2", "1_raw.edf"), ("5", "5_panas.csv"),
                       ("8", "raw_gsr.csv")):
        with pytest.raises(DataError) as ei:
            reader.read_subject(sid)
        assert ei.value.subject == sid and ei.value.path is not None
        assert f"subject {sid}" in str(ei.value)
    assert Path(pytest.raises(DataError, reader.read_subject, "2").value.path).name == "1_raw.edf"
    # unaffected modalities of a bad subject still read when asked for alone
    assert reader.read_subject("2", ["gsr", "ppg"]).trials
    s9 = reader.read_subject("9")
    _check_reports(s9, truth["subjects"]["9"])
    s6 = reader.read_subject("6")
    assert all(t.video is None for t in s6.trials) and any("video" in w for w in s6.warnings)
    s7 = reader.read_subject("7")
    x = s7.trials[0].signals["ppg"].data
    assert np.isnan(x[5:10]).all() and not np.isnan(x[10:]).any()
    assert any("NaN" in w for w in s7.warnings)


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
    scipy.io.savemat(out / "5" / "datas.mat", {k: v for k, v in mat.items() if not k.startswith("__")})
    problems = DmerAlignedReader(out).check()
    assert _has(problems, "1", "datas.mat", ["missing"])
    assert _has(problems, "2", f"{first}.mp4", ["no video"], "warning")
    assert _has(problems, "5", "datas.mat", ["NaN"], "warning")
    assert DmerAlignedReader(out).read_subject("2").trial(first).video is None
    with pytest.raises(DataError):
        DmerAlignedReader(out).read_subject("1")

    src, truth = features
    out = tmp_path / "fe"
    shutil.copytree(src, out)
    scipy.io.savemat(out / "2.mat", {"feas": np.zeros((5, 140)), "vids": np.zeros((5, 1))})
    (out / "5" / "5_panas.csv").write_text("0,1,2,3\n")  # the row misses values: NaN
    problems = DmerFeaturesReader(out).check()
    assert _has(problems, "2", "2.mat", ["913"])
    assert _has(problems, "5", "5_panas.csv", ["missing value"], "warning")
    assert not [p for p in problems if p.subject == "1"]


# ----------------------------------------------------------------------------- determinism


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


@pytest.mark.parametrize("clip", ["inf", "nan", "1e400"])
def test_non_finite_clip_id_is_named(tmp_path, clip):
    """a clip id that parses as a float but is not finite: the file and line, no
    OverflowError"""
    from helo.data.base import ProblemCollector
    from helo.data.dmer.reports import _read_report
    p = tmp_path / "1_panas.csv"
    p.write_text(f"{clip}," + ",".join(["3"] * 10) + "\n")
    with pytest.raises(DataError) as err:
        _read_report(p, 10, ProblemCollector("1"), "PANAS")
    assert str(err.value) == (f"subject 1, file {p}: line 1: clip id {clip!r} is not a DMER "
                              f"clip (0..31)")
