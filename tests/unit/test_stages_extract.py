"""The extraction stage: store format, resume after a killed run, per-subject failures, dims."""
import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

from helo.data import store as S
from helo.data.base import DataError, FeatureBlock, Signal, Subject, Trial
from helo.data.dmer import EEG_CHANNELS, NOMINAL_FS
from helo.data.labels import DMER_PANAS
from helo.data.wesad import FS_CHEST
from helo.orchestration.executors import executor
from helo.stages import extract as E


def _dmer_trial(tid, seconds, rng):
    n = lambda fs: int(seconds * fs)  # noqa: E731
    fs = NOMINAL_FS
    t = Trial(trial_id=tid, order=int(tid), category="positive",
              panas=rng.integers(1, 6, len(DMER_PANAS)).astype(float),
              panas_items=list(DMER_PANAS))
    t.signals["eeg"] = Signal(rng.standard_normal((n(fs["eeg"]), len(EEG_CHANNELS))), fs["eeg"],
                              list(EEG_CHANNELS))
    t.signals["gsr"] = Signal(5 + 0.1 * rng.standard_normal(n(fs["gsr"])), fs["gsr"], ["gsr"])
    t.signals["ppg"] = Signal(np.sin(np.arange(n(fs["ppg"])) / 8)
                              + 0.1 * rng.standard_normal(n(fs["ppg"])), fs["ppg"], ["ppg"])
    t.extra = {"frames": rng.integers(0, 256, (n(30), 40, 40)).astype(np.uint8), "fps": 30.0}
    return t


def _wesad_trial(tid, seconds, rng):
    import neurokit2 as nk
    fs = FS_CHEST
    n = int(seconds * fs)
    t = Trial(trial_id=tid, order=0, category=tid)
    t.signals["ecg"] = Signal(nk.ecg_simulate(duration=int(seconds), sampling_rate=fs,
                                              method="simple", random_state=1), fs, ["ecg"])
    t.signals["eda"] = Signal(nk.eda_simulate(duration=int(seconds), sampling_rate=fs, scr_number=2,
                                              random_state=1), fs, ["eda"])
    t.signals["emg"] = Signal(0.05 * rng.standard_normal(n), fs, ["emg"])
    t.signals["acc"] = Signal(rng.standard_normal((n, 3)), fs, ["x", "y", "z"])
    return t


class FakeReader:
    def __init__(self, kind="dmer", bad=()):
        self.kind, self.bad = kind, set(bad)
        self.reads = []

    def subjects(self):
        return ["1", "2", "5"]

    def read_subject(self, sid, modalities=None):
        self.reads.append((sid, tuple(modalities) if modalities is not None else None))
        if sid in self.bad:
            raise DataError("datas.mat is truncated", path=f"/x/{sid}/datas.mat", subject=sid)
        rng = np.random.default_rng(int(sid))
        if self.kind == "dmer":
            trials = [_dmer_trial("0", 7.0, rng), _dmer_trial("8", 6.2, rng),
                      _dmer_trial("16", 3.0, rng)]  # the last is shorter than a window
        else:
            trials = [_wesad_trial("Base", 8.0, rng)]
        return Subject(sid, trials, layout=self.kind)


@pytest.fixture
def fake(monkeypatch):
    holder = {"reader": FakeReader()}
    monkeypatch.setattr(E, "_open", lambda layout, root, options=None: holder["reader"])
    return holder


PARAMS = {"step_s": 1.0, "longest_window_s": 5.0, "detector": lambda g: []}


@pytest.mark.parametrize("modality,dim", [("eeg", 90), ("gsr", 28), ("ppg", 27), ("video", 768)])
def test_dmer_dims_and_store_format(fake, tmp_path, modality, dim):
    st = E.extract_subject("dmer-aligned", "/nowhere", "1", modality, tmp_path, PARAMS)
    assert st["status"] == "done" and st["rows"] == 3 + 2  # T - 4 rows per trial, none for 3 s
    assert fake["reader"].reads[-1] == ("1", (modality,))
    df = S.read(tmp_path, modality, "1")
    assert list(df.columns[:5]) == ["subject", "trial", "window", "t_end", "note"]
    feats = S.feature_columns(df)
    assert len(feats) == dim and all(c.startswith(modality + "_") for c in feats)
    assert df["window"].tolist() == [0, 1, 2, 0, 1]
    assert df["t_end"].tolist() == [5.0, 6.0, 7.0, 5.0, 6.0]
    assert df["trial"].tolist() == ["0", "0", "0", "8", "8"]
    assert pd.api.types.is_string_dtype(df["subject"]) and df["window"].dtype == np.int64
    assert any("shorter than one window" in n for n in st["notes"])
    if modality == "video":
        assert st["n_fallback"] == int((7 + 6.2) * 30) + 3 * 30  # every frame: no face
    assert np.isfinite(df[feats].to_numpy()).all()


def test_wesad_dims(fake, tmp_path):
    fake["reader"] = FakeReader("wesad")
    for modality, dim in [("ecg", 73), ("eda", 4), ("emg", 14), ("acc", 12)]:
        E.extract_subject("wesad", "/nowhere", "2", modality, tmp_path, PARAMS)
        df = S.read(tmp_path, modality, "2")
        assert len(S.feature_columns(df)) == dim and len(df) == 4, modality


def test_labels(fake, tmp_path):
    E.extract_subject("dmer-aligned", "/nowhere", "1", "labels", tmp_path, {})
    assert fake["reader"].reads[-1] == ("1", ())
    df = S.read(tmp_path, "labels", "1")
    assert list(df.columns) == ["subject", "trial", "order", "category"] + \
        [f"panas_{i}" for i in DMER_PANAS]
    assert df["trial"].tolist() == ["0", "8", "16"]


def test_resume_after_killed_run(fake, tmp_path):
    E.extract_subject("dmer-aligned", "/nowhere", "1", "gsr", tmp_path, PARAMS)
    stray = tmp_path / "gsr" / ".tmp-2.parquet.abc123.parquet"
    stray.write_bytes(b"PAR1 half written")
    assert S.done(tmp_path, "gsr", "1") and not S.done(tmp_path, "gsr", "2")
    fake["reader"].reads.clear()
    summ = E.run_extract("dmer-aligned", "/nowhere", tmp_path, "gsr", PARAMS, progress=False)
    assert sorted(s for s, _ in fake["reader"].reads) == ["2", "5"]
    assert summ["done"] == ["2", "5"]
    assert summ["skipped"] == [{"subject": "1", "reason": E.UP_TO_DATE}]
    assert S.subjects(tmp_path, "gsr") == ["1", "2", "5"]
    on_disk = json.loads((tmp_path / "gsr" / "_summary.json").read_text())
    assert on_disk["done"] == ["2", "5"]
    fake["reader"].reads.clear()
    summ = E.run_extract("dmer-aligned", "/nowhere", tmp_path, "gsr", PARAMS, progress=False,
                         force=True)
    assert len(summ["done"]) == 3


def test_failing_subject_reported_others_succeed(fake, tmp_path):
    fake["reader"] = FakeReader(bad={"2"})
    with ThreadPoolExecutor(2) as ex:
        summ = E.run_extract("dmer-aligned", "/nowhere", tmp_path, "ppg", PARAMS, executor=ex,
                             progress=False)
    assert summ["done"] == ["1", "5"]
    assert summ["failed"][0]["subject"] == "2"
    assert "datas.mat is truncated" in summ["failed"][0]["reason"]
    assert not S.done(tmp_path, "ppg", "2")


def test_bad_windows_get_nan_and_note(fake, tmp_path):
    class NanReader(FakeReader):
        def read_subject(self, sid, modalities=None):
            s = super().read_subject(sid, modalities)
            s.trials[0].signals["eeg"].data[int(5.5 * NOMINAL_FS["eeg"]):
                                            int(5.7 * NOMINAL_FS["eeg"]), :] = np.nan
            s.trials[1].signals["eeg"].data[:, 3] = 1.0  # a dead channel
            return s
    fake["reader"] = NanReader()
    E.extract_subject("dmer-aligned", "/nowhere", "1", "eeg", tmp_path, PARAMS)
    df = S.read(tmp_path, "eeg", "1")
    X = df[S.feature_columns(df)].to_numpy()
    assert np.isnan(X[1]).all() and "NaN" in df["note"][1]
    assert df["note"][0] == "" and np.isfinite(X[0]).all()
    assert np.isnan(X[3:, 15:20]).all() and "undefined" in df["note"][3]


def test_precomputed_blocks(fake, tmp_path):
    class FeatReader(FakeReader):
        def read_subject(self, sid, modalities=None):
            t = Trial("3", features={"gsr": FeatureBlock(np.arange(16.0).reshape(4, 4),
                                                         ["a", "mean", "gsr_c", "gsr_std"])})
            return Subject(sid, [t], layout="dmer-features")
    fake["reader"] = FeatReader()
    E.extract_subject("dmer-features", "/nowhere", "5", "gsr", tmp_path, PARAMS)
    df = S.read(tmp_path, "gsr", "5")
    # helo's names for the features helo computes, the source's own for the others
    assert S.feature_columns(df) == ["gsr__a", "gsr_mean", "gsr__gsr_c", "gsr_std"]
    assert df["window"].tolist() == [0, 1, 2, 3] and df["t_end"].tolist() == [5, 6, 7, 8]


def test_store_write_is_atomic_and_done(tmp_path):
    df = S.trial_frame("7", "0", [5.0], np.ones((1, 2)), ["gsr_a", "gsr_b"])
    assert not S.done(tmp_path, "gsr", "7")
    S.write(tmp_path, "gsr", "7", df)
    assert S.done(tmp_path, "gsr", "7")
    (tmp_path / "gsr" / "8.parquet").write_bytes(b"garbage")
    assert not S.done(tmp_path, "gsr", "8")
    assert [p.name for p in (tmp_path / "gsr").iterdir() if p.name.startswith(".")] == []
    pd.testing.assert_frame_equal(S.read(tmp_path, "gsr", "7"), df)


def test_real_reader_process_pool(tmp_path):
    """the synthetic DMER (aligned layout) through the real reader and a process pool"""
    synth = pytest.importorskip("helo.synth.dmer")
    synth.generate_dmer(tmp_path / "raw", layout="aligned", seed=0, preset="tiny",
                        progress=False, n_subjects=2)
    store = tmp_path / "store"
    with executor("processes", 2) as ex:
        summ = E.run_extract("dmer-aligned", tmp_path / "raw", store, "gsr", {}, executor=ex,
                             progress=False)
    assert summ["done"] == ["1", "2"] and not summ["failed"]
    summ = E.run_extract("dmer-aligned", tmp_path / "raw", store, "video", {"detect_every": 10},
                         progress=False)
    assert summ["done"] == ["1", "2"]
    gsr, vid = S.read(store, "gsr", "1"), S.read(store, "video", "1")
    assert len(S.feature_columns(gsr)) == 28 and len(S.feature_columns(vid)) == 768
    keys = ["trial", "window"]
    assert gsr[keys].equals(vid[keys])  # every modality of a trial on the same rows


def test_unopenable_video_skips_that_trial_only(fake, tmp_path):
    from helo.data.base import VideoRef

    class VidReader(FakeReader):
        def read_subject(self, sid, modalities=None):
            s = super().read_subject(sid, modalities)
            s.trials[1].extra = {}
            s.trials[1].video = VideoRef(tmp_path / "missing.mp4", 0, 186, 30.0)
            return s
    fake["reader"] = VidReader()
    summ = E.run_extract("dmer-aligned", "/nowhere", tmp_path, "video", PARAMS, progress=False)
    assert summ["done"] == ["1", "2", "5"]
    assert "cannot be opened" in summ["trial_errors"]["1"][0]["error"]
    assert S.read(tmp_path, "video", "1")["trial"].unique().tolist() == ["0"]


def test_rerun_with_another_root_or_settings_recomputes(tmp_path):
    """the store records what produced each file: a re-run by hand with another data root,
    other params or an edited source file recomputes exactly the subjects concerned (their
    features then equal a fresh extraction's), an unchanged re-run skips, and a file without
    a record is not trusted"""
    synth = pytest.importorskip("helo.synth.dmer")
    for seed in (0, 1):
        synth.generate_dmer(tmp_path / f"raw{seed}", layout="aligned", seed=seed, preset="tiny",
                            progress=False, n_subjects=2)
    store, fresh = tmp_path / "store", tmp_path / "fresh"
    a = E.run_extract("dmer-aligned", tmp_path / "raw0", store, "gsr", {}, progress=False)
    old = {s: S.read(store, "gsr", s) for s in ("1", "2")}
    assert a["done"] == ["1", "2"]
    assert S.read_record(store, "gsr", "1")["produced_by"]["root"] == \
        str((tmp_path / "raw0").resolve())
    b = E.run_extract("dmer-aligned", tmp_path / "raw1", store, "gsr", {}, progress=False)
    assert b["done"] == ["1", "2"] and b["skipped"] == []
    E.run_extract("dmer-aligned", tmp_path / "raw1", fresh, "gsr", {}, progress=False)
    for sid in ("1", "2"):
        new = S.read(store, "gsr", sid)
        assert not np.allclose(new[S.feature_columns(new)].to_numpy(),
                               old[sid][S.feature_columns(old[sid])].to_numpy(), equal_nan=True)
        # the same inputs give the same bytes, record or not
        assert S.path_of(store, "gsr", sid).read_bytes() == \
            S.path_of(fresh, "gsr", sid).read_bytes()
    again = E.run_extract("dmer-aligned", tmp_path / "raw1", store, "gsr", {}, progress=False)
    assert again["done"] == [] and [s["subject"] for s in again["skipped"]] == ["1", "2"]
    # an edited source file of subject 2 recomputes subject 2 only
    src = sorted(p for p in (tmp_path / "raw1" / "2").rglob("*") if p.is_file())[0]
    import os
    st = src.stat()
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    c = E.run_extract("dmer-aligned", tmp_path / "raw1", store, "gsr", {}, progress=False)
    assert c["done"] == ["2"] and [s["subject"] for s in c["skipped"]] == ["1"]
    # other feature params recompute every subject
    d = E.run_extract("dmer-aligned", tmp_path / "raw1", store, "gsr", {"window_s": 4.0},
                      progress=False)
    assert d["done"] == ["1", "2"]
    # a file without a record (an older helo's, or copied in) is recomputed
    S.record_path(store, "gsr", "1").unlink()
    e = E.run_extract("dmer-aligned", tmp_path / "raw1", store, "gsr", {"window_s": 4.0},
                      progress=False)
    assert e["done"] == ["1"]
    # a file replaced behind the store's back (bytes differ from the record) is recomputed
    S.path_of(store, "gsr", "2").write_bytes(S.path_of(fresh, "gsr", "1").read_bytes())
    f = E.run_extract("dmer-aligned", tmp_path / "raw1", store, "gsr", {"window_s": 4.0},
                      progress=False)
    assert f["done"] == ["2"]
    # a recomputation that fails leaves neither the old file nor its record
    E.run_extract("dmer-aligned", tmp_path / "raw0", store, "gsr", {}, progress=False)
    (tmp_path / "raw1" / "2" / "datas.mat").write_bytes(b"not a mat file")
    g = E.run_extract("dmer-aligned", tmp_path / "raw1", store, "gsr", {}, progress=False)
    assert g["done"] == ["1"] and [x["subject"] for x in g["failed"]] == ["2"]
    assert not S.path_of(store, "gsr", "2").exists()
    assert not S.record_path(store, "gsr", "2").exists()


def test_params_digest_sees_values_not_types():
    """NumPy values count by value (an np.int64 window is the YAML int), a callable by its
    name (stable across processes), so the record never calls different params equal"""
    assert E._digest({"w": np.int64(3)}) == E._digest({"w": 3})
    assert E._digest({"w": np.int64(3)}) != E._digest({"w": np.int64(4)})
    assert E._digest({"b": np.array([1.0, 2.0])}) != E._digest({"b": np.array([1.0, 3.0])})
    assert E._digest(PARAMS) == E._digest(dict(PARAMS))
