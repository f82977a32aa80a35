"""WESAD reader, restricted unpickler and the synthetic WESAD generator."""
from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from helo.data import DataError, open_reader
from helo.data.labels import WESAD_PANAS, WESAD_PANAS_TSST, panas_to_distribution
from helo.data.safe_pickle import UnsafePickleError, safe_load, safe_loads
from helo.data.wesad import SIGNALS, WesadReader, parse_minsec, parse_quest
from helo.synth.wesad import PRESETS, format_minsec, generate_wesad, write_py2_pickle


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("wesad") / "tiny"
    truth = generate_wesad(root, seed=3, preset="tiny", progress=False)
    return root, truth


def _raw(root: Path, sid: str) -> dict:
    with open(root / sid / f"{sid}.pkl", "rb") as fh:
        return pickle.load(fh, encoding="latin1")


# ------------------------------------------------------------------------------ safe_pickle

class _Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/helo_pwned_marker",))


class _Custom:
    def __init__(self):
        self.x = 1


def test_malicious_pickle_refused_without_running(tmp_path):
    marker = Path("/tmp/helo_pwned_marker")
    if marker.exists():
        marker.unlink()
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"signal": _Evil()}, protocol=2))
    with pytest.raises(UnsafePickleError) as info:
        safe_load(path)
    assert not marker.exists()
    msg = str(info.value)
    assert str(path) in msg and "system" in msg and "refused" in msg
    assert isinstance(info.value, DataError)


def test_custom_class_refused(tmp_path):
    path = tmp_path / "custom.pkl"
    path.write_bytes(pickle.dumps([_Custom()], protocol=2))
    with pytest.raises(UnsafePickleError, match="_Custom"):
        safe_load(path)
    # an object array holding a non-plain object is refused too (numpy needs no new global for
    # that, so the post-load walk must catch it)
    arr = np.array([{"a": 1}], dtype=object)
    with pytest.raises(UnsafePickleError, match="object array"):
        safe_loads(pickle.dumps(arr, protocol=2))


def test_real_format_round_trip(tmp_path):
    d = {"subject": "S9", "signal": {"chest": {"ECG": np.random.default_rng(0).normal(size=(50, 1)),
                                               "ACC": np.arange(30.0).reshape(10, 3)},
                                      "wrist": {"EDA": np.linspace(0, 1, 7)[:, None]}},
         "label": np.array([0, 1, 1, 2], dtype=np.int32)}
    p2 = tmp_path / "py2.pkl"
    write_py2_pickle(d, p2)  # byte layout of Python 2 + numpy 1.x (numpy.core, BINSTRING)
    assert b"numpy.core.multiarray" in p2.read_bytes()
    p3 = tmp_path / "py3.pkl"
    p3.write_bytes(pickle.dumps(d, protocol=2))  # Python 3 + numpy 2 (numpy._core, _codecs)
    for p in (p2, p3):
        out = safe_load(p)
        assert out["subject"] == "S9"
        np.testing.assert_array_equal(out["label"], d["label"])
        assert out["label"].dtype == np.int32
        for dev in ("chest", "wrist"):
            for k, v in d["signal"][dev].items():
                np.testing.assert_array_equal(out["signal"][dev][k], v)
    with pytest.raises(DataError, match="not a readable pickle"):
        safe_loads(b"\x80\x02}q\x00(", source="trunc.pkl")


# ------------------------------------------------------------------------------ quest parsing

def test_minutes_seconds():
    assert parse_minsec("7.08") == 428
    assert parse_minsec("50.3") == 50 * 60 + 30
    assert parse_minsec("12") == 720
    assert parse_minsec("Nan") is None
    with pytest.raises(ValueError):
        parse_minsec("7.75")
    for s in (0, 428, 1830, 720, 3599, 4000):
        assert parse_minsec(format_minsec(s)) == s


def test_quest_quirks(tiny):
    root, truth = tiny
    q3 = parse_quest(root / "S3" / "S3_quest.csv", "S3")
    assert "# Subj:S3" in (root / "S3" / "S3_quest.csv").read_text()
    assert q3.subject_tag == "S3"
    assert "sRead" in q3.order_raw and "sRead" not in q3.order
    assert q3.panas_items["TSST"] == WESAD_PANAS_TSST and len(q3.panas["TSST"]) == 26
    assert q3.panas_items["Base"] == WESAD_PANAS
    q5 = parse_quest(root / "S5" / "S5_quest.csv", "S5")
    nan = truth["subjects"]["S5"]["quirks"]["nan"]
    assert np.isnan(q5.panas[nan["condition"]][nan["index"]])
    assert any("Nan" in w for w in q5.warnings)
    q6 = parse_quest(root / "S6" / "S6_quest.csv", "S6")
    assert q6.order == truth["subjects"]["S6"]["order"] != q3.order
    for sid in truth["subjects"]:
        q = parse_quest(root / sid / f"{sid}_quest.csv", sid)
        for c in q.order:
            assert q.start_s[c] == truth["subjects"][sid]["quest_start_s"][c]
            assert q.end_s[c] == truth["subjects"][sid]["quest_end_s"][c]
            np.testing.assert_array_equal(q.stai[c], truth["subjects"][sid]["stai"][c])
            assert list(q.dim[c]) == truth["subjects"][sid]["dim"][c]


def _quest_lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def test_quest_errors(tiny, tmp_path):
    root, _ = tiny
    lines = _quest_lines(root / "S2" / "S2_quest.csv")
    first_panas = next(i for i, l in enumerate(lines) if l.startswith("# PANAS"))

    def write(ls):
        p = tmp_path / "S2_quest.csv"
        p.write_text("\n".join(ls) + "\n")
        return p

    bad = list(lines)
    bad[first_panas] = bad[first_panas].replace(";1;", ";x;", 1).replace(";2;", ";x;", 1)
    with pytest.raises(DataError, match="not a number") as info:
        parse_quest(write(bad), "S2")
    assert info.value.subject == "S2" and info.value.path.endswith("S2_quest.csv")
    bad = list(lines)
    bad[first_panas] = bad[first_panas].rsplit(";", 3)[0]  # drop a value (keeps <= 26 fields)
    with pytest.raises(DataError, match="values, expected 24"):
        parse_quest(write(bad), "S2")
    bad = list(lines)
    del bad[first_panas + 1]
    with pytest.raises(DataError, match="expected 5 '# PANAS' rows"):
        parse_quest(write(bad), "S2")
    bad = list(lines)
    bad[first_panas] += ";9;9"
    with pytest.raises(DataError):
        parse_quest(write(bad), "S2")


# ------------------------------------------------------------------------------ the reader

def test_reader_returns_ground_truth(tiny):
    root, truth = tiny
    reader = open_reader("wesad", root)
    assert isinstance(reader, WesadReader)
    assert reader.subjects() == list(truth["subjects"])
    assert reader.modalities() == ["ecg", "emg", "eda", "acc"]
    for sid, gt in truth["subjects"].items():
        subj = reader.read_subject(sid)
        raw = _raw(root, sid)
        assert [t.trial_id for t in subj.trials] == gt["order"]
        for pos, tr in enumerate(subj.trials):
            c = tr.trial_id
            assert tr.category == c and tr.order == pos
            a, b = gt["spans"][c]
            assert tr.extra["span"] == (a, b) and tr.extra["span_source"] == "label"
            want = np.array([np.nan if v is None else v for v in gt["panas"][c]])
            np.testing.assert_array_equal(tr.panas, want)
            assert tr.panas_items == (WESAD_PANAS_TSST if c == "TSST" else WESAD_PANAS)
            if np.isnan(want).any():
                assert tr.extra["distribution"] is None
            else:
                np.testing.assert_array_equal(tr.extra["distribution"],
                                              panas_to_distribution(want, tr.panas_items,
                                                                    "wesad-all"))
            assert tr.extra["valence"] == gt["dim"][c][0]
            assert tr.extra["arousal"] == gt["dim"][c][1]
            if c == "TSST":
                np.testing.assert_array_equal(tr.extra["sssq"], gt["sssq"])
            assert set(tr.signals) == set(SIGNALS)
            for mod, (dev, key, fs, chans) in SIGNALS.items():
                lo, hi = (a, b) if dev == "chest" else (a * fs // 700, b * fs // 700)
                sig = tr.signals[mod]
                assert sig.fs == fs and sig.channels == chans
                np.testing.assert_array_equal(sig.data, raw["signal"][dev][key][lo:hi])
            assert (raw["label"][a:b] == {"Base": 1, "TSST": 2, "Fun": 3}.get(c, 4)).all()
        assert not [w for w in subj.warnings if "differ" in w]
    # only the planted Nan shows up in check()
    probs = reader.check()
    assert all(p.severity == "warning" for p in probs)
    assert {p.subject for p in probs} == {"S5"}


def test_self_reports_only_skips_pickle(tiny, tmp_path):
    root, truth = tiny
    shutil.copytree(root / "S6", tmp_path / "S6")
    (tmp_path / "S6" / "S6.pkl").rename(tmp_path / "S6" / "moved.bin")
    subj = WesadReader(tmp_path, items="wesad-overlap").read_subject("S6", [])
    gt = truth["subjects"]["S6"]
    for tr in subj.trials:
        assert tr.signals == {} and tr.extra["span_source"] == "quest"
        a, b = gt["spans"][tr.trial_id]
        assert abs(tr.extra["start_s"] - a / 700) <= 3 and abs(tr.extra["end_s"] - b / 700) <= 3
        assert tr.extra["distribution"].shape == (len(
            panas_to_distribution(tr.panas, tr.panas_items, "wesad-overlap")),)
    with pytest.raises(DataError, match="missing S6.pkl"):
        WesadReader(tmp_path).read_subject("S6", ["ecg"])
    with pytest.raises(ValueError, match="unknown WESAD modalities"):
        WesadReader(tmp_path).read_subject("S6", ["eeg"])


def test_corrupted_copy_check_lists_every_fault(tiny, tmp_path):
    root, _ = tiny
    bad = tmp_path / "bad"
    shutil.copytree(root, bad)
    # S2: one PANAS row missing
    q = bad / "S2" / "S2_quest.csv"
    lines = _quest_lines(q)
    del lines[next(i for i, l in enumerate(lines) if l.startswith("# PANAS"))]
    q.write_text("\n".join(lines) + "\n")
    # S3: pickle missing
    (bad / "S3" / "S3.pkl").unlink()
    # S5: NaNs in the chest ECG, and a quest START far from the label run
    d = _raw(bad, "S5")
    d["signal"]["chest"]["ECG"][100:110] = np.nan
    write_py2_pickle(d, bad / "S5" / "S5.pkl")
    q = bad / "S5" / "S5_quest.csv"
    lines = _quest_lines(q)
    k = next(i for i, l in enumerate(lines) if l.startswith("# START"))
    f = lines[k].split(";")
    f[1] = format_minsec(int(parse_minsec(f[1])) + 40)
    lines[k] = ";".join(f)
    q.write_text("\n".join(lines) + "\n")
    # S6: label array shorter than the chest signals; S7: an unsafe pickle
    d = _raw(bad, "S6")
    d["label"] = d["label"][:-5]
    write_py2_pickle(d, bad / "S6" / "S6.pkl")
    (bad / "S7").mkdir()
    shutil.copy(bad / "S2" / "S2_quest.csv", bad / "S7" / "S7_quest.csv")
    (bad / "S7" / "S7.pkl").write_bytes(pickle.dumps(_Evil(), protocol=2))

    reader = WesadReader(bad)
    probs = reader.check()
    errors = [p for p in probs if p.severity == "error"]

    def has(sid, fname, text, severity="error"):
        return any(p.subject == sid and p.path and p.path.endswith(fname) and text in p.message
                   and p.severity == severity for p in probs)

    assert has("S2", "S2_quest.csv", "PANAS")
    assert has("S3", "S3.pkl", "missing")
    assert has("S5", "S5.pkl", "NaN", "warning")
    # a quest time 40 s off the label run: the questionnaire is not attached (issue 13)
    assert has("S5", "S5_quest.csv", "differ", "error")
    assert has("S6", "S6.pkl", "length mismatch")
    assert has("S7", "S7.pkl", "refused")
    assert {p.subject for p in errors} == {"S2", "S3", "S5", "S6", "S7"}
    with pytest.raises(DataError, match="cannot be attached") as info:
        reader.read_subject("S5")
    assert info.value.subject == "S5" and info.value.path.endswith("S5_quest.csv")
    with pytest.raises(DataError) as info:
        reader.read_subject("S2")
    assert info.value.subject == "S2" and "S2_quest.csv" in str(info.value)
    assert reader.read_subject("S3", []).trials  # self-reports without the pickle


def test_generator_deterministic_and_presets(tmp_path):
    kw = dict(preset="tiny", progress=False, subjects=["S4"],
              durations={"Base": 6, "TSST": 6, "Fun": 6, "Medi 1": 6, "Medi 2": 6})
    a = generate_wesad(tmp_path / "a", seed=7, **kw)
    generate_wesad(tmp_path / "b", seed=7, **kw)
    generate_wesad(tmp_path / "c", seed=8, **kw)
    for name in ("S4/S4.pkl", "S4/S4_quest.csv", "S4/S4_readme.txt"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert ((tmp_path / "a" / "S4/S4.pkl").read_bytes()
            != (tmp_path / "c" / "S4/S4.pkl").read_bytes())
    assert a["subjects"]["S4"]["quirks"]["subj_colon"]
    assert (tmp_path / "a" / "_ground_truth.json").exists()
    assert set(PRESETS) >= {"tiny", "default", "wesad-scale"}
    assert len(PRESETS["wesad-scale"]["subjects"]) == 15
    assert "S12" not in PRESETS["wesad-scale"]["subjects"]
    with pytest.raises(ValueError):
        generate_wesad(tmp_path / "d", preset="nope")


def test_unreadable_pickle_names_the_file(tmp_path):
    """an OSError while reading (here: a folder where the pickle should be) and a truncated
    file: DataError naming the path, no bare "[Errno 21]" or EOFError"""
    folder = tmp_path / "S2.pkl"
    folder.mkdir()
    with pytest.raises(DataError) as err:
        safe_load(folder)
    assert str(err.value) == (f"file {folder}: cannot read the pickle (IsADirectoryError: "
                              f"Is a directory)")
    trunc = tmp_path / "S3.pkl"
    trunc.write_bytes(pickle.dumps({"signal": b"x" * 1000}, protocol=2)[:500])
    with pytest.raises(DataError, match=rf"^file {trunc}: not a readable pickle"):
        safe_load(trunc)
