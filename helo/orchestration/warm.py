"""Warm stage processes: ``dvc repro`` without paying the imports in every stage.

DVC runs every stage command as a fresh process, and a fresh Python process pays for its
imports each time (NumPy, pandas, SciPy, scikit-learn, PyTorch...), which on the synthetic
default costs more than many stages' own work. With ``orchestrator.warm: true`` (the default)
the first ``helo`` stage command of a run starts, in the background, a *warm server* for the
project: one process that imports the heavy libraries and helo's stage code once and then waits
on a Unix socket (``.helo/warm.sock``, owner-only). Every later stage command connects, hands
over its arguments, working directory, environment and its standard input/output/error (file
descriptors passed over the socket), and the server **forks** a child that runs the command
exactly as ``helo <args>`` would, writing straight to the caller's stdout/stderr. The caller
waits for the child's exit status and exits with it, so DVC sees an ordinary process with an
ordinary exit code; each stage still runs in a process of its own (a fork), so stages share no
state. Ctrl-C / SIGTERM on the caller are forwarded to the child.

When the server is not there (the first command, another project, ``warm: false``), is busy
starting, or was started by different code or a different environment (the helo source files,
the interpreter and the thread/determinism environment variables form a key the server checks
on every request), the command simply runs in its own process as before. The server exits
``IDLE_S`` seconds after its last command finished. Forking happens before any thread pool of the libraries
has started work (their pools start lazily), and the child re-seeds nothing: every stage seeds
its own randomness, so a warm run gives the same bytes as a cold one (tested).

``helo warm serve|status|stop`` runs, queries or retires the server by hand; ``HELO_WARM=0``
disables it for a shell. The server runs commands through the CLI's ``main``, which the CLI
hands to :func:`serve` (this room sits below the CLI and does not import it).
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

SOCK = Path(".helo") / "warm.sock"
IDLE_S = 30.0
#: environment variables that change numerical results or thread pools: part of the key
KEY_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "PYTHONHASHSEED",
           "CUBLAS_WORKSPACE_CONFIG", "CUDA_VISIBLE_DEVICES", "HELO_NUMBA_TUNE",
           "NUMBA_CPU_NAME", "OPENBLAS_CORETYPE", "PYTHONPATH", "KERAS_BACKEND")
#: what the server imports before it forks (a module that fails to import is skipped)
PRELOAD = ("numpy", "scipy.signal", "scipy.stats", "pandas", "pyarrow.parquet", "sklearn",
           "torch", "torch.optim", "torch._dynamo", "pyldl.algorithms", "mne", "cv2", "yaml",
           "tqdm.auto", "matplotlib.pyplot", "helo.cli", "helo.orchestration.run",
           "helo.stages.extract", "helo.stages.assemble", "helo.stages.evaluate",
           "helo.stages.report", "helo.stages.fit_final", "helo.stages.schema", "helo.model.helo",
           "helo.model.baselines.common", "helo.model.baselines.pyldl_methods")
# (torch._dynamo: the first torch optimiser imports it, about a second per process. Keras is
# not preloaded: its import may set global torch state that stages without it never see.)
STAGE_COMMANDS = ("code-deps", "synth", "feature-params", "extract", "assemble", "evaluate",
                  "report", "fit-final")


def code_key() -> str:
    """What a warm server must share with a caller: helo's source files (paths, sizes, mtimes),
    the interpreter and the environment variables in :data:`KEY_ENV`."""
    import helo
    root = Path(helo.__file__).resolve().parent
    h = hashlib.sha256()
    h.update(sys.executable.encode())
    h.update(sys.version.encode())
    for p in sorted(root.rglob("*.py")):
        st = p.stat()
        h.update(f"{p.relative_to(root)}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    for k in KEY_ENV:
        h.update(f"{k}={os.environ.get(k, '')}\n".encode())
    return h.hexdigest()


def enabled(argv: list[str]) -> bool:
    """Whether a ``helo`` process may use a warm server: a stage command run as its own process
    (the CLI asks only then), not inside a warm child, not disabled by ``HELO_WARM=0`` or by
    ``orchestrator.warm: false`` in its params."""
    if os.environ.get("HELO_WARM", "1") == "0" or os.environ.get("HELO_WARM_CHILD"):
        return False
    if not argv or argv[0] not in STAGE_COMMANDS:
        return False
    params = "params.yaml"
    if "--params" in argv[:-1]:
        params = argv[argv.index("--params") + 1]
    try:
        from helo.io import read_yaml
        with open(params) as fh:
            p = read_yaml(fh.read()) or {}
    except (OSError, ValueError):
        return False
    return bool((p.get("orchestrator") or {}).get("warm", False))


# ----------------------------------------------------------------------------- the protocol
def _send(conn: socket.socket, obj: dict, fds: list[int] | None = None) -> None:
    data = json.dumps(obj).encode()
    msg = struct.pack("!I", len(data)) + data
    if fds:
        socket.send_fds(conn, [msg], fds)
    else:
        conn.sendall(msg)


def _recv(conn: socket.socket, nfds: int = 0) -> tuple[dict | None, list[int]]:
    fds: list[int] = []
    head = b""
    if nfds:
        head, fds, _, _ = socket.recv_fds(conn, 4, nfds)
    while len(head) < 4:
        chunk = conn.recv(4 - len(head))
        if not chunk:
            return None, fds
        head += chunk
    (n,) = struct.unpack("!I", head)
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            return None, fds
        data += chunk
    return json.loads(data), fds


# ----------------------------------------------------------------------------- the client
def run_via_server(argv: list[str], sock: Path = SOCK) -> int | None:
    """Run ``helo argv`` in a fork of the warm server; its exit code, or None when no usable
    server answered (the caller then runs the command itself)."""
    if not sock.exists():
        return None
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(str(sock))
        _send(conn, {"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ),
                     "key": code_key()}, [0, 1, 2])
        reply, _ = _recv(conn)
        if not reply or "pid" not in reply:
            return None  # refused: other code or environment
        pid = int(reply["pid"])
        old = {s: signal.signal(s, lambda signum, _f: os.kill(pid, signum))
               for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            done, _ = _recv(conn)
        finally:
            for s, h in old.items():
                signal.signal(s, h)
        if not done or "rc" not in done:
            print("helo: the warm stage process ended without an exit status", file=sys.stderr)
            return 1
        return int(done["rc"])
    except OSError:
        return None
    finally:
        conn.close()


def start_server_background(sock: Path = SOCK) -> None:
    """Start a warm server for this project in the background (returns at once; does nothing
    when one is already there or starting)."""
    sock.parent.mkdir(exist_ok=True)
    lock = sock.with_suffix(".starting")
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        if time.time() - lock.stat().st_mtime < 120:
            return
        lock.unlink(missing_ok=True)
        return
    os.close(fd)
    subprocess.Popen([sys.executable, "-m", "helo", "warm", "serve", "--socket", str(sock)],
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL, close_fds=True, start_new_session=True)


# ----------------------------------------------------------------------------- the server
def _child(conn: socket.socket, req: dict, fds: list[int], run_argv) -> None:
    """In the forked child: become the caller's process and run the command."""
    rc = 1
    try:
        for i, fd in enumerate(fds[:3]):
            os.dup2(fd, i)
        for fd in fds:
            os.close(fd)
        sys.stdin = open(0, closefd=False)
        sys.stdout = open(1, "w", closefd=False, buffering=1)
        sys.stderr = open(2, "w", closefd=False, buffering=1)
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD):
            signal.signal(s, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.chdir(req["cwd"])
        os.environ.clear()
        os.environ.update(req["env"])
        os.environ["HELO_WARM_CHILD"] = "1"
        sys.argv = ["helo"] + list(req["argv"])
        try:
            rc = int(run_argv(list(req["argv"])) or 0)
        except SystemExit as err:
            rc = err.code if isinstance(err.code, int) else (0 if err.code is None else 1)
        except KeyboardInterrupt:
            rc = 130
        except BaseException:  # noqa: BLE001 - reported like an uncaught error in a process
            import traceback
            traceback.print_exc()
            rc = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        try:
            _send(conn, {"rc": rc})
        except OSError:
            pass
        os._exit(rc)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def serve(run_argv, sock: Path = SOCK, idle_s: float = IDLE_S) -> int:
    """Serve this project's stage commands until ``idle_s`` seconds pass without one.
    ``run_argv(argv) -> exit code`` runs a command (the CLI's ``main``)."""
    sock = Path(sock)
    starting = sock.with_suffix(".starting")
    try:
        import importlib
        for name in PRELOAD:
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001 - a missing optional library only stays cold
                pass
        key = code_key()
        sock.parent.mkdir(exist_ok=True)
        sock.unlink(missing_ok=True)
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_mask = os.umask(0o077)
        try:
            srv.bind(str(sock))
        finally:
            os.umask(old_mask)
        srv.listen(16)
        inode = sock.stat().st_ino
    finally:
        starting.unlink(missing_ok=True)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    srv.settimeout(1.0)
    last = time.monotonic()
    children: set[int] = set()
    try:
        while True:
            children = {pid for pid in children if _alive(pid)}
            if children:
                last = time.monotonic()  # idle counts from the end of the last command
            elif time.monotonic() - last >= idle_s:
                break
            try:
                conn, _ = srv.accept()
            except socket.timeout:
                continue
            last = time.monotonic()
            conn.settimeout(None)
            req, fds = _recv(conn, 3)
            if req is None or len(fds) != 3 or req.get("key") != key:
                for fd in fds:
                    os.close(fd)
                try:
                    _send(conn, {"refused": "other code or environment"})
                finally:
                    conn.close()
                if req is not None and req.get("key") != key:
                    break  # stale server: make way for one with the current code
                continue
            pid = os.fork()
            if pid == 0:
                srv.close()
                _send(conn, {"pid": os.getpid()})
                _child(conn, req, fds, run_argv)
            children.add(pid)
            for fd in fds:
                os.close(fd)
            conn.close()
    finally:
        srv.close()
        try:
            if sock.stat().st_ino == inode:  # not a newer server's socket
                sock.unlink()
        except OSError:
            pass
    return 0


def status(sock: Path = SOCK) -> str:
    return f"listening on {sock}" if sock.exists() else "not running"


def stop(sock: Path = SOCK) -> None:
    """Retire the server: without its socket it takes no more commands and exits when idle."""
    sock.unlink(missing_ok=True)
