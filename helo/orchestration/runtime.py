"""Prefect plumbing: is a server up, and the Prefect task runner for a kind of worker pool."""
from __future__ import annotations

import os
import urllib.request

DEFAULT_API = "http://127.0.0.1:4200/api"


def api_url() -> str | None:
    url = os.environ.get("PREFECT_API_URL")
    if url:
        return url
    try:
        from prefect.settings import PREFECT_API_URL
        return PREFECT_API_URL.value()
    except Exception:  # noqa: BLE001 - prefect not importable or misconfigured
        return None


def server_up(url: str | None = None, timeout: float = 0.5) -> bool:
    """True when a Prefect server answers at ``url`` (health endpoint) within ``timeout``."""
    url = url or api_url()
    if not url:
        return False
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/health", timeout=timeout) as resp:
            return resp.status == 200
    except OSError:
        return False


def task_runner(kind: str, workers: int, address: str | None):
    """The Prefect task runner for ``orchestrator.task_runner``."""
    workers = max(1, int(workers or 1))
    if kind in ("threads", "serial"):
        from prefect.task_runners import ThreadPoolTaskRunner
        return ThreadPoolTaskRunner(max_workers=workers if kind == "threads" else 1)
    if kind == "processes":
        from prefect.task_runners import ProcessPoolTaskRunner
        return ProcessPoolTaskRunner(max_workers=workers)
    if kind == "dask":
        from prefect_dask import DaskTaskRunner
        if address:
            return DaskTaskRunner(address=address)
        return DaskTaskRunner(cluster_kwargs={"n_workers": workers, "threads_per_worker": 1,
                                              "processes": True, "dashboard_address": None})
    if kind == "ray":
        try:
            from prefect_ray import RayTaskRunner
        except ImportError as err:  # pragma: no cover - optional
            raise RuntimeError("task_runner 'ray' needs pip install 'helo[ray]'") from err
        return RayTaskRunner(address=address) if address else RayTaskRunner()
    raise ValueError(f"unknown task runner {kind!r}")
