"""Seeded synthetic datasets written in the real on-disk layouts (DMER raw/aligned/features/
subject-features, WESAD, BIDS, MAHNOB-HCI, generic with label distributions), so the readers'
real code paths are what reads them.

``generate(layout, out, seed=0, preset="default")`` dispatches to
:func:`helo.synth.dmer.generate_dmer`, :func:`helo.synth.wesad.generate_wesad`,
:func:`helo.synth.bids.generate_bids`, :func:`helo.synth.mahnob.generate_mahnob` or
:func:`helo.synth.generic.generate_generic` and returns the ground truth (also written as
``out/_ground_truth.json``).
"""
from __future__ import annotations

from pathlib import Path


def generate(layout: str, out: str | Path, *, seed: int = 0, preset: str = "default",
             progress: bool = True, **overrides) -> dict:
    if layout in ("dmer-raw", "dmer-aligned", "dmer-features", "dmer-subject-features"):
        from helo.synth.dmer import generate_dmer
        return generate_dmer(Path(out), layout=layout.split("-", 1)[1], seed=seed,
                             preset=preset, progress=progress, **overrides)
    if layout == "wesad":
        from helo.synth.wesad import generate_wesad
        return generate_wesad(Path(out), seed=seed, preset=preset, progress=progress,
                              **overrides)
    if layout == "bids":
        from helo.synth.bids import generate_bids
        return generate_bids(Path(out), seed=seed, preset=preset, progress=progress, **overrides)
    if layout == "mahnob":
        from helo.synth.mahnob import generate_mahnob
        return generate_mahnob(Path(out), seed=seed, preset=preset, progress=progress,
                               **overrides)
    if layout == "generic":
        from helo.synth.generic import generate_generic
        return generate_generic(Path(out), seed=seed, preset=preset, progress=progress,
                                **overrides)
    raise ValueError(f"the synthetic generator writes dmer-raw, dmer-aligned, dmer-features, "
                     f"dmer-subject-features, wesad, bids, mahnob or generic, not {layout!r}")


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
