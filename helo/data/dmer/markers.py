"""DMER marker codes to clip spans: a clip k spans from code ``k+10`` up to code ``k+100``; rest
and practice pairs are skipped; each span is matched with the PANAS rows."""
from __future__ import annotations

from pathlib import Path

from helo.data.base import ProblemCollector, Trial
from helo.data.dmer.protocol import REST_ID


def _pair_events(events: list[tuple[int, int]], path,
                 col: ProblemCollector) -> dict[int, tuple[int, int]]:
    """Clip spans ``{clip: (start, stop)}`` from ``(code, position)`` events in time order."""
    spans: dict[int, tuple[int, int]] = {}
    i = 0
    n = len(events)
    while i < n:
        code, pos = events[i]
        nxt = events[i + 1][0] if i + 1 < n else None
        if 10 <= code <= 41 and nxt == code + 90:
            clip = code - 10
            if clip in spans:
                col.error(f"clip {clip} is marked twice", path)
            else:
                spans[clip] = (pos, events[i + 1][1])
            i += 2
            continue
        if (code, nxt) in ((REST_ID, 50), (50, 60)):
            i += 2  # rest / practice trial
            continue
        if code in (REST_ID, 50, 60):
            col.warn(f"unpaired rest/practice marker {code} at {pos}", path)
        elif 10 <= code <= 41:
            col.error(f"start marker {code} (clip {code - 10}) at {pos} has no end marker "
                      f"{code + 90} right after it", path)
        elif 100 <= code <= 131:
            col.error(f"end marker {code} (clip {code - 100}) at {pos} has no start marker "
                      f"{code - 90} before it", path)
        else:
            col.warn(f"unknown marker code {code} at {pos} ignored", path)
        i += 1
    return spans


def _match_spans(trials: list[Trial], spans: dict, path, col: ProblemCollector, what: str) -> dict:
    wanted = {int(t.trial_id) for t in trials}
    for clip in sorted(set(spans) - wanted):
        col.error(f"clip {clip} is marked in {Path(str(path)).name} but has no PANAS row "
                  f"(PANAS row missing)", path)
    for clip in sorted(wanted - set(spans)):
        col.error(f"no {what} markers for clip {clip} (start {clip + 10} / end {clip + 100})", path)
    order = [c for c in sorted(spans, key=lambda c: spans[c][0]) if c in wanted]
    panas_order = [int(t.trial_id) for t in trials if int(t.trial_id) in spans]
    if order != panas_order:
        col.warn(f"{what} marker order {order} differs from the PANAS row order {panas_order}",
                 path)
    return spans
