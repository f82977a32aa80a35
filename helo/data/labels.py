"""Self-reports and label distributions -> the emotion label distributions of a dataset.

What a trial's label values are is a parameter (``data.labels``, :func:`to_distributions`):
PANAS scores (``panas``), a distribution already (``distribution``: LDL data sets, DMER's
``dis_label``, a generic table's ``label__*`` columns), other non-negative scores (``scores``),
or ``auto`` (the default): PANAS when the item set is there with values 1..5, else a
distribution when every row sums to 1 (within :data:`DISTRIBUTION_TOL`), else scores with a
warning.

PANAS: a vector of PANAS scores ``s`` (1 = not at all ... 5 = extremely) becomes ``d = s / sum(s)``,
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

from helo.data import label_rules

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


# ------------------------------------------------------------------ labels of any kind
#: how a trial's label values become a distribution (``data.labels``)
LABEL_KINDS = ("auto", "panas", "distribution", "scores", "circumplex", "gaussian")
#: a row of distribution labels may miss 1 by this much (labels written with 3-4 decimals:
#: ten items rounded to 4 decimals are off by up to 5e-4); it is renormalised exactly
DISTRIBUTION_TOL = 1e-3


class LabelError(ValueError):
    """Labels that cannot be what they are declared to be (the message names the rows)."""


def detect_kind(values: np.ndarray, value_items: Sequence[str],
                items: str | Sequence[str] = "dmer", tol: float = DISTRIBUTION_TOL) -> str:
    """What ``auto`` takes labels ``values`` (one row per trial, columns ``value_items``) for:

    1. ``panas`` when every item of ``items`` is a column and every finite value of those
       columns lies in 1..5 (a PANAS report);
    2. else ``distribution`` when every row whose selected values are all finite is
       non-negative and sums to 1 within ``tol`` (an LDL data set, DMER's ``dis_label``);
    3. else ``scores`` (normalised ``s / sum(s)``, with a warning).
    """
    values = np.atleast_2d(np.asarray(values, dtype=np.float64))
    lower = [v.lower() for v in value_items]
    if not isinstance(items, str) or items in ITEM_SETS:
        wanted = resolve_items(items)
        if all(w.lower() in lower for w in wanted):
            sel = values[:, [lower.index(w.lower()) for w in wanted]]
            fin = sel[np.isfinite(sel)]
            if fin.size and ((fin >= 1) & (fin <= 5)).all():
                return "panas"
    sel = values[:, _label_columns(value_items, items)]
    rows = sel[np.isfinite(sel).all(axis=1)]
    if rows.size and (rows >= 0).all() and np.all(np.abs(rows.sum(axis=1) - 1) <= tol):
        return "distribution"
    return "scores"


def _label_columns(value_items: Sequence[str], items) -> list[int]:
    """columns of ``value_items`` forming the label set for distributions and scores: an
    explicit list of ``items`` (in its order), else every column (a named PANAS item set means
    nothing for labels that are not PANAS scores)"""
    if isinstance(items, str):
        return list(range(len(value_items)))
    lower = [v.lower() for v in value_items]
    missing = [w for w in items if w.lower() not in lower]
    if missing:
        raise LabelError(f"label items {missing} are not among the labels ({list(value_items)})")
    return [lower.index(w.lower()) for w in items]


def label_items(value_items: Sequence[str], kind: str, items="dmer") -> list[str]:
    """The label names a dataset gets for labels of ``kind`` (see :func:`to_distributions`)."""
    if kind == "panas":
        return resolve_items(items)
    return [value_items[k] for k in _label_columns(value_items, items)]


def to_distributions(values: np.ndarray, value_items: Sequence[str], *, kind: str = "auto",
                     items: str | Sequence[str] = "dmer", tol: float = DISTRIBUTION_TOL,
                     where: Sequence[str] | None = None, rule: dict | None = None):
    """Label values of trials (one row each, columns ``value_items``) -> distributions.

    ``kind`` (``data.labels``):

    * ``panas``: PANAS scores 1..5 over the item set ``items``, ``d = s / sum(s)``
      (:func:`panas_to_distribution`); a trial whose report is unusable is left out;
    * ``distribution``: the values are the distribution (every column, or the explicit list
      ``items``): non-negative, each row summing to 1 within ``tol``, renormalised exactly;
      a violation raises :class:`LabelError` naming the rows (``where[i]`` describes row i);
    * ``scores``: non-negative scores normalised ``s / sum(s)``, with a warning (a row that is
      negative or all zero raises :class:`LabelError`);
    * ``circumplex`` / ``gaussian``: dimensional ratings (valence, arousal...) made into a
      distribution by a label-enhancement rule with the parameters ``rule``
      (``data.label_rule``: ``scale``, ``kappa``, ``sigma``, ``dimension``;
      :mod:`helo.data.label_rules`); a rating outside the scale raises :class:`LabelError`;
    * ``auto``: :func:`detect_kind` (never a rule: a rule is always asked for by name).

    A row with a NaN among its label values is left out (a missing label) with a reason.
    Returns ``(D, label_names, kind, skipped, warnings)``: ``D`` ``(n, l)`` with NaN rows for
    the trials left out, ``skipped`` ``[(row, reason)]``, ``warnings`` a list of strings.
    """
    if kind not in LABEL_KINDS:
        raise ValueError(f"data.labels must be one of {LABEL_KINDS}, not {kind!r}")
    values = np.atleast_2d(np.asarray(values, dtype=np.float64))
    where = list(where) if where is not None else [f"row {i + 1}" for i in range(len(values))]
    if kind in label_rules.RULES:
        return _by_rule(values, value_items, kind, rule or {}, where)
    used = detect_kind(values, value_items, items, tol) if kind == "auto" else kind
    names = label_items(value_items, used, items)
    D = np.full((len(values), len(names)), np.nan)
    skipped: list[tuple[int, str]] = []
    warns: list[str] = []
    if used == "panas":
        for i, row in enumerate(values):
            try:
                D[i] = panas_to_distribution(row, value_items, names)
            except ValueError as err:
                skipped.append((i, str(err)))
        return D, names, used, skipped, warns
    sel = values[:, _label_columns(value_items, items)]
    bad: list[str] = []
    for i, row in enumerate(sel):
        if not np.isfinite(row).all():
            miss = [names[k] for k in np.flatnonzero(~np.isfinite(row))]
            skipped.append((i, f"label missing (NaN) for items {miss}"))
            continue
        s = row.sum()
        if (row < 0).any():
            bad.append(f"{where[i]}: negative label for "
                       f"{[names[k] for k in np.flatnonzero(row < 0)]}")
        elif s <= 0:
            bad.append(f"{where[i]}: labels are all zero")
        elif used == "distribution" and abs(s - 1) > tol:
            bad.append(f"{where[i]}: labels sum to {s:.6g}, not 1 (+- {tol:g})")
        else:
            D[i] = row / s
    if bad:
        more = f" (and {len(bad) - 5} more)" if len(bad) > 5 else ""
        raise LabelError(f"labels declared as {used} ({', '.join(names)}) are not: "
                         + "; ".join(bad[:5]) + more)
    if used == "scores":
        warns.append(f"labels ({', '.join(names)}) are neither PANAS scores 1-5 over the item "
                     f"set nor distributions summing to 1: normalised as scores s / sum(s) "
                     f"(set data.labels to say what they are)")
    return D, names, used, skipped, warns


def smooth_labels(D: np.ndarray, epsilon: float) -> np.ndarray:
    """``(1 - epsilon) * D + epsilon / L`` for each row of ``D`` (``n x L``): every distribution
    mixed with the uniform one (label smoothing, Szegedy et al. 2016, *CVPR* 2818-2826), which
    keeps the rows summing to 1 and gives every label at least ``epsilon / L``; NaN rows (trials
    left out) stay NaN. ``data.label_smoothing``; ``0`` returns ``D`` unchanged.

    Why it can matter: on a one-hot (degenerate) distribution, as the SEED readers give, KL is
    the cross-entropy ``-log p_c`` of the true class and Clark and Canberra barely move (each
    zero label contributes its full 1 once the prediction puts any mass there); a small
    ``epsilon`` makes every measure depend on the whole predicted distribution again."""
    eps = float(epsilon)
    if not 0 <= eps < 1:
        raise ValueError(f"label smoothing must lie in [0, 1), not {epsilon!r}")
    D = np.asarray(D, dtype=np.float64)
    if eps == 0 or D.size == 0:
        return D
    return (1.0 - eps) * D + eps / D.shape[1]


def _by_rule(values: np.ndarray, value_items: Sequence[str], kind: str, rule: dict,
             where: list[str]):
    """:func:`to_distributions` for a label-enhancement rule (:mod:`helo.data.label_rules`)."""
    scale = tuple(rule.get("scale", (1.0, 9.0)))
    try:
        if kind == "circumplex":
            D, names, skipped, problems = label_rules.circumplex(
                values, value_items, scale=scale, kappa=float(rule.get("kappa", 3.0)),
                where=where)
        else:
            D, names, skipped, problems = label_rules.gaussian(
                values, value_items, dimension=str(rule.get("dimension", "valence")),
                scale=scale, sigma=float(rule.get("sigma", 1.0)), where=where)
    except ValueError as err:
        raise LabelError(f"labels by the {kind} rule: {err}") from None
    if problems:
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise LabelError(f"ratings for the {kind} rule (data.label_rule.scale {list(scale)}) "
                         f"are out of range: " + "; ".join(problems[:5]) + more)
    return D, names, kind, skipped, []
