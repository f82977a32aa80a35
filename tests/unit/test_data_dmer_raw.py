"""The raw-release reader (helo.data.dmer.raw): synthetic raw data read back as written (trigger
channel or EDF+ annotations), modality selection, and every planted fault found by check()."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from dmer_checks import check_reports, has_problem

from helo.data import open_reader
from helo.data.base import DataError
from helo.data.dmer import (
    EEG_CHANNELS,
    DmerRawReader,
)
from helo.synth.dmer import generate_dmer

os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="module")
def raw_annot(tmp_path_factory):
    out = tmp_path_factory.mktemp("dmer_raw_annot")
    truth = generate_dmer(out, layout="raw", preset="tiny", seed=4, progress=False,
                          return_signals=True, trigger="annotations", n_subjects=2, video=False)
    return out, truth


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
        check_reports(s, st)
        ranges = np.asarray(st["edf"]["physical_max_uv"]) - np.asarray(st["edf"]["physical_min_uv"])
        for t, tt in zip(s.trials, st["trials"]):
            cats.add(t.category)
            sig = truth["_signals"][sid][t.trial_id]
            T = tt["seconds"]
            eeg = t.signals["eeg"]
            assert (eeg.fs == 300 and eeg.channels == EEG_CHANNELS
                    and eeg.data.shape == (T * 300, 18))
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
        check_reports(s, st)
        ranges = np.asarray(st["edf"]["physical_max_uv"]) - np.asarray(st["edf"]["physical_min_uv"])
        for t, tt in zip(s.trials, st["trials"]):
            assert set(t.signals) == {"eeg"} and t.video is None
            x = truth["_signals"][sid][t.trial_id]["eeg"]
            assert t.signals["eeg"].data.shape == x.shape == (tt["seconds"] * 300, 18)
            assert (np.abs(t.signals["eeg"].data - x).max(axis=0)
                    <= ranges / 65535 * 0.51 + 1e-9).all()
        # no video in this dataset: the subject still reads, with a warning
        s = reader.read_subject(sid)
        assert all(t.video is None for t in s.trials)
        assert any("no face video" in w for w in s.warnings)


def test_modality_selection(raw_channel):
    out, truth = raw_channel
    reader = DmerRawReader(out)
    s = reader.read_subject("1", [])
    assert all(not t.signals and t.video is None for t in s.trials)
    check_reports(s, truth["subjects"]["1"])
    s = reader.read_subject("1", ["gsr"])
    assert all(set(t.signals) == {"gsr"} and t.video is None for t in s.trials)
    s = reader.read_subject("1", ["video"])
    assert all(not t.signals and t.video is not None for t in s.trials)
    with pytest.raises(ValueError):
        reader.read_subject("1", ["ecg"])


def test_check_finds_every_planted_fault(raw_corrupt):
    out, truth, dropped = raw_corrupt
    reader = DmerRawReader(out)
    problems = reader.check()
    assert has_problem(problems, "1", "raw_gsr.csv", ["missing"])
    assert has_problem(problems, "1", "1_emotions.csv", ["not a number"])
    assert has_problem(problems, "2", "1_raw.edf", ["truncated"])
    assert has_problem(problems, "5", "5_panas.csv", [f"clip {dropped}", "PANAS row missing"])
    assert has_problem(problems, "6", "6", ["no face video"], "warning")
    assert has_problem(problems, "7", "raw_ppg.csv", ["NaN"], "warning")
    assert has_problem(problems, "8", "raw_gsr.csv", ["no end marker"])
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
    check_reports(s9, truth["subjects"]["9"])
    s6 = reader.read_subject("6")
    assert all(t.video is None for t in s6.trials) and any("video" in w for w in s6.warnings)
    s7 = reader.read_subject("7")
    x = s7.trials[0].signals["ppg"].data
    assert np.isnan(x[5:10]).all() and not np.isnan(x[10:]).any()
    assert any("NaN" in w for w in s7.warnings)
