"""Start / stop a local Prefect server whose SQLite database lives in the project's .prefect/."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from helo.orchestration.runtime import DEFAULT_API, api_url, server_up


def _env() -> dict:
    home = Path(".prefect").resolve()
    home.mkdir(exist_ok=True)
    return dict(os.environ, PREFECT_HOME=str(home), DO_NOT_TRACK="1",
                PREFECT_SERVER_ANALYTICS_ENABLED="false",
                PREFECT_API_URL=os.environ.get("PREFECT_API_URL", DEFAULT_API))


def _pidfile() -> Path:
    return Path(".prefect").resolve() / "server.pid"


def start_server(background: bool = False, timeout: float = 90.0) -> int:
    url = api_url() or DEFAULT_API
    if server_up(url):
        print(f"a Prefect server already answers at {url}")
        return 0
    env = _env()
    from urllib.parse import urlparse
    port = str(urlparse(url).port or 4200)
    ui = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
           "--port", port]
    if not background:
        print(f"Prefect UI: {ui}  (API {url}; Ctrl-C stops)")
        return subprocess.call(cmd, env=env)
    log = open(Path(env["PREFECT_HOME"]) / "server.log", "ab")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    _pidfile().write_text(str(proc.pid))
    t0 = time.time()
    while time.time() - t0 < timeout:
        if server_up(url, timeout=1.0):
            print(f"Prefect server up in {time.time() - t0:.1f} s: UI {ui}, "
                  f"log {Path(env['PREFECT_HOME']) / 'server.log'}")
            return 0
        if proc.poll() is not None:
            print(f"the Prefect server exited (code {proc.returncode}); see "
                  f"{Path(env['PREFECT_HOME']) / 'server.log'}", file=sys.stderr)
            return 1
        time.sleep(0.5)
    print("the Prefect server did not answer in time", file=sys.stderr)
    return 1


def stop_server() -> int:
    pid_path = _pidfile()
    if not pid_path.exists():
        print("no background server started by helo")
        return 0
    pid = int(pid_path.read_text())
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    pid_path.unlink()
    print(f"stopped Prefect server (pid {pid})")
    return 0


def up(name: str = "full", run_argv=None) -> int:
    """Start the server in the background (if none answers), then serve helo/<name>."""
    rc = start_server(background=True)
    if rc:
        return rc
    os.environ.update({k: v for k, v in _env().items() if k.startswith(("PREFECT_", "DO_"))})
    from helo.orchestration.full import serve
    print(f"serving deployment helo/{name}; in another shell: "
          f"prefect deployment run helo/{name} --watch")
    serve(name, run_argv=run_argv)
    return 0
