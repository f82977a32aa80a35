"""Prefect flow ``evaluate``: one method under one protocol, a task per chunk of (fold, seed)
members (one fold unless ``evaluate.stack`` stacks several)."""
from __future__ import annotations

from prefect import flow, task

from helo.orchestration import prefect_common as pc
from helo.orchestration.plan import plan
from helo.stages import evaluate
from helo.stages.params import load_config


@task(name="evaluate-fold", retries=1, retry_delay_seconds=2, cache_policy=None)
def evaluate_fold_task(kwargs: dict):
    from helo.evaluation.runner import run_fold
    return pc.run(run_fold, **kwargs)


@flow(name="evaluate", log_prints=True)
def evaluate_flow(protocol: str, method: str, params_path: str = "params.yaml"):
    """One method under one protocol, a task per fold."""
    cfg = load_config(params_path)

    def submit(kw):
        items = kw.get("items") or [(kw.get("fold_index", ""), kw.get("seed", ""))]
        first = f"fold{items[0][0]}-seed{items[0][1]}"
        name = f"evaluate-{protocol}-{method}-" + (
            first if len(items) == 1 else f"{first}+{len(items) - 1}")  # a stacked chunk
        return evaluate_fold_task.with_options(task_run_name=name).submit(kw)

    def fold_runner(kwargs_list):
        futures = [submit(kw) for kw in kwargs_list]
        return [f.result() for f in futures]

    p = plan(cfg, "evaluate", protocol=protocol, method=method)
    with pc.stage_pool(p):
        if not p.pooled:
            # light folds: one at a time in this process, like the local path
            def fold_runner(kwargs_list):  # noqa: F811
                return [submit(kw).result() for kw in kwargs_list]
        return evaluate.run(cfg, protocol, method, fold_runner=fold_runner, progress=False)


#: the flow :func:`helo.orchestration.run.run_stage` runs for this stage
FLOW = evaluate_flow
