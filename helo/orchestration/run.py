"""Run one DVC stage as the ``helo`` command asks: locally or as a Prefect flow, with the worker
pool :func:`helo.orchestration.plan.plan` chooses.

The stage's module (``helo.stages.<stage>``) and its Prefect flow
(``helo.orchestration.flow_<stage>``) are imported by name, so a stage's process imports only
its own code (and DVC's dependencies of a stage can be exactly that code).

A stage that returns has succeeded: its staged outputs are then moved into place
(:func:`helo.stages.ownership.commit`, when the run owning them is still the current one), and
so are those of a stage that finished without some subjects (:class:`StageIncomplete`: it exits
1, and its outputs name what is missing); one that raises anything else leaves its outputs as
they were."""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from helo.orchestration.plan import plan
from helo.stages import ownership
from helo.stages.common import StageIncomplete, config_of

if TYPE_CHECKING:
    from helo.stages.schema import Params


def run_stage(stage: str, cfg: Params, *, params_path: str = "params.yaml", **kw) -> dict:
    """``stage`` is ``synthesize``, ``extract`` (``modality=``, ``force=``), ``assemble``,
    ``evaluate`` (``protocol=``, ``method=``), ``fit-final`` or ``report``; ``cfg`` the run's
    typed parameters (:func:`helo.stages.params.load_config`)."""
    try:
        result = _run(stage, config_of(cfg), params_path, kw)
    except StageIncomplete:
        ownership.commit()  # what it made, with the file that lists what is missing
        raise
    ownership.commit()
    return result


def _run(stage: str, cfg: Params, params_path: str, kw: dict) -> dict:
    p = plan(cfg, stage, protocol=kw.get("protocol"), method=kw.get("method"))
    if p.prefect:  # only extract and evaluate have flows (plan() says prefect for no other)
        from helo.orchestration.prefect_common import run_stage_flow
        flow = importlib.import_module(f"helo.orchestration.flow_{stage}").FLOW
        args = ((kw["modality"], params_path, kw.get("force", False)) if stage == "extract"
                else (kw["protocol"], kw["method"], params_path))
        return run_stage_flow(flow, *args, plan_=p)
    module = importlib.import_module(f"helo.stages.{stage.replace('-', '_')}")
    if stage == "extract":
        with p.executor() as ex:
            return module.run(cfg, kw["modality"], executor=ex, force=kw.get("force", False))
    if stage == "evaluate":
        with p.executor() as ex:
            return module.run(cfg, kw["protocol"], kw["method"], executor=ex)
    return module.run(cfg)
