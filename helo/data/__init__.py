"""Readers, one per on-disk layout, and the synthetic generator that writes those layouts.

``open_reader(layout, root)`` returns a :class:`~helo.data.base.Reader`.
"""
from __future__ import annotations

from importlib import import_module
from pathlib import Path

from helo.data.base import (
    DataError,
    FeatureBlock,
    Problem,
    Reader,
    Signal,
    Subject,
    Trial,
    VideoRef,
)

# layout name -> (module, class)
LAYOUTS = {
    "dmer-raw": ("helo.data.dmer", "DmerRawReader"),
    "dmer-aligned": ("helo.data.dmer", "DmerAlignedReader"),
    "dmer-features": ("helo.data.dmer", "DmerFeaturesReader"),
    "dmer-subject-features": ("helo.data.dmer", "DmerSubjectFeaturesReader"),
    "wesad": ("helo.data.wesad", "WesadReader"),
    "generic": ("helo.data.generic", "GenericFeaturesReader"),
    "bids": ("helo.data.bids", "BidsReader"),
    "seed": ("helo.data.seed", "SeedReader"),
    "seed-features": ("helo.data.seed", "SeedFeaturesReader"),
    "seed-iv": ("helo.data.seed", "SeedIVReader"),
    "seed-iv-features": ("helo.data.seed", "SeedIVFeaturesReader"),
    "deap": ("helo.data.deap", "DeapReader"),
    "deap-bdf": ("helo.data.deap", "DeapBdfReader"),
    "dreamer": ("helo.data.dreamer", "DreamerReader"),
    "amigos": ("helo.data.amigos", "AmigosReader"),
    "mahnob": ("helo.data.mahnob", "MahnobReader"),
}


def open_reader(layout: str, root: str | Path, **options) -> Reader:
    """Open ``root`` as a dataset in ``layout`` (one of :data:`LAYOUTS`)."""
    try:
        module, cls = LAYOUTS[layout]
    except KeyError:
        raise ValueError(f"unknown layout {layout!r}; choose one of {sorted(LAYOUTS)}") from None
    root = Path(root)
    if not root.exists():
        raise DataError("dataset root does not exist", path=root)
    return getattr(import_module(module), cls)(root, **options)


def layouts_found(root: str | Path, exclude: str | None = None) -> dict[str, int]:
    """``{layout: number of subjects}`` for every layout (but ``exclude``) whose reader finds
    subjects under ``root``: what a folder looks like when the requested layout finds nothing.
    Each reader's own ``subjects()`` is the sniff, so a layout added to :data:`LAYOUTS` is
    recognised without more code."""
    found = {}
    for name in LAYOUTS:
        if name == exclude:
            continue
        try:
            n = len(open_reader(name, root).subjects())
        except Exception:  # noqa: BLE001 - a layout that cannot even list the folder: not it
            continue
        if n:
            found[name] = n
    return found


def no_subjects_message(layout: str, root: str | Path) -> str:
    """The message for "``layout`` finds no subject under ``root``", naming the layouts the
    folder does look like (or saying that none does)."""
    found = layouts_found(root, exclude=layout)
    if found:
        looks = ", ".join(f"{k} ({n} subject(s))" for k, n in found.items())
        return (f"no subjects found under {root} as layout {layout!r}; the folder looks like "
                f"{looks}: set data.layout (or --layout) accordingly")
    return (f"no subjects found under {root} as layout {layout!r}, and it does not look like "
            f"any other layout either ({', '.join(sorted(LAYOUTS))}); see README.md")


__all__ = ["open_reader", "LAYOUTS", "layouts_found", "no_subjects_message", "DataError",
           "Problem", "Reader", "Signal", "Subject", "Trial", "VideoRef", "FeatureBlock"]
