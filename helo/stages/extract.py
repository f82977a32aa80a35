"""The extraction stage: per subject and modality, features on the shared grid -> the store.

``extract_subject`` is a top-level, picklable function of plain arguments (so any
``concurrent.futures.Executor`` can run it: a process pool, a dask.distributed Client's
``get_executor()``, ...); it reads only the modality it needs, computes and writes one parquet
atomically, and skips a subject whose file is already complete unless ``force``.
``run_extract`` runs every subject, catches each subject's failure so the others go on, and
writes ``<store>/<modality>/_summary.json`` (every failed subject with its reason). The stage
(:func:`run`) then fails when any subject failed, unless partial results are allowed
(``--allow-partial`` / ``orchestrator.allow_partial``); no subject at all is always an error
(naming the layouts the folder looks like). Before it starts, a run removes the ``.tmp-*``
leftovers of a killed run and the files of subjects no longer under the root; ``force``
deletes a subject's file before recomputing it, so a failure never leaves the previous
parameters' features for ``assemble`` to use.

Params (a flat dict, ``features.common`` merged with ``features.<modality>``): see
:mod:`helo.features` for the full table. ``step_s`` (1.0) and ``longest_window_s`` (5.0) fix the
grid; ``window_s`` the modality's window; EEG ``bands``/``method``/``filter``/``transition_hz``/
``resample``; video ``face_size``/``detect_every``/``detector``/``detect_width``/``min_face``/
``points``/``radius``/``time_radius``/``per_trial``/``lbp_ties``; ECG ``context_s``; EDA
``work_fs``. The pseudo-modality ``labels`` takes none.

Precomputed layouts (``Trial.features`` filled: dmer-features, dmer-subject-features, generic)
are stored as given: row ``w`` of a block is window ``w`` of the grid (``t_end = L + w * step``), columns named
by :func:`helo.features.block_names` -- helo's own names for what helo computes (so the DMER
features release and features extracted from DMER recordings get the same columns), the
source's ``<modality>__<feature>`` for anything else.
"""
from __future__ import annotations

import time
import traceback
from concurrent.futures import Executor, as_completed
from pathlib import Path

import numpy as np

from helo.data import store as S
from helo.data.base import DataError
from helo.io import clean_tmp, write_json


def _open(layout, root, reader_options: dict | None = None):
    from helo.data import open_reader
    return open_reader(layout, root, **(reader_options or {}))


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
    if not force and S.done(store, modality, subject):
        status.update(status="skipped", reason="output exists")
        return status
    if force:  # a failure below must not leave the previous parameters' file behind
        S.path_of(store, modality, str(subject)).unlink(missing_ok=True)
    reader = _open(layout, root, reader_options)
    subj = reader.read_subject(str(subject), modalities=[] if modality == "labels"
                               else [modality])
    df = subject_frame(subj, modality, params, status)
    S.write(store, modality, str(subject), df)
    status.update(status="done", rows=int(len(df)), seconds=round(time.perf_counter() - t0, 3))
    if subj.warnings:
        status.setdefault("notes", []).extend(subj.warnings)
    return status


def run(params: dict, modality: str, *, executor: Executor | None = None, force: bool = False,
        progress: bool = True) -> dict:
    """Stage ``extract@<modality>`` (``labels``: the self-reports) from ``params.yaml``."""
    from helo.stages.common import (STORE, data_source, feature_params, reader_options,
                                    require_complete, write_timing)
    layout, root = data_source(params)
    fp = feature_params(params, modality) if modality != "labels" else {}
    summary = run_extract(layout, root, STORE, modality, fp, executor=executor, force=force,
                          progress=progress, reader_options=reader_options(params))
    write_timing(f"extract/{modality}", {"seconds": summary["seconds"]})
    require_complete(f"extract {modality}", summary["failed"], params,
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
            S.path_of(store, modality, sid).unlink(missing_ok=True)
        if stale:
            summary["removed_stale"] = stale
    for sid in safe:
        if not force and S.done(store, modality, sid):
            summary["skipped"].append({"subject": sid, "reason": "output exists"})
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
