"""Environment guard: the seeded synthetic data must come out byte for byte as committed.

Regenerates the tiny preset of every layout and compares each file's SHA-256 with
``tests/unit/data/synth_manifest.json``. A failure names every file that changed, so drift in an
installed library (a new OpenCV encoder, an MNE/edfio header change, a NumPy random stream)
fails here instead of silently changing the committed ``dvc.lock`` and metrics. When the change
is intended (the generator changed, or the lock was refreshed on purpose), rewrite the manifest:
``HELO_UPDATE_MANIFEST=1 python -m pytest tests/unit/test_synth_guard.py`` and commit it together
with a fresh ``dvc repro``.
"""
from __future__ import annotations

import json
import os
from importlib.metadata import version
from pathlib import Path

import pytest

from helo.synth import generate, manifest, manifest_diff

MANIFEST = Path(__file__).parent / "data" / "synth_manifest.json"
LAYOUTS = ["dmer-raw", "dmer-aligned", "dmer-features", "wesad", "seed", "seed-features",
           "seed-iv", "seed-iv-features", "deap", "deap-bdf", "dreamer", "amigos",
           "mahnob"]
# the libraries whose output lands in the synthetic files (see scripts/lock.sh for the pins)
WRITERS = ["numpy", "scipy", "mne", "edfio", "opencv-python-headless"]


def _versions() -> dict[str, str]:
    return {name: version(name) for name in WRITERS}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_tiny_synthetic_data_is_byte_identical_to_manifest(layout, tiny_synth):
    out = tiny_synth(layout)  # generate(layout, ..., seed=0, preset="tiny"), see conftest.py
    actual = manifest(out)
    committed = json.loads(MANIFEST.read_text()) if MANIFEST.is_file() else {}
    if os.environ.get("HELO_UPDATE_MANIFEST") == "1":
        committed.setdefault("layouts", {})[layout] = actual
        committed.setdefault("written_with", {}).update(_versions())
        MANIFEST.write_text(json.dumps(committed, indent=1, sort_keys=True) + "\n")
        pytest.skip(f"manifest for {layout} rewritten")
    expected = committed["layouts"][layout]
    diff = manifest_diff(expected, actual)
    assert not diff, (
        f"the tiny synthetic {layout} data differ from tests/unit/data/synth_manifest.json in "
        f"{len(diff)} file(s):\n  " + "\n  ".join(diff[:20]) +
        f"\ninstalled: {_versions()}\nmanifest written with: {committed.get('written_with')}\n"
        "Install the locked environment (bash scripts/setup.sh) or, if the change is intended, "
        "rewrite the manifest (HELO_UPDATE_MANIFEST=1) and re-run dvc repro.")


def test_manifest_diff_names_the_changed_file(tmp_path):
    """The guard's own check has teeth: one flipped byte in one file is reported by name."""
    generate("dmer-features", tmp_path / "a", seed=0, preset="tiny", progress=False)
    before = manifest(tmp_path / "a")
    victim = tmp_path / "a" / "1.mat"
    data = bytearray(victim.read_bytes())
    data[-1] ^= 0xFF
    victim.write_bytes(bytes(data))
    (tmp_path / "a" / "extra.txt").write_text("x")
    diff = manifest_diff(before, manifest(tmp_path / "a"))
    assert diff == [f"1.mat: content changed ({len(data)} -> {len(data)} bytes)",
                    "extra.txt: new file (1 bytes)"]
