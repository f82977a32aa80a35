"""The pipeline's stages as plain functions of the parameters.

``dvc.yaml`` calls them through the ``helo`` command; the Prefect flows in :mod:`helo.orchestration`
call the same functions. Paths are fixed relative to the project folder so DVC can track them.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from helo.stages import params as P

log = logging.getLogger(__name__)

SYNTH_ROOT = Path("data/raw/synth")
STORE = Path("data/features")
ASSEMBLED = Path("data/assembled")
EVAL = Path("outputs/eval")
REPORT = Path("outputs/report")
FINAL_MODEL = Path("models/helo")


def feature_params(params: dict, modality: str) -> dict:
    return {**(P.get(params, "features.common") or {}),
            **(P.get(params, f"features.{modality}") or {})}


def data_source(params: dict) -> tuple[str, Path]:
    return P.get(params, "data.layout"), Path(P.get(params, "data.root"))


def uses_synthetic(params: dict) -> bool:
    return Path(P.get(params, "data.root")).resolve() == SYNTH_ROOT.resolve()


def synth(params: dict, out: Path = SYNTH_ROOT) -> dict:
    """Generate the synthetic dataset (only when ``data.root`` points at it)."""
    from helo.io import write_text
    out = Path(out)
    if not uses_synthetic(params):
        out.mkdir(parents=True, exist_ok=True)
        write_text(out / "SKIPPED.txt", f"data.root is {P.get(params, 'data.root')}: the "
                   "synthetic generator was not run.\n")
        return {"skipped": True}
    from helo.synth import generate
    layout = P.get(params, "synth.layout", P.get(params, "data.layout"))
    if layout != P.get(params, "data.layout"):
        raise ValueError(f"synth.layout ({layout}) differs from data.layout "
                         f"({P.get(params, 'data.layout')}): the readers would not find it")
    return generate(layout, out, seed=int(P.get(params, "synth.seed", 0)),
                    preset=P.get(params, "synth.preset", "default"))


def orchestration(params: dict) -> dict:
    return {"kind": P.get(params, "orchestrator.task_runner", "processes"),
            "workers": int(P.get(params, "orchestrator.workers", 2) or 1),
            "address": P.get(params, "orchestrator.address")}


def extract(params: dict, modality: str, *, executor=None, force: bool = False,
            progress: bool = True) -> dict:
    """Features of one modality (or the pseudo-modality ``labels``) for every subject."""
    from helo.stages.extract import run_extract
    from helo.orchestration.executors import executor as make_executor
    layout, root = data_source(params)
    fp = feature_params(params, modality) if modality != "labels" else {}
    if executor is not None:
        return run_extract(layout, root, STORE, modality, fp, executor=executor, force=force)
    with make_executor(**orchestration(params)) as ex:
        return run_extract(layout, root, STORE, modality, fp, executor=ex, force=force)


def assemble(params: dict) -> dict:
    from helo.data.assemble import assemble as run
    ds = run(STORE, list(P.get(params, "features.modalities")),
             items=P.get(params, "data.items", "dmer"),
             physiological=list(P.get(params, "assemble.physiological")),
             behavioural=list(P.get(params, "assemble.behavioural")),
             nan_policy=P.get(params, "assemble.nan_policy", "drop"), out=ASSEMBLED)
    return {"rows": ds.n, "dims": {m: x.shape[1] for m, x in ds.X.items()}}


def channels_of(params: dict) -> dict:
    """Natural channel counts per modality (lets tokenizers use channel tokens)."""
    meta_path = ASSEMBLED / "meta.json"
    out = {}
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        for m, names in meta["feature_names"].items():
            if m == "eeg":
                chans = {n.split("_")[1] for n in names if n.count("_") >= 2}
                if chans and len(names) % len(chans) == 0:
                    out[m] = len(chans)
    return out


#: methods whose folds take well under a second: never worth a worker process
QUICK_METHODS = ("mean", "aa-knn", "ldl-lrr")


def method_params(params: dict, method: str) -> tuple[dict, list[str] | None]:
    """``(model params, modality subset or None)`` of ``model.<method>``. With a modality
    subset (the ablations) whose physiological part lacks the configured ``query``, the query
    becomes the first physiological modality left (None when none is): CAPF needs its query
    among the inputs."""
    model_params = dict(P.get(params, f"model.{method}") or {})
    modalities = model_params.pop("modalities", None) or None
    if modalities is not None:
        modalities = list(modalities)
        phys = [m for m in P.get(params, "assemble.physiological") if m in modalities]
        if "query" in model_params and model_params["query"] not in phys:
            model_params["query"] = phys[0] if phys else None
    return model_params, modalities


def evaluate(params: dict, protocol: str, method: str, *, executor=None, fold_runner=None,
             progress: bool = True) -> dict:
    from helo.evaluation.runner import run_evaluation
    from helo.orchestration.executors import executor as make_executor
    model_params, modalities = method_params(params, method)
    kw = dict(model_params=model_params, modalities=modalities,
              seed=int(P.get(params, "evaluate.seed", 0)),
              test_fraction=float(P.get(params, "evaluate.test_fraction", 0.2)),
              val_fraction=float(P.get(params, "evaluate.val_fraction", 0.0)),
              channels=channels_of(params), progress=progress,
              normalise=P.get(params, "evaluate.normalise", "fold"))
    out = EVAL / protocol / method
    if fold_runner is not None or executor is not None:
        return run_evaluation(ASSEMBLED, protocol, method, out, executor=executor,
                              fold_runner=fold_runner, **kw)
    orch = orchestration(params)
    # Under LOSO (folds of many rows) the folds run in `workers` single-threaded processes:
    # for models this small that beats one process with several threads. Other protocols'
    # folds are small and run in this process (a worker's start-up would cost more).
    heavy = protocol == "loso" and method not in QUICK_METHODS  # many rows per fold
    if orch["kind"] in ("dask", "ray") or (heavy and orch["workers"] > 1):
        with make_executor(**orch) as ex:
            return run_evaluation(ASSEMBLED, protocol, method, out, executor=ex, **kw)
    return run_evaluation(ASSEMBLED, protocol, method, out, **kw)


def report(params: dict) -> dict:
    from helo.stages.report import build_report
    return build_report(EVAL, REPORT, params)


def fit_final(params: dict) -> dict:
    """Train HeLo on every assembled window: the model ``helo predict`` applies."""
    from helo.stages.fit_final import fit_final_model
    return fit_final_model(ASSEMBLED, FINAL_MODEL, params)
