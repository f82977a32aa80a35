"""The report's tables: every method's results under one protocol read back, the methods that
cannot be ranked set apart, and the comparison, significance and efficiency tables built from
the rest, as data frames and markdown.

* **Reading.** :func:`collect` reads each method's ``metrics.json``, :func:`collect_folds` its
  ``folds.csv`` (rows: folds, or (fold, seed) pairs once a ``seed`` column exists).
* **Failed methods.** :func:`failed_methods`: a method with failed folds (``metrics.json``'s
  ``n_failed``, a ``failed`` reason in ``folds.csv``) or any non-finite score takes part in no
  rank and no test; :func:`to_markdown` lists it as ``failed (k/n folds)`` (marked ‡,
  :func:`failed_markdown` gives the reasons), :func:`failed_rows` as CSV rows without scores.
* **Comparison.** :func:`comparison_table`: mean, sample std and Student-t interval of each
  metric over the ``folds.csv`` rows, per-metric ranks of the means (1 = best, ties averaged)
  and their average (:func:`rank_table`), as in the paper's Tables 1-2; :func:`paper_rows` /
  :func:`paper_markdown` give the paper's own rows (:mod:`helo.evaluation.paper_results`).
* **Significance.** :func:`significance`: per metric the Holm-adjusted Wilcoxon test of every
  method against a reference and the Friedman test over all methods
  (:mod:`helo.evaluation.stats` holds every statistical choice); :func:`significance_markdown`
  states them, with the smallest p-value the number of folds allows.
* **Efficiency.** :func:`efficiency_markdown`: parameters and FLOPs per deep method (the
  paper's Table 5).

No plotting here (:mod:`helo.evaluation.figures`) and no params: the report stage passes
every path and setting in.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

METRIC_LABELS = {"chebyshev": "Chebyshev ↓", "clark": "Clark ↓", "canberra": "Canberra ↓",
                 "kl": "KL ↓", "cosine": "Cosine ↑", "intersection": "Intersection ↑"}


def collect(eval_dir: Path, protocols: list[str], methods: list[str]) -> dict:
    """``{protocol: {method: its metrics.json}}`` of every method evaluated."""
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


def failed_rows(failed: dict[str, dict]) -> pd.DataFrame:
    """The comparison CSV's rows of the failed methods: no scores, no ranks, the reason."""
    return pd.DataFrame([{"method": m, "source": "this run", "n_folds": f["n_folds"],
                          "beats_mean_predictor": "",
                          "note": f"{f['label']}: {'; '.join(f['reasons'])}"}
                         for m, f in failed.items()])


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


def efficiency_markdown(rows: list[dict]) -> str:
    """``efficiency.md``: one line per method, parameters and FLOPs of one sample in millions,
    at DMER's dimensions (the paper's Table 5)."""
    lines = ["| Method | Parameters | FLOPs (one sample) |", "|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['method']} | {r['params'] / 1e6:.2f} M | {r['flops'] / 1e6:.2f} M |")
    return ("# Efficiency at DMER's dimensions (90/28/27/768 "
            "features, 10 labels)\n\n" + "\n".join(lines) + "\n")
