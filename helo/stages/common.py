"""What every stage shares: the fixed paths DVC tracks and the parameter helpers.

Each DVC stage has its module in :mod:`helo.stages` (``synthesize``, ``feature_params``,
``extract``, ``assemble``, ``method_params``,
``evaluate``, ``fit_final``, ``report``) with a ``run(cfg, ...)`` function taking the typed
parameters (:class:`helo.stages.schema.Params`, from
:func:`helo.stages.params.load_config`); the ``helo`` command and the Prefect flows call those.
Paths are fixed relative to the project folder so ``dvc.yaml`` can name them.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from helo.stages.schema import Params

SYNTH_ROOT = Path("data/raw/synth")
STORE = Path("data/features")
#: per-modality extraction params, one JSON file each (the ``feature-params`` stage)
FEATURE_PARAMS = Path("data/params/features")
#: each method's settings under each protocol, one JSON file each (the ``method-params`` stage)
METHOD_PARAMS = Path("data/params/methods")
ASSEMBLED = Path("data/assembled")
EVAL = Path("outputs/eval")
REPORT = Path("outputs/report")
#: the report's summary metrics (what ``dvc metrics show`` reads)
METRICS = Path("outputs/metrics.json")
FINAL_MODEL = Path("models/helo")
#: how long stages took: outside every DVC output (timings differ between runs; the outputs must
#: not), ignored by git
TIMINGS = Path("outputs/timings")


class StageIncomplete(ValueError):
    """A stage finished but some subject (or fold) that should have produced output did not,
    and partial results were not allowed (``--allow-partial`` / ``orchestrator.allow_partial``).
    ``missing``: ``[{"subject": ..., "reason": ...}]``."""

    def __init__(self, stage: str, missing: list[dict], total: int | None = None,
                 where: str | None = None):
        self.stage, self.missing = stage, list(missing)
        shown = "; ".join(f"{m['subject']}: {_short(m['reason'])}" for m in self.missing[:8])
        more = f"; and {len(self.missing) - 8} more" if len(self.missing) > 8 else ""
        of = f" of {total}" if total is not None else ""
        see = f" (all listed in {where})" if where else ""
        super().__init__(f"{stage}: {len(self.missing)}{of} subject(s) produced no output -- "
                         f"{shown}{more}{see}. Fix the data, or accept partial results with "
                         f"--allow-partial (or orchestrator.allow_partial: true)")


def _short(text: str, n: int = 200) -> str:
    """One line of at most ``n`` characters; a long one loses its middle (a file's path, mostly),
    keeping the start (whose file) and the end (what is wrong)."""
    text = " ".join(str(text).split())
    if len(text) <= n:
        return text
    head = n // 3
    return text[:head] + "..." + text[-(n - head - 3):]


def config_of(params: Params | dict) -> Params:
    """The typed parameters: ``params`` itself, or a raw mapping (a test's, a script's) validated
    against the schema. Stage entry points take either; everything inside reads attributes."""
    if isinstance(params, dict):
        from helo.stages.schema import validate
        return validate(params, source="params")
    return params


def require_complete(stage: str, missing: list[dict], cfg: Params, *, total: int | None = None,
                     where: str | None = None) -> None:
    """Raise :class:`StageIncomplete` when ``missing`` is not empty and partial results are not
    allowed (``orchestrator.allow_partial``; the CLI's ``--allow-partial`` sets it for one run);
    with them allowed, the caller has already written ``missing`` to its summary."""
    if missing and not config_of(cfg).orchestrator.allow_partial:
        raise StageIncomplete(stage, missing, total, where)


def data_source(cfg: Params) -> tuple[str, Path]:
    cfg = config_of(cfg)
    return cfg.data.layout, Path(cfg.data.root)


def reader_options(cfg: Params) -> dict:
    """The reader options the parameters set (BIDS only; the schema refuses them for another
    layout): ``data.task`` (read only that task) and ``data.events`` (``trial_types``,
    ``duration_s``, ``ids``: :mod:`helo.data.bids.events`). A setting at its default is left
    out, so extraction records the same options as before the setting existed."""
    data = config_of(cfg).data
    out: dict = {}
    if data.task is not None:
        out["task"] = str(data.task)
    events = data.events
    if events.trial_types is not None:
        out["trial_types"] = list(events.trial_types)
    if events.duration_s is not None:
        out["duration_s"] = float(events.duration_s)
    if events.ids != "trial":
        out["ids"] = events.ids
    return out


def uses_synthetic(cfg: Params) -> bool:
    return Path(config_of(cfg).data.root).resolve() == SYNTH_ROOT.resolve()


def channels_of(dataset_dir: Path = ASSEMBLED) -> dict:
    """Natural channel counts per modality of an assembled dataset (EEG: channels of the
    ``eeg_<band>_<channel>`` names), so tokenizers can use channel tokens."""
    meta_path = Path(dataset_dir) / "meta.json"
    out = {}
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        for m, names in meta["feature_names"].items():
            if m == "eeg":
                chans = {n.split("_")[1] for n in names if n.count("_") >= 2}
                if chans and len(names) % len(chans) == 0:
                    out[m] = len(chans)
    return out


def method_params(cfg: Params, method: str,
                  protocol: str | None = None) -> tuple[dict, list[str] | None]:
    """``(model params, modality subset or None)`` of ``model.<method>``, with its
    ``by_protocol.<protocol>`` block laid over the shared settings when ``protocol`` is given
    (:meth:`helo.stages.schema.Params.method_options`). When the configured
    ``query`` is not among the physiological modalities in use (``assemble.physiological``,
    within the modality subset of an ablation), the query becomes the first of them (None when
    there is none): CAPF needs its query among the inputs, and a dataset without the default
    query (``eeg``; a generic table of ``hrv`` and ``eye`` features) should run without the user
    editing the model's params. A warning says so, unless an ablation's subset removed it."""
    cfg = config_of(cfg)
    model_params = cfg.method_options(method, protocol)
    modalities = model_params.pop("modalities", None) or None
    phys = list(cfg.assemble.physiological)
    if modalities is not None:
        modalities = list(modalities)
        phys = [m for m in phys if m in modalities]
    query = model_params.get("query")
    if query is not None and query not in phys:
        model_params["query"] = phys[0] if phys else None
        removed = modalities is not None and query in cfg.assemble.physiological
        if not removed:
            import warnings
            warnings.warn(f"model.{method}.query {query!r} is not among the physiological "
                          f"modalities {phys}: using {model_params['query']!r}", stacklevel=2)
    return model_params, modalities


def write_timing(name: str, timing: dict) -> None:
    """Record a stage's timings in ``outputs/timings/<name>.json``."""
    from helo.io import write_json
    write_json(TIMINGS / f"{name}.json", timing)
