"""The DMER self-reports: the header-less CSVs ``<n>_panas.csv``, ``Arousal_Valence.csv`` and
``<n>_emotions.csv`` read into trials (in a subject folder, or flat under the features root),
and the file look-ups (one file per role) the readers share."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from helo.data.base import DataError, ProblemCollector, Trial
from helo.data.dmer.protocol import clip_category
from helo.data.labels import DMER_PANAS


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def _read_report(path: Path, n_values: int, col: ProblemCollector,
                 what: str) -> list[tuple[int, np.ndarray]]:
    """Rows ``clip id, v1..vn`` of a header-less self-report CSV; raises DataError when unusable."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise col.fail(f"{what} file is missing", path) from None
    except (OSError, UnicodeDecodeError) as e:
        raise col.fail(f"cannot read {what} file: {e}", path) from None
    rows: list[tuple[int, np.ndarray]] = []
    seen: set[int] = set()
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        cells = [c.strip() for c in line.split(",")]
        while len(cells) > 1 + n_values and cells[-1] == "":
            cells.pop()  # trailing commas
        if lineno == 1 and not any(_is_number(c) for c in cells if c):
            col.warn(f"first line looks like a header and was skipped: {line.strip()!r}", path)
            continue
        if len(cells) > 1 + n_values:
            raise col.fail(f"line {lineno}: {len(cells)} values, expected clip id + {n_values}",
                           path)
        try:
            clip_f = float(cells[0])
        except ValueError:
            raise col.fail(f"line {lineno}: clip id {cells[0]!r} is not a number", path) from None
        if not 0 <= clip_f <= 31 or clip_f != int(clip_f):  # NaN and inf fail the first test
            raise col.fail(f"line {lineno}: clip id {cells[0]!r} is not a DMER clip (0..31)", path)
        clip = int(clip_f)
        if clip in seen:
            raise col.fail(f"line {lineno}: clip {clip} appears twice", path)
        seen.add(clip)
        vals = np.full(n_values, np.nan)
        for j, c in enumerate(cells[1:]):
            if c == "" or c.lower() in ("nan", "na"):
                continue
            try:
                vals[j] = float(c)
            except ValueError:
                raise col.fail(f"line {lineno} (clip {clip}): value {j + 1} {c!r} is not a number",
                               path) from None
        if np.isnan(vals).any():
            col.warn(f"line {lineno} (clip {clip}): {int(np.isnan(vals).sum())} missing value(s)",
                     path)
        rows.append((clip, vals))
    if not rows:
        raise col.fail(f"{what} file has no rows", path)
    return rows


def _find(folder: Path, names: Sequence[str], pattern: str | None = None) -> Path | None:
    for n in names:
        if (folder / n).is_file():
            return folder / n
    if pattern:
        hits = sorted(p for p in folder.glob(pattern) if not p.name.startswith(".tmp-"))
        if hits:
            return hits[0]
    return None


def _find_one(folder: Path, name: str | None, pattern: str, col: ProblemCollector):
    """``folder/name`` when it exists, else the one file matching ``pattern`` (None: none);
    two or more matches are an error naming them, and ``False`` is returned, rather than a
    silent pick of the first."""
    if name and (folder / name).is_file():
        return folder / name
    hits = sorted(p for p in folder.glob(pattern) if not p.name.startswith(".tmp-"))
    if len(hits) > 1:
        col.error(f"ambiguous: {len(hits)} files match {pattern} "
                  f"({', '.join(str(h) for h in hits)}); keep exactly one", folder)
        return False
    return hits[0] if hits else None



def _read_reports(folder: Path, sid: str, col: ProblemCollector) -> tuple[list[Trial], dict]:
    """Trials from the self-report CSVs in ``folder``; returns (trials, {clip: trial})."""
    panas_path = _find(folder, [f"{sid}_panas.csv"], "*_panas.csv") or folder / f"{sid}_panas.csv"
    rows = _read_report(panas_path, 10, col, "PANAS")
    trials = []
    for order, (clip, scores) in enumerate(rows):
        bad = scores[~np.isnan(scores)]
        if ((bad < 1) | (bad > 5)).any():
            col.warn(f"clip {clip}: PANAS score outside 1..5", panas_path)
        trials.append(Trial(trial_id=str(clip), order=order, category=clip_category(clip),
                            panas=scores, panas_items=list(DMER_PANAS)))
    by_clip = {int(t.trial_id): t for t in trials}
    extras = [("Arousal_Valence", _find(folder, ["Arousal_Valence.csv"], "*rousal*alence*.csv"),
               ["arousal", "valence", "dominance"]),
              ("emotions", _find(folder, [f"{sid}_emotions.csv"], "*_emotions.csv"),
               ["amusement", "disgust"])]
    for what, path, keys in extras:
        if path is None:
            col.warn(f"no {what} file; extra self-reports missing", folder)
            continue
        try:
            erows = _read_report(path, len(keys), col, what)
        except DataError as e:
            col.add(e)
            continue
        for clip, vals in erows:
            t = by_clip.get(clip)
            if t is None:
                col.error(f"clip {clip} has a row in {path.name} but none in {panas_path.name} "
                          f"(PANAS row missing)", panas_path)
                continue
            t.extra.update({k: float(v) for k, v in zip(keys, vals)})
        missing = sorted(set(by_clip) - {c for c, _ in erows})
        if missing:
            col.warn(f"clips {missing} have no row in {path.name}", path)
    return trials, by_clip


def _read_reports_flat(root: Path, sid: str, col: ProblemCollector):
    """Self-reports named ``<n>_panas.csv``, ``<n>_Arousal_Valence.csv``, ``<n>_emotions.csv``
    directly under the features root (fallback when there is no ``<root>/<n>/`` folder)."""
    panas = root / f"{sid}_panas.csv"
    if not panas.is_file():
        raise col.fail("PANAS file is missing (looked in <root>/<n>/ and <root>/)",
                       root / sid / f"{sid}_panas.csv")
    trials = []
    rows = _read_report(panas, 10, col, "PANAS")
    for order, (clip, scores) in enumerate(rows):
        trials.append(Trial(trial_id=str(clip), order=order, category=clip_category(clip),
                            panas=scores, panas_items=list(DMER_PANAS)))
    by_clip = {int(t.trial_id): t for t in trials}
    for fname, keys in ((f"{sid}_Arousal_Valence.csv", ["arousal", "valence", "dominance"]),
                        (f"{sid}_emotions.csv", ["amusement", "disgust"])):
        p = root / fname
        if not p.is_file():
            col.warn(f"no {fname}; extra self-reports missing", p)
            continue
        try:
            for clip, vals in _read_report(p, len(keys), col, fname):
                if clip in by_clip:
                    by_clip[clip].extra.update({k: float(v) for k, v in zip(keys, vals)})
                else:
                    col.error(f"clip {clip} has a row in {fname} but none in {panas.name}", panas)
        except DataError as err:
            col.add(err)
    return trials, by_clip
