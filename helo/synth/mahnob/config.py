"""Sizes of a synthetic MAHNOB-HCI dataset: the presets (``tiny``, ``default``,
``mahnob-scale``) and :class:`MahnobSynthConfig`."""
from __future__ import annotations

from dataclasses import dataclass, field

#: the 20 stimuli's ``mediaFile`` stems (synthetic names in the release's style: numbers and
#: ``<name>_f``); each participant sees ``n_trials`` of them in an order of their own
CLIPS = ["69", "55", "58", "earworm_f", "53", "80", "52", "79", "73", "90", "107", "146", "30",
         "138", "newyork_f", "111", "detroit_f", "cats_f", "dallas_f", "funny_f"]

PRESETS: dict[str, dict] = {
    # three participants, three 7 s stimuli each, 2 s baselines, a 64x48 face video
    "tiny": dict(subjects=[1, 2, 3], n_trials=3, clip_seconds=(7, 7), baseline_seconds=2,
                 neutral_seconds=2, tagging_sessions=1, video_size=(64, 48),
                 missing_bdf=[(3, 3)]),
    # six participants, eight 20-30 s stimuli, 5 s baselines
    "default": dict(subjects=[1, 2, 3, 4, 5, 6], n_trials=8, clip_seconds=(20, 30),
                    baseline_seconds=5, neutral_seconds=4, tagging_sessions=2,
                    video_size=(160, 120), missing_bdf=[(4, 5)]),
    # the release's size: 20 stimuli of 35-117 s with 30 s baselines, 780x580 video
    "mahnob-scale": dict(subjects=[s for s in range(1, 31) if s not in (12, 15)], n_trials=20,
                         clip_seconds=(35, 117), baseline_seconds=30, neutral_seconds=15,
                         tagging_sessions=28, video_size=(780, 580),
                         missing_bdf=[(3, 18), (3, 19), (3, 20), (9, 15), (16, 17)]),
}


@dataclass
class MahnobSynthConfig:
    """One synthetic MAHNOB-HCI dataset (a preset plus overrides)."""

    subjects: list[int] = field(default_factory=lambda: list(PRESETS["default"]["subjects"]))
    n_trials: int = 8
    clip_seconds: tuple[int, int] = (20, 30)  # inclusive range of whole seconds
    baseline_seconds: int = 5  # recorded before and after each stimulus
    neutral_seconds: int = 4  # the neutral clip's session before each stimulus
    tagging_sessions: int = 2  # implicit-tagging sessions per participant (skipped by the reader)
    video_size: tuple[int, int] = (160, 120)  # (width, height)
    fps: int = 61
    fs: int = 256
    missing_bdf: list[tuple[int, int]] = field(default_factory=list)  # (subject, trial k)
    video: bool = True

    def validate(self) -> None:
        lo, hi = self.clip_seconds
        if not 1 <= self.n_trials <= len(CLIPS):
            raise ValueError(f"n_trials must be 1..{len(CLIPS)}")
        if not 1 <= lo <= hi:
            raise ValueError("clip_seconds must be whole seconds, 1 <= low <= high")
        if self.baseline_seconds < 1 or self.neutral_seconds < 1:
            raise ValueError("baseline_seconds and neutral_seconds must be >= 1")
        if not self.subjects or any(int(s) < 1 for s in self.subjects):
            raise ValueError("subjects are participant numbers >= 1")
        if len(set(self.subjects)) != len(self.subjects):
            raise ValueError("subjects must be distinct")


def make_config(preset: str = "default", **overrides) -> MahnobSynthConfig:
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    values = dict(PRESETS[preset])
    known = set(MahnobSynthConfig.__dataclass_fields__)
    unknown = set(overrides) - known
    if unknown:
        raise ValueError(f"unknown override(s) {sorted(unknown)}; known: {sorted(known)}")
    values.update(overrides)
    for key in ("clip_seconds", "video_size"):
        values[key] = tuple(int(v) for v in values[key])
    values["missing_bdf"] = [(int(s), int(k)) for s, k in values.get("missing_bdf", [])]
    cfg = MahnobSynthConfig(**values)
    cfg.validate()
    return cfg


__all__ = ["CLIPS", "PRESETS", "MahnobSynthConfig", "make_config"]
