"""Statistics over per-fold results: intervals, paired tests, multiple-comparison correction,
the Friedman test and the Nemenyi post-hoc test behind a critical-difference diagram.

Pure functions on numbers and tables (no files, no plotting); :mod:`helo.evaluation.tables`
and :mod:`helo.stages.ablation` feed them the ``folds.csv`` rows of every method and write the
results. The choices, written here once:

* **Unit of observation.** One row of ``folds.csv``: a fold, or a (fold, seed) pair when the
  file has a ``seed`` column (:func:`block_keys`). Two methods are *paired* on the rows whose
  keys they share (:func:`paired`), so a method that lost a fold is compared on the folds both
  have. Rows of different seeds of one fold are treated as separate observations (they share
  the test windows, so the intervals and tests are somewhat optimistic when several seeds are
  present; with one seed per fold there is no such issue).
* **Interval.** :func:`t_interval`: the Student-t interval ``mean +- t_{1-a/2, n-1} s / sqrt(n)``
  with the sample standard deviation ``s`` (``ddof=1``), i.e. the interval for the *expected
  fold score* under the assumption that fold scores are i.i.d. and roughly normal. With one
  observation the interval is undefined (NaN).
* **Paired test.** :func:`wilcoxon` wraps :func:`scipy.stats.wilcoxon` (two-sided). Zero
  differences are handled by ``zero_method`` (default ``"wilcox"``: dropped before ranking,
  Wilcoxon's original proposal and SciPy's default; ``"pratt"`` ranks them and then drops
  them; ``"zsplit"`` splits their ranks between the two signs). SciPy picks the exact null
  distribution for small samples without ties or zeros and the normal approximation otherwise
  (``method="auto"``). When every difference is zero the p-value is 1 (no evidence of a
  difference); with fewer than two non-zero differences it is NaN (no test possible).
* **Correction.** :func:`holm`: Holm's step-down adjustment of the p-values of the methods
  compared with one reference, computed by hand (tests compare it with ``statsmodels``'
  ``multipletests(method="holm")``); NaN p-values are left out of the family.
* **Omnibus and post-hoc.** :func:`friedman` is :func:`scipy.stats.friedmanchisquare` over the
  blocks (folds) every method has; :func:`nemenyi` is ``scikit_posthocs.posthoc_nemenyi_friedman``
  (Demsar 2006) on the same block x method table, with scores negated for higher-is-better
  metrics so that rank 1 is always the best; :func:`critical_difference` is Demsar's
  ``CD = q_a sqrt(k (k + 1) / (6 N))`` with ``q_a`` the studentized-range quantile / sqrt(2).
* **Failed methods.** A method with any row that cannot be scored -- a ``failed`` reason in its
  folds table (a fold whose training diverged, ``helo.evaluation.runner``) or a metric that is
  NaN or infinite (:func:`failed_rows`) -- takes part in no rank and no test
  (``helo.evaluation.tables.failed_methods`` sets it apart before any of these): ranking it on
  the folds it kept would compare it on easier ground than the others, and dropping the rows
  it lost from every method (as :func:`paired` would) would let one diverged model shrink
  everyone's comparison. The report shows it as failed instead.
"""
from __future__ import annotations

import math
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

#: columns that identify one observation of ``folds.csv`` when present
KEY_COLUMNS = ("fold", "seed")


def block_keys(frame: pd.DataFrame) -> list[str]:
    """The columns that identify an observation: ``fold`` and, when present, ``seed``."""
    keys = [c for c in KEY_COLUMNS if c in frame.columns]
    if "fold" not in keys:
        raise ValueError(f"a folds table needs a 'fold' column; it has {list(frame.columns)}")
    return keys


def failed_rows(frame: pd.DataFrame, metrics: Iterable[str]) -> int:
    """How many rows of a folds table cannot be scored: a non-empty ``failed`` reason, or a
    metric of ``metrics`` (those the table has) that is missing, NaN or infinite."""
    bad = np.zeros(len(frame), dtype=bool)
    if "failed" in frame.columns:
        bad |= frame["failed"].fillna("").astype(str).str.strip().str.len().to_numpy() > 0
    for k in metrics:
        if k in frame.columns:
            vals = pd.to_numeric(frame[k], errors="coerce").to_numpy(dtype=np.float64)
            bad |= ~np.isfinite(vals)
    return int(bad.sum())


def t_interval(values: Iterable[float], confidence: float = 0.95) -> dict:
    """Mean, sample std (ddof=1), n and the Student-t ``confidence`` interval of the mean."""
    from scipy.stats import t as student_t
    x = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=np.float64)
    n = int(x.size)
    if n == 0:
        return {"mean": math.nan, "std": math.nan, "n": 0, "ci_low": math.nan,
                "ci_high": math.nan}
    mean = float(x.mean())
    if n < 2:
        return {"mean": mean, "std": math.nan, "n": 1, "ci_low": math.nan, "ci_high": math.nan}
    std = float(x.std(ddof=1))
    half = float(student_t.ppf(0.5 + confidence / 2, n - 1)) * std / math.sqrt(n)
    return {"mean": mean, "std": std, "n": n, "ci_low": mean - half, "ci_high": mean + half}


def paired(frames: Mapping[str, pd.DataFrame], metric: str) -> pd.DataFrame:
    """Block x method table of ``metric``: one row per fold (or (fold, seed)) that every method
    in ``frames`` has, one column per method, in the order of ``frames``."""
    cols = []
    for method, frame in frames.items():
        if metric not in frame.columns:
            raise ValueError(f"{method}: folds table has no column {metric!r}")
        keys = block_keys(frame)
        s = frame.set_index(keys)[metric].astype(float)
        if s.index.has_duplicates:
            raise ValueError(f"{method}: duplicate rows for the same {'/'.join(keys)} in its "
                             f"folds table")
        cols.append(s.rename(method))
    if not cols:
        return pd.DataFrame()
    key_sets = {tuple(c.index.names) for c in cols}
    if len(key_sets) > 1:
        raise ValueError(f"methods disagree on the observation keys: {sorted(key_sets)} (some "
                         f"folds tables have a seed column, some do not)")
    table = pd.concat(cols, axis=1, join="inner")
    return table.dropna(how="any")


def wilcoxon(x: Iterable[float], y: Iterable[float], zero_method: str = "wilcox") -> dict:
    """Two-sided paired Wilcoxon signed-rank test of ``x - y`` (see the module doc for zeros).

    Returns ``statistic`` (SciPy's: the smaller of the two signed-rank sums for the two-sided
    test), ``p``, ``n`` (pairs), ``n_nonzero`` and ``median_diff``."""
    from scipy.stats import wilcoxon as scipy_wilcoxon
    x = np.asarray(list(x), dtype=np.float64)
    y = np.asarray(list(y), dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"paired samples differ in length: {x.shape} vs {y.shape}")
    d = x - y
    nonzero = int(np.count_nonzero(d))
    out = {"n": int(d.size), "n_nonzero": nonzero,
           "median_diff": float(np.median(d)) if d.size else math.nan}
    if d.size and nonzero == 0:
        return {**out, "statistic": 0.0, "p": 1.0}
    if nonzero < 2:
        return {**out, "statistic": math.nan, "p": math.nan}
    res = scipy_wilcoxon(x, y, zero_method=zero_method, alternative="two-sided")
    return {**out, "statistic": float(res.statistic), "p": float(res.pvalue)}


def holm(pvalues: Iterable[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (same order as given; NaN stays NaN and is not
    counted in the family): sort the m finite p-values ascending, multiply the i-th (from 0) by
    ``m - i``, take the running maximum and cap at 1."""
    p = np.asarray(list(pvalues), dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = ok.size
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    running = 0.0
    for i, idx in enumerate(order):
        running = max(running, min(1.0, (m - i) * p[idx]))
        out[idx] = running
    return out


def block_ranks(table: pd.DataFrame, higher_is_better: bool = False) -> pd.DataFrame:
    """Ranks within each block (row), 1 = best, ties averaged."""
    from scipy.stats import rankdata
    vals = table.to_numpy(dtype=np.float64)
    r = rankdata(-vals if higher_is_better else vals, axis=1, method="average")
    return pd.DataFrame(r, index=table.index, columns=table.columns)


def friedman(table: pd.DataFrame) -> dict:
    """Friedman's test over the methods (columns) with the folds as blocks (rows).
    NaN statistic and p when fewer than three methods or two blocks are available."""
    from scipy.stats import friedmanchisquare
    k, n = table.shape[1], table.shape[0]
    if k < 3 or n < 2:
        return {"statistic": math.nan, "p": math.nan, "k": k, "n_blocks": n}
    vals = table.to_numpy(dtype=np.float64)
    if np.all(vals == vals[:, :1]):  # every method equal on every block: no evidence
        return {"statistic": 0.0, "p": 1.0, "k": k, "n_blocks": n}
    res = friedmanchisquare(*[vals[:, j] for j in range(k)])
    return {"statistic": float(res.statistic), "p": float(res.pvalue), "k": k, "n_blocks": n}


def nemenyi(table: pd.DataFrame, higher_is_better: bool = False) -> pd.DataFrame:
    """Nemenyi post-hoc p-values (method x method) after Friedman, by scikit-posthocs'
    ``posthoc_nemenyi_friedman`` on the blocks x methods table (negated when higher is
    better: the test is symmetric, the ranks it uses then put the best first)."""
    import scikit_posthocs as sp
    data = -table if higher_is_better else table
    p = sp.posthoc_nemenyi_friedman(data.reset_index(drop=True))
    p.index = list(table.columns)
    p.columns = list(table.columns)
    return p


def critical_difference(k: int, n_blocks: int, alpha: float = 0.05) -> float:
    """Demsar's (2006) Nemenyi critical difference of average ranks for k methods on
    ``n_blocks`` blocks: ``q_alpha * sqrt(k (k + 1) / (6 N))``, ``q_alpha`` the studentized
    range quantile for k groups and infinite degrees of freedom divided by sqrt(2)."""
    from scipy.stats import studentized_range
    if k < 2 or n_blocks < 1:
        return math.nan
    q = float(studentized_range.ppf(1 - alpha, k, np.inf)) / math.sqrt(2)
    return q * math.sqrt(k * (k + 1) / (6.0 * n_blocks))


def compare_to_reference(frames: Mapping[str, pd.DataFrame], reference: str, metric: str, *,
                         higher_is_better: bool = False, zero_method: str = "wilcox",
                         alpha: float = 0.05, confidence: float = 0.95) -> pd.DataFrame:
    """One row per method of ``frames``: its interval over its own observations, and a paired
    Wilcoxon test against ``reference`` over the observations both have, Holm-adjusted over
    the non-reference methods. ``better`` says whether the method's mean is better than the
    reference's on the shared observations."""
    rows = []
    ref_frame = frames.get(reference)
    for method, frame in frames.items():
        ci = t_interval(frame[metric].astype(float).tolist(), confidence)
        row = {"method": method, "metric": metric, **ci}
        if method != reference and ref_frame is not None:
            tab = paired({method: frame, reference: ref_frame}, metric)
            w = wilcoxon(tab[method], tab[reference], zero_method=zero_method)
            diff = float((tab[method] - tab[reference]).mean()) if len(tab) else math.nan
            row.update({"n_paired": w["n"], "n_nonzero": w["n_nonzero"],
                        "mean_diff": diff, "wilcoxon_stat": w["statistic"], "p": w["p"],
                        "better": (diff > 0) if higher_is_better else (diff < 0)})
        rows.append(row)
    df = pd.DataFrame(rows)
    for col in ("n_paired", "n_nonzero", "mean_diff", "wilcoxon_stat", "p", "better"):
        if col not in df.columns:
            df[col] = np.nan
    others = df["method"] != reference
    df["p_holm"] = np.nan
    df.loc[others, "p_holm"] = holm(df.loc[others, "p"].tolist())
    df["significant"] = df["p_holm"] < alpha
    return df
