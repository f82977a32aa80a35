"""Stage ``evaluate@<protocol>-<method>``: one method on every fold of one protocol
(:func:`helo.evaluation.runner.run_evaluation`), results under
``outputs/eval/<protocol>/<method>/``."""
from __future__ import annotations

from helo.evaluation.runner import ENGINE_METHODS, run_evaluation
from helo.stages import params as P
from helo.stages.common import ASSEMBLED, EVAL, allow_partial, channels_of, method_params, \
    write_timing
from helo.stages.ownership import place


def run(params: dict, protocol: str, method: str, *, executor=None, fold_runner=None,
        progress: bool = True) -> dict:
    """``executor`` (a concurrent.futures Executor) or ``fold_runner(kwargs_list) -> results``
    (Prefect) runs the folds; neither: one after the other in this process. A fold whose
    training diverged or whose predictions are not finite fails the stage (naming method, fold
    and epoch) unless ``orchestrator.allow_partial``: then it is reported as failed in
    ``folds.csv`` / ``metrics.json`` and not scored."""
    model_params, modalities = method_params(params, method)
    if method in ENGINE_METHODS:  # the training engine's options (helo.model.train)
        precision = "bf16" if P.get(params, "evaluate.amp", False) \
            else P.get(params, "evaluate.precision", "fp32")
        model_params = {**model_params, "compile": bool(P.get(params, "evaluate.compile", False)),
                        "precision": precision}
    res = run_evaluation(
        ASSEMBLED, protocol, method, place(EVAL / protocol / method), model_params=model_params,
        modalities=modalities, seed=int(P.get(params, "evaluate.seed", 0)),
        test_fraction=float(P.get(params, "evaluate.test_fraction", 0.2)),
        val_fraction=float(P.get(params, "evaluate.val_fraction", 0.0)),
        channels=channels_of(ASSEMBLED), progress=progress,
        normalise=P.get(params, "evaluate.normalise", "fold"),
        executor=executor, fold_runner=fold_runner, seeds=P.get(params, "evaluate.seeds"),
        stack=P.get(params, "evaluate.stack", "auto"), allow_partial=allow_partial(params))
    write_timing(f"evaluate/{protocol}/{method}", res.pop("timing"))
    return res
