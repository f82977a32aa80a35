"""The raw release's ``camera.csv`` (``frame,code,epoch_ms``: the marker codes by video frame)
and the frame count and rate of a face video."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from helo.data.base import ProblemCollector


def _read_camera(path: Path, col: ProblemCollector) -> list[tuple[int, int]]:
    import pandas as pd
    try:
        df = pd.read_csv(path, header=None, dtype=str)
    except pd.errors.EmptyDataError:
        raise col.fail("camera.csv is empty", path) from None
    except (pd.errors.ParserError, ValueError, OSError) as e:
        raise col.fail(f"cannot parse camera.csv: {e}", path) from None
    if df.shape[1] < 2:
        raise col.fail("camera.csv needs columns frame,code,epoch_ms", path)
    num = df.iloc[:, :2].apply(lambda s: pd.to_numeric(s.str.strip(), errors="coerce"))
    bad = num.isna().any(axis=1).to_numpy()
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        raise col.fail(f"line {r + 1}: frame/code not numeric: {list(df.iloc[r, :2])}", path)
    frames = num.iloc[:, 0].to_numpy().astype(np.int64)
    codes = num.iloc[:, 1].to_numpy().astype(np.int64)
    return [(int(c), int(f)) for f, c in zip(frames, codes) if c != 0]


def _video_info(path: Path) -> tuple[int | None, float | None]:
    """(frame count, fps) of a video, or (None, None) if OpenCV cannot open it."""
    import cv2
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            return None, None
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        fps = float(cap.get(cv2.CAP_PROP_FPS))
        return (n if n > 0 else None), (fps if fps > 0 else None)
    finally:
        cap.release()
