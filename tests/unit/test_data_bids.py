"""The BIDS layout: the reader finds exactly what the synthetic BIDS writer put in, channel names
are normalised one way for every reader, and bad input is named."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from helo.data import DataError, open_reader
from helo.data.channels import normalise_channel, normalise_channels
from helo.synth import generate


@pytest.fixture(scope="module")
def bids_set(tmp_path_factory):
    out = tmp_path_factory.mktemp("bids") / "ds"
    truth = generate("bids", out, seed=0, preset="tiny", progress=False, return_signals=True)
    return out, truth


@pytest.mark.parametrize("raw,norm", [
    ("Fp1.", "Fp1"), ("Fc5.", "FC5"), ("Iz..", "Iz"), ("Fcz.", "FCz"), ("T10.", "T10"),
    ("FP1", "Fp1"), ("fpz", "Fpz"), ("AFZ", "AFz"), ("cp5", "CP5"), ("POz", "POz"),
    ("EEG Fp1-REF", "Fp1"), ("eeg_fz", "Fz"), ("P3-Pz", "P3"), ("O1 A2", "O1"),
    ("T3", "T7"), ("T4", "T8"), ("t5", "P7"), ("T6.", "P8"), ("T7", "T7"), ("A1", "A1"),
])
def test_channel_normalisation(raw, norm):
    assert normalise_channel(raw) == norm


def test_channel_normalisation_without_aliases_and_collisions():
    assert normalise_channel("T3", aliases=False) == "T3"
    assert normalise_channels(["Fp1.", "Fp2.", "Cz.."]) == ["Fp1", "Fp2", "Cz"]
    with pytest.raises(ValueError, match="'T3' and 'T7'"):
        normalise_channels(["T3", "Cz", "T7"])


def test_reader_returns_what_the_generator_wrote(bids_set):
    out, truth = bids_set
    reader = open_reader("bids", out)
    assert reader.subjects() == ["01", "02", "05"]
    assert set(reader.modalities()) == {"eeg", "gsr", "ppg", "video"}
    written = truth["eeg_channels_written"]
    assert "T3" in written
    expected_names = [{"T3": "T7", "T4": "T8", "T5": "P7", "T6": "P8"}.get(c, c) for c in written]
    for lab, st in truth["subjects"].items():
        subj = reader.read_subject(lab)
        assert [t.trial_id for t in subj.trials] == [t["trial_id"] for t in st["trials"]]
        assert [t.order for t in subj.trials] == list(range(len(st["trials"])))
        for t, tt in zip(subj.trials, st["trials"]):
            sig = truth["_signals"][lab][t.trial_id]
            assert t.category == tt["category"]
            np.testing.assert_array_equal(t.panas, tt["panas"])
            assert t.panas_items[0] == "Inspired" and len(t.panas_items) == 10
            assert t.extra["arousal"] == tt["arousal"] and t.extra["disgust"] == tt["disgust"]
            eeg = t.signals["eeg"]
            assert eeg.fs == 300.0 and eeg.channels == expected_names
            assert eeg.data.shape == (tt["seconds"] * 300, 18)
            # EDF stores 16-bit integers over each channel's physical range: one step apart
            x = truth["_signals"][lab]
            full = np.concatenate([v["eeg"] for v in x.values()])
            step = (full.max(axis=0) - full.min(axis=0)) / 65535
            assert np.all(np.abs(eeg.data - sig["eeg"]) <= 2 * step + 1e-9)
            # physio values come back bit for bit, cut at the documented sample
            for m, fs in (("gsr", 4.0), ("ppg", 100.0)):
                s = t.signals[m]
                assert s.fs == fs
                np.testing.assert_array_equal(s.data, sig[m])
            assert [t.video.start_frame, t.video.stop_frame] == tt["spans"]["video"]
            assert t.video.fps == 30.0
        assert any("practice" in w and "rest" in w for w in subj.warnings)


def test_labels_only_and_modality_subset(bids_set):
    out, _ = bids_set
    r = open_reader("bids", out)
    s = r.read_subject("02", modalities=[])
    assert all(not t.signals and t.video is None for t in s.trials)
    s = r.read_subject("02", modalities=["gsr"])
    assert all(set(t.signals) == {"gsr"} and t.video is None for t in s.trials)


def _handmade(tmp_path):
    """EEGMMIDB-like: 4 EEG channels named with dots at 160 Hz plus an ECG channel, one EDF."""
    import mne
    from mne_bids import BIDSPath, write_raw_bids
    fs = 160.0
    rng = np.random.default_rng(3)
    names = ["Fc5.", "Fcz.", "T3..", "Iz..", "ECG"]
    x = rng.normal(0, 20e-6, size=(5, int(30 * fs)))
    x[4] = rng.normal(0, 1e-3, size=x.shape[1])
    raw = mne.io.RawArray(x, mne.create_info(names, fs, ["eeg"] * 4 + ["ecg"]), verbose="error")
    write_raw_bids(raw, BIDSPath(subject="s1", task="rest", datatype="eeg", root=tmp_path),
                   format="EDF", allow_preload=True, verbose="error")
    ev = tmp_path / "sub-s1" / "eeg" / "sub-s1_task-rest_events.tsv"
    ev.write_text("onset\tduration\ttrial_type\n2.0\t5.0\tcalm\n10.5\t6.0\tangry\n20\tn/a\tboundary\n")
    beh = tmp_path / "sub-s1" / "beh"
    beh.mkdir()
    (beh / "sub-s1_task-rest_beh.tsv").write_text(
        "trial\tlabel__happy\tlabel__sad\tvalence\n calm\t0.75\t0.25\t6\nangry\t0.1\t0.9\t2\n")
    return tmp_path, x, fs


def test_distribution_labels_and_extra_eeg_channels(tmp_path):
    """Physio as extra channels of the EEG file (ECG type), EEGMMIDB-style names, trial ids from
    trial_type, label distributions in label__ columns."""
    _, x, fs = _handmade(tmp_path)
    s = open_reader("bids", tmp_path).read_subject("s1")
    assert [t.trial_id for t in s.trials] == ["calm", "angry"]
    t = s.trials[1]
    assert t.signals["eeg"].channels == ["FC5", "FCz", "T7", "Iz"]
    assert t.signals["eeg"].data.shape == (960, 4)
    a = int(np.ceil(10.5 * fs - 1e-6))
    step = (x[:4].max(axis=1) - x[:4].min(axis=1)) / 65535 * 1e6
    assert np.all(np.abs(t.signals["eeg"].data - x[:4, a:a + 960].T * 1e6) <= 2 * step)
    assert t.signals["ecg"].channels == ["ECG"]
    np.testing.assert_allclose(t.signals["ecg"].data[:, 0], x[4, a:a + 960] * 1e6,
                               atol=2 * (x[4].max() - x[4].min()) / 65535 * 1e6)
    np.testing.assert_allclose(t.extra["distribution"], [0.1, 0.9])
    assert t.extra["label_kind"] == "distribution" and t.extra["valence"] == 2.0
    assert t.panas_items == ["happy", "sad"]


def _copy(bids_set, tmp_path) -> Path:
    dst = tmp_path / "ds"
    shutil.copytree(bids_set[0], dst)
    return dst


def test_unsafe_subject_label_is_named(bids_set, tmp_path):
    root = _copy(bids_set, tmp_path)
    (root / "sub-a.b").mkdir()
    with pytest.raises(DataError, match=r"sub-a\.b.*not safe"):
        open_reader("bids", root).subjects()
    problems = open_reader("bids", root).check()
    assert any("not safe" in p.message for p in problems)


def test_bad_input_names_file_and_subject(bids_set, tmp_path):
    root = _copy(bids_set, tmp_path)
    r = open_reader("bids", root)
    js = root / "sub-01" / "eeg" / "sub-01_task-emotion_recording-gsr_physio.json"
    meta = json.loads(js.read_text())
    del meta["StartTime"]
    js.write_text(json.dumps(meta))
    with pytest.raises(DataError, match=r"subject 01.*recording-gsr_physio.json.*StartTime"):
        r.read_subject("01", modalities=["gsr"])
    beh = root / "sub-02" / "beh" / "sub-02_task-emotion_beh.tsv"
    lines = beh.read_text().splitlines()
    beh.write_text("\n".join(lines + [lines[1]]) + "\n")  # a trial twice
    with pytest.raises(DataError, match=r"subject 02.*_beh.tsv.*two self-report rows"):
        r.read_subject("02", modalities=[])
    ev = root / "sub-05" / "eeg" / "sub-05_task-emotion_events.tsv"
    first = ev.read_text().splitlines()
    kept = [first[0]] + [ln for ln in first[1:] if ln.split("\t")[3] in ("rest", "practice")]
    ev.write_text("\n".join(kept) + "\n")
    with pytest.raises(DataError, match=r"subject 05.*have no event"):
        r.read_subject("05", modalities=[])


def test_eeg_features_take_any_channel_set(tmp_path):
    """helo's EEG features on 4 EEGMMIDB channels at 160 Hz: named by the normalised channels;
    for white noise the Gaussian DE of the beta band is 1/2 ln(2 pi e var * 2B / fs)."""
    from helo.features import trial_features
    _handmade(tmp_path)
    t = open_reader("bids", tmp_path).read_subject("s1", ["eeg"]).trials[1]
    X, names, notes = trial_features(t, "eeg", {"window_s": 1.0, "longest_window_s": 1.0})
    assert names[:5] == ["eeg_FC5_delta", "eeg_FC5_theta", "eeg_FC5_alpha", "eeg_FC5_beta",
                         "eeg_FC5_gamma"]
    assert X.shape == (6, 20) and np.isfinite(X).all() and notes == [""] * 6
    var = t.signals["eeg"].data.var(axis=0)
    want = 0.5 * np.log(2 * np.pi * np.e * var * 2 * 16 / 160.0)
    beta = X[:, 3::5].mean(axis=0)
    assert np.all(np.abs(beta - want) < 0.2), (beta, want)


def test_task_option_reads_one_task_of_a_multi_task_dataset(bids_set, tmp_path):
    """a subject recorded in two labelled tasks: ``task`` (``data.task``, ``--task``) reads
    exactly the one asked for; the schema accepts it for BIDS only; check-data takes --task"""
    from helo.cli import main
    from helo.stages import params as P
    from helo.stages.common import reader_options
    from helo.stages.schema import ParamsError, validate
    out, truth = bids_set
    ds = tmp_path / "ds"
    shutil.copytree(out, ds)
    for p in sorted((ds / "sub-01").rglob("sub-01_task-emotion_*")):
        shutil.copy(p, p.with_name(p.name.replace("task-emotion", "task-film")))
    expected = [t["trial_id"] for t in truth["subjects"]["01"]["trials"]]
    with pytest.raises(DataError, match="different tasks: read one with data.task"):
        open_reader("bids", ds).read_subject("01")  # every task: trial ids collide
    only = open_reader("bids", ds, task="emotion").read_subject("01")
    assert [t.trial_id for t in only.trials] == expected
    assert not any("task-film" in w for w in only.warnings)
    film = open_reader("bids", ds, task="film")
    assert film.read_subject("01").trials[0].signals["eeg"].channels == \
        only.trials[0].signals["eeg"].channels

    params = P.load(Path(__file__).resolve().parents[2] / "params.yaml")
    params["data"].update(layout="bids", task="emotion")
    validate(params)
    assert reader_options(params) == {"task": "emotion"}
    params["data"]["task"] = None
    assert reader_options(params) == {}
    for layout, task, msg in (("dmer-raw", "emotion", "has no tasks"),
                              ("bids", "../x", "letters and digits")):
        params["data"].update(layout=layout, task=task)
        with pytest.raises(ParamsError, match=msg):
            validate(params)
    assert main(["check-data", str(ds), "--layout", "bids", "--task", "emotion"]) == 0
    assert main(["check-data", str(ds), "--layout", "bids"]) == 1  # the collision, named
    with pytest.raises(SystemExit, match="has no tasks"):
        main(["check-data", str(ds), "--layout", "wesad", "--task", "emotion"])


# ---------------------------------------------------------------- faults named, nothing faked

_GSR_JSON = "sub-01/eeg/sub-01_task-emotion_recording-gsr_physio.json"
_GSR_TSV = "sub-01/eeg/sub-01_task-emotion_recording-gsr_physio.tsv.gz"


def _check_messages(root) -> list[str]:
    return [str(p) for p in open_reader("bids", root).check() if p.severity == "error"]


@pytest.mark.parametrize("field,value,problem", [
    ("Columns", "gsr", "Columns must be a non-empty list of strings, not str 'gsr'"),
    ("Columns", ["gsr", 3], "Columns must hold non-empty strings only; found 3"),
    ("SamplingFrequency", float("inf"), "SamplingFrequency must be a finite number, not inf"),
    ("SamplingFrequency", float("nan"), "SamplingFrequency must be a finite number, not nan"),
    ("SamplingFrequency", "4", "SamplingFrequency must be a number, not str '4'"),
    ("SamplingFrequency", 0, "SamplingFrequency must be positive, not 0"),
    ("StartTime", float("-inf"), "StartTime must be a finite number, not -inf"),
    ("StartTime", float("nan"), "StartTime must be a finite number, not nan"),
])
def test_physio_sidecar_fields_are_type_checked(bids_set, tmp_path, field, value, problem):
    """a string Columns is not read as its letters, Infinity/NaN rates and start times (which
    Python's json accepts) are refused: extraction and check-data name the file and the field"""
    root = _copy(bids_set, tmp_path)
    js = root / _GSR_JSON
    meta = json.loads(js.read_text())
    meta[field] = value
    js.write_text(json.dumps(meta))  # writes NaN / Infinity as JSON's common extension does
    with pytest.raises(DataError) as err:
        open_reader("bids", root).read_subject("01", modalities=["gsr"])
    assert str(err.value) == f"subject 01, file {js}: {problem}"
    assert f"ERROR | subject 01 | {js}: {problem}" in _check_messages(root)


def test_video_sidecar_fields_are_type_checked(bids_set, tmp_path):
    root = _copy(bids_set, tmp_path)
    js = root / "sub-01/beh/sub-01_task-emotion_recording-face_video.json"
    js.write_text(json.dumps({"FrameRate": float("inf"), "StartTime": 0}))
    with pytest.raises(DataError, match=r"subject 01, file .*face_video\.json: FrameRate must be "
                                        r"a finite number, not inf"):
        open_reader("bids", root).read_subject("01", modalities=["video"])
    js.write_text("[1, 2]")
    with pytest.raises(DataError, match=r"face_video\.json: video sidecar must be a JSON object"):
        open_reader("bids", root).read_subject("01", modalities=["video"])


def test_truncated_physio_gzip_names_the_file(bids_set, tmp_path):
    root = _copy(bids_set, tmp_path)
    gz = root / _GSR_TSV
    gz.write_bytes(gz.read_bytes()[: gz.stat().st_size // 2])
    with pytest.raises(DataError) as err:
        open_reader("bids", root).read_subject("01", modalities=["gsr"])
    assert str(err.value).startswith(f"subject 01, file {gz}: the gzip file is truncated or "
                                     "corrupt (EOFError")
    assert any(str(gz) in m and "truncated" in m for m in _check_messages(root))
    gz.write_bytes(b"\x1f\x8b\x08\x00garbage")  # a gzip header, then no deflate stream
    with pytest.raises(DataError, match=r"gsr_physio\.tsv\.gz: the gzip file is truncated or "
                                        r"corrupt"):
        open_reader("bids", root).read_subject("01", modalities=["gsr"])


def test_check_data_selects_eeg_channels_as_extraction_does(bids_set, tmp_path, capsys):
    """channels.tsv marking every channel MISC: extraction of eeg and check-data fail with one
    message, naming the EEG file; extraction of a physio modality still works"""
    from helo.cli import main
    from helo.stages.extract import run_extract
    root = _copy(bids_set, tmp_path)
    ch = root / "sub-01/eeg/sub-01_task-emotion_channels.tsv"
    lines = ch.read_text().splitlines()
    rows = [ln.split("\t") for ln in lines[1:]]
    ch.write_text("\n".join([lines[0]] + ["\t".join([r[0], "MISC", *r[2:]]) for r in rows])
                  + "\n")
    edf = root / "sub-01/eeg/sub-01_task-emotion_eeg.edf"
    want = (f"subject 01, file {edf}: no channel of type EEG among the file's {len(rows)} "
            f"channels (MISC x{len(rows)}), so no eeg signal: set the EEG channels' type to EEG "
            f"in sub-01_task-emotion_channels.tsv")
    with pytest.raises(DataError) as err:
        open_reader("bids", root).read_subject("01", modalities=["eeg"])
    assert str(err.value) == want
    summ = run_extract("bids", root, tmp_path / "store", "eeg", {}, subjects=["01"],
                       progress=False)
    assert summ["failed"] == [{"subject": "01", "reason": want}]
    assert open_reader("bids", root).read_subject("01", ["gsr"]).trials[0].signals["gsr"]
    assert main(["check-data", str(root), "--layout", "bids"]) == 1
    out = capsys.readouterr().out
    assert f"ERROR | subject 01 | {edf}: {want.split(': ', 1)[1]}" in out
    assert "1 error(s)" in out


def test_links_leaving_the_dataset_are_refused_without_echo(bids_set, tmp_path, capsys):
    """an events.tsv linked to a file outside the dataset: refused before it is read, naming
    the link and where it leads; not a byte of the target appears in any message"""
    from helo.cli import main
    root = _copy(bids_set, tmp_path)
    secret = tmp_path / "outside" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("TOP-SECRET-LINE\tpassword=hunter2\n")
    ev = root / "sub-02/eeg/sub-02_task-emotion_events.tsv"
    ev.unlink()
    ev.symlink_to(secret)
    with pytest.raises(DataError) as err:
        open_reader("bids", root).read_subject("02", modalities=[])
    msg = str(err.value)
    assert msg.startswith(f"subject 02, file {ev}: the file is a link that leads outside the "
                          f"dataset root") and str(secret) in msg
    assert "TOP-SECRET" not in msg and "hunter2" not in msg
    assert main(["check-data", str(root), "--layout", "bids"]) == 1
    out = capsys.readouterr().out
    assert f"{ev}: the file is a link that leads outside" in out
    assert "TOP-SECRET" not in out and "hunter2" not in out
    # a link that stays inside the dataset is fine; a dataset root that is a link is fine
    ev.unlink()
    ev.symlink_to(root / "sub-01/eeg/sub-01_task-emotion_events.tsv")
    (tmp_path / "alias").symlink_to(root)
    assert open_reader("bids", tmp_path / "alias").read_subject("01", modalities=[]).trials


def test_infinite_self_report_is_named(bids_set, tmp_path):
    """a PANAS score of inf was only "outside 1..5" (a warning) and went on as inf"""
    root = _copy(bids_set, tmp_path)
    beh = root / "sub-01/beh/sub-01_task-emotion_beh.tsv"
    lines = beh.read_text().splitlines()
    cells = lines[1].split("\t")
    cells[1] = "inf"
    beh.write_text("\n".join([lines[0], "\t".join(cells), *lines[2:]]) + "\n")
    with pytest.raises(DataError) as err:
        open_reader("bids", root).read_subject("01", modalities=[])
    assert str(err.value) == (f"subject 01, file {beh}: row 2 (trial {cells[0]}): a label value "
                              f"is infinite")
