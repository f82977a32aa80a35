import numpy as np
import pandas as pd
import pytest

from helo.data import assemble as asm
from helo.data.labels import DMER_PANAS


def _store(tmp_path, nan_row=None):
    rng = np.random.default_rng(0)
    for s in ["1", "2"]:
        lab = {"subject": [s, s], "trial": ["0", "8"], "order": [0, 1],
               "category": ["positive", "negative"]}
        for k, item in enumerate(DMER_PANAS):
            lab[f"panas_{item}"] = [5.0 if k < 5 else 1.0, 1.0 if k < 5 else 4.0]
        (tmp_path / "labels").mkdir(parents=True, exist_ok=True)
        pd.DataFrame(lab).to_parquet(tmp_path / "labels" / f"{s}.parquet")
        for m, dim, n_win in [("eeg", 3, 4), ("video", 2, 5)]:
            rows = []
            for t in ["0", "8"]:
                for w in range(n_win):
                    rows.append({"subject": s, "trial": t, "window": w, "t_end": 5.0 + w,
                                 "note": "", **{f"{m}_f{j}": rng.normal() for j in range(dim)}})
            df = pd.DataFrame(rows)
            if nan_row is not None and m == "eeg" and s == "1":
                df.loc[nan_row, "eeg_f0"] = np.nan
            (tmp_path / m).mkdir(exist_ok=True)
            df.to_parquet(tmp_path / m / f"{s}.parquet")
    # a stray temp file from an interrupted run must be ignored
    (tmp_path / "eeg" / ".tmp-3.parquet.abc.parquet").write_bytes(b"half")
    return tmp_path


def test_join_on_grid_and_label_distribution(tmp_path):
    store = _store(tmp_path / "store")
    ds = asm.assemble(store, ["eeg", "video"], items="dmer", physiological=["eeg"],
                      behavioural=["video"], out=tmp_path / "out")
    # eeg has windows 0-3, video 0-4: the inner join keeps 4 per trial, 2 trials, 2 subjects
    assert ds.n == 16
    assert ds.X["eeg"].shape == (16, 3) and ds.X["video"].shape == (16, 2)
    pos = ds.y[(ds.subject == "1") & (ds.trial == "0")][0]
    np.testing.assert_allclose(pos, [5 / 30] * 5 + [1 / 30] * 5, rtol=1e-6)
    back = asm.load(tmp_path / "out")
    np.testing.assert_array_equal(back.X["eeg"], ds.X["eeg"])
    np.testing.assert_array_equal(back.subject, ds.subject)
    assert back.label_names == DMER_PANAS
    only = asm.load(tmp_path / "out", ["video"])
    assert list(only.X) == ["video"] and only.physiological == []


def test_nan_rows_dropped_or_zeroed(tmp_path):
    store = _store(tmp_path / "store", nan_row=1)
    kw = dict(items="dmer", physiological=["eeg"], behavioural=["video"])
    assert asm.assemble(store, ["eeg", "video"], **kw).n == 15
    assert asm.assemble(store, ["eeg", "video"], nan_policy="zero", **kw).n == 16


def test_missing_modality_is_a_clear_error(tmp_path):
    store = _store(tmp_path / "store")
    with pytest.raises(FileNotFoundError, match="gsr"):
        asm.assemble(store, ["eeg", "gsr"], physiological=["eeg", "gsr"], behavioural=[])
