"""Readers, one per on-disk layout, and the synthetic generator that writes those layouts.

``open_reader(layout, root)`` returns a :class:`~helo.pipeline.datasets.base.Reader`.
"""
from __future__ import annotations

from importlib import import_module
from pathlib import Path

from .base import DataError, Problem, Reader, Signal, Subject, Trial, VideoRef, FeatureBlock

# layout name -> (module, class)
LAYOUTS = {
    "dmer-raw": ("helo.pipeline.datasets.dmer", "DmerRawReader"),
    "dmer-aligned": ("helo.pipeline.datasets.dmer", "DmerAlignedReader"),
    "dmer-features": ("helo.pipeline.datasets.dmer", "DmerFeaturesReader"),
    "wesad": ("helo.pipeline.datasets.wesad", "WesadReader"),
    "generic": ("helo.pipeline.datasets.generic", "GenericFeaturesReader"),
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
