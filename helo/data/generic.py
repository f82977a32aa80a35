"""The ``generic`` layout: features computed elsewhere, in one table, plus an optional sidecar.

Layout
------
``root/`` holds one table (``root`` may also be the table file itself)::

    features.csv | features.parquet | features.mat     (first found, in this order)
    helo.json                                          (optional sidecar)

Table columns (one row per window of a trial):

* ``subject`` (read as a string) and ``trial`` (read as a string): required;
* ``window`` (integer): optional; rows of a trial are ordered by it (file order without it);
  a window may not repeat within a trial;
* ``order`` (presentation position) and ``category``: optional, copied to the Trial;
* ``<modality>__<feature>``: a feature; the double underscore splits the modality from the
  feature name (``ecg__hr_mean`` -> modality ``ecg``, feature ``hr_mean``); NaN features are
  allowed (missing values), non-numeric ones are not;
* ``label__<item>``: the label of the trial, one column per item (``label__Happy``). Either a
  distribution (non-negative, each row sums to 1 within 1e-3) or raw scores (e.g. PANAS 1-5),
  which are normalised as ``d = s / sum(s)``. Labels must be the same on every row of a trial,
  must not be NaN or negative, and must not all be zero. The ``assemble`` stage takes the
  values as ``data.labels`` says (``auto`` by default: PANAS when ``data.items``' items are
  there with values 1-5, a distribution when every trial's labels sum to 1, else scores,
  normalised with a warning; :func:`helo.data.labels.to_distributions`): a distribution goes
  into the dataset as it is. The label set is every ``label__`` column in table order (the
  sidecar's ``labels`` order when given), or ``data.items`` when that is an explicit list.

Any other column is an error (so a typo such as ``ecg_hr`` with one underscore is caught).

``.mat`` tables: a numeric matrix ``data`` (n x k) with its column names in ``columns`` (cell
array of strings or a char matrix); ``subject`` and ``trial`` may instead be separate n-long
variables (numeric or cell arrays of strings), as MATLAB tables cannot be read from Python.

Sidecar ``helo.json`` (every key optional)::

    {"physiological": ["ecg", "emg", "eda"],   # modality prefixes (model input groups)
     "behavioural": ["acc"],
     "labels": ["Happy", "Sad", ...],          # label items to use, in this order
     "label_kind": "auto",                     # "auto" | "distribution" | "scores"
     "table": "features.parquet"}

The sidecar's keys are type-checked (lists of strings, ``table`` and ``label_kind`` strings),
and the table it names (or the one found in ``root``) must lie inside ``root`` once links are
resolved (:func:`helo.data.base.inside_root`); a table given as ``root`` itself is the caller's.
With a sidecar listing modalities, a feature column with another prefix is an error; without
one, every prefix found is a modality. ``label_kind`` ``auto`` treats rows summing to 1 as
distributions and normalises anything else.

Feature names in the feature store (the rule, applied when the features are stored, by
``helo.features.block_names`` with the modality's extraction params; readers do not import
``helo.features``): a column ``<modality>__<feature>`` becomes ``<modality>_<feature>`` when that
is a feature helo itself computes for the modality (``gsr__median`` -> ``gsr_median``,
``ecg__hr_mean`` -> ``ecg_hr_mean``, ``eeg__Fz_alpha`` -> ``eeg_Fz_alpha`` for any channel and a
band of the configured band set, ``video__xy_007`` -> ``video_xy_007`` with P = 8;
``<feature>`` may also carry the prefix already: ``gsr__gsr_median`` -> ``gsr_median``), so such
a table, the DMER features release and features computed by helo from recordings share their
names and models.
Any other column keeps its own name (``ecg__hr`` -> ``ecg__hr``, ``hrv__rmssd`` ->
``hrv__rmssd``): a feature helo does not compute never poses as one of helo's. Two columns that
land on the same name (``gsr__median`` and ``gsr__gsr_median``) are an error.

What a trial gets: ``Trial.features[modality]`` = :class:`FeatureBlock` (rows ordered by
window, names = feature names after ``__``, stored by the rule above), ``Trial.panas`` = the
label values as given, ``Trial.panas_items`` = the label items, ``extra["distribution"]`` = the
normalised distribution, ``extra["windows"]`` = the window indices, ``extra["label_kind"]`` =
how labels were read.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Sequence

import numpy as np

from helo.data.base import (
    DataError,
    FeatureBlock,
    Problem,
    Subject,
    Trial,
    dataset_files,
    inside_root,
    safe_id,
)
from helo.data.labels import DISTRIBUTION_TOL

__all__ = ["GenericFeaturesReader", "TABLE_NAMES", "SIDECAR"]

TABLE_NAMES = ("features.csv", "features.parquet", "features.mat")
SIDECAR = "helo.json"
META = ("subject", "trial", "window", "order", "category")
_SUM_TOL = DISTRIBUTION_TOL


def _natural(s: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)]


def _mat_strings(v) -> list[str]:
    a = np.asarray(v)
    if a.dtype.kind in "US":
        if a.ndim == 2:  # char matrix
            return ["".join(map(str, r)).strip() for r in a]
        return [str(x).strip() for x in a.ravel()]
    out = []
    for x in a.ravel():
        x = np.asarray(x)
        if x.dtype.kind in "US":
            out.append("".join(map(str, x.ravel())).strip())
        elif x.size == 1:
            f = float(x.ravel()[0])
            out.append(str(int(f)) if f.is_integer() else str(f))
        else:
            out.append(str(x))
    return out


class GenericFeaturesReader:
    """Reader for the ``generic`` layout (see the module docstring)."""

    layout = "generic"

    def __init__(self, root: str | Path, *, table: str | Path | None = None,
                 label_kind: str | None = None):
        root = Path(root)
        if root.is_file():
            table, root = root, root.parent
        self.root = root
        self._sidecar_path = self.root / SIDECAR
        self.sidecar = self._read_sidecar()
        self.label_kind = label_kind or self.sidecar.get("label_kind", "auto")
        if self.label_kind not in ("auto", "distribution", "scores"):
            raise DataError(f"label_kind must be auto, distribution or scores, not "
                            f"{self.label_kind!r}", path=self._sidecar_path)
        self._table_arg = table or self.sidecar.get("table")
        self._table_trusted = table is not None  # named by the caller, not found in the data
        self._df = None
        self._meta = None

    # -- files --------------------------------------------------------------------------------
    def _read_sidecar(self) -> dict:
        if not self._sidecar_path.exists():
            return {}
        inside_root(self._sidecar_path, self.root)
        try:
            side = json.loads(self._sidecar_path.read_text())
        except (OSError, ValueError) as e:
            raise DataError(f"unreadable sidecar ({e})", path=self._sidecar_path) from None
        if not isinstance(side, dict):
            raise DataError("sidecar must be a JSON object", path=self._sidecar_path)
        for key in ("physiological", "behavioural", "labels"):
            if key in side and not (isinstance(side[key], list)
                                    and all(isinstance(x, str) for x in side[key])):
                raise DataError(f"sidecar key {key!r} must be a list of strings",
                                path=self._sidecar_path)
        for key in ("table", "label_kind"):
            if key in side and not isinstance(side[key], str):
                raise DataError(f"sidecar key {key!r} must be a string, not "
                                f"{type(side[key]).__name__}", path=self._sidecar_path)
        return side

    def source_files(self, subject_id: str) -> list[Path]:
        """Files every subject's features come from: the table (wherever the sidecar puts it)
        and the root's files (the sidecar among them)."""
        try:
            return dataset_files(self.root, [self.table_path])
        except DataError:
            return dataset_files(self.root)

    @property
    def table_path(self) -> Path:
        if self._table_arg is not None:
            p = Path(self._table_arg)
            return p if p.is_absolute() else self.root / p
        for name in TABLE_NAMES:
            if (self.root / name).exists():
                return self.root / name
        raise DataError(f"no feature table ({', '.join(TABLE_NAMES)})", path=self.root)

    def _read_table(self):
        import pandas as pd
        path = self.table_path
        if not path.exists():
            raise DataError("feature table not found", path=path)
        if not self._table_trusted:  # found in the folder or named by its sidecar
            inside_root(path, self.root)
        suffix = path.suffix.lower()
        try:
            if suffix == ".csv":
                df = pd.read_csv(path, dtype={"subject": str, "trial": str, "category": str},
                                 keep_default_na=True)
            elif suffix == ".parquet":
                df = pd.read_parquet(path)
            elif suffix == ".mat":
                df = self._read_mat(path)
            else:
                raise DataError("unknown table format (use .csv, .parquet or .mat)", path=path)
        except DataError:
            raise
        except Exception as e:  # noqa: BLE001 - any parser failure is a data problem
            raise DataError(f"cannot read table ({type(e).__name__}: {e})", path=path) from None
        df.columns = [str(c).strip() for c in df.columns]
        return df

    @staticmethod
    def _read_mat(path: Path):
        import pandas as pd
        from scipy.io import loadmat
        m = loadmat(path)
        if "data" not in m or "columns" not in m:
            raise DataError("a .mat table needs variables 'data' (n x k) and 'columns' "
                            f"(k names); found {sorted(k for k in m if not k.startswith('__'))}",
                            path=path)
        data = np.asarray(m["data"], dtype=float)
        if data.ndim != 2:
            raise DataError(f"'data' must be a matrix, not shape {data.shape}", path=path)
        cols = _mat_strings(m["columns"])
        if len(cols) != data.shape[1]:
            raise DataError(f"'columns' names {len(cols)} columns but 'data' has "
                            f"{data.shape[1]}", path=path)
        df = pd.DataFrame(data, columns=cols)
        for key in ("subject", "trial", "category"):
            if key in m and key not in df.columns:
                vals = _mat_strings(m[key])
                if len(vals) != len(df):
                    raise DataError(f"'{key}' has {len(vals)} entries, 'data' {len(df)} rows",
                                    path=path)
                df[key] = vals
        for key in ("subject", "trial"):
            if key in df.columns and df[key].dtype.kind == "f":
                df[key] = _mat_strings(df[key].to_numpy())
        return df

    # -- validation ---------------------------------------------------------------------------
    def _analyse(self):
        """Load and check the table once: (df, meta, table problems)."""
        if self._df is not None:
            return self._df, self._meta
        df = self._read_table()
        path = str(self.table_path)
        probs: list[Problem] = []
        missing = [c for c in ("subject", "trial") if c not in df.columns]
        if missing:
            probs.append(Problem(None, path, f"missing required column(s) {missing}; columns are "
                                             f"{list(df.columns)[:12]}"))
        side_mods = self.sidecar.get("physiological", []) + self.sidecar.get("behavioural", [])
        feats: dict[str, list[tuple[str, str]]] = {}
        labels: list[tuple[str, str]] = []
        for col in df.columns:
            if col in META:
                continue
            if "__" not in col:
                probs.append(Problem(None, path, f"column {col!r} is neither metadata "
                                     f"({', '.join(META)}) nor '<modality>__<feature>' nor "
                                     f"'label__<item>'"))
                continue
            prefix, name = col.split("__", 1)
            if not prefix or not name:
                probs.append(Problem(None, path, f"column {col!r}: empty modality or name"))
            elif prefix == "label":
                labels.append((name, col))
            elif side_mods and prefix not in side_mods:
                probs.append(Problem(None, path, f"column {col!r}: unknown modality prefix "
                                     f"{prefix!r} (the sidecar lists {side_mods})"))
            else:
                feats.setdefault(prefix, []).append((name, col))
        if "labels" in self.sidecar:
            have = {n: c for n, c in labels}
            absent = [n for n in self.sidecar["labels"] if n not in have]
            if absent:
                probs.append(Problem(None, path, "missing label column(s) "
                                     f"{['label__' + n for n in absent]} named in {SIDECAR}"))
            labels = [(n, have[n]) for n in self.sidecar["labels"] if n in have]
        if not labels:
            probs.append(Problem(None, path, "no label columns ('label__<item>')"))
        if not feats:
            probs.append(Problem(None, path, "no feature columns ('<modality>__<feature>')"))
        for prefix, cols in feats.items():
            for name, col in cols:
                if df[col].dtype.kind not in "fiub":
                    import pandas as pd
                    conv = pd.to_numeric(df[col], errors="coerce")
                    bad = np.flatnonzero(conv.isna().to_numpy() & df[col].notna().to_numpy())
                    if bad.size:
                        probs.append(Problem(None, path, f"column {col!r}: non-numeric value "
                                             f"{df[col].iloc[bad[0]]!r} at row {bad[0] + 1}"))
                    df[col] = conv
        if side_mods:
            order = [m for m in side_mods if m in feats] + [m for m in feats if m not in side_mods]
        else:
            order = list(feats)
        meta = {"features": {m: feats[m] for m in order}, "labels": labels,
                "table_problems": probs}
        if not any(p.severity == "error" for p in probs):
            meta["row_problems"] = self._row_problems(df, labels)
        else:
            meta["row_problems"] = []
        self._df, self._meta = df, meta
        return df, meta

    def _row_problems(self, df, labels) -> list[Problem]:
        import pandas as pd
        path = str(self.table_path)
        probs: list[Problem] = []
        df["subject"] = df["subject"].astype(str).str.strip()
        df["trial"] = df["trial"].astype(str).str.strip()
        # subject ids become file names in the feature store (trial ids never do)
        for value, idx in df.groupby("subject", sort=False).indices.items():
            try:
                safe_id(value, path=path)
            except DataError as err:
                probs.append(Problem(str(value), path, f"row {idx[0] + 1}: {err.problem}"))
        lab = df[[c for _, c in labels]].apply(pd.to_numeric, errors="coerce").to_numpy(float)
        raw_bad = df[[c for _, c in labels]].notna().to_numpy() & np.isnan(lab)
        for r, k in zip(*np.nonzero(raw_bad)):
            probs.append(Problem(df["subject"].iat[r], path, f"row {r + 1}: label "
                                 f"{labels[k][1]!r} is not a number"))
        nan_rows = np.flatnonzero(np.isnan(lab).any(axis=1) & ~raw_bad.any(axis=1))
        for r in nan_rows:
            cols = [labels[k][1] for k in np.flatnonzero(np.isnan(lab[r]))]
            probs.append(Problem(df["subject"].iat[r], path,
                                 f"row {r + 1} (trial {df['trial'].iat[r]}): NaN label in {cols}"))
        for r in np.flatnonzero((lab < 0).any(axis=1)):
            cols = [labels[k][1] for k in np.flatnonzero(lab[r] < 0)]
            probs.append(Problem(df["subject"].iat[r], path,
                                 f"row {r + 1} (trial {df['trial'].iat[r]}): negative label in "
                                 f"{cols}"))
        ok = ~np.isnan(lab).any(axis=1) & ~(lab < 0).any(axis=1)
        sums = lab.sum(axis=1)
        for r in np.flatnonzero(ok & (sums <= 0)):
            probs.append(Problem(df["subject"].iat[r], path, f"row {r + 1} (trial "
                                 f"{df['trial'].iat[r]}): labels are all zero"))
        if self.label_kind == "distribution":
            for r in np.flatnonzero(ok & (sums > 0) & (np.abs(sums - 1) > _SUM_TOL)):
                probs.append(Problem(df["subject"].iat[r], path, f"row {r + 1}: labels sum to "
                                     f"{sums[r]:.6g}, not 1 (label_kind is 'distribution')"))
        if "window" in df.columns:
            w = pd.to_numeric(df["window"], errors="coerce")
            for r in np.flatnonzero(w.isna().to_numpy() | (w.to_numpy() % 1 != 0)):
                probs.append(Problem(df["subject"].iat[r], path, f"row {r + 1}: window "
                                     f"{df['window'].iat[r]!r} is not an integer"))
            dup = df.assign(_w=w).duplicated(["subject", "trial", "_w"], keep="first").to_numpy()
            for r in np.flatnonzero(dup & w.notna().to_numpy()):
                probs.append(Problem(df["subject"].iat[r], path,
                                     f"row {r + 1}: window {df['window'].iat[r]} repeats in "
                                     f"trial {df['trial'].iat[r]}"))
        for (sid, tid), idx in df.groupby(["subject", "trial"], sort=False).indices.items():
            block = lab[idx]
            if not np.isnan(block).any() and not np.allclose(block, block[0], rtol=0, atol=1e-9):
                probs.append(Problem(sid, path, f"trial {tid}: labels differ between its rows "
                                     f"(rows {idx[0] + 1}..{idx[-1] + 1}); one label per trial"))
        return probs

    # -- protocol -------------------------------------------------------------------------------
    def modalities(self) -> list[str]:
        side = self.sidecar.get("physiological", []) + self.sidecar.get("behavioural", [])
        if side:
            return list(side)
        _, meta = self._analyse()
        return list(meta["features"])

    def modality_groups(self) -> dict[str, list[str]]:
        """``{"physiological": [...], "behavioural": [...]}`` from the sidecar (empty lists
        when it says nothing)."""
        return {"physiological": list(self.sidecar.get("physiological", [])),
                "behavioural": list(self.sidecar.get("behavioural", []))}

    def label_items(self) -> list[str]:
        _, meta = self._analyse()
        return [n for n, _ in meta["labels"]]

    def subjects(self) -> list[str]:
        df, meta = self._analyse()
        if "subject" not in df.columns:
            return []
        return sorted({str(s).strip() for s in df["subject"]}, key=_natural)

    def check(self) -> list[Problem]:
        try:
            _, meta = self._analyse()
        except DataError as e:
            return [Problem.from_error(e)]
        return list(meta["table_problems"]) + list(meta["row_problems"])

    def read_subject(self, subject_id: str, modalities: Sequence[str] | None = None) -> Subject:
        df, meta = self._analyse()
        for p in meta["table_problems"]:
            if p.severity == "error":
                raise DataError(p.message, path=p.path, subject=str(subject_id))
        sid = str(subject_id)
        for p in meta["row_problems"]:
            if p.subject == sid and p.severity == "error":
                raise DataError(p.message, path=p.path, subject=sid)
        mods = list(meta["features"]) if modalities is None else list(modalities)
        unknown = [m for m in mods if m not in meta["features"]]
        if unknown:
            raise DataError(f"modalities {unknown} are not in the table (it has "
                            f"{list(meta['features'])})", path=self.table_path, subject=sid)
        sub = df[df["subject"] == sid]
        if sub.empty:
            raise DataError("no rows for this subject", path=self.table_path, subject=sid)
        items = [n for n, _ in meta["labels"]]
        label_cols = [c for _, c in meta["labels"]]
        trials = []
        for pos, (tid, rows) in enumerate(sub.groupby("trial", sort=False)):
            if "window" in rows.columns:
                rows = rows.assign(_w=rows["window"].astype(float).astype(int)).sort_values(
                    "_w", kind="stable")
                windows = rows["_w"].to_numpy()
            else:
                windows = np.arange(len(rows))
            raw = rows[label_cols].iloc[0].to_numpy(dtype=float)
            s = raw.sum()
            if self.label_kind == "distribution" or (self.label_kind == "auto"
                                                     and abs(s - 1) <= _SUM_TOL):
                kind = "distribution"
            else:
                kind = "scores"
            features = {m: FeatureBlock(rows[[c for _, c in meta["features"][m]]]
                                        .to_numpy(dtype=np.float64),
                                        [n for n, _ in meta["features"][m]]) for m in mods}
            order = pos
            if "order" in rows.columns and not rows["order"].isna().all():
                order = int(float(rows["order"].iloc[0]))
            category = None
            if "category" in rows.columns and rows["category"].notna().any():
                category = str(rows["category"].iloc[0])
            trials.append(Trial(trial_id=str(tid), order=order, category=category,
                                panas=raw, panas_items=list(items),
                                extra={"distribution": raw / s, "windows": windows,
                                       "label_kind": kind},
                                features=features))
        return Subject(subject_id=sid, trials=trials, layout=self.layout)
