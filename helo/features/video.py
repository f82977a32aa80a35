"""The video modality: LBP-TOP (:mod:`helo.features.lbp_top`) of the cropped face frames
(:mod:`helo.features.face`) of each window of the shared grid."""
from __future__ import annotations

import numpy as np

from helo.features import face
from helo.features.lbp_top import lbp_top, lbp_top_names


def video_features(frames: np.ndarray, fps: float, ends, window_s: float = 1.0, *,
                   P: int = 8, R: float = 1, time_radius: float = 1, per_trial: bool = False,
                   valid: np.ndarray | None = None, ties: str = "skimage",
                   engine: str = "auto"):
    """LBP-TOP of the (already cropped, grayscale) frames of each window.

    Window ``[end - window_s, end)`` holds frames ``round((end - window_s) fps) ..
    round(end fps) - 1`` (30 frames for 1 s at 30 fps), each window's volume on its own.
    ``per_trial=True``: one LBP-TOP of the whole trial repeated on every row. ``valid`` (T,)
    marks readable frames; windows with unreadable or missing frames are NaN. ``ties`` and
    ``engine``: see :func:`lbp_top`.
    Returns ``(X (n_windows, 3 * 2^P), names)``.
    """
    frames = np.asarray(frames)
    ends = np.asarray(ends, dtype=np.float64)
    names = lbp_top_names(P)
    X = np.full((ends.size, len(names)), np.nan)
    Tn = frames.shape[0]
    if valid is None:
        valid = np.ones(Tn, dtype=bool)
    if ends.size == 0 or Tn == 0:
        return X, names
    if per_trial:
        if valid.all():
            try:
                X[:] = lbp_top(frames, P, R, time_radius, ties=ties,
                                   engine=engine)[None, :]
            except ValueError:
                pass
        return X, names
    stop = np.round(ends * fps).astype(np.int64)
    start = stop - int(round(window_s * fps))
    for w in range(ends.size):
        a, b = start[w], stop[w]
        if a < 0 or b > Tn or not valid[a:b].all():
            continue
        try:
            X[w] = lbp_top(frames[a:b], P, R, time_radius, ties=ties, engine=engine)
        except ValueError:
            pass
    return X, names


def points(params: dict | None) -> int:
    """LBP's number of points ``P`` from the ``features.video`` params (``points``, 8)."""
    return int((params or {}).get("points", 8))


def names(params: dict | None = None, channels=None) -> list[str]:
    """The names :func:`trial_features` (:func:`video_features`) returns with ``params``:
    ``3 * 2^P`` LBP-TOP bins, :func:`helo.features.lbp_top.lbp_top_names`."""
    return lbp_top_names(points(params))


def video_notes(n_frames: int, fps: float, ends, window_s: float, valid=None) -> list[str]:
    ends = np.asarray(ends, dtype=np.float64)
    stop = np.round(ends * fps).astype(np.int64)
    start = stop - int(round(window_s * fps))
    valid = np.ones(n_frames, bool) if valid is None else np.asarray(valid, bool)
    out = []
    for a, b in zip(start, stop):
        if a < 0 or b > n_frames:
            out.append(f"video: window needs frames {a}..{b - 1}, have {n_frames}")
        elif not valid[a:b].all():
            out.append(f"video: {int((~valid[a:b]).sum())} unreadable frames in window")
        else:
            out.append("")
    return out


def trial_features(trial, params: dict, info: dict):
    """LBP-TOP rows of one trial -> ``(X, names, notes)``: the trial's video (or in-memory
    ``trial.extra["frames"]``) through the face cropper, then :func:`video_features` on the
    shared grid. ``info`` receives ``n_fallback`` and ``video_notes``."""
    from helo.features import grid
    size = int(params.get("face_size", 128))
    win = float(params.get("window_s", 1.0))
    params = {**params, "detector": face.make_detector(params)}
    frames = trial.extra.get("frames") if trial.extra else None
    valid = None
    n_fallback, vnotes = 0, []
    if frames is not None:  # in-memory frames (tests, generic use)
        fps = float(trial.extra.get("fps", 30.0))
        frames = np.asarray(frames)
        if params.get("crop", True):
            frames, n_fallback, vnotes = face.crop_faces(
                frames, size=size, detect_every=int(params.get("detect_every", 1)),
                detector=params.get("detector"))
    else:
        if trial.video is None:
            raise KeyError(f"trial {trial.trial_id} has no video")
        fps = float(trial.video.fps)
        frames, valid, n_fallback, vnotes = face.read_face_crops(
            trial.video, size=size, detect_every=int(params.get("detect_every", 1)),
            detector=params.get("detector"))
    info["n_fallback"] = info.get("n_fallback", 0) + int(n_fallback)
    info.setdefault("video_notes", []).extend(f"trial {trial.trial_id}: {n}" for n in vnotes)
    ends = grid(frames.shape[0] / fps, params)
    X, cols = video_features(frames, fps, ends, win, P=points(params),
                              R=float(params.get("radius", 1)),
                              time_radius=float(params.get("time_radius", 1)),
                              per_trial=bool(params.get("per_trial", False)), valid=valid,
                              ties=str(params.get("lbp_ties", "skimage")),
                              engine=str(params.get("lbp_engine", "auto")))
    return X, cols, video_notes(frames.shape[0], fps, ends, win, valid)
