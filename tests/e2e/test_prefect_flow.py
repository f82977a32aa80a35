"""The Prefect path for real: a local server, the served helo/full deployment, a run."""
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest
import yaml
from e2e_util import copy_project, dvc, env, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _wait(url, proc, timeout=150):
    t0 = time.time()
    while time.time() - t0 < timeout:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if proc.poll() is not None:
            raise AssertionError(f"process exited early: {proc.returncode}")
        time.sleep(0.5)
    raise AssertionError(f"{url} did not answer in {timeout} s")


def test_deployment_run_completes_and_leaves_dvc_clean(tmp_path):
    proj = copy_project(tmp_path / "proj", "tiny")
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    e = env(PREFECT_HOME=str(tmp_path / "prefect-home"), PREFECT_API_URL=api)
    e.pop("HELO_ENGINE")
    procs = []
    try:
        server = subprocess.Popen([sys.executable, "-m", "helo", "prefect", "server"], cwd=proj,
                                  env=e, stdout=open(tmp_path / "server.log", "w"),
                                  stderr=subprocess.STDOUT, start_new_session=True)
        procs.append(server)
        _wait(api + "/health", server)
        serve = subprocess.Popen([sys.executable, "-m", "helo", "prefect", "serve"], cwd=proj,
                                 env=e, stdout=open(tmp_path / "serve.log", "w"),
                                 stderr=subprocess.STDOUT, start_new_session=True)
        procs.append(serve)
        # wait for the deployment to be registered
        t0 = time.time()
        while time.time() - t0 < 120:
            r = subprocess.run([sys.executable, "-m", "prefect", "deployment", "ls"], cwd=proj,
                               env=e, capture_output=True, text=True)
            if "helo/full" in r.stdout:
                break
            time.sleep(1)
        else:
            raise AssertionError("deployment helo/full never appeared:\n" +
                                 (tmp_path / "serve.log").read_text()[-3000:])
        r = subprocess.run([sys.executable, "-m", "prefect", "deployment", "run", "helo/full",
                            "-p", "epochs=1", "--watch", "--watch-timeout", "800"], cwd=proj,
                           env=e, capture_output=True, text=True, timeout=900)
        assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:] + \
            (tmp_path / "serve.log").read_text()[-4000:]
        assert "Completed" in r.stdout
        params = yaml.safe_load((proj / "params.yaml").read_text())
        assert params["model"]["helo"]["epochs"] == 1
        assert "up to date" in dvc("status", cwd=proj).stdout
        assert (proj / "outputs/metrics.json").exists()
        log = (tmp_path / "serve.log").read_text()
        # the stages ran inside the helo flow run, a task per subject and per fold
        req = urllib.request.Request(api + "/flows/filter", data=b"{}", method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            flows = {f["name"] for f in json.loads(resp.read())}
        assert "helo" in flows, (flows, log[-2000:])
        body = json.dumps({"limit": 200}).encode()
        req = urllib.request.Request(api + "/task_runs/filter", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            runs = json.loads(resp.read())
        tasks = {t["name"] for t in runs}
        truth = json.loads((proj / "data/raw/synth/_ground_truth.json").read_text())
        subjects = [str(s) for s in truth["subjects"]]
        for m in ("eeg", "gsr", "ppg", "video"):  # one task per subject and modality
            assert {f"extract-{m}-{s}" for s in subjects} <= tasks, sorted(tasks)[:40]
        assert any(t.startswith("evaluate-loso-helo-fold") for t in tasks), sorted(tasks)[:40]
        assert all(t["state_type"] == "COMPLETED" for t in runs
                   if t["name"].startswith(("extract-", "evaluate-"))), \
            [(t["name"], t["state_type"]) for t in runs if t["state_type"] != "COMPLETED"]
    finally:
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
