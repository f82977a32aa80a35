"""The feature store: one parquet file per subject and modality (docs/design.md).

``<store>/<modality>/<subject>.parquet`` with columns ``subject`` (str), ``trial`` (str),
``window`` (int), ``t_end`` (float), ``note`` (str, "" when fine), then the features named
``<modality>_<what>``. The pseudo-modality ``labels`` holds ``subject, trial, order, category``
and the raw PANAS scores as ``panas_<Item>``. Writes are atomic, so a file at its final path is
always complete; ``.tmp-*`` leftovers of an interrupted run are ignored (the next extraction
removes them). Subject and modality names pass :func:`helo.data.base.safe_id` first.

Each file has a *record* of what produced it, ``<store>/.records/<modality>/<subject>.json``
(:func:`write_record`): the extraction's description (data root resolved, layout, reader
options, digests of the feature parameters and of the code, the source files' size and mtime;
see :mod:`helo.stages.extract`) and the SHA-256 of the parquet file it describes. A file is
*current* (:func:`current`) only when its record matches the description of the extraction at
hand and the parquet still has the recorded bytes; anything else (another root, other settings,
an edited source, a file from an older helo without a record, a file replaced behind the
store's back) is recomputed. Records live beside the modality folders, not in them, so a DVC
output (``data/features/<modality>``) holds the feature files only and its bytes stay the same
for the same inputs on any machine (a record holds absolute paths and mtimes).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

from helo.data.base import safe_id
from helo.io import atomic_path, write_json

__all__ = ["path_of", "done", "record_path", "write_record", "read_record", "current", "remove",
           "trial_frame", "write", "write_parquet", "read", "subjects", "feature_columns",
           "labels_frame", "safe_id", "META_COLS", "LABEL_COLS", "RECORDS"]

META_COLS = ["subject", "trial", "window", "t_end", "note"]
LABEL_COLS = ["subject", "trial", "order", "category"]
#: the folder of the records, beside the modality folders (a name no modality can have)
RECORDS = ".records"


def path_of(store: str | Path, modality: str, subject: str) -> Path:
    """``<store>/<modality>/<subject>.parquet``; both names must be safe ids
    (:func:`helo.data.base.safe_id`), so no id can point outside the store."""
    safe_id(modality, what="modality name", path=store)
    return Path(store) / modality / f"{safe_id(subject, path=store)}.parquet"


def done(store: str | Path, modality: str, subject: str) -> bool:
    """True when the subject's file for ``modality`` is complete (it exists at its final path
    and its parquet footer reads)."""
    p = path_of(store, modality, subject)
    if not p.is_file():
        return False
    try:
        import pyarrow.parquet as pq
        pq.read_metadata(p)
    except Exception:
        return False
    return True


def record_path(store: str | Path, modality: str, subject: str) -> Path:
    """``<store>/.records/<modality>/<subject>.json`` (names checked as in :func:`path_of`)."""
    safe_id(modality, what="modality name", path=store)
    return Path(store) / RECORDS / modality / f"{safe_id(subject, path=store)}.json"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_record(store: str | Path, modality: str, subject: str, produced_by: dict,
                 output: str | Path | None = None) -> Path:
    """Record that the subject's file (or ``output``, the bytes about to become it) was
    produced by ``produced_by``."""
    p = record_path(store, modality, subject)
    out = path_of(store, modality, subject) if output is None else Path(output)
    write_json(p, {"produced_by": produced_by, "output_sha256": _sha256(out)})
    return p


def read_record(store: str | Path, modality: str, subject: str) -> dict | None:
    """The subject's record, or None when there is none or it does not read."""
    p = record_path(store, modality, subject)
    try:
        rec = json.loads(p.read_text())
    except (OSError, ValueError):
        return None
    return rec if isinstance(rec, dict) else None


def current(store: str | Path, modality: str, subject: str, produced_by: dict) -> bool:
    """True when the subject's file is complete (:func:`done`), its record says it was produced
    by exactly ``produced_by`` (compared as JSON) and the file still has the recorded bytes."""
    if not done(store, modality, subject):
        return False
    rec = read_record(store, modality, subject)
    if rec is None or rec.get("produced_by") != json.loads(json.dumps(produced_by)):
        return False
    try:
        return rec.get("output_sha256") == _sha256(path_of(store, modality, subject))
    except OSError:
        return False


def remove(store: str | Path, modality: str, subject: str) -> None:
    """Remove the subject's file and its record (a recomputation that fails must leave
    nothing of the previous inputs for ``assemble`` to read)."""
    path_of(store, modality, subject).unlink(missing_ok=True)
    record_path(store, modality, subject).unlink(missing_ok=True)


def trial_frame(subject: str, trial: str, t_end, X, names, notes=None) -> pd.DataFrame:
    """One trial's rows: window index = position on the grid."""
    X = np.asarray(X, dtype=np.float64)
    n = X.shape[0]
    t_end = np.asarray(t_end, dtype=np.float64)
    if t_end.shape[0] != n:
        raise ValueError(f"{n} rows but {t_end.shape[0]} window ends")
    if X.ndim != 2 or X.shape[1] != len(names):
        raise ValueError(f"features {X.shape} vs {len(names)} names")
    meta = pd.DataFrame({"subject": pd.Series([str(subject)] * n, dtype=str),
                         "trial": pd.Series([str(trial)] * n, dtype=str),
                         "window": np.arange(n, dtype=np.int64), "t_end": t_end,
                         "note": pd.Series(list(notes) if notes is not None else [""] * n,
                                           dtype=str)})
    feats = pd.DataFrame(X, columns=list(names))
    return pd.concat([meta, feats], axis=1)


def write(store: str | Path, modality: str, subject: str, df: pd.DataFrame,
          produced_by: dict | None = None) -> Path:
    """Write one subject's frame atomically; returns the final path. With ``produced_by``
    the record is written first, from the temporary file, and the file renamed into place
    after it: a run killed in between leaves a record without a file (recomputed), never a
    file without its record."""
    p = path_of(store, modality, subject)
    cols = LABEL_COLS if modality == "labels" else META_COLS
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(f"frame for {modality}/{subject} lacks columns {missing}")
    with atomic_path(p) as tmp:
        write_parquet(df, tmp)
        if produced_by is not None:
            write_record(store, modality, subject, produced_by, output=tmp)
    return p


def write_parquet(df: pd.DataFrame, path: str | Path) -> None:
    """Write ``df`` as parquet bytes that depend on the data and on pyarrow's writer only.

    pandas adds its own version and dtype names to the file (``pandas`` schema metadata), and
    pyarrow the Arrow schema (``ARROW:schema``), whose string type differs between pandas 2
    (``object`` -> string) and pandas 3 (``str`` -> large_string): both are left out, and string
    columns are written as plain parquet strings, so the same frame gives the same file under
    pandas 2 and 3. pyarrow still writes its own version in the footer's ``created_by`` field
    (no option changes it): pyarrow is pinned in ``requirements/lock.txt``. Reading back gives
    int64/float64 columns as they were and ``str`` (pandas 3) or ``object`` (pandas 2) strings.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq
    table = pa.Table.from_pandas(df.reset_index(drop=True), preserve_index=False)
    fields = [pa.field(f.name, pa.string()) if pa.types.is_large_string(f.type) else f
              for f in table.schema]
    table = table.cast(pa.schema(fields)).replace_schema_metadata(None)
    pq.write_table(table, str(path), store_schema=False)


def read(store: str | Path, modality: str, subject: str) -> pd.DataFrame:
    p = path_of(store, modality, subject)
    if not p.is_file():
        raise FileNotFoundError(f"no {modality} features for subject {subject} ({p})")
    return pd.read_parquet(p)


def subjects(store: str | Path, modality: str) -> list[str]:
    folder = Path(store) / modality
    return sorted(p.stem for p in folder.glob("*.parquet") if not p.name.startswith("."))


def feature_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c not in META_COLS]


def labels_frame(subject) -> pd.DataFrame:
    """``labels`` rows of a Subject: ``subject, trial, order, category, panas_<Item>...``
    (NaN where a trial has no score; items in the order first met)."""
    items: list[str] = []
    for t in subject.trials:
        for it in t.panas_items or []:
            if it not in items:
                items.append(it)
    rows = []
    for t in subject.trials:
        row = {"subject": str(subject.subject_id), "trial": str(t.trial_id),
               "order": int(t.order), "category": "" if t.category is None else str(t.category)}
        scores = dict(zip(t.panas_items or [], np.asarray(t.panas, dtype=float).ravel()
                          if t.panas is not None else []))
        for it in items:
            row[f"panas_{it}"] = float(scores.get(it, np.nan))
        rows.append(row)
    df = pd.DataFrame(rows, columns=LABEL_COLS + [f"panas_{it}" for it in items])
    return df.astype({"subject": str, "trial": str, "order": np.int64, "category": str})
