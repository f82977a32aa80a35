"""Assemble the feature store into one dataset: X per modality, label distribution, ids.

Rows of every modality are joined on ``(subject, trial, window)`` (the shared window grid, see
``docs/design.md``); the label distribution of a row is its trial's (shared by every window of
the trial), from the label values in the store's ``labels`` table as ``labels`` says
(:func:`helo.data.labels.to_distributions`): PANAS scores over the chosen item set normalised
to sum 1, a distribution taken as it is (checked: non-negative, sums to 1), or other scores
normalised with a warning; ``auto`` tells them apart; then, with ``label_smoothing`` ``e > 0``,
mixed with the uniform distribution, ``(1 - e) d + e / L``. Rows where a modality's
features are NaN (flat signal, no face, trial too short ...) are dropped or zero-filled
(``nan_policy``); what was dropped and why is written to ``assembly.json``.
"""
from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from helo.data.labels import LabelError, smooth_labels, to_distributions
from helo.data.loading import json_object, named
from helo.io import atomic_path, write_json

KEYS = ["subject", "trial", "window"]
META_COLS = {"subject", "trial", "window", "t_end", "note"}


@dataclass
class Dataset:
    X: dict[str, np.ndarray]
    feature_names: dict[str, list[str]]
    y: np.ndarray
    label_names: list[str]
    subject: np.ndarray
    trial: np.ndarray
    window: np.ndarray
    physiological: list[str]
    behavioural: list[str]

    @property
    def n(self) -> int:
        return len(self.y)

    def subset(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        return {m: x[rows] for m, x in self.X.items()}

    def trial_keys(self) -> np.ndarray:
        return np.char.add(np.char.add(self.subject.astype(str), "|"), self.trial.astype(str))


def read_modality(store: Path, modality: str) -> pd.DataFrame:
    folder = Path(store) / modality
    files = sorted(p for p in folder.glob("*.parquet") if not p.name.startswith("."))
    if not files:
        raise FileNotFoundError(f"no features for modality {modality!r} under {folder} "
                                f"(run the extract stage first)")
    df = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    df["subject"] = df["subject"].astype(str)
    df["trial"] = df["trial"].astype(str)
    return df


def assemble(store: str | Path, modalities: list[str], *, items="dmer",
             physiological: list[str], behavioural: list[str], nan_policy: str = "drop",
             labels: str = "auto", label_rule: dict | None = None,
             label_smoothing: float = 0.0, out: str | Path | None = None) -> Dataset:
    store = Path(store)
    if nan_policy not in ("drop", "zero"):
        raise ValueError("nan_policy must be 'drop' or 'zero'")
    for m in physiological + behavioural:
        if m not in modalities:
            raise ValueError(f"modality {m!r} is listed as physiological/behavioural but not in "
                             f"the modalities {modalities}")
    label_kind = labels
    labels = read_modality(store, "labels")
    item_cols = [c for c in labels.columns if c.startswith("panas_")]
    score_items = [c[len("panas_"):] for c in item_cols]
    report = {"dropped": {}, "label_errors": []}

    # Label distribution per trial; trials whose labels are unusable are dropped with a reason.
    where = [f"subject {s}, trial {t}" for s, t in zip(labels["subject"], labels["trial"])]
    try:
        D, wanted, kind, skipped, warns = to_distributions(
            labels[item_cols].to_numpy(dtype=float), score_items, kind=label_kind,
            items=items, where=where, rule=label_rule)
    except LabelError as err:
        raise LabelError(f"{Path(store) / 'labels'}: {err}") from None
    D = smooth_labels(D, label_smoothing)
    for i, reason in skipped:
        report["label_errors"].append({"subject": labels["subject"].iat[i],
                                       "trial": labels["trial"].iat[i], "reason": reason})
    for w in warns:
        warnings.warn(w, stacklevel=2)
    report.update(label_kind=kind, label_warnings=warns, label_smoothing=float(label_smoothing))
    ok = np.isfinite(D).all(axis=1)
    if not ok.any():
        raise ValueError(f"no trial under {store / 'labels'} has a usable self-report "
                         f"(labels read as {kind}; first reason: "
                         f"{report['label_errors'][0]['reason'] if skipped else 'none'})")
    lab = pd.DataFrame({"subject": labels["subject"].to_numpy()[ok],
                        "trial": labels["trial"].to_numpy()[ok],
                        **{f"y_{w}": D[ok, k] for k, w in enumerate(wanted)}})

    merged = None
    names: dict[str, list[str]] = {}
    for m in modalities:
        df = read_modality(store, m)
        cols = [c for c in df.columns if c not in META_COLS]
        names[m] = cols
        df = df[KEYS + cols].rename(columns={c: f"{m}::{c}" for c in cols})
        merged = df if merged is None else merged.merge(df, on=KEYS, how="inner")
    merged = merged.merge(lab, on=["subject", "trial"], how="inner")
    merged = merged.sort_values(KEYS, key=lambda s: s.map(_natural_key)
                                if pd.api.types.is_string_dtype(s) else s).reset_index(drop=True)

    X = {m: merged[[f"{m}::{c}" for c in names[m]]].to_numpy(dtype=np.float32)
         for m in modalities}
    bad = np.zeros(len(merged), dtype=bool)
    for m in modalities:
        nan_rows = ~np.isfinite(X[m]).all(axis=1)
        report["dropped"][m] = int(nan_rows.sum())
        if nan_policy == "drop":
            bad |= nan_rows
        else:
            X[m] = np.nan_to_num(X[m], nan=0.0, posinf=0.0, neginf=0.0)
    keep = ~bad
    ds = Dataset(
        X={m: x[keep] for m, x in X.items()}, feature_names=names,
        y=merged[[f"y_{w}" for w in wanted]].to_numpy(dtype=np.float32)[keep],
        label_names=wanted, subject=merged["subject"].to_numpy().astype(str)[keep],
        trial=merged["trial"].to_numpy().astype(str)[keep],
        window=merged["window"].to_numpy().astype(int)[keep],
        physiological=list(physiological), behavioural=list(behavioural))
    if ds.n == 0:
        raise ValueError("assembly produced no rows: every row had NaN features or no label")
    if out is not None:
        save(ds, out)
        report.update({"rows": ds.n, "subjects": sorted(set(ds.subject.tolist())),
                       "trials": int(len(set(ds.trial_keys().tolist()))),
                       "dims": {m: int(x.shape[1]) for m, x in ds.X.items()},
                       "labels": wanted, "nan_policy": nan_policy})
        write_json(Path(out) / "assembly.json", report)
    return ds


def _natural_key(v):
    s = str(v)
    return (0, int(s), "") if s.isdigit() else (1, 0, s)


def save(ds: Dataset, out: str | Path) -> None:
    out = Path(out)
    arrays = {f"X_{m}": x for m, x in ds.X.items()}
    arrays.update(y=ds.y, subject=ds.subject, trial=ds.trial, window=ds.window)
    with atomic_path(out / "dataset.npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
    write_json(out / "meta.json", {"modalities": list(ds.X), "feature_names": ds.feature_names,
                                   "label_names": ds.label_names,
                                   "physiological": ds.physiological,
                                   "behavioural": ds.behavioural})


def load(folder: str | Path, modalities: list[str] | None = None) -> Dataset:
    """The dataset :func:`save` wrote to ``folder``; a DataError names ``meta.json`` or
    ``dataset.npz`` when either is missing, truncated or lacks what the other lists."""
    folder = Path(folder)
    meta_path, data_path = folder / "meta.json", folder / "dataset.npz"
    meta = json_object(meta_path, "assembled dataset's meta", required=(
        "modalities", "feature_names", "label_names", "physiological", "behavioural"))
    mods = modalities if modalities is not None else meta["modalities"]
    missing = [m for m in mods if m not in meta["modalities"]]
    if missing:
        raise ValueError(f"modalities {missing} are not in the assembled dataset "
                         f"({meta['modalities']})")
    with named(data_path, "assembled dataset"), np.load(data_path, allow_pickle=False) as z:
        return Dataset(X={m: z[f"X_{m}"] for m in mods},
                       feature_names={m: meta["feature_names"][m] for m in mods},
                       y=z["y"], label_names=meta["label_names"], subject=z["subject"],
                       trial=z["trial"], window=z["window"],
                       physiological=[m for m in meta["physiological"] if m in mods],
                       behavioural=[m for m in meta["behavioural"] if m in mods])


def fingerprint(folder: str | Path) -> str:
    """SHA-256 (16 hex digits) of an assembled data set's arrays and metadata
    (``dataset.npz``, ``meta.json``): what a ``helo tune`` record was made on."""
    h = hashlib.sha256()
    for name in ("dataset.npz", "meta.json"):
        f = Path(folder) / name
        if f.exists():
            with open(f, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
    return h.hexdigest()[:16]
