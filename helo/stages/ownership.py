"""A stage run owns its outputs for its whole run.

The command that runs a stage (``helo evaluate ...`` as DVC starts it) is the run's *owner*.
Before any work it takes an exclusive ``flock`` on a lock file per output
(``.helo/runs/<output>.lock``), draws a fresh run token and records it with its pid, command
and start time in ``.helo/runs/<output>.json``. A second writer of the same output waits
(``HELO_OUTPUT_WAIT`` seconds, default 30) and then fails naming the holder. The kernel drops
the lock when the owner ends, however it ends.

A run is *current* while its owner lives and its token is the one recorded. Only a current
run's outputs reach their paths, in one of two ways:

* a whole output (every output but those below) is written into a staging folder beside it,
  ``<parent>/.<name>.helo-run-<token>/<name>`` (:func:`place` maps the path; the stage writes
  there), which starts empty as DVC's removal of a stage's outputs leaves it, and replaces the
  output in one ``rename`` when the stage succeeds (:meth:`Run.commit`), if the run is still
  current. A killed run leaves at most its staging folder, which the next run of the stage
  removes.
* an incremental output (``extract``'s per-subject feature files, ``code-deps``'s digests,
  which later runs reuse) is written in place, one file at a time, each atomically
  (:func:`helo.io.atomic_path`), and each only while the run is current (:func:`check_write`,
  in whatever process writes it: the stage's pool workers too).

A process that works for a run it does not own (a warm stage server's child, handed the
command by its owner) adopts the run from ``HELO_RUN`` in its environment instead of locking;
when the owner has ended, or a newer run has taken the outputs, nothing it writes lands.
"""
from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import re
import secrets
import shutil
import sys
import time
from pathlib import Path
from typing import NamedTuple
from urllib.parse import quote

from helo import io
from helo.stages.common import (
    ASSEMBLED,
    EVAL,
    FEATURE_PARAMS,
    FINAL_MODEL,
    METHOD_PARAMS,
    METRICS,
    REPORT,
    STORE,
    SYNTH_ROOT,
)

RUNS = Path(".helo") / "runs"
#: seconds a second writer of an output waits for its holder before failing
WAIT_ENV = "HELO_OUTPUT_WAIT"
DEFAULT_WAIT_S = 30.0
#: the run a process works for (set by the owner; read by adopters and pool workers)
RUN_ENV = "HELO_RUN"
STAGING = ".helo-run-"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


class OutputsBusy(RuntimeError):
    """Another live run holds the output."""


class RunSuperseded(RuntimeError):
    """This run is no longer the current one: its owner ended or a newer run took over."""


class Output(NamedTuple):
    path: Path
    incremental: bool = False


# ----------------------------------------------------------------------- what a command owns
def command_outputs(argv: list[str]) -> list[Output]:
    """The outputs the ``helo`` command ``argv`` writes as a DVC stage (``dvc.yaml``'s outs);
    ``[]`` for commands that are not stages. Parses only the options that name outputs, so it
    costs no imports."""
    args = list(argv)
    while args and args[0] in ("-v", "--verbose", "--debug"):
        args.pop(0)
    if not args:
        return []
    command, rest = args[0], args[1:]
    p = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    for opt in ("--modality", "--protocol", "--method", "--out"):
        p.add_argument(opt)
    for flag in ("--from-params", "--check", "-h", "--help"):
        p.add_argument(flag, action="store_true")
    try:
        ns, _ = p.parse_known_args(rest)
    except SystemExit:
        return []
    if ns.h or ns.help:
        return []
    if command == "code-deps":
        return [] if ns.check else [Output(Path(ns.out or "codedeps"), incremental=True)]
    if command == "synth":
        return [Output(SYNTH_ROOT)] if ns.from_params else []
    if command == "extract":
        ok = ns.modality and _NAME.fullmatch(ns.modality)
        return [Output(STORE / ns.modality, incremental=True)] if ok else []
    if command == "evaluate":
        ok = all(v and _NAME.fullmatch(v) for v in (ns.protocol, ns.method))
        return [Output(EVAL / ns.protocol / ns.method)] if ok else []
    fixed = {"feature-params": [FEATURE_PARAMS], "method-params": [METHOD_PARAMS],
             "assemble": [ASSEMBLED],
             "fit-final": [FINAL_MODEL], "report": [REPORT, METRICS]}
    return [Output(path) for path in fixed.get(command, [])]


# ----------------------------------------------------------------------------------- the run
class Run:
    """``owner``: the pid of the owning command; ``owner_start``: its start time in clock ticks
    (a reused pid is not the owner); ``runs``: the absolute ``.helo/runs``."""

    def __init__(self, token: str, owner: int, owner_start: str | None, outputs: list[Output],
                 runs: Path, adopted: bool = False):
        self.token, self.owner, self.owner_start = token, owner, owner_start
        self.outputs, self.runs, self.adopted = list(outputs), Path(runs), adopted
        self.committed = False

    def env_value(self) -> str:
        return json.dumps({"token": self.token, "owner": self.owner,
                           "owner_start": self.owner_start, "runs": str(self.runs),
                           "outputs": [[_abs(o.path), o.incremental] for o in self.outputs]})

    @classmethod
    def from_env(cls, text: str) -> "Run":
        d = json.loads(text)
        return cls(token=str(d["token"]), owner=int(d["owner"]), owner_start=d["owner_start"],
                   outputs=[Output(Path(p), bool(inc)) for p, inc in d["outputs"]],
                   runs=Path(d["runs"]), adopted=True)

    def current(self) -> bool:
        """The owner lives and every output still records this run's token."""
        if not _alive(self.owner, self.owner_start):
            return False
        return all(_read_info(self.runs, o.path).get("token") == self.token
                   for o in self.outputs)

    def staging_root(self, path: Path) -> Path:
        return path.parent / f".{path.name}{STAGING}{self.token}"

    def place(self, path: Path) -> Path:
        out = self._whole(path)
        if out is None:
            return path
        root = self.staging_root(path)
        root.mkdir(parents=True, exist_ok=True)
        return root / path.name

    def commit(self) -> None:
        """Move every staged output into place, if this run is still the current one."""
        if not self.current():
            raise RunSuperseded(_superseded(self))
        for o in self.outputs:
            staged = self.staging_root(o.path) / o.path.name
            if not o.incremental and (staged.exists() or staged.is_symlink()):
                _swap(staged, o.path)
        self.discard()
        self.committed = True

    def discard(self) -> None:
        """Remove this run's staging folders (what an unfinished or superseded run wrote)."""
        for o in self.outputs:
            if not o.incremental:
                _remove(self.staging_root(o.path))

    def _whole(self, path: Path) -> Output | None:
        key = _abs(path)
        return next((o for o in self.outputs if not o.incremental and _abs(o.path) == key),
                    None)


_ACTIVE: Run | None = None


def active() -> Run | None:
    """The run this process works for, if any."""
    return _ACTIVE


def place(path: str | Path) -> Path:
    """Where the current stage writes its output ``path``: the run's staging folder for a whole
    output it owns, else ``path`` itself (incremental outputs, or no run: a library call)."""
    return _ACTIVE.place(Path(path)) if _ACTIVE is not None else Path(path)


def commit() -> None:
    """The stage succeeded: move its staged outputs into place (nothing without a run)."""
    if _ACTIVE is not None:
        _ACTIVE.commit()


@contextlib.contextmanager
def owned(outputs: list[Output], command: list[str], *, wait_s: float | None = None):
    """Own ``outputs`` for the ``with`` block: adopt the run of ``HELO_RUN`` when it is a
    current run of exactly these outputs, else lock them and start a new run. On the way out a
    run that did not commit leaves nothing behind but the outputs as they were."""
    global _ACTIVE
    run = _adopt(os.environ.get(RUN_ENV), outputs)
    fds: list[int] = []
    old_env = os.environ.get(RUN_ENV)
    if run is None:
        run, fds = _acquire(outputs, command, wait_s)
        os.environ[RUN_ENV] = run.env_value()
    previous, _ACTIVE = _ACTIVE, run
    try:
        yield run
    finally:
        _ACTIVE = previous
        if not run.committed:
            run.discard()
        if fds:
            if old_env is None:
                os.environ.pop(RUN_ENV, None)
            else:
                os.environ[RUN_ENV] = old_env
            for fd in fds:
                os.close(fd)  # releases the lock


# -------------------------------------------------------------------- locks, tokens, staging
def _acquire(outputs: list[Output], command: list[str], wait_s: float | None
             ) -> tuple[Run, list[int]]:
    if wait_s is None:
        wait_s = float(os.environ.get(WAIT_ENV, DEFAULT_WAIT_S))
    runs = _runs_dir()
    deadline = time.monotonic() + max(0.0, wait_s)
    fds: list[int] = []
    told = False
    try:
        for o in sorted(outputs, key=lambda o: _abs(o.path)):  # one order: no deadlock
            fd = os.open(_lock_file(runs, o.path), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC,
                         0o600)
            fds.append(fd)
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    holder = _describe(_read_info(runs, o.path))
                    if time.monotonic() >= deadline:
                        raise OutputsBusy(
                            f"{o.path} is being written by another run: {holder}; waited "
                            f"{wait_s:g} s ({WAIT_ENV}). Let it finish or end it, then run "
                            f"again") from None
                    if not told:
                        print(f"helo: waiting up to {wait_s:g} s for {o.path}, held by "
                              f"{holder}", file=sys.stderr, flush=True)
                        told = True
                    time.sleep(0.1)
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    run = Run(token=secrets.token_hex(8), owner=os.getpid(), owner_start=_start_time(os.getpid()),
              outputs=list(outputs), runs=runs)
    info = {"token": run.token, "pid": run.owner, "pid_start": run.owner_start,
            "command": " ".join(["helo", *command]),
            "started": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    for o in outputs:
        io.write_json(_info_file(runs, o.path), info)
        if not o.incremental:  # staging folders of runs that ended without committing
            for old in o.path.parent.glob(f".{o.path.name}{STAGING}*"):
                _remove(old)
    return run, fds


def _adopt(text: str | None, outputs: list[Output]) -> Run | None:
    if not text:
        return None
    try:
        run = Run.from_env(text)
    except (ValueError, KeyError, TypeError):
        return None
    if run.owner == os.getpid():  # this process owns it already: a second owner waits
        return None
    want = sorted((_abs(o.path), o.incremental) for o in outputs)
    if sorted((_abs(o.path), o.incremental) for o in run.outputs) != want:
        return None
    run.outputs = list(outputs)  # as this process names them
    return run if run.current() else None


def _runs_dir() -> Path:
    helo_dir = RUNS.parent
    if not helo_dir.is_dir():
        with contextlib.suppress(FileExistsError):
            helo_dir.mkdir(mode=0o700)
    RUNS.mkdir(mode=0o700, exist_ok=True)
    return RUNS.resolve()


def _key(path: Path) -> str:
    rel = os.path.relpath(_abs(path))
    key = quote(rel, safe="")
    if len(key) > 200:
        import hashlib
        key = hashlib.sha256(rel.encode()).hexdigest()
    return key


def _lock_file(runs: Path, path: Path) -> Path:
    return runs / f"{_key(path)}.lock"


def _info_file(runs: Path, path: Path) -> Path:
    return runs / f"{_key(path)}.json"


def _read_info(runs: Path, path: Path) -> dict:
    try:
        return json.loads(_info_file(runs, path).read_text())
    except (OSError, ValueError):
        return {}


def _describe(info: dict) -> str:
    if not info:
        return "a process that has not said which"
    return f"pid {info.get('pid')} ({info.get('command')}), started {info.get('started')}"


def _superseded(run: Run) -> str:
    names = ", ".join(str(o.path) for o in run.outputs)
    if not _alive(run.owner, run.owner_start):
        why = f"the command that started it (pid {run.owner}) has ended"
    else:
        holder = _describe(_read_info(run.runs, run.outputs[0].path))
        why = f"a newer run took over: {holder}"
    return f"{names}: this run is no longer the current one ({why}); its outputs were discarded"


def _abs(path: Path | str) -> str:
    return os.path.normpath(os.path.abspath(path))


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), None where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2:].split()[19]


def _alive(pid: int, start: str | None) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return start is None  # no /proc: the signal test is all there is
    fields = stat[stat.rindex(")") + 2:].split()
    if fields[0] in ("Z", "X"):
        return False
    return start is None or fields[19] == start


def _swap(staged: Path, final: Path) -> None:
    """Put ``staged`` at ``final`` in one step where the system allows (a folder over a folder:
    an atomic exchange; a file over a file: a rename); what was at ``final`` ends up in the
    staging folder, which :meth:`Run.discard` removes."""
    final_is_dir = final.is_dir() and not final.is_symlink()
    if final_is_dir and staged.is_dir() and _exchange(staged, final):
        return
    if final_is_dir:
        os.rename(final, staged.with_name(staged.name + ".old"))
    elif staged.is_dir() and (final.exists() or final.is_symlink()):
        final.unlink()
    os.replace(staged, final)


def _exchange(a: Path, b: Path) -> bool:
    """``renameat2(RENAME_EXCHANGE)``: swap two paths atomically (Linux); False where the
    system or file system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def _remove(path: Path) -> None:
    """Remove a staging folder: renamed out of the way first (one step), then deleted."""
    if not (path.exists() or path.is_symlink()):
        return
    gone = path.with_name(f"{path.name}.gone-{secrets.token_hex(4)}")
    try:
        os.rename(path, gone)
    except OSError:
        gone = path
    if gone.is_dir() and not gone.is_symlink():
        shutil.rmtree(gone, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            gone.unlink()


# --------------------------------------------------------------- the guard on every write
def check_write(path: Path) -> None:
    """Called by :func:`helo.io.atomic_path` before a file reaches ``path``: inside an
    incremental output of a run that is no longer current it refuses (the file is not written);
    inside a whole output's final folder it refuses too (a stage writes there through
    :func:`place`)."""
    run = _ACTIVE or _env_run()
    if run is None:
        return
    target = _abs(path)
    for o in run.outputs:
        root = _abs(o.path)
        if target != root and not target.startswith(root + os.sep):
            continue
        if o.incremental:
            if not run.current():
                raise RunSuperseded(f"{path}: not written: " + _superseded(run))
        elif run is _ACTIVE:
            raise RuntimeError(f"{path}: a stage writes its output {o.path} through "
                               "helo.stages.ownership.place, not at its final path")


_ENV_CACHE: tuple[str, Run] | None = None


def _env_run() -> Run | None:
    """The run of ``HELO_RUN`` (a pool worker's), parsed once per value."""
    global _ENV_CACHE
    text = os.environ.get(RUN_ENV)
    if not text:
        return None
    if _ENV_CACHE is None or _ENV_CACHE[0] != text:
        try:
            _ENV_CACHE = (text, Run.from_env(text))
        except (ValueError, KeyError, TypeError):
            return None
    return _ENV_CACHE[1]


io.add_write_guard(check_write)
