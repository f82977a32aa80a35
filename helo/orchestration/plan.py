"""The one decision of how a stage's subjects or folds run.

:func:`plan` maps the parameters (``orchestrator.*``) and a stage (with its protocol and method
for ``evaluate``) to a :class:`Plan`: whether the stage runs as a Prefect flow, which kind of
worker pool runs its per-subject / per-fold calls (``serial`` in this process, ``threads``,
``processes``, ``dask``, ``ray``) and how many workers. The CLI (:func:`run_stage`), the Prefect
stage flows (:mod:`helo.orchestration.flow_extract`, :mod:`helo.orchestration.flow_evaluate`)
and the ``helo`` flow all take it from here;
the stages themselves (:mod:`helo.stages`) only receive an executor or a fold runner.

Rules:

* ``orchestrator.engine``: ``local`` (default) never uses Prefect for a plain stage command;
  ``auto`` uses it when a Prefect server already answers; ``prefect`` always. The ``helo`` flow
  sets ``HELO_ENGINE=prefect`` for the stage commands it runs.
* Extraction: every subject is one call on ``orchestrator.task_runner`` with
  ``orchestrator.workers`` workers (1 worker, or ``serial``: in this process).
* Evaluation: the unit of work is a *chunk* of (fold, seed) members (``evaluate.stack``,
  :func:`helo.evaluation.runner.resolve_stack`: one member per chunk unless the method is
  stacked, then one stacked training per chunk). With ``dask`` or ``ray`` every chunk is a task
  on the cluster. Otherwise folds run
  in a pool of ``workers`` single-threaded processes only where folds are heavy (LOSO, a method
  not in :data:`QUICK_METHODS`); light folds run one after the other in this process, where a
  worker's start-up would cost more than the fold.
* Everything else (synthesize, assemble, report, fit-final) runs in this process.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from helo.stages.common import config_of

if TYPE_CHECKING:
    from helo.stages.schema import Params

#: methods whose folds take well under a second: never worth a worker process
QUICK_METHODS = ("mean", "aa-knn", "ldl-lrr")
#: stages whose work is split into per-subject or per-fold calls
PARALLEL_STAGES = ("extract", "evaluate")
ENGINES = ("local", "auto", "prefect")


@dataclass(frozen=True)
class Plan:
    stage: str
    kind: str  # serial | threads | processes | dask | ray: what runs this stage's calls
    workers: int
    address: str | None
    prefect: bool  # run as a Prefect flow (tasks per subject / fold)
    configured: str = "processes"  # orchestrator.task_runner as set (Prefect's task runner)
    configured_workers: int = 2

    @property
    def pooled(self) -> bool:
        """True when calls go to a worker pool rather than run one by one in this process."""
        return self.kind != "serial"

    def executor(self):
        """A context manager yielding a ``concurrent.futures.Executor`` for this plan (None for
        ``serial``: the stage then loops in this process)."""
        if not self.pooled:
            return contextlib.nullcontext(None)
        from helo.orchestration.executors import executor
        return executor(self.kind, self.workers, self.address)


def engine_uses_prefect(engine: str | None) -> bool:
    """Whether a stage command runs as a Prefect flow under ``orchestrator.engine``
    (``HELO_ENGINE`` overrides it)."""
    engine = os.environ.get("HELO_ENGINE", engine or "local")
    if engine not in ENGINES:
        raise ValueError(f"orchestrator.engine must be one of {ENGINES}, not {engine!r}")
    if engine == "local":
        return False
    if engine == "prefect":
        return True
    from helo.orchestration.runtime import server_up
    return server_up()


def plan(cfg: Params, stage: str, *, protocol: str | None = None,
         method: str | None = None) -> Plan:
    """How ``stage`` (``protocol``/``method`` for evaluate) runs under ``cfg``."""
    orch = config_of(cfg).orchestrator
    kind = configured = orch.task_runner
    workers = orch.workers
    address = orch.address
    prefect = stage in PARALLEL_STAGES and engine_uses_prefect(orch.engine)
    if stage == "extract":
        pooled = kind in ("dask", "ray") or (kind != "serial" and workers > 1)
    elif stage == "evaluate":
        heavy = protocol == "loso" and method not in QUICK_METHODS
        pooled = kind in ("dask", "ray") or (heavy and kind != "serial" and workers > 1)
    else:
        pooled = False
    return Plan(stage=stage, kind=kind if pooled else "serial",
                workers=workers if pooled else 1, address=address, prefect=prefect,
                configured=configured, configured_workers=workers)
