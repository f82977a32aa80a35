"""The HeLo paper's ablations as DVC experiments, and a table + plot summarising them.

Sets (each experiment changes HeLo's parameters only, so DVC re-runs only HeLo's evaluation
stages and the report):

* ``components`` -- CAPF, OTHM, LCDCA each replaced by plain concatenation (Fig. 5);
* ``modalities`` -- every non-empty subset of the modalities (15 for four; Tables 9-12);
* ``query`` -- each physiological modality as CAPF's query (Table 8);
* ``heads`` -- 1, 2, 4, 8 attention heads (Fig. 6; heads must divide d=128, so 3, 5, 6, 7 are
  left out);
* ``depth`` -- 1-4 Transformer layers (Fig. 7).

``helo ablate summary`` writes ``outputs/ablation/ablation.{md,csv,png}``: per experiment and
protocol HeLo's six metrics, the ``report.confidence`` Student-t interval of KL over the folds,
and a two-sided paired Wilcoxon signed-rank test of the variant's fold KLs against the full
model's (the baseline row) over the folds both have, Holm-adjusted over the variants of one
protocol (:mod:`helo.evaluation.stats`). ``differs`` is ``better`` / ``worse`` when the adjusted
p-value is below ``report.alpha``, else ``no``: a variant whose KL differs from the full
model's by less than the fold-to-fold spread is not ordered. Each experiment's ``folds.csv``
is read from DVC's cache at the experiment's commit (``dvc.api.open``); where it cannot be read
the interval and the test are left empty.
"""
from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from helo.io import atomic_path, write_text
from helo.stages.common import config_of
from helo.stages.params import load_config

if TYPE_CHECKING:
    from helo.stages.schema import Params


def ablations(cfg: Params) -> dict[str, list[dict]]:
    cfg = config_of(cfg)
    mods = list(cfg.features.modalities)
    phys = list(cfg.assemble.physiological)
    helo = cfg.method_options("helo")
    subsets = [list(c) for r in range(1, len(mods) + 1) for c in itertools.combinations(mods, r)]
    return {
        "components": [{"model.helo.use_capf": False}, {"model.helo.use_othm": False},
                       {"model.helo.use_lcdca": False},
                       {"model.helo.use_capf": False, "model.helo.use_othm": False,
                        "model.helo.use_lcdca": False}],
        "modalities": [{"model.helo.modalities": s} for s in subsets if s != mods],
        "query": [{"model.helo.query": q} for q in phys if q != helo.get("query")],
        "heads": [{"model.helo.heads": h} for h in (1, 2, 4, 8) if h != helo.get("heads")],
        "depth": [{"model.helo.depth": d} for d in (1, 2, 3, 4) if d != helo.get("depth")],
    }


def __getattr__(name):  # ABLATIONS for the current params.yaml, for `helo ablate list`
    if name == "ABLATIONS":
        return ablations(load_config("params.yaml"))
    raise AttributeError(name)


def _name(over: dict) -> str:
    parts = []
    for k, v in over.items():
        key = k.split(".")[-1]
        val = "+".join(v) if isinstance(v, list) else str(v).lower()
        parts.append(f"{key}-{val}")
    return "abl-" + "-".join(parts).replace("_", "")


def _fmt(v) -> str:
    if isinstance(v, list):
        return "[" + ",".join(v) + "]"
    return str(v).lower() if isinstance(v, bool) else str(v)


def commands(which: str = "all", cfg: Params | None = None, queue: bool = True) -> list[list]:
    sets = ablations(cfg if cfg is not None else load_config("params.yaml"))
    chosen = sets if which == "all" else {which: sets[which]}
    if which != "all" and which not in sets:
        raise ValueError(f"unknown ablation set {which!r}; choose from {sorted(sets)} or all")
    cmds = []
    for overs in chosen.values():
        for over in overs:
            cmd = [sys.executable, "-m", "dvc", "exp", "run", *(["--queue"] if queue else []),
                   "--name", _name(over)]
            for k, v in over.items():
                cmd += ["-S", f"{k}={_fmt(v)}"]
            cmds.append(cmd)
    return cmds


def queue(which: str = "all", run: bool = False, jobs: int = 1) -> int:
    env = dict(os.environ, DVC_NO_ANALYTICS="1", DO_NOT_TRACK="1")
    cmds = commands(which, queue=not run)
    for cmd in cmds:
        print(" ".join(cmd[2:]))
        subprocess.run(cmd, check=True, env=env)
    return len(cmds)


def summary(out: Path) -> dict:
    """Collect finished experiments (``dvc exp show --json --all-commits``: the checked-out
    commit as the baseline, or the workspace while that commit has no metrics, then every
    experiment that finished; queued, running and failed ones are left out) into a table and
    a bar plot."""
    import pandas as pd

    from helo.stages.common import method_params
    from helo.stages.schema import Params, validate
    env = dict(os.environ, DVC_NO_ANALYTICS="1")
    raw = subprocess.run([sys.executable, "-m", "dvc", "exp", "show", "--json", "--all-commits"],
                         capture_output=True, text=True, check=True, env=env).stdout
    rows = []
    entries = []  # (name, exp): the baseline, then every finished experiment
    shown = json.loads(raw or "[]")

    def has_metrics(e):
        return bool(((e.get("data") or {}).get("metrics") or {}).get("outputs/metrics.json"))

    # baseline: the checked-out commit (HEAD: `dvc exp run` leaves an experiment's results in
    # the workspace), or the workspace when HEAD has no metrics committed yet
    if len(shown) > 1 and has_metrics(shown[1]):
        entries.append(("baseline (HEAD)", shown[1]))
    elif shown:
        entries.append(("baseline (workspace)", shown[0]))
    for commit in shown:
        for ex in commit.get("experiments") or []:
            state = ((ex.get("executor") or {}).get("state"))
            if state not in (None, "success"):  # queued, running or failed: no metrics of its own
                continue
            for e in ex.get("revs") or []:
                if (e.get("data") or {}).get("rev") == "workspace":
                    continue
                entries.append((e.get("name") or ex.get("name") or e.get("rev"), e))
    revs = {}
    for name, exp in entries:
        data = (exp.get("data") or {})
        metrics = ((data.get("metrics") or {}).get("outputs/metrics.json") or {}).get("data")
        params = ((data.get("params") or {}).get("params.yaml") or {}).get("data") or {}
        if not metrics:
            continue
        helo = (params.get("model") or {}).get("helo") or {}
        try:  # an experiment's params, as its commit's schema may not read them
            exp_cfg = validate(params, source=f"params.yaml of {name}")
        except ValueError:
            exp_cfg = None
        # the query actually used (a modality subset without it moves it)
        query = (method_params(exp_cfg, "helo")[0].get("query", helo.get("query"))
                 if exp_cfg is not None else helo.get("query"))
        rev = (exp.get("data") or {}).get("rev") or exp.get("rev")
        revs[name] = None if name == "baseline (workspace)" else rev
        for protocol, methods in metrics.items():
            if "helo" not in methods:
                continue
            rows.append({"experiment": name, "protocol": protocol,
                         "capf": helo.get("use_capf"), "othm": helo.get("use_othm"),
                         "lcdca": helo.get("use_lcdca"),
                         "modalities": "+".join(helo.get("modalities") or ["all"]),
                         "query": query, "heads": helo.get("heads"),
                         "depth": helo.get("depth"), **methods["helo"]})
    if not rows:
        raise ValueError("no finished experiment has HeLo metrics: run `helo ablate queue` "
                         "and `dvc queue start` (or `helo ablate run`) first")
    df = pd.DataFrame(rows).drop_duplicates(["experiment", "protocol"])
    folds = {}
    for name, protocol in zip(df["experiment"], df["protocol"]):
        f = read_folds(revs.get(name), protocol)
        if f is not None:
            folds[(name, protocol)] = f
    cfg = load_config("params.yaml") if Path("params.yaml").exists() else Params()
    df = significance(df, folds, confidence=cfg.report.confidence, alpha=cfg.report.alpha,
                      zero_method=cfg.report.zero_method)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "ablation.csv") as tmp:
        df.to_csv(tmp, index=False, float_format="%.6f")
    head = ("# HeLo ablations\n\nKL interval: Student-t over folds; p_holm: paired Wilcoxon "
            "signed-rank test against the full model (baseline row) over shared folds, "
            "Holm-adjusted within each protocol; differs: better/worse when p_holm < alpha, "
            "else no (not distinguishable from the full model).\n\n")
    write_text(out / "ablation.md", head + (df.to_markdown(index=False, floatfmt=".4f")
               if _has_tabulate() else df.to_string(index=False)) + "\n")
    _plot(df, out / "ablation.png")
    return {"experiments": int(df["experiment"].nunique()), "table": str(out / "ablation.md")}


def read_folds(rev: str | None, protocol: str):
    """HeLo's ``folds.csv`` under ``protocol`` at git revision ``rev`` (an experiment's commit,
    through DVC's cache), or in the workspace when ``rev`` is None; None when unavailable."""
    import pandas as pd
    path = f"outputs/eval/{protocol}/helo/folds.csv"
    try:
        if rev is None:
            return pd.read_csv(path) if Path(path).exists() else None
        import dvc.api
        with dvc.api.open(path, rev=rev) as fh:
            return pd.read_csv(fh)
    except Exception as err:  # noqa: BLE001 - missing from the cache, old layouts
        print(f"ablation: no per-fold results for {path} at {rev}: {err}", file=sys.stderr)
        return None


def significance(df, folds: dict, *, metric: str = "kl", confidence: float = 0.95,
                 alpha: float = 0.05, zero_method: str = "wilcox"):
    """Add ``<metric>_ci_low/_ci_high``, ``n_folds``, ``p``, ``p_holm`` and ``differs`` to the
    summary ``df`` (one row per experiment and protocol); ``folds[(experiment, protocol)]`` is
    that experiment's ``folds.csv``. The reference is the row whose experiment name starts with
    ``baseline``."""
    import numpy as np

    from helo.evaluation import stats as S
    from helo.evaluation.metrics import METRICS
    df = df.copy()
    for col in (f"{metric}_ci_low", f"{metric}_ci_high", "n_folds", "p", "p_holm"):
        df[col] = np.nan
    df["differs"] = ""
    hib = METRICS[metric].higher_is_better
    for protocol in df["protocol"].unique():
        idx = df.index[df["protocol"] == protocol]
        base = [i for i in idx if str(df.at[i, "experiment"]).startswith("baseline")]
        ref = folds.get((df.at[base[0], "experiment"], protocol)) if base else None
        tested = []
        for i in idx:
            f = folds.get((df.at[i, "experiment"], protocol))
            if f is None:
                continue
            ci = S.t_interval(f[metric].astype(float).tolist(), confidence)
            df.at[i, f"{metric}_ci_low"], df.at[i, f"{metric}_ci_high"] = ci["ci_low"], \
                ci["ci_high"]
            df.at[i, "n_folds"] = ci["n"]
            if ref is None or (base and i == base[0]):
                continue
            tab = S.paired({"v": f, "full": ref}, metric)
            w = S.wilcoxon(tab["v"], tab["full"], zero_method=zero_method)
            df.at[i, "p"] = w["p"]
            tested.append((i, float((tab["v"] - tab["full"]).mean())))
        if tested:
            adj = S.holm([df.at[i, "p"] for i, _ in tested])
            for (i, diff), q in zip(tested, adj):
                df.at[i, "p_holm"] = q
                if np.isfinite(q) and q < alpha:
                    df.at[i, "differs"] = "better" if (diff > 0) == hib else "worse"
                else:
                    df.at[i, "differs"] = "no"
        if base:
            df.at[base[0], "differs"] = "(full model)"
    return df


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
        return True
    except ImportError:
        return False


def _plot(df, path):
    """KL of every experiment per protocol, best at the top; the baseline's bar in orange and
    its value as a dashed line, so bars right of the line are worse than the full model."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    protocols = sorted(df["protocol"].unique())
    n = df["experiment"].nunique()
    fig, axes = plt.subplots(1, len(protocols), figsize=(5.5 * len(protocols), 0.28 * n + 2),
                             squeeze=False)
    for ax, p in zip(axes[0], protocols):
        d = df[df["protocol"] == p].sort_values("kl", ascending=False)
        differs = d["differs"] if "differs" in d else [""] * len(d)
        labels = [e.removeprefix("abl-") + (" *" if str(s) in ("better", "worse") else "")
                  for e, s in zip(d["experiment"], differs)]
        base = d["experiment"].str.startswith("baseline")
        err = None
        if "kl_ci_low" in d and d["kl_ci_low"].notna().any():
            err = [(d["kl"] - d["kl_ci_low"]).fillna(0).clip(lower=0),
                   (d["kl_ci_high"] - d["kl"]).fillna(0).clip(lower=0)]
        ax.barh(labels, d["kl"], xerr=err, color=["tab:orange" if b else "tab:blue" for b in base],
                error_kw={"lw": 0.8})
        if base.any():
            ax.axvline(float(d.loc[base, "kl"].iloc[0]), color="k", ls="--", lw=0.8)
        ax.set_title(f"{p}: KL with its CI over folds; * differs from the full model "
                     f"(Wilcoxon, Holm)", fontsize=9)
        ax.tick_params(labelsize=7)
    fig.suptitle("HeLo ablations")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
