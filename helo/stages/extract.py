"""The extraction stage: per subject and modality, features on the shared grid -> the store.

``extract_subject`` is a top-level, picklable function of plain arguments (so any
``concurrent.futures.Executor`` can run it: a process pool, a dask.distributed Client's
``get_executor()``, ...); it reads only the modality it needs, computes and writes one parquet
atomically, and skips a subject whose file is *current* unless ``force``: complete, and
recorded (:func:`helo.data.store.write_record`) as produced by this very extraction
(:func:`produced_by`: the data root resolved, layout, reader options, modality, a digest of the
feature params, a digest of the extraction code and the size and mtime of the subject's source
files). Any difference -- another ``data.root``, other reader options or feature params, an
edited source file, changed code, a file without a record -- recomputes the subject, so a
re-run by hand never keeps another dataset's features; an unchanged re-run still skips.
``run_extract`` runs every subject, catches each subject's failure so the others go on, and
writes ``<store>/<modality>/_summary.json`` (every failed subject with its reason). The stage
(:func:`run`) then fails when any subject failed, unless partial results are allowed
(``--allow-partial`` / ``orchestrator.allow_partial``); no subject at all is always an error
(naming the layouts the folder looks like). Before it starts, a run removes the ``.tmp-*``
leftovers of a killed run and the files of subjects no longer under the root; a subject
recomputed (``force`` or not current) loses its file and record first, so a failure never
leaves the previous inputs' features for ``assemble`` to use.

Params (a flat dict, ``features.common`` merged with ``features.<modality>``): see
:mod:`helo.features` for the full table. ``step_s`` (1.0) and ``longest_window_s`` (5.0) fix the
grid; ``window_s`` the modality's window; EEG ``bands``/``method``/``filter``/``transition_hz``/
``resample``; video ``face_size``/``detect_every``/``detector``/``detect_width``/``min_face``/
``redetect_every``/``points``/``radius``/``time_radius``/``per_trial``/``lbp_ties``; ECG
``context_s``; EDA ``work_fs``. The pseudo-modality ``labels`` takes none.

Precomputed layouts (``Trial.features`` filled: dmer-features, dmer-subject-features, generic)
are stored as given: row ``w`` of a block is window ``w`` of the grid
(``t_end = L + w * step``), columns named
by :func:`helo.features.block_names` -- helo's own names for what helo computes (so the DMER
features release and features extracted from DMER recordings get the same columns), the
source's ``<modality>__<feature>`` for anything else.
"""
from __future__ import annotations

import hashlib
import json
import time
import traceback
from concurrent.futures import Executor, as_completed
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from helo.data import store as S
from helo.data.base import DataError, dataset_files, source_identity
from helo.io import clean_tmp, write_json

if TYPE_CHECKING:
    from helo.stages.schema import Params


#: why a subject is skipped: its file is current (see the module docstring)
UP_TO_DATE = "up to date (same data root, reader options, params, code and source files)"


def _open(layout, root, reader_options: dict | None = None):
    from helo.data import open_reader
    return open_reader(layout, root, **(reader_options or {}))


def _plain(obj):
    """JSON stand-in for a value ``json`` cannot write: NumPy values as Python ones, paths as
    text, sets sorted, anything else (a callable detector in tests) as its qualified name,
    stable across processes (``repr`` would hold a memory address)."""
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, (set, frozenset)):
        return sorted(obj, key=repr)
    name = getattr(obj, "__qualname__", None) or type(obj).__qualname__
    return f"<{getattr(obj, '__module__', '?')}.{name}>"


def _digest(obj) -> str:
    text = json.dumps(obj, sort_keys=True, default=_plain, allow_nan=True)
    return hashlib.sha256(text.encode()).hexdigest()


@lru_cache(maxsize=1)
def code_digest() -> str:
    """SHA-256 over the code extraction runs: the readers (``helo/data``), the feature code
    (``helo/features``), ``helo/io.py`` and this module, file by file in path order. Broader
    than one modality's import closure (an edit to any reader recomputes every modality), which
    errs on the side of recomputing."""
    pkg = Path(__file__).resolve().parents[1]
    files = sorted([*(pkg / "data").rglob("*.py"), *(pkg / "features").rglob("*.py"),
                    pkg / "io.py", Path(__file__).resolve()])
    h = hashlib.sha256()
    for f in files:
        h.update(f.relative_to(pkg).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()


def source_files(reader, root, subject: str) -> list[Path]:
    """The files ``subject``'s features may come from: the reader's ``source_files`` when it has
    one, else every file under the root (any change anywhere then recomputes every subject)."""
    if hasattr(reader, "source_files"):
        return list(reader.source_files(subject))
    return dataset_files(root, [root])


def produced_by(reader, layout: str, root, subject: str, modality: str, params: dict | None,
                reader_options: dict | None) -> dict:
    """What the store records as having produced ``subject``'s ``modality`` file: compared as a
    whole, so any field that differs makes the file outdated. File identity is size and mtime
    (``make``'s rule): a source replaced or edited in place changes it without reading the
    data."""
    root = Path(root)
    sources = source_identity(root, source_files(reader, root, subject))
    return {"layout": layout, "root": str(root.resolve()), "modality": modality,
            "reader_options": dict(sorted((reader_options or {}).items())),
            "params_sha256": _digest(params or {}), "code_sha256": code_digest(),
            "sources_sha256": _digest(sources), "n_sources": len(sources)}


def subject_frame(subject, modality: str, params: dict | None = None, status: dict | None = None):
    """The store frame of one already-read Subject (no I/O besides video decoding)."""
    from helo.features import block_names, trial_features
    params = params or {}
    status = status if status is not None else {}
    notes = status.setdefault("notes", [])
    if modality == "labels":
        return S.labels_frame(subject)
    L = float(params.get("longest_window_s", 5.0))
    step = float(params.get("step_s", 1.0))
    frames, names = [], None
    info: dict = {}
    for trial in subject.trials:
        block = trial.features.get(modality) if trial.features else None
        try:
            if block is not None:
                X = np.asarray(block.values, dtype=np.float64)
                tn = block_names(modality, block, params)
                ends = L + step * np.arange(X.shape[0])
                tnotes = ["" if np.isfinite(r).all() else f"{modality}: NaN in precomputed row"
                          for r in X]
            elif modality in trial.signals or (modality == "video" and (
                    trial.video is not None or "frames" in (trial.extra or {}))):
                X, tn, tnotes = trial_features(trial, modality, params, info)
                ends = L + step * np.arange(X.shape[0])
            else:
                notes.append(f"trial {trial.trial_id}: no {modality} data")
                continue
        except Exception as err:  # one bad trial (unreadable video...) must not sink the subject
            notes.append(f"trial {trial.trial_id}: {type(err).__name__}: {err}")
            status.setdefault("trial_errors", []).append(
                {"trial": trial.trial_id, "error": f"{type(err).__name__}: {err}",
                 "where": traceback.format_exc(limit=3).splitlines()[-1]})
            continue
        if X.shape[0] == 0:
            notes.append(f"trial {trial.trial_id}: shorter than one window "
                         f"({L:g} s): no rows")
            continue
        if names is None:
            names = list(tn)
        elif list(tn) != names:
            raise DataError(f"trial {trial.trial_id}: {modality} feature names differ from the "
                            f"subject's other trials ({len(tn)} vs {len(names)} columns)",
                            subject=subject.subject_id)
        frames.append(S.trial_frame(subject.subject_id, trial.trial_id, ends, X, tn, tnotes))
    status["n_fallback"] = int(info.get("n_fallback", 0))
    notes.extend(info.get("video_notes", []))
    if not frames:
        raise DataError(f"no {modality} windows in any trial ({'; '.join(notes[:5])})",
                        subject=subject.subject_id)
    import pandas as pd
    df = pd.concat(frames, ignore_index=True)
    status["nan_rows"] = int((df["note"] != "").sum())
    return df


def extract_subject(layout: str, root, subject: str, modality: str, store, params: dict | None
                    = None, force: bool = False, reader_options: dict | None = None) -> dict:
    """Extract one subject's ``modality`` into ``store``; returns a status dict
    ``{subject, status: done|skipped, rows, seconds, n_fallback, nan_rows, notes}``.
    Raises DataError when the subject cannot be read or yields no window. ``reader_options``:
    the layout's reader options (:func:`helo.stages.common.reader_options`)."""
    t0 = time.perf_counter()
    status = {"subject": str(subject), "modality": modality}
    reader = _open(layout, root, reader_options)
    made_by = produced_by(reader, layout, root, str(subject), modality, params, reader_options)
    if not force and S.current(store, modality, str(subject), made_by):
        status.update(status="skipped", reason=UP_TO_DATE)
        return status
    # a failure below must not leave the previous inputs' file behind
    S.remove(store, modality, str(subject))
    subj = reader.read_subject(str(subject), modalities=[] if modality == "labels"
                               else [modality])
    df = subject_frame(subj, modality, params, status)
    S.write(store, modality, str(subject), df, produced_by=made_by)
    status.update(status="done", rows=int(len(df)), seconds=round(time.perf_counter() - t0, 3))
    if subj.warnings:
        status.setdefault("notes", []).extend(subj.warnings)
    return status


def run(cfg: Params, modality: str, *, executor: Executor | None = None, force: bool = False,
        progress: bool = True) -> dict:
    """Stage ``extract@<modality>`` (``labels``: the self-reports) from ``params.yaml``."""
    from helo.stages.common import (
        STORE,
        config_of,
        data_source,
        reader_options,
        require_complete,
        write_timing,
    )
    cfg = config_of(cfg)
    layout, root = data_source(cfg)
    fp = cfg.features.for_modality(modality) if modality != "labels" else {}
    summary = run_extract(layout, root, STORE, modality, fp, executor=executor, force=force,
                          progress=progress, reader_options=reader_options(cfg))
    write_timing(f"extract/{modality}", {"seconds": summary["seconds"]})
    require_complete(f"extract {modality}", summary["failed"], cfg,
                     total=summary["n_subjects"], where=str(STORE / modality / "_summary.json"))
    return summary


def run_extract(layout: str, root, store, modality: str, params: dict | None = None,
                subjects=None, executor: Executor | None = None,
                force: bool = False, progress: bool = True,
                reader_options: dict | None = None) -> dict:
    """Extract ``modality`` for every subject (or ``subjects``): each subject one call on
    ``executor`` (None: one after the other in this process); returns and writes the summary
    ``{modality, done, skipped, failed, n_fallback, notes, seconds}``."""
    t0 = time.perf_counter()
    params = dict(params or {})
    store = Path(store)
    S.safe_id(modality, what="modality name")
    clean_tmp(store / modality)  # leftovers of a killed run
    clean_tmp(store / S.RECORDS / modality)
    listed = subjects is None
    reader = _open(layout, root, reader_options)
    if listed:
        subjects = reader.subjects()
        if not subjects:
            from helo.data import no_subjects_message
            raise DataError(no_subjects_message(layout, root))
    subjects = [str(s) for s in subjects]
    # one person under two ids (a copied folder) would sit on both sides of a LOSO fold
    dups = reader.duplicate_subjects() if hasattr(reader, "duplicate_subjects") else {}
    summary = {"modality": modality, "layout": layout, "root": str(root), "params": {
        k: v for k, v in params.items() if isinstance(v, (int, float, str, bool, list, dict,
                                                           type(None)))},
        "n_subjects": len(subjects),
        "done": [], "skipped": [], "failed": [], "n_fallback": {}, "notes": {}, "rows": 0}
    todo = []
    safe = []
    for sid in subjects:  # an id that cannot be a file name fails alone; the others go on
        try:
            safe.append(S.safe_id(sid, path=root))
        except DataError as err:
            summary["failed"].append({"subject": sid, "reason": str(err)})
            continue
        if sid in dups:
            safe.pop()
            summary["failed"].append({"subject": sid, "reason": f"subject {sid}: {dups[sid]}"})
    if listed:  # files of subjects no longer under root would be read by assemble: remove
        stale = sorted(set(S.subjects(store, modality)) - set(safe))
        for sid in stale:
            S.remove(store, modality, sid)
        if stale:
            summary["removed_stale"] = stale
    for sid in safe:
        if not force and S.current(store, modality, sid, produced_by(
                reader, layout, root, sid, modality, params, reader_options)):
            summary["skipped"].append({"subject": sid, "reason": UP_TO_DATE})
        else:
            todo.append(sid)

    def record(sid, res=None, err=None):
        if err is not None:
            reason = str(err) if isinstance(err, DataError) else f"{type(err).__name__}: {err}"
            summary["failed"].append({"subject": sid, "reason": reason})
            return
        if res.get("status") == "skipped":
            summary["skipped"].append({"subject": sid, "reason": res.get("reason", "")})
            return
        summary["done"].append(sid)
        summary["rows"] += int(res.get("rows", 0))
        if res.get("n_fallback"):
            summary["n_fallback"][sid] = res["n_fallback"]
        if res.get("notes"):
            summary["notes"][sid] = res["notes"][:50]
        if res.get("trial_errors"):
            summary.setdefault("trial_errors", {})[sid] = res["trial_errors"]

    bar = _bar(len(todo), f"extract {modality}", progress)
    args = (layout, str(root))
    try:
        if executor is None:
            for sid in todo:
                try:
                    record(sid, extract_subject(*args, sid, modality, str(store), params, force,
                                                reader_options=reader_options))
                except Exception as err:
                    record(sid, err=err)
                bar.update(1)
        else:
            futs = {executor.submit(extract_subject, *args, sid, modality, str(store), params,
                                    force, reader_options=reader_options): sid for sid in todo}
            for fut in as_completed(futs):
                sid = futs[fut]
                try:
                    record(sid, fut.result())
                except Exception as err:
                    record(sid, err=err)
                bar.update(1)
    finally:
        bar.close()
    # subjects finish in any order on a pool: the summary (a DVC output) lists them in the
    # reader's order, so the same run gives the same bytes
    order = {sid: i for i, sid in enumerate(safe)}
    summary["done"].sort(key=lambda sid: order.get(sid, len(order)))
    for key in ("failed", "skipped"):
        summary[key].sort(key=lambda e: order.get(e["subject"], len(order)))
    for key in ("n_fallback", "notes", "trial_errors"):
        if key in summary:
            summary[key] = dict(sorted(summary[key].items(),
                                       key=lambda kv: order.get(kv[0], len(order))))
    summary["n_fallback_total"] = int(sum(summary["n_fallback"].values()))
    write_json(store / modality / "_summary.json", summary)  # no timings: a DVC output
    summary["seconds"] = round(time.perf_counter() - t0, 3)
    return summary


class _NoBar:
    def update(self, n=1):
        pass

    def close(self):
        pass


def _bar(total, desc, progress):
    if not progress:
        return _NoBar()
    from tqdm.auto import tqdm
    return tqdm(total=total, desc=desc, unit="subject")
