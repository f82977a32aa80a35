"""The warm stage server: a command run in a fork of it gives the same bytes and exit code as
the same command run cold, and a server started by other code or environment is not used."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helo.orchestration import warm
from helo.synth import manifest

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork and Unix sockets")


@pytest.fixture
def server(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("orchestrator: {warm: true}\n")
    sock = tmp_path / ".helo" / "warm.sock"
    proc = subprocess.Popen([sys.executable, "-m", "helo", "warm", "serve", "--socket",
                             str(sock), "--idle", "60"], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.monotonic()
    while not sock.exists():
        assert proc.poll() is None, "the warm server died while starting"
        assert time.monotonic() - t0 < 120, "the warm server did not start"
        time.sleep(0.2)
    yield sock
    warm.stop(sock)
    proc.terminate()
    proc.wait(timeout=30)


def test_warm_run_is_byte_identical_to_a_cold_one(server, tmp_path):
    argv = ["synth", "--layout", "dmer-features", "--preset", "tiny", "--seed", "3"]
    assert warm.enabled(argv)
    rc = warm.run_via_server(argv + ["--out", "warm"], server)
    assert rc == 0
    cold = subprocess.run([sys.executable, "-m", "helo"] + argv + ["--out", "cold"],
                          cwd=tmp_path, env=dict(os.environ, HELO_WARM="0"),
                          capture_output=True)
    assert cold.returncode == 0, cold.stderr[-2000:]
    assert manifest(tmp_path / "warm") == manifest(tmp_path / "cold")


def test_exit_codes_pass_through(server):
    # no assembled data here: the stage fails with a clean error, exit code 1, in the fork too
    assert warm.run_via_server(["evaluate", "--protocol", "loso", "--method", "mean"],
                               server) == 1
    assert warm.run_via_server(["evaluate", "--protocol", "nope", "--method", "mean"],
                               server) == 2  # argparse


def test_other_environment_is_refused(server, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    assert warm.run_via_server(["synth", "--out", "x"], server) is None


def test_only_stage_commands_of_a_warm_project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("orchestrator: {warm: false}\n")
    assert not warm.enabled(["extract", "--modality", "eeg"])
    (tmp_path / "params.yaml").write_text("orchestrator: {warm: true}\n")
    assert warm.enabled(["extract", "--modality", "eeg"])
    assert not warm.enabled(["check-data", "x", "--layout", "wesad"])
    monkeypatch.setenv("HELO_WARM", "0")
    assert not warm.enabled(["extract", "--modality", "eeg"])
    assert warm.run_via_server(["extract"], Path("missing.sock")) is None
