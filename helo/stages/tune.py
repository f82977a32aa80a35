"""``helo tune --method M --protocol P``: nested hyper-parameter search with Optuna, written
back into ``params.yaml`` as the method's settings *for that protocol*; ``helo tune --all``:
every method under every protocol, the same budget each.

Not a DVC stage: it *writes* parameters, which DVC stages read, so running it inside the DAG
would make the pipeline depend on its own output (and the default ``dvc repro`` must not spend
the search's time). Use it by hand, then let DVC re-run what the new values invalidate::

    helo tune --method ldl-lrr --protocol loso         # writes model.ldl-lrr.by_protocol.loso
    helo tune --all                                     # every (protocol, method), resumable
    helo tune --method helo --protocol loso --trials 20 --dry-run      # record only
    dvc repro                                           # re-evaluates what changed

Where the settings go: ``model.<method>.by_protocol.<protocol>``, a block laid over the shared
``model.<method>`` settings under that protocol only
(:meth:`helo.stages.schema.Params.method_options`), so a search under the leaky
subject-dependent split cannot choose the settings LOSO is evaluated with. The block holds the
searched keys: the best trial's values, or, when no trial beats the settings the protocol had
before, those settings' values (the block then records that the protocol was searched; the
method's evaluation does not change). The ``method-params`` stage turns each block into the file
its ``evaluate@<protocol>-<method>`` stage depends on, so only that stage re-runs.

Search (every method the same way, so the comparison is fair):

* **Nested, never the test fold.** For each of ``tune.outer_folds`` outer folds of the protocol
  (evenly spaced in the protocol's fold order; ``null`` = all), the fold's *training part* is
  split into inner train / validation, a ``tune.val_fraction`` share to validation.
  ``tune.inner_split`` says how (a choice where reasonable people differ):

  - ``mirror`` (default): the inner split repeats the outer protocol inside the training part,
    the usual definition of nested cross-validation, so the objective estimates what the
    protocol measures: ``subject-dependent`` -> a seeded random share of the *windows* (like the
    paper's 8:2 split, with the same leak across a trial's overlapping windows),
    ``trial-held-out`` -> whole trials, ``loso`` -> whole subjects;
  - ``grouped``: whole trials (``loso``: whole subjects) under every protocol -- leak-free, but
    under ``subject-dependent`` it then selects for a different quantity than the test measures
    (on the synthetic default it drove AA-kNN's ``k`` from 5 to 49, validation KL down and
    subject-dependent test KL up from 0.054 to 0.078).

  Whole-trial / whole-subject splits use :func:`helo.evaluation.splits.validation_split`.
  Features are standardised with the inner
  training rows only, as ``evaluate.normalise: fold`` does. The outer test rows are never
  loaded into a split. Under ``subject-dependent`` and ``trial-held-out`` every training part
  is disjoint from *every* outer test part, so the one configuration chosen is leak-free for
  all folds. Under ``loso`` a subject held out by one fold is training data of the others: the
  single configuration written to ``params.yaml`` has then seen (as inner training/validation
  data of other folds) the subject it is later tested on. Per-fold configurations would avoid
  that but could not be written as one DVC parameter; this is stated in ``best.json``.
* **Objective**: mean validation KL over the inner splits (lower is better); the other five
  metrics are kept in the record.
* **Sampler**: Optuna's TPE, seeded with ``tune.seed``; its first ``max(2, trials // 3)``
  trials are random start-up trials. Budget: ``tune.trials`` trials (``--trials``) and
  ``tune.timeout`` seconds (``--timeout``; null: none), the same for every method.
* **Baseline**: the current ``model.<method>`` settings are scored on the same inner splits
  first (outside the trial budget). The best trial's values are written only when they beat
  it on validation KL; otherwise params.yaml is left as it is (``written: false``).
* **Search spaces**: :mod:`helo.model.search_spaces`.

Writes ``outputs/tune/<protocol>/<method>/``: ``study.csv`` (every trial: number, state,
values, objective, the other metrics, seconds), ``best.json`` (budget, data-set fingerprint,
baseline, best, the settings the protocol now has and where they were written) and
``history.png`` (objective per trial and the running best); and
``outputs/tune/summary.csv``, one row per tuned protocol and method. ``params.yaml`` is
edited with ruamel.yaml's round trip, so comments, order and layout stay as they were; only the
tuned keys of ``model.<method>`` change.
"""
from __future__ import annotations

import io
import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from helo.data.assemble import fingerprint as asm_fingerprint
from helo.evaluation.splits import PROTOCOLS
from helo.io import atomic_path, write_json, write_text
from helo.stages.common import config_of
from helo.stages.params import load
from helo.stages.schema import BY_PROTOCOL, Evaluate, Params, Tune

log = logging.getLogger(__name__)

TUNE_ROOT = Path("outputs/tune")

#: the schema's defaults, for calls that leave a setting out
_EVALUATE, _TUNE = Evaluate(), Tune()


def inner_splits(dataset_dir, protocol: str, *, modalities=None, seed: int = _EVALUATE.seed,
                 test_fraction: float = _EVALUATE.test_fraction,
                 outer_folds: int | None = _TUNE.outer_folds,
                 val_fraction: float = _TUNE.val_fraction,
                 inner_split: str = _TUNE.inner_split) -> tuple[Any, list[dict]]:
    """``(dataset, splits)``: for each chosen outer fold, the inner fit / validation rows of
    its training part (see the module doc). Each split: ``fold``, ``fit``, ``val``. The
    settings are ``tune.*`` and ``evaluate.*`` as the schema checked them (defaults: the
    schema's)."""
    from helo.data import assemble as asm
    from helo.evaluation.splits import make_folds, validation_split

    ds = asm.load(str(dataset_dir), modalities)
    folds = make_folds(protocol, ds.subject, ds.trial, seed=seed, test_fraction=test_fraction)
    if not folds:
        raise ValueError(f"protocol {protocol} gives no folds on {dataset_dir}")
    if outer_folds and outer_folds < len(folds):
        pick = np.unique(np.linspace(0, len(folds) - 1, int(outer_folds)).round().astype(int))
        folds = [folds[i] for i in pick]
    keys = ds.subject.astype(str) if protocol == "loso" else ds.trial_keys()
    by_window = inner_split == "mirror" and protocol == "subject-dependent"
    splits = []
    for fold in folds:
        if by_window:  # the paper's random window split, inside the training part
            rng = np.random.default_rng([seed, len(fold.train), *map(ord, fold.name[-8:])])
            perm = rng.permutation(fold.train)
            n_val = max(1, int(round(val_fraction * len(perm)))) if len(perm) > 1 else 0
            fit, val = np.sort(perm[n_val:]), np.sort(perm[:n_val])
        else:
            fit, val = validation_split(fold.train, keys, val_fraction, seed)
        if len(val) == 0 or len(fit) == 0:
            log.warning("tune: outer fold %s has a single trial/subject in its training part; "
                        "no inner validation split, left out", fold.name)
            continue
        overlap = np.intersect1d(np.r_[fit, val], fold.test)
        if overlap.size:  # cannot happen with make_folds; guards future protocols
            raise RuntimeError(f"tune: inner split of {fold.name} touches its test rows")
        splits.append({"fold": fold.name, "fit": fit, "val": val})
    if not splits:
        raise ValueError(f"tune: no outer fold of {protocol} has at least two trials/subjects "
                         f"in its training part to validate on")
    return ds, splits


def score_config(method: str, ds, splits: list[dict], model_params: dict, *,
                 channels: dict | None = None, seed: int = 0) -> dict:
    """Fit ``method`` with ``model_params`` on every inner fit part, score on its validation
    part; mean of each metric over the splits (``kl`` is the objective)."""
    from helo.evaluation.metrics import METRICS
    from helo.evaluation.metrics import evaluate as score
    from helo.evaluation.runner import Standardiser, model_spec
    from helo.model.registry import make_model

    spec = model_spec(ds, channels)
    per = []
    for sp in splits:
        fit, val = sp["fit"], sp["val"]
        scaler = Standardiser().fit(ds.subset(fit))
        X_fit, X_val = scaler.transform(ds.subset(fit)), scaler.transform(ds.subset(val))
        p = dict(model_params)
        p.setdefault("seed", seed)
        model = make_model(method, spec, p)
        model.fit(X_fit, ds.y[fit], X_target=X_val if getattr(model, "uses_target", False)
                  else None, groups=ds.subject[fit])
        pred = np.asarray(model.predict(X_val), dtype=np.float64)
        per.append(score(ds.y[val].astype(np.float64), pred))
    return {k: float(np.mean([m[k] for m in per])) for k in METRICS}


def run(cfg: Params, method: str, protocol: str, *, trials: int | None = None,
        timeout: float | None = None, dry_run: bool = False,
        params_path: str | Path = "params.yaml", out_root: str | Path = TUNE_ROOT,
        dataset_dir: str | Path | None = None, on_step=None) -> dict:
    """Tune ``method`` under ``protocol``; see the module doc. Returns the ``best.json`` record.
    ``on_step()`` (optional) is called once the current settings are scored and after every
    trial (a progress bar's update)."""
    import optuna

    from helo.evaluation.metrics import METRICS, NonFiniteError
    from helo.model.registry import get_class
    from helo.model.search_spaces import space_of, suggest
    from helo.stages.common import ASSEMBLED, channels_of, method_params

    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose one of {PROTOCOLS}")
    cfg = config_of(cfg)
    settings = cfg.tune
    trials = int(trials if trials is not None else settings.trials)
    timeout = timeout if timeout is not None else settings.timeout
    if trials < 1:
        raise ValueError("tune: --trials must be at least 1")
    dataset_dir = Path(dataset_dir or ASSEMBLED)
    if not cfg.has_method(method):
        raise ValueError(f"tune: params.yaml has no model.{method} group to tune")
    space = space_of(method, get_class(method))
    current, modalities = method_params(cfg, method, protocol)
    seed = cfg.evaluate.seed
    ds, splits = inner_splits(dataset_dir, protocol, modalities=modalities, seed=seed,
                              test_fraction=cfg.evaluate.test_fraction,
                              outer_folds=settings.outer_folds,
                              val_fraction=settings.val_fraction,
                              inner_split=settings.inner_split)
    channels = channels_of(dataset_dir)
    out = Path(out_root) / protocol / method
    out.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    try:
        baseline = score_config(method, ds, splits, current, channels=channels, seed=seed)
    except NonFiniteError as err:  # diverged: any finite trial improves on it
        baseline = {k: math.inf for k in METRICS}
        baseline["error"] = str(err)[:300]
        log.warning("tune %s/%s: the current settings diverge (%s)", protocol, method, err)
    baseline_s = time.perf_counter() - t0
    if on_step is not None:
        on_step()
    log.info("tune %s/%s: current settings, validation KL %.4f (%.1f s)", protocol, method,
             baseline["kl"], baseline_s)

    records: list[dict] = []

    def objective(trial):
        values = suggest(trial, space)
        t = time.perf_counter()
        try:
            scores = score_config(method, ds, splits, {**current, **values},
                                  channels=channels, seed=seed)
        except Exception as err:  # noqa: BLE001 - a configuration the method rejects
            trial.set_user_attr("error", repr(err)[:300])
            records.append({"number": trial.number, "state": "FAIL", **values,
                            "error": repr(err)[:300], "seconds": time.perf_counter() - t})
            if on_step is not None:
                on_step()
            return math.nan
        records.append({"number": trial.number, "state": "COMPLETE", **values,
                        **{f"val_{k}": v for k, v in scores.items()},
                        "seconds": round(time.perf_counter() - t, 2)})
        if on_step is not None:
            on_step()
        return scores["kl"] if math.isfinite(scores["kl"]) else math.nan

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=settings.seed,
                                         n_startup_trials=max(2, trials // 3))
    study = optuna.create_study(direction="minimize", sampler=sampler,
                                study_name=f"{protocol}/{method}")
    if space:
        study.optimize(objective, n_trials=trials, timeout=timeout, catch=())
    complete = [r for r in records if r["state"] == "COMPLETE"]
    best = min(complete, key=lambda r: r["val_kl"]) if complete else None
    best_values = {d.key: best[d.key] for d in space} if best else {}
    improves = bool(best and best["val_kl"] < baseline["kl"])
    # the search's outcome under this protocol: the best trial's values, or the current values
    # of the searched keys when none beat them (so the block says the protocol was searched)
    chosen = best_values if improves else {d.key: current[d.key] for d in space
                                           if d.key in current}
    written = bool(chosen) and not dry_run
    if written:
        write_params(params_path, method, chosen, protocol=protocol)
    record = {
        "method": method, "protocol": protocol, "objective": "mean validation KL",
        "budget": budget(settings, trials, timeout),
        "dataset": asm_fingerprint(dataset_dir),
        "settings": _plain(cfg.method_options(method, protocol) | chosen),
        "written_to": f"model.{method}.{BY_PROTOCOL}.{protocol}" if written else None,
        "trials": trials, "timeout_s": timeout, "trials_run": len(records),
        "trials_complete": len(complete), "sampler": f"TPE(seed={settings.seed})",
        "outer_folds": [s["fold"] for s in splits], "val_fraction": settings.val_fraction,
        "inner_split": settings.inner_split + (
            ": random windows" if protocol == "subject-dependent" and settings.inner_split ==
            "mirror" else ": whole subjects" if protocol == "loso" else ": whole trials"),
        "space": [d.key for d in space],
        "baseline": {"params": _plain(current),
                     "val": baseline if math.isfinite(baseline["kl"])
                     else {"kl": None, "error": baseline["error"]}},
        "best": ({"trial": best["number"], "params": _plain(best_values),
                  "val": {k[4:]: best[k] for k in best if k.startswith("val_")}}
                 if best else None),
        "improves_on_baseline": improves, "written": written, "dry_run": dry_run,
        "caveat": ("loso: one configuration for every fold; a fold's held-out subject is "
                   "inner training/validation data of the other folds' searches"
                   if protocol == "loso" else None),
    }
    if not space:
        record["settings"] = _plain(cfg.method_options(method, protocol))
    _write_record(out, records, record, baseline["kl"])
    table = summary_table(out_root)
    with atomic_path(Path(out_root) / "summary.csv") as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")
    return record


def budget(settings: Tune, trials: int, timeout: float | None) -> dict:
    """What makes two searches of one method comparable (and a finished one reusable by
    :func:`run_all`): the trial budget and the nested split."""
    return {"trials": int(trials), "timeout_s": timeout, "outer_folds": settings.outer_folds,
            "val_fraction": settings.val_fraction, "inner_split": settings.inner_split,
            "seed": settings.seed}


def _finished(out_root: Path, protocol: str, method: str, want_budget: dict,
              fingerprint: str) -> dict | None:
    """The record of a finished search of ``method`` under ``protocol`` with this budget on
    this data set (written to params.yaml, or a dry run), else None."""
    path = Path(out_root) / protocol / method / "best.json"
    if not path.exists():
        return None
    try:
        rec = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    same = rec.get("budget") == want_budget and rec.get("dataset") == fingerprint
    return rec if same else None


def run_all(cfg: Params, *, protocols: list[str] | None = None,
            methods: list[str] | None = None, trials: int | None = None,
            timeout: float | None = None, dry_run: bool = False, force: bool = False,
            params_path: str | Path = "params.yaml", out_root: str | Path = TUNE_ROOT,
            dataset_dir: str | Path | None = None, progress: bool = True) -> dict:
    """``helo tune --all``: every method of ``evaluate.methods`` under every protocol of
    ``evaluate.protocols`` (or the given lists), each with the same budget, one after another.

    Resumable: a (protocol, method) whose record under ``out_root`` has the same budget and was
    made on the same assembled data (:func:`helo.data.assemble.fingerprint`) is skipped
    (``force``: searched again); an interrupted search starts over. A progress bar counts every
    scoring (the current settings and each trial) with the time left at the rate so far. A
    method that fails is reported and the others go on; the call raises at the end when any
    failed."""
    from tqdm.auto import tqdm

    from helo.stages.common import ASSEMBLED

    cfg = config_of(cfg)
    protocols = list(protocols or cfg.evaluate.protocols)
    methods = list(methods or cfg.evaluate.methods)
    if not protocols or not methods:
        raise ValueError("tune --all: evaluate.protocols and evaluate.methods name nothing to "
                         "tune")
    missing = [m for m in methods if not cfg.has_method(m)]
    if missing:
        raise ValueError(f"tune --all: params.yaml has no model.<method> group for {missing} "
                         f"(add `model.<method>: {{}}`)")
    trials = int(trials if trials is not None else cfg.tune.trials)
    timeout = timeout if timeout is not None else cfg.tune.timeout
    dataset_dir = Path(dataset_dir or ASSEMBLED)
    want, fingerprint = budget(cfg.tune, trials, timeout), asm_fingerprint(dataset_dir)
    pairs = [(p, m) for p in protocols for m in methods]
    todo = [(p, m) for p, m in pairs
            if force or _finished(Path(out_root), p, m, want, fingerprint) is None]
    done, failed = {}, {}
    bar = tqdm(total=len(todo) * (trials + 1), unit="fit", desc="tune", disable=not progress,
               dynamic_ncols=True)
    log.info("tune --all: %d of %d (protocol, method) searches to run (%d finished before)",
             len(todo), len(pairs), len(pairs) - len(todo))
    try:
        for i, (protocol, method) in enumerate(todo, 1):
            bar.set_postfix_str(f"{i}/{len(todo)} {protocol}/{method}")
            start = bar.n
            try:
                rec = run(cfg, method, protocol, trials=trials, timeout=timeout,
                          dry_run=dry_run, params_path=params_path, out_root=out_root,
                          dataset_dir=dataset_dir, on_step=lambda: bar.update(1))
                done[f"{protocol}/{method}"] = {
                    "val_kl_before": rec["baseline"]["val"].get("kl"),
                    "val_kl_best": (rec["best"] or {}).get("val", {}).get("kl"),
                    "written": rec["written"]}
            except Exception as err:  # noqa: BLE001 - one method's failure does not stop the rest
                log.error("tune %s/%s failed: %s", protocol, method, err)
                failed[f"{protocol}/{method}"] = repr(err)[:300]
            bar.update(start + trials + 1 - bar.n)  # a method with no space or a timeout
    finally:
        bar.close()
    summary = {"searched": done, "skipped": [f"{p}/{m}" for p, m in pairs if (p, m) not in todo],
               "failed": failed, "budget": want, "dataset": fingerprint}
    if failed:
        raise RuntimeError(f"tune --all: {len(failed)} search(es) failed: "
                           + "; ".join(f"{k}: {v}" for k, v in failed.items()))
    return summary


def _plain(d: dict) -> dict:
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in d.items()}


def _write_record(out: Path, records: list[dict], record: dict, baseline_kl: float) -> None:
    df = pd.DataFrame(records)
    with atomic_path(out / "study.csv") as tmp:
        df.to_csv(tmp, index=False, float_format="%.6g")
    write_json(out / "best.json", record)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    if len(df) and "val_kl" in df:
        ok = df[df["state"] == "COMPLETE"]
        ax.plot(ok["number"], ok["val_kl"], "o", ms=4, label="trial")
        ax.step(ok["number"], ok["val_kl"].cummin(), where="post", label="best so far")
    if math.isfinite(baseline_kl):
        ax.axhline(baseline_kl, color="k", ls="--", lw=0.8, label="settings before tuning")
    ax.set_xlabel("trial")
    ax.set_ylabel("mean validation KL")
    ax.set_title(f"{record['protocol']} / {record['method']}: optimisation history", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(out / "history.png") as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)


def _yaml_round_trip():
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.representer.add_representer(
        type(None), lambda r, _: r.represent_scalar("tag:yaml.org,2002:null", "null"))

    def float_repr(r, x):  # PyYAML (YAML 1.1) reads 1e-05 as a string: always write a dot
        if math.isnan(x) or math.isinf(x):
            return r.represent_scalar("tag:yaml.org,2002:float",
                                      ".nan" if math.isnan(x) else (".inf" if x > 0 else "-.inf"))
        text = repr(float(x))
        if "e" in text and "." not in text.split("e")[0]:
            mant, exp = text.split("e")
            text = f"{mant}.0e{exp}"
        return r.represent_scalar("tag:yaml.org,2002:float", text)

    yaml.representer.add_representer(float, float_repr)
    return yaml


def write_params(path: str | Path, method: str, values: dict,
                 protocol: str | None = None) -> None:
    """Set ``model.<method>.<key>`` (``protocol`` given: ``model.<method>.by_protocol.
    <protocol>.<key>``, the block replaced by ``values``) for each of ``values`` in ``path``,
    keeping comments, order and layout (ruamel.yaml round trip); written atomically."""
    from ruamel.yaml.comments import CommentedMap

    def flow(mapping=()):
        m = CommentedMap(mapping)
        m.fa.set_flow_style()
        return m

    path = Path(path)
    yaml = _yaml_round_trip()
    doc = yaml.load(path.read_text())
    model = doc.setdefault("model", CommentedMap())
    group = model.get(method)
    if not isinstance(group, CommentedMap) or not group:  # absent or `{}`: a flow mapping
        group = model[method] = flow()
    plain = {k: (v.item() if hasattr(v, "item") else v) for k, v in values.items()}
    if protocol is None:
        for k, v in plain.items():
            group[k] = v
    else:  # a one-line `{...}` group keeps its line (and comment): its blocks join it inline
        blocks = group.get(BY_PROTOCOL)
        if not isinstance(blocks, CommentedMap):
            blocks = group[BY_PROTOCOL] = CommentedMap()
        if group.fa.flow_style():
            blocks.fa.set_flow_style()
        else:
            blocks.fa.set_block_style()
        blocks[protocol] = flow(plain.items())
        order = {p: i for i, p in enumerate(PROTOCOLS)}
        for p in sorted(blocks, key=lambda p: order.get(p, len(order))):
            blocks.move_to_end(p)
    buf = io.StringIO()
    yaml.dump(doc, buf)
    write_text(path, buf.getvalue())
    check = load(path)  # what the stages read (PyYAML) must see the same values
    read = check["model"][method]
    if protocol is not None:
        read = read[BY_PROTOCOL][protocol]
    where = f"model.{method}" + (f".{BY_PROTOCOL}.{protocol}" if protocol else "")
    for k, v in plain.items():
        got = read[k]
        if got != v and not (isinstance(v, float) and math.isclose(got, v)):
            raise RuntimeError(f"tune: params.yaml reads back {where}.{k} = {got!r}, "
                               f"wrote {v!r}")


def summary_table(root: str | Path = TUNE_ROOT) -> pd.DataFrame:
    """Every ``best.json`` under ``root`` as one row (``outputs/tune/summary.csv``)."""
    rows = []
    for p in sorted(Path(root).glob("*/*/best.json")):
        r = json.loads(p.read_text())
        rows.append({"protocol": r["protocol"], "method": r["method"],
                     "trials": r["trials_complete"], "val_kl_before": r["baseline"]["val"]["kl"],
                     "val_kl_best": (r["best"] or {}).get("val", {}).get("kl"),
                     "improves": r.get("improves_on_baseline"), "written": r["written"]})
    return pd.DataFrame(rows)
