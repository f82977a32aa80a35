"""Seeded synthetic DEAP in the preprocessed Python layout (``deap``)::

    out/data_preprocessed_python/sNN.dat    Python 2 pickle (protocol 2, as cPickle wrote it):
                                            {'labels': float64 (videos, 4),
                                             'data': float64 (videos, 40, (baseline + stimulus)
                                                              x 128)}
    out/Metadata/participant_ratings.csv    Participant_id, Trial, Experiment_id, Start_time,
                                            Valence, Arousal, Dominance, Liking, Familiarity
    out/_ground_truth.json                  what was generated (readers ignore it)

Rows of ``data`` and ``labels`` are in video order; each participant saw the videos in their own
random order (the table's ``Trial``). A row is the pre-trial baseline (affect neutral) then the
stimulus (the participant's ratings of that video drive the signals,
:mod:`helo.synth.deap.signals`), EEG band-limited to 4-45 Hz and re-referenced to the common
average as DEAP's preprocessing does. The table repeats the ratings of ``labels`` (two
decimals, so both hold the same numbers) and leaves ``Familiarity`` empty for participants 2, 15
and 23, as the real one does.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from helo import io as hio
from helo.data.deap.common import CHANNELS, RATINGS
from helo.synth.deap.signals import affect, ratings, span_channels, subject_params
from helo.synth.presets import preset_config
from helo.synth.wesad import write_py2_pickle

__all__ = ["generate_deap", "PRESETS", "FS", "ratings_table"]

FS = 128
PRESETS: dict[str, dict] = {
    # three participants, three 8-s videos: unit tests and the end-to-end test
    "tiny": dict(subjects=[1, 2, 3], videos=3, stimulus_s=8.0),
    # six participants, eight 20-s videos: the whole pipeline stays small
    "default": dict(subjects=[1, 2, 3, 4, 5, 6], videos=8, stimulus_s=20.0),
    # the real release's size: 32 participants x 40 one-minute videos (about 3.3 GB)
    "deap-scale": dict(subjects=list(range(1, 33)), videos=40, stimulus_s=60.0),
}
_COMMON = dict(baseline_s=3.0, no_familiarity=[2, 15, 23], fixation_s=5.0, post_s=3.0,
               rating_s=15.0, rest_s=120.0)
HEADER = ["Participant_id", "Trial", "Experiment_id", "Start_time", "Valence", "Arousal",
          "Dominance", "Liking", "Familiarity"]


def _config(preset: str, overrides: dict) -> dict:
    return preset_config(PRESETS, _COMMON, preset, overrides)


def video_rng(seed: int):
    """Video ``k``'s generator, shared by all participants (its centre on the circumplex)."""
    return lambda k: np.random.default_rng([seed, 1000 + int(k)])


def ratings_table(rows: list[list]) -> str:
    """The CSV text of ``participant_ratings.csv`` rows (one list per trial, :data:`HEADER`
    order; None is an empty cell)."""
    def cell(x):
        return "" if x is None else repr(x) if isinstance(x, float) else str(x)
    return ",".join(HEADER) + "\n" + "".join(",".join(cell(c) for c in r) + "\n" for r in rows)


def participant(seed: int, n: int, cfg: dict) -> dict:
    """One participant's ratings, presentation order and familiarity (shared by both DEAP
    generators, so a seed gives the same people in both layouts)."""
    rng = np.random.default_rng([seed, n])
    videos = list(range(1, int(cfg["videos"]) + 1))
    par = subject_params(rng)
    rat = ratings(rng, video_rng(seed), videos)
    order = [int(k) for k in rng.permutation(videos)]
    fam = {k: (None if n in cfg["no_familiarity"] else int(rng.integers(1, 6))) for k in videos}
    return dict(rng=rng, par=par, ratings=rat, order=order, familiarity=fam)


def generate_deap(out, *, seed: int = 0, preset: str = "default", progress: bool = True,
                  return_signals: bool = False, **overrides) -> dict:
    """Write a synthetic ``deap`` tree under ``out``; return (and write) the ground truth.

    ``overrides`` replace preset keys: ``subjects`` (participant numbers), ``videos`` (how many),
    ``stimulus_s``, ``baseline_s``, ``no_familiarity``. A participant's random stream depends
    only on ``seed`` and its number. ``return_signals``: the returned truth also holds
    ``signals[sid]``, the ``data`` array written (not in the JSON file)."""
    out = Path(out)
    cfg = _config(preset, overrides)
    t0 = time.perf_counter()
    n_base = int(round(cfg["baseline_s"] * FS))
    n_stim = int(round(cfg["stimulus_s"] * FS))
    truth = {"generator": "helo synth --layout deap", "seed": seed, "preset": preset,
             "config": cfg, "fs": FS, "channels": list(CHANNELS), "ratings_items": list(RATINGS),
             "baseline_samples": n_base, "subjects": {}}
    signals = {}
    rows = []
    period = cfg["fixation_s"] + cfg["baseline_s"] + cfg["stimulus_s"] + cfg["post_s"] \
        + cfg["rating_s"]
    for n in cfg["subjects"]:
        ts = time.perf_counter()
        sid = f"s{int(n):02d}"
        p = participant(seed, int(n), cfg)
        rng, par = p["rng"], p["par"]
        data = np.empty((int(cfg["videos"]), len(CHANNELS), n_base + n_stim))
        for pos, k in enumerate(p["order"]):
            v, a = affect(*p["ratings"][k][:2])
            base = span_channels(rng, par, n_base, FS, 0.0, 0.0)
            stim = span_channels(rng, par, n_stim, FS, v, a)
            data[k - 1] = np.concatenate([base, stim]).T
            start_us = int(round((cfg["rest_s"] + pos * period + cfg["fixation_s"]
                                  + cfg["baseline_s"]) * 1e6))
            rows.append([int(n), pos + 1, k, start_us, *p["ratings"][k], p["familiarity"][k]])
        labels = np.array([p["ratings"][k] for k in sorted(p["ratings"])], dtype=np.float64)
        write_py2_pickle({"labels": labels, "data": data},
                         out / "data_preprocessed_python" / f"{sid}.dat")
        truth["subjects"][sid] = {
            "participant": int(n), "ratings": {str(k): r for k, r in p["ratings"].items()},
            "presentation": p["order"],
            "familiarity": {str(k): f for k, f in p["familiarity"].items()}}
        if return_signals:
            signals[sid] = data
        if progress:
            print(f"[synth-deap] {sid}: {len(p['order'])} videos, "
                  f"{time.perf_counter() - ts:.2f} s", file=sys.stderr, flush=True)
    hio.write_text(out / "Metadata" / "participant_ratings.csv", ratings_table(rows))
    hio.write_json(out / "_ground_truth.json", truth, significant=10)
    truth["elapsed_s"] = round(time.perf_counter() - t0, 3)
    if return_signals:
        truth["signals"] = signals
    return truth
