"""Stage ``evaluate@<protocol>-<method>``: one method on every fold of one protocol
(:func:`helo.evaluation.runner.run_evaluation`), results under
``outputs/eval/<protocol>/<method>/``."""
from __future__ import annotations

from helo.evaluation.runner import ENGINE_METHODS, run_evaluation
from helo.stages import params as P
from helo.stages.ownership import place
from helo.stages.common import ASSEMBLED, EVAL, channels_of, method_params, write_timing


def run(params: dict, protocol: str, method: str, *, executor=None, fold_runner=None,
        progress: bool = True) -> dict:
    """``executor`` (a concurrent.futures Executor) or ``fold_runner(kwargs_list) -> results``
    (Prefect) runs the folds; neither: one after the other in this process."""
    model_params, modalities = method_params(params, method)
    if method in ENGINE_METHODS:  # the training engine's options (helo.model.train)
        model_params = {**model_params, "compile": bool(P.get(params, "evaluate.compile", False)),
                        "amp": bool(P.get(params, "evaluate.amp", False))}
    res = run_evaluation(
        ASSEMBLED, protocol, method, place(EVAL / protocol / method), model_params=model_params,
        modalities=modalities, seed=int(P.get(params, "evaluate.seed", 0)),
        test_fraction=float(P.get(params, "evaluate.test_fraction", 0.2)),
        val_fraction=float(P.get(params, "evaluate.val_fraction", 0.0)),
        channels=channels_of(ASSEMBLED), progress=progress,
        normalise=P.get(params, "evaluate.normalise", "fold"),
        executor=executor, fold_runner=fold_runner, seeds=P.get(params, "evaluate.seeds"),
        stack=P.get(params, "evaluate.stack", "auto"))
    write_timing(f"evaluate/{protocol}/{method}", res.pop("timing"))
    return res
