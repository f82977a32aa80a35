"""`helo predict`: a model trained by fit-final applied to recordings in a raw layout."""
import shutil

import numpy as np
import pandas as pd
import pytest

from helo.cli import main
from helo.data.assemble import assemble
from helo.stages.extract import run_extract
from helo.stages.fit_final import fit_final_model

FP = {"step_s": 1.0, "longest_window_s": 5.0}
PARAMS = {
    "data": {"name": "t"}, "evaluate": {"seed": 0},
    "features": {"common": FP, "eeg": {"window_s": 1.0}, "gsr": {"window_s": 5.0},
                 "ppg": {"window_s": 5.0},
                 "video": {"window_s": 1.0, "face_size": 32, "detect_every": 10}},
    "model": {"helo": {"epochs": 2, "d": 32, "tokens": 2, "ot_iter": 5, "device": "cpu"}},
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_dmer_raw):
    tmp = tmp_path_factory.mktemp("pred")
    shutil.copytree(tiny_dmer_raw, tmp / "raw")
    mods = ["eeg", "gsr", "ppg", "video"]
    for m in ["labels"] + mods:
        fp = {**FP, **PARAMS["features"][m]} if m != "labels" else {}
        run_extract("dmer-raw", tmp / "raw", tmp / "store", m, fp, progress=False)
    ds = assemble(tmp / "store", mods, physiological=["eeg", "gsr", "ppg"],
                  behavioural=["video"], out=tmp / "assembled")
    fit_final_model(tmp / "assembled", tmp / "model", PARAMS)
    return tmp, ds


def test_predict_windows_and_trials(trained, tmp_path, monkeypatch):
    tmp, ds = trained
    import yaml
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(PARAMS))
    monkeypatch.chdir(tmp_path)
    rc = main(["predict", "--model", str(tmp / "model"), "--input", str(tmp / "raw"),
               "--layout", "dmer-raw", "--out", str(tmp_path / "out")])
    assert rc == 0
    win = pd.read_csv(tmp_path / "out" / "windows.csv", dtype={"subject": str, "trial": str})
    tri = pd.read_csv(tmp_path / "out" / "trials.csv", dtype={"subject": str, "trial": str})
    labels = ds.label_names
    assert len(win) == ds.n and len(tri) == len(set(ds.trial_keys().tolist()))
    np.testing.assert_allclose(win[labels].sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(tri[labels].sum(axis=1), 1.0, atol=1e-5)
    # same windows, same model, same scaler: identical to predicting the assembled rows
    from helo.stages.predict import load_trained
    model, scaler, _ = load_trained(tmp / "model")
    direct = model.predict(scaler.transform(ds.X))
    ref = pd.DataFrame({"subject": ds.subject, "trial": ds.trial, "window": ds.window})
    ref[[f"ref_{lab}" for lab in labels]] = direct
    merged = win.merge(ref, on=["subject", "trial", "window"], how="inner")
    assert len(merged) == ds.n
    np.testing.assert_allclose(merged[labels].to_numpy(),
                               merged[[f"ref_{lab}" for lab in labels]].to_numpy(), atol=1e-5)


def test_predict_without_model_is_a_clear_error(tmp_path, capsys, trained):
    tmp, _ = trained
    (tmp_path / "params.yaml").write_text("{}")
    rc = main(["predict", "--params", str(tmp_path / "params.yaml"), "--model",
               str(tmp_path / "nothing"), "--input", str(tmp / "raw"), "--layout", "dmer-raw",
               "--out", str(tmp_path / "o")])
    assert rc == 1 and "fit-final" in capsys.readouterr().err


@pytest.mark.parametrize("subset,query", [(["gsr"], "gsr"), (["video"], None),
                                          (["eeg", "video"], "eeg")])
def test_fit_final_on_a_modality_subset_moves_the_query(trained, tmp_path, subset, query):
    """the modality ablations: a configured query (eeg) missing from the subset is replaced by
    the first physiological modality left, in fit-final exactly as in evaluate"""
    from helo.stages.common import method_params
    params = {**PARAMS, "assemble": {"physiological": ["eeg", "gsr", "ppg"]},
              "model": {"helo": {**PARAMS["model"]["helo"], "query": "eeg",
                                 "modalities": subset}}}
    mp, mods = method_params(params, "helo")
    assert mods == subset and mp["query"] == query and "modalities" not in mp
    tmp, _ = trained
    info = fit_final_model(tmp / "assembled", tmp_path / "m", params)
    import json
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    assert cfg["modalities"] == subset
    assert info is not None


def test_predict_names_subjects_dropped_for_unreadable_video(trained, tmp_path, monkeypatch,
                                                             capsys):
    """Issue 13, fault 7: a subject whose video cannot be read is listed in skipped.json with
    the reason; the command fails unless --allow-partial; another layout names the right one."""
    import json

    import yaml
    tmp, ds = trained
    raw = tmp_path / "raw"
    shutil.copytree(tmp / "raw", raw)
    sids = sorted(set(ds.subject.tolist()), key=int)
    bad = sids[0]
    video = next((raw / bad / bad).glob("1_*.mp4"))
    video.write_bytes(np.random.default_rng(1).bytes(2048))
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(PARAMS))
    monkeypatch.chdir(tmp_path)
    argv = ["predict", "--model", str(tmp / "model"), "--input", str(raw), "--layout",
            "dmer-raw", "--out", str(tmp_path / "out")]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "predict: 1 of" in err and "cannot read the face video" in err
    skipped = json.loads((tmp_path / "out" / "skipped.json").read_text())
    assert skipped["subjects_skipped"] == 1
    assert skipped["subjects"][0]["subject"] == bad and "video" in skipped["subjects"][0]["reason"]
    assert skipped["subjects_predicted"] == len(sids) - 1
    win = pd.read_csv(tmp_path / "out" / "windows.csv", dtype={"subject": str})
    assert set(win["subject"]) == set(sids) - {bad}  # the others are predicted
    assert main(argv + ["--allow-partial"]) == 0
    # another layout: says what the folder looks like, not "run the extract stage first"
    assert main(argv[:-4] + ["--layout", "wesad", "--out", str(tmp_path / "o2")]) == 1
    err = capsys.readouterr().err
    assert "looks like dmer-raw" in err and "extract stage" not in err
    assert not (tmp_path / "o2").exists()


def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _nan_std(path):
    with np.load(path) as z:
        state = {k: z[k] for k in z.files}
    key = next(k for k in state if k.startswith("std_"))
    state[key] = state[key].copy()
    state[key][0] = np.nan
    np.savez(path, **state)


def _short_mean(path):
    with np.load(path) as z:
        state = {k: z[k] for k in z.files}
    key = next(k for k in state if k.startswith("mean_"))
    state[key] = state[key][:-1]
    np.savez(path, **state)


def _pickled_global(path):
    import pickle
    path.write_bytes(pickle.dumps({"format": "helo.HeLoLearner/1", "x": shutil.copytree}))


@pytest.mark.parametrize("name,corrupt,problem", [
    ("model.pt", _truncate, "cannot load model checkpoint: RuntimeError"),
    ("model.pt", lambda p: p.write_bytes(b""), "cannot load model checkpoint: "),
    ("model.pt", _pickled_global, "cannot load model checkpoint: UnpicklingError"),
    ("scaler.npz", _truncate, "cannot load feature scaler: "),
    ("scaler.npz", lambda p: p.write_bytes(b"PK\x03\x04"), "cannot load feature scaler: "),
    ("scaler.npz", _nan_std, "holds non-finite or non-positive values"),
    ("scaler.npz", _short_mean, "the model takes"),
    ("config.json", lambda p: p.write_text('{"method": "helo",'),
     "cannot load model config: JSONDecodeError"),
    ("config.json", lambda p: p.write_text('{"method": NaN}'),
     "cannot load model config: ValueError: NaN is not a JSON number"),
    ("config.json", lambda p: p.write_text('[]'), "model config must be a JSON object"),
])
def test_corrupted_model_files_are_named(trained, tmp_path, monkeypatch, capsys, name, corrupt,
                                         problem):
    """a truncated checkpoint or scaler, a checkpoint whose pickle names a global
    (``weights_only=True`` refuses it), a scaler with NaN or the wrong length, a config that is
    not JSON: one DataError naming the file, and `helo predict` says it in one line"""
    import yaml

    from helo.data.base import DataError
    from helo.stages.predict import load_trained
    tmp, _ = trained
    model = tmp_path / "model"
    shutil.copytree(tmp / "model", model)
    corrupt(model / name)
    with pytest.raises(DataError) as err:
        load_trained(model)
    assert str(err.value).startswith(f"file {model / name}: ")
    assert problem in str(err.value)
    assert "\n" not in str(err.value)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(PARAMS))
    monkeypatch.chdir(tmp_path)
    rc = main(["predict", "--model", str(model), "--input", str(tmp / "raw"), "--layout",
               "dmer-raw", "--out", str(tmp_path / "out")])
    err_lines = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and err_lines[-1].startswith(f"helo predict: error: file {model / name}: ")


def test_truncated_assembled_dataset_is_named(trained, tmp_path):
    """fit-final's loading: a truncated dataset.npz or a meta.json that is not JSON"""
    from helo.data.base import DataError
    tmp, _ = trained
    folder = tmp_path / "assembled"
    shutil.copytree(tmp / "assembled", folder)
    _truncate(folder / "dataset.npz")
    with pytest.raises(DataError, match=rf"^file {folder / 'dataset.npz'}: cannot load "
                                        r"assembled dataset: "):
        fit_final_model(folder, tmp_path / "m", PARAMS)
    (folder / "meta.json").write_text("{")
    with pytest.raises(DataError, match=rf"^file {folder / 'meta.json'}: cannot load "
                                        r"assembled dataset's meta: JSONDecodeError"):
        fit_final_model(folder, tmp_path / "m", PARAMS)
    assert not (tmp_path / "m").exists()
