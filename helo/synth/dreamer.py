"""Seeded synthetic DREAMER: the release's one ``DREAMER.mat``, with signals carrying the state.

:func:`generate_dreamer` writes::

    out/DREAMER.mat            MATLAB v5, the struct DREAMER as released (see helo.data.dreamer):
                               Data (1 x n cell of participant structs: Age, Gender,
                               EEG/ECG {baseline, stimuli: clips x 1 cells of samples x 14 / 2},
                               ScoreValence/ScoreArousal/ScoreDominance clips x 1),
                               EEG_SamplingRate 128, ECG_SamplingRate 256, EEG_Electrodes,
                               noOfSubjects, noOfVideoSequences, Disclaimer, Provider, Version,
                               Acknowledgement
    out/_ground_truth.json     what was generated (the reader ignores it)

Ratings (integers 1-5): each clip's target emotion (:data:`helo.data.dreamer.CLIP_EMOTIONS`)
gives mean valence, arousal and dominance (:data:`TARGET`), shifted by a per-participant bias
and noise. The written valence and arousal drive the signals
(:mod:`helo.synth.affect_signals`): EEG band powers and frontal asymmetry, ECG heart rate. A
clip's duration is the same for every participant (they saw the same films); the baseline
recording before each clip is a neutral-state recording of ``baseline_s`` seconds. EEG carries
the Emotiv's DC offset (about 4200 uV per channel), as the released EEG does. Each
participant's random stream depends only on ``seed`` and the participant's position, so a
participant is the same whichever others are generated. The file's header text is fixed, so the
same seed gives the same bytes.
"""
from __future__ import annotations

import copy
import sys
import time
from pathlib import Path

import numpy as np

from helo import io as hio
from helo.data.dreamer import CLIP_EMOTIONS, EEG_CHANNELS, FILE, ITEMS, SCALE
from helo.synth import affect_signals as sig
from helo.synth.dmer.writers import _savemat

__all__ = ["generate_dreamer", "PRESETS", "TARGET", "FS_EEG", "FS_ECG"]

FS_EEG, FS_ECG = 128, 256
#: mean (valence, arousal, dominance) on 1..5 of each target emotion
TARGET = {"calmness": (3.8, 1.8, 3.5), "surprise": (3.1, 3.5, 3.0),
          "amusement": (4.2, 3.1, 3.6), "fear": (1.9, 4.0, 2.2),
          "excitement": (3.9, 4.0, 3.6), "disgust": (1.8, 3.4, 2.6),
          "happiness": (4.3, 3.2, 3.8), "anger": (1.7, 3.8, 2.8), "sadness": (1.6, 2.5, 2.4)}

PRESETS: dict[str, dict] = {
    # three participants, three clips of about 10 s: unit and end-to-end tests
    "tiny": dict(n_subjects=3, n_clips=3, stimulus_s=(9.0, 11.0), baseline_s=4.0),
    # six participants, all 18 clips of 30-50 s: the whole pipeline stays small
    "default": dict(n_subjects=6, n_clips=18, stimulus_s=(30.0, 50.0), baseline_s=10.0),
    # the release's size: 23 participants, 18 clips of 65-393 s, 61 s baselines
    "dreamer-scale": dict(n_subjects=23, n_clips=18, stimulus_s=(65.0, 393.0), baseline_s=61.0),
}


def _config(preset: str, overrides: dict) -> dict:
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    cfg = copy.deepcopy(PRESETS[preset])
    unknown = set(overrides) - set(cfg)
    if unknown:
        raise ValueError(f"unknown override(s) {sorted(unknown)}; known: {sorted(cfg)}")
    cfg.update(copy.deepcopy(overrides))
    if not 1 <= cfg["n_clips"] <= len(CLIP_EMOTIONS):
        raise ValueError(f"n_clips must be 1..{len(CLIP_EMOTIONS)}")
    return cfg


def _cell(arrays: list[np.ndarray]) -> np.ndarray:
    """A ``len x 1`` MATLAB cell of ``arrays``."""
    out = np.empty((len(arrays), 1), dtype=object)
    for k, a in enumerate(arrays):
        out[k, 0] = a
    return out


def _ratings(rng: np.random.Generator, n_clips: int) -> np.ndarray:
    """``(n_clips, 3)`` integer valence, arousal, dominance on 1..5."""
    bias = rng.normal(0.0, 0.4, size=3)
    mean = np.array([TARGET[CLIP_EMOTIONS[k]] for k in range(n_clips)])
    return np.clip(np.round(mean + bias + rng.normal(0.0, 0.6, size=mean.shape)), *SCALE)


def _participant(rng, cfg: dict, durations: list[float]) -> tuple[dict, dict]:
    subj = sig.subject_params(rng)
    scores = _ratings(rng, cfg["n_clips"])
    offset = rng.normal(4200.0, 150.0, size=len(EEG_CHANNELS))
    eeg_stim, ecg_stim, eeg_base, ecg_base, n_eeg = [], [], [], [], []
    for k, seconds in enumerate(durations):
        v, a = sig.state(scores[k, 0], scores[k, 1], SCALE)
        n = int(round(seconds * FS_EEG))
        eeg_stim.append(offset + sig.eeg(rng, n, FS_EEG, EEG_CHANNELS, v, a, subj))
        ecg_stim.append(sig.ecg(rng, 2 * n, FS_ECG, a, subj))
        nb = int(round(cfg["baseline_s"] * FS_EEG))
        eeg_base.append(offset + sig.eeg(rng, nb, FS_EEG, EEG_CHANNELS, 0.0, 0.0, subj))
        ecg_base.append(sig.ecg(rng, 2 * nb, FS_ECG, 0.0, subj))
        n_eeg.append(n)
    age = int(rng.integers(22, 34))
    struct = {"Age": str(age), "Gender": "male" if rng.random() < 0.6 else "female",
              "EEG": {"baseline": _cell(eeg_base), "stimuli": _cell(eeg_stim)},
              "ECG": {"baseline": _cell(ecg_base), "stimuli": _cell(ecg_stim)},
              "ScoreValence": scores[:, :1].copy(), "ScoreArousal": scores[:, 1:2].copy(),
              "ScoreDominance": scores[:, 2:3].copy()}
    truth = {"age": age, "scores": {item: scores[:, j].tolist() for j, item in enumerate(ITEMS)},
             "n_eeg": n_eeg, "n_ecg": [2 * n for n in n_eeg], "subject_params": subj}
    return struct, truth


def generate_dreamer(out, *, seed: int = 0, preset: str = "default", progress: bool = True,
                     **overrides) -> dict:
    """Write a synthetic ``DREAMER.mat`` under ``out``; return (and write) the ground truth.

    ``overrides`` replace preset keys: ``n_subjects``, ``n_clips`` (1..18, the first clips),
    ``stimulus_s`` (range of clip durations in seconds), ``baseline_s``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = _config(preset, overrides)
    t0 = time.perf_counter()
    clip_rng = np.random.default_rng([seed, 0])
    durations = [float(np.round(clip_rng.uniform(*cfg["stimulus_s"]), 2))
                 for _ in range(cfg["n_clips"])]
    data = np.empty((1, cfg["n_subjects"]), dtype=object)
    truth = {"generator": "helo synth --layout dreamer", "seed": seed, "preset": preset,
             "config": cfg, "fs": {"eeg": FS_EEG, "ecg": FS_ECG}, "items": list(ITEMS),
             "clip_seconds": durations, "subjects": {}}
    for s in range(cfg["n_subjects"]):
        ts = time.perf_counter()
        rng = np.random.default_rng([seed, s + 1])
        data[0, s], truth["subjects"][str(s + 1)] = _participant(rng, cfg, durations)
        if progress:
            print(f"[synth-dreamer] participant {s + 1}: {time.perf_counter() - ts:.2f} s",
                  file=sys.stderr, flush=True)
    electrodes = np.empty((1, len(EEG_CHANNELS)), dtype=object)
    electrodes[0, :] = EEG_CHANNELS
    _savemat(out / FILE, {"DREAMER": {
        "Data": data, "EEG_SamplingRate": float(FS_EEG), "ECG_SamplingRate": float(FS_ECG),
        "EEG_Electrodes": electrodes, "noOfSubjects": float(cfg["n_subjects"]),
        "noOfVideoSequences": float(cfg["n_clips"]),
        "Disclaimer": "Synthetic data written by helo synth --layout dreamer; no person was "
                      "recorded.",
        "Provider": "helo", "Version": "synthetic", "Acknowledgement": "none"}})
    hio.write_json(out / "_ground_truth.json", truth, significant=10)
    truth["elapsed_s"] = round(time.perf_counter() - t0, 3)
    return truth
