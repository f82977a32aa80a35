"""Helpers for end-to-end tests: a throw-away copy of the project with its own git and DVC."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # tests/e2e/ -> the project root
BIN = Path(sys.executable).parent
#: the task runner of the data sets' end-to-end tests, which are about a reader, its labels and
#: features: their stages run the per-subject and per-fold work in threads, with no pool of
#: processes to start in every stage (~13 s a run); the process pool is what
#: test_pipeline_dvc, test_same_bytes, test_helo_beats_mean and test_distributed run
READER_TEST_RUNNER = "threads"


def env(**extra) -> dict:
    e = dict(os.environ, DVC_NO_ANALYTICS="1", DO_NOT_TRACK="1",
             PREFECT_SERVER_ANALYTICS_ENABLED="false", OMP_NUM_THREADS="1",
             PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", HELO_ENGINE="local")
    e.update(extra)
    return e


def run(cmd, cwd, check=True, timeout=900, **env_extra):
    proc = subprocess.run(cmd, cwd=cwd, env=env(**env_extra), capture_output=True, text=True,
                          timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n"
                             f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


def copy_project(dst: Path, preset: str = "tiny") -> Path:
    """Copy the tracked (and new, not ignored) files, drop the lock, apply ``preset``, commit."""
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                           cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for f in files:
        src = ROOT / f
        if not src.is_file() or f == "dvc.lock":
            continue
        (dst / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst / f)
    run(["git", "init", "-q"], dst)
    run([sys.executable, "-m", "helo", "preset", preset], dst)
    run(["git", "add", "-A"], dst)
    run(["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "init"], dst)
    return dst


def dvc(*args, cwd, check=True, **kw):
    return run([sys.executable, "-m", "dvc", *args], cwd, check=check, **kw)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
