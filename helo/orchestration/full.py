"""The ``helo`` flow (deployment ``full``): the whole pipeline, kept in step with DVC.

DVC decides what is out of date and records what ran (``dvc.lock``, the cache, the run cache),
exactly as ``dvc repro`` does: the flow calls DVC's own ``Repo.reproduce`` in its process. Only
the execution of a stage's command changes: a ``helo ...`` command runs *in this process*, its
per-subject and per-fold tasks becoming task runs of this flow run (see
:func:`helo.orchestration.prefect_common.run_stage_flow`), instead of in a fresh process per stage
that imports Prefect and opens its own flow run again. Commands of other stages a user adds
run as DVC runs them (a shell). ``in_process=False`` (or
a DVC without the hook this relies on) runs ``dvc repro`` as a subprocess instead, each stage
then its own flow run.
"""
from __future__ import annotations

import contextlib
import logging
import os
import shlex
import subprocess
import sys
from pathlib import Path

from prefect import flow, get_run_logger, task

from helo.io import write_text
from helo.stages import params as params_file

PROJECT_ENV = "HELO_PROJECT_DIR"


def project_dir() -> Path:
    return Path(os.environ.get(PROJECT_ENV, os.getcwd())).resolve()


@task(name="set-params", cache_policy=None)
def set_params(project: str, overrides: dict) -> dict:
    """Write the run's parameters into params.yaml so DVC (and `dvc status`) see them.

    The result is checked against the params schema first, so a wrong flow parameter (an
    unknown layout, a protocol that does not exist) fails the run with the schema's message and
    leaves params.yaml as it was; the file keeps its comments and key order."""
    from helo.stages.schema import validate
    path = Path(project) / "params.yaml"
    params = params_file.load(path)
    changed: dict = {}
    over: dict = {}
    for key, value in overrides.items():
        if value is not None and params_file.get(params, key) != value:
            params_file.set_dotted(over, key, value)
            changed[key] = value
    if changed:
        validate(params_file.merge(params, over), source=f"{path} with the flow's parameters")
        write_text(path, params_file.merge_text(path.read_text(), over))
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


@contextlib.contextmanager
def _chdir(path):
    before = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


class _ToPrefect(logging.Handler):
    """DVC's progress messages ("Stage 'x' didn't change, skipping") into the run's log"""

    def __init__(self, log):
        super().__init__(logging.INFO)
        self.log = log

    def emit(self, record):
        with contextlib.suppress(Exception):
            self.log.info(record.getMessage())


#: ``argv -> exit code`` of the ``helo`` command, handed in by the CLI when it serves the flow
#: (:func:`serve`); without it (the flow imported elsewhere) stage commands run in a shell.
_RUN_ARGV = None


@contextlib.contextmanager
def _helo_commands_in_process(log, run_argv):
    """Make DVC run ``helo ...`` stage commands by calling ``run_argv`` (the CLI's ``main``)
    in this process."""
    import dvc.stage.run as dvc_run
    from dvc.stage.exceptions import StageCmdFailedError

    shell_run = dvc_run.cmd_run

    def cmd_run(stage, dry=False, run_env=None):
        cmds = stage.cmd if isinstance(stage.cmd, list) else [stage.cmd]
        argvs = [shlex.split(c) for c in cmds]
        if dry or not all(a and a[0] == "helo" for a in argvs):
            return shell_run(stage, dry=dry, run_env=run_env)
        log.info("Running stage '%s' in the flow's process", stage.addressing)
        for cmd, argv in zip(cmds, argvs):
            log.info("> %s", cmd)
            with _chdir(stage.wdir):
                try:
                    rc = run_argv(argv[1:])
                except SystemExit as err:  # argparse
                    rc = err.code if isinstance(err.code, int) else 1
            if rc:
                raise StageCmdFailedError(cmd, rc)
        return None

    dvc_run.cmd_run = cmd_run
    env_before = os.environ.get("HELO_ENGINE")
    os.environ["HELO_ENGINE"] = "prefect"  # stage commands run as Prefect tasks of this flow
    try:
        yield
    finally:
        dvc_run.cmd_run = shell_run
        if env_before is None:
            os.environ.pop("HELO_ENGINE", None)
        else:
            os.environ["HELO_ENGINE"] = env_before


def repro_in_process(project: str, targets: list[str] | None = None,
                     force: bool = False, run_argv=None) -> tuple[list[str], str]:
    """``dvc repro [targets] [--force]`` in this process, ``helo`` commands in-process too.
    Returns the addresses of the stages that ran and what ``dvc status`` says afterwards
    ("" when everything is up to date)."""
    from dvc.repo import Repo
    log = get_run_logger()
    handler = _ToPrefect(log)
    dvc_logger = logging.getLogger("dvc")
    level = dvc_logger.level
    dvc_logger.addHandler(handler)
    dvc_logger.setLevel(logging.INFO)
    try:
        with _helo_commands_in_process(log, run_argv), _chdir(project), \
                Repo(project) as repo:
            ran = repo.reproduce(targets or None, force=force)
            status = repo.status()
    finally:
        dvc_logger.removeHandler(handler)
        dvc_logger.setLevel(level)
    text = "\n".join(f"{name}: {changes}" for name, changes in status.items())
    return [st.addressing for st in ran], text


def _in_process_supported() -> bool:
    try:
        import dvc.stage.run as dvc_run
        from dvc.repo import Repo
        return callable(getattr(dvc_run, "cmd_run", None)) and hasattr(Repo, "reproduce")
    except ImportError:
        return False


@task(name="dvc-status", cache_policy=None)
def dvc_status(project: str) -> str:
    out = subprocess.run([sys.executable, "-m", "dvc", "status"], cwd=project, text=True,
                         capture_output=True, env=dict(os.environ, DVC_NO_ANALYTICS="1"))
    return out.stdout.strip()


@flow(name="helo", log_prints=True)
def helo_flow(root: str | None = None, layout: str | None = None, protocol: str | None = None,
              methods: list[str] | None = None, preset: str | None = None,
              epochs: int | None = None, targets: list[str] | None = None,
              force: bool = False, in_process: bool = True) -> dict:
    """Bring every stage up to date: readers -> features -> assembly -> folds -> report.

    Parameters (all optional; given ones are written into params.yaml first):
    root / layout -- a dataset on disk (``data.root``, ``data.layout``);
    protocol -- run only this protocol (``evaluate.protocols``); methods -- the compared methods;
    preset -- the synthetic preset; epochs -- HeLo's epochs; targets -- DVC stages to reproduce;
    force -- re-run up-to-date stages too; in_process -- run DVC and the stage commands in this
    flow's process (default; the stages' tasks are task runs of this flow) rather than
    ``dvc repro`` in a subprocess (each stage its own process and flow run).
    """
    log = get_run_logger()
    project = str(project_dir())
    changed = set_params(project, {
        "data.root": root, "data.layout": layout,
        "evaluate.protocols": [protocol] if protocol else None,
        "evaluate.methods": methods, "synth.preset": preset, "model.helo.epochs": epochs})
    if changed:
        log.info("params.yaml updated: %s", changed)
    if in_process and _RUN_ARGV is not None and _in_process_supported():
        ran, status = repro_in_process(project, targets, force, run_argv=_RUN_ARGV)
        log.info("stages run: %s", ", ".join(ran) if ran else "none (all up to date)")
    else:
        dvc_repro(project, targets, force)
        ran = None
        status = dvc_status(project)
    log.info("dvc status: %s", status or "clean")
    return {"changed": changed, "stages_run": ran, "dvc_status": status}


def set_command_runner(run_argv) -> None:
    """Let the ``helo`` flow run ``helo ...`` stage commands in its own process by calling
    ``run_argv(argv) -> exit code`` (the CLI's ``main``; the CLI hands it in when it serves
    the flow, so this room does not import the CLI above it)."""
    global _RUN_ARGV
    _RUN_ARGV = run_argv


def serve(name: str = "full", run_argv=None) -> None:
    """Serve the ``helo`` flow as deployment ``name`` (blocks; Ctrl-C stops). ``run_argv``:
    see :func:`set_command_runner`."""
    set_command_runner(run_argv)
    os.environ.setdefault(PROJECT_ENV, str(Path.cwd().resolve()))
    helo_flow.serve(name=name, tags=["helo"],
                    description="The whole helo pipeline (dvc repro) on this project.")
