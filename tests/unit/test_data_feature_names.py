"""Feature names have one source, the feature modules: what helo computes from recordings, what
the DMER features release holds and what a generic table holds get the same names, so a model
trained on one layout is applied to another."""
import shutil

import numpy as np
import pandas as pd
import pytest
import scipy.io

from helo.data import store as S
from helo.data.assemble import assemble, read_modality
from helo.data.base import FeatureBlock, Signal, Trial
from helo.data.dmer import EEG_CHANNELS, DmerFeaturesReader
from helo.features import MODALITIES, block_names, feature_names, is_feature_name, trial_features
from helo.stages.extract import run_extract

FP = {"step_s": 1.0, "longest_window_s": 5.0}
FEATURES = {"eeg": {"window_s": 1.0}, "gsr": {"window_s": 5.0}, "ppg": {"window_s": 5.0},
            "video": {"window_s": 1.0, "face_size": 32, "detect_every": 10}}
DMER = ["eeg", "gsr", "ppg", "video"]
PARAMS = {"data": {"name": "t"}, "evaluate": {"seed": 0},
          "features": {"common": FP, **FEATURES},
          "model": {"helo": {"epochs": 1, "d": 16, "tokens": 2, "ot_iter": 3, "device": "cpu"}}}


# --------------------------------------------------------------------- name function == compute

def _signal(modality, rng, seconds=12.0):
    """a plausible signal of each modality (fs, data, channels)"""
    if modality == "eeg":
        return 128.0, rng.normal(0, 10, (int(128 * seconds), 3)), ["Fz", "Cz", "O1"]
    if modality == "ecg":  # a spike every 0.8 s on noise: R-peaks to find
        fs = 100.0
        x = rng.normal(0, 0.02, int(fs * seconds))
        x[::80] += 1.0
        return fs, x, ["ECG"]
    if modality == "acc":
        return 32.0, rng.normal(0, 1, (int(32 * seconds), 3)), ["x", "y", "z"]
    fs = {"gsr": 4.0, "ppg": 100.0, "eda": 20.0, "emg": 200.0}[modality]
    t = np.arange(int(fs * seconds)) / fs
    return fs, np.sin(2 * np.pi * 0.3 * t) + rng.normal(0, 0.1, t.size) + 2.0, [modality.upper()]


CASES = [("eeg", {}), ("eeg", {"bands": "official"}), ("eeg", {"bands": [[1, 4], [4, 8], [8, 13]]}),
         ("eeg", {"bands": {"low": [1, 8], "high": [13, 40]}, "method": "spectral"}),
         ("video", {"points": 8}), ("video", {"points": 4})]
CASES += [(m, {}) for m in MODALITIES if m not in ("eeg", "video")]
CASES += [("ppg", {"cardiac": True}), ("ecg", {"correct_artifacts": False})]


@pytest.mark.parametrize("modality,params", CASES)
def test_name_function_gives_the_names_compute_returns(modality, params):
    rng = np.random.default_rng(0)
    params = {**FP, **params}
    if modality == "video":  # in-memory frames, no face detection: the LBP-TOP path itself
        params.update(crop=False, longest_window_s=1.0, window_s=1.0)
        trial = Trial("0", extra={"frames": rng.integers(0, 256, (45, 12, 12), dtype=np.uint8),
                                  "fps": 30.0})
        channels = None
    else:
        fs, x, channels = _signal(modality, rng)
        trial = Trial("0", signals={modality: Signal(x, fs, channels)})
    X, names, _ = trial_features(trial, modality, params)
    assert X.shape[1] == len(names) and X.shape[0] > 0
    want = feature_names(modality, params, channels=channels if modality == "eeg" else None)
    assert names == want
    assert len(set(names)) == len(names)
    assert all(is_feature_name(modality, n, params) for n in names)
    if modality not in ("eeg", "video") and not params.get("cardiac"):
        assert len(names) == MODALITIES[modality].dim  # fixed names: the registry's dimension
    if params.get("cardiac"):  # + the pulse-rate features
        assert len(names) == MODALITIES[modality].dim + 5 and names[-1] == "ppg_prv_rmssd"
    if modality == "video":
        assert len(names) == 3 * 2 ** params["points"]


def test_eeg_names_need_channels_and_video_names_follow_points():
    with pytest.raises(ValueError, match="channels"):
        feature_names("eeg", {})
    assert len(feature_names("eeg", {}, channels=EEG_CHANNELS)) == 90
    assert len(feature_names("video", {"points": 4})) == 48
    assert not is_feature_name("eeg", "eeg_Fz_sigma") and is_feature_name("eeg", "eeg_Fz_alpha")
    assert not is_feature_name("hrv", "hrv_rmssd")  # not a modality helo computes


def test_block_names_rules():
    # a block that says what it is gets the feature module's names, or a clear error
    assert block_names("gsr", FeatureBlock(np.zeros((2, 28)), computed={})) == \
        feature_names("gsr")
    with pytest.raises(ValueError, match="27"):
        block_names("ppg", FeatureBlock(np.zeros((2, 28)), computed={}))
    # own names: helo's where helo computes it, else the source's <modality>__<feature>
    own = FeatureBlock(np.zeros((1, 5)), ["median", "gsr_psd_0_2hz", "foo", "raw_median", "gsr_x"])
    assert block_names("gsr", own) == ["gsr_median", "gsr_psd_0_2hz", "gsr__foo",
                                       "gsr__raw_median", "gsr__gsr_x"]
    with pytest.raises(ValueError, match="twice"):
        block_names("gsr", FeatureBlock(np.zeros((1, 2)), ["mean", "gsr_mean"]))


# --------------------------------------------------------------------- DMER raw vs features

@pytest.fixture(scope="module")
def stores(tmp_path_factory, tiny_synth):
    """both synthetic DMER layouts extracted through the real extract path"""
    tmp = tmp_path_factory.mktemp("names")
    out = {}
    for layout in ("dmer-raw", "dmer-features"):
        root, store = tiny_synth(layout), tmp / layout / "store"
        for m in ["labels"] + DMER:
            fp = {**FP, **FEATURES[m]} if m != "labels" else {}
            summary = run_extract(layout, root, store, m, fp, progress=False)
            assert not summary["failed"], summary["failed"]
        out[layout] = (root, store)
    return tmp, out


def test_raw_and_features_layouts_give_identical_names(stores):
    _, out = stores
    for m in DMER:
        raw = read_modality(out["dmer-raw"][1], m)
        rel = read_modality(out["dmer-features"][1], m)
        names = S.feature_columns(raw)
        assert S.feature_columns(rel) == names, m
        assert names == feature_names(m, {**FP, **FEATURES[m]}, channels=EEG_CHANNELS)
        assert len(raw) == len(rel)  # T - 4 rows per trial in both


def test_the_same_name_is_the_same_eeg_feature(stores):
    """the synthetic release's EEG values come from the same per-(channel, band) power as the
    raw EEG: per trial, the features of one name correlate across the 90 columns; naming the
    release band-major instead would break that"""
    _, out = stores
    raw = read_modality(out["dmer-raw"][1], "eeg")
    rel = read_modality(out["dmer-features"][1], "eeg")
    cols = S.feature_columns(raw)
    a = raw.groupby(["subject", "trial"])[cols].mean()
    b = rel.groupby(["subject", "trial"])[cols].mean()
    a, b = a.align(b, join="inner")
    assert len(a) == 9
    band_major = np.arange(90).reshape(18, 5).T.ravel()
    same = [np.corrcoef(a.loc[k], b.loc[k])[0, 1] for k in a.index]
    swapped = [np.corrcoef(a.loc[k], b.loc[k].to_numpy()[band_major])[0, 1] for k in a.index]
    assert min(same) > 0.5 and max(swapped) < 0.4, (same, swapped)


@pytest.fixture(scope="module")
def models(stores):
    from helo.stages.fit_final import fit_final_model
    tmp, out = stores
    trained = {}
    for layout, (_, store) in out.items():
        ds = assemble(store, DMER, physiological=["eeg", "gsr", "ppg"], behavioural=["video"],
                      out=tmp / layout / "assembled")
        fit_final_model(tmp / layout / "assembled", tmp / layout / "model", PARAMS)
        trained[layout] = (tmp / layout / "model", ds)
    return trained


@pytest.mark.parametrize("trained_on,applied_to", [("dmer-raw", "dmer-features"),
                                                   ("dmer-features", "dmer-raw")])
def test_a_model_trained_on_one_layout_predicts_the_other(stores, models, tmp_path, trained_on,
                                                          applied_to):
    import json

    from helo.stages.predict import predict_recordings
    _, out = stores
    model_dir, ds = models[trained_on]
    cfg = json.loads((model_dir / "config.json").read_text())
    assert cfg["modalities"] == DMER
    res = predict_recordings(model_dir, applied_to, out[applied_to][0], tmp_path / "pred", PARAMS)
    assert res["windows"] == ds.n and res["trials"] == 9
    win = pd.read_csv(tmp_path / "pred" / "windows.csv")
    np.testing.assert_allclose(win[ds.label_names].sum(axis=1), 1.0, atol=1e-5)


# --------------------------------------------------------------------- other video widths

def _narrow_video(src, dst, width=48):
    """a copy of the synthetic features release whose subject 2 has ``width`` video columns"""
    shutil.copytree(src, dst)
    mat = scipy.io.loadmat(dst / "2.mat")
    scipy.io.savemat(dst / "2.mat", {"feas": mat["feas"][:, :145 + width], "vids": mat["vids"]})
    return dst


def test_features_release_with_another_video_width(tiny_synth, tmp_path):
    root = _narrow_video(tiny_synth("dmer-features"), tmp_path / "fe")
    reader = DmerFeaturesReader(root)
    problems = [p for p in reader.check() if p.subject == "2"]
    assert [p.severity for p in problems] == ["warning"] and "48" in problems[0].message
    s = reader.read_subject("2")
    assert s.trials[0].features["video"].values.shape[1] == 48
    assert any("video__0" in w for w in s.warnings)
    for m, want in (("video", [f"video__{i}" for i in range(48)]),
                    ("eeg", feature_names("eeg", {}, channels=EEG_CHANNELS))):
        summary = run_extract("dmer-features", root, tmp_path / "store", m, {**FP, **FEATURES[m]},
                              subjects=["2"], progress=False)
        assert summary["done"] == ["2"]
        assert S.feature_columns(read_modality(tmp_path / "store", m)) == want


# --------------------------------------------------------------------- generic layout

def test_generic_columns_map_to_helo_names_where_helo_computes_them(tmp_path):
    cols = {"gsr__median": 1.0, "gsr__gsr_psd_0_2hz": 2.0, "gsr__foo": 3.0,
            "eeg__Fz_alpha": 4.0, "eeg__Fz_sigma": 5.0, "ecg__hr_mean": 6.0, "ecg__hr": 7.0,
            "video__xy_007": 8.0, "hrv__rmssd": 9.0}
    rows = [{"subject": "1", "trial": t, "window": w, **cols, "label__a": 0.25, "label__b": 0.75}
            for t in ("x", "y") for w in range(3)]
    pd.DataFrame(rows).to_csv(tmp_path / "features.csv", index=False)
    want = {"gsr": {"gsr__median": "gsr_median", "gsr__gsr_psd_0_2hz": "gsr_psd_0_2hz",
                    "gsr__foo": "gsr__foo"},
            "eeg": {"eeg__Fz_alpha": "eeg_Fz_alpha", "eeg__Fz_sigma": "eeg__Fz_sigma"},
            "ecg": {"ecg__hr_mean": "ecg_hr_mean", "ecg__hr": "ecg__hr"},
            "video": {"video__xy_007": "video_xy_007"}, "hrv": {"hrv__rmssd": "hrv__rmssd"}}
    for m, names in want.items():
        summary = run_extract("generic", tmp_path, tmp_path / "store", m, FP, progress=False)
        assert summary["done"] == ["1"], summary["failed"]
        df = read_modality(tmp_path / "store", m)
        assert S.feature_columns(df) == list(names.values())
        for src, name in names.items():
            assert (df[name] == cols[src]).all()
    # two columns landing on one name: the subject fails, saying why
    pd.DataFrame([{**r, "gsr__gsr_median": 0.0} for r in rows]).to_csv(
        tmp_path / "features.csv", index=False)
    summary = run_extract("generic", tmp_path, tmp_path / "store2", "gsr", FP, progress=False)
    assert summary["failed"] and "twice" in summary["failed"][0]["reason"]


def test_a_model_refuses_video_features_helo_did_not_compute(stores, models, tmp_path):
    from helo.stages.predict import predict_recordings
    root = _narrow_video(stores[1]["dmer-features"][0], tmp_path / "fe")
    with pytest.raises(ValueError, match="video__"):
        predict_recordings(models["dmer-raw"][0], "dmer-features", root, tmp_path / "p", PARAMS,
                           subjects=["2"])
