"""MAHNOB-HCI reader and the synthetic MAHNOB-HCI generator.

The tiny synthetic set (seed 0): participants 1-3, three stimuli each (7 s, 2 s baselines, so
the stimulus is BDF samples 512..2304 at 256 Hz and video frames 122..549 at 61 fps), a neutral
session before each, one implicit-tagging session each, and participant 3's third stimulus
without its BDF. Signals are checked against an independent reading of the BDF (edfio).
"""
from __future__ import annotations

import datetime
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from helo.data import DataError, open_reader
from helo.data.label_rules import CIRCUMPLEX
from helo.data.labels import to_distributions
from helo.data.mahnob import EEG_CHANNELS, EMOTIONS, ITEMS, MahnobReader
from helo.data.store import labels_frame
from helo.synth import generate, manifest
from helo.synth.mahnob.files import write_bdf


@pytest.fixture(scope="module")
def tiny(tiny_synth):
    root = tiny_synth("mahnob")
    return root, json.loads((root / "_ground_truth.json").read_text())


def _edfio(path: Path) -> dict[str, np.ndarray]:
    import edfio
    return {s.label: s.data for s in edfio.read_bdf(path).signals}


def _session(root: Path, truth: dict, subject: str, k: int) -> Path:
    entry = next(s for s in truth["subjects"][subject]["sessions"]
                 if s["kind"] == "stimulus" and s["trial"] == k)
    return root / "Sessions" / entry["session"]


def test_reader_returns_what_the_generator_wrote(tiny):
    root, truth = tiny
    reader = open_reader("mahnob", root)
    assert reader.subjects() == ["1", "2", "3"]
    assert reader.modalities() == ["eeg", "ecg", "gsr", "video"]
    for sid in ("1", "2", "3"):
        subject = reader.read_subject(sid)
        want = truth["subjects"][sid]["trials"]
        assert [t.trial_id for t in subject.trials] == [w["clip"] for w in want]
        for t, w in zip(subject.trials, want):
            assert t.order == w["trial"] - 1
            assert t.category == EMOTIONS[w["feltEmo"]] == w["felt_emotion"]
            assert t.panas_items == ITEMS
            np.testing.assert_array_equal(
                t.panas[:4], [w["valence"], w["arousal"], w["control"], w["predictability"]])
            onehot = np.zeros(len(EMOTIONS))
            onehot[list(EMOTIONS).index(w["feltEmo"])] = 1
            np.testing.assert_array_equal(t.panas[4:], onehot)
            # 2 s of baseline before a 7 s stimulus at 256 Hz; frames at 61 fps
            assert t.extra["span"] == (512, 2304) == tuple(w["span"])
            assert t.extra["video_frames"] == (122, 549) == tuple(w["frames"])
            assert (t.video.start_frame, t.video.stop_frame, t.video.fps) == (122, 549, 61.0)
            assert "C1 trigger" in t.video.path.name
            assert t.signals["eeg"].channels == EEG_CHANNELS
            assert t.signals["eeg"].data.shape == (1792, 32) and t.signals["eeg"].fs == 256.0
            ref = _edfio(root / "Sessions" / w["session"] / w["bdf"])
            seg = slice(512, 2304)
            np.testing.assert_allclose(t.signals["eeg"].data[:, EEG_CHANNELS.index("Oz")],
                                       ref["Oz"][seg], rtol=0, atol=1e-9)
            np.testing.assert_allclose(t.signals["ecg"].data[:, 0], ref["EXG3"][seg], atol=1e-9)
            # skin resistance in Ohm -> conductance in microsiemens
            np.testing.assert_allclose(t.signals["gsr"].data[:, 0], 1e6 / ref["GSR1"][seg],
                                       rtol=1e-12)
            assert 1.0 < np.median(t.signals["gsr"].data) < 20.0
    three = reader.read_subject("3")
    assert len(three.trials) == 2
    missing = truth["subjects"]["3"]["skipped_no_bdf"]
    assert missing == [_session(root, truth, "3", 3).name]
    assert any(f"Sessions/{missing[0]}/Part_3_S_Trial3_emotion.bdf" in w and "missing" in w
               for w in three.warnings)
    assert any("skipped 3 neutral-clip session(s)" in w and "1 implicit-tagging" in w
               for w in three.warnings)


def test_root_may_be_the_sessions_folder_and_labels_only_reads_no_bdf(tiny, tmp_path):
    root, truth = tiny
    inner = open_reader("mahnob", root / "Sessions")
    assert inner.subjects() == ["1", "2", "3"]
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    for bdf in (copy / "Sessions").rglob("*.bdf"):
        bdf.write_bytes(b"not read")  # labels only: the BDF is not opened
    subject = MahnobReader(copy).read_subject("2", [])
    assert [t.trial_id for t in subject.trials] == [
        w["clip"] for w in truth["subjects"]["2"]["trials"]]
    assert all(not t.signals and t.video is None for t in subject.trials)


def test_labels_table_and_circumplex_by_hand(tiny):
    root, truth = tiny
    subject = open_reader("mahnob", root).read_subject("1", [])
    df = labels_frame(subject)
    cols = [c for c in df.columns if c.startswith("panas_")]
    assert cols == [f"panas_{i}" for i in ITEMS]
    assert list(df["category"]) == [w["felt_emotion"] for w in truth["subjects"]["1"]["trials"]]
    values = df[cols].to_numpy(float)
    D, names, kind, skipped, _ = to_distributions(values, ITEMS, kind="circumplex",
                                                  rule={"scale": [1, 9], "kappa": 3.0})
    assert kind == "circumplex" and names == list(CIRCUMPLEX) and skipped == []
    # by hand: the rating centred and scaled to [-1, 1]^2, its angle and radius (at most 1),
    # p_k proportional to exp(kappa * rho * cos(theta - theta_k)), theta_k = 0, 45, ..., 315
    for row, w in zip(D, truth["subjects"]["1"]["trials"]):
        x, y = (w["valence"] - 5) / 4, (w["arousal"] - 5) / 4
        rho, theta = min(1.0, np.hypot(x, y)), np.arctan2(y, x)
        p = np.exp(3.0 * rho * np.cos(theta - np.deg2rad(np.arange(0, 360, 45))))
        np.testing.assert_allclose(row, p / p.sum(), rtol=1e-12)
    # first trial (valence 4, arousal 4): the point (-0.25, -0.25), rho = 0.3536, kappa * rho
    # = 1.0607, peaks at depression (225): e^1.0607 / (e^1.0607 + 2 e^0.75 + 2 e^0
    # + 2 e^-0.75 + e^-1.0607) = 2.8883 / 10.4132 = 0.2774
    assert (truth["subjects"]["1"]["trials"][0]["valence"],
            truth["subjects"]["1"]["trials"][0]["arousal"]) == (4, 4)
    assert names[int(np.argmax(D[0]))] == "depression"
    np.testing.assert_allclose(D[0].max(), 0.2774, atol=5e-5)
    # the felt-emotion one-hot as the label distribution instead
    felt = [f"felt_{e}" for e in EMOTIONS.values()]
    D1, names1, kind1, _, _ = to_distributions(values, ITEMS, kind="distribution", items=felt)
    assert kind1 == "distribution" and names1 == felt
    np.testing.assert_array_equal(D1.argmax(axis=1), [
        list(EMOTIONS).index(w["feltEmo"]) for w in truth["subjects"]["1"]["trials"]])


def _set_attr(xml: Path, attr: str, value: str) -> None:
    text = xml.read_text()
    new, n = re.subn(rf'{attr}="[^"]*"', f'{attr}="{value}"', text)
    assert n == 1
    xml.write_text(new)


def _rewrite_status(bdf: Path, onsets: list[int]) -> None:
    import edfio
    f = edfio.read_bdf(bdf)
    channels = {s.label: s.data for s in f.signals}
    status = np.zeros_like(channels["Status"])
    for i in onsets:
        status[i:i + 8] = 1
    channels["Status"] = status
    write_bdf(bdf, channels, 256, datetime.datetime.combine(f.startdate, f.starttime))


def test_check_lists_every_fault_naming_file_and_subject(tiny, tmp_path, capsys):
    root, truth = tiny
    bad = tmp_path / "bad"
    shutil.copytree(root, bad)
    # subject 1: a truncated BDF (trial 2) and a missing one (trial 3)
    b12 = next(_session(bad, truth, "1", 2).glob("*.bdf"))
    size = b12.stat().st_size
    b12.write_bytes(b12.read_bytes()[:size - 1000])
    b13 = next(_session(bad, truth, "1", 3).glob("*.bdf"))
    b13.unlink()
    # subject 2: valence out of range (trial 1), no such felt-emotion code (trial 2), one Status
    # marker only (trial 3)
    _set_attr(_session(bad, truth, "2", 1) / "session.xml", "feltVlnc", "12")
    _set_attr(_session(bad, truth, "2", 2) / "session.xml", "feltEmo", "7")
    b23 = next(_session(bad, truth, "2", 3).glob("*.bdf"))
    _rewrite_status(b23, [512])
    # subject 3: a session.xml cut short (not well-formed), three Status markers (trial 2),
    # and a folder with a BDF but no session.xml
    x31 = _session(bad, truth, "3", 1) / "session.xml"
    x31.write_text(x31.read_text()[:120])
    b32 = next(_session(bad, truth, "3", 2).glob("*.bdf"))
    _rewrite_status(b32, [512, 1000, 2304])
    (bad / "Sessions" / "9999").mkdir()
    shutil.copy(b32, bad / "Sessions" / "9999" / b32.name)

    reader = MahnobReader(bad)
    probs = reader.check()

    def has(sid, path_end, text, severity="error"):
        return any(p.subject == sid and p.path and p.path.endswith(path_end)
                   and text in p.message and p.severity == severity for p in probs)

    assert has("1", b12.name, f"BDF is truncated: {size - 1000} bytes, its header promises "
                              f"{size}")
    assert has("1", b13.name, "BDF is missing", "warning")
    assert has("2", "session.xml", "feltVlnc (valence) is 12, outside the rating scale 1..9")
    assert has("2", "session.xml", "feltEmo is 7, not one of the emotion codes")
    assert has("2", b23.name, "the Status channel has 1 marker(s) [512]")
    assert has("3", "session.xml", "not well-formed XML (line 2")
    assert has("3", b32.name, "the Status channel has 3 markers (at samples [512, 1000, 2304]);"
                              " the stimulus is taken from the first to the last", "warning")
    assert has("3", "9999/session.xml", "session folder with a BDF but no session.xml: skipped",
               "warning")
    assert {p.subject for p in probs if p.severity == "error"} == {"1", "2", "3"}
    assert all(has(s, "Sessions", "skipped 3 neutral-clip session(s)", "warning")
               for s in ("1", "2"))
    with pytest.raises(DataError, match="BDF is truncated") as info:
        reader.read_subject("1")
    assert info.value.subject == "1" and info.value.path.endswith(b12.name)
    assert "(and 0 more" not in str(info.value)
    with pytest.raises(DataError, match="outside the rating scale") as info:
        reader.read_subject("2", [])
    assert info.value.subject == "2"

    from helo.cli import main
    assert main(["check-data", str(bad), "--layout", "mahnob"]) == 1
    out = capsys.readouterr().out
    assert f"ERROR | subject 1 | {b12}: BDF is truncated" in out
    assert f"WARNING | subject 1 | {b13}: the stimulus session's BDF is missing" in out
    assert "3 subject(s) under" in out and "5 error(s)" in out


def test_copied_session_and_contradicting_subject_are_errors(tiny, tmp_path):
    root, truth = tiny
    bad = tmp_path / "bad"
    shutil.copytree(root, bad)
    src = _session(bad, truth, "1", 1)
    shutil.copytree(src, bad / "Sessions" / "9000")
    x = _session(bad, truth, "2", 2) / "session.xml"
    x.write_text(x.read_text().replace('<subject id="2" />', '<subject id="3" />'))
    probs = MahnobReader(bad).check()
    clip = truth["subjects"]["1"]["trials"][0]["clip"]
    assert any(p.subject == "1" and f"stimulus {clip} appears in sessions {src.name} and 9000"
               in p.message for p in probs)
    for sid in ("2", "3"):  # both ids are refused: which one the session belongs to is unknown
        assert any(p.subject == sid and "names subject 3 but the BDF Part_2_S_Trial2_emotion.bdf"
                   " is participant 2's" in p.message for p in probs)


def test_links_out_of_the_root_are_refused(tiny, tmp_path):
    root, truth = tiny
    bad = tmp_path / "bad"
    shutil.copytree(root, bad)
    secret = tmp_path / "secret.xml"
    secret.write_text('<session feltVlnc="5"><subject id="1"/></session>')
    xml = _session(bad, truth, "1", 1) / "session.xml"
    xml.unlink()
    xml.symlink_to(secret)
    probs = MahnobReader(bad).check()
    assert any(p.subject == "1" and p.path == str(xml) and "leads outside the dataset root"
               in p.message for p in probs)


def test_ecg_lead_option(tiny):
    root, truth = tiny
    w = truth["subjects"]["1"]["trials"][0]
    ref = _edfio(root / "Sessions" / w["session"] / w["bdf"])
    t = MahnobReader(root, ecg_lead="EXG3-EXG1").read_subject("1", ["ecg"]).trials[0]
    assert t.signals["ecg"].channels == ["EXG3-EXG1"] and set(t.signals) == {"ecg"}
    np.testing.assert_allclose(t.signals["ecg"].data[:, 0],
                               ref["EXG3"][512:2304] - ref["EXG1"][512:2304], atol=1e-9)
    with pytest.raises(ValueError, match="EXG3-EXG1"):
        MahnobReader(root, ecg_lead="EXG3-")
    with pytest.raises(ValueError, match="unknown MAHNOB-HCI modalities"):
        MahnobReader(root).read_subject("1", ["ppg"])


def test_a_participant_depends_only_on_seed_and_number(tiny, tmp_path):
    root, truth = tiny
    alone = generate("mahnob", tmp_path / "alone", seed=0, preset="tiny", progress=False,
                     subjects=[2])
    assert list(alone["subjects"]) == ["2"]
    whole, part = manifest(root / "Sessions"), manifest(tmp_path / "alone" / "Sessions")
    assert part and part == {k: v for k, v in whole.items() if k.split("/")[0] in
                             {s["session"] for s in truth["subjects"]["2"]["sessions"]}}
    other = generate("mahnob", tmp_path / "seed1", seed=1, preset="tiny", progress=False,
                     subjects=[2], video=False)
    files = manifest(tmp_path / "seed1")
    assert not any(k.endswith(".avi") for k in files)
    assert other["subjects"]["2"]["trials"][0]["video"] is None
    # another seed, other ratings and signals under the same names
    bdf = "Sessions/132/Part_2_S_Trial1_emotion.bdf"
    assert bdf in files and files[bdf]["sha256"] != whole[bdf.split("/", 1)[1]]["sha256"]
    with pytest.raises(ValueError, match="unknown override"):
        generate("mahnob", tmp_path / "x", preset="tiny", nope=1)
