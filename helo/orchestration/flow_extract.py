"""Prefect flow ``extract``: one modality for every subject, a task per subject."""
from __future__ import annotations

import threading
from concurrent.futures import Executor, Future

from prefect import flow, get_run_logger, task

from helo.orchestration import prefect_common as pc
from helo.orchestration.plan import plan
from helo.stages import extract
from helo.stages.params import load_config


@task(name="extract-subject", retries=2, retry_delay_seconds=2,
      retry_condition_fn=lambda t, r, s: isinstance(s.result(raise_on_failure=False),
                                                    pc.TRANSIENT),
      cache_policy=None)
def extract_subject_task(layout, root, subject, modality, store, fparams, force=False,
                         reader_options=None):
    from helo.stages.extract import extract_subject
    return pc.run(extract_subject, layout, root, subject, modality, store, fparams, force=force,
                  reader_options=reader_options)


@flow(name="extract", log_prints=True)
def extract_flow(modality: str, params_path: str = "params.yaml", force: bool = False):
    """Features of one modality for every subject, a task per subject."""
    cfg = load_config(params_path)
    log = get_run_logger()
    with pc.stage_pool(plan(cfg, "extract")):
        summary = extract.run(cfg, modality, executor=PrefectTaskExecutor(), force=force)
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


#: the flow :func:`helo.orchestration.run.run_stage` runs for this stage
FLOW = extract_flow
