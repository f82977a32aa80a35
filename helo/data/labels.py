"""PANAS self-reports -> emotion label distributions.

A vector of PANAS scores ``s`` (1 = not at all ... 5 = extremely) becomes ``d = s / sum(s)``,
over a chosen set of items. Which items form the label set is a parameter:

* ``dmer`` -- DMER's 10 items (5 positive, 5 negative), the paper's label set;
* ``wesad-overlap`` -- the items of those 10 that WESAD's 24-item PANAS also has;
* ``wesad-all`` -- all 24 WESAD items (TSST's two extra items, Angry and Irritated, dropped so
  every condition has the same set);
* or an explicit list of item names.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

DMER_PANAS = ["Inspired", "Alert", "Excited", "Enthusiastic", "Determined",
              "Afraid", "Upset", "Nervous", "Scared", "Distressed"]

WESAD_PANAS = ["Active", "Distressed", "Interested", "Inspired", "Annoyed", "Strong", "Guilty",
               "Scared", "Hostile", "Excited", "Proud", "Irritable", "Enthusiastic", "Ashamed",
               "Alert", "Nervous", "Determined", "Attentive", "Jittery", "Afraid", "Stressed",
               "Frustrated", "Happy", "Sad"]
# TSST's row inserts these two before "Sad".
WESAD_PANAS_TSST = WESAD_PANAS[:-1] + ["Angry", "Irritated", "Sad"]

WESAD_OVERLAP = [i for i in DMER_PANAS if i in WESAD_PANAS]

ITEM_SETS = {"dmer": DMER_PANAS, "wesad-overlap": WESAD_OVERLAP, "wesad-all": WESAD_PANAS}


def resolve_items(items: str | Sequence[str]) -> list[str]:
    if isinstance(items, str):
        try:
            return list(ITEM_SETS[items])
        except KeyError:
            raise ValueError(f"unknown PANAS item set {items!r}; choose one of "
                             f"{sorted(ITEM_SETS)} or give a list of item names") from None
    return list(items)


def panas_to_distribution(scores: np.ndarray, score_items: Sequence[str],
                          items: str | Sequence[str] = "dmer") -> np.ndarray:
    """Select ``items`` from ``scores`` (ordered as ``score_items``) and normalise to sum 1.

    ``scores`` may be 1-D (one report) or 2-D (one report per row). Raises ``ValueError`` when an
    item is missing, a selected score is NaN or outside 1..5 (PANAS has no zero, so the sum is
    always positive for valid input).
    """
    wanted = resolve_items(items)
    scores = np.asarray(scores, dtype=np.float64)
    one = scores.ndim == 1
    scores = np.atleast_2d(scores)
    index = {name.lower(): k for k, name in enumerate(score_items)}
    missing = [w for w in wanted if w.lower() not in index]
    if missing:
        raise ValueError(f"PANAS items {missing} are not in this report ({list(score_items)})")
    sel = scores[:, [index[w.lower()] for w in wanted]]
    if np.isnan(sel).any():
        bad = sorted({wanted[j] for j in np.argwhere(np.isnan(sel))[:, 1]})
        raise ValueError(f"PANAS score missing (NaN) for items {bad}")
    if (sel < 1).any() or (sel > 5).any():
        raise ValueError("PANAS scores must lie in 1..5")
    d = sel / sel.sum(axis=1, keepdims=True)
    return d[0] if one else d
