"""Seeded synthetic AMIGOS: the preprocessed release's per-participant files, with signals that
carry the state and the release's missing data.

:func:`generate_amigos` writes, per participant ``P<nn>``::

    out/Data_Preprocessed_P<nn>/Data_Preprocessed_P<nn>.mat
        MATLAB v5 with four 1 x n_videos cells (see helo.data.amigos): joined_data
        (samples x 17 at 128 Hz: 14 EEG, ECG right, ECG left, GSR), labels_selfassessment
        (1 x 12: arousal, valence, dominance, liking, familiarity on 1-9, then seven 0/1 basic
        emotions), labels_ext_annotation (segments x 3: segment, valence, arousal per 20 s) and
        VideoIDs
    out/_ground_truth.json     what was generated (the reader ignores it)

Videos are the release's ids in its order, the first ``n_short`` of the 16 short ones and the
first ``n_long`` of the 4 long ones. Each video gets a synthetic target (a quadrant of the
valence/arousal plane and a basic emotion, :data:`TARGETS`; not the real videos' content).
Ratings are continuous with two decimals: the target's mean, a per-participant bias, noise; the
target emotion is ticked with probability 0.85, each other one with 0.08. The written valence
and arousal drive EEG (band powers, frontal asymmetry; common average reference), ECG (heart
rate) and GSR (tonic level, SCR rate) through :mod:`helo.synth.affect_signals`.

The release's missing data, reproduced: participants in ``missing_long`` (P08, P24, P28 of the
real release, where present) have empty cells for the long videos, recordings and
self-assessments alike; ``nan_subject`` (P02 where present) has one second of NaN (from
0.5 s) in its second video's recording; ``none_ticked`` (P01's first video where present) has
no basic emotion ticked. A participant's random stream depends only on ``seed`` and its number;
the file header text is fixed, so the same seed gives the same bytes.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from helo import io as hio
from helo.data.amigos import DIMENSIONS, EEG_CHANNELS, EMOTIONS, FS, ITEMS, SCALE, file_name
from helo.synth import affect_signals as sig
from helo.synth.dmer.writers import _savemat
from helo.synth.presets import preset_config

__all__ = ["generate_amigos", "PRESETS", "SHORT_IDS", "LONG_IDS", "TARGETS"]

SHORT_IDS = ["4", "5", "9", "10", "13", "18", "19", "20", "23", "30", "31", "34", "36", "58",
             "80", "138"]
LONG_IDS = ["N1", "P1", "B1", "U1"]
# synthetic targets: (valence, arousal) means on 1..9 and the emotion most often ticked
_QUADRANTS = [((7.0, 6.5), "happiness"), ((6.5, 3.0), "neutral"), ((3.0, 6.8), "fear"),
              ((3.2, 3.5), "sadness"), ((7.2, 7.0), "surprise"), ((2.8, 6.5), "disgust"),
              ((3.0, 7.2), "anger"), ((5.0, 4.0), "neutral")]
TARGETS = {vid: _QUADRANTS[k % len(_QUADRANTS)] for k, vid in enumerate(SHORT_IDS + LONG_IDS)}

PRESETS: dict[str, dict] = {
    # three participants (P08 without the long video), two short videos and one long one
    "tiny": dict(subjects=["P01", "P02", "P08"], n_short=2, n_long=1, short_s=(9.0, 11.0),
                 long_s=(12.0, 14.0)),
    # six participants, every video, short ones 25-45 s, long ones 60-90 s
    "default": dict(subjects=["P01", "P02", "P03", "P04", "P05", "P08"], n_short=16, n_long=4,
                    short_s=(25.0, 45.0), long_s=(60.0, 90.0)),
    # the release's size: 40 participants, short videos 51-150 s, long ones 14-24 min
    "amigos-scale": dict(subjects=[f"P{i:02d}" for i in range(1, 41)], n_short=16, n_long=4,
                         short_s=(51.0, 150.0), long_s=(840.0, 1440.0)),
}
_COMMON = dict(missing_long=["P08", "P24", "P28"], nan_subject="P02", none_ticked="P01")


def _config(preset: str, overrides: dict) -> dict:
    cfg = preset_config(PRESETS, _COMMON, preset, overrides)
    if not (0 <= cfg["n_short"] <= len(SHORT_IDS) and 0 <= cfg["n_long"] <= len(LONG_IDS)):
        raise ValueError(f"n_short must be 0..{len(SHORT_IDS)}, n_long 0..{len(LONG_IDS)}")
    return cfg


def _row(arrays: list) -> np.ndarray:
    """A ``1 x len`` MATLAB cell of ``arrays``."""
    out = np.empty((1, len(arrays)), dtype=object)
    for k, a in enumerate(arrays):
        out[0, k] = a
    return out


def _self_assessment(rng, vid: str, bias: np.ndarray, none_ticked: bool) -> np.ndarray:
    (val, aro), emotion = TARGETS[vid]
    mean = np.array([aro, val, 5.0 + 0.3 * (val - 5.0), val - 0.5, 4.0])
    dims = np.clip(np.round(mean + bias + rng.normal(0.0, 0.8, 5), 2), *SCALE)
    ticks = rng.random(len(EMOTIONS)) < 0.08
    ticks[EMOTIONS.index(emotion)] = rng.random() < 0.85
    if not ticks.any():
        ticks[EMOTIONS.index(emotion)] = True
    if none_ticked:
        ticks[:] = False
    return np.concatenate([dims, ticks.astype(np.float64)])[None, :]


def _recording(rng, seconds: float, v: float, a: float, subj: dict) -> np.ndarray:
    n = int(round(seconds * FS))
    eeg = sig.eeg(rng, n, FS, EEG_CHANNELS, v, a, subj)
    eeg -= eeg.mean(axis=1, keepdims=True)  # common average reference, as released
    ecg = sig.ecg(rng, n, FS, a, subj)
    gsr = sig.gsr(rng, n, FS, a, subj)
    return np.column_stack([eeg, ecg, gsr])


def _ext_annotation(rng, seconds: float, v: float, a: float) -> np.ndarray:
    n_seg = max(1, int(np.ceil(seconds / 20.0)))
    seg = np.arange(1, n_seg + 1, dtype=np.float64)
    val = np.clip(0.6 * v + rng.normal(0.0, 0.15, n_seg), -1, 1)
    aro = np.clip(0.6 * a + rng.normal(0.0, 0.15, n_seg), -1, 1)
    return np.column_stack([seg, np.round(val, 3), np.round(aro, 3)])


def _participant(rng, sid: str, cfg: dict, videos: list[str], seconds: dict) -> tuple[dict, dict]:
    subj = sig.subject_params(rng)
    bias = rng.normal(0.0, 0.6, 5)
    empty = np.zeros((0, 0))
    data, labels, ext = [], [], []
    truth = {"videos": {}, "subject_params": subj}
    for k, vid in enumerate(videos):
        if vid in LONG_IDS and sid in cfg["missing_long"]:
            data.append(empty)
            labels.append(empty)
            ext.append(empty)
            truth["videos"][vid] = None
            continue
        lab = _self_assessment(rng, vid, bias, sid == cfg["none_ticked"] and k == 0)
        v, a = sig.state(lab[0, 1], lab[0, 0], SCALE)
        rec = _recording(rng, seconds[vid], v, a, subj)
        nan_span = None
        if sid == cfg["nan_subject"] and k == 1:
            nan_span = [int(FS) // 2, int(FS) // 2 + int(FS)]
            rec[nan_span[0]:nan_span[1]] = np.nan
        data.append(rec)
        labels.append(lab)
        ext.append(_ext_annotation(rng, seconds[vid], v, a))
        truth["videos"][vid] = {"labels": dict(zip(ITEMS, lab[0].tolist())),
                                "n_samples": int(rec.shape[0]), "nan_span": nan_span}
    mat = {"joined_data": _row(data), "labels_selfassessment": _row(labels),
           "labels_ext_annotation": _row(ext), "VideoIDs": _row(list(videos))}
    return mat, truth


def generate_amigos(out, *, seed: int = 0, preset: str = "default", progress: bool = True,
                    **overrides) -> dict:
    """Write a synthetic AMIGOS preprocessed release under ``out``; return (and write) the
    ground truth. ``overrides`` replace preset keys: ``subjects`` (``"P<nn>"``), ``n_short``,
    ``n_long``, ``short_s``/``long_s`` (ranges of video durations in seconds),
    ``missing_long``, ``nan_subject``, ``none_ticked``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = _config(preset, overrides)
    t0 = time.perf_counter()
    videos = SHORT_IDS[:cfg["n_short"]] + LONG_IDS[:cfg["n_long"]]
    video_rng = np.random.default_rng([seed, 0])
    seconds = {vid: float(np.round(video_rng.uniform(
        *(cfg["long_s"] if vid in LONG_IDS else cfg["short_s"])), 2)) for vid in videos}
    truth = {"generator": "helo synth --layout amigos", "seed": seed, "preset": preset,
             "config": cfg, "fs": FS, "items": list(ITEMS), "dimensions": list(DIMENSIONS),
             "video_seconds": seconds, "subjects": {}}
    for sid in cfg["subjects"]:
        ts = time.perf_counter()
        rng = np.random.default_rng([seed, int(sid[1:])])
        mat, truth["subjects"][sid] = _participant(rng, sid, cfg, videos, seconds)
        folder = out / file_name(sid)
        folder.mkdir(parents=True, exist_ok=True)
        _savemat(folder / f"{file_name(sid)}.mat", mat)
        if progress:
            print(f"[synth-amigos] {sid}: {time.perf_counter() - ts:.2f} s", file=sys.stderr,
                  flush=True)
    hio.write_json(out / "_ground_truth.json", truth, significant=10)
    truth["elapsed_s"] = round(time.perf_counter() - t0, 3)
    return truth
