"""Stage flows: one Prefect task per subject (extraction) or per fold (evaluation)."""
from __future__ import annotations

import contextlib
import threading
from concurrent.futures import Executor, Future

from prefect import flow, get_run_logger, task

from helo.orchestration.plan import Plan, plan
from helo.orchestration.runtime import task_runner
from helo.stages import evaluate, extract
from helo.stages import params as P

TRANSIENT = (OSError, TimeoutError, ConnectionError)


# Work that a task hands to this stage's worker pool (set by the flow; None: run inline).
_POOL = None


def _run(fn, *args, **kwargs):
    return _POOL.submit(fn, *args, **kwargs).result() if _POOL is not None else \
        fn(*args, **kwargs)


@task(name="extract-subject", retries=2, retry_delay_seconds=2,
      retry_condition_fn=lambda t, r, s: isinstance(s.result(raise_on_failure=False),
                                                    TRANSIENT),
      cache_policy=None)
def extract_subject_task(layout, root, subject, modality, store, fparams, force=False):
    from helo.stages.extract import extract_subject
    return _run(extract_subject, layout, root, subject, modality, store, fparams, force=force)


@task(name="evaluate-fold", retries=1, retry_delay_seconds=2, cache_policy=None)
def evaluate_fold_task(kwargs: dict):
    from helo.evaluation.runner import run_fold
    return _run(run_fold, **kwargs)


def _runner(p: Plan):
    """Prefect task runner for a stage flow.

    ``processes`` maps to Prefect threads that hand the work to one pool of worker processes
    per stage (the same pool the local path uses), instead of Prefect's ProcessPoolTaskRunner,
    whose workers each import Prefect and re-connect to the server. Dask and Ray use Prefect's
    own runners, so tasks run on the cluster's workers."""
    if p.configured == "processes":
        return task_runner("threads", p.configured_workers, None)
    return task_runner(p.configured, p.configured_workers, p.address)


@contextlib.contextmanager
def _stage_pool(p: Plan):
    """The worker pool tasks delegate to (when the plan pools work in local processes)."""
    global _POOL
    if p.kind != "processes":
        yield
        return
    with p.executor() as pool:
        _POOL = pool
        try:
            yield
        finally:
            _POOL = None


@flow(name="extract", log_prints=True)
def extract_flow(modality: str, params_path: str = "params.yaml", force: bool = False):
    """Features of one modality for every subject, a task per subject."""
    params = P.load(params_path)
    log = get_run_logger()
    with _stage_pool(plan(params, "extract")):
        summary = extract.run(params, modality, executor=PrefectTaskExecutor(), force=force)
    log.info("extract %s: %d done, %d skipped, %d failed", modality, len(summary["done"]),
             len(summary["skipped"]), len(summary["failed"]))
    for f in summary["failed"]:
        log.warning("subject %s failed: %s", f["subject"], f["reason"])
    return summary


class PrefectTaskExecutor(Executor):
    """A concurrent.futures Executor whose calls become ``extract-subject`` Prefect tasks on the
    flow's task runner, so stage code written for executors runs unchanged under Prefect."""

    def submit(self, fn, /, *args, **kwargs):
        future: Future = Future()
        # args: layout, root, subject, modality, ...
        name = f"extract-{args[3]}-{args[2]}" if len(args) > 3 else "extract-subject"
        pf = extract_subject_task.with_options(task_run_name=name).submit(*args, **kwargs)

        def wait():
            try:
                future.set_result(pf.result())
            except BaseException as err:  # noqa: BLE001 - handed over through the future
                future.set_exception(err)

        threading.Thread(target=wait, daemon=True).start()
        return future


@flow(name="evaluate", log_prints=True)
def evaluate_flow(protocol: str, method: str, params_path: str = "params.yaml"):
    """One method under one protocol, a task per fold."""
    params = P.load(params_path)

    def submit(kw):
        name = f"evaluate-{protocol}-{method}-fold{kw.get('fold_index', '')}"
        return evaluate_fold_task.with_options(task_run_name=name).submit(kw)

    def fold_runner(kwargs_list):
        futures = [submit(kw) for kw in kwargs_list]
        return [f.result() for f in futures]

    p = plan(params, "evaluate", protocol=protocol, method=method)
    with _stage_pool(p):
        if not p.pooled:
            # light folds: one at a time in this process, like the local path
            def fold_runner(kwargs_list):  # noqa: F811
                return [submit(kw).result() for kw in kwargs_list]
        return evaluate.run(params, protocol, method, fold_runner=fold_runner, progress=False)


def with_runner(fl, p: Plan):
    return fl.with_options(task_runner=_runner(p))


def run_stage_flow(fl, *args, plan_: Plan):
    """Run a stage flow (``extract_flow``/``evaluate_flow``) with the configured task runner.

    Inside a running flow (the ``helo`` flow runs stage commands in its own process) the stage
    runs *inline*: its per-subject / per-fold tasks become task runs of that flow, named after
    the stage (``extract-eeg-S01``, ``evaluate-loso-helo-fold3``), instead of a subflow.
    Creating a subflow run costs Prefect more than a laptop-sized stage's own work (see
    docs/benchmarks.md). Only with the default ``processes``
    runner (2+ workers), whose worker pool bounds the concurrency whatever runner the outer
    flow has; with threads, serial, Dask or Ray the stage stays a subflow with its own runner
    (so its tasks go to the cluster's workers)."""
    from prefect.context import FlowRunContext
    if (FlowRunContext.get() is not None and plan_.configured == "processes"
            and plan_.configured_workers >= 2):
        return fl.fn(*args)
    return with_runner(fl, plan_)(*args)
