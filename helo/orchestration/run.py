"""Run one DVC stage as the ``helo`` command asks: locally or as a Prefect flow, with the worker
pool :func:`helo.orchestration.plan.plan` chooses."""
from __future__ import annotations

import importlib

from helo.orchestration.plan import plan


def run_stage(stage: str, params: dict, *, params_path: str = "params.yaml", **kw) -> dict:
    """``stage`` is ``synthesize``, ``extract`` (``modality=``, ``force=``), ``assemble``,
    ``evaluate`` (``protocol=``, ``method=``), ``fit-final`` or ``report``."""
    p = plan(params, stage, protocol=kw.get("protocol"), method=kw.get("method"))
    if p.prefect:
        from helo.orchestration import stage_flows as sf
        if stage == "extract":
            return sf.run_stage_flow(sf.extract_flow, kw["modality"], params_path,
                                     kw.get("force", False), plan_=p)
        return sf.run_stage_flow(sf.evaluate_flow, kw["protocol"], kw["method"], params_path,
                                 plan_=p)
    module = importlib.import_module(f"helo.stages.{stage.replace('-', '_')}")
    if stage == "extract":
        with p.executor() as ex:
            return module.run(params, kw["modality"], executor=ex, force=kw.get("force", False))
    if stage == "evaluate":
        with p.executor() as ex:
            return module.run(params, kw["protocol"], kw["method"], executor=ex)
    return module.run(params)
