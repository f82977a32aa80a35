"""Where parallel per-subject / per-fold work runs: threads, processes, Dask or Ray.

``executor(kind, workers, address)`` is a context manager yielding a
:class:`concurrent.futures.Executor`, so stage code is the same whichever runs it:

* ``threads`` / ``processes`` -- this machine.
* ``dask`` -- ``address`` of a running ``dask.distributed`` scheduler (``tcp://host:8786``),
  or a ``LocalCluster`` of ``workers`` single-threaded worker processes when ``address`` is null.
* ``ray`` -- ``ray.init(address)`` (``auto`` or ``ray://host:10001``); needs ``pip install
  'helo[ray]'``. Each submitted call becomes a Ray task.

Local worker processes live no longer than the stage: each dies with the process that started
it (:func:`helo.orchestration.lifetime.die_with_parent`), and when the stage ends by an
exception (an error, Ctrl-C, SIGTERM or SIGHUP: :mod:`helo.orchestration.lifetime`) the pool's
workers are killed and its queued calls cancelled instead of being waited for. (A Dask
``LocalCluster``'s workers already end with the process that started them: ``distributed``
watches its parent.)
"""
from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor

KINDS = ("threads", "processes", "dask", "ray", "serial")


class SerialExecutor(Executor):
    """Runs each call at once in this process (debugging, one worker)."""

    def submit(self, fn, /, *args, **kwargs):
        fut: Future = Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except BaseException as err:  # noqa: BLE001 - handed to the caller through the future
            fut.set_exception(err)
        return fut


class RayExecutor(Executor):
    def __init__(self, address: str | None, workers: int):
        try:
            import ray
        except ImportError as err:  # pragma: no cover - optional dependency
            raise RuntimeError("task_runner 'ray' needs Ray: pip install 'helo[ray]'") from err
        self._ray = ray
        if not ray.is_initialized():
            ray.init(address=address, num_cpus=None if address else workers,
                     include_dashboard=False, log_to_driver=False)

    def submit(self, fn, /, *args, **kwargs):
        remote = self._ray.remote(fn)
        return remote.remote(*args, **kwargs).future()

    def shutdown(self, wait=True, **_):
        pass


def _worker_start(parent_pid: int) -> None:
    """Worker initializer: the worker dies with the stage process, and runs one thread."""
    from helo.orchestration.lifetime import die_with_parent
    die_with_parent(parent_pid)
    _single_threaded()


def _single_threaded() -> None:
    """One thread per process for BLAS/OpenMP/OpenCV/torch, so N worker processes use N cores
    instead of fighting over them."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    try:
        import cv2
        cv2.setNumThreads(1)
    except ImportError:  # pragma: no cover
        pass


def _kill_workers(ex: ProcessPoolExecutor) -> None:
    """Cancel what is queued and kill the workers now (their results would be thrown away)."""
    procs = list((getattr(ex, "_processes", None) or {}).values())
    ex.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            p.kill()
    for p in procs:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            p.join(5)


@contextlib.contextmanager
def executor(kind: str = "processes", workers: int = 2, address: str | None = None):
    if kind not in KINDS:
        raise ValueError(f"unknown task runner {kind!r}; choose one of {KINDS}")
    workers = max(1, int(workers or 1))
    if kind == "serial" or (kind in ("threads", "processes") and workers == 1):
        yield SerialExecutor()
    elif kind == "threads":
        ex = ThreadPoolExecutor(workers)
        try:
            yield ex
        except BaseException:
            ex.shutdown(wait=False, cancel_futures=True)  # running calls finish; queued do not
            raise
        ex.shutdown(wait=True)
    elif kind == "processes":
        # spawn: safe beside torch/OpenMP state in the parent; workers import only what they use.
        ex = ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"),
                                 initializer=_worker_start, initargs=(os.getpid(),))
        try:
            yield ex
        except BaseException:
            _kill_workers(ex)
            raise
        ex.shutdown(wait=True)
    elif kind == "dask":
        from distributed import Client, LocalCluster
        if address:
            with Client(address) as client:
                yield client.get_executor()
        else:
            with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                              dashboard_address=None) as cluster, Client(cluster) as client:
                yield client.get_executor()
    else:
        yield RayExecutor(address, workers)
