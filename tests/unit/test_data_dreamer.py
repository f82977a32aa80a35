"""DREAMER: the reader against the file read the way TorchEEG and LibEER index it, the labels
against the circumplex rule computed by hand, the faults check-data reports, the generator."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from helo.cli import main
from helo.data import DataError, open_reader
from helo.data.dreamer import CLIP_EMOTIONS, EEG_CHANNELS, ITEMS
from helo.data.labels import to_distributions
from helo.synth import generate, manifest
from helo.synth.dreamer import generate_dreamer


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("dreamer") / "tiny"
    truth = generate_dreamer(root, seed=5, preset="tiny", progress=False)
    return root, truth


def _record_view(root: Path):
    """``DREAMER`` loaded with SciPy's defaults, indexed as TorchEEG's and LibEER's readers do."""
    return scipy.io.loadmat(str(root / "DREAMER.mat"))["DREAMER"][0, 0]


def _edit(src: Path, dst: Path, change) -> Path:
    """A copy of the tiny set whose ``DREAMER`` struct ``change(struct)`` edited in place."""
    shutil.copytree(src, dst)
    m = scipy.io.loadmat(str(dst / "DREAMER.mat"), squeeze_me=False, struct_as_record=False)
    top = m["DREAMER"][0, 0]
    change(top)
    scipy.io.savemat(str(dst / "DREAMER.mat"), {"DREAMER": top})
    return dst


def _participant(top, s: int):
    return top.Data[0, s - 1][0, 0]


def test_reader_reads_what_the_file_holds(tiny):
    root, truth = tiny
    reader = open_reader("dreamer", root)
    assert reader.subjects() == ["1", "2", "3"]
    ref = _record_view(root)
    assert float(ref["EEG_SamplingRate"][0, 0]) == 128 and float(ref["ECG_SamplingRate"][0, 0]) \
        == 256
    for s in (1, 3):
        subj = reader.read_subject(str(s))
        assert [t.trial_id for t in subj.trials] == ["1", "2", "3"] and not subj.warnings
        assert [t.category for t in subj.trials] == CLIP_EMOTIONS[:3] == ["calmness", "surprise",
                                                                          "amusement"]
        part = ref["Data"][0, s - 1]
        for k, trial in enumerate(subj.trials):
            eeg = part["EEG"][0, 0]["stimuli"][0, 0][k, 0]
            ecg = part["ECG"][0, 0]["stimuli"][0, 0][k, 0]
            assert trial.signals["eeg"].fs == 128.0 and trial.signals["ecg"].fs == 256.0
            assert trial.signals["eeg"].channels == EEG_CHANNELS
            np.testing.assert_array_equal(trial.signals["eeg"].data, eeg)
            np.testing.assert_array_equal(trial.signals["ecg"].data[:, 0], ecg[:, 0])
            assert trial.signals["eeg"].data.shape == (truth["subjects"][str(s)]["n_eeg"][k], 14)
            assert trial.signals["ecg"].data.shape == (2 * truth["subjects"][str(s)]["n_eeg"][k],
                                                       1)
            want = [part[f"Score{i.capitalize()}"][0, 0][k, 0] for i in ITEMS]
            assert trial.panas_items == ITEMS and trial.panas.tolist() == want
            assert want == [truth["subjects"][str(s)]["scores"][i][k] for i in ITEMS]
            # the clip lasts as long in both signals: samples / rate
            assert trial.signals["eeg"].duration == pytest.approx(trial.signals["ecg"].duration)
    labels_only = reader.read_subject("2", modalities=[])
    assert all(not t.signals for t in labels_only.trials) and len(labels_only.trials) == 3
    assert reader.check() == []
    assert reader.source_files("2") == [root / "DREAMER.mat"]


def test_labels_are_russells_circumplex_by_hand(tiny):
    """valence 5 and arousal 1 on 1..5 are the point (1, -1): theta -45 deg (contentment),
    radius 1; every rating the reader gives becomes exp(3 rho cos(theta - k 45 deg)) normalised"""
    root, _ = tiny
    subj = open_reader("dreamer", root).read_subject("1", modalities=[])
    rows = np.vstack([t.panas for t in subj.trials] + [[5.0, 1.0, 3.0]])
    D, names, kind, skipped, _ = to_distributions(rows, ITEMS, kind="circumplex",
                                                  rule={"scale": [1, 5], "kappa": 3.0})
    assert kind == "circumplex" and not skipped
    assert names == ["pleasure", "excitement", "arousal", "distress", "misery", "depression",
                     "sleepiness", "contentment"]
    last = np.exp(3 * np.cos(np.deg2rad(np.array([45, 90, 135, 180, 225, 270, 315, 0]))))
    np.testing.assert_allclose(D[-1], last / last.sum(), rtol=1e-12)
    assert D[-1].argmax() == names.index("contentment")
    for row, (v, a, _) in zip(D, rows):
        x, y = (v - 3) / 2, (a - 3) / 2
        rho, theta = min(1.0, float(np.hypot(x, y))), float(np.arctan2(y, x))
        w = np.array([np.exp(3 * rho * np.cos(theta - np.deg2rad(45 * k))) for k in range(8)])
        np.testing.assert_allclose(row, w / w.sum(), rtol=1e-12)


def test_missing_file(tmp_path):
    problems = open_reader("dreamer", tmp_path).check()
    assert len(problems) == 1 and problems[0].path == str(tmp_path / "DREAMER.mat")
    assert "no DREAMER.mat" in problems[0].message
    assert open_reader("dreamer", tmp_path).subjects() == []


def test_missing_participant(tiny, tmp_path):
    def drop_last(top):
        top.Data = top.Data[:, :2]
    root = _edit(tiny[0], tmp_path / "bad", drop_last)
    reader = open_reader("dreamer", root)
    assert reader.subjects() == ["1", "2"]
    (p,) = reader.check()
    assert p.severity == "error" and p.path == str(root / "DREAMER.mat")
    assert p.message == ("noOfSubjects is 3 but Data holds 2 participant(s): a participant is "
                         "missing")

    def empty_cell(top):
        top.Data[0, 1] = np.zeros((0, 0))
    root = _edit(tiny[0], tmp_path / "empty", empty_cell)
    (p,) = open_reader("dreamer", root).check()
    assert (p.subject, p.message) == ("2", "Data{2} is empty: the participant's recordings are "
                                           "missing")


def test_truncated_and_malformed_arrays(tiny, tmp_path):
    def damage(top):
        eeg = _participant(top, 2).EEG[0, 0].stimuli
        eeg[1, 0] = eeg[1, 0][: eeg[1, 0].shape[0] // 2]  # clip 2 cut in half
        ecg = _participant(top, 3).ECG[0, 0].stimuli
        ecg[0, 0] = np.zeros((0, 0))  # clip 1's ECG empty
        eeg3 = _participant(top, 3).EEG[0, 0].stimuli
        eeg3[2, 0] = eeg3[2, 0][:, :13]  # an electrode column lost
    root = _edit(tiny[0], tmp_path / "bad", damage)
    reader = open_reader("dreamer", root)
    errors = {(p.subject, p.message) for p in reader.check() if p.severity == "error"}
    n = tiny[1]["subjects"]["2"]["n_eeg"][1]
    assert ("2", f"clip 2: the EEG stimulus lasts {n // 2 / 128:.2f} s but the ECG "
                 f"{2 * n / 256:.2f} s (tolerance 1 s): one of the arrays is truncated") in errors
    assert ("3", "Data{3}.ECG.stimuli{1} (clip 1) is empty: the recording is missing") in errors
    n3 = tiny[1]["subjects"]["3"]["n_eeg"][2]
    assert ("3", f"Data{{3}}.EEG.stimuli{{3}} (clip 3) has shape ({n3}, 13), expected "
                 f"(samples, 14): a column is missing or the array is truncated") in errors
    with pytest.raises(DataError) as info:
        reader.read_subject("2", modalities=["eeg"])
    assert str(info.value).startswith(f"subject 2, file {root / 'DREAMER.mat'}: clip 2: ")
    assert len(reader.read_subject("1").trials) == 3  # the others are fine


def test_scores_out_of_range_and_missing(tiny, tmp_path):
    def scores(top):
        _participant(top, 1).ScoreValence[0, 0] = 7
        _participant(top, 2).ScoreArousal[2, 0] = np.nan
    root = _edit(tiny[0], tmp_path / "bad", scores)
    reader = open_reader("dreamer", root)
    problems = reader.check()
    assert [(p.severity, p.subject, p.message) for p in problems] == [
        ("error", "1", "ScoreValence outside 1..5: clip 1 = 7"),
        ("warning", "2", "ScoreArousal of clip 3 is missing (NaN): the clip has no label")]
    with pytest.raises(DataError, match="ScoreValence outside 1..5: clip 1 = 7"):
        reader.read_subject("1", modalities=[])
    subj = reader.read_subject("2", modalities=[])
    assert np.isnan(subj.trials[2].panas[1]) and subj.warnings


def test_unreadable_files(tiny, tmp_path):
    bad = tmp_path / "cut"
    bad.mkdir()
    data = (tiny[0] / "DREAMER.mat").read_bytes()
    (bad / "DREAMER.mat").write_bytes(data[: len(data) // 3])
    (p,) = open_reader("dreamer", bad).check()
    assert p.path == str(bad / "DREAMER.mat") and "truncated or corrupt" in p.message
    h5 = tmp_path / "v73"
    h5.mkdir()
    import h5py
    with h5py.File(h5 / "DREAMER.mat", "w", userblock_size=512) as fh:
        fh["DREAMER"] = np.zeros(3)
    with open(h5 / "DREAMER.mat", "r+b") as fh:  # MATLAB's header: version 0x0200, 'IM'
        fh.write(b"MATLAB 7.3 MAT-file".ljust(124, b" ") + b"\x00\x02IM")
    (p,) = open_reader("dreamer", h5).check()
    assert "MATLAB v7.3 (HDF5)" in p.message and "-v7" in p.message


def test_check_data_cli(tiny, tmp_path, capsys):
    assert main(["check-data", str(tiny[0]), "--layout", "dreamer"]) == 0
    assert "3 subject(s)" in capsys.readouterr().out
    root = _edit(tiny[0], tmp_path / "bad", lambda top: _participant(top, 3).ScoreDominance
                 .__setitem__((1, 0), 0))
    assert main(["check-data", str(root), "--layout", "dreamer"]) == 1
    out = capsys.readouterr().out
    assert f"ERROR | subject 3 | {root / 'DREAMER.mat'}: ScoreDominance outside 1..5: clip 2 = 0" \
        in out


def test_generator_is_seeded_and_byte_deterministic(tmp_path):
    a = generate("dreamer", tmp_path / "a", seed=1, preset="tiny", progress=False)
    generate("dreamer", tmp_path / "b", seed=1, preset="tiny", progress=False)
    generate("dreamer", tmp_path / "c", seed=2, preset="tiny", progress=False)
    ma, mb, mc = (manifest(tmp_path / x) for x in "abc")
    assert ma == mb and ma["DREAMER.mat"]["sha256"] != mc["DREAMER.mat"]["sha256"]
    assert a["config"]["n_subjects"] == 3 and len(a["clip_seconds"]) == 3
    assert all(9.0 <= s <= 11.0 for s in a["clip_seconds"])
    with pytest.raises(ValueError, match="n_clips must be 1..18"):
        generate_dreamer(tmp_path / "d", preset="tiny", n_clips=19, progress=False)
