"""Train and evaluate one method under one protocol, on every fold.

For each fold: features are standardised with statistics of the fold's training rows only; an
optional validation split (whole trials of the training part, never the test fold) drives early
stopping; methods that adapt to an unlabelled target domain (``uses_target``) get the test
rows' features, never their labels. Per-fold metrics, mean +- std, predictions and training
curves are written to ``out``:

* ``metrics.json`` -- mean and std over folds and seeds of the six metrics (what ``dvc metrics
  show`` reads), ``seeds``, ``n_seeds`` and ``stack`` (the largest number of members -- folds x
  seeds -- trained together as one stacked model; 1 when one at a time)
* ``folds.csv`` -- one row per fold and seed (``seed`` column)
* ``predictions.parquet`` -- true and predicted distribution per test window
* ``history.csv`` -- per fold and epoch losses of iterative methods (a DVC plot)
* ``explain.npz`` -- for models that offer it (HeLo): label correlations, tokens before/after OT

Seeds and stacking (``evaluate.seeds``, ``evaluate.stack``): every fold is trained once per
seed (the split itself always uses ``evaluate.seed``, so the seeds measure the training's
variability on the same folds). The (fold, seed) *members* are cut into chunks of at most
``stack`` members; a chunk is one unit of work (one executor / Prefect / Dask / Ray task) and,
for a method that can be stacked (:data:`STACKABLE_METHODS`: every method on the torch engine,
SA-CPNN included; the PyLDL ones, CAD included, train outside it), one stacked training
(``fit_many``, given what ``fit`` gets: validation rows, the test rows' features for a
``uses_target`` method, the training rows' subjects). ``stack``: 1 = one model at a time;
N = chunks of N; ``auto`` = 1 on the CPU (a stacked deep member does not reproduce the same
member trained alone: other dropout masks, other rounding; the speed there:
``docs/benchmarks.md``) and on an accelerator as many members as fit in half of its free memory
(:func:`auto_stack`).

Failed folds: a member (fold, seed) whose training diverged -- a non-finite ``loss`` or
``val_loss`` in its history (the training engine stops such a member at that epoch,
``helo.model.train``) -- or whose test predictions are not all finite (any learner, deep or
not) is *failed*: it is never scored (:func:`fold_failure`, checked before the metrics). Without
partial results allowed the evaluation raises :class:`FoldFailed` naming method, protocol,
fold, seed and epoch as soon as such a chunk comes back (the stage exits 1, nothing written).
With ``allow_partial`` (``orchestrator.allow_partial`` / ``--allow-partial``) the failed members
are listed in ``folds.csv`` (a ``failed`` column with the reason, empty metrics), in
``metrics.json`` (``n_failed`` and ``failed``: fold, seed, reason) and in ``history.csv`` (their
curve up to the diverged epoch), and are left out of the mean, the std and
``predictions.parquet``; every member failing is always an error. Healthy runs write exactly
what they wrote before (the ``failed`` column and keys appear only when a member failed).
"""
from __future__ import annotations

import json
import logging
import math
import time
from concurrent.futures import Executor
from pathlib import Path

import numpy as np
import pandas as pd

from helo.data import assemble as asm
from helo.data.store import write_parquet
from helo.evaluation.splits import Fold, make_folds, validation_split
from helo.io import atomic_path, write_json

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


#: methods whose learner class has ``fit_many`` (several fits as one stacked model): every
#: method on the torch engine, SA-CPNN included (its ``solver: pyldl`` fits one member at a
#: time inside ``fit_many``). CAD trains through PyLDL (keras), outside the torch engine, and
#: stays one fit at a time, like the other classical methods.
STACKABLE_METHODS = ("helo", "carat", "rsm-ual", "amanda", "conformer", "maet", "emotiondict",
                     "sa-cpnn")
#: per-member parameters the engine options are passed to (methods on the torch engine)
ENGINE_METHODS = ("helo", "carat", "rsm-ual", "amanda", "conformer", "maet", "emotiondict",
                  "sa-cpnn")


def resolve_seeds(seeds, seed: int = 0) -> list[int]:
    """``evaluate.seeds``: ``None`` -> ``[evaluate.seed]`` (today's single run); an int N ->
    ``seed, seed + 1, ..., seed + N - 1``; a list -> those seeds."""
    if seeds is None:
        return [int(seed)]
    if isinstance(seeds, bool):
        raise ValueError(f"evaluate.seeds must be null, a count or a list, not {seeds!r}")
    if isinstance(seeds, int):
        if seeds < 1:
            raise ValueError(f"evaluate.seeds must be at least 1, not {seeds}")
        return [int(seed) + i for i in range(seeds)]
    out = [int(s) for s in seeds]
    if not out or len(set(out)) != len(out):
        raise ValueError(f"evaluate.seeds must be distinct and non-empty, not {seeds!r}")
    return out


def auto_stack(method: str, model_params: dict, n_members: int, n_rows: int,
               n_features: int) -> int:
    """``evaluate.stack: auto``: 1 for a method that cannot be stacked, else the learner
    class's ``auto_stack`` (HeLo: 1 on the CPU, on a GPU what fits)."""
    if method not in STACKABLE_METHODS or n_members <= 1:
        return 1
    from helo.model.registry import get_class
    return int(get_class(method).auto_stack(model_params, n_members, n_rows, n_features))


def resolve_stack(stack, method: str, model_params: dict, n_members: int, n_rows: int,
                  n_features: int) -> int:
    """``evaluate.stack`` (``auto`` | N | 1) -> the chunk size."""
    if stack in (None, "auto"):
        return auto_stack(method, model_params, n_members, n_rows, n_features)
    try:
        k = int(stack)
    except (TypeError, ValueError):
        raise ValueError(f"evaluate.stack must be auto or a positive integer, not {stack!r}") \
            from None
    if k < 1:
        raise ValueError(f"evaluate.stack must be auto or a positive integer, not {stack!r}")
    return 1 if method not in STACKABLE_METHODS else min(k, n_members)


def _fold_data(ds, fold, fit_rows, val_rows, normalise):
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
    return X_fit, X_val, X_test


class FoldFailed(ValueError):
    """A fold's training diverged or its predictions are not finite, and partial results
    were not allowed."""

    def __init__(self, method: str, protocol: str, result: dict, n_failed: int | None = None,
                 total: int | None = None, allowed: bool = False):
        self.result = result
        where = f"evaluate {protocol}/{method}: fold {result['fold']} (seed {result['seed']})"
        if allowed:  # every member failed: nothing left to score
            msg = (f"{where}: {result['failed']}; all {total} fold run(s) failed, nothing to "
                   f"score (check model.{method}'s lr and the features)")
        else:
            msg = (f"{where} failed: {result['failed']} (the model diverged or predicts "
                   f"non-finite values: check model.{method}'s lr and the features); accept "
                   f"the other folds with --allow-partial (or orchestrator.allow_partial: true)")
        super().__init__(msg)


#: history columns whose non-finite value means the training diverged
DIVERGENCE_KEYS = (("loss", "training loss"), ("val_loss", "validation loss"))


def fold_failure(history: list[dict] | None, pred: np.ndarray) -> str | None:
    """Why a trained member cannot be scored, or None: the first epoch of ``history`` with a
    non-finite training or validation loss ("training loss is nan at epoch 3"), else
    non-finite test predictions ("12 of 40 test predictions are not finite after epoch 5")."""
    for row in history or []:
        for key, what in DIVERGENCE_KEYS:
            v = row.get(key)
            if isinstance(v, (int, float)) and not math.isfinite(v):
                return f"{what} is {v} at epoch {row.get('epoch')}"
    bad = ~np.isfinite(pred).all(axis=1) if pred.ndim == 2 else ~np.isfinite(pred)
    if bad.any():
        last = (history or [{}])[-1].get("epoch")
        return (f"{int(bad.sum())} of {len(bad)} test predictions are not finite"
                + (f" after epoch {last}" if last is not None else ""))
    return None


def run_fold(dataset_dir: str, protocol: str, method: str, fold_index: int | None = None, *,
             model_params: dict, seed: int = 0, test_fraction: float = 0.2,
             val_fraction: float = 0.0, modalities: list[str] | None = None,
             channels: dict | None = None, explain: bool = False,
             normalise: str = "fold", items: list | None = None):
    """Run one fold (``fold_index``, model seed ``seed``) -> a result dict, or a chunk of
    ``items`` = ``[(fold_index, model seed), ...]`` -> a list of result dicts (one stacked
    training when the chunk has several members and the method can be stacked). The split
    always uses ``seed`` (``evaluate.seed``). Top-level and picklable so any executor
    (processes, Dask, Ray) or a Prefect task can run it."""
    if items is None:
        return _run_members(dataset_dir, protocol, method, [(fold_index, seed)],
                            model_params=model_params, split_seed=seed,
                            test_fraction=test_fraction, val_fraction=val_fraction,
                            modalities=modalities, channels=channels, explain=explain,
                            normalise=normalise)[0]
    return _run_members(dataset_dir, protocol, method, [tuple(i) for i in items],
                        model_params=model_params, split_seed=seed,
                        test_fraction=test_fraction, val_fraction=val_fraction,
                        modalities=modalities, channels=channels, explain=explain,
                        normalise=normalise)


def _fit_each(ds, folds, items, method, spec, model_params, val_fraction, split_seed,
              normalise):
    """One fit per member on its own standardised copy of its rows (methods outside the
    engine)."""
    from helo.model.registry import make_model
    prepared, fit_times = [], []
    for fold_index, mseed in items:
        fold = folds[fold_index]
        fit_rows, val_rows = validation_split(fold.train, ds.trial_keys(), val_fraction,
                                              split_seed)
        X_fit, X_val, X_test = _fold_data(ds, fold, fit_rows, val_rows, normalise)
        model = make_model(method, spec, {**model_params, "seed": int(mseed)})
        t1 = time.perf_counter()
        model.fit(X_fit, ds.y[fit_rows], X_val=X_val,
                  y_val=ds.y[val_rows] if len(val_rows) else None,
                  X_target=X_test if getattr(model, "uses_target", False) else None,
                  groups=ds.subject[fit_rows])
        fit_times.append(time.perf_counter() - t1)
        prepared.append((fold, mseed, fit_rows, val_rows, X_test, model))
    return prepared, fit_times


def _fit_pooled(ds, folds, items, method, spec, model_params, val_fraction, split_seed,
                normalise):
    """Every member of the chunk through one engine call on one pool: the assembled rows once
    (raw), each fold's rows and standardisation table applied on the device after the gather
    (``helo.model.train.FoldPool``), so memory does not grow with the number of folds. Only
    the test rows are standardised here (for prediction), with the same statistics."""
    from helo.model.pool import FoldPool, FoldRows
    from helo.model.registry import get_class, make_model

    mods = list(ds.X)
    subjects, groups = np.unique(ds.subject, return_inverse=True)
    prepared, fold_rows = [], []
    for fold_index, mseed in items:
        fold = folds[fold_index]
        fit_rows, val_rows = validation_split(fold.train, ds.trial_keys(), val_fraction,
                                              split_seed)
        model = make_model(method, spec, {**model_params, "seed": int(mseed)})
        if normalise == "fold":
            scaler = Standardiser().fit(ds.subset(fit_rows))
            shift = {m: scaler.mean[m][None, :] for m in mods}
            scale = {m: scaler.std[m][None, :] for m in mods}
            X_test = scaler.transform(ds.subset(fold.test))
        elif normalise == "subject":
            shift, scale = _subject_tables(ds, subjects, groups, fit_rows, val_rows, fold.test)
            X_test = SubjectStandardiser().fit(ds.subset(fit_rows), ds.subject[fit_rows]) \
                .transform(ds.subset(fold.test), ds.subject[fold.test])
        else:
            raise ValueError(f"evaluate.normalise must be 'fold' or 'subject', not "
                             f"{normalise!r}")
        uses_target = getattr(model, "uses_target", False) and len(fold.test) >= 2
        fold_rows.append(FoldRows(rows=fit_rows, val_rows=val_rows if len(val_rows) else None,
                                  target_rows=fold.test if uses_target else None,
                                  shift=shift, scale=scale))
        prepared.append((fold, mseed, fit_rows, val_rows, X_test, model))
    pool = FoldPool(X=ds.X, y=ds.y, folds=fold_rows,
                    groups=groups if normalise == "subject" else None, subjects=ds.subject)
    t0 = time.perf_counter()
    get_class(method).fit_many([p[-1] for p in prepared], pool, stacked=len(prepared) > 1)
    return prepared, [(time.perf_counter() - t0) / len(prepared)] * len(prepared)


def _subject_tables(ds, subjects, groups, fit_rows, val_rows, test_rows):
    """Per-subject standardisation tables ``(G, d)`` (:class:`SubjectStandardiser`'s
    statistics): a subject's training rows, else (absent from training) its own validation or
    test rows, else identity (never used)."""
    shift = {m: np.zeros((len(subjects), x.shape[1])) for m, x in ds.X.items()}
    scale = {m: np.ones((len(subjects), x.shape[1])) for m, x in ds.X.items()}
    for rows in (test_rows, val_rows, fit_rows):  # training statistics win
        for g in np.unique(groups[rows]):
            part = rows[groups[rows] == g]
            st = Standardiser().fit(ds.subset(part))
            for m in ds.X:
                shift[m][g], scale[m][g] = st.mean[m], st.std[m]
    return shift, scale


def _run_members(dataset_dir, protocol, method, items, *, model_params, split_seed,
                 test_fraction, val_fraction, modalities, channels, explain, normalise):
    from helo.evaluation.metrics import evaluate as score

    ds = asm.load(dataset_dir, modalities)
    folds = make_folds(protocol, ds.subject, ds.trial, seed=split_seed,
                       test_fraction=test_fraction)
    spec = model_spec(ds, channels)
    if method in STACKABLE_METHODS:
        prepared, fit_times = _fit_pooled(ds, folds, items, method, spec, model_params,
                                          val_fraction, split_seed, normalise)
    else:
        prepared, fit_times = _fit_each(ds, folds, items, method, spec, model_params,
                                        val_fraction, split_seed, normalise)
    results = []
    for j, (fold, mseed, fit_rows, val_rows, X_test, model) in enumerate(prepared):
        pred = np.asarray(model.predict(X_test), dtype=np.float64)
        if pred.shape != ds.y[fold.test].shape:
            raise RuntimeError(f"{method} returned predictions of shape {pred.shape}, "
                               f"expected {ds.y[fold.test].shape}")
        history = model.history()
        failed = fold_failure(history, pred)
        metrics = {} if failed else score(ds.y[fold.test].astype(np.float64), pred)
        result = {"fold": fold.name, "seed": int(mseed), "subject": fold.subject,
                  "n_train": int(len(fit_rows)), "n_val": int(len(val_rows)),
                  "n_test": int(len(fold.test)), "fit_s": fit_times[j], **metrics,
                  "test_rows": fold.test, "pred": pred, "history": history,
                  "stack": len(prepared) if (len(prepared) > 1
                                             and method in STACKABLE_METHODS) else 1}
        if failed:
            result["failed"] = failed
            log.warning("%s: fold %s (seed %s) failed: %s", method, fold.name, mseed, failed)
        elif explain and hasattr(model, "forward_aux") \
                and not any("explain" in r for r in results):
            result["explain"] = explain_model(model, X_test)
        results.append(result)
    return results


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
    """Mean and std (ddof 0) of each metric over the scored (not failed) results."""
    table = pd.DataFrame([{k: r[k] for k in metric_names} for r in results
                          if not r.get("failed")])
    return {"mean": {m: float(table[m].mean()) for m in metric_names},
            "std": {m: float(table[m].std(ddof=0)) for m in metric_names}}


def run_evaluation(dataset_dir: str | Path, protocol: str, method: str, out: str | Path, *,
                   model_params: dict, seed: int = 0, test_fraction: float = 0.2,
                   val_fraction: float = 0.0, modalities: list[str] | None = None,
                   channels: dict | None = None, normalise: str = "fold",
                   executor: Executor | None = None,
                   progress: bool = True, fold_runner=None, seeds=None,
                   stack="auto", allow_partial: bool = False) -> dict:
    """Every fold (x seed) of ``protocol`` for ``method``; results land in ``out`` (see the
    module doc). A failed fold raises :class:`FoldFailed` unless ``allow_partial`` (then it is
    reported as failed and not scored; all of them failing raises all the same).

    ``fold_runner(kwargs_list) -> results`` lets an orchestrator (Prefect) run the chunks as
    its own tasks; otherwise ``executor`` (any concurrent.futures Executor) or a plain loop is
    used. Each kwargs runs :func:`run_fold` on one chunk of (fold, seed) members.
    """
    from helo.evaluation.metrics import METRICS

    dataset_dir = str(dataset_dir)
    out = Path(out)
    ds = asm.load(dataset_dir, modalities)
    folds = make_folds(protocol, ds.subject, ds.trial, seed=seed, test_fraction=test_fraction)
    if not folds:
        raise ValueError(f"protocol {protocol} gives no folds on {dataset_dir}")
    if seeds is None and "seed" in model_params:  # an explicit model.<method>.seed
        seeds = [int(model_params["seed"])]
    seed_list = resolve_seeds(seeds, seed)
    members = [(i, s) for s in seed_list for i in range(len(folds))]
    n_feat = int(sum(x.shape[1] for x in ds.X.values()))
    k = resolve_stack(stack, method, model_params, len(members), int(ds.n), n_feat)
    chunks = [members[c:c + k] for c in range(0, len(members), k)]
    kwargs = [dict(dataset_dir=dataset_dir, protocol=protocol, method=method,
                   model_params=model_params, seed=seed, test_fraction=test_fraction,
                   val_fraction=val_fraction, modalities=modalities, channels=channels,
                   explain=(c == 0), normalise=normalise, items=chunk)
              for c, chunk in enumerate(chunks)]

    def check(part):  # a failed member ends the evaluation at once unless partial is allowed
        for r in (part if isinstance(part, list) else [part]):
            if r.get("failed") and not allow_partial:
                raise FoldFailed(method, protocol, r)
        return part

    t0 = time.perf_counter()
    if fold_runner is not None:
        parts = [check(part) for part in fold_runner(kwargs)]
    elif executor is not None:
        futures = [executor.submit(run_fold, **kw) for kw in kwargs]
        parts = _progress_wait(futures, method, protocol, progress, check)
    else:
        parts = []
        for kw in _bar(kwargs, f"{method} / {protocol}", progress):
            parts.append(check(run_fold(**kw)))
    results = [r for part in parts for r in (part if isinstance(part, list) else [part])]
    failed = [r for r in results if r.get("failed")]
    if failed and len(failed) == len(results):
        raise FoldFailed(method, protocol, failed[0], len(failed), len(results), allowed=True)
    wall = time.perf_counter() - t0
    metric_names = list(METRICS)
    write_outputs(out, ds, folds, results, metric_names, method=method, protocol=protocol,
                  seeds=seed_list)
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


def _progress_wait(futures, method, protocol, progress, check=lambda part: part):
    """The futures' results in fold order; ``check(part)`` may raise, which cancels the
    futures not started yet."""
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(futures), desc=f"{method} / {protocol}", unit="fold")
    results = []
    for f in futures:  # keep fold order
        try:
            results.append(check(f.result()))
        except BaseException:
            for other in futures:
                other.cancel()
            if bar is not None:
                bar.close()
            raise
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return results


def write_outputs(out: Path, ds: asm.Dataset, folds: list[Fold], results: list[dict],
                  metric_names: list[str], *, method: str, protocol: str,
                  seeds: list[int] | None = None) -> None:
    """``folds.csv``, ``predictions.parquet``, ``history.csv``, ``explain.npz`` and
    ``metrics.json`` of one method under one protocol: results only, no timings, so the same
    seed writes the same bytes (what lets a fresh clone reproduce ``dvc.lock``)."""
    out.mkdir(parents=True, exist_ok=True)
    summary = summarise(results, metric_names)
    failed = failed_members(results)
    fold_rows = [{k: r.get(k) for k in ["fold", "seed", "subject", "n_train", "n_val",
                                         "n_test", *metric_names, *(["failed"] if failed else [])]}
                 for r in results]
    with atomic_path(out / "folds.csv") as tmp:
        pd.DataFrame(fold_rows).to_csv(tmp, index=False, float_format="%.6f")
    preds = []
    for r in results:
        if r.get("failed"):  # never scored, so not among the predictions either
            continue
        rows = r["test_rows"]
        frame = pd.DataFrame({"fold": r["fold"], "seed": r.get("seed"), "row": rows,
                              "subject": ds.subject[rows],
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
            hist.append({"fold": r["fold"], "seed": r.get("seed"),
                         **{k: v for k, v in rec.items() if k != "seconds"}})
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
    seeds = list(seeds) if seeds is not None else sorted({r.get("seed", 0) for r in results})
    write_json(out / "metrics.json", {
        "method": method, "protocol": protocol, "n_folds": len({r["fold"] for r in results}),
        "n_seeds": len(seeds), "seeds": [int(s) for s in seeds],
        "stack": int(max((r.get("stack", 1) for r in results), default=1)),
        "n_rows": int(ds.n), **summary["mean"],
        "std": summary["std"], **failed})


def failed_members(results: list[dict]) -> dict:
    """``{"n_failed", "failed": [{fold, seed, reason}]}`` of the failed results; ``{}`` when
    none failed (so a healthy run's ``metrics.json`` is what it always was)."""
    failed = [{"fold": r["fold"], "seed": r.get("seed"), "reason": r["failed"]}
              for r in results if r.get("failed")]
    return {"n_failed": len(failed), "failed": failed} if failed else {}
