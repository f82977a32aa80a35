"""Train and evaluate one method under one protocol, on every fold.

For each fold: features are standardised with statistics of the fold's training rows only; an
optional validation split (whole trials of the training part, never the test fold) drives early
stopping; methods that adapt to an unlabelled target domain (``uses_target``) get the test
rows' features, never their labels. Per-fold metrics, mean +- std, predictions and training
curves are written to ``out``:

* ``metrics.json`` -- mean and std over folds of the six metrics (what ``dvc metrics show`` reads)
* ``folds.csv`` -- one row per fold
* ``predictions.parquet`` -- true and predicted distribution per test window
* ``history.csv`` -- per fold and epoch losses of iterative methods (a DVC plot)
* ``explain.npz`` -- for models that offer it (HeLo): label correlations, tokens before/after OT
"""
from __future__ import annotations

import json
import logging
import time
from concurrent.futures import Executor
from pathlib import Path

import numpy as np
import pandas as pd

from helo.data import assemble as asm
from helo.data.store import write_parquet
from helo.io import atomic_path, write_json
from helo.evaluation.splits import Fold, make_folds, validation_split

log = logging.getLogger(__name__)


class SubjectStandardiser:
    """Per-subject z-scoring (``evaluate.normalise: subject``).

    A subject's statistics come from its rows in the fold's training part when it has any;
    only a subject absent from training (the held-out subject under leave-one-subject-out) is
    standardised with statistics of its own *unlabelled* test features, as is common in
    cross-subject EEG emotion recognition to remove per-subject baselines. Labels are never
    used. This is transductive; the default ``fold`` standardisation is not.
    """

    def fit(self, X: dict[str, np.ndarray], subjects: np.ndarray) -> "SubjectStandardiser":
        self.stats = {}
        for s in np.unique(subjects):
            rows = subjects == s
            self.stats[s] = Standardiser().fit({m: x[rows] for m, x in X.items()})
        return self

    def transform(self, X: dict[str, np.ndarray], subjects: np.ndarray) -> dict[str, np.ndarray]:
        out = {m: np.empty_like(x, dtype=np.float32) for m, x in X.items()}
        for s in np.unique(subjects):
            rows = subjects == s
            part = {m: x[rows] for m, x in X.items()}
            st = self.stats.get(s) or Standardiser().fit(part)
            for m, x in st.transform(part).items():
                out[m][rows] = x
        return out


class Standardiser:
    """Per-modality z-scoring fitted on training rows only (zero std -> 1)."""

    def fit(self, X: dict[str, np.ndarray]) -> "Standardiser":
        self.mean = {m: x.mean(axis=0) for m, x in X.items()}
        self.std = {m: np.where(x.std(axis=0) > 1e-8, x.std(axis=0), 1.0) for m, x in X.items()}
        return self

    def transform(self, X: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {m: ((x - self.mean[m]) / self.std[m]).astype(np.float32) for m, x in X.items()}

    def state(self) -> dict[str, np.ndarray]:
        out = {}
        for m in self.mean:
            out[f"mean_{m}"] = self.mean[m]
            out[f"std_{m}"] = self.std[m]
        return out

    @classmethod
    def from_state(cls, state) -> "Standardiser":
        self = cls()
        self.mean = {k[5:]: np.asarray(state[k]) for k in state if k.startswith("mean_")}
        self.std = {k[4:]: np.asarray(state[k]) for k in state if k.startswith("std_")}
        return self


def model_spec(ds: asm.Dataset, channels: dict[str, int] | None = None):
    from helo.model.base import ModalitySpec
    return ModalitySpec(dims={m: int(x.shape[1]) for m, x in ds.X.items()},
                        physiological=list(ds.physiological), behavioural=list(ds.behavioural),
                        n_labels=int(ds.y.shape[1]), label_names=list(ds.label_names),
                        channels=dict(channels or {}))


def run_fold(dataset_dir: str, protocol: str, method: str, fold_index: int, *,
             model_params: dict, seed: int = 0, test_fraction: float = 0.2,
             val_fraction: float = 0.0, modalities: list[str] | None = None,
             channels: dict | None = None, explain: bool = False,
             normalise: str = "fold") -> dict:
    """Run one fold; top-level and picklable so any executor (processes, Dask, Ray) can run it."""
    from helo.evaluation.metrics import evaluate as score
    from helo.model.registry import make_model

    ds = asm.load(dataset_dir, modalities)
    fold = make_folds(protocol, ds.subject, ds.trial, seed=seed,
                      test_fraction=test_fraction)[fold_index]
    fit_rows, val_rows = validation_split(fold.train, ds.trial_keys(), val_fraction, seed)
    if normalise == "subject":
        sub = SubjectStandardiser().fit(ds.subset(fit_rows), ds.subject[fit_rows])
        X_fit = sub.transform(ds.subset(fit_rows), ds.subject[fit_rows])
        X_test = sub.transform(ds.subset(fold.test), ds.subject[fold.test])
        X_val = sub.transform(ds.subset(val_rows), ds.subject[val_rows]) if len(val_rows) \
            else None
    elif normalise == "fold":
        scaler = Standardiser().fit(ds.subset(fit_rows))
        X_fit = scaler.transform(ds.subset(fit_rows))
        X_test = scaler.transform(ds.subset(fold.test))
        X_val = scaler.transform(ds.subset(val_rows)) if len(val_rows) else None
    else:
        raise ValueError(f"evaluate.normalise must be 'fold' or 'subject', not {normalise!r}")
    spec = model_spec(ds, channels)
    params = dict(model_params)
    params.setdefault("seed", seed)
    model = make_model(method, spec, params)
    t0 = time.perf_counter()
    model.fit(X_fit, ds.y[fit_rows], X_val=X_val,
              y_val=ds.y[val_rows] if len(val_rows) else None,
              X_target=X_test if getattr(model, "uses_target", False) else None,
              groups=ds.subject[fit_rows])
    fit_s = time.perf_counter() - t0
    pred = np.asarray(model.predict(X_test), dtype=np.float64)
    if pred.shape != ds.y[fold.test].shape:
        raise RuntimeError(f"{method} returned predictions of shape {pred.shape}, expected "
                           f"{ds.y[fold.test].shape}")
    metrics = score(ds.y[fold.test].astype(np.float64), pred)
    result = {"fold": fold.name, "subject": fold.subject, "n_train": int(len(fit_rows)),
              "n_val": int(len(val_rows)), "n_test": int(len(fold.test)), "fit_s": fit_s,
              **metrics, "test_rows": fold.test, "pred": pred, "history": model.history()}
    if explain and hasattr(model, "forward_aux"):
        result["explain"] = explain_model(model, X_test)
    return result


#: names of HeLo's internals kept for figures -> names in explain.npz
EXPLAIN_KEYS = {"M_L": "label_corr", "tokens_phy": "phys_before", "tokens_beh": "beh_before",
                "tokens_phy_ot": "phys_after", "plan": "plan"}


def explain_model(model, X: dict, max_samples: int = 300) -> dict:
    """Label correlations and tokens before/after OT for up to ``max_samples`` test rows."""
    n = len(next(iter(X.values())))
    take = np.linspace(0, n - 1, min(n, max_samples)).astype(int)
    aux = model.forward_aux({m: x[take] for m, x in X.items()})
    out = {new: aux[old] for old, new in EXPLAIN_KEYS.items() if old in aux}
    if "phys_after" in out and "beh_before" in out:
        out["beh_after"] = out["beh_before"]  # OT moves the physiological tokens only
    out["sample_rows"] = take
    return out


def summarise(results: list[dict], metric_names: list[str]) -> dict:
    table = pd.DataFrame([{k: r[k] for k in metric_names} for r in results])
    return {"mean": {m: float(table[m].mean()) for m in metric_names},
            "std": {m: float(table[m].std(ddof=0)) for m in metric_names}}


def run_evaluation(dataset_dir: str | Path, protocol: str, method: str, out: str | Path, *,
                   model_params: dict, seed: int = 0, test_fraction: float = 0.2,
                   val_fraction: float = 0.0, modalities: list[str] | None = None,
                   channels: dict | None = None, normalise: str = "fold",
                   executor: Executor | None = None,
                   progress: bool = True, fold_runner=None) -> dict:
    """Every fold of ``protocol`` for ``method``; results land in ``out`` (see module doc).

    ``fold_runner(kwargs_list) -> results`` lets an orchestrator (Prefect) run the folds as its
    own tasks; otherwise ``executor`` (any concurrent.futures Executor) or a plain loop is used.
    """
    from helo.evaluation.metrics import METRICS

    dataset_dir = str(dataset_dir)
    out = Path(out)
    ds = asm.load(dataset_dir, modalities)
    folds = make_folds(protocol, ds.subject, ds.trial, seed=seed, test_fraction=test_fraction)
    if not folds:
        raise ValueError(f"protocol {protocol} gives no folds on {dataset_dir}")
    kwargs = [dict(dataset_dir=dataset_dir, protocol=protocol, method=method, fold_index=i,
                   model_params=model_params, seed=seed, test_fraction=test_fraction,
                   val_fraction=val_fraction, modalities=modalities, channels=channels,
                   explain=(i == 0), normalise=normalise) for i in range(len(folds))]
    t0 = time.perf_counter()
    if fold_runner is not None:
        results = list(fold_runner(kwargs))
    elif executor is not None:
        futures = [executor.submit(run_fold, **kw) for kw in kwargs]
        results = _progress_wait(futures, method, protocol, progress)
    else:
        results = []
        for kw in _bar(kwargs, f"{method} / {protocol}", progress):
            results.append(run_fold(**kw))
    wall = time.perf_counter() - t0
    metric_names = list(METRICS)
    write_outputs(out, ds, folds, results, metric_names, method=method, protocol=protocol)
    res = json.loads((out / "metrics.json").read_text())
    # timings vary from run to run: returned (the stage writes them outside its DVC outputs),
    # never written into the outputs, whose bytes must be the same for the same seed
    res["timing"] = {"wall_s": round(wall, 2), "fit_s": [round(r["fit_s"], 3) for r in results],
                     "epoch_s": [[round(h.get("seconds", 0.0), 3) for h in r.get("history")
                                  or []] for r in results]}
    return res


def _bar(items, desc, progress):
    if not progress:
        return items
    from tqdm.auto import tqdm
    return tqdm(items, desc=desc, unit="fold")


def _progress_wait(futures, method, protocol, progress):
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(futures), desc=f"{method} / {protocol}", unit="fold")
    results = []
    for f in futures:  # keep fold order
        results.append(f.result())
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return results


def write_outputs(out: Path, ds: asm.Dataset, folds: list[Fold], results: list[dict],
                  metric_names: list[str], *, method: str, protocol: str) -> None:
    """``folds.csv``, ``predictions.parquet``, ``history.csv``, ``explain.npz`` and
    ``metrics.json`` of one method under one protocol: results only, no timings, so the same
    seed writes the same bytes (what lets a fresh clone reproduce ``dvc.lock``)."""
    out.mkdir(parents=True, exist_ok=True)
    summary = summarise(results, metric_names)
    fold_rows = [{k: r[k] for k in ["fold", "subject", "n_train", "n_val", "n_test",
                                     *metric_names]} for r in results]
    with atomic_path(out / "folds.csv") as tmp:
        pd.DataFrame(fold_rows).to_csv(tmp, index=False, float_format="%.6f")
    preds = []
    for r in results:
        rows = r["test_rows"]
        frame = pd.DataFrame({"fold": r["fold"], "row": rows, "subject": ds.subject[rows],
                              "trial": ds.trial[rows], "window": ds.window[rows]})
        for j, lab in enumerate(ds.label_names):
            frame[f"true_{lab}"] = ds.y[rows, j]
            frame[f"pred_{lab}"] = r["pred"][:, j]
        preds.append(frame)
    with atomic_path(out / "predictions.parquet") as tmp:
        write_parquet(pd.concat(preds, ignore_index=True), tmp)
    hist = []
    for r in results:
        for rec in r.get("history") or []:
            hist.append({"fold": r["fold"], **{k: v for k, v in rec.items() if k != "seconds"}})
    with atomic_path(out / "history.csv") as tmp:
        (pd.DataFrame(hist) if hist else pd.DataFrame({"fold": [], "epoch": []})).to_csv(
            tmp, index=False, float_format="%.6g")
    for r in results:
        if r.get("explain"):
            with atomic_path(out / "explain.npz") as tmp:
                with open(tmp, "wb") as fh:
                    np.savez(fh, rows=r["test_rows"],
                             **{k: np.asarray(v) for k, v in r["explain"].items()})
            break
    write_json(out / "metrics.json", {
        "method": method, "protocol": protocol, "n_folds": len(results),
        "n_rows": int(ds.n), **summary["mean"],
        "std": summary["std"]})
