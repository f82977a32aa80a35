"""Comparison tables, figures and the summary metrics file, from every evaluated method.

Writes into ``outputs/report``:

* ``comparison.md`` / ``comparison_<protocol>.csv`` -- methods x six metrics, mean +- std and
  the Student-t ``report.confidence`` interval over the rows of ``folds.csv`` (folds, or
  (fold, seed) pairs once a ``seed`` column exists), the per-metric rank in parentheses and the
  average rank (the paper's Tables 1-2). A method whose mean KL is not below the mean
  predictor's is marked, with the likely reason read from its predictions (over-confident or
  collapsed to one distribution) and whether ``helo tune`` has searched it. On real DMER or
  WESAD data (``report.paper_reference: auto``; ``always`` / ``never``) the paper's own
  Table 1 (subject-dependent) or Table 2 (LOSO) rows follow, labelled *reported by the paper*
  (:mod:`helo.evaluation.paper_results`);
* ``significance.md`` / ``significance.csv`` -- per protocol and metric: every method's interval,
  a two-sided paired Wilcoxon signed-rank test against HeLo over the folds both have
  (``report.zero_method`` for zero differences), Holm-adjusted over the compared methods, the
  Friedman test over all methods on the folds every method has, and each method's average
  rank (see :mod:`helo.evaluation.stats` for every choice);
* ``cd_diagram.png`` -- critical-difference diagram of ``report.cd_metric`` per protocol: average
  ranks over folds, methods joined by a bar when the Nemenyi test (scikit-posthocs'
  ``posthoc_nemenyi_friedman``, drawn by its ``critical_difference_diagram``) finds no
  difference at ``report.alpha``; Demsar's critical difference in the title;
* ``efficiency.md`` / ``efficiency.csv`` -- parameters and FLOPs of the deep methods at DMER's
  dimensions (the paper's Table 5);
* ``figures/*.png`` -- metric bars per protocol, predicted vs true distributions (Fig. 4),
  HeLo's learned label correlations (Fig. 9), t-SNE of tokens before/after OT (Fig. 8),
  training curves; static PNGs because ``dvc plots show`` HTML needs a CDN;
* ``plots/*.csv`` -- data behind the DVC plots;

and ``outputs/metrics.json`` (what ``dvc metrics show`` prints). Subjects the dataset left out
(``data/assembled/excluded.json``, only with partial results allowed) are listed with their
reason at the end of ``comparison.md``.

A method with failed folds (``metrics.json``'s ``n_failed``: its training diverged or its
predictions were not finite, evaluated with partial results allowed) or with any non-finite
score is *failed* under that protocol (:func:`failed_methods`): it is listed in the comparison
table as ``failed (k/n folds)`` (marked ‡, the reasons below the table), never ranked, left out
of the average ranks, the significance tests, the critical-difference diagram, the bars, the
figures and the DVC plot data; ``outputs/metrics.json`` gives it ``failed_folds`` / ``n_folds``
instead of scores. The ranks of the other methods are what they would be without it.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from helo.stages import params as P
from helo.io import atomic_path, write_json, write_text

METRIC_LABELS = {"chebyshev": "Chebyshev ↓", "clark": "Clark ↓", "canberra": "Canberra ↓",
                 "kl": "KL ↓", "cosine": "Cosine ↑", "intersection": "Intersection ↑"}


def collect(eval_dir: Path, protocols: list[str], methods: list[str]) -> dict:
    found: dict[str, dict[str, dict]] = {}
    for protocol in protocols:
        for method in methods:
            path = eval_dir / protocol / method / "metrics.json"
            if path.exists():
                found.setdefault(protocol, {})[method] = json.loads(path.read_text())
    return found


def collect_folds(eval_dir: Path, protocol: str, methods) -> dict[str, pd.DataFrame]:
    """``folds.csv`` of each method that has one (rows: folds, or (fold, seed) pairs)."""
    out = {}
    for method in methods:
        path = Path(eval_dir) / protocol / method / "folds.csv"
        if path.exists():
            out[method] = pd.read_csv(path)
    return out


def failed_methods(results: dict[str, dict], folds: dict[str, pd.DataFrame],
                   metric_names: list[str]) -> dict[str, dict]:
    """``{method: {"label": "failed (k/n folds)", "n_failed", "n_folds", "reasons"}}`` of the
    methods of one protocol that cannot be ranked: failed folds in ``metrics.json`` or
    ``folds.csv``, a non-finite fold score, or a mean that is missing or not finite (with no row
    to blame, every fold counts as failed)."""
    from helo.evaluation.stats import failed_rows

    def finite(v):
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

    out = {}
    for method, r in results.items():
        f = folds.get(method)
        n_rows = len(f) if f is not None else \
            int(r.get("n_folds") or 0) * int(r.get("n_seeds") or 1)
        n_bad = max(failed_rows(f, metric_names) if f is not None else 0,
                    int(r.get("n_failed") or 0))
        if not n_bad and all(finite(r.get(k)) for k in metric_names):
            continue
        n_bad = n_bad or n_rows
        reasons = [f"{x.get('fold')} (seed {x.get('seed')}): {x.get('reason')}"
                   for x in r.get("failed") or []] or ["non-finite scores"]
        out[method] = {"label": f"failed ({n_bad}/{n_rows} folds)", "n_failed": n_bad,
                       "n_folds": n_rows, "reasons": reasons}
    return out


def failed_markdown(failed: dict[str, dict], shown: int = 5) -> list[str]:
    """The note under a comparison table naming each failed method and why."""
    if not failed:
        return []
    lines = ["\n‡ failed: not ranked, and left out of the average ranks, the tests "
             "(`significance.md`) and the figures; a fold fails when its training diverged "
             "(non-finite loss) or its predictions were not finite:\n"]
    for m, f in failed.items():
        more = f"; and {len(f['reasons']) - shown} more" if len(f["reasons"]) > shown else ""
        lines.append(f"- {m}: {f['label']}: {'; '.join(f['reasons'][:shown])}{more}")
    lines.append("")
    return lines


def paper_dataset(params: dict) -> str | None:
    """``DMER`` / ``WESAD`` when the paper's reference rows apply to this run, else None:
    ``report.paper_reference`` ``never``; ``always`` (by ``data.layout``, or ``data.name``
    for the generic layout); ``auto`` (default): only on real data -- the synthetic data in
    the DMER/WESAD layouts is not the paper's data, so its numbers are not comparable."""
    mode = str(P.get(params, "report.paper_reference", "auto")).lower()
    if mode == "never":
        return None
    layout = str(P.get(params, "data.layout", ""))
    name = str(P.get(params, "data.name", "")).lower()
    if layout.startswith("dmer"):
        ds = "DMER"
    elif layout == "wesad":
        ds = "WESAD"
    else:
        ds = "DMER" if "dmer" in name else "WESAD" if "wesad" in name else None
    if ds is None or mode == "always":
        return ds
    from helo.stages.common import uses_synthetic
    return None if uses_synthetic(params) or name.startswith("synth") else ds


def paper_rows(dataset: str, protocol: str, metric_names: list[str]) -> pd.DataFrame:
    """The paper's rows for ``dataset`` / ``protocol`` (empty when the paper has none), from
    :mod:`helo.evaluation.paper_results`."""
    from helo.evaluation import paper_results as PR
    table = PR.table(dataset, protocol)
    if not table:
        return pd.DataFrame()
    rows = []
    for method, vals in table.items():
        row = {"method": method, "paper_name": PR.NAMES.get(method, method),
               "source": f"reported by the paper (Table {PR.TABLE_OF[protocol]})"}
        for k in metric_names:
            row[k], row[f"{k}_rank"] = vals[k]
        row["average_rank"] = vals["average_rank"][0]
        rows.append(row)
    return pd.DataFrame(rows).sort_values("average_rank").reset_index(drop=True)


def paper_markdown(df: pd.DataFrame, metric_names: list[str], dataset: str) -> str:
    table = df["source"].iloc[0].split("(")[-1].rstrip(")")
    head = ["Method (paper)"] + [METRIC_LABELS.get(k, k) for k in metric_names] + ["Avg. rank"]
    lines = [f"\n*Reported by the paper* ({table}, {dataset}; not computed here; the paper's "
             f"ranks among its 11 methods):\n", "| " + " | ".join(head) + " |",
             "|" + "---|" * len(head)]
    for _, row in df.iterrows():
        cells = [row.get("paper_name", row["method"])] + [f"{row[k]:.4f} ({int(row[f'{k}_rank'])})"
                                   for k in metric_names] + [f"{row['average_rank']:g}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def rank_table(table: dict[str, dict[str, float]], metric_names: list[str]) -> dict:
    """Per-metric ranks (1 = best, ties averaged) and their mean, as in the paper's tables;
    the mean agrees with :func:`helo.evaluation.metrics.average_rank`."""
    from scipy.stats import rankdata

    from helo.evaluation.metrics import METRICS, average_rank
    per = {m: {} for m in table}
    methods = list(table)
    for k in metric_names:
        vals = np.array([table[m][k] for m in methods], dtype=float)
        r = rankdata(-vals if METRICS[k].higher_is_better else vals, method="average")
        for m, rk in zip(methods, r):
            per[m][k] = float(rk)
    return {"per_metric": per, "average": average_rank(table, metric_names)}


def comparison_table(results: dict[str, dict], metric_names: list[str],
                     folds: dict[str, pd.DataFrame] | None = None,
                     confidence: float = 0.95) -> pd.DataFrame:
    """One row per method: mean, sample std and t-interval of each metric over the method's
    ``folds.csv`` rows (``folds``), else ``metrics.json``'s mean and std (no interval); the
    per-metric ranks of the means and their average."""
    from helo.evaluation.stats import t_interval
    folds = folds or {}
    stats: dict[str, dict] = {}
    for method, r in results.items():
        row = {}
        f = folds.get(method)
        for k in metric_names:
            if f is not None and k in f.columns and len(f):
                ci = t_interval(f[k].astype(float).tolist(), confidence)
                row[k], row[f"{k}_std"] = ci["mean"], ci["std"]
                row[f"{k}_ci_low"], row[f"{k}_ci_high"] = ci["ci_low"], ci["ci_high"]
            else:
                row[k], row[f"{k}_std"] = r[k], r.get("std", {}).get(k, np.nan)
                row[f"{k}_ci_low"] = row[f"{k}_ci_high"] = np.nan
        row["n_folds"] = int(len(f)) if f is not None else r.get("n_folds")
        stats[method] = row
    table = {m: {k: v[k] for k in metric_names} for m, v in stats.items()}
    ranks = rank_table(table, metric_names)
    rows = []
    for method, st in stats.items():
        row = {"method": method, "source": "this run"}
        for k in metric_names:
            row[k] = st[k]
            row[f"{k}_std"] = st[f"{k}_std"]
            row[f"{k}_ci_low"], row[f"{k}_ci_high"] = st[f"{k}_ci_low"], st[f"{k}_ci_high"]
            row[f"{k}_rank"] = ranks["per_metric"][method][k]
        row["average_rank"] = ranks["average"][method]
        row["n_folds"] = st["n_folds"]
        rows.append(row)
    return pd.DataFrame(rows).sort_values("average_rank").reset_index(drop=True)


def to_markdown(df: pd.DataFrame, metric_names: list[str], marks: dict | None = None,
                failed: dict[str, dict] | None = None) -> str:
    """Cells ``mean ± std [CI] (rank)``; ``marks`` maps a method to a suffix for its name;
    each ``failed`` method (:func:`failed_methods`) follows as a row of ``failed (k/n folds)``,
    marked ‡ and not ranked."""
    marks = marks or {}
    head = ["Method"] + [METRIC_LABELS.get(k, k) for k in metric_names] + ["Avg. rank"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    best = {}
    for k in metric_names:
        best[k] = df[f"{k}_rank"].min() if len(df) else None
    for _, row in df.iterrows():
        name = row["method"] + marks.get(row["method"], "")
        cells = [f"**{name}**" if row["method"] == "helo" else name]
        for k in metric_names:
            txt = f"{row[k]:.4f} ± {row[f'{k}_std']:.4f}"
            lo, hi = row.get(f"{k}_ci_low", np.nan), row.get(f"{k}_ci_high", np.nan)
            if np.isfinite(lo) and np.isfinite(hi):
                txt += f" [{lo:.4f}, {hi:.4f}]"
            txt += f" ({row[f'{k}_rank']:g})"
            cells.append(f"**{txt}**" if row[f"{k}_rank"] == best[k] else txt)
        cells.append(f"{row['average_rank']:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    for m, f in (failed or {}).items():
        name = f"{m} ‡"
        cells = [f"**{name}**" if m == "helo" else name] + [f["label"]] * len(metric_names)
        lines.append("| " + " | ".join(cells + ["not ranked"]) + " |")
    return "\n".join(lines) + "\n"


def significance(folds: dict[str, pd.DataFrame], metric_names: list[str], *,
                 reference: str = "helo", confidence: float = 0.95, alpha: float = 0.05,
                 zero_method: str = "wilcox") -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(per_method, omnibus)`` of one protocol: per metric and method the interval and the
    Holm-adjusted Wilcoxon test against ``reference``, plus the average rank over the folds all
    methods share; per metric the Friedman test."""
    from helo.evaluation import stats as S
    from helo.evaluation.metrics import METRICS
    per, omni = [], []
    for k in metric_names:
        hib = METRICS[k].higher_is_better
        usable = {m: f for m, f in folds.items() if k in f.columns}
        if reference in usable:
            df = S.compare_to_reference(usable, reference, k, higher_is_better=hib,
                                        zero_method=zero_method, alpha=alpha,
                                        confidence=confidence)
        else:
            df = pd.DataFrame([{"method": m, "metric": k,
                                **S.t_interval(f[k].astype(float).tolist(), confidence)}
                               for m, f in usable.items()])
        table = S.paired(usable, k) if len(usable) else pd.DataFrame()
        fr = S.friedman(table) if len(table.columns) else {"statistic": np.nan, "p": np.nan,
                                                           "k": 0, "n_blocks": 0}
        ranks = S.block_ranks(table, hib).mean() if len(table) else pd.Series(dtype=float)
        df["avg_rank_shared_folds"] = df["method"].map(ranks)
        per.append(df)
        omni.append({"metric": k, "friedman_stat": fr["statistic"], "friedman_p": fr["p"],
                     "k": fr["k"], "n_blocks": fr["n_blocks"],
                     "cd": S.critical_difference(fr["k"], fr["n_blocks"], alpha)})
    return pd.concat(per, ignore_index=True), pd.DataFrame(omni)


def significance_markdown(protocol: str, per: pd.DataFrame, omni: pd.DataFrame,
                          metric_names: list[str], *, reference: str, alpha: float,
                          confidence: float, zero_method: str) -> str:
    lines = [f"\n## {protocol}\n"]
    for _, o in omni.iterrows():
        p = o["friedman_p"]
        if not np.isfinite(p):
            lines.append(f"- Friedman ({METRIC_LABELS.get(o['metric'], o['metric'])}): not "
                         f"applicable ({int(o['k'])} methods x {int(o['n_blocks'])} shared "
                         f"folds; needs at least 3 x 2)")
            continue
        lines.append(f"- Friedman ({METRIC_LABELS.get(o['metric'], o['metric'])}): "
                     f"chi2 = {o['friedman_stat']:.3f}, p = {p:.3g} over {int(o['k'])} methods "
                     f"x {int(o['n_blocks'])} folds"
                     + (" (significant)" if np.isfinite(p) and p < alpha else ""))
    if "p_holm" not in per.columns or reference not in set(per["method"]):
        lines.append(f"\n(no {reference} results: no paired tests)\n")
        return "\n".join(lines) + "\n"
    head = ["Method"] + [METRIC_LABELS.get(k, k) for k in metric_names]
    tested = per[(per["method"] != reference) & per["n_paired"].notna()]
    if len(tested):
        n = int(tested["n_paired"].min())
        m = int(tested["method"].nunique())
        floor = min(1.0, m * 2.0 / 2 ** n)
        lines += ["", f"Power: with {n} paired folds the smallest two-sided exact Wilcoxon p is "
                  f"2/2^{n} = {2.0 / 2 ** n:.3g}, and after Holm over {m} methods "
                  f"{floor:.3g}" + (f" -- above alpha = {alpha:g}: no difference can reach "
                                   f"significance with this many folds (more subjects, or "
                                   f"seeds, are needed)" if floor >= alpha else "") + "."]
    lines += ["", f"Difference of the mean from {reference} (method - {reference}), Wilcoxon "
              f"p after Holm; `*` significant at {alpha:g}, better/worse said for those:", "",
              "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    methods = [m for m in dict.fromkeys(per["method"]) if m != reference]
    for m in methods:
        cells = [m]
        for k in metric_names:
            r = per[(per["method"] == m) & (per["metric"] == k)]
            if r.empty or not np.isfinite(r["p_holm"].iloc[0]):
                cells.append("n/a")
                continue
            r = r.iloc[0]
            mark = ""
            if r["significant"]:
                mark = " * better" if r["better"] else " * worse"
            cells.append(f"{r['mean_diff']:+.4f} (p={r['p_holm']:.3g}{mark})")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def beats_mean_notes(eval_dir: Path, protocol: str, df: pd.DataFrame,
                     tune_root: Path = Path("outputs/tune")) -> dict[str, str]:
    """``{method: reason}`` for every method whose mean KL is not below the mean predictor's:
    what its predictions show (:func:`_prediction_diagnosis`) and whether ``helo tune`` has
    searched it under this protocol (``outputs/tune``; informational, not a DVC dependency)."""
    if "mean" not in set(df["method"]):
        return {}
    ref = float(df.loc[df["method"] == "mean", "kl"].iloc[0])
    notes = {}
    for _, row in df.iterrows():
        m = row["method"]
        if m == "mean" or not (row["kl"] >= ref):
            continue
        parts = [f"KL {row['kl']:.4f} vs the mean predictor's {ref:.4f}"]
        path = Path(eval_dir) / protocol / m / "predictions.parquet"
        mean_path = Path(eval_dir) / protocol / "mean" / "predictions.parquet"
        if path.exists():
            parts.append(_prediction_diagnosis(pd.read_parquet(path),
                                               pd.read_parquet(mean_path)
                                               if mean_path.exists() else None, ref))
        best = Path(tune_root) / protocol / m / "best.json"
        if best.exists():
            rec = json.loads(best.read_text())
            parts.append(f"tuned ({rec.get('trials_complete')} trials, validation KL "
                         f"{(rec.get('best') or {}).get('val', {}).get('kl', float('nan')):.4f})")
        else:
            parts.append("not tuned under this protocol (`helo tune`)")
        notes[m] = "; ".join(parts)
    return notes


def _prediction_diagnosis(pred: pd.DataFrame, mean_pred: pd.DataFrame | None,
                          mean_kl: float) -> str:
    """Why a method's predictions score no better than the mean predictor, read from them:
    over-confident (mean entropy under half the ground truth's: KL punishes near-zero
    probabilities); close to the training mean (mean KL from the mean predictor's output, same
    fold and window, under a tenth of the mean predictor's own KL: little signal learned); or
    collapsed (spread across windows under a quarter of the ground truth's)."""
    labels = [c[5:] for c in pred.columns if c.startswith("true_")]
    t = pred[[f"true_{c}" for c in labels]].to_numpy(dtype=float)
    q = pred[[f"pred_{c}" for c in labels]].to_numpy(dtype=float)

    def entropy(a):
        a = np.clip(a, 1e-12, 1.0)
        return float(np.mean(-(a * np.log(a)).sum(axis=1)))
    ht, hq = entropy(t), entropy(q)
    if hq < 0.5 * ht:
        return (f"over-confident predictions (mean entropy {hq:.2f} vs ground truth {ht:.2f}; "
                f"KL punishes near-zero probabilities)")
    if mean_pred is not None:
        keys = ["fold", "row"]
        joined = pred[keys].merge(mean_pred[keys + [f"pred_{c}" for c in labels]], on=keys,
                                  how="left")
        mq = joined[[f"pred_{c}" for c in labels]].to_numpy(dtype=float)
        if len(mq) == len(q) and np.isfinite(mq).all():
            a, b = np.clip(mq, 1e-12, 1.0), np.clip(q, 1e-12, 1.0)
            to_mean = float(np.mean((a * np.log(a / b)).sum(axis=1)))
            if to_mean < 0.1 * mean_kl:
                return (f"predictions stay close to the training mean (KL from the mean "
                        f"predictor's output {to_mean:.4f}): little signal learned")
    spread_t, spread_q = float(t.std(axis=0).mean()), float(q.std(axis=0).mean())
    if spread_q < 0.25 * spread_t:
        return (f"predictions collapsed to nearly one distribution (spread {spread_q:.4f} vs "
                f"ground truth {spread_t:.4f})")
    return "no single cause found in its predictions"


def cd_diagram(folds_by_protocol: dict[str, dict[str, pd.DataFrame]], metric: str, path: Path,
               alpha: float = 0.05) -> bool:
    """Critical-difference diagram of ``metric``, one panel per protocol (scikit-posthocs)."""
    import matplotlib.pyplot as plt
    import scikit_posthocs as sp

    from helo.evaluation import stats as S
    from helo.evaluation.metrics import METRICS
    hib = METRICS[metric].higher_is_better
    panels = []
    for protocol, folds in folds_by_protocol.items():
        table = S.paired({m: f for m, f in folds.items() if metric in f.columns}, metric)
        if table.shape[1] >= 3 and table.shape[0] >= 2:
            panels.append((protocol, table))
    if not panels:
        return False
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 2.6 * len(panels)), squeeze=False)
    for ax, (protocol, table) in zip(axes[:, 0], panels):
        ranks = S.block_ranks(table, hib).mean()
        pmat = S.nemenyi(table, hib)
        fr = S.friedman(table)
        cd = S.critical_difference(table.shape[1], table.shape[0], alpha)
        colors = {m: ("tab:red" if m == "helo" else "tab:gray") for m in table.columns}
        art = sp.critical_difference_diagram(ranks, pmat, ax=ax, alpha=alpha,
                                             color_palette=colors, label_props={"fontsize": 8})
        # scikit-posthocs draws each crossbar through a set's members, in an order that
        # depends on Python's string hashing: sort the points so the PNG is the same every run
        for bar in (art or {}).get("crossbars", []):
            for line in (bar if isinstance(bar, list) else [bar]):
                x, y = line.get_data()
                idx = sorted(range(len(x)), key=lambda i: (x[i], y[i]))
                line.set_data([x[i] for i in idx], [y[i] for i in idx])
        ax.set_title(f"{protocol}: average rank of {metric.upper()} over {table.shape[0]} "
                     f"folds (1 = best); bars: Nemenyi p >= {alpha:g}; CD = {cd:.2f}; "
                     f"Friedman p = {fr['p']:.2g}", fontsize=8)
    fig.tight_layout()
    _save(fig, path)
    return True


def build_report(eval_dir: Path, out: Path, params: dict, excluded: Path | None = None,
                 metrics: Path = Path("outputs/metrics.json")) -> dict:
    import matplotlib
    matplotlib.use("Agg")
    from helo.evaluation.metrics import METRICS

    eval_dir, out = Path(eval_dir), Path(out)
    protocols = list(P.get(params, "evaluate.protocols"))
    methods = list(P.get(params, "evaluate.methods"))
    metric_names = list(METRICS)
    confidence = float(P.get(params, "report.confidence", 0.95))
    alpha = float(P.get(params, "report.alpha", 0.05))
    zero_method = str(P.get(params, "report.zero_method", "wilcox"))
    found = collect(eval_dir, protocols, methods)
    if not found:
        raise FileNotFoundError(f"no evaluation results under {eval_dir}: run the evaluate "
                                f"stages first")
    (out / "figures").mkdir(parents=True, exist_ok=True)
    (out / "plots").mkdir(parents=True, exist_ok=True)
    pct = f"{100 * confidence:g} %"
    md = [f"# Comparison on {P.get(params, 'data.name')}\n",
          f"Mean ± sample std (n - 1) [{pct} Student-t interval] over folds (and seeds); "
          "per-metric rank of the mean in parentheses; best in bold. Tests: "
          "`significance.md`; critical-difference diagram: `cd_diagram.png`.\n"]
    sig_md = [f"# Significance on {P.get(params, 'data.name')}\n",
              f"Paired two-sided Wilcoxon signed-rank tests of every method against helo over "
              f"the folds both have (zero differences: `{zero_method}`), Holm-adjusted over the "
              f"methods compared; Friedman test over all methods on the folds every method "
              f"has; Nemenyi post-hoc (scikit-posthocs) in `cd_diagram.png`. An observation is "
              f"one fold (one (fold, seed) pair when the folds table has seeds).\n"]
    paper_ds = paper_dataset(params)
    summary: dict = {}
    sig_frames = []
    folds_by_protocol = {}
    failed_by_protocol = {}
    for protocol, everything in found.items():
        all_folds = collect_folds(eval_dir, protocol, list(everything))
        failed = failed_methods(everything, all_folds, metric_names)
        failed_by_protocol[protocol] = failed
        results = {m: r for m, r in everything.items() if m not in failed}
        folds = {m: f for m, f in all_folds.items() if m not in failed}
        folds_by_protocol[protocol] = folds
        if not results:  # every method failed: the table lists them, nothing is ranked
            n = next(iter(failed.values()))["n_folds"]
            md += [f"\n## {protocol} ({n} folds)\n",
                   to_markdown(pd.DataFrame(), metric_names, failed=failed),
                   *failed_markdown(failed)]
            sig_md.append(f"\n## {protocol}\n\nNo method without failed folds: no tests.\n")
            with atomic_path(out / f"comparison_{protocol}.csv") as tmp:
                _failed_rows(failed).to_csv(tmp, index=False, float_format="%.6f")
            summary[protocol] = {m: {"failed_folds": f["n_failed"], "n_folds": f["n_folds"]}
                                 for m, f in failed.items()}
            continue
        df = comparison_table(results, metric_names, folds, confidence)
        per, omni = significance(folds, metric_names, confidence=confidence, alpha=alpha,
                                 zero_method=zero_method)
        notes = beats_mean_notes(eval_dir, protocol, df)
        df["beats_mean_predictor"] = [("" if m == "mean" else str(m not in notes).lower())
                                      for m in df["method"]]
        df["note"] = [notes.get(m, "") for m in df["method"]]
        table_df = df
        if failed:
            table_df = pd.concat([df, _failed_rows(failed)], ignore_index=True)
        if paper_ds:
            ref = paper_rows(paper_ds, protocol, metric_names)
            if len(ref):
                table_df = pd.concat([table_df, ref], ignore_index=True)
        with atomic_path(out / f"comparison_{protocol}.csv") as tmp:
            table_df.to_csv(tmp, index=False, float_format="%.6f")
        md += [f"\n## {protocol} ({df['n_folds'].iloc[0]} folds)\n",
               to_markdown(df, metric_names, {m: " †" for m in notes}, failed=failed),
               *failed_markdown(failed)]
        if notes:
            md.append("\n† does not beat the mean predictor on KL:\n")
            md += [f"- {m}: {why}" for m, why in notes.items()]
            md.append("")
        if paper_ds:
            ref = paper_rows(paper_ds, protocol, metric_names)
            if len(ref):
                md.append(paper_markdown(ref, metric_names, paper_ds))
        sig_md.append(significance_markdown(protocol, per, omni, metric_names,
                                            reference="helo", alpha=alpha,
                                            confidence=confidence, zero_method=zero_method))
        if failed:
            sig_md.append("Left out of every test (failed folds, see `comparison.md`): "
                          + ", ".join(f"{m} ({f['label']})" for m, f in failed.items())
                          + ".\n")
        per = per.merge(omni, on="metric", how="left")
        per.insert(0, "protocol", protocol)
        sig_frames.append(per)
        summary[protocol] = {row["method"]: {**{k: round(float(row[k]), 6) for k in metric_names},
                                             "average_rank": float(row["average_rank"])}
                             for _, row in df.iterrows()}
        summary[protocol].update({m: {"failed_folds": f["n_failed"], "n_folds": f["n_folds"]}
                                  for m, f in failed.items()})
        _bars(df, metric_names, protocol, out / "figures" / f"comparison_{protocol}.png")
    if excluded is not None:
        md += _excluded_section(Path(excluded))
    write_text(out / "comparison.md", "".join(x if x.endswith("\n") else x + "\n" for x in md))
    sig = pd.concat(sig_frames, ignore_index=True) if sig_frames else pd.DataFrame(
        columns=["protocol", "method", "metric"])
    with atomic_path(out / "significance.csv") as tmp:
        sig.to_csv(tmp, index=False, float_format="%.6g")
    write_text(out / "significance.md", "".join(sig_md))
    cd_metric = str(P.get(params, "report.cd_metric", "kl"))
    made_cd = cd_diagram(folds_by_protocol, cd_metric, out / "cd_diagram.png", alpha)
    # DVC plot data: methods on the hardest protocol present.
    last = [p for p in protocols if p in found][-1]
    plot_df = pd.DataFrame([{"method": m, **v} for m, v in summary[last].items()
                            if m not in failed_by_protocol[last]])
    if plot_df.empty:
        plot_df = pd.DataFrame(columns=["method", *metric_names, "average_rank"])
    with atomic_path(out / "plots" / "comparison.csv") as tmp:
        plot_df.to_csv(tmp, index=False)
    _history(eval_dir, found, out, failed_by_protocol)
    figures = _figures(eval_dir, found, out, params, failed_by_protocol)
    eff = _efficiency(out, params)
    write_json(Path(metrics), summary)
    return {"protocols": list(found), "methods": sorted({m for r in found.values() for m in r}),
            "figures": figures + (["cd_diagram.png"] if made_cd else []), "efficiency": eff,
            "paper_reference": paper_ds}


def _failed_rows(failed: dict[str, dict]) -> pd.DataFrame:
    """The comparison CSV's rows of the failed methods: no scores, no ranks, the reason."""
    return pd.DataFrame([{"method": m, "source": "this run", "n_folds": f["n_folds"],
                          "beats_mean_predictor": "",
                          "note": f"{f['label']}: {'; '.join(f['reasons'])}"}
                         for m, f in failed.items()])


def _excluded_section(path: Path) -> list[str]:
    """Markdown listing every subject the dataset left out and why (``assemble``'s
    ``excluded.json``, written when partial results were allowed); nothing when none was."""
    if not path.is_file():
        return []
    excluded = json.loads(path.read_text()).get("excluded", [])
    if not excluded:
        return []
    lines = [f"\n## Subjects left out ({len(excluded)})\n\n",
             "Partial results were allowed (orchestrator.allow_partial): these subjects are in "
             "no fold.\n\n| subject | reason |\n|---|---|\n"]
    lines += [f"| {e['subject']} | {str(e['reason']).replace('|', '/')} |\n" for e in excluded]
    return lines


def _bars(df, metric_names, protocol, path):
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(metric_names), figsize=(3.2 * len(metric_names), 3.6))
    for ax, k in zip(axes, metric_names):
        d = df.sort_values(k)
        colors = ["tab:red" if m == "helo" else "tab:gray" for m in d["method"]]
        ax.barh(d["method"], d[k], xerr=d[f"{k}_std"], color=colors)
        ax.set_title(METRIC_LABELS.get(k, k))
        ax.tick_params(labelsize=8)
    fig.suptitle(f"{protocol}: mean ± std over folds")
    fig.tight_layout()
    _save(fig, path)


def _save(fig, path):
    import matplotlib.pyplot as plt
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def _history(eval_dir, found, out, failed_by_protocol=None):
    """HeLo's mean training loss per epoch under each protocol where it did not fail."""
    import matplotlib.pyplot as plt
    curves = {}
    for protocol in found:
        path = eval_dir / protocol / "helo" / "history.csv"
        if not path.exists() or "helo" in (failed_by_protocol or {}).get(protocol, {}):
            continue
        h = pd.read_csv(path)
        loss_col = next((c for c in ("loss", "train_loss") if c in h.columns), None)
        if loss_col is None or h.empty:
            continue
        curves[protocol] = h.groupby("epoch")[loss_col].mean()
    if not curves:
        return
    frame = pd.DataFrame(curves)
    frame.index.name = "epoch"
    with atomic_path(out / "plots" / "helo_history.csv") as tmp:
        frame.reset_index().to_csv(tmp, index=False, float_format="%.6g")
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for protocol, s in curves.items():
        ax.plot(s.index, s.values, label=protocol)
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss (KL + CC)")
    ax.legend()
    ax.set_title("HeLo training loss, mean over folds")
    fig.tight_layout()
    _save(fig, out / "figures" / "helo_training_loss.png")


def _figures(eval_dir, found, out, params, failed_by_protocol=None) -> list[str]:
    """Figures of the methods not failed under the protocol shown (``loso`` when there)."""
    import matplotlib.pyplot as plt
    made = []
    n_show = int(P.get(params, "report.figure_samples", 6))
    protocol = "loso" if "loso" in found else list(found)[0]
    failed = (failed_by_protocol or {}).get(protocol, {})
    usable = {m: r for m, r in found[protocol].items() if m not in failed}
    # HeLo, the mean predictor and the two best other methods by average rank (readability)
    from helo.evaluation.metrics import average_rank
    ranks = average_rank({m: {k: r[k] for k in METRIC_LABELS} for m, r in usable.items()})
    others = [m for m in sorted(ranks, key=ranks.get) if m not in ("helo", "mean")][:2]
    methods = [m for m in ["helo", "mean", *others] if m in usable]
    preds = {m: pd.read_parquet(eval_dir / protocol / m / "predictions.parquet")
             for m in methods if (eval_dir / protocol / m / "predictions.parquet").exists()}
    if preds:
        ref = preds.get("helo", next(iter(preds.values())))
        labels = [c[5:] for c in ref.columns if c.startswith("true_")]
        rng = np.random.default_rng(0)
        pick = np.sort(rng.choice(len(ref), size=min(n_show, len(ref)), replace=False))
        fig, axes = plt.subplots(1, len(pick), figsize=(3.0 * len(pick), 3.2), sharey=True,
                                 squeeze=False)
        x = np.arange(len(labels))
        for ax, i in zip(axes[0], pick):
            row = ref.iloc[i]
            ax.bar(x, [row[f"true_{lab}"] for lab in labels], color="lightgray",
                   label="ground truth")
            for m, dfm in preds.items():
                match = dfm[dfm["row"] == row["row"]]
                if len(match):
                    ax.plot(x, [match.iloc[0][f"pred_{lab}"] for lab in labels], marker=".",
                            lw=2.0 if m == "helo" else 0.8, label=m)
            ax.set_xticks(x, labels, rotation=90, fontsize=7)
            ax.set_title(f"subj {row['subject']} trial {row['trial']} w{row['window']}",
                         fontsize=8)
        axes[0][0].legend(fontsize=6)
        fig.suptitle(f"Predicted vs ground-truth distributions ({protocol} test windows)")
        fig.tight_layout()
        _save(fig, out / "figures" / "predicted_vs_true.png")
        made.append("predicted_vs_true.png")
    exp_path = eval_dir / protocol / "helo" / "explain.npz"
    if exp_path.exists() and "helo" in usable:
        with np.load(exp_path, allow_pickle=False) as z:
            ex = {k: z[k] for k in z.files}
        labels = [c[5:] for c in preds["helo"].columns if c.startswith("true_")] if "helo" in \
            preds else None
        made += _label_corr(ex, labels, out)
        made += _tsne(ex, out)
    return made


def _label_corr(ex, labels, out):
    import matplotlib.pyplot as plt
    key = next((k for k in ("label_corr", "M_L", "corr") if k in ex), None)
    if key is None:
        return []
    M = ex[key]
    if not np.isfinite(M).all():  # nothing to draw from a diverged model
        return []
    mats = [M] if M.ndim == 2 else [M[i] for i in np.linspace(0, len(M) - 1, min(3, len(M)))
                                     .astype(int)]
    fig, axes = plt.subplots(1, len(mats), figsize=(4.2 * len(mats), 3.8), squeeze=False)
    for ax, m in zip(axes[0], mats):
        im = ax.imshow(m, vmin=float(np.min(mats)), vmax=1.0, cmap="viridis")
        if labels and len(labels) == m.shape[0]:
            ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
            ax.set_yticks(range(len(labels)), labels, fontsize=7)
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8)
    fig.suptitle("HeLo learned label correlations (test samples)")
    _save(fig, out / "figures" / "label_correlation.png")
    return ["label_correlation.png"]


def _tsne(ex, out):
    import matplotlib.pyplot as plt
    from sklearn.manifold import TSNE
    pairs = [("phys_before", "beh_before", "before OT"), ("phys_after", "beh_after", "after OT")]
    if not all(a in ex and b in ex for a, b, _ in pairs):
        return []
    if not all(np.isfinite(ex[k]).all() for a, b, _ in pairs for k in (a, b)):
        return []  # t-SNE of non-finite tokens: nothing to draw
    fig, axes = plt.subplots(1, 2, figsize=(9, 4))
    for ax, (a, b, title) in zip(axes, pairs):
        A, B = ex[a].reshape(-1, ex[a].shape[-1]), ex[b].reshape(-1, ex[b].shape[-1])
        n = min(len(A), len(B), 600)
        rng = np.random.default_rng(0)
        A, B = A[rng.choice(len(A), n, replace=False)], B[rng.choice(len(B), n, replace=False)]
        emb = TSNE(n_components=2, init="pca", random_state=0,
                   perplexity=min(30, max(5, n // 10))).fit_transform(np.vstack([A, B]))
        ax.scatter(*emb[:n].T, s=4, label="physiological", alpha=0.6)
        ax.scatter(*emb[n:].T, s=4, label="behavioural", alpha=0.6)
        ax.set_title(f"t-SNE of tokens {title}")
        ax.legend(fontsize=7)
    fig.tight_layout()
    _save(fig, out / "figures" / "tsne_tokens.png")
    return ["tsne_tokens.png"]


def _efficiency(out, params) -> list[dict]:
    """Parameters and FLOPs of every deep method at DMER's dimensions (Table 5)."""
    try:
        from helo.stages.efficiency import efficiency_table
    except ImportError:
        return []
    rows = efficiency_table(list(P.get(params, "evaluate.methods")), params)
    if not rows:
        return []
    df = pd.DataFrame(rows)
    with atomic_path(out / "efficiency.csv") as tmp:
        df.to_csv(tmp, index=False)
    lines = ["| Method | Parameters | FLOPs (one sample) |", "|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['method']} | {r['params'] / 1e6:.2f} M | {r['flops'] / 1e6:.2f} M |")
    write_text(out / "efficiency.md", "# Efficiency at DMER's dimensions (90/28/27/768 "
               "features, 10 labels)\n\n" + "\n".join(lines) + "\n")
    return rows


def run(params: dict) -> dict:
    """Stage ``report``: tables, figures and ``outputs/metrics.json`` from ``outputs/eval``."""
    from helo.stages.common import ASSEMBLED, EVAL, METRICS, REPORT
    from helo.stages.ownership import place
    return build_report(EVAL, place(REPORT), params, excluded=ASSEMBLED / "excluded.json",
                        metrics=place(METRICS))
