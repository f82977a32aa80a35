"""The six label-distribution measures of the HeLo paper (Sec. 4.2) and the average rank.

All functions take ``y_true`` (the ground truth, ``u``) and ``y_pred`` (``v``), arrays of shape
``(n, l)`` (a single ``(l,)`` row is promoted to ``(1, l)``), and return one value per row.

Epsilon handling (documented choice):

* ``kl``: both distributions are clipped to ``[eps, 1]`` (``eps=1e-12``) before
  ``sum u log(u / v)``, so a zero in the prediction costs ``u_j * log(u_j / eps)`` instead of
  ``inf`` and a zero in the truth contributes ~0.  (PyLDL clips to machine epsilon the same way.)
* ``clark`` and ``canberra``: no clipping; a term whose denominator ``u_j + v_j`` is 0 (both
  zero) is counted as 0 -- the limit of the term is undefined, but both vectors agree there.
* ``cosine``: a row whose norm is 0 gives similarity 0.

Non-finite input is an error, never a score (documented choice): every metric raises
:class:`NonFiniteError` (a ``ValueError``) naming how many values and which rows of ``y_true``
or ``y_pred`` are NaN or infinite. Returning NaN instead would leave every caller to refuse it,
and one that forgot would rank a diverged model; the 0/0 = 0 rule above therefore only ever
applies to a true zero denominator of finite values.
* ``intersection``: ``sum_j min(u_j, v_j)``; equal to PyLDL's ``1 - 0.5 * ||u - v||_1`` when
  both rows sum to 1.

``METRICS`` maps each name to its function and direction; ``average_rank`` ranks methods per
metric (1 = best, ties share the average rank) and averages over the metrics.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np
from scipy.stats import rankdata

EPS = 1e-12


class NonFiniteError(ValueError):
    """A metric was given NaN or infinite values (a diverged model's predictions, mostly)."""


def check_finite(values: np.ndarray, what: str) -> None:
    """Raise :class:`NonFiniteError` when ``values`` (an ``(n, l)`` array) holds NaN or
    infinite entries, naming ``what``, how many and the first rows holding them."""
    bad = ~np.isfinite(values)
    if not bad.any():
        return
    rows = np.flatnonzero(bad.reshape(len(values), -1).any(axis=1))
    shown = ", ".join(str(int(r)) for r in rows[:5]) + (", ..." if len(rows) > 5 else "")
    raise NonFiniteError(f"{what} has {int(bad.sum())} non-finite value(s) (NaN or inf) in "
                         f"{len(rows)} of {len(values)} row(s) (rows {shown}); a metric of "
                         f"non-finite values is no score")


def _pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    u = np.asarray(y_true, dtype=np.float64)
    v = np.asarray(y_pred, dtype=np.float64)
    if u.ndim == 1:
        u = u[None, :]
    if v.ndim == 1:
        v = v[None, :]
    if u.shape != v.shape:
        raise ValueError(f"shape mismatch: y_true {u.shape} vs y_pred {v.shape}")
    if u.ndim != 2:
        raise ValueError(f"expected (n, l) arrays, got {u.shape}")
    check_finite(u, "y_true")
    check_finite(v, "y_pred")
    return u, v


def _safe_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` with 0 where ``den`` is not positive (0/0 of two zero entries). Inputs
    must be finite (checked: a NaN denominator is not ``> 0`` and would otherwise become a
    zero distance)."""
    if not (np.isfinite(num).all() and np.isfinite(den).all()):
        raise NonFiniteError("a metric's ratio has non-finite terms")
    out = np.zeros_like(num)
    np.divide(num, den, out=out, where=den > 0)
    return out


def chebyshev(y_true, y_pred) -> np.ndarray:
    """max_j |u_j - v_j| (lower is better)."""
    u, v = _pair(y_true, y_pred)
    return np.max(np.abs(u - v), axis=1)


def clark(y_true, y_pred) -> np.ndarray:
    """sqrt(sum_j (u_j - v_j)^2 / (u_j + v_j)^2) (lower is better); 0/0 terms are 0."""
    u, v = _pair(y_true, y_pred)
    return np.sqrt(np.sum(_safe_ratio((u - v) ** 2, (u + v) ** 2), axis=1))


def canberra(y_true, y_pred) -> np.ndarray:
    """sum_j |u_j - v_j| / (u_j + v_j) (lower is better); 0/0 terms are 0."""
    u, v = _pair(y_true, y_pred)
    return np.sum(_safe_ratio(np.abs(u - v), u + v), axis=1)


def kl(y_true, y_pred, eps: float = EPS) -> np.ndarray:
    """sum_j u_j log(u_j / v_j), both clipped to [eps, 1] (lower is better)."""
    u, v = _pair(y_true, y_pred)
    u = np.clip(u, eps, 1.0)
    v = np.clip(v, eps, 1.0)
    return np.sum(u * (np.log(u) - np.log(v)), axis=1)


def cosine(y_true, y_pred) -> np.ndarray:
    """u.v / (|u| |v|) (higher is better); 0 where a norm is 0."""
    u, v = _pair(y_true, y_pred)
    den = np.linalg.norm(u, axis=1) * np.linalg.norm(v, axis=1)
    return _safe_ratio(np.sum(u * v, axis=1), den)


def intersection(y_true, y_pred) -> np.ndarray:
    """sum_j min(u_j, v_j) (higher is better)."""
    u, v = _pair(y_true, y_pred)
    return np.sum(np.minimum(u, v), axis=1)


@dataclass(frozen=True)
class Metric:
    name: str
    fn: Callable[[np.ndarray, np.ndarray], np.ndarray]
    higher_is_better: bool

    @property
    def direction(self) -> str:
        return "higher" if self.higher_is_better else "lower"


#: The paper's six measures, in the paper's column order.
METRICS: dict[str, Metric] = {
    "chebyshev": Metric("chebyshev", chebyshev, False),
    "clark": Metric("clark", clark, False),
    "canberra": Metric("canberra", canberra, False),
    "kl": Metric("kl", kl, False),
    "cosine": Metric("cosine", cosine, True),
    "intersection": Metric("intersection", intersection, True),
}


def per_sample(y_true, y_pred) -> dict[str, np.ndarray]:
    """Every metric, one value per row."""
    return {name: m.fn(y_true, y_pred) for name, m in METRICS.items()}


def evaluate(y_true, y_pred) -> dict[str, float]:
    """Mean of every metric over the rows."""
    return {name: float(np.mean(vals)) for name, vals in per_sample(y_true, y_pred).items()}


def average_rank(table: Mapping[str, Mapping[str, float]],
                 metrics: list[str] | None = None) -> dict[str, float]:
    """``table[method][metric] -> value`` to ``{method: mean rank}``.

    For each metric the methods are ranked 1 (best) .. n following the metric's direction,
    ties receiving the average of the ranks they span (``scipy.stats.rankdata('average')``).
    A method missing a metric (absent or NaN) gets no rank for it; its mean is over the metrics
    it has (NaN if none).
    """
    methods = list(table)
    names = metrics if metrics is not None else list(METRICS)
    ranks = {m: [] for m in methods}
    for name in names:
        higher = METRICS[name].higher_is_better
        have = [(m, float(table[m][name])) for m in methods
                if name in table[m] and table[m][name] is not None
                and np.isfinite(float(table[m][name]))]
        if not have:
            continue
        vals = np.array([v for _, v in have])
        r = rankdata(-vals if higher else vals, method="average")
        for (m, _), rk in zip(have, r):
            ranks[m].append(float(rk))
    return {m: (float(np.mean(r)) if r else float("nan")) for m, r in ranks.items()}
