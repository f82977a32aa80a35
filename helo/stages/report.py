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
* the settings behind each cell, in ``comparison.md`` and ``settings.csv`` (one row per
  protocol and method; also the ``settings`` column of ``comparison_<protocol>.csv``): tuned
  under that protocol, under another, by hand, or not tuned
  (:mod:`helo.stages.provenance`);
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
score is *failed* under that protocol (:func:`helo.evaluation.tables.failed_methods`): it
is listed in the comparison table as ``failed (k/n folds)`` (marked ‡, the reasons below the
table), never ranked, left out of the average ranks, the significance tests, the
critical-difference diagram, the bars, the figures and the DVC plot data;
``outputs/metrics.json`` gives it ``failed_folds`` / ``n_folds`` instead of scores. The ranks
of the other methods are what they would be without it.

This module is the stage: it reads the params and the paths and writes the files. The tables
are built by :mod:`helo.evaluation.tables`, the figures drawn by :mod:`helo.evaluation.figures`,
the notes on methods that do not beat the mean predictor written by
:mod:`helo.evaluation.diagnosis`.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from helo.evaluation import figures, tables
from helo.evaluation.diagnosis import beats_mean_notes
from helo.io import atomic_path, write_json, write_text
from helo.stages.common import config_of
from helo.stages.provenance import settings_markdown, settings_table

if TYPE_CHECKING:
    from helo.stages.schema import Params

#: ``helo tune``'s records (``helo.stages.tune.TUNE_ROOT``): the settings section and the
#: mean-predictor notes read them (a DVC dependency of the report)
TUNE_RECORDS = Path("outputs/tune")


def paper_dataset(cfg: Params) -> str | None:
    """``DMER`` / ``WESAD`` when the paper's reference rows apply to this run, else None:
    ``report.paper_reference`` ``never``; ``always`` (by ``data.layout``, or ``data.name``
    for the generic layout); ``auto`` (default): only on real data -- the synthetic data in
    the DMER/WESAD layouts is not the paper's data, so its numbers are not comparable."""
    cfg = config_of(cfg)
    mode = cfg.report.paper_reference
    if mode == "never":
        return None
    layout = cfg.data.layout or ""
    name = cfg.data.name.lower()
    if layout.startswith("dmer"):
        ds = "DMER"
    elif layout == "wesad":
        ds = "WESAD"
    else:
        ds = "DMER" if "dmer" in name else "WESAD" if "wesad" in name else None
    if ds is None or mode == "always":
        return ds
    from helo.stages.common import uses_synthetic
    return None if uses_synthetic(cfg) or name.startswith("synth") else ds


def build_report(eval_dir: Path, out: Path, cfg: Params, excluded: Path | None = None,
                 metrics: Path = Path("outputs/metrics.json")) -> dict:
    import matplotlib
    matplotlib.use("Agg")
    from helo.evaluation.metrics import METRICS

    cfg = config_of(cfg)
    eval_dir, out = Path(eval_dir), Path(out)
    protocols = list(cfg.evaluate.protocols)
    methods = list(cfg.evaluate.methods)
    metric_names = list(METRICS)
    confidence = cfg.report.confidence
    alpha = cfg.report.alpha
    zero_method = cfg.report.zero_method
    found = tables.collect(eval_dir, protocols, methods)
    if not found:
        raise FileNotFoundError(f"no evaluation results under {eval_dir}: run the evaluate "
                                f"stages first")
    (out / "figures").mkdir(parents=True, exist_ok=True)
    (out / "plots").mkdir(parents=True, exist_ok=True)
    pct = f"{100 * confidence:g} %"
    md = [f"# Comparison on {cfg.data.name}\n",
          f"Mean ± sample std (n - 1) [{pct} Student-t interval] over folds (and seeds); "
          "per-metric rank of the mean in parentheses; best in bold. Tests: "
          "`significance.md`; critical-difference diagram: `cd_diagram.png`.\n"]
    sig_md = [f"# Significance on {cfg.data.name}\n",
              f"Paired two-sided Wilcoxon signed-rank tests of every method against helo over "
              f"the folds both have (zero differences: `{zero_method}`), Holm-adjusted over the "
              f"methods compared; Friedman test over all methods on the folds every method "
              f"has; Nemenyi post-hoc (scikit-posthocs) in `cd_diagram.png`. An observation is "
              f"one fold (one (fold, seed) pair when the folds table has seeds).\n"]
    paper_ds = paper_dataset(cfg)
    from helo.data.assemble import fingerprint
    from helo.stages.common import ASSEMBLED
    setting_rows = settings_table(cfg, [p for p in protocols if p in found], methods,
                                  TUNE_RECORDS, fingerprint(ASSEMBLED)
                                  if (ASSEMBLED / "dataset.npz").exists() else None)
    sources = {(r["protocol"], r["method"]): r for r in setting_rows}
    summary: dict = {}
    sig_frames = []
    folds_by_protocol = {}
    failed_by_protocol = {}
    for protocol, everything in found.items():
        all_folds = tables.collect_folds(eval_dir, protocol, list(everything))
        failed = tables.failed_methods(everything, all_folds, metric_names)
        failed_by_protocol[protocol] = failed
        results = {m: r for m, r in everything.items() if m not in failed}
        folds = {m: f for m, f in all_folds.items() if m not in failed}
        folds_by_protocol[protocol] = folds
        if not results:  # every method failed: the table lists them, nothing is ranked
            n = next(iter(failed.values()))["n_folds"]
            md += [f"\n## {protocol} ({n} folds)\n",
                   tables.to_markdown(pd.DataFrame(), metric_names, failed=failed),
                   *tables.failed_markdown(failed)]
            sig_md.append(f"\n## {protocol}\n\nNo method without failed folds: no tests.\n")
            with atomic_path(out / f"comparison_{protocol}.csv") as tmp:
                tables.failed_rows(failed).to_csv(tmp, index=False, float_format="%.6f")
            summary[protocol] = {m: {"failed_folds": f["n_failed"], "n_folds": f["n_folds"]}
                                 for m, f in failed.items()}
            continue
        df = tables.comparison_table(results, metric_names, folds, confidence)
        per, omni = tables.significance(folds, metric_names, confidence=confidence,
                                        alpha=alpha, zero_method=zero_method)
        notes = beats_mean_notes(eval_dir, protocol, df, TUNE_RECORDS)
        df["beats_mean_predictor"] = [("" if m == "mean" else str(m not in notes).lower())
                                      for m in df["method"]]
        df["note"] = [notes.get(m, "") for m in df["method"]]
        df["settings"] = [sources[(protocol, m)]["detail"] for m in df["method"]]
        table_df = df
        if failed:
            table_df = pd.concat([df, tables.failed_rows(failed)], ignore_index=True)
        if paper_ds:
            ref = tables.paper_rows(paper_ds, protocol, metric_names)
            if len(ref):
                table_df = pd.concat([table_df, ref], ignore_index=True)
        with atomic_path(out / f"comparison_{protocol}.csv") as tmp:
            table_df.to_csv(tmp, index=False, float_format="%.6f")
        md += [f"\n## {protocol} ({df['n_folds'].iloc[0]} folds)\n",
               tables.to_markdown(df, metric_names, {m: " †" for m in notes}, failed=failed),
               *tables.failed_markdown(failed)]
        if notes:
            md.append("\n† does not beat the mean predictor on KL:\n")
            md += [f"- {m}: {why}" for m, why in notes.items()]
            md.append("")
        if paper_ds:
            ref = tables.paper_rows(paper_ds, protocol, metric_names)
            if len(ref):
                md.append(tables.paper_markdown(ref, metric_names, paper_ds))
        sig_md.append(tables.significance_markdown(protocol, per, omni, metric_names,
                                                   reference="helo", alpha=alpha,
                                                   confidence=confidence,
                                                   zero_method=zero_method))
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
        figures.bars(df, metric_names, protocol, out / "figures" / f"comparison_{protocol}.png")
    md.append(settings_markdown(setting_rows, [p for p in protocols if p in found], methods))
    with atomic_path(out / "settings.csv") as tmp:
        pd.DataFrame(setting_rows).to_csv(tmp, index=False)
    if excluded is not None:
        md += _excluded_section(Path(excluded))
    write_text(out / "comparison.md", "".join(x if x.endswith("\n") else x + "\n" for x in md))
    sig = pd.concat(sig_frames, ignore_index=True) if sig_frames else pd.DataFrame(
        columns=["protocol", "method", "metric"])
    with atomic_path(out / "significance.csv") as tmp:
        sig.to_csv(tmp, index=False, float_format="%.6g")
    write_text(out / "significance.md", "".join(sig_md))
    cd_metric = cfg.report.cd_metric
    made_cd = figures.cd_diagram(folds_by_protocol, cd_metric, out / "cd_diagram.png", alpha)
    # DVC plot data: methods on the hardest protocol present.
    last = [p for p in protocols if p in found][-1]
    plot_df = pd.DataFrame([{"method": m, **v} for m, v in summary[last].items()
                            if m not in failed_by_protocol[last]])
    if plot_df.empty:
        plot_df = pd.DataFrame(columns=["method", *metric_names, "average_rank"])
    with atomic_path(out / "plots" / "comparison.csv") as tmp:
        plot_df.to_csv(tmp, index=False)
    figures.training_loss(eval_dir, found, out, failed_by_protocol)
    n_show = cfg.report.figure_samples
    made = figures.method_figures(eval_dir, found, out, n_show, failed_by_protocol)
    eff = _efficiency(out, cfg)
    write_json(Path(metrics), summary)
    return {"protocols": list(found), "methods": sorted({m for r in found.values() for m in r}),
            "figures": made + (["cd_diagram.png"] if made_cd else []), "efficiency": eff,
            "paper_reference": paper_ds}


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


def _efficiency(out, cfg: Params) -> list[dict]:
    """Parameters and FLOPs of every deep method at DMER's dimensions (Table 5)."""
    try:
        from helo.stages.efficiency import efficiency_table
    except ImportError:
        return []
    rows = efficiency_table(list(cfg.evaluate.methods), cfg)
    if not rows:
        return []
    df = pd.DataFrame(rows)
    with atomic_path(out / "efficiency.csv") as tmp:
        df.to_csv(tmp, index=False)
    write_text(out / "efficiency.md", tables.efficiency_markdown(rows))
    return rows


def run(cfg: Params) -> dict:
    """Stage ``report``: tables, figures and ``outputs/metrics.json`` from ``outputs/eval``."""
    from helo.stages.common import ASSEMBLED, EVAL, METRICS, REPORT
    from helo.stages.ownership import place
    return build_report(EVAL, place(REPORT), cfg, excluded=ASSEMBLED / "excluded.json",
                        metrics=place(METRICS))
