"""What the Prefect stage flows share: the task runner and worker pool a plan asks for, and
running a stage flow inline inside the ``helo`` flow (:func:`run_stage_flow`).

The flows themselves, one module per stage: :mod:`helo.orchestration.flow_extract` (a task per
subject) and :mod:`helo.orchestration.flow_evaluate` (a task per fold).
"""
from __future__ import annotations

import contextlib

from helo.orchestration.plan import Plan
from helo.orchestration.runtime import task_runner

TRANSIENT = (OSError, TimeoutError, ConnectionError)


# Work that a task hands to this stage's worker pool (set by the flow; None: run inline).
POOL = None


def run(fn, *args, **kwargs):
    """Call ``fn`` in the stage's worker pool when there is one, else here."""
    return POOL.submit(fn, *args, **kwargs).result() if POOL is not None else \
        fn(*args, **kwargs)


def runner(p: Plan):
    """Prefect task runner for a stage flow.

    ``processes`` maps to Prefect threads that hand the work to one pool of worker processes
    per stage (the same pool the local path uses), instead of Prefect's ProcessPoolTaskRunner,
    whose workers each import Prefect and re-connect to the server. Dask and Ray use Prefect's
    own runners, so tasks run on the cluster's workers."""
    if p.configured == "processes":
        return task_runner("threads", p.configured_workers, None)
    return task_runner(p.configured, p.configured_workers, p.address)


@contextlib.contextmanager
def stage_pool(p: Plan):
    """The worker pool tasks delegate to (when the plan pools work in local processes)."""
    global POOL
    if p.kind != "processes":
        yield
        return
    with p.executor() as pool:
        POOL = pool
        try:
            yield
        finally:
            POOL = None


def withrunner(fl, p: Plan):
    return fl.with_options(task_runner=runner(p))


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
    return withrunner(fl, plan_)(*args)
