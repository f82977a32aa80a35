"""SEED / SEED-IV readers (helo.data.seed) on the tiny synthetic releases: what a subject gives,
checked against the files read back with SciPy and the generator's ground truth; the labels
against the release readmes' counts; the faults check-data names."""
import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from helo.data import DataError, open_reader
from helo.data.labels import smooth_labels, to_distributions
from helo.data.seed import SEED_CHANNELS, SEED_CHANNELS_RELEASE, SEED_IV_LABELS, SEED_LABELS
from helo.data.store import labels_frame
from helo.features import block_names
from helo.features import eeg as eeg_features
from helo.features.windows import grid_ends
from helo.stages.extract import subject_frame


def _truth(root: Path) -> dict:
    return json.loads((root / "_ground_truth.json").read_text())


def _errors(problems):
    return [p for p in problems if p.severity == "error"]


def test_published_labels_have_the_readmes_class_counts():
    # SEED: 15 clips, 5 per class; SEED-IV: 24 clips a session, 6 per class (release readmes)
    assert Counter(SEED_LABELS) == {1: 5, 0: 5, -1: 5}
    for session, labels in SEED_IV_LABELS.items():
        assert Counter(labels) == {0: 6, 1: 6, 2: 6, 3: 6}, session
    assert len(SEED_CHANNELS) == 62 == len(set(SEED_CHANNELS))
    assert SEED_CHANNELS[:3] == ["Fp1", "Fpz", "Fp2"] and SEED_CHANNELS[-1] == "CB2"
    assert SEED_CHANNELS[SEED_CHANNELS_RELEASE.index("FCZ")] == "FCz"


def test_seed_raw_subject_is_the_files_content(tiny_synth):
    root = tiny_synth("seed")
    reader = open_reader("seed", root)
    assert reader.subjects() == ["1", "2", "3"]
    assert not _errors(reader.check())
    sub = reader.read_subject("2")
    truth = _truth(root)["subjects"]["2"]
    assert [t.trial_id for t in sub.trials] == ["s1-t1", "s1-t2", "s1-t3", "s2-t1", "s2-t2",
                                                "s2-t3"]
    # session 1 is the earlier date; clip 3 of label.mat is -1 (negative), clip 2 neutral
    assert sub.trials[0].extra["date"] < sub.trials[3].extra["date"]
    assert [t.category for t in sub.trials[:3]] == ["positive", "neutral", "negative"]
    t = sub.trial("s2-t3")
    assert t.panas_items == ["negative", "neutral", "positive"]
    np.testing.assert_array_equal(t.panas, [1.0, 0.0, 0.0])
    assert t.order == 2 and t.extra["label"] == -1
    mat = scipy.io.loadmat(root / truth["files"]["2"])
    var = f"{truth['prefix']}_eeg3"
    assert t.extra["variable"] == var
    sig = t.signals["eeg"]
    assert sig.fs == 200.0 and sig.channels == SEED_CHANNELS
    np.testing.assert_array_equal(sig.data, mat[var].T.astype(np.float64))
    assert sig.data.shape == (4 * 200, 62)  # the tiny preset's clip 3 lasts 4 s
    # labels only: no arrays read, the same trials
    light = reader.read_subject("2", modalities=[])
    assert [x.trial_id for x in light.trials] == [x.trial_id for x in sub.trials]
    assert not light.trials[0].signals


def test_seed_features_block_is_de_lds_in_helos_column_order(tiny_synth):
    root = tiny_synth("seed-features")
    reader = open_reader("seed-features", root)
    assert not _errors(reader.check())
    sub = reader.read_subject("1")
    truth = _truth(root)["subjects"]["1"]
    de = scipy.io.loadmat(root / truth["files"]["1"])["de_LDS2"]  # (62, windows, 5)
    block = sub.trial("s1-t2").features["eeg"]
    assert block.values.shape == (de.shape[1], 310) == (5, 310)
    names = block_names("eeg", block)
    assert names[:2] == ["eeg_Fp1_delta", "eeg_Fp1_theta"] and names[-1] == "eeg_CB2_gamma"
    # column eeg_<ch>_<band> of window w is de_LDS[ch, w, band]
    col = names.index("eeg_POz_alpha")
    np.testing.assert_array_equal(block.values[:, col],
                                  de[SEED_CHANNELS_RELEASE.index("POZ"), :, 2])
    # one row per released 1 s window: with step 1 s and the longest window 1 s, row w ends
    # at w + 1 s, the end of SEED's window w
    df = subject_frame(sub, "eeg", {"step_s": 1.0, "longest_window_s": 1.0})
    rows = df[df["trial"] == "s1-t2"]
    assert rows["t_end"].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]


def test_seed_iv_sessions_are_folders_with_the_readme_labels(tiny_synth):
    root = tiny_synth("seed-iv")
    reader = open_reader("seed-iv", root)
    assert not _errors(reader.check())
    sub = reader.read_subject("3", modalities=[])
    # session 2 clips 1..4 are fear, sad, happy, neutral in the readme's session-2 list
    cats = {t.trial_id: t.category for t in sub.trials}
    assert [cats[f"s2-t{k}"] for k in (1, 2, 3, 4)] == ["fear", "sad", "happy", "neutral"]
    assert [cats[f"s1-t{k}"] for k in (1, 2, 3, 4)] == ["sad", "fear", "happy", "neutral"]
    truth = {t["trial_id"]: t["distribution"] for t in _truth(root)["subjects"]["3"]["trials"]}
    for t in sub.trials:
        np.testing.assert_array_equal(t.panas, truth[t.trial_id])
    feats = open_reader("seed-iv-features", tiny_synth("seed-iv-features"))
    block = feats.read_subject("3").trial("s2-t3").features["eeg"]
    assert block.values.shape == (2, 310)  # 8 s clip, 4 s windows


def test_one_hot_labels_as_distributions_and_smoothed(tiny_synth):
    sub = open_reader("seed", tiny_synth("seed")).read_subject("1", modalities=[])
    lab = labels_frame(sub)
    cols = [c for c in lab.columns if c.startswith("panas_")]
    D, names, kind, skipped, _ = to_distributions(lab[cols].to_numpy(float),
                                                  [c[6:] for c in cols], kind="auto")
    assert kind == "distribution" and names == ["negative", "neutral", "positive"]
    assert not skipped
    np.testing.assert_array_equal(D[:3], [[0, 0, 1], [0, 1, 0], [1, 0, 0]])
    # epsilon 0.3 over 3 labels: 0.7 * 1 + 0.1 = 0.8 and 0.1 elsewhere
    np.testing.assert_allclose(smooth_labels(D[:1], 0.3), [[0.1, 0.1, 0.8]])
    assert smooth_labels(D, 0.0) is D
    with pytest.raises(ValueError, match="label smoothing"):
        smooth_labels(D, 1.0)


@pytest.fixture
def seed_copy(tiny_synth, tmp_path):
    dst = tmp_path / "SEED"
    shutil.copytree(tiny_synth("seed"), dst)
    return dst / "Preprocessed_EEG"


def _only_error(problems, *words):
    errs = _errors(problems)
    hits = [p for p in errs if all(w in str(p) for w in words)]
    assert hits, f"no error with {words}: {[str(p) for p in errs]}"
    return hits[0]


def test_check_names_a_missing_session_file(seed_copy):
    (victim,) = sorted(seed_copy.glob("2_*.mat"))[:1]
    victim.unlink()
    p = _only_error(open_reader("seed", seed_copy.parent).check(), "missing session file")
    assert p.subject == "2" and "1 session file(s)" in p.message and "have 2" in p.message


def test_check_and_read_name_a_truncated_file(seed_copy):
    victim = sorted(seed_copy.glob("3_*.mat"))[1]
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 2])
    reader = open_reader("seed", seed_copy.parent)
    p = _only_error(reader.check(), "cannot read the MATLAB file")
    assert p.subject == "3" and p.path == str(victim)
    with pytest.raises(DataError) as err:
        reader.read_subject("3")
    assert "subject 3" in str(err.value) and victim.name in str(err.value)


def test_check_names_a_truncated_array_and_a_wrong_channel_count(seed_copy, tiny_synth):
    truth = _truth(tiny_synth("seed"))["subjects"]
    short = seed_copy.parent / truth["1"]["files"]["2"]
    mat = {k: v for k, v in scipy.io.loadmat(short).items() if not k.startswith("__")}
    name = f"{truth['1']['prefix']}_eeg2"
    mat[name] = mat[name][:, : 2 * 200]  # 2 s of the clip's 5 s
    scipy.io.savemat(short, mat)
    wrong = seed_copy.parent / truth["3"]["files"]["1"]
    mat = {k: v for k, v in scipy.io.loadmat(wrong).items() if not k.startswith("__")}
    name3 = f"{truth['3']['prefix']}_eeg1"
    mat[name3] = mat[name3][:61]
    scipy.io.savemat(wrong, mat)
    problems = open_reader("seed", seed_copy.parent).check()
    p = _only_error(problems, "truncated array")
    assert p.subject == "1" and p.path == str(short)
    assert "clip 2 has 400 samples, the same clip 1000" in p.message
    p = _only_error(problems, name3, "(61, 800)")
    assert p.subject == "3" and p.path == str(wrong) and "62 channels" in p.message


def test_labels_out_of_range_and_a_missing_label_file(seed_copy):
    scipy.io.savemat(seed_copy / "label.mat",
                     {"label": np.array([[1, 0, 2, -1, 0, 1, -1, 0, 1, 1, 0, -1, 0, 1, -1]])})
    reader = open_reader("seed", seed_copy.parent)
    p = _only_error(reader.check(), "labels out of range", "clip(s) [3]")
    assert p.path == str(seed_copy / "label.mat")
    with pytest.raises(DataError, match="labels out of range"):
        reader.read_subject("1")
    (seed_copy / "label.mat").unlink()
    reader = open_reader("seed", seed_copy.parent)
    probs = reader.check()
    assert not _errors(probs)
    assert any("label.mat is missing" in p.message and p.severity == "warning" for p in probs)
    assert reader.read_subject("1", modalities=[]).trials[2].category == "negative"


def test_seed_iv_clip_without_label_and_missing_session(tiny_synth, tmp_path):
    root = tmp_path / "SEED_IV"
    shutil.copytree(tiny_synth("seed-iv"), root)
    truth = _truth(root)["subjects"]
    path = root / truth["2"]["files"]["1"]
    mat = {k: v for k, v in scipy.io.loadmat(path).items() if not k.startswith("__")}
    mat[f"{truth['2']['prefix']}_eeg25"] = mat[f"{truth['2']['prefix']}_eeg1"]
    scipy.io.savemat(path, mat)
    (root / truth["1"]["files"]["2"]).unlink()
    problems = open_reader("seed-iv", root).check()
    p = _only_error(problems, "clip 25 has no label")
    assert p.subject == "2" and p.path == str(path)
    p = _only_error(problems, "missing session file", "session 2")
    assert p.subject == "1"


def test_check_data_cli_exit_code(seed_copy, capsys):
    from helo.cli import main
    assert main(["check-data", str(seed_copy.parent), "--layout", "seed"]) == 0
    (sorted(seed_copy.glob("1_*.mat"))[0]).unlink()
    assert main(["check-data", str(seed_copy.parent), "--layout", "seed"]) == 1
    out = capsys.readouterr().out
    assert "ERROR | subject 1" in out and "missing session file" in out
    assert main(["check-data", str(seed_copy.parent), "--layout", "seed-iv"]) == 1
    assert "looks like seed" in capsys.readouterr().out


def test_synthetic_release_features_are_seeds_de_of_the_synthetic_eeg(tiny_synth):
    """The feature files and the raw files of one seed hold the same EEG: helo's ``spectral``
    DE (SEED's definition, 256-point FFT on 1 s windows) of the raw clip, averaged over 5
    windows (3 at the ends), is the file's de_movingAve"""
    sig = open_reader("seed", tiny_synth("seed")).read_subject("1").trial("s2-t2").signals["eeg"]
    X, _ = eeg_features.compute(sig.data, sig.fs, grid_ends(sig.duration, 1.0, 1.0),
                                {"window_s": 1.0, "bands": "paper", "method": "spectral",
                                 "nfft": 256}, channels=sig.channels)
    root = tiny_synth("seed-features")
    path = root / _truth(root)["subjects"]["1"]["files"]["2"]
    ma = scipy.io.loadmat(path)["de_movingAve2"]  # (62, 5 windows, 5 bands)
    want = ma.transpose(1, 0, 2).reshape(5, 310)
    np.testing.assert_allclose(X[:3].mean(axis=0), want[0], rtol=1e-6)
    np.testing.assert_allclose(X[:].mean(axis=0), want[2], rtol=1e-6)
    np.testing.assert_allclose(X[2:].mean(axis=0), want[4], rtol=1e-6)
