"""Sizes and options of a synthetic DMER dataset: the layouts, the released subject ids, the
presets (``default``, ``dmer-scale``, ``tiny``) and :class:`DmerSynthConfig`."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from helo.data.dmer.protocol import CLIP_CATEGORIES

BANDS = ["delta", "theta", "alpha", "beta", "gamma"]
MISSING_IDS = (3, 4, 13, 16, 17, 27, 31)
RELEASED_IDS = [i for i in range(1, 81) if i not in MISSING_IDS]
LAYOUTS = ("raw", "aligned", "features", "subject-features")

# blocks of the real protocol: positive, negative, mixed A, mixed B (8 clips each)
_MIXED = list(CLIP_CATEGORIES["mixed"])
_BLOCKS = [list(CLIP_CATEGORIES["positive"]), list(CLIP_CATEGORIES["negative"]), _MIXED[:8],
           _MIXED[8:]]

PRESETS: dict[str, dict[str, Any]] = {
    "default": dict(subject_ids=[1, 2, 5, 6, 7, 8, 9, 10], n_trials=10, trial_seconds=(14, 16),
                    video_size=(160, 120), fps=30, practice_seconds=4, rest_seconds=6,
                    pre_seconds=2, post_seconds=2),
    "dmer-scale": dict(subject_ids=RELEASED_IDS, n_trials=32, trial_seconds=(20, 30),
                       video_size=(640, 480), fps=30, practice_seconds=20, rest_seconds=180,
                       pre_seconds=3, post_seconds=15),
    "tiny": dict(subject_ids=[1, 2, 5], n_trials=3, trial_seconds=(7, 7), video_size=(64, 48),
                 fps=30, practice_seconds=2, rest_seconds=3, pre_seconds=1, post_seconds=1),
}


@dataclass
class DmerSynthConfig:
    """Sizes and options of one synthetic DMER dataset (a preset plus overrides)."""

    subject_ids: list[int] = field(default_factory=lambda: list(PRESETS["default"]["subject_ids"]))
    n_trials: int = 10
    trial_seconds: tuple[int, int] = (14, 16)  # inclusive range of whole seconds
    video_size: tuple[int, int] = (160, 120)  # (width, height)
    fps: int = 30
    fs_eeg: int = 300
    fs_gsr: int = 4
    fs_ppg: int = 100
    practice_seconds: int = 4
    rest_seconds: int = 6
    pre_seconds: int = 2  # instruction before each clip
    post_seconds: int = 2  # self-report + rest after each clip (plus < 1 s jitter)
    trigger: str = "channel"  # EEG trigger as a "channel" or as EDF+ "annotations"
    eeg_extra_channels: tuple[str, ...] = ()  # e.g. ("A1", "A2"): written, reader drops them
    gsr_packet: int = 4  # samples per wristband packet (timestamp on the first)
    ppg_packet: int = 25
    video: bool = True  # write face videos
    epoch0_ms: int = 1_650_000_000_000

    def validate(self) -> None:
        lo, hi = self.trial_seconds
        if not (1 <= self.n_trials <= 32):
            raise ValueError("n_trials must be 1..32")
        if lo > hi or lo < 5:
            raise ValueError("trial_seconds must be whole seconds >= 5 (lo <= hi)")
        if self.trigger not in ("channel", "annotations"):
            raise ValueError("trigger must be 'channel' or 'annotations'")
        if len(set(self.subject_ids)) != len(self.subject_ids) or not self.subject_ids:
            raise ValueError("subject_ids must be distinct and non-empty")
        if min(self.pre_seconds, self.post_seconds, self.practice_seconds, self.rest_seconds) < 1:
            raise ValueError("gaps, practice and rest must last at least 1 s")


def make_config(preset: str = "default", **overrides) -> DmerSynthConfig:
    """A :class:`DmerSynthConfig` from a preset name and overrides (``n_subjects`` picks the first
    n ids of the preset's list, extended with further released ids when larger)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    values = dict(PRESETS[preset])
    n_subjects = overrides.pop("n_subjects", None)
    values.update(overrides)
    ids = [int(i) for i in values["subject_ids"]]
    if n_subjects is not None:
        extra = [i for i in RELEASED_IDS if i not in ids]
        extra += list(range(81, 81 + max(0, n_subjects - len(ids) - len(extra))))
        ids = (ids + extra)[:int(n_subjects)]
    values["subject_ids"] = ids
    ts = values.get("trial_seconds")
    if isinstance(ts, (int, np.integer)):
        values["trial_seconds"] = (int(ts), int(ts))
    else:
        values["trial_seconds"] = (int(ts[0]), int(ts[1]))
    values["video_size"] = tuple(int(v) for v in values["video_size"])
    values["eeg_extra_channels"] = tuple(values.get("eeg_extra_channels", ()))
    unknown = set(values) - set(DmerSynthConfig.__dataclass_fields__)
    if unknown:
        raise ValueError(f"unknown DMER synth options {sorted(unknown)}")
    cfg = DmerSynthConfig(**values)
    cfg.validate()
    return cfg


