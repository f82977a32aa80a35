"""Seeded synthetic datasets written in the real on-disk layouts, so the readers' real code
paths are what reads them: every layout of :data:`GENERATORS` (DMER raw/aligned/features/
subject-features, WESAD, BIDS, generic with label distributions, and the public emotion data
sets' own layouts).

``generate(layout, out, seed=0, preset="default")`` calls the layout's generator and returns
the ground truth (also written as ``out/_ground_truth.json``).
"""
from __future__ import annotations

from importlib import import_module
from pathlib import Path

#: layout -> (module, function, keyword arguments it takes besides out/seed/preset/progress)
GENERATORS: dict[str, tuple[str, str, dict]] = {
    "dmer-raw": ("helo.synth.dmer", "generate_dmer", {"layout": "raw"}),
    "dmer-aligned": ("helo.synth.dmer", "generate_dmer", {"layout": "aligned"}),
    "dmer-features": ("helo.synth.dmer", "generate_dmer", {"layout": "features"}),
    "dmer-subject-features": ("helo.synth.dmer", "generate_dmer",
                              {"layout": "subject-features"}),
    "wesad": ("helo.synth.wesad", "generate_wesad", {}),
    "bids": ("helo.synth.bids", "generate_bids", {}),
    "generic": ("helo.synth.generic", "generate_generic", {}),
    "dreamer": ("helo.synth.dreamer", "generate_dreamer", {}),
    "amigos": ("helo.synth.amigos", "generate_amigos", {}),
    "mahnob": ("helo.synth.mahnob", "generate_mahnob", {}),
    "deap": ("helo.synth.deap", "generate_deap", {}),
    "deap-bdf": ("helo.synth.deap", "generate_deap_bdf", {}),
    "seed": ("helo.synth.seed", "generate_seed", {"layout": "seed"}),
    "seed-features": ("helo.synth.seed", "generate_seed", {"layout": "seed-features"}),
    "seed-iv": ("helo.synth.seed", "generate_seed", {"layout": "seed-iv"}),
    "seed-iv-features": ("helo.synth.seed", "generate_seed", {"layout": "seed-iv-features"}),
}


def generate(layout: str, out: str | Path, *, seed: int = 0, preset: str = "default",
             progress: bool = True, **overrides) -> dict:
    try:
        module, function, fixed = GENERATORS[layout]
    except KeyError:
        raise ValueError(f"the synthetic generator writes {', '.join(GENERATORS)}, not "
                         f"{layout!r}") from None
    gen = getattr(import_module(module), function)
    return gen(Path(out), seed=seed, preset=preset, progress=progress, **fixed, **overrides)


def manifest(folder: str | Path) -> dict[str, dict]:
    """``{relative path: {"sha256", "bytes"}}`` of every file under ``folder`` (sorted, POSIX
    paths): what the environment guard test compares with its committed copy."""
    import hashlib
    folder = Path(folder)
    out: dict[str, dict] = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h = hashlib.sha256()
            with open(p, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
            out[p.relative_to(folder).as_posix()] = {"sha256": h.hexdigest(),
                                                     "bytes": p.stat().st_size}
    return out


def manifest_diff(expected: dict[str, dict], actual: dict[str, dict]) -> list[str]:
    """One line per file that is new, missing or whose bytes changed (empty when identical)."""
    lines = []
    for rel in sorted(set(expected) | set(actual)):
        e, a = expected.get(rel), actual.get(rel)
        if e is None:
            lines.append(f"{rel}: new file ({a['bytes']} bytes)")
        elif a is None:
            lines.append(f"{rel}: missing (expected {e['bytes']} bytes)")
        elif e["sha256"] != a["sha256"]:
            lines.append(f"{rel}: content changed ({e['bytes']} -> {a['bytes']} bytes)")
    return lines
