"""Seeded synthetic datasets written in the real on-disk layouts (DMER raw/aligned/features,
WESAD), so the readers' real code paths are what reads them.

``generate(layout, out, seed=0, preset="default")`` dispatches to
:func:`helo.pipeline.datasets.synth.dmer.generate_dmer` or
:func:`helo.pipeline.datasets.synth.wesad.generate_wesad` and returns the ground truth (also
written as ``out/_ground_truth.json``).
"""
from __future__ import annotations

from pathlib import Path


def generate(layout: str, out: str | Path, *, seed: int = 0, preset: str = "default",
             progress: bool = True, **overrides) -> dict:
    if layout in ("dmer-raw", "dmer-aligned", "dmer-features"):
        from .dmer import generate_dmer
        return generate_dmer(Path(out), layout=layout.split("-", 1)[1], seed=seed,
                             preset=preset, progress=progress, **overrides)
    if layout == "wesad":
        from .wesad import generate_wesad
        return generate_wesad(Path(out), seed=seed, preset=preset, progress=progress,
                              **overrides)
    raise ValueError(f"the synthetic generator writes dmer-raw, dmer-aligned, dmer-features or "
                     f"wesad, not {layout!r}")
