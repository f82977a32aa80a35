"""The report's figures, static PNGs (``dvc plots show`` HTML needs a CDN), each drawn the same
bytes every run (fixed seeds, sorted crossbars):

* :func:`cd_diagram` -- critical-difference diagram of one metric, one panel per protocol:
  average ranks over folds, methods joined by a bar when the Nemenyi test (scikit-posthocs'
  ``posthoc_nemenyi_friedman``, drawn by its ``critical_difference_diagram``) finds no
  difference at ``alpha``; Demsar's critical difference in the title;
* :func:`bars` -- mean ± std of every metric per method under one protocol;
* :func:`training_loss` -- HeLo's mean training loss per epoch, with its DVC plot data;
* :func:`method_figures` -- predicted vs true distributions (the paper's Fig. 4), HeLo's learned
  label correlations (Fig. 9) and t-SNE of its tokens before/after OT (Fig. 8).

matplotlib is imported inside each function, so that importing this module does not load it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from helo.evaluation.tables import METRIC_LABELS
from helo.io import atomic_path


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


def bars(df, metric_names, protocol, path):
    """Mean ± std of each metric per method under one protocol, HeLo in red."""
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


def training_loss(eval_dir, found, out, failed_by_protocol=None):
    """HeLo's mean training loss per epoch under each protocol where it did not fail: the DVC
    plot data ``plots/helo_history.csv`` and ``figures/helo_training_loss.png``."""
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


def method_figures(eval_dir, found, out, n_show, failed_by_protocol=None) -> list[str]:
    """Figures of the methods not failed under the protocol shown (``loso`` when there):
    predicted vs true distributions of ``n_show`` test windows, HeLo's label correlations and
    t-SNE of its tokens."""
    import matplotlib.pyplot as plt
    made = []
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
