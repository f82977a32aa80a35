"""Stage ``synthesize``: the seeded synthetic dataset, written only when ``data.root`` is
``data/raw/synth`` (a real dataset root leaves a ``SKIPPED.txt`` there instead)."""
from __future__ import annotations

from pathlib import Path

from helo.io import write_text
from helo.stages import params as P
from helo.stages.common import SYNTH_ROOT, uses_synthetic
from helo.stages.ownership import place


def run(params: dict, out: Path = SYNTH_ROOT) -> dict:
    out = place(out)
    if not uses_synthetic(params):
        out.mkdir(parents=True, exist_ok=True)
        write_text(out / "SKIPPED.txt", f"data.root is {P.get(params, 'data.root')}: the "
                   "synthetic generator was not run.\n")
        return {"skipped": True}
    from helo.synth import generate
    layout = P.get(params, "data.layout")  # the generator writes the layout the readers read
    return generate(layout, out, seed=int(P.get(params, "synth.seed", 0)),
                    preset=P.get(params, "synth.preset", "default"))
