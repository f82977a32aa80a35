"""Trials of the ``bids`` layout: which rows of a subject's ``_events.tsv`` files are trials, what
each is called, and how long it lasts (``data.events`` in params.yaml: :class:`EventRules`).

Real EEG datasets mark a stimulus as an instant (``duration`` 0 or ``n/a``) and repeat a
condition many times under one ``trial_type`` (PhysioNet's EEG Motor Movement/Imagery set: T0,
T1, T2, thirty events a run, no ``trial`` column). Three settings read them as they are written:

``trial_types`` (``data.events.trial_types``)
    The ``trial_type`` values that are trials. None (default): every row whose trial id has a
    self-report; rows without one (rest, practice, fixation markers) are skipped with a
    warning. A list: exactly the rows of those types, each of which must then have a
    self-report (an error names the row otherwise); rows of other types are skipped silently,
    and a self-report of such a row is left unused with a warning.
``duration_s`` (``data.events.duration_s``)
    None (default): each trial lasts its row's ``duration``; a duration of 0 or ``n/a`` (an
    instant) is an error naming the row and this setting. A positive number: *every* trial
    lasts that many seconds from its onset, whatever its row's duration, so that all trials of
    a dataset are cut alike; a row whose own positive duration differs is overridden with a
    warning that gives the file's durations. (Filling in only the instants would mix lengths
    silently in a file that has both; a dataset that wants its own durations keeps None.) A
    negative or infinite duration is an error either way.
``ids`` (``data.events.ids``)
    ``trial`` (default): a row's trial id is its ``trial`` column when the file has one, else
    its ``trial_type``. ``numbered``: ``<trial_type>-<k>``, k = 1, 2, ... counting that
    ``trial_type``'s rows in onset order over the subject's recordings in order (session, task,
    run: file-name order with numbers compared as numbers, so run-2 comes before run-10); the
    ``trial`` column is then not used. Ids never depend on the self-reports, so ``T1-3`` is the
    third T1 event whether or not the first two have a report.

Every trial id must be unique per subject, across runs and tasks; two events with one id are
an error naming both rows (file, row, onset) and the setting that fixes it. Self-reports are
matched to a trial by its id (a ``beh`` row keyed by ``trial``) or by its ``trial_type`` (a row
keyed by ``trial_type``, for every trial of that condition; :mod:`helo.data.bids.reports`).
A self-report that no event takes is an error (an unused one of a type left out by
``trial_types``: a warning).

The rows a message names are counted as lines of the file, the header being row 1.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from helo.data.base import ProblemCollector
from helo.data.bids.reports import Report, SelfReports, unused
from helo.data.bids.tables import read_tsv, two_rows, where

__all__ = ["EventRules", "Event", "Trialled", "IDS", "read_events", "assign_ids",
           "select_trials"]

#: the ways of naming trials (``data.events.ids``)
IDS = ("trial", "numbered")


@dataclass(frozen=True)
class EventRules:
    """``data.events``: which event rows are trials (``trial_types``, None: those with a
    self-report), how long a trial lasts (``duration_s``, None: its row's duration) and how
    trials are named (``ids``: ``trial`` or ``numbered``); see the module docstring."""

    trial_types: tuple[str, ...] | None = None
    duration_s: float | None = None
    ids: str = "trial"

    def __post_init__(self):
        if self.ids not in IDS:
            raise ValueError(f"ids must be one of {', '.join(IDS)}, not {self.ids!r}")
        if self.duration_s is not None:
            d = self.duration_s
            if isinstance(d, bool) or not isinstance(d, (int, float)) or not (
                    math.isfinite(d) and d > 0):
                raise ValueError(f"duration_s must be a finite number of seconds > 0, not {d!r}")
            object.__setattr__(self, "duration_s", float(d))
        if self.trial_types is not None:
            types = self.trial_types
            if isinstance(types, str) or not isinstance(types, (list, tuple)) or not types \
                    or not all(isinstance(t, str) and t.strip() for t in types):
                raise ValueError(f"trial_types must be a non-empty list of trial_type names, "
                                 f"not {types!r}")
            object.__setattr__(self, "trial_types", tuple(t.strip() for t in types))


@dataclass
class Event:
    """One row of an events file that names something (a ``trial`` or a ``trial_type``):
    where it is (``path``, ``line``), its ``onset`` and ``duration`` as written (NaN for
    ``n/a``), its ``trial_type`` and ``trial`` cells (None when empty or absent), whether its
    file has a ``trial`` column (``file_has_trial``), and, once
    :func:`assign_ids` ran, its ``trial_id`` and what that came from (``id_from``: ``trial``,
    ``trial_type`` or ``numbered``)."""

    path: Path
    line: int
    onset: float
    duration: float
    trial_type: str | None
    trial: str | None
    file_has_trial: bool = False
    trial_id: str | None = None
    id_from: str = ""

    @property
    def at(self) -> tuple:
        """``(path, line, onset)``: how messages name the row."""
        return self.path, self.line, self.onset

    @property
    def category(self) -> str | None:
        """``Trial.category``: the ``trial_type``, when the id is not the ``trial_type``
        itself."""
        return self.trial_type if self.id_from in ("trial", "numbered") else None

    @property
    def instantaneous(self) -> bool:
        return math.isnan(self.duration) or self.duration == 0


@dataclass
class Trialled:
    """An event that is a trial: the event, its self-report and its length in seconds."""

    event: Event
    report: Report
    span: float

    def row(self) -> tuple:
        """``(trial id, onset, seconds, category)``: what cutting the signals needs."""
        return self.event.trial_id, self.event.onset, self.span, self.event.category


def _cell(value) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def read_events(path: Path, rules: EventRules, col: ProblemCollector) -> list[Event]:
    """The rows of ``path`` that name something, in file order. Needs ``onset`` and
    ``duration`` columns, and a ``trial_type`` column when ``rules`` select or number by it
    (else a ``trial`` or ``trial_type`` column); DataError naming the file otherwise, or a row
    whose onset or duration is not a number (``n/a`` is allowed: NaN)."""
    df = read_tsv(path, col, dtype={"trial": str, "trial_type": str})
    for c in ("onset", "duration"):
        if c not in df.columns:
            raise col.fail(f"column {c!r} is missing (columns: {list(df.columns)})", path)
    if "trial_type" not in df.columns:
        for key, value in (("ids", "numbered" if rules.ids == "numbered" else None),
                           ("trial_types", rules.trial_types)):
            if value is not None:
                raise col.fail(f"column 'trial_type' is missing (columns: {list(df.columns)}), "
                               f"but data.events.{key} is {value!r}, which goes by trial_type",
                               path)
    if "trial" not in df.columns and "trial_type" not in df.columns:
        raise col.fail("events need a trial or trial_type column to identify trials", path)
    out, has_trial = [], "trial" in df.columns
    for i, row in df.iterrows():
        line = int(i) + 2
        trial_type, trial = _cell(row.get("trial_type")), _cell(row.get("trial"))
        if trial_type is None and trial is None:
            continue
        try:
            onset, dur = float(row["onset"]), float(row["duration"])
        except (TypeError, ValueError):
            raise col.fail(f"row {line}: onset/duration not numeric", path) from None
        out.append(Event(path, line, onset, dur, trial_type, trial, has_trial))
    return out


def assign_ids(recordings: Sequence[list[Event]], rules: EventRules,
               col: ProblemCollector) -> None:
    """Set every event's ``trial_id`` (None: the row names no trial) by ``rules.ids``;
    ``recordings``: the subject's events, one list per recording, in recording order."""
    if rules.ids == "trial":
        for events in recordings:
            for ev in events:
                ev.id_from = "trial" if ev.file_has_trial else "trial_type"
                ev.trial_id = ev.trial if ev.file_has_trial else ev.trial_type
        return
    counts: dict[str, int] = {}
    for events in recordings:
        typed = [ev for ev in events if ev.trial_type is not None]
        for ev in typed:
            if not math.isfinite(ev.onset):
                raise col.fail(f"{where(ev.path, ev.line)}: onset {ev.onset} is not a number "
                               f"of seconds, so the {ev.trial_type!r} events cannot be numbered "
                               f"in onset order (data.events.ids: numbered)", ev.path)
        for ev in sorted(typed, key=lambda e: e.onset):  # stable: ties keep file order
            counts[ev.trial_type] = counts.get(ev.trial_type, 0) + 1
            ev.trial_id = f"{ev.trial_type}-{counts[ev.trial_type]}"
            ev.id_from = "numbered"


def select_trials(recordings: Sequence[list[Event]], reports: SelfReports, rules: EventRules,
                  col: ProblemCollector,
                  tasks_hint: Callable[[Path, Path], str]) -> list[list[Trialled]]:
    """The trials of each recording (in onset order), each with its self-report and span, after
    :func:`assign_ids`. Raises DataError for two events with one id, a trial without a
    usable span, a selected trial_type without a self-report, and a self-report that no
    event takes; warns about skipped rows. ``tasks_hint(first, second)``: advice for an id
    found in files of two tasks (the message's tail)."""
    seen: dict[str, Event] = {}
    matched: set[int] = set()
    left_out: set[str] = set()  # trial ids and trial_types of the rows not selected
    types_seen: set[str] = set()
    chosen: list[list[tuple[Event, Report]]] = []
    for events in recordings:
        rec, skipped = [], []
        for ev in events:
            if ev.trial_type is not None:
                types_seen.add(ev.trial_type)
            if ev.trial_id is None:
                continue
            if rules.trial_types is not None and ev.trial_type not in rules.trial_types:
                left_out.update((ev.trial_id, ev.trial_type))
                continue
            rep = reports.find(ev.trial_id, ev.trial_type, ev.at, col)
            if rep is None:
                if rules.trial_types is not None:
                    raise col.fail(f"{where(*ev.at)}: trial_type {ev.trial_type!r} is one of "
                                   f"data.events.trial_types, but trial {ev.trial_id!r} has no "
                                   f"self-report (no beh row with trial {ev.trial_id!r} or "
                                   f"trial_type {ev.trial_type!r})", ev.path)
                skipped.append(ev.trial_type if ev.id_from == "numbered" else ev.trial_id)
                continue
            if ev.trial_id in seen:
                raise col.fail(_collision(seen[ev.trial_id], ev, rules, tasks_hint), ev.path)
            seen[ev.trial_id] = ev
            matched.add(id(rep))
            rec.append((ev, rep))
        if skipped:  # by trial_type when numbered: T0-1, T0-2, ... would be a long list
            col.warn(f"events without a self-report skipped: {sorted(set(skipped))}"
                     f"{f' ({len(skipped)} rows)' if len(skipped) > len(set(skipped)) else ''}",
                     events[0].path)
        chosen.append(rec)
    if rules.trial_types is not None:
        absent = [t for t in rules.trial_types if t not in types_seen]
        if absent:
            col.warn(f"data.events.trial_types {absent} occur in no events file of this "
                     "subject")
    _unused_reports(reports, matched, left_out, col)
    out = []
    for rec in chosen:
        trials = [Trialled(ev, rep, _span(ev, rules, col)) for ev, rep in rec]
        _note_overridden(trials, rules, col)
        out.append(sorted(trials, key=lambda t: t.event.onset))
    return out


def _collision(first: Event, second: Event, rules: EventRules,
               tasks_hint: Callable[[Path, Path], str]) -> str:
    """The message for two events with one trial id: both rows, and what would fix it."""
    tid = second.trial_id
    msg = (f"trial id {tid!r} is given to two events, {two_rows(first.at, second.at)}: trial "
           f"ids must be unique per subject")
    if second.id_from == "trial_type":
        msg += (f"; to number a condition repeated under one trial_type set data.events.ids: "
                f"numbered (ids {tid}-1, {tid}-2, ... in onset order over the runs), or give the "
                f"events files a trial column")
        if rules.trial_types is None:
            msg += (f"; if {tid!r} marks no trial, list the trial_types that do in "
                    f"data.events.trial_types")
    elif second.id_from == "trial":
        msg += ("; the trial column repeats it: make it unique per subject, or number each "
                "trial_type's events with data.events.ids: numbered")
    msg += tasks_hint(first.path, second.path)
    if rules.duration_s is None and (first.instantaneous or second.instantaneous):
        msg += ("; the events are instantaneous too (duration 0 or n/a): set "
                "data.events.duration_s")
    return msg


def _span(ev: Event, rules: EventRules, col: ProblemCollector) -> float:
    """How long the trial of ``ev`` lasts (s), by ``rules.duration_s`` or its row."""
    name = f"{where(*ev.at)} (trial {ev.trial_id!r})"
    if not math.isfinite(ev.onset):
        raise col.fail(f"{where(ev.path, ev.line)} (trial {ev.trial_id!r}): onset {ev.onset} is "
                       f"not a number of seconds", ev.path)
    d = ev.duration
    if (math.isinf(d) or d < 0):
        raise col.fail(f"{name}: duration {d:g} does not define a span", ev.path)
    if rules.duration_s is not None:
        return rules.duration_s
    if ev.instantaneous:
        written = "n/a" if math.isnan(d) else f"{d:g}"
        raise col.fail(f"{name}: duration {written} marks an instant, not a span: set "
                       f"data.events.duration_s to the seconds each trial lasts from its onset",
                       ev.path)
    return d


def _note_overridden(trials: list[Trialled], rules: EventRules, col: ProblemCollector) -> None:
    """Warn when ``duration_s`` replaced durations the file gives (one warning per file)."""
    if rules.duration_s is None or not trials:
        return
    own = [t.event.duration for t in trials
           if not t.event.instantaneous and abs(t.event.duration - rules.duration_s) > 1e-9]
    if own:
        col.warn(f"data.events.duration_s ({rules.duration_s:g} s) replaces the file's own "
                 f"durations of {len(own)} trial(s) ({min(own):g} to {max(own):g} s)",
                 trials[0].event.path)


def _unused_reports(reports: SelfReports, matched: set[int], left_out: set[str],
                    col: ProblemCollector) -> None:
    """A self-report no trial took: a warning when its events were left out by
    ``trial_types``, else an error naming the reports."""
    missing = []
    for rep in unused(reports, matched):
        if rep.key in left_out:
            col.warn(f"self-report of {rep.key_column} {rep.key!r} ({where(rep.path, rep.line)})"
                     f" unused: its events' trial_type is not in data.events.trial_types",
                     rep.path)
        else:
            missing.append(rep)
    if missing:
        keys = sorted(r.key for r in missing if r.key_column == "trial")
        types = sorted(r.key for r in missing if r.key_column == "trial_type")
        parts = []
        if keys:
            parts.append(f"self-reports for trials {keys} have no event (no row whose trial "
                         f"id matches in any _events.tsv)")
        if types:
            parts.append(f"self-reports for trial_types {types} have no event (no row of that "
                         f"trial_type in any _events.tsv)")
        raise col.fail("; ".join(parts), missing[0].path)
