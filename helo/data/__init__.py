"""Readers, one per on-disk layout, and the synthetic generator that writes those layouts.

``open_reader(layout, root)`` returns a :class:`~helo.data.base.Reader`.
"""
from __future__ import annotations

from importlib import import_module
from pathlib import Path

from helo.data.base import (DataError, Problem, Reader, Signal, Subject, Trial, VideoRef, FeatureBlock)

# layout name -> (module, class)
LAYOUTS = {
    "dmer-raw": ("helo.data.dmer", "DmerRawReader"),
    "dmer-aligned": ("helo.data.dmer", "DmerAlignedReader"),
    "dmer-features": ("helo.data.dmer", "DmerFeaturesReader"),
    "dmer-subject-features": ("helo.data.dmer", "DmerSubjectFeaturesReader"),
    "wesad": ("helo.data.wesad", "WesadReader"),
    "generic": ("helo.data.generic", "GenericFeaturesReader"),
    "bids": ("helo.data.bids", "BidsReader"),
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


__all__ = ["open_reader", "LAYOUTS", "DataError", "Problem", "Reader", "Signal", "Subject",
           "Trial", "VideoRef", "FeatureBlock"]
