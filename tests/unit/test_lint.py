"""The tree is lint clean under the project's ruff configuration (pyproject.toml
``[tool.ruff]``: pycodestyle, pyflakes, import order, lines of at most 100 characters)."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_ruff_check_is_clean():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.fail("ruff is not installed: run scripts/setup.sh (it installs the dev extra)")
    out = subprocess.run([ruff, "check", "--no-cache", "helo", "tests", "benchmarks", "scripts"],
                         cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
