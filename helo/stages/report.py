"""Comparison tables, figures and the summary metrics file, from every evaluated method.

Writes into ``outputs/report``:

* ``comparison.md`` / ``comparison_<protocol>.csv`` -- methods x six metrics, mean +- std over
  folds, the per-metric rank in parentheses and the average rank (the paper's Tables 1-2);
* ``efficiency.md`` / ``efficiency.csv`` -- parameters and FLOPs of the deep methods at DMER's
  dimensions (the paper's Table 5);
* ``figures/*.png`` -- metric bars per protocol, predicted vs true distributions (Fig. 4),
  HeLo's learned label correlations (Fig. 9), t-SNE of tokens before/after OT (Fig. 8),
  training curves; static PNGs because ``dvc plots show`` HTML needs a CDN;
* ``plots/*.csv`` -- data behind the DVC plots;

and ``outputs/metrics.json`` (what ``dvc metrics show`` prints). Subjects the dataset left out
(``data/assembled/excluded.json``, only with partial results allowed) are listed with their
reason at the end of ``comparison.md``.
"""
from __future__ import annotations

import json
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


def comparison_table(results: dict[str, dict], metric_names: list[str]) -> pd.DataFrame:
    table = {m: {k: r[k] for k in metric_names} for m, r in results.items()}
    ranks = rank_table(table, metric_names)
    rows = []
    for method, r in results.items():
        row = {"method": method}
        for k in metric_names:
            row[k] = r[k]
            row[f"{k}_std"] = r.get("std", {}).get(k, np.nan)
            row[f"{k}_rank"] = ranks["per_metric"][method][k]
        row["average_rank"] = ranks["average"][method]
        row["n_folds"] = r.get("n_folds")
        rows.append(row)
    return pd.DataFrame(rows).sort_values("average_rank").reset_index(drop=True)


def to_markdown(df: pd.DataFrame, metric_names: list[str]) -> str:
    head = ["Method"] + [METRIC_LABELS.get(k, k) for k in metric_names] + ["Avg. rank"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    best = {}
    for k in metric_names:
        best[k] = df[f"{k}_rank"].min()
    for _, row in df.iterrows():
        cells = [f"**{row['method']}**" if row["method"] == "helo" else row["method"]]
        for k in metric_names:
            txt = f"{row[k]:.4f} ± {row[f'{k}_std']:.4f} ({row[f'{k}_rank']:g})"
            cells.append(f"**{txt}**" if row[f"{k}_rank"] == best[k] else txt)
        cells.append(f"{row['average_rank']:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def build_report(eval_dir: Path, out: Path, params: dict, excluded: Path | None = None) -> dict:
    import matplotlib
    matplotlib.use("Agg")
    from helo.evaluation.metrics import METRICS

    eval_dir, out = Path(eval_dir), Path(out)
    protocols = list(P.get(params, "evaluate.protocols"))
    methods = list(P.get(params, "evaluate.methods"))
    metric_names = list(METRICS)
    found = collect(eval_dir, protocols, methods)
    if not found:
        raise FileNotFoundError(f"no evaluation results under {eval_dir}: run the evaluate "
                                f"stages first")
    (out / "figures").mkdir(parents=True, exist_ok=True)
    (out / "plots").mkdir(parents=True, exist_ok=True)
    md = [f"# Comparison on {P.get(params, 'data.name')}\n",
          "Mean ± std over folds; per-metric rank in parentheses; best in bold.\n"]
    summary: dict = {}
    for protocol, results in found.items():
        df = comparison_table(results, metric_names)
        with atomic_path(out / f"comparison_{protocol}.csv") as tmp:
            df.to_csv(tmp, index=False, float_format="%.6f")
        md += [f"\n## {protocol} ({df['n_folds'].iloc[0]} folds)\n", to_markdown(df, metric_names)]
        summary[protocol] = {row["method"]: {**{k: round(float(row[k]), 6) for k in metric_names},
                                             "average_rank": float(row["average_rank"])}
                             for _, row in df.iterrows()}
        _bars(df, metric_names, protocol, out / "figures" / f"comparison_{protocol}.png")
    if excluded is not None:
        md += _excluded_section(Path(excluded))
    write_text(out / "comparison.md", "".join(md))
    # DVC plot data: methods on the hardest protocol present.
    last = [p for p in protocols if p in found][-1]
    plot_df = pd.DataFrame([{"method": m, **v} for m, v in summary[last].items()])
    with atomic_path(out / "plots" / "comparison.csv") as tmp:
        plot_df.to_csv(tmp, index=False)
    _history(eval_dir, found, out)
    figures = _figures(eval_dir, found, out, params)
    eff = _efficiency(out, params)
    write_json(Path("outputs/metrics.json"), summary)
    return {"protocols": list(found), "methods": sorted({m for r in found.values() for m in r}),
            "figures": figures, "efficiency": eff}


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


def _history(eval_dir, found, out):
    import matplotlib.pyplot as plt
    curves = {}
    for protocol in found:
        path = eval_dir / protocol / "helo" / "history.csv"
        if not path.exists():
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


def _figures(eval_dir, found, out, params) -> list[str]:
    import matplotlib.pyplot as plt
    made = []
    n_show = int(P.get(params, "report.figure_samples", 6))
    protocol = "loso" if "loso" in found else list(found)[0]
    # HeLo, the mean predictor and the two best other methods by average rank (readability)
    from helo.evaluation.metrics import average_rank
    ranks = average_rank({m: {k: r[k] for k in METRIC_LABELS} for m, r in found[protocol].items()})
    others = [m for m in sorted(ranks, key=ranks.get) if m not in ("helo", "mean")][:2]
    methods = [m for m in ["helo", "mean", *others] if m in found[protocol]]
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
    if exp_path.exists():
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
    from helo.stages.common import ASSEMBLED, EVAL, REPORT
    return build_report(EVAL, REPORT, params, excluded=ASSEMBLED / "excluded.json")
