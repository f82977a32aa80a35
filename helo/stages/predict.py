"""Apply a trained model to new recordings in any supported layout.

The recordings go through the same feature code as training (parameters from the model's
``config.json``) into a scratch feature store, rows are joined on the window grid, standardised
with the training statistics and fed to the model. Written (atomically) to ``out``:
``windows.csv`` (one predicted distribution per window) and ``trials.csv`` (the mean over a
trial's windows, renormalised), plus ``skipped.json``: windows without usable features, every
subject without a prediction and why (a failed extraction -- unreadable video, say -- or no
window left after the join) and the trials dropped. Skipped subjects make the command fail
after writing all of that, unless partial results are allowed (``--allow-partial``).
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from helo.data import store as S
from helo.data.assemble import KEYS, read_modality
from helo.data.base import DataError
from helo.data.loading import json_object, named, npz_arrays
from helo.evaluation.runner import Standardiser
from helo.io import atomic_path, write_json
from helo.stages.common import require_complete

if TYPE_CHECKING:
    from helo.stages.schema import Params


def load_trained(model_dir: Path):
    """``(model, scaler, config)`` of a fit-final model folder. Every file is checked as it is
    loaded, and any problem is a DataError naming the file: ``config.json`` must be a JSON
    object with the keys prediction uses; ``model.pt`` must load with ``weights_only=True``
    as a HeLo checkpoint; ``scaler.npz`` must hold a finite mean and a finite, positive std
    per modality, as long as the config's feature names."""
    from helo.model.helo import HeLoLearner
    model_dir = Path(model_dir)
    cfg_path, ckpt, scaler_path = (model_dir / "config.json", model_dir / "model.pt",
                                   model_dir / "scaler.npz")
    config = json_object(cfg_path, "model config", required=(
        "method", "modalities", "feature_names", "label_names", "feature_params"))
    if config["method"] != "helo":
        raise DataError(f"only HeLo models can be loaded for prediction, not "
                        f"{config['method']!r}", path=cfg_path)
    mods = config["modalities"]
    names = config["feature_names"]
    if not (isinstance(mods, list) and mods and isinstance(names, dict)
            and all(isinstance(names.get(m), list) for m in mods)):
        raise DataError("modalities / feature_names do not describe the model's inputs",
                        path=cfg_path)
    with named(ckpt, "model checkpoint"):
        model = HeLoLearner.load(ckpt)
    state = npz_arrays(scaler_path, "feature scaler")
    for m in mods:
        for part in ("mean", "std"):
            arr = state.get(f"{part}_{m}")
            if arr is None:
                raise DataError(f"no {part}_{m} array (the config's modalities: {mods})",
                                path=scaler_path)
            if arr.shape != (len(names[m]),) or arr.dtype.kind not in "fiu":
                raise DataError(f"{part}_{m} has shape {arr.shape} ({arr.dtype}); the model "
                                f"takes {len(names[m])} {m} features", path=scaler_path)
            if not np.isfinite(arr).all() or (part == "std" and not (arr > 0).all()):
                raise DataError(f"{part}_{m} holds non-finite{' or non-positive' * (part == 'std')}"
                                f" values", path=scaler_path)
    return model, Standardiser.from_state(state), config


def predict_recordings(model_dir: Path, layout: str, root: Path, out: Path, cfg: Params,
                       subjects: list[str] | None = None,
                       reader_options: dict | None = None) -> dict:
    from helo.stages.extract import run_extract
    model_dir, out = Path(model_dir), Path(out)
    if not (model_dir / "config.json").exists():
        raise FileNotFoundError(f"{model_dir} holds no trained model (config.json missing): "
                                f"run `dvc repro fit-final` or `helo fit-final` first")
    model, scaler, config = load_trained(model_dir)
    if subjects:
        subjects = [S.safe_id(s, what="--subject id") for s in subjects]
    dropped: dict[str, list[str]] = {}  # subject -> why it has no prediction
    trial_errors: list[dict] = []
    known: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="helo-predict-") as scratch:
        store = Path(scratch)
        frames = None
        for m in config["modalities"]:
            summ = run_extract(layout, root, store, m, config["feature_params"][m],
                               subjects=subjects, progress=False,
                               reader_options=reader_options)
            known |= set(summ["done"]) | {f["subject"] for f in summ["failed"]}
            for f in summ["failed"]:
                dropped.setdefault(f["subject"], []).append(f"{m}: {f['reason']}")
            for sid, errs in summ.get("trial_errors", {}).items():
                trial_errors += [{"subject": sid, "modality": m, **e} for e in errs]
            if not summ["done"]:
                raise DataError(f"no subject of {root} ({layout}) gave {m} features: "
                                + "; ".join(f"{f['subject']}: {f['reason']}"
                                            for f in summ["failed"][:5]))
            df = read_modality(store, m)
            names = config["feature_names"][m]
            missing = [c for c in names if c not in df.columns]
            if missing:
                have = S.feature_columns(df)
                raise ValueError(f"features of {m} from {root} ({layout}) lack {len(missing)} of "
                                 f"the model's {len(names)} columns (e.g. {missing[:3]}; the data "
                                 f"have e.g. {have[:3]}): different feature parameters or channel "
                                 f"set, or features helo does not compute (stored as "
                                 f"'{m}__<feature>', see helo.features.block_names)")
            df = df[KEYS + names].rename(columns={c: f"{m}::{c}" for c in names})
            frames = df if frames is None else frames.merge(df, on=KEYS, how="inner")
    X = {m: frames[[f"{m}::{c}" for c in config["feature_names"][m]]].to_numpy(np.float32)
         for m in config["modalities"]}
    ok = np.all([np.isfinite(x).all(axis=1) for x in X.values()], axis=0)
    keys = frames[KEYS].reset_index(drop=True)
    pred = np.full((len(keys), len(config["label_names"])), np.nan)
    if ok.any():
        pred[ok] = model.predict(scaler.transform({m: x[ok] for m, x in X.items()}))
    windows = keys.copy()
    for j, lab in enumerate(config["label_names"]):
        windows[lab] = pred[:, j]
    trials = windows[ok].groupby(["subject", "trial"], sort=False)[config["label_names"]].mean()
    trials = trials.div(trials.sum(axis=1), axis=0).reset_index()
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "windows.csv") as tmp:
        windows.to_csv(tmp, index=False, float_format="%.6f")
    with atomic_path(out / "trials.csv") as tmp:
        trials.to_csv(tmp, index=False, float_format="%.6f")
    predicted = set(windows.loc[ok, "subject"].astype(str))
    for sid in sorted(known - predicted - set(dropped)):
        dropped[sid] = ["no window with features in every modality (inner join on the grid)"]
    skipped = [{"subject": sid, "reason": "; ".join(why)}
               for sid, why in sorted(dropped.items(), key=lambda kv: (len(kv[0]), kv[0]))]
    write_json(out / "skipped.json", {"windows_without_features": int((~ok).sum()),
                                      "subjects_predicted": len(predicted),
                                      "subjects_skipped": len(skipped), "subjects": skipped,
                                      "trials_skipped": trial_errors})
    require_complete("predict", skipped, cfg, total=len(known),
                     where=str(out / "skipped.json"))
    return {"windows": int(ok.sum()), "trials": int(len(trials)), "out": str(out),
            "subjects_skipped": len(skipped)}
