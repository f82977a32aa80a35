"""Label enhancement: dimensional self-reports (valence, arousal on a rating scale) made into
label distributions, for the data sets whose participants rated dimensions rather than
emotion items (DEAP, DREAMER, AMIGOS, MAHNOB-HCI). ``data.labels`` picks the rule,
``data.label_rule`` holds its parameters; :func:`helo.data.labels.to_distributions` calls it.

``circumplex`` (default for valence/arousal ratings)
    The rating is a point of Russell's circumplex of affect (Russell, 1980, *J. Pers. Soc.
    Psychol.* 39(6)): valence on the horizontal axis, arousal on the vertical, both centred on
    the scale's midpoint and divided by its half-range, so the point lies in ``[-1, 1]^2``. Its
    angle ``theta`` and radius ``rho = min(1, |point|)`` spread mass over the eight affect
    categories Russell placed 45 degrees apart (:data:`CIRCUMPLEX`: pleasure at 0 degrees,
    excitement 45, arousal 90, distress 135, misery 180, depression 225, sleepiness 270,
    contentment 315) with a von Mises kernel,
    ``p_k ∝ exp(kappa * rho * cos(theta - theta_k))``: a neutral rating (the midpoint) gives
    the uniform distribution, an extreme one a peak at its octant with mass on the neighbours;
    ``kappa`` (``data.label_rule.kappa``, default 3) sets how peaked (at ``rho = 1`` the
    neighbouring octants get ``exp(-kappa (1 - cos 45°)) = 0.41`` of the peak). The kernel is
    this project's choice (the circumplex fixes the angles, not how mass spreads between them).
``gaussian``
    One dimension (``data.label_rule.dimension``, e.g. valence) as a distribution over its
    integer scale points ``lo .. hi``: ``p_j ∝ exp(-(j - r)^2 / (2 sigma^2))`` around the
    rating ``r``, the Gaussian label distribution of Geng, Yin and Zhou (2013, *IEEE TPAMI*
    35(10), facial age estimation), ``sigma`` = ``data.label_rule.sigma`` (default 1 scale
    point). Label names ``<dimension>_<j>``.

A rating outside ``data.label_rule.scale`` is an error naming the rows; a missing (NaN) rating
leaves the trial out with a reason, as every label kind does.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

#: Russell's (1980) eight affect categories and their angles on the circumplex (degrees)
CIRCUMPLEX = {"pleasure": 0, "excitement": 45, "arousal": 90, "distress": 135, "misery": 180,
              "depression": 225, "sleepiness": 270, "contentment": 315}

RULES = ("circumplex", "gaussian")


def _column(value_items: Sequence[str], name: str) -> int:
    lower = [v.lower() for v in value_items]
    if name.lower() not in lower:
        raise ValueError(f"the self-reports have no {name!r} column (they have "
                         f"{', '.join(value_items)}): the rule needs it")
    return lower.index(name.lower())


def _out_of_scale(r: np.ndarray, lo: float, hi: float, name: str,
                  where: Sequence[str]) -> list[str]:
    bad = np.flatnonzero(np.isfinite(r) & ((r < lo) | (r > hi)))
    return [f"{where[i]}: {name} {r[i]:g} outside the scale {lo:g}..{hi:g}" for i in bad]


def circumplex(values: np.ndarray, value_items: Sequence[str], *, scale=(1.0, 9.0),
               kappa: float = 3.0, where: Sequence[str] | None = None):
    """``(D, names, skipped, problems)`` for valence/arousal ratings (see the module doc)."""
    values = np.atleast_2d(np.asarray(values, dtype=np.float64))
    where = list(where) if where is not None else [f"row {i + 1}" for i in range(len(values))]
    lo, hi = map(float, scale)
    v = values[:, _column(value_items, "valence")]
    a = values[:, _column(value_items, "arousal")]
    problems = _out_of_scale(v, lo, hi, "valence", where) + _out_of_scale(a, lo, hi, "arousal",
                                                                          where)
    mid, half = (lo + hi) / 2, (hi - lo) / 2
    x, y = (v - mid) / half, (a - mid) / half
    theta, rho = np.arctan2(y, x), np.minimum(1.0, np.hypot(x, y))
    angles = np.deg2rad(np.array(list(CIRCUMPLEX.values()), dtype=np.float64))
    logits = kappa * rho[:, None] * np.cos(theta[:, None] - angles[None, :])
    logits -= logits.max(axis=1, keepdims=True)
    D = np.exp(logits)
    D /= D.sum(axis=1, keepdims=True)
    missing = ~(np.isfinite(v) & np.isfinite(a))
    D[missing] = np.nan
    skipped = [(int(i), "valence or arousal rating missing (NaN)")
               for i in np.flatnonzero(missing)]
    return D, list(CIRCUMPLEX), skipped, problems


def gaussian(values: np.ndarray, value_items: Sequence[str], *, dimension: str = "valence",
             scale=(1.0, 9.0), sigma: float = 1.0, where: Sequence[str] | None = None):
    """``(D, names, skipped, problems)``: one dimension over its integer scale points."""
    values = np.atleast_2d(np.asarray(values, dtype=np.float64))
    where = list(where) if where is not None else [f"row {i + 1}" for i in range(len(values))]
    lo, hi = map(float, scale)
    if not (float(lo).is_integer() and float(hi).is_integer()):
        raise ValueError(f"data.label_rule.scale {scale}: the gaussian rule needs whole-number "
                         f"scale ends (its labels are the scale points)")
    r = values[:, _column(value_items, dimension)]
    points = np.arange(int(lo), int(hi) + 1, dtype=np.float64)
    D = np.exp(-(points[None, :] - r[:, None]) ** 2 / (2 * sigma ** 2))
    D /= D.sum(axis=1, keepdims=True)
    missing = ~np.isfinite(r)
    D[missing] = np.nan
    skipped = [(int(i), f"{dimension} rating missing (NaN)") for i in np.flatnonzero(missing)]
    names = [f"{dimension.lower()}_{int(p)}" for p in points]
    return D, names, skipped, _out_of_scale(r, lo, hi, dimension, where)
