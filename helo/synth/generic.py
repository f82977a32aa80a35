"""Seeded synthetic data in the ``generic`` layout with *label distributions*: what a user with
features computed elsewhere and a label-distribution data set brings (the format of every
public LDL data set).

:func:`generate_generic` writes::

    out/features.csv          subject, trial, window, <modality>__<feature>..., label__<item>...
    out/_ground_truth.json    what was generated (readers ignore it)

The table is the one :mod:`helo.data.generic` reads (no sidecar: the modalities are the
column prefixes). Each trial has a label distribution drawn from a Dirichlet around one of a
few emotion profiles (so trials of a profile resemble each other), identical on every row of
the trial, written with Python's shortest round-trip float text (so the CSV gives back the
drawn numbers exactly; each row sums to 1 within 1e-15). The features of a window are a fixed
random linear map of the trial's distribution plus a per-subject offset and per-window noise,
per modality (so a model has something to learn); a few feature values are NaN (missing) when
``missing`` > 0. The default modalities, ``hrv`` (6 features) and ``eye`` (4), are names helo
computes nothing for: they have no ``features.<modality>`` parameter group, which is the case
the generic layout must run without.
"""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np

from helo.io import atomic_path, write_json

__all__ = ["generate_generic", "PRESETS", "LABELS"]

#: the label items (Emotion6-like: six emotions and neutral)
LABELS = ["anger", "disgust", "fear", "joy", "sadness", "surprise", "neutral"]

PRESETS: dict[str, dict] = {
    "tiny": dict(n_subjects=3, n_trials=4, n_windows=6),
    "default": dict(n_subjects=6, n_trials=8, n_windows=12),
}
_DEFAULTS = dict(modalities={"hrv": 6, "eye": 4}, labels=LABELS, concentration=8.0,
                 profiles=4, noise=0.5, missing=0.0)


def generate_generic(out: str | Path, *, seed: int = 0, preset: str = "default",
                     progress: bool = True, **overrides) -> dict:
    """Write the generic layout with distribution labels under ``out``; returns the ground
    truth (``labels``: ``{"<subject>|<trial>": distribution}``, the items, the modalities and
    their feature counts). ``overrides``: any key of the preset or of ``modalities``
    (``{name: n_features}``), ``labels`` (item names), ``concentration`` (Dirichlet
    concentration around a profile), ``profiles``, ``noise``, ``missing`` (fraction of NaN
    feature values)."""
    import pandas as pd
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    unknown = set(overrides) - set(_DEFAULTS) - set(PRESETS[preset])
    if unknown:
        raise ValueError(f"unknown generic generator settings {sorted(unknown)}")
    cfg = {**copy.deepcopy(_DEFAULTS), **copy.deepcopy(PRESETS[preset]), **overrides}
    rng = np.random.default_rng(seed)
    items = list(cfg["labels"])
    k = len(items)
    mods = {str(m): int(n) for m, n in cfg["modalities"].items()}
    profiles = rng.dirichlet(np.full(k, 0.7), size=int(cfg["profiles"]))
    maps = {m: rng.normal(0.0, 2.0, (k, n)) for m, n in mods.items()}
    rows = []
    truth_labels: dict[str, list[float]] = {}
    for s in range(int(cfg["n_subjects"])):
        sid = f"s{s + 1:02d}"
        offset = {m: rng.normal(0.0, 0.5, n) for m, n in mods.items()}
        for t in range(int(cfg["n_trials"])):
            tid = f"t{t + 1:02d}"
            prof = profiles[rng.integers(len(profiles))]
            d = rng.dirichlet(cfg["concentration"] * prof + 0.05)
            d = d / d.sum()
            truth_labels[f"{sid}|{tid}"] = [float(v) for v in d]
            for w in range(int(cfg["n_windows"])):
                row = {"subject": sid, "trial": tid, "window": w}
                for m, n in mods.items():
                    x = d @ maps[m] + offset[m] + cfg["noise"] * rng.standard_normal(n)
                    for j in range(n):
                        row[f"{m}__f{j + 1}"] = float(x[j])
                row.update({f"label__{it}": float(v) for it, v in zip(items, d)})
                rows.append(row)
    df = pd.DataFrame(rows)
    if cfg["missing"] > 0:
        feat = [c for c in df.columns if "__" in c and not c.startswith("label__")]
        mask = rng.random((len(df), len(feat))) < float(cfg["missing"])
        vals = df[feat].to_numpy()
        vals[mask] = np.nan
        df[feat] = vals
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "features.csv") as tmp:
        df.to_csv(tmp, index=False)
    truth = {"dataset": "generic", "layout": "generic", "seed": seed, "preset": preset,
             "labels": truth_labels, "items": items, "modalities": mods,
             "n_subjects": int(cfg["n_subjects"]), "n_trials": int(cfg["n_trials"]),
             "n_windows": int(cfg["n_windows"])}
    write_json(out / "_ground_truth.json", truth)
    if progress:
        print(f"[synth-generic] {len(df)} rows, {cfg['n_subjects']} subjects, "
              f"modalities {mods}, {k} labels -> {out / 'features.csv'}", flush=True)
    return truth
