"""Self-reports of the ``bids`` layout: the subject's ``beh/*_beh.tsv`` tables, one row per trial
(keyed by ``trial``) or one row per condition (keyed by ``trial_type``).

A table with a ``trial`` column is keyed by it: each row is the self-report of the trial whose
id (:mod:`helo.data.bids.events`) is that value. A table with a ``trial_type`` column and no
``trial`` column is keyed by condition: each row applies to every trial of that ``trial_type``
(a design that asks once per condition, or that gives each condition a fixed target label).
The label columns are PANAS items (``Inspired`` ... ``Distressed``, case-insensitive, scores
1-5, ``n/a`` allowed) or ``label__<item>`` (a distribution summing to 1, or scores that are
normalised with a warning); any other numeric column goes to ``Trial.extra`` under its lower-case
name. A key in two rows (of one table or two) is an error naming both rows; so is a trial that
both a trial row and a condition row would label.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from helo.data.base import ProblemCollector, Trial
from helo.data.bids.tables import read_tsv, two_rows, where
from helo.data.labels import DMER_PANAS, WESAD_PANAS, WESAD_PANAS_TSST

__all__ = ["Report", "SelfReports", "read_reports", "unused"]

_PANAS = {it.lower(): it for it in [*DMER_PANAS, *WESAD_PANAS, *WESAD_PANAS_TSST]}
_SUM_TOL = 1e-4
#: what a key column keys, as messages say it
_KEY_WORD = {"trial": "trial", "trial_type": "condition (trial_type)"}


@dataclass
class Report:
    """One self-report row: the label values in ``items`` order, what they are (``kind``:
    ``scores`` or ``distribution``), the distribution of ``label__`` columns, the extra numeric
    columns, and where the row is (``path``, ``line``) and what keys it (``key_column``,
    ``key``)."""

    values: np.ndarray
    items: list[str]
    kind: str
    extra: dict
    path: Path
    line: int
    key_column: str
    key: str
    distribution: np.ndarray | None = None

    def trial(self, trial_id: str, category: str | None) -> Trial:
        """The :class:`Trial` this report labels, under ``trial_id``."""
        extra = dict(self.extra)
        if self.distribution is not None:
            extra.update(distribution=self.distribution, label_kind=self.kind)
        return Trial(trial_id=trial_id, category=category,
                     panas=np.asarray(self.values, float), panas_items=list(self.items),
                     extra=extra)


@dataclass
class SelfReports:
    """A subject's self-reports: ``by_trial`` (trial id -> report) and ``by_type`` (trial_type
    -> report)."""

    by_trial: dict[str, Report] = field(default_factory=dict)
    by_type: dict[str, Report] = field(default_factory=dict)

    def find(self, trial_id: str, trial_type: str | None, at: tuple,
             col: ProblemCollector) -> Report | None:
        """The report of the event ``at`` (``(path, line, onset)``) with id ``trial_id`` and
        ``trial_type``: its trial row, or its condition's row, or None. Both existing is an
        error naming the event and the two rows."""
        own = self.by_trial.get(trial_id)
        cond = self.by_type.get(trial_type) if trial_type is not None else None
        if own is not None and cond is not None and own is not cond:
            raise col.fail(f"the event at {where(*at)} (trial {trial_id!r}, trial_type "
                           f"{trial_type!r}) has two self-reports: its trial's row "
                           f"({where(own.path, own.line)}) and its condition's row "
                           f"({where(cond.path, cond.line)}); keep one", at[0])
        return own or cond


def read_reports(paths: list[Path], folder: Path, col: ProblemCollector,
                 tasks_hint: Callable[[Path, Path], str]) -> SelfReports:
    """Every self-report of a subject from its ``_beh.tsv`` tables (``paths``; none is an error
    naming ``folder``/beh). ``tasks_hint(first, second)``: advice for a key found in tables of
    two tasks (the message's tail)."""
    if not paths:
        raise col.fail("no self-report table (beh/sub-<label>_task-<task>_beh.tsv)",
                       folder / "beh")
    out = SelfReports()
    for path in paths:
        df = read_tsv(path, col, dtype={"trial": str, "trial_type": str})
        key_column = ("trial" if "trial" in df.columns else
                      "trial_type" if "trial_type" in df.columns else None)
        if key_column is None:
            raise col.fail(f"column 'trial' is missing (columns: {list(df.columns)}): a "
                           "self-report table needs a trial column (one row per trial) or a "
                           "trial_type column (one row per condition, applying to every trial "
                           "of that trial_type)", path)
        label_cols = [c for c in df.columns if c.startswith("label__")]
        panas_cols = [c for c in df.columns if c.lower() in _PANAS]
        if label_cols and panas_cols:
            raise col.fail(f"both label__ columns {label_cols[:3]} and PANAS item columns "
                           f"{panas_cols[:3]}: keep one kind of label", path)
        if not label_cols and not panas_cols:
            raise col.fail("no label columns: need PANAS item columns (Inspired, ...) or "
                           "label__<item> columns", path)
        cols = label_cols or panas_cols
        items = [c[len("label__"):] for c in label_cols] or [_PANAS[c.lower()] for c in cols]
        others = [c for c in df.columns if c not in cols and c != key_column]
        table = out.by_trial if key_column == "trial" else out.by_type
        what = _KEY_WORD[key_column]
        for i, row in df.iterrows():
            line = int(i) + 2
            key = row[key_column]
            if not isinstance(key, str) or not key.strip():
                raise col.fail(f"row {line}: empty {key_column}", path)
            key = key.strip()
            if key in table:
                first = table[key]
                raise col.fail(f"{what} {key!r} has two self-report rows "
                               f"({two_rows((first.path, first.line), (path, line))})"
                               f"{tasks_hint(first.path, path)}", path)
            table[key] = _report(row, cols, items, others, bool(label_cols), path, line,
                                 key_column, key, col)
    return out


def _report(row, cols, items, others, distributions: bool, path: Path, line: int,
            key_column: str, key: str, col: ProblemCollector) -> Report:
    """One row's :class:`Report`, its values checked."""
    name = f"row {line} ({'trial' if key_column == 'trial' else 'trial_type'} {key})"
    try:
        vals = np.array([float(row[c]) for c in cols])
    except (TypeError, ValueError):
        raise col.fail(f"{name}: a label value is not a number", path) from None
    if np.isinf(vals).any():
        raise col.fail(f"{name}: a label value is infinite", path)
    rep = Report(vals, list(items), "scores", {}, path, line, key_column, key)
    if distributions:
        if np.isnan(vals).any() or (vals < 0).any() or vals.sum() <= 0:
            raise col.fail(f"{name}: label values must be non-negative numbers, not all zero: "
                           f"{vals.tolist()}", path)
        s = vals.sum()
        rep.kind = "distribution" if abs(s - 1) <= _SUM_TOL else "scores"
        if rep.kind == "scores":
            col.warn(f"{key_column} {key}: label__ values sum to {s:.6g}, not 1; normalised "
                     "as scores", path)
        rep.distribution = vals / s
    else:
        ok = vals[~np.isnan(vals)]
        if ((ok < 1) | (ok > 5)).any():
            col.warn(f"{key_column} {key}: PANAS score outside 1..5", path)
    for c in others:
        try:
            rep.extra[c.lower()] = float(row[c])
        except (TypeError, ValueError):
            pass  # a text column (notes, condition names): not a self-report value
    return rep


def unused(reports: SelfReports, matched: set[int]) -> list[Report]:
    """The reports no trial took (``matched``: the ids of the reports taken)."""
    return [r for r in (*reports.by_trial.values(), *reports.by_type.values())
            if id(r) not in matched]

