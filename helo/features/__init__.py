"""Feature functions, one module per signal family, and the registry of modalities.

Every function is pure: arrays and a sampling rate in, ``(X (n_windows, n_features), names)``
out, on the shared window grid (:mod:`helo.features.windows`). :data:`MODALITIES` maps a
modality to its function, default window length and expected dimension;
:func:`trial_features` computes one modality of one :class:`~helo.data.base.Trial`
with notes for the windows whose features are NaN.

Params (a flat dict: ``features.common`` merged with ``features.<modality>`` of params.yaml):

=====================  =========  =========================================================
key                    default    meaning
=====================  =========  =========================================================
step_s                 1.0        grid step (s)
longest_window_s       5.0        longest window of the dataset: window w ends at L + w*step
window_s               per mod.   this modality's window (eeg/video 1, the others 5)
bands (eeg)            paper      paper | official | {name: [lo, hi]} | [[lo, hi], ...]
method (eeg)           gaussian   gaussian (1/2 ln 2 pi e var) | spectral (SEED log2 power)
resample (eeg)         None       spectral only: resample to this rate first (EmotionDict: 100)
nfft (eeg)             1024       spectral only
l/h_trans_bandwidth    auto       gaussian only: MNE FIR transition bands
face_size (video)      128        face crop side (pixels)
detect_every (video)   1          run the Haar detector every k-th frame (10 is ~2x faster
                                  overall on 640x480; boxes are held in between)
detect_width (video)   160        the detector runs on a copy scaled to this width
points / radius        8 / 1      LBP P and R (video)
time_radius (video)    1          LBP radius along time (frames); DMER's LBP-TOP code used 4
per_trial (video)      False      one LBP-TOP per trial, repeated on its rows
lbp_ties (video)       skimage    skimage: bit-identical to scikit-image | up: exact-arithmetic
                                  ties count as >= (NumPy engine only)
lbp_engine (video)     auto       auto | jit (compiled Numba kernel) | numpy; identical output
context_s (ecg)        window_s   tachogram length for the HRV frequency indices
work_fs (eda)          50         EDA rate for the SCR decomposition (decimated)
=====================  =========  =========================================================
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from helo.features import eeg, physio, video, wesad
from helo.features.windows import grid_ends, window_notes


@dataclass(frozen=True)
class ModalityInfo:
    function: Callable
    window_s: float
    dim: int | None  # expected dimension (EEG: 90 for DMER's 18 channels)
    source: str = "signal"  # "signal" or "video"


MODALITIES: dict[str, ModalityInfo] = {
    "eeg": ModalityInfo(eeg.differential_entropy, 1.0, 90),
    "gsr": ModalityInfo(physio.gsr_features, 5.0, 28),
    "ppg": ModalityInfo(physio.ppg_features, 5.0, 27),
    "video": ModalityInfo(video.video_features, 1.0, 768, "video"),
    "ecg": ModalityInfo(wesad.ecg_features, 5.0, 73),
    "eda": ModalityInfo(wesad.eda_features, 5.0, 4),
    "emg": ModalityInfo(wesad.emg_features, 5.0, 14),
    "acc": ModalityInfo(wesad.acc_features, 5.0, 12),
}


def _grid(duration: float, params: dict) -> np.ndarray:
    return grid_ends(duration, float(params.get("longest_window_s", 5.0)),
                     float(params.get("step_s", 1.0)))


def signal_features(modality: str, data: np.ndarray, fs: float, ends, params: dict | None = None,
                    channels=None):
    """Dispatch a signal modality with the params it understands -> ``(X, names)``."""
    params = params or {}
    info = MODALITIES[modality]
    win = float(params.get("window_s", info.window_s))
    if modality == "eeg":
        kw = {k: params[k] for k in ("resample", "nfft", "l_trans_bandwidth", "h_trans_bandwidth")
              if params.get(k) is not None}
        return eeg.differential_entropy(data, fs, ends, channels=channels,
                                        bands=params.get("bands", "paper"), window_s=win,
                                        method=params.get("method", "gaussian"), **kw)
    if modality == "ecg":
        return wesad.ecg_features(data, fs, ends, win, context_s=params.get("context_s"))
    if modality == "eda":
        return wesad.eda_features(data, fs, ends, win,
                                  work_fs=float(params.get("work_fs", 50.0)))
    return info.function(data, fs, ends, win)


def trial_features(trial, modality: str, params: dict | None = None, info: dict | None = None):
    """Features of one modality of a Trial -> ``(X, names, notes)`` (one note per row, "" when
    fine). ``info`` (a dict, optional) receives ``n_fallback`` / ``video_notes`` for video.
    Precomputed ``trial.features[modality]`` is returned as is on the grid rows 0..n-1."""
    params = params or {}
    if modality not in MODALITIES:
        raise KeyError(f"unknown modality {modality!r}; known: {sorted(MODALITIES)}")
    mi = MODALITIES[modality]
    win = float(params.get("window_s", mi.window_s))
    if mi.source == "video":
        return _video_trial(trial, params, win, info if info is not None else {})
    sig = trial.signals.get(modality)
    if sig is None:
        raise KeyError(f"trial {trial.trial_id} has no {modality} signal")
    ends = _grid(sig.duration, params)
    X, names = signal_features(modality, sig.data, sig.fs, ends, params, channels=sig.channels)
    _, notes = window_notes(sig.data, sig.fs, ends, win, what=modality)
    return X, names, _explain(X, notes, modality)


def _explain(X, notes, modality):
    out = list(notes)
    for i, row in enumerate(X):
        if not out[i] and not np.isfinite(row).all():
            if np.isnan(row).all():
                out[i] = ("ecg: fewer than 4 R-peaks in window" if modality == "ecg"
                          else f"{modality}: features undefined in window")
            else:
                out[i] = f"{modality}: {int((~np.isfinite(row)).sum())} features undefined " \
                         f"(flat channel?)"
    return out


def _video_trial(trial, params, win, info):
    size = int(params.get("face_size", 128))
    if params.get("detector") is None:
        params = {**params, "detector": video.haar_detector(
            detect_width=int(params.get("detect_width", 160)))}
    frames = trial.extra.get("frames") if trial.extra else None
    valid = None
    n_fallback, vnotes = 0, []
    if frames is not None:  # in-memory frames (tests, generic use)
        fps = float(trial.extra.get("fps", 30.0))
        frames = np.asarray(frames)
        if params.get("crop", True):
            frames, n_fallback, vnotes = video.crop_faces(
                frames, size=size, detect_every=int(params.get("detect_every", 1)),
                detector=params.get("detector"))
    else:
        if trial.video is None:
            raise KeyError(f"trial {trial.trial_id} has no video")
        from helo.data.video import read_face_crops
        fps = float(trial.video.fps)
        frames, valid, n_fallback, vnotes = read_face_crops(
            trial.video, size=size, detect_every=int(params.get("detect_every", 1)),
            detector=params.get("detector"))
    info["n_fallback"] = info.get("n_fallback", 0) + int(n_fallback)
    info.setdefault("video_notes", []).extend(f"trial {trial.trial_id}: {n}" for n in vnotes)
    ends = _grid(frames.shape[0] / fps, params)
    X, names = video.video_features(frames, fps, ends, win, P=int(params.get("points", 8)),
                                    R=float(params.get("radius", 1)),
                                    time_radius=float(params.get("time_radius", 1)),
                                    per_trial=bool(params.get("per_trial", False)), valid=valid,
                                    ties=str(params.get("lbp_ties", "skimage")),
                                    engine=str(params.get("lbp_engine", "auto")))
    notes = video.video_notes(frames.shape[0], fps, ends, win, valid)
    return X, names, _explain(X, notes, "video")


__all__ = ["MODALITIES", "ModalityInfo", "trial_features", "signal_features", "grid_ends"]
