"""Fixtures shared by more than one test file (unit/ and e2e/ alike).

The synthetic datasets here are made once per test session (once per xdist worker) and are
shared: treat them as read-only. A test that plants faults in one copies it first
(``shutil.copytree(tiny_dmer_raw, tmp_path / "bad")``). Fixtures that only one file uses stay
in that file.
"""
from __future__ import annotations

import helo  # noqa: F401,I001 - first: pins the CPU kernels (helo/cpu_kernels.py)

# isort: split

from pathlib import Path

import pytest

from helo.synth import generate

TINY_SEED = 0


@pytest.fixture(scope="session")
def tiny_synth(tmp_path_factory):
    """``tiny_synth(layout) -> Path``: ``helo.synth.generate(layout, ..., seed=0,
    preset="tiny")`` for any synthetic layout (dmer-raw, dmer-aligned, dmer-features,
    dmer-subject-features, wesad, bids, mahnob),
    generated on first use and shared by the session. Read-only."""
    made: dict[str, Path] = {}

    def get(layout: str) -> Path:
        if layout not in made:
            out = tmp_path_factory.mktemp("tiny-synth") / layout
            generate(layout, out, seed=TINY_SEED, preset="tiny", progress=False)
            made[layout] = out
        return made[layout]

    return get


@pytest.fixture(scope="session")
def tiny_dmer_raw(tiny_synth) -> Path:
    """The tiny DMER raw layout (subjects 1, 2, 5), seed 0. Read-only."""
    return tiny_synth("dmer-raw")


@pytest.fixture(scope="session")
def tiny_wesad(tiny_synth) -> Path:
    """The tiny WESAD layout, seed 0. Read-only."""
    return tiny_synth("wesad")
