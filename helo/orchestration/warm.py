"""Warm stage processes: ``dvc repro`` without paying the imports in every stage.

DVC runs every stage command as a fresh process, and a fresh Python process pays for its
imports each time (NumPy, pandas, SciPy, scikit-learn, PyTorch...): 0.6-5.5 s a stage on the
synthetic default, about 160 s of a 5.5-minute ``dvc repro`` (docs/benchmarks.md). With
``orchestrator.warm: true`` (the default) the first ``helo`` stage command of a run starts, in
the background, a *warm server* for the project: one process that imports the heavy libraries
and helo's stage code once and then waits on a Unix socket (``.helo/warm.sock``). Every later
stage command connects, hands over its arguments, working directory, environment, umask,
niceness and its standard input/output/error (file descriptors passed over the socket), and the
server **forks** a child that runs the command exactly as ``helo <args>`` would, writing
straight to the caller's stdout/stderr. The caller waits for the child's exit status and exits
with it (or dies by the same signal), so DVC sees an ordinary process; each stage still runs in
a process of its own, so stages share no state. Forking happens before any thread pool of the
libraries has started work (their pools start lazily), and the child re-seeds nothing: every
stage seeds its own randomness, so a warm run gives the same bytes as a cold one (tested).

What a warm child runs is the code a cold process would run, or the command runs cold:

* **The code key.** The server is started by a small bootstrap that snapshots the contents of
  every ``helo/**/*.py`` (SHA-256 per file, with its stat) *before* importing anything of helo,
  so the snapshot is what the imports read. Before every fork, and every second while idle, the
  files are checked again (stat first; a file whose stat changed, or that changed within two
  seconds of the snapshot, is hashed again); any difference, or a file added or removed, makes
  the server refuse the command and retire. The caller hashes the same files itself and sends
  the key, with the interpreter, the helo folder and the environment variables libraries read
  at import (:func:`environment_key`: thread pools, temporary folder, Numba, Matplotlib, tqdm,
  hash seed, the CPU-kernel pins, ...): a different key is refused the same way.
* **Only the user.** ``.helo/`` is created mode 0700 whatever the umask, and a ``.helo/`` or
  socket that is not the user's own, or is open to group or others, is not used (one line on
  stderr says why; the command runs cold), except that the user's own ``.helo/`` that others
  could enter but not write (0755) is made 0700. Both ends check the peer's uid
  (``SO_PEERCRED``), and the caller forwards signals only to a PID that is the server's own
  child (its parent in ``/proc`` is the server process the kernel names) and leads its own
  process group.
* **Nothing blocks it.** The server reads requests without blocking: a caller that connects and
  sends nothing is dropped after ``REQUEST_TIMEOUT_S`` while other commands are served, and a
  broken or malformed request is dropped without ending the server.
* **It fails over cold.** No server, a refusal, a connection that fails before the child has
  started, or a ``params.yaml`` that cannot be read: the command runs in its own process, with
  its ordinary one-line errors. Once a child has started, the command is never run twice.
* **The stage ends with its caller.** Each child leads a process group of its own (its pool
  workers are in it; what is still running in it when the child exits is killed). SIGINT,
  SIGTERM, SIGHUP and SIGQUIT on the caller are forwarded to that group; when the caller dies
  any other way (``kill -9``) its end of the socket closes and the server kills the whole
  group. The server, not the child, reports the exit status, after reaping the child: a caller
  whose child died by a signal dies by the same signal.

The server exits ``IDLE_S`` seconds after its last command finished, when its socket is removed
or replaced, or when it retires; it waits for its running children first. ``helo warm
serve|status|stop`` runs, queries or stops it by hand; ``HELO_WARM=0`` disables it for a shell.
The server runs commands through the CLI's ``main`` (named to the bootstrap as
``helo.cli:main``: this room sits below the CLI and does not import it).

**Two files, one server.** This module is what every stage command's client needs: the
constants, the key, the safety checks, the wire protocol and the client. The server process
(``boot``, ``Server``, the forked child) is :mod:`helo.orchestration.warm_server`. The server is
not started by importing either: its bootstrap (:data:`_BOOT`, standard library only) reads the
text of both files (:data:`SERVER_SOURCES`, this one's first) and executes them, in that order,
into one namespace, so no module of helo, not even ``helo/__init__.py``, is imported before
``boot`` has taken the snapshot; ``boot`` then checks *both* texts against the snapshot's hashes
(a file edited between its read and the snapshot: the server exits and the next command starts
another) and only then imports helo. ``warm_server`` imports this module's names only when it is
imported as a module of helo (tests); run by the bootstrap, they are already in its namespace.
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import stat
import struct
import subprocess
import sys
import time
from pathlib import Path

SOCK = Path(".helo") / "warm.sock"
IDLE_S = 30.0
#: a caller has this long to deliver its request once connected
REQUEST_TIMEOUT_S = 10.0
#: how long a caller waits to connect and for its child's PID before running cold
CONNECT_TIMEOUT_S = 10.0
#: the largest request accepted (arguments and environment)
MAX_REQUEST = 1 << 20
#: environment variables read by libraries (or helo) when they are imported: part of the key
KEY_ENV = ("TMPDIR", "TEMP", "TMP", "HOME", "LANG", "LANGUAGE", "CUBLAS_WORKSPACE_CONFIG",
           "CUDA_VISIBLE_DEVICES", "HELO_NUMBA_TUNE", "KERAS_BACKEND", "TF_CPP_MIN_LOG_LEVEL")
KEY_ENV_PREFIXES = ("OMP_", "MKL_", "OPENBLAS_", "GOTO", "BLIS_", "VECLIB_", "KMP_", "NUMEXPR_",
                    "NUMBA_", "NPY_", "ATEN_", "ONEDNN_", "DNNL_", "TORCH", "PYTORCH_",
                    "OPENCV_", "MPL", "MNE_", "TQDM_", "PYTHON", "JOBLIB_", "LOKY_", "SKLEARN_",
                    "SCIPY_", "PANDAS_", "ARROW_", "LD_", "LC_", "XDG_", "CUDA_", "CUDNN_")
#: what the server imports before it forks (a module that fails to import is skipped)
PRELOAD = ("numpy", "scipy.signal", "scipy.stats", "pandas", "pyarrow.parquet", "sklearn",
           "torch", "torch.optim", "torch._dynamo", "pyldl.algorithms", "mne", "cv2", "yaml",
           "tqdm.auto", "matplotlib.pyplot", "helo.cli", "helo.orchestration.run",
           "helo.stages.extract", "helo.stages.assemble", "helo.stages.evaluate",
           "helo.stages.report", "helo.stages.fit_final", "helo.stages.schema", "helo.model.helo",
           "helo.model.baselines.common", "helo.model.baselines.pyldl_methods",
           "helo.model.baselines.pt_svm", "helo.model.baselines.tlrldl",
           "helo.model.baselines.sa_cpnn")
# (torch._dynamo: the first torch optimiser imports it, about a second per process. Keras is
# not preloaded: its import may set global torch state that stages without it never see.)
STAGE_COMMANDS = ("code-deps", "synth", "feature-params", "method-params", "extract", "assemble",
                  "evaluate", "report", "fit-final")
#: the caller's signals that go to its child's process group (as a terminal's would)
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
#: stat changes this close to the snapshot are not trusted: the file is hashed again
_RACY_NS = 2_000_000_000

#: the files the server runs, in ``helo/orchestration/``, executed in this order by :data:`_BOOT`
SERVER_SOURCES = ("warm.py", "warm_server.py")
#: the ``__name__`` of the namespace the bootstrap executes them in
BOOT_NAMESPACE = "helo_warm_bootstrap"

# The server's bootstrap: it imports helo from the folder its caller did, and runs the text of
# SERVER_SOURCES (each read once, and checked against the snapshot by boot) in one namespace
# before any module of helo is imported.
_BOOT = ("import os, sys\n"
         "path = sys.argv[1]\n"
         "sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(path))))\n"
         f"ns = {{'__name__': {BOOT_NAMESPACE!r}, '__file__': path}}\n"
         "sources = {}\n"
         f"for name in {SERVER_SOURCES!r}:\n"
         "    file = os.path.join(os.path.dirname(path), name)\n"
         "    with open(file, 'rb') as fh:\n"
         "        sources[name] = fh.read()\n"
         "    exec(compile(sources[name], file, 'exec'), ns)\n"
         "rc = ns['boot'](sources, *sys.argv[2:])\n"
         "sys.stdout.flush()\n"
         "sys.stderr.flush()\n"
         "os._exit(rc)\n")  # no interpreter teardown of the preloaded libraries


class Refused(Exception):
    """A ``.helo/`` folder or socket that is not safe to use (the message says why)."""


# ----------------------------------------------------------------------------- the key
def helo_root() -> Path:
    import helo
    return Path(helo.__file__).resolve().parent


def snapshot(root: Path) -> dict[str, tuple[tuple[int, ...], str]]:
    """``{relative path: (stat signature, SHA-256 of the contents)}`` of every ``*.py`` under
    ``root``."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in sorted(filenames):
            if name.endswith(".py"):
                path = os.path.join(dirpath, name)
                sig = _signature(os.stat(path))
                with open(path, "rb") as fh:
                    digest = hashlib.sha256(fh.read()).hexdigest()
                out[os.path.relpath(path, root)] = (sig, digest)
    return out


def _signature(st: os.stat_result) -> tuple[int, ...]:
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def unchanged(root: Path, snap: dict, taken_ns: int) -> bool:
    """Whether the files under ``root`` are still those of ``snap`` (taken at ``taken_ns``):
    the same set of paths and, for each, the same stat signature, or the same contents."""
    seen = set()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        for name in filenames:
            if not name.endswith(".py"):
                continue
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            if rel not in snap:
                return False
            seen.add(rel)
            try:
                st = os.stat(path)
            except OSError:
                return False
            sig, digest = snap[rel]
            if _signature(st) == sig and st.st_ctime_ns < taken_ns - _RACY_NS:
                continue
            try:
                with open(path, "rb") as fh:
                    if hashlib.sha256(fh.read()).hexdigest() != digest:
                        return False
            except OSError:
                return False
    return seen == set(snap)


def environment_key(environ=None) -> list[tuple[str, str]]:
    """The environment variables a library may read when it is imported (sorted pairs): the
    named ones, those under the known prefixes and the CPU-kernel pins; the warm server's own
    switches (``HELO_WARM*``) and what is read only at run time are left out."""
    # imported here: the bootstrap runs this file's text before anything of helo is imported
    from helo.cpu_kernels import PINNED_VARIABLES
    environ = os.environ if environ is None else environ
    names = set(KEY_ENV) | set(PINNED_VARIABLES)
    return sorted((k, v) for k, v in environ.items()
                  if k in names or k.startswith(KEY_ENV_PREFIXES))


def make_key(root: Path, snap: dict, env: list) -> str:
    """The key a caller and a server must share: interpreter, helo's folder and file
    contents, and :func:`environment_key`."""
    h = hashlib.sha256()
    h.update(f"{sys.executable}\n{sys.version}\n{sys.flags.optimize}\n{root}\n".encode())
    for rel in sorted(snap):
        h.update(f"{rel}:{snap[rel][1]}\n".encode())
    for k, v in env:
        h.update(f"{k}={v}\n".encode())
    return h.hexdigest()


def code_key() -> str:
    """This process's key: helo's files as they are on disk now, and its environment."""
    root = helo_root()
    return make_key(root, snapshot(root), environment_key())


def enabled(argv: list[str]) -> bool:
    """Whether a ``helo`` process may use a warm server: a stage command run as its own process
    (the CLI asks only then), not inside a warm child, not disabled by ``HELO_WARM=0`` or by
    ``orchestrator.warm: false`` in its params. A params file that cannot be read says no: the
    command then runs cold and reports it the ordinary way."""
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
            p = read_yaml(fh.read())
        orchestrator = p.get("orchestrator") if isinstance(p, dict) else None
        return isinstance(orchestrator, dict) and orchestrator.get("warm") is True
    except Exception:  # noqa: BLE001 - any unreadable params: cold, whose error is the one shown
        return False


# ----------------------------------------------------------------------------- safety
def private_dir(folder: Path, create: bool) -> None:
    """Make sure ``folder`` is a directory of this user's that nobody else can enter or write
    (created mode 0700 whatever the umask); raise :class:`Refused` when it is not. A folder of
    this user's that others could enter but never write (0755, as an umask of 022 made it) is
    made 0700: nobody else can have put anything in it."""
    folder = Path(folder)
    if create:
        try:
            os.mkdir(folder, 0o700)
            os.chmod(folder, 0o700)
        except FileExistsError:
            pass
    try:
        st = os.lstat(folder)
    except FileNotFoundError:
        raise Refused(f"{folder} does not exist") from None
    if not stat.S_ISDIR(st.st_mode):
        raise Refused(f"{folder} is not a directory")
    if st.st_uid == os.getuid() and st.st_mode & 0o077 and not st.st_mode & 0o022:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            os.fchmod(fd, 0o700)
            st = os.fstat(fd)
        finally:
            os.close(fd)
    _owned_and_private(folder, st)


def _owned_and_private(path: Path, st: os.stat_result) -> None:
    if st.st_uid != os.getuid():
        raise Refused(f"{path} belongs to uid {st.st_uid}, not to this user")
    if st.st_mode & 0o077:
        raise Refused(f"{path} is open to group or others (mode {stat.S_IMODE(st.st_mode):o}; "
                      f"`chmod 700 {path}`)")


def check_socket(sock: Path) -> bool:
    """True for a usable server socket: this user's socket, in a private folder of this
    user's; False when there is none; :class:`Refused` when there is one that is not safe."""
    sock = Path(sock)
    try:
        st = os.lstat(sock)
    except FileNotFoundError:
        return False
    private_dir(sock.parent, create=False)
    if not stat.S_ISSOCK(st.st_mode):
        raise Refused(f"{sock} is not a socket")
    _owned_and_private(sock, st)
    return True


def peer(conn: socket.socket) -> tuple[int, int, int]:
    """``(pid, uid, gid)`` of the process at the other end, from the kernel (``SO_PEERCRED``)."""
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", creds)


def _proc_stat(pid: int) -> tuple[int, int] | None:
    """``(parent pid, process group)`` of ``pid`` from ``/proc``, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            text = fh.read()
    except OSError:
        return None
    fields = text[text.rindex(b")") + 2:].split()
    return int(fields[1]), int(fields[2])


def is_child_of(pid: int, parent: int) -> bool:
    """Whether ``pid`` is a child of ``parent`` that leads its own process group."""
    info = _proc_stat(pid) if pid > 1 else None
    return info is not None and info == (parent, pid)


# ----------------------------------------------------------------------------- the protocol
def _frame(obj: dict) -> bytes:
    data = json.dumps(obj).encode()
    return struct.pack("!I", len(data)) + data


def _send(conn: socket.socket, obj: dict, fds: list[int] | None = None) -> None:
    msg = _frame(obj)
    if fds:
        sent = socket.send_fds(conn, [msg], fds)
        if sent < len(msg):  # (sendall of nothing still sends: EPIPE once a fast child is done)
            conn.sendall(msg[sent:])
    else:
        conn.sendall(msg)


def _recv(conn: socket.socket) -> dict | None:
    """One message, or None at end of stream or on a malformed one."""
    head = _recv_exact(conn, 4)
    if head is None:
        return None
    (n,) = struct.unpack("!I", head)
    if n > MAX_REQUEST:
        return None
    data = _recv_exact(conn, n)
    try:
        obj = json.loads(data) if data is not None else None
    except ValueError:
        return None
    return obj if isinstance(obj, dict) else None


def _recv_exact(conn: socket.socket, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


# ----------------------------------------------------------------------------- the client
def _notice(text: str) -> None:
    print(f"helo: warm server not used: {text}", file=sys.stderr)


def run_via_server(argv: list[str], sock: Path = SOCK) -> int | None:
    """Run ``helo argv`` in a fork of the warm server; its exit code, or None when no usable
    server answered before a child started (the caller then runs the command itself). A
    child that died by a signal makes this process die by the same signal."""
    sock = Path(sock)
    try:
        if not check_socket(sock):
            return None
    except Refused as err:
        _notice(str(err))
        return None
    except OSError:
        return None
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        pid, server_pid = _start_child(conn, sock, argv)
        if pid is None:
            conn.close()  # a child that did start sees its caller gone and is killed
            return None
        return _wait_for_child(conn, pid, server_pid)
    finally:
        conn.close()


def _start_child(conn: socket.socket, sock: Path, argv: list[str]):
    """Connect, check the server is this user's, send the request; ``(child pid, server pid)``,
    or ``(None, None)`` when refused or when the PID offered is not the server's child."""
    ignored = [int(s) for s in FORWARDED if signal.getsignal(s) == signal.SIG_IGN]
    try:
        conn.settimeout(CONNECT_TIMEOUT_S)
        conn.connect(str(sock))
        server_pid, uid, _ = peer(conn)
        if uid != os.getuid():
            _notice(f"{sock} is served by uid {uid}, not by this user")
            return None, None
        _send(conn, {"argv": list(argv), "cwd": os.getcwd(), "env": dict(os.environ),
                     "key": code_key(), "umask": _umask(), "nice": os.nice(0),
                     "ignored": ignored}, [0, 1, 2])
        reply = _recv(conn)
    except (OSError, ValueError):
        return None, None
    pid = reply.get("pid") if reply else None
    if not isinstance(pid, int) or pid <= 1:
        return None, None  # refused: other code or environment
    info = _proc_stat(pid)  # None: a child that has already finished (its status follows)
    if info is not None and info != (server_pid, pid):
        return None, None  # a process that is not the server's child: never signalled
    return pid, server_pid


def _umask() -> int:
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def _wait_for_child(conn: socket.socket, pid: int, server_pid: int) -> int:
    received: list[int] = []

    def forward(signum, _frame):
        received.append(signum)
        if is_child_of(pid, server_pid):  # still the server's child: never another process
            try:
                os.killpg(pid, signum)
            except OSError:
                pass

    old = {s: signal.signal(s, forward) for s in FORWARDED
           if signal.getsignal(s) != signal.SIG_IGN}
    try:
        conn.settimeout(None)
        try:
            done = _recv(conn)
        except OSError:
            done = None
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    if done and isinstance(done.get("signal"), int):
        sig = done["signal"]
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)  # die as the stage process died
        return 128 + sig
    if done and isinstance(done.get("rc"), int):
        return done["rc"]
    if received and received[-1] != signal.SIGINT:
        signal.signal(received[-1], signal.SIG_DFL)
        os.kill(os.getpid(), received[-1])
    print("helo: the warm stage process ended without an exit status", file=sys.stderr)
    return 1


def server_command(sock: Path = SOCK, idle_s: float = IDLE_S,
                   request_timeout_s: float = REQUEST_TIMEOUT_S,
                   runner: str = "helo.cli:main", preload=PRELOAD) -> list[str]:
    """The command line of a warm server for ``sock``: the bootstrap, which snapshots helo's
    files before it imports any of them. ``runner`` names the function that runs a command,
    ``preload`` the modules imported before the first fork."""
    return [sys.executable, "-c", _BOOT, str(Path(__file__).resolve()), str(sock), str(idle_s),
            str(request_timeout_s), runner, ",".join(preload)]


def start_server_background(sock: Path = SOCK) -> None:
    """Start a warm server for this project in the background (returns at once; does nothing
    when one is starting, or when ``.helo/`` is not safe to use)."""
    sock = Path(sock)
    try:
        private_dir(sock.parent, create=True)
    except (Refused, OSError) as err:
        _notice(str(err))
        return
    lock = sock.with_suffix(".starting")  # holds the starting server's PID
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        try:
            text = lock.read_text().strip()
            if (text.isdigit() and _proc_stat(int(text)) is None) or \
                    time.time() - lock.stat().st_mtime >= 120:
                lock.unlink()  # a server that died while starting: the next command starts one
        except OSError:
            pass
        return
    except OSError:
        return
    try:
        proc = subprocess.Popen(server_command(sock), stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                close_fds=True, start_new_session=True)
        os.write(fd, f"{proc.pid}\n".encode())
    finally:
        os.close(fd)


# ----------------------------------------------------------------------------- by hand
def _ask(sock: Path, op: str) -> dict | None:
    try:
        if not check_socket(sock):
            return None
    except (Refused, OSError):
        return None
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.settimeout(CONNECT_TIMEOUT_S)
        conn.connect(str(sock))
        if peer(conn)[1] != os.getuid():
            return None
        _send(conn, {"op": op})
        return _recv(conn)
    except (OSError, ValueError):
        return None
    finally:
        conn.close()


def status(sock: Path = SOCK) -> str:
    sock = Path(sock)
    try:
        check_socket(sock)
    except Refused as err:
        return f"not used: {err}"
    reply = _ask(sock, "status")
    if reply and isinstance(reply.get("pid"), int):
        return (f"listening on {sock} (pid {reply['pid']}, {reply.get('served')} commands "
                f"served, {reply.get('running')} running)")
    return "not running"


def stop(sock: Path = SOCK) -> None:
    """Stop the server: it takes no more commands and exits once its running ones finish."""
    _ask(Path(sock), "stop")
