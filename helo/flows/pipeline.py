"""The ``helo`` flow (deployment ``full``): the whole pipeline, kept in step with DVC."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml
from prefect import flow, get_run_logger, task

from ..pipeline import params as P
from ..pipeline.io import write_text

PROJECT_ENV = "HELO_PROJECT_DIR"


def project_dir() -> Path:
    return Path(os.environ.get(PROJECT_ENV, os.getcwd())).resolve()


@task(name="set-params", cache_policy=None)
def set_params(project: str, overrides: dict) -> dict:
    """Write the run's parameters into params.yaml so DVC (and `dvc status`) see them."""
    path = Path(project) / "params.yaml"
    params = P.load(path)
    changed = {}
    for key, value in overrides.items():
        if value is None:
            continue
        if P.get(params, key) != value:
            P.set_dotted(params, key, value)
            changed[key] = value
    if changed:
        write_text(path, yaml.safe_dump(params, sort_keys=False))
    return changed


@task(name="dvc-repro", cache_policy=None)
def dvc_repro(project: str, targets: list[str] | None = None, force: bool = False) -> int:
    """Run ``dvc repro``; stage commands see HELO_ENGINE=prefect and run as their own flows."""
    log = get_run_logger()
    env = dict(os.environ, HELO_ENGINE="prefect", DVC_NO_ANALYTICS="1", DO_NOT_TRACK="1",
               PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "dvc", "repro", *(["--force"] if force else []),
           *(targets or [])]
    log.info("running %s in %s", " ".join(cmd), project)
    proc = subprocess.Popen(cmd, cwd=project, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, bufsize=1)
    tail = []
    for line in proc.stdout:
        line = line.rstrip()
        if line and not line.startswith("\r"):
            log.info(line)
            tail = (tail + [line])[-20:]
    rc = proc.wait()
    if rc != 0:
        raise RuntimeError(f"dvc repro failed (exit {rc}):\n" + "\n".join(tail))
    return rc


@task(name="dvc-status", cache_policy=None)
def dvc_status(project: str) -> str:
    out = subprocess.run([sys.executable, "-m", "dvc", "status"], cwd=project, text=True,
                         capture_output=True, env=dict(os.environ, DVC_NO_ANALYTICS="1"))
    return out.stdout.strip()


@flow(name="helo", log_prints=True)
def helo_flow(root: str | None = None, layout: str | None = None, protocol: str | None = None,
              methods: list[str] | None = None, preset: str | None = None,
              epochs: int | None = None, targets: list[str] | None = None,
              force: bool = False) -> dict:
    """Bring every stage up to date: readers -> features -> assembly -> folds -> report.

    Parameters (all optional; given ones are written into params.yaml first):
    root / layout -- a dataset on disk (``data.root``, ``data.layout``);
    protocol -- run only this protocol (``evaluate.protocols``); methods -- the compared methods;
    preset -- the synthetic preset; epochs -- HeLo's epochs; targets -- DVC stages to reproduce.
    """
    log = get_run_logger()
    project = str(project_dir())
    changed = set_params(project, {
        "data.root": root, "data.layout": layout,
        "synth.layout": layout if layout and root in (None, "data/raw/synth") else None,
        "evaluate.protocols": [protocol] if protocol else None,
        "evaluate.methods": methods, "synth.preset": preset, "model.helo.epochs": epochs})
    if changed:
        log.info("params.yaml updated: %s", changed)
    dvc_repro(project, targets, force)
    status = dvc_status(project)
    log.info("dvc status: %s", status or "clean")
    return {"changed": changed, "dvc_status": status}


def serve(name: str = "full") -> None:
    """Serve the ``helo`` flow as deployment ``name`` (blocks; Ctrl-C stops)."""
    os.environ.setdefault(PROJECT_ENV, str(Path.cwd().resolve()))
    helo_flow.serve(name=name, tags=["helo"],
                    description="The whole helo pipeline (dvc repro) on this project.")
