"""Stage ``synthesize``: the seeded synthetic dataset, written only when ``data.root`` is
``data/raw/synth`` (a real dataset root leaves a ``SKIPPED.txt`` there instead)."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from helo.io import write_text
from helo.stages.common import SYNTH_ROOT, config_of, uses_synthetic
from helo.stages.ownership import place

if TYPE_CHECKING:
    from helo.stages.schema import Params


def run(cfg: Params, out: Path = SYNTH_ROOT) -> dict:
    cfg = config_of(cfg)
    out = place(out)
    if not uses_synthetic(cfg):
        out.mkdir(parents=True, exist_ok=True)
        write_text(out / "SKIPPED.txt", f"data.root is {cfg.data.root}: the "
                   "synthetic generator was not run.\n")
        return {"skipped": True}
    from helo.synth import generate
    # the generator writes the layout the readers read
    return generate(cfg.data.layout, out, seed=cfg.synth.seed, preset=cfg.synth.preset)
