"""AMIGOS preprocessed release: the reader against the files read the way TorchEEG indexes them,
the missing data the release has, both label rules by hand, the faults check-data reports, the
generator."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from helo.cli import main
from helo.data import DataError, open_reader
from helo.data.amigos import DIMENSIONS, EEG_CHANNELS, EMOTIONS, ITEMS
from helo.data.labels import to_distributions
from helo.synth import generate, manifest
from helo.synth.amigos import generate_amigos


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("amigos") / "tiny"
    truth = generate_amigos(root, seed=4, preset="tiny", progress=False)
    return root, truth


def _file(root: Path, sid: str) -> Path:
    return root / f"Data_Preprocessed_{sid}" / f"Data_Preprocessed_{sid}.mat"


def _edit(src: Path, dst: Path, sid: str, change) -> Path:
    """A copy of the tiny set whose ``sid`` file's variables ``change(mat)`` edited in place."""
    shutil.copytree(src, dst)
    m = scipy.io.loadmat(str(_file(dst, sid)))
    mat = {k: v for k, v in m.items() if not k.startswith("__")}
    change(mat)
    scipy.io.savemat(str(_file(dst, sid)), mat)
    return dst


def test_reader_reads_what_the_files_hold(tiny):
    root, truth = tiny
    reader = open_reader("amigos", root)
    assert reader.subjects() == ["P01", "P02", "P08"]
    for sid in reader.subjects():
        ref = scipy.io.loadmat(str(_file(root, sid)))  # TorchEEG: data['joined_data'][0][k]
        subj = reader.read_subject(sid)
        videos = [v for v, t in truth["subjects"][sid]["videos"].items() if t is not None]
        assert [t.trial_id for t in subj.trials] == videos
        for trial in subj.trials:
            k = trial.order
            assert str(ref["VideoIDs"][0, k][0]) == trial.trial_id
            joined = ref["joined_data"][0, k]
            assert joined.shape[1] == 17
            assert trial.signals["eeg"].channels == EEG_CHANNELS
            np.testing.assert_array_equal(trial.signals["eeg"].data, joined[:, :14])
            np.testing.assert_array_equal(trial.signals["ecg"].data[:, 0], joined[:, 14])
            np.testing.assert_array_equal(trial.signals["gsr"].data[:, 0], joined[:, 16])
            np.testing.assert_array_equal(trial.signals["eda"].data[:, 0], joined[:, 16])
            assert {s.fs for s in trial.signals.values()} == {128.0}
            written = truth["subjects"][sid]["videos"][trial.trial_id]
            assert trial.signals["eeg"].data.shape[0] == written["n_samples"]
            lab = ref["labels_selfassessment"][0, k][0]
            assert trial.panas_items == ITEMS
            np.testing.assert_array_equal(trial.panas[:5], lab[:5])
            assert trial.category == ("long" if trial.trial_id == "N1" else "short")
    assert [t.trial_id for t in reader.read_subject("P08").trials] == ["4", "5"]


def test_the_release_missing_data(tiny):
    root, _ = tiny
    reader = open_reader("amigos", root)
    p01 = reader.read_subject("P01", modalities=[])
    assert np.isnan(p01.trials[0].panas[5:]).all() and np.isfinite(p01.trials[0].panas[:5]).all()
    f1, f2, f8 = (_file(root, s) for s in ("P01", "P02", "P08"))
    assert p01.warnings == [f"{f1}: video 4: no basic emotion ticked: the seven emotion values "
                            f"are stored as NaN (no basic-emotion label)"]
    p02 = reader.read_subject("P02", modalities=["eeg"])
    assert np.isnan(p02.trials[1].signals["eeg"].data[64:192]).all()
    assert not np.isnan(p02.trials[1].signals["eeg"].data[192:]).any()
    assert p02.warnings == [f"{f2}: video 5: 128 of {p02.trials[1].signals['eeg'].data.shape[0]} "
                            f"samples hold NaN (in AF3, F7, F3, FC5, T7...)"]
    assert reader.read_subject("P08").warnings == [
        f"{f8}: video N1: neither a recording nor a self-assessment (the video was not "
        f"watched); left out"]
    assert all(p.severity == "warning" for p in reader.check())


def test_label_rules_by_hand(tiny):
    """circumplex on 1..9 (arousal is the first column, valence the second) and the basic
    emotions as scores: ticks / number ticked; the video with none ticked is left out"""
    root, truth = tiny
    reader = open_reader("amigos", root)
    rows, where = [], []
    for sid in reader.subjects():
        for t in reader.read_subject(sid, modalities=[]).trials:
            rows.append(t.panas)
            where.append((sid, t.trial_id))
    rows = np.vstack(rows)
    D, names, _, skipped, _ = to_distributions(rows, ITEMS, kind="circumplex",
                                               rule={"scale": [1, 9], "kappa": 3.0})
    assert not skipped and names[0] == "pleasure"
    for row, (a, v) in zip(D, rows[:, :2]):
        x, y = (v - 5) / 4, (a - 5) / 4
        rho, theta = min(1.0, float(np.hypot(x, y))), float(np.arctan2(y, x))
        w = np.exp(3 * rho * np.cos(theta - np.deg2rad(45 * np.arange(8))))
        np.testing.assert_allclose(row, w / w.sum(), rtol=1e-12)
    S, names, kind, skipped, warns = to_distributions(rows, ITEMS, kind="scores",
                                                      items=EMOTIONS)
    assert names == EMOTIONS and kind == "scores" and warns
    assert skipped == [(where.index(("P01", "4")), "label missing (NaN) for items "
                        f"{EMOTIONS}")]
    for i, (sid, vid) in enumerate(where):
        if (sid, vid) == ("P01", "4"):
            continue
        ticks = np.array([truth["subjects"][sid]["videos"][vid]["labels"][e] for e in EMOTIONS])
        np.testing.assert_allclose(S[i], ticks / ticks.sum(), rtol=1e-12)


def test_missing_subject_file_and_flat_layout(tiny, tmp_path):
    root = tmp_path / "r"
    shutil.copytree(tiny[0], root)
    _file(root, "P02").unlink()
    _file(root, "P08").rename(root / "Data_Preprocessed_P08.mat")  # a file straight in the root
    (root / "Data_Preprocessed_P08").rmdir()
    reader = open_reader("amigos", root)
    assert reader.subjects() == ["P01", "P08"]
    errors = [p for p in reader.check() if p.severity == "error"]
    assert [(p.subject, p.path, p.message) for p in errors] == [
        ("P02", str(root / "Data_Preprocessed_P02"), "the participant's folder has no "
         "Data_Preprocessed_P02.mat: the subject file is missing")]
    assert len(reader.read_subject("P08").trials) == 2
    with pytest.raises(DataError, match="missing participant file Data_Preprocessed_P02.mat"):
        reader.read_subject("P02")


def test_truncated_array_and_labels_out_of_range(tiny, tmp_path):
    def damage(mat):
        mat["joined_data"][0, 1] = mat["joined_data"][0, 1][:, :16]  # GSR column lost
        lab = mat["labels_selfassessment"][0, 2].copy()
        lab[0, 1], lab[0, 7] = 10.0, 2.0  # valence 10, happiness 2
        mat["labels_selfassessment"][0, 2] = lab
    root = _edit(tiny[0], tmp_path / "bad", "P02", damage)
    reader = open_reader("amigos", root)
    errors = [(p.subject, p.path, p.message) for p in reader.check() if p.severity == "error"]
    n = tiny[1]["subjects"]["P02"]["videos"]["5"]["n_samples"]
    path = str(_file(root, "P02"))
    assert errors == [
        ("P02", path, f"joined_data{{2}} (video 5) has shape ({n}, 16), expected (samples, 17): "
                      f"a column is missing or the array is truncated"),
        ("P02", path, "video N1: self-assessment out of range (valence = 10, happiness = 2; "
                      "ratings are 1..9, emotions 0 or 1)")]
    with pytest.raises(DataError) as info:
        reader.read_subject("P02", modalities=[])
    assert str(info.value).startswith(f"subject P02, file {path}: joined_data{{2}} (video 5)")
    assert "(and 1 more problem(s); run check() for all)" in str(info.value)


def test_unreadable_and_inconsistent_files(tiny, tmp_path, capsys):
    root = tmp_path / "cut"
    shutil.copytree(tiny[0], root)
    data = _file(root, "P01").read_bytes()
    _file(root, "P01").write_bytes(data[:1000])
    root2 = _edit(tiny[0], tmp_path / "cells", "P08",
                  lambda mat: mat.__setitem__("VideoIDs", mat["VideoIDs"][:, :2]))
    (p,) = [p for p in open_reader("amigos", root).check() if p.severity == "error"]
    assert p.subject == "P01" and p.path == str(_file(root, "P01"))
    assert "truncated or corrupt" in p.message
    (p,) = [p for p in open_reader("amigos", root2).check() if p.severity == "error"]
    assert p.message == ("joined_data, labels_selfassessment and VideoIDs hold 3, 3 and 2 cells: "
                         "one per video each")
    assert main(["check-data", str(root2), "--layout", "amigos"]) == 1
    assert "ERROR | subject P08" in capsys.readouterr().out
    assert main(["check-data", str(tiny[0]), "--layout", "amigos"]) == 0
    assert "3 subject(s)" in capsys.readouterr().out


def test_recording_nan_throughout_is_left_out(tiny, tmp_path):
    def blank(mat):
        mat["joined_data"][0, 0] = np.full_like(mat["joined_data"][0, 0], np.nan)
    root = _edit(tiny[0], tmp_path / "nan", "P08", blank)
    subj = open_reader("amigos", root).read_subject("P08")
    assert [t.trial_id for t in subj.trials] == ["5"]
    assert f"{_file(root, 'P08')}: video 4: the recording is NaN throughout; left out" in \
        subj.warnings


def test_generator_is_seeded_and_byte_deterministic(tmp_path):
    a = generate("amigos", tmp_path / "a", seed=1, preset="tiny", progress=False)
    generate("amigos", tmp_path / "b", seed=1, preset="tiny", progress=False)
    generate("amigos", tmp_path / "c", seed=2, preset="tiny", progress=False)
    ma, mb, mc = (manifest(tmp_path / x) for x in "abc")
    assert ma == mb and sorted(ma) == sorted(mc) and ma != mc
    assert a["subjects"]["P08"]["videos"]["N1"] is None
    dims = [a["subjects"]["P01"]["videos"]["5"]["labels"][d] for d in DIMENSIONS]
    assert all(1 <= v <= 9 for v in dims)
    with pytest.raises(ValueError, match="n_short must be 0..16"):
        generate_amigos(tmp_path / "d", preset="tiny", n_short=17, progress=False)
