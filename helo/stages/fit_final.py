"""Train HeLo on every assembled window and save what ``helo predict`` needs.

``models/helo/`` holds ``model.pt`` (state dict, loaded with ``weights_only=True``),
``scaler.npz`` (per-modality mean/std of the training features) and ``config.json`` (modalities,
feature names, label names, feature parameters, model parameters), all written atomically.

Settings: ``model.helo`` with its ``by_protocol.loso`` block laid over it. A saved model is
applied to recordings of people it never saw, which is what the LOSO protocol measures, so the
settings chosen under LOSO are the ones that fit its use; with no LOSO block it is the shared
settings alone. (:data:`FINAL_PROTOCOL`.)
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from helo.data import assemble as asm
from helo.evaluation.runner import Standardiser, fold_failure, model_spec
from helo.io import atomic_path, write_json
from helo.stages.common import ASSEMBLED, FINAL_MODEL, channels_of, config_of, method_params
from helo.stages.ownership import place

if TYPE_CHECKING:
    from helo.stages.schema import Params


#: whose protocol's settings the saved model is trained with (see the module doc)
FINAL_PROTOCOL = "loso"


def fit_final_model(dataset_dir: Path, out: Path, cfg: Params) -> dict:
    from helo.model.registry import make_model
    cfg = config_of(cfg)
    model_params, modalities = method_params(cfg, "helo", FINAL_PROTOCOL)
    model_params.setdefault("seed", cfg.evaluate.seed)
    ds = asm.load(dataset_dir, modalities)
    scaler = Standardiser().fit(ds.X)
    spec = model_spec(ds, channels_of(dataset_dir))
    model = make_model("helo", spec, model_params)
    X = scaler.transform(ds.X)
    model.fit(X, ds.y, groups=ds.subject)
    diverged = fold_failure(model.history(), np.asarray(model.predict(X)))
    if diverged:  # never saved as a model helo predict would serve
        raise ValueError(f"fit-final: HeLo diverged on the whole data set ({diverged}); "
                         f"nothing written to {out}: lower model.helo.lr")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.save(out / "model.pt")
    with atomic_path(out / "scaler.npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **scaler.state())
    feats = {m: cfg.features.for_modality(m) for m in ds.X}
    write_json(out / "config.json", {
        "method": "helo", "modalities": list(ds.X), "feature_names": ds.feature_names,
        "label_names": ds.label_names, "physiological": ds.physiological,
        "behavioural": ds.behavioural, "channels": spec.channels, "dims": spec.dims,
        "feature_params": feats, "model_params": model_params,
        "settings_of_protocol": FINAL_PROTOCOL,
        "trained_on": {"dataset": cfg.data.name, "rows": ds.n,
                       "subjects": sorted(set(ds.subject.tolist()))}})
    return {"rows": ds.n, "out": str(out)}


def run(cfg: Params) -> dict:
    """Stage ``fit-final``: HeLo on every assembled window, saved to ``models/helo``."""
    return fit_final_model(ASSEMBLED, place(FINAL_MODEL), cfg)
