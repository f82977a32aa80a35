"""The warm stage server: a command run in a fork of it gives the same bytes and exit code as
the same command run cold; it serves only the code and environment it was started with, only
its own user, is not blocked or ended by a broken caller, fails over to a cold run with the
ordinary errors, and its child ends with its caller."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from helo.orchestration import warm
from helo.synth import manifest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="needs fork, Unix sockets, SO_PEERCRED and /proc")

ROOT = Path(__file__).resolve().parents[2]

# A server whose commands are stand-ins (no helo import in the child): "ok" writes a marker,
# "slow" starts two worker processes and the three of them append to files until killed.
FAKE_SERVER = r"""
import multiprocessing, os, sys, time
from pathlib import Path
from helo.orchestration import warm, warm_server

sock, work, mode = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]

def scribble(name):
    with open(work / name, "a") as fh:
        while True:
            fh.write("x")
            fh.flush()
            time.sleep(0.02)

def run_argv(argv):
    if argv[0] == "leave-a-worker":
        worker = multiprocessing.get_context("fork").Process(target=scribble, args=("left",))
        worker.start()
        (work / "pids").write_text(str(worker.pid))
        os._exit(0)  # no join: the worker would outlive a cold process
    if argv[0] == "ok":
        (work / "ran").write_text(" ".join(argv))
        print("ran", argv)
        return int(argv[1]) if len(argv) > 1 else 0
    workers = [multiprocessing.get_context("fork").Process(target=scribble, args=(f"w{i}",))
               for i in range(2)]
    for w in workers:
        w.start()
    (work / "pids").write_text(" ".join(str(p) for p in [os.getpid()] +
                                        [w.pid for w in workers]))
    scribble("main")

if mode == "other-uid":
    warm_server.peer = lambda conn: (1, os.getuid() + 1, os.getgid())
srv = warm_server.Server(sock, run_argv, warm.code_key(), lambda: True, idle_s=60,
                         request_timeout_s=3.0)
sys.exit(srv.run())
"""


def _wait_for(path: Path, proc: subprocess.Popen, limit: float = 120) -> None:
    t0 = time.monotonic()
    while not path.exists():
        assert proc.poll() is None, "the warm server died while starting"
        assert time.monotonic() - t0 < limit, "the warm server did not start"
        time.sleep(0.05)


def _stop(proc: subprocess.Popen, sock: Path) -> None:
    warm.stop(sock)
    try:
        proc.wait(timeout=3)
    except subprocess.TimeoutExpired:
        proc.terminate()  # a server that does not read this user (SIGTERM: it retires)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def fake(tmp_path, monkeypatch, request):
    """A stand-in server in a subprocess: ``(socket, work folder, process)``."""
    monkeypatch.chdir(tmp_path)
    mode = getattr(request, "param", "normal")
    sock, work = tmp_path / ".helo" / "warm.sock", tmp_path / "work"
    work.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", FAKE_SERVER, str(sock), str(work), mode])
    _wait_for(sock, proc)
    yield sock, work, proc
    _stop(proc, sock)


@pytest.fixture
def server(tmp_path, monkeypatch):
    """A real server (``helo.cli:main``); the full preload only where a test needs it."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("orchestrator: {warm: true}\n")
    sock = tmp_path / ".helo" / "warm.sock"
    procs = []

    def start(preload=()):
        proc = subprocess.Popen(warm.server_command(sock, 60, 2.0, preload=preload),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(proc)
        _wait_for(sock, proc)
        return sock, proc
    yield start
    for proc in procs:
        _stop(proc, sock)


def _served(sock: Path) -> int:
    return warm._ask(sock, "status")["served"]


# ----------------------------------------------------------------------------- same results
def test_warm_run_is_byte_identical_to_a_cold_one(server, tmp_path):
    sock, _ = server(warm.PRELOAD)
    argv = ["synth", "--layout", "dmer-features", "--preset", "tiny", "--seed", "3"]
    assert warm.enabled(argv)
    assert warm.run_via_server(argv + ["--out", "warm"], sock) == 0
    assert _served(sock) == 1
    cold = subprocess.run([sys.executable, "-m", "helo"] + argv + ["--out", "cold"],
                          cwd=tmp_path, env=dict(os.environ, HELO_WARM="0"),
                          capture_output=True)
    assert cold.returncode == 0, cold.stderr[-2000:]
    assert manifest(tmp_path / "warm") == manifest(tmp_path / "cold")


def test_exit_codes_pass_through(server):
    sock, _ = server()
    # no assembled data here: the stage fails with a clean error, exit code 1, in the fork too
    assert warm.run_via_server(["evaluate", "--protocol", "loso", "--method", "mean"],
                               sock) == 1
    assert warm.run_via_server(["evaluate", "--protocol", "nope", "--method", "mean"],
                               sock) == 2  # argparse
    assert _served(sock) == 2


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


# ----------------------------------------------------------------------------- (a) the key
def _helo_copy(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    shutil.copytree(ROOT / "helo", src / "helo",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return src


def _copy_server(src: Path, sock: Path, env: dict, preload) -> subprocess.Popen:
    cmd = warm.server_command(sock, 60, 2.0, preload=preload)
    cmd[3] = str(src / "helo" / "orchestration" / "warm.py")  # the copy's bootstrap
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_for(sock, proc)
    return proc


def _kill_started_server(proj: Path) -> None:
    """A server started in the background by a cold command of the test: stop it."""
    lock = proj / ".helo" / "warm.starting"
    if lock.exists() and lock.read_text().strip():
        try:
            os.kill(int(lock.read_text()), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass
    warm.stop(proj / ".helo" / "warm.sock")


def test_an_edit_after_the_server_started_runs_cold_with_the_new_code(tmp_path):
    src, proj = _helo_copy(tmp_path), tmp_path / "proj"
    proj.mkdir()
    shutil.copy(ROOT / "params.yaml", proj / "params.yaml")  # orchestrator.warm: true
    sock = proj / ".helo" / "warm.sock"
    env = dict(os.environ, PYTHONPATH=str(src))
    env.pop("HELO_WARM", None)
    proc = _copy_server(src, sock, env, ["helo.cli", "helo.orchestration.run"])
    try:
        cmd = [sys.executable, "-m", "helo", "evaluate", "--protocol", "loso",
               "--method", "mean"]
        first = subprocess.run(cmd, cwd=proj, env=env, capture_output=True, text=True)
        assert first.returncode == 1 and "Traceback" not in first.stderr  # no assembled data
        assert _served(sock) == 1  # ran warm
        run_py = src / "helo" / "orchestration" / "run.py"
        run_py.write_text(run_py.read_text() + (
            "\n_old_run_stage = run_stage\n\n\ndef run_stage(*args, **kwargs):\n"
            "    import sys\n    print('the edited run_stage', file=sys.stderr)\n"
            "    return _old_run_stage(*args, **kwargs)\n"))
        second = subprocess.run(cmd, cwd=proj, env=env, capture_output=True, text=True)
        assert second.returncode == 1
        assert "the edited run_stage" in second.stderr  # the new code, not the preloaded one
        assert proc.wait(timeout=10) == 0  # the stale server retired
    finally:
        _kill_started_server(proj)
        _stop(proc, sock)


def test_the_snapshot_is_taken_before_the_preload(tmp_path):
    # an edit that lands while the server imports (here: made by a preloaded module) is code
    # the server did not snapshot: it retires without serving anything
    src = _helo_copy(tmp_path)
    (src / "helo" / "zz_edit_on_import.py").write_text(
        "from pathlib import Path\n"
        "p = Path(__file__).parent / 'io.py'\n"
        "p.write_text(p.read_text() + '\\n# edited during the preload\\n')\n")
    sock = tmp_path / ".helo" / "warm.sock"
    env = dict(os.environ, PYTHONPATH=str(src))
    proc = _copy_server(src, sock, env, ["helo.zz_edit_on_import", "helo.io"])
    assert proc.wait(timeout=15) == 0  # idle limit 60 s: it left because the code changed
    assert not sock.exists()


# The bootstrap, standard library only, run on warm.py's and warm_server.py's text; then (in
# one case) boot with the server file's text as it was read, which the file no longer is.
BOOTSTRAP_ONLY = r"""
import os, sys
path = sys.argv[1]
exec(sys.argv[2].split("rc = ")[0])  # the bootstrap, up to the call to boot
assert list(sources) == ["warm.py", "warm_server.py"], sources
print("helo modules:", sorted(m for m in sys.modules if m == "helo" or m.startswith("helo.")))
if sys.argv[3] == "edited":
    sources["warm_server.py"] += b"# read before an edit\n"
    print("boot:", ns["boot"](sources, sys.argv[4], "60", "2.0", "helo.cli:main", ""))
    print("helo imported:", "helo" in sys.modules)
"""


def _bootstrap_only(*args: str) -> list[str]:
    path = str(ROOT / "helo" / "orchestration" / "warm.py")
    out = subprocess.run([sys.executable, "-c", BOOTSTRAP_ONLY, path, warm._BOOT, *args],
                         capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=""))
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines()


def test_the_bootstrap_imports_nothing_of_helo_before_the_snapshot():
    assert _bootstrap_only("plain") == ["helo modules: []"]


def test_a_server_file_that_is_not_the_snapshots_is_not_run(tmp_path):
    # boot compares the hash of every text it executed (warm.py's and warm_server.py's) with
    # the snapshot: a mismatch in either exits (3) before helo is imported or a socket bound
    sock = tmp_path / ".helo" / "warm.sock"
    assert _bootstrap_only("edited", str(sock)) == ["helo modules: []", "boot: 3",
                                                    "helo imported: False"]
    assert not sock.exists()


def test_unchanged_sees_edits_whatever_their_timestamps(tmp_path):
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.py").write_text("y = 2\n")
    taken = time.time_ns()
    snap = warm.snapshot(tmp_path)
    assert set(snap) == {"a.py", os.path.join("sub", "b.py")}
    assert warm.unchanged(tmp_path, snap, taken)
    st = os.stat(tmp_path / "a.py")
    (tmp_path / "a.py").write_text("x = 9\n")  # same size, mtime set back
    os.utime(tmp_path / "a.py", ns=(st.st_atime_ns, st.st_mtime_ns))
    assert not warm.unchanged(tmp_path, snap, taken)
    (tmp_path / "a.py").write_text("x = 1\n")  # the same contents again: the same code
    assert warm.unchanged(tmp_path, snap, taken)
    (tmp_path / "sub" / "c.py").write_text("")  # a new module
    assert not warm.unchanged(tmp_path, snap, taken)
    (tmp_path / "sub" / "c.py").unlink()
    (tmp_path / "sub" / "b.py").unlink()  # a module gone
    assert not warm.unchanged(tmp_path, snap, taken)


@pytest.mark.parametrize("name", ["TQDM_DISABLE", "TMPDIR", "OMP_NUM_THREADS",
                                  "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "PYTHONHASHSEED",
                                  "MPLBACKEND", "NUMBA_NUM_THREADS", "NUMBA_CPU_NAME"])
def test_variables_read_at_import_are_in_the_key(name, monkeypatch):
    monkeypatch.delenv(name, raising=False)
    before = warm.code_key()
    monkeypatch.setenv(name, "7")
    assert (name, "7") in warm.environment_key()
    assert warm.code_key() != before


def test_cpu_kernel_pins_are_in_the_key(monkeypatch):
    from helo.cpu_kernels import PINNED_VARIABLES
    for name in PINNED_VARIABLES:
        monkeypatch.setenv(name, "pinned-value")
        assert (name, "pinned-value") in warm.environment_key()


def test_another_environment_is_refused_and_the_server_retires(server, monkeypatch):
    sock, proc = server()
    monkeypatch.setenv("TQDM_DISABLE", "1")
    assert warm.run_via_server(["synth", "--out", "x"], sock) is None
    assert proc.wait(timeout=10) == 0
    assert not Path("x").exists()


# ----------------------------------------------------------------------------- (b) only the user
def test_the_folder_is_private_whatever_the_umask(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    old = os.umask(0o002)
    try:
        proc = subprocess.Popen([sys.executable, "-c", FAKE_SERVER, ".helo/warm.sock", ".",
                                 "normal"])
        _wait_for(tmp_path / ".helo" / "warm.sock", proc)
    finally:
        os.umask(old)
    try:
        assert stat.S_IMODE(os.stat(tmp_path / ".helo").st_mode) == 0o700
        assert os.stat(tmp_path / ".helo" / "warm.sock").st_mode & 0o077 == 0
    finally:
        _stop(proc, tmp_path / ".helo" / "warm.sock")


def test_a_folder_open_to_the_group_is_not_used(fake, capsys):
    sock, work, _ = fake
    os.chmod(sock.parent, 0o775)
    assert warm.run_via_server(["ok"], sock) is None
    assert "open to group or others" in capsys.readouterr().err
    warm.start_server_background(sock)  # nor is a server started in it
    assert not sock.with_suffix(".starting").exists()
    os.chmod(sock.parent, 0o700)
    assert _served(sock) == 0 and not (work / "ran").exists()


def test_a_folder_others_could_only_enter_is_made_private(tmp_path):
    folder = tmp_path / ".helo"
    folder.mkdir()
    os.chmod(folder, 0o755)  # what an umask of 022 made of it: nobody else could write in it
    warm.private_dir(folder, create=False)
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    os.chmod(folder, 0o770)  # the group could have put a socket in it: refused, left as it is
    with pytest.raises(warm.Refused, match="open to group or others"):
        warm.private_dir(folder, create=True)
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o770


def test_a_socket_of_another_user_is_not_used(tmp_path, monkeypatch, capsys):
    folder = tmp_path / ".helo"
    warm.private_dir(folder, create=True)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(str(folder / "warm.sock"))
    srv.listen(1)
    real_lstat = os.lstat

    def lstat(path, *a, **k):  # the socket as if another uid had put it there
        st = real_lstat(path, *a, **k)
        if str(path).endswith("warm.sock"):
            fields = list(st)
            fields[stat.ST_UID] = os.getuid() + 1
            return os.stat_result(fields)
        return st
    monkeypatch.setattr(warm.os, "lstat", lstat)
    assert warm.run_via_server(["ok"], folder / "warm.sock") is None
    assert "belongs to uid" in capsys.readouterr().err
    srv.close()


class Impostor:
    """A listener at the socket path, in this process: records what callers send, answers
    ``reply``."""

    def __init__(self, sock: Path, reply: dict | None):
        warm.private_dir(sock.parent, create=True)
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o077)
        self.srv.bind(str(sock))
        os.umask(old)
        self.srv.listen(1)
        self.received, self.fds, self.reply = b"", [], reply
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        conn, _ = self.srv.accept()
        conn.settimeout(5)
        try:
            data, fds, _, _ = socket.recv_fds(conn, 1 << 20, 3)
            self.received, self.fds = data, fds
            if self.reply is not None and data:
                warm._send(conn, self.reply)
            conn.recv(1)
        except OSError:
            pass
        conn.close()
        for fd in self.fds:
            os.close(fd)


def test_a_peer_of_another_uid_gets_nothing(tmp_path, monkeypatch, capsys):
    sock = tmp_path / ".helo" / "warm.sock"
    impostor = Impostor(sock, {"pid": os.getpid()})
    monkeypatch.setattr(warm, "peer", lambda conn: (os.getpid(), os.getuid() + 1, 0))
    assert warm.run_via_server(["ok"], sock) is None
    impostor.thread.join(5)
    assert impostor.received == b"" and impostor.fds == []  # no environment, no stdin/out
    assert "served by uid" in capsys.readouterr().err


def test_a_pid_that_is_not_the_servers_child_is_never_signalled(tmp_path, monkeypatch):
    # a process of this user's that leads its own group, but whose parent is not the server
    other = subprocess.run(["sh", "-c", "setsid sleep 30 >/dev/null 2>&1 & echo $!"],
                           capture_output=True, text=True, check=True)
    victim = int(other.stdout.split()[0])
    sent = []
    monkeypatch.setattr(warm.os, "killpg", lambda *a: sent.append(a))
    monkeypatch.setattr(warm.os, "kill", lambda *a: sent.append(a))
    try:
        sock = tmp_path / ".helo" / "warm.sock"
        impostor = Impostor(sock, {"pid": victim})
        assert warm.run_via_server(["ok"], sock) is None  # not started: the caller runs cold
        impostor.thread.join(5)
        assert sent == [] and warm._proc_stat(victim) is not None
    finally:
        monkeypatch.undo()
        os.kill(victim, signal.SIGKILL)


@pytest.mark.parametrize("fake", ["other-uid"], indirect=True)
def test_the_server_does_not_read_another_uid(fake):
    sock, work, proc = fake
    assert warm.run_via_server(["ok"], sock) is None
    assert not (work / "ran").exists() and proc.poll() is None


# ----------------------------------------------------------------------------- (c) timeouts
def test_a_silent_caller_blocks_nobody_and_is_dropped(fake):
    sock, _, proc = fake
    silent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    silent.connect(str(sock))
    t0 = time.monotonic()
    assert warm.run_via_server(["ok", "3"], sock) == 3
    silent.setblocking(False)
    with pytest.raises(BlockingIOError):  # served while the silent one was still connected
        silent.recv(1)
    silent.settimeout(10)
    assert silent.recv(1) == b""  # then dropped: the server's request timeout is 3 s
    assert 2.5 < time.monotonic() - t0 < 10
    silent.close()
    assert proc.poll() is None


@pytest.mark.parametrize("junk", [b"", b"\x00\x00", struct.pack("!I", 1 << 30),
                                  struct.pack("!I", 5) + b"nope!", struct.pack("!I", 2) + b"[]",
                                  struct.pack("!I", 20) + b'{"argv": ["ok"]}'])
def test_broken_callers_do_not_end_the_server(fake, junk):
    sock, work, proc = fake
    for _ in range(3):
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.connect(str(sock))
        conn.sendall(junk)
        conn.close()
    assert warm.run_via_server(["ok"], sock) == 0
    assert proc.poll() is None and (work / "ran").read_text() == "ok"


# ----------------------------------------------------------------------------- (d) cold errors
@pytest.mark.parametrize("text", ["orchestrator: {warm: true\n  : [", "- a list\n", "42\n",
                                  "orchestrator: [warm]\n"])
def test_unreadable_params_say_cold(tmp_path, monkeypatch, text):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(text)
    assert warm.enabled(["evaluate", "--protocol", "loso", "--method", "mean"]) is False


def test_params_that_are_not_yaml_give_the_cold_one_line_error(tmp_path):
    (tmp_path / "params.yaml").write_text("orchestrator: {warm: true\n  : [\n")
    cmd = [sys.executable, "-m", "helo", "evaluate", "--protocol", "loso", "--method", "mean"]
    env = {k: v for k, v in os.environ.items() if k != "HELO_WARM"}
    via_cli = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True)
    cold = subprocess.run(cmd, cwd=tmp_path, env=dict(env, HELO_WARM="0"),
                          capture_output=True, text=True)
    assert via_cli.returncode == cold.returncode == 1
    assert via_cli.stderr == cold.stderr
    assert len(via_cli.stderr.strip().splitlines()) == 1
    assert via_cli.stderr.startswith("helo evaluate: error:")
    assert "Traceback" not in via_cli.stderr
    assert not list((tmp_path / ".helo").glob("warm*"))  # and no server was started for it


# ----------------------------------------------------------------------------- (e) ends with caller
def _running(pid: int) -> bool:
    info = Path(f"/proc/{pid}/stat")
    try:
        text = info.read_text()
    except OSError:
        return False
    return text[text.rindex(")") + 2] != "Z"


@pytest.mark.parametrize("how", [signal.SIGHUP, signal.SIGKILL])
def test_the_child_and_its_workers_end_with_the_caller(fake, how):
    sock, work, _ = fake
    caller = subprocess.Popen(
        [sys.executable, "-c", "import sys; from helo.orchestration import warm; "
         f"sys.exit(warm.run_via_server(['slow'], {str(sock)!r}))"],
        start_new_session=True,  # its own process group, as a terminal's job
        # a terminal's job gets SIGHUP's default action, whatever the test process inherited
        preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL))
    t0 = time.monotonic()
    while not (work / "pids").exists() or not (work / "w1").exists():
        assert time.monotonic() - t0 < 30 and caller.poll() is None
        time.sleep(0.05)
    pids = [int(p) for p in (work / "pids").read_text().split()]
    os.killpg(caller.pid, how)  # SIGHUP: the terminal closed; SIGKILL: nothing forwarded
    assert caller.wait(timeout=60) == -how  # the caller dies as a cold stage would
    t0 = time.monotonic()
    while any(_running(p) for p in pids):
        assert time.monotonic() - t0 < 5, "a warm stage process outlived its caller"
        time.sleep(0.05)
    sizes = {f: f.stat().st_size for f in work.iterdir()}
    time.sleep(0.3)
    assert {f: f.stat().st_size for f in work.iterdir()} == sizes  # nothing writes afterwards


def test_what_a_stage_leaves_running_ends_with_it(fake):
    sock, work, _ = fake
    assert warm.run_via_server(["leave-a-worker"], sock) == 0
    worker = int((work / "pids").read_text())
    t0 = time.monotonic()
    while _running(worker):
        assert time.monotonic() - t0 < 5, "the stage's worker outlived it"
        time.sleep(0.05)


def test_a_request_sent_whole_is_not_followed_by_an_empty_send(monkeypatch):
    """A fast child can finish, and the server close the connection, right after the request
    arrived: an empty ``sendall`` then raised EPIPE and the command ran a second time, cold."""
    calls = []

    class Conn:
        def sendall(self, data):
            calls.append(data)
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(warm.socket, "send_fds", lambda conn, bufs, fds: len(bufs[0]))
    warm._send(Conn(), {"argv": ["ok"]}, [0, 1, 2])
    assert calls == []
    monkeypatch.setattr(warm.socket, "send_fds", lambda conn, bufs, fds: 3)
    with pytest.raises(BrokenPipeError):
        warm._send(Conn(), {"argv": ["ok"]}, [0, 1, 2])
    assert calls and calls[0].endswith(b'["ok"]}')
