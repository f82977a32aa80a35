"""Stage ``evaluate@<protocol>-<method>``: one method on every fold of one protocol
(:func:`helo.evaluation.runner.run_evaluation`), results under
``outputs/eval/<protocol>/<method>/``, with the method's settings for that protocol
(``model.<method>`` and its ``by_protocol.<protocol>`` block)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from helo.evaluation.runner import ENGINE_METHODS, run_evaluation
from helo.stages.common import ASSEMBLED, EVAL, channels_of, config_of, method_params, write_timing
from helo.stages.ownership import place

if TYPE_CHECKING:
    from helo.stages.schema import Params


def run(cfg: Params, protocol: str, method: str, *, executor=None, fold_runner=None,
        progress: bool = True) -> dict:
    """``executor`` (a concurrent.futures Executor) or ``fold_runner(kwargs_list) -> results``
    (Prefect) runs the folds; neither: one after the other in this process. A fold whose
    training diverged or whose predictions are not finite fails the stage (naming method, fold
    and epoch) unless ``orchestrator.allow_partial``: then it is reported as failed in
    ``folds.csv`` / ``metrics.json`` and not scored."""
    cfg = config_of(cfg)
    ev = cfg.evaluate
    model_params, modalities = method_params(cfg, method, protocol)
    if method in ENGINE_METHODS:  # the training engine's options (helo.model.train)
        precision = "bf16" if ev.amp else ev.precision
        model_params = {**model_params, "compile": ev.compile, "precision": precision}
    res = run_evaluation(
        ASSEMBLED, protocol, method, place(EVAL / protocol / method), model_params=model_params,
        modalities=modalities, seed=ev.seed, test_fraction=ev.test_fraction,
        val_fraction=ev.val_fraction, channels=channels_of(ASSEMBLED), progress=progress,
        normalise=ev.normalise, executor=executor, fold_runner=fold_runner, seeds=ev.seeds,
        stack=ev.stack, allow_partial=cfg.orchestrator.allow_partial)
    write_timing(f"evaluate/{protocol}/{method}", res.pop("timing"))
    return res
