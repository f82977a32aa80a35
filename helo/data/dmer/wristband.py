"""The raw release's wristband files (``raw_gsr.csv`` / ``raw_ppg.csv``:
``timestamp,value[,marker]`` per sample, the timestamp on each packet's first sample): values,
markers and the timing checks."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from helo.data.base import ProblemCollector


def _read_wrist(path: Path, fs: float, col: ProblemCollector, what: str) -> tuple[np.ndarray, list]:
    """(values (n,), events [(code, sample)]) of ``raw_gsr.csv`` / ``raw_ppg.csv``."""
    import pandas as pd
    if not path.is_file():
        raise col.fail(f"{what} file is missing", path)
    try:
        df = pd.read_csv(path, header=None, names=["ts", "value", "marker"], dtype=str,
                         skip_blank_lines=True, engine="c")
    except pd.errors.EmptyDataError:
        raise col.fail(f"{what} file is empty", path) from None
    except (pd.errors.ParserError, ValueError, OSError) as e:
        raise col.fail(f"cannot parse {what} file: {e}", path) from None
    if len(df) == 0:
        raise col.fail(f"{what} file is empty", path)
    cols = {}
    for c in ("ts", "value", "marker"):
        s = df[c].str.strip()
        num = pd.to_numeric(s, errors="coerce")
        bad = num.isna() & s.notna() & (s != "") & ~s.str.lower().isin(["nan", "na"])
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise col.fail(f"line {row + 1}: {c} {s.iloc[row]!r} is not a number", path)
        cols[c] = num.to_numpy(dtype=np.float64)
    values = cols["value"]
    mk = np.flatnonzero(~np.isnan(cols["marker"]) & (cols["marker"] != 0))
    events = [(int(cols["marker"][i]), int(i)) for i in mk]
    ts = cols["ts"]
    idx = np.flatnonzero(~np.isnan(ts))
    if idx.size == 0:
        col.warn(f"{what} file has no timestamps; nominal rate {fs:g} Hz assumed", path)
    elif idx.size > 1:
        # per-packet time reconstruction: t = packet timestamp + j * 1000 / fs
        dt = np.diff(ts[idx])
        expected = np.diff(idx) * 1000.0 / fs
        gaps = np.flatnonzero(np.abs(dt - expected) > max(500.0, 2000.0 / fs))
        if gaps.size:
            g = gaps[0]
            col.warn(f"{gaps.size} timestamp gap(s) (first at line {idx[g + 1] + 1}: "
                     f"{dt[g]:.0f} ms where {expected[g]:.0f} ms expected)", path)
        span = ts[idx[-1]] - ts[idx[0]]
        if span > 0:
            est = (idx[-1] - idx[0]) * 1000.0 / span
            if abs(est / fs - 1) > 0.05:
                col.warn(f"timestamps imply {est:.2f} Hz, nominal {fs:g} Hz", path)
    return values, events


def packet_times(ts: np.ndarray, fs: float) -> np.ndarray:
    """Per-sample epoch ms from a timestamp column set only on each packet's first sample."""
    ts = np.asarray(ts, dtype=np.float64)
    n = ts.size
    idx = np.flatnonzero(~np.isnan(ts))
    if idx.size == 0:
        return np.arange(n) * 1000.0 / fs
    pid = np.maximum(np.searchsorted(idx, np.arange(n), side="right") - 1, 0)
    return ts[idx[pid]] + (np.arange(n) - idx[pid]) * 1000.0 / fs
