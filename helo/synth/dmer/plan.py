"""The plan of one synthetic DMER session: when each trial, marker and stream starts.

Timeline of a raw session (session clock in integer ms, the video starts at 0): practice trial
(codes 50/60), a rest (40/50), then per trial an instruction gap, the clip (code k+10 at its start,
k+100 at its end, whole seconds long), then the self-report/rest gap. The EEG recording starts a
little before the video, the wristband (GSR/PPG) a little after; each stream carries every code
at the first of its own samples at or after the event time, so a clip of T seconds spans exactly
``T * fs`` samples (``T * fps`` frames) in every stream.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from helo.data.dmer.protocol import clip_category
from helo.synth.dmer.config import DmerSynthConfig
from helo.synth.dmer.truth import _presentation, _rng, _self_reports


@dataclass
class _Plan:
    sid: int
    trials: list[dict]  # clip, order, category, seconds, t0/t1 (session ms) + self-reports
    events: list[tuple[int, int]]  # (code, session ms)
    end_ms: int  # end of the video
    eeg_start_ms: int  # session ms of EEG sample 0 (negative: before the video)
    eeg_n: int
    wrist_start_ms: int
    gsr_n: int
    ppg_n: int
    epoch_ms: int  # epoch of session ms 0 (video frame 0)
    rest: tuple[int, int] = (0, 0)  # session ms of the rest segment (codes 40 / 50)


def _index(t_ms: int, start_ms: int, fs: int) -> int:
    """First sample at or after ``t_ms`` of a stream whose sample 0 lies at ``start_ms``."""
    return -((-(t_ms - start_ms) * fs) // 1000)


def _plan(cfg: DmerSynthConfig, seed: int, sid: int, clip_int: np.ndarray) -> _Plan:
    r = _rng(seed, sid, 2)
    clips = _presentation(cfg, sid, r)
    reports = _self_reports(seed, sid, clips, clip_int)
    lo, hi = cfg.trial_seconds
    t = 1000 + int(r.integers(0, 500))
    events = [(50, t)]
    t += cfg.practice_seconds * 1000
    events.append((60, t))
    t += 1000 + int(r.integers(0, 500))
    events.append((40, t))
    t += cfg.rest_seconds * 1000
    events.append((50, t))
    rest = (events[-2][1], events[-1][1])
    trials = []
    for order, rep in enumerate(reports):
        t += cfg.pre_seconds * 1000 + int(r.integers(0, 1000))
        secs = int(r.integers(lo, hi + 1))
        t0, t1 = t, t + secs * 1000
        events += [(rep["clip"] + 10, t0), (rep["clip"] + 100, t1)]
        trials.append(dict(rep, trial_id=str(rep["clip"]), order=order,
                           category=clip_category(rep["clip"]), seconds=secs, t0=t0, t1=t1))
        t = t1 + cfg.post_seconds * 1000 + int(r.integers(0, 1000))
    end_ms = t + 1000
    eeg_start = -int(r.integers(300, 2500))
    eeg_n = int(math.ceil((end_ms + 500 - eeg_start) / 1000)) * cfg.fs_eeg  # whole seconds
    wrist_start = int(r.integers(200, 900))
    gsr_n = _index(end_ms, wrist_start, cfg.fs_gsr)
    ppg_n = _index(end_ms, wrist_start, cfg.fs_ppg)
    epoch = cfg.epoch0_ms + sid * 86_400_000 + int(r.integers(0, 3_600_000))
    return _Plan(sid, trials, events, end_ms, eeg_start, eeg_n, wrist_start, gsr_n, ppg_n, epoch,
                 rest)


def _affect_at(plan: _Plan, n: int, start_ms: int, fs: float) -> np.ndarray:
    """(n, 3) pos/neg/arousal per sample of a stream (0 outside clips)."""
    out = np.zeros((n, 3))
    for tr in plan.trials:
        a = max(0, _index(tr["t0"], start_ms, int(fs)))
        b = max(0, _index(tr["t1"], start_ms, int(fs)))
        af = tr["affect"]
        out[a:b] = af["pos"], af["neg"], af["arousal"]
    return out


def _lag(x: np.ndarray, fs: float, tau: float) -> np.ndarray:
    from scipy.signal import lfilter
    a = math.exp(-1.0 / (fs * tau))
    y, _ = lfilter([1 - a], [1, -a], x, axis=0, zi=x[:1] * a)
    return y
