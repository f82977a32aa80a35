"""Every process of a stage ends when the command that started it ends.

* The stage command's own process (:func:`end_with_caller`): SIGTERM and SIGHUP raise
  :class:`StageStopped` in the main thread, so the command unwinds like after Ctrl-C: its
  worker pool is killed (:func:`helo.orchestration.executors.executor`), its staging folders
  are removed and its output locks released (:mod:`helo.stages.ownership`), and it exits
  ``128 + signal``. When its parent dies (``dvc repro`` killed with ``kill -9``: the command
  is handed to init), or, when the parent is the shell DVC runs it in (``$SHELL -c``), that
  shell's parent, it sends itself SIGTERM, and exits at once if that has not ended it within
  ``grace_s``. A process started with SIGHUP ignored (``nohup``) was asked to outlive
  its terminal: it keeps SIGHUP ignored and does not watch its parent (its output lock still
  keeps a newer run from writing beside it).
* A pool worker (:func:`die_with_parent`, run by the pool's initializer): the kernel kills it
  when the process that started it dies (``prctl(PR_SET_PDEATHSIG, SIGKILL)`` on Linux; the
  signal follows the thread that started the worker, and pools start their workers from the
  threads that submit work, which live as long as the pool); where prctl is unavailable a
  thread polls the parent pid and ends the worker when it changes.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1
POLL_S = 0.2
#: shells that may stand between a stage command and its caller (``$SHELL -c <cmd>``)
SHELLS = {"sh", "dash", "bash", "zsh", "ksh", "mksh", "fish", "busybox"}


class StageStopped(BaseException):
    """A stage command was told to stop (SIGTERM, SIGHUP, or its parent died). A
    ``BaseException``, so the ``except Exception`` that keeps one bad subject from sinking the
    others does not swallow it."""

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(f"stopped by {signal.Signals(signum).name}")


def end_with_caller(grace_s: float = 10.0) -> None:
    """Make this process (a stage command's own) end with its caller; see the module doc.
    Only from the main thread."""
    if threading.current_thread() is not threading.main_thread():
        return
    hangup_ignored = signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
    stopping = []

    def stop(signum, _frame):
        if stopping:  # a second signal while unwinding: end now
            os._exit(128 + signum)
        stopping.append(signum)
        raise StageStopped(signum)

    signal.signal(signal.SIGTERM, stop)
    if hangup_ignored:
        return
    signal.signal(signal.SIGHUP, stop)
    parent = os.getppid()
    if parent <= 1:
        return
    callers = _callers(parent)

    def watch():
        while os.getppid() == parent and all(_stat(pid)[1] == start for pid, start in callers):
            time.sleep(POLL_S)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(grace_s)
        os._exit(128 + signal.SIGTERM)

    threading.Thread(target=watch, name="helo-parent-watch", daemon=True).start()


def _callers(parent: int) -> list[tuple[int, str | None]]:
    """The processes past the parent whose death also ends the command: while the parent is a
    shell running it with ``-c`` (DVC runs a stage as ``$SHELL -c <cmd>``, and ``dash`` stays
    as the parent instead of exec-ing the command), the process that started that shell."""
    out: list[tuple[int, str | None]] = []
    pid = parent
    while len(out) < 4 and _is_shell_c(pid):
        pid = _stat(pid)[0]
        if pid <= 1:
            break
        out.append((pid, _stat(pid)[1]))
    return out


def _is_shell_c(pid: int) -> bool:
    try:
        argv = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
    except OSError:
        return False
    return os.path.basename(argv[0]).decode(errors="replace") in SHELLS and b"-c" in argv[1:]


def _stat(pid: int) -> tuple[int, str | None]:
    """``(parent pid, start time in clock ticks)`` from ``/proc`` (``(0, None)`` when the
    process is gone or a zombie, or there is no ``/proc``)."""
    try:
        stat = open(f"/proc/{pid}/stat").read()
    except OSError:
        return 0, None
    fields = stat[stat.rindex(")") + 2:].split()
    if fields[0] in ("Z", "X"):
        return 0, None
    return int(fields[1]), fields[19]


def die_with_parent(parent_pid: int) -> None:
    """In a worker process: end when ``parent_pid`` (the process that started it) ends."""
    if not _pdeathsig(signal.SIGKILL):
        def watch():
            while os.getppid() == parent_pid:
                time.sleep(POLL_S)
            os._exit(1)

        threading.Thread(target=watch, name="helo-parent-watch", daemon=True).start()
    if os.getppid() != parent_pid:  # it died before the signal was armed
        os._exit(1)


def _pdeathsig(signum: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False
