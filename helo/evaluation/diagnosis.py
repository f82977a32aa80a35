"""Why a method does not beat the mean predictor: the note the comparison table gives every
method whose mean KL is not below the mean predictor's, read from its own predictions
(over-confident, close to the training mean, or collapsed to one distribution) and from
``helo tune``'s records (whether the method was searched under that protocol)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd


def beats_mean_notes(eval_dir: Path, protocol: str, df: pd.DataFrame,
                     tune_root: Path) -> dict[str, str]:
    """``{method: reason}`` for every method whose mean KL is not below the mean predictor's:
    what its predictions show (:func:`_prediction_diagnosis`) and whether ``helo tune`` has
    searched it under this protocol (``tune_root``: ``helo tune``'s records, ``best.json`` per
    protocol and method)."""
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
