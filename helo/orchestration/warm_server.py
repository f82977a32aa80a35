"""The warm stage server's process: :func:`boot` snapshots helo's files, imports helo and the
libraries, and :class:`Server` serves stage commands on its socket, each in a forked child.

The contract, the key, the safety rules and the client are in :mod:`helo.orchestration.warm`,
whose docstring says what the server guarantees. This file is not imported by the server
process: warm.py's bootstrap executes warm.py's text and then this file's text in one namespace
(``warm.BOOT_NAMESPACE``) before anything of helo is imported, and :func:`boot` checks both
texts against the snapshot it takes before it imports helo. So this file uses warm.py's names
as globals of that namespace, and imports them from :mod:`helo.orchestration.warm` only when it
is imported as a module of helo (tests, tools).
"""
from __future__ import annotations

import hashlib
import json
import os
import selectors
import signal
import socket
import struct
import sys
import time
from pathlib import Path

# "helo_warm_bootstrap" is warm.BOOT_NAMESPACE (it cannot be imported before this test)
if __name__ != "helo_warm_bootstrap":  # imported as helo's module, not run by the bootstrap
    from helo.orchestration.warm import (
        FORWARDED,
        IDLE_S,
        MAX_REQUEST,
        REQUEST_TIMEOUT_S,
        SERVER_SOURCES,
        _send,
        environment_key,
        make_key,
        peer,
        private_dir,
        snapshot,
        unchanged,
    )


def boot(sources: dict[str, bytes], sock: str, idle_s: str, request_timeout_s: str,
         runner: str, preload: str) -> int:
    """The server process, run by ``warm._BOOT`` with the text of ``warm.SERVER_SOURCES``
    (``{file name: text}``): snapshot helo's files, check that every text it runs is the
    snapshot's, then import (helo, the libraries, ``runner``), then serve."""
    root = Path(__file__).resolve().parent.parent
    taken_ns = time.time_ns()
    snap = snapshot(root)
    if sorted(sources) != sorted(SERVER_SOURCES):
        return 3
    for name, source in sources.items():
        mine = snap.get(os.path.join("orchestration", name))
        if mine is None or mine[1] != hashlib.sha256(source).hexdigest():
            return 3  # a file changed while it was read: the next command starts another
    sock_path = Path(sock)
    try:
        import importlib

        import helo  # first: its import may set environment variables the libraries read
        if Path(helo.__file__).resolve().parent != root:
            return 3  # PYTHONPATH names another helo: its callers' keys would not match
        env = environment_key()
        for name in filter(None, preload.split(",")):
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001 - a missing optional library only stays cold
                pass
        module, _, func = runner.partition(":")
        run_argv = getattr(importlib.import_module(module), func)
        server = Server(sock_path, run_argv, make_key(root, snap, env),
                        lambda: unchanged(root, snap, taken_ns), idle_s=float(idle_s),
                        request_timeout_s=float(request_timeout_s))
    finally:
        sock_path.with_suffix(".starting").unlink(missing_ok=True)
    return server.run()


class _Pending:
    """A connection whose request is still arriving."""

    def __init__(self, conn: socket.socket, deadline: float):
        self.conn, self.deadline = conn, deadline
        self.data = bytearray()
        self.fds: list[int] = []

    def close(self) -> None:
        for fd in self.fds:
            _close_fd(fd)
        self.fds = []
        self.conn.close()


def _close_fd(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


class Server:
    """Serves stage commands on ``sock`` until ``idle_s`` seconds pass without one, the socket
    is removed or replaced, SIGTERM, a ``stop`` request, or it retires (a request with another
    key, or ``code_unchanged()`` false: checked every second and before every fork); then waits
    for its running children. ``run_argv(argv) -> exit code`` runs a command in a child."""

    def __init__(self, sock: Path, run_argv, key: str, code_unchanged,
                 idle_s: float = IDLE_S, request_timeout_s: float = REQUEST_TIMEOUT_S):
        self.sock, self.run_argv, self.key = Path(sock), run_argv, key
        self.code_unchanged = code_unchanged
        self.idle_s, self.request_timeout_s = idle_s, request_timeout_s
        private_dir(self.sock.parent, create=True)
        # bound and listening under a name of its own, then renamed into place: a caller
        # never finds a socket that refuses connections
        fresh = self.sock.with_name(f"{self.sock.name}.{os.getpid()}")
        fresh.unlink(missing_ok=True)
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_mask = os.umask(0o077)
        try:
            self.srv.bind(str(fresh))
        finally:
            os.umask(old_mask)
        self.srv.listen(64)
        self.srv.setblocking(False)
        os.replace(fresh, self.sock)
        self.inode = os.lstat(self.sock).st_ino
        self.pending: dict[socket.socket, _Pending] = {}
        self.children: dict[int, socket.socket] = {}  # child pid -> its caller's connection
        self.listening = True
        self.stop_requested = False
        self.served = 0

    # -- the loop
    def run(self) -> int:
        wake_r, wake_w = os.pipe()
        self.wake = (wake_r, wake_w)
        for fd in self.wake:
            os.set_blocking(fd, False)
        signal.signal(signal.SIGCHLD, lambda *_: None)  # a child's exit wakes the loop
        signal.signal(signal.SIGTERM, self._on_term)
        signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.srv, selectors.EVENT_READ, "listen")
        self.sel.register(wake_r, selectors.EVENT_READ, "wake")
        last = last_check = time.monotonic()
        try:
            while self.listening or self.children:
                now = time.monotonic()
                if self.listening:
                    if self.children:
                        last = now  # idle counts from the end of the last command
                    if (self.stop_requested or now - last >= self.idle_s
                            or not self._socket_is_ours()):
                        self._retire()
                        continue
                    if now - last_check >= 1.0:  # an edit retires the server at once
                        last_check = now
                        if not self.code_unchanged():
                            self._retire()
                            continue
                timeout = min([0.5] + [p.deadline - now for p in self.pending.values()])
                for item, _ in self.sel.select(max(0.0, timeout)):
                    self._event(item)
                self._reap()
                self._drop_late()
        finally:
            self._retire()
            signal.set_wakeup_fd(-1)
            self.sel.close()
            for fd in self.wake:
                _close_fd(fd)
        return 0

    def _on_term(self, _signum, _frame) -> None:
        self.stop_requested = True

    def _event(self, item) -> None:
        what = item.data
        if what == "wake":
            try:
                while os.read(self.wake[0], 512):
                    pass
            except (BlockingIOError, InterruptedError):
                pass
        elif what == "listen":
            if self.listening:
                self._accept()
        elif what == "caller":
            self._caller_readable(item.fileobj)
        elif what.conn in self.pending:  # (not dropped earlier in this round)
            req = self._read(what)
            if req is not None:
                self._handle(req, what)

    # -- connections
    def _accept(self) -> None:
        try:
            conn, _ = self.srv.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return
        try:
            if peer(conn)[1] != os.getuid():  # another user's process: never read
                conn.close()
                return
        except OSError:
            conn.close()
            return
        conn.setblocking(False)
        p = _Pending(conn, time.monotonic() + self.request_timeout_s)
        self.pending[conn] = p
        self.sel.register(conn, selectors.EVENT_READ, p)

    def _forget(self, p: _Pending) -> None:
        try:
            self.sel.unregister(p.conn)
        except (KeyError, ValueError):
            pass
        self.pending.pop(p.conn, None)

    def _read(self, p: _Pending) -> dict | None:
        """Read what has arrived: the request once it is complete, else None (the connection
        waits for more, or was dropped as broken or malformed)."""
        try:
            data, fds, _, _ = socket.recv_fds(p.conn, 65536, 3)
        except (BlockingIOError, InterruptedError):
            return None
        except OSError:
            data, fds = b"", []
        p.fds.extend(fds)
        p.data += data
        size = struct.unpack("!I", p.data[:4])[0] if len(p.data) >= 4 else 0
        if not data or len(p.fds) > 3 or size > MAX_REQUEST:
            self._forget(p)
            p.close()
            return None
        if len(p.data) < 4 or len(p.data) < 4 + size:
            return None
        self._forget(p)
        try:
            req = json.loads(bytes(p.data[4:4 + size]))
        except ValueError:
            req = None
        if not isinstance(req, dict):
            p.close()
            return None
        return req

    def _drop_late(self) -> None:
        now = time.monotonic()
        for p in [p for p in self.pending.values() if p.deadline <= now]:
            self._forget(p)
            p.close()  # a silent caller: dropped, nobody waited on it

    def _handle(self, req: dict, p: _Pending) -> None:
        conn = p.conn
        try:
            conn.setblocking(True)
            conn.settimeout(self.request_timeout_s)
            if req.get("op") == "stop":
                _reply(conn, {"stopping": True})
                self.stop_requested = True
            elif req.get("op") == "status":
                _reply(conn, {"pid": os.getpid(), "running": len(self.children),
                              "served": self.served})
            elif _valid_command(req, p.fds):
                if req.get("key") != self.key or not self.code_unchanged():
                    _reply(conn, {"refused": "other code or environment"})
                    self._retire()  # make way for a server with the current code
                else:
                    self._fork(req, p)
                    return
        except OSError:
            pass
        p.close()

    def _fork(self, req: dict, p: _Pending) -> None:
        fds, p.fds = p.fds, []
        pid = os.fork()
        if pid == 0:
            self._close_in_child(p.conn)
            _child(p.conn, req, fds, self.run_argv)  # never returns
        for fd in fds:
            _close_fd(fd)
        p.conn.setblocking(False)
        self.served += 1
        self.children[pid] = p.conn
        self.sel.register(p.conn, selectors.EVENT_READ, "caller")

    def _close_in_child(self, keep: socket.socket) -> None:
        """The server's sockets, pipes and other callers' connections are not the stage's."""
        signal.set_wakeup_fd(-1)
        self.sel.close()
        self.srv.close()
        for fd in self.wake:
            _close_fd(fd)
        for q in self.pending.values():
            q.close()
        for c in self.children.values():
            if c is not keep:
                c.close()

    def _caller_readable(self, conn: socket.socket) -> None:
        """A caller sends nothing after its request: its connection turning readable is its
        end closing (the caller died): its child's whole process group is killed."""
        try:
            if conn.recv(1):
                return
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            pass
        self.sel.unregister(conn)
        for pid, c in self.children.items():
            if c is conn:
                try:
                    os.killpg(pid, signal.SIGKILL)
                except OSError:
                    pass

    def _reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            conn = self.children.pop(pid, None)
            if conn is None:
                continue
            try:  # what the stage left running in its group ends with it
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
            try:
                self.sel.unregister(conn)
            except (KeyError, ValueError):
                pass
            if os.WIFSIGNALED(status):
                msg = {"signal": os.WTERMSIG(status)}
            else:
                msg = {"rc": os.waitstatus_to_exitcode(status)}
            try:
                conn.setblocking(True)
                conn.settimeout(1.0)
                _send(conn, msg)
            except OSError:
                pass
            conn.close()

    # -- the socket
    def _socket_is_ours(self) -> bool:
        try:
            return os.lstat(self.sock).st_ino == self.inode
        except OSError:
            return False

    def _retire(self) -> None:
        """Take no more commands: close and remove the socket (if it is still this
        server's), drop the requests still arriving."""
        if not self.listening:
            return
        self.listening = False
        try:
            self.sel.unregister(self.srv)
        except (KeyError, ValueError, AttributeError):
            pass
        self.srv.close()
        if self._socket_is_ours():  # not a newer server's
            self.sock.unlink(missing_ok=True)
        for p in list(self.pending.values()):
            self._forget(p)
            p.close()


def _valid_command(req: dict, fds: list[int]) -> bool:
    env = req.get("env")
    return (len(fds) == 3 and isinstance(req.get("argv"), list)
            and all(isinstance(a, str) for a in req["argv"]) and isinstance(req.get("cwd"), str)
            and isinstance(env, dict)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in env.items())
            and isinstance(req.get("umask"), int) and isinstance(req.get("nice"), int)
            and isinstance(req.get("ignored"), list)
            and all(isinstance(s, int) for s in req["ignored"]))


def _reply(conn: socket.socket, obj: dict) -> None:
    try:
        _send(conn, obj)
    except OSError:
        pass


def _child(conn: socket.socket, req: dict, fds: list[int], run_argv) -> None:
    """In the forked child: lead a process group of its own, become the caller's process (its
    stdin/stdout/stderr, directory, environment, umask, niceness, ignored signals) and run the
    command. Its exit status is reported by the server, which reaps it."""
    rc = 1
    try:
        os.setpgid(0, 0)
        for s in (signal.SIGTERM, signal.SIGCHLD, signal.SIGHUP, signal.SIGQUIT):
            signal.signal(s, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for s in req["ignored"]:
            if s in FORWARDED:
                signal.signal(s, signal.SIG_IGN)
        _send(conn, {"pid": os.getpid()})
        for i, fd in enumerate(fds[:3]):
            os.dup2(fd, i)
        for fd in fds:
            os.close(fd)
        sys.stdin = open(0, closefd=False)
        sys.stdout = open(1, "w", closefd=False, buffering=1)
        sys.stderr = open(2, "w", closefd=False, buffering=1)
        os.umask(req["umask"])
        if req["nice"] > os.nice(0):
            os.nice(req["nice"] - os.nice(0))
        os.chdir(req["cwd"])
        os.environ.clear()
        os.environ.update(req["env"])
        os.environ["HELO_WARM_CHILD"] = "1"
        sys.argv = ["helo"] + list(req["argv"])
        try:
            rc = int(run_argv(list(req["argv"])) or 0)
        except SystemExit as err:
            if isinstance(err.code, int) or err.code is None:
                rc = err.code or 0
            else:
                print(err.code, file=sys.stderr)
                rc = 1
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
        os._exit(rc & 0xFF)
