"""The DEAP original-recordings reader (layout ``deap-bdf``): BDF channels in both sites'
orders, Status markers, the ratings table and face videos, against the synthetic generator."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from helo.data import open_reader
from helo.data.base import DataError
from helo.data.deap import EEG_GENEVA, RATINGS
from helo.data.deap.bdf import markers, trial_spans
from helo.synth.deap import generate_deap, generate_deap_bdf


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("deap-bdf") / "DEAP"
    truth = generate_deap_bdf(out, seed=0, preset="tiny", progress=False, return_signals=True)
    return out, truth


def _copy(written, tmp_path):
    dst = tmp_path / "DEAP"
    shutil.copytree(written[0], dst)
    return dst


def test_markers_mask_the_device_bits_and_spans_run_from_4_to_5():
    status = np.full(40, 0x190000)
    status[20:] = 0x590000  # the upper bits change mid-file, as in real recordings
    for at, code in ((2, 1), (6, 3), (10, 4), (18, 5), (25, 1), (30, 4), (36, 5)):
        status[at:at + 2] |= code
    ev = markers(status.astype(float))
    assert ev == [(2, 1), (6, 3), (10, 4), (18, 5), (25, 1), (30, 4), (36, 5)]
    assert trial_spans(ev, path="x.bdf", subject="s01") == [(10, 18), (30, 36)]
    with pytest.raises(DataError, match=r"video start 1 \(Status code 4 at sample 10\) has no "
                                        r"end marker"):
        trial_spans([(10, 4), (30, 4), (36, 5)], path="x.bdf", subject="s01")


def test_reader_gives_the_signals_the_generator_wrote(written):
    root, truth = written
    r = open_reader("deap-bdf", root)
    assert r.subjects() == ["s01", "s02", "s23"]
    for sid in r.subjects():
        st = truth["subjects"][sid]
        s = r.read_subject(sid)
        assert [t.trial_id for t in s.trials] == [str(k) for k in st["presentation"]]
        for t, tt in zip(s.trials, st["trials"]):
            assert t.order == tt["trial"] - 1 and t.extra["span"] == tuple(tt["span"])
            assert t.extra["end_s"] - t.extra["start_s"] == pytest.approx(6.0)  # tiny: 6 s videos
            np.testing.assert_array_equal(t.panas, st["ratings"][t.trial_id])
            assert t.panas_items == RATINGS
            want = truth["signals"][sid][t.trial_id]
            for m in ("eeg", "emg", "gsr", "ppg"):
                sig = t.signals[m]
                assert sig.fs == 512.0 and sig.data.shape == (3072, want[m].shape[1])
                np.testing.assert_allclose(sig.data, want[m], rtol=0, atol=1e-6)
            assert t.signals["eeg"].channels == EEG_GENEVA  # s01/s02 store the Twente order
            if "video_frames" in tt:
                assert t.video.fps == 10.0 and (t.video.start_frame, t.video.stop_frame) == (
                    0, tt["video_frames"]) == (0, 60)
                assert t.video.path.name == f"{sid}_trial{tt['trial']:02d}.avi"
            else:
                assert t.video is None
        expect = ([f"{root}/face_video/s02/s02_trial02.avi: no face video for trial 2 (video "
                   f"{st['presentation'][1]}); video=None"] if sid == "s02" else [])
        assert s.warnings == expect
    assert [p.severity for p in r.check()] == ["warning"]


def test_both_layouts_give_the_same_trials_and_ratings(written, tmp_path):
    """The same seed writes the same participants in both layouts; the readers give the same
    trial ids (video), order and ratings."""
    pre = tmp_path / "pre"
    generate_deap(pre, seed=0, preset="tiny", progress=False, subjects=[1, 2, 23], videos=2)
    a, b = open_reader("deap", pre), open_reader("deap-bdf", written[0])
    for sid in ("s01", "s02", "s23"):
        ta = {t.trial_id: t for t in a.read_subject(sid, []).trials}
        for t in b.read_subject(sid, []).trials:
            assert ta[t.trial_id].order == t.order
            np.testing.assert_array_equal(ta[t.trial_id].panas, t.panas)


def _table(root):
    return root / "Metadata" / "participant_ratings.csv"


def _edit_row(root, line: int, column: int, value: str) -> None:
    lines = _table(root).read_text().splitlines()
    fields = lines[line - 1].split(",")
    fields[column] = value
    lines[line - 1] = ",".join(fields)
    _table(root).write_text("\n".join(lines) + "\n")


def test_check_names_missing_and_truncated_files(written, tmp_path):
    root = _copy(written, tmp_path)
    (root / "data_original" / "s02.bdf").unlink()
    bdf = root / "data_original" / "s23.bdf"
    bdf.write_bytes(bdf.read_bytes()[:3000])
    errs = [p for p in open_reader("deap-bdf", root).check() if p.severity == "error"]
    assert [(e.subject, e.path) for e in errs] == [
        ("s23", str(bdf)), ("s02", str(root / "data_original" / "s02.bdf"))]
    assert errs[0].message.startswith("cannot read the BDF")
    assert errs[1].message == "missing subject file: participant_ratings.csv lists participant 2"
    # the labels come from the table: a labels-only read does not open the broken BDF
    assert len(open_reader("deap-bdf", root).read_subject("s23", []).trials) == 2


def test_check_names_table_faults(written, tmp_path):
    root = _copy(written, tmp_path)
    lines = _table(root).read_text().splitlines()
    _table(root).write_text("\n".join([ln for ln in lines if not ln.startswith("23,2,")]) + "\n")
    with pytest.raises(DataError) as err:
        open_reader("deap-bdf", root).read_subject("s23", ["eeg"])
    assert str(err.value) == (f"subject s23, file {root}/data_original/s23.bdf: the Status "
                              f"channel marks 2 video start(s) (code 4) but the ratings table "
                              f"has 1 trial(s) for participant 23")
    _edit_row(root, 2, 4, "9.5")  # participant 1, trial 1: valence
    (err,) = open_reader("deap-bdf", root).check()
    assert err.path == str(_table(root))
    assert err.message == "line 2: valence 9.5 outside DEAP's 1..9 scale"


def test_start_times_that_disagree_with_the_markers_are_reported(written, tmp_path):
    root = _copy(written, tmp_path)
    start = int(_table(root).read_text().splitlines()[2].split(",")[3])
    _edit_row(root, 3, 3, str(start + 3_000_000))  # participant 1, trial 2: 3 s later
    (warn,) = [p for p in open_reader("deap-bdf", root).check() if p.subject == "s01"]
    assert warn.severity == "warning" and "trials 1->2: the markers are 11.00 s apart, the " \
        "ratings table's Start_time 14.00 s" in warn.message
