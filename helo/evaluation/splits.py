"""Evaluation protocols -> folds (index arrays into the assembled dataset).

* ``subject-dependent`` -- the HeLo paper's protocol: per subject, a seeded random 8:2 split of
  that subject's *windows*; one model per subject. Windows of one trial land on both sides, and
  neighbouring windows overlap (GSR/PPG windows are 5 s with a 1 s step), so this protocol
  leaks: its scores are optimistic. Reported because the paper does.
* ``trial-held-out`` -- the leak-free version: per subject, a seeded random ``test_fraction`` of
  the subject's *trials* is held out whole; no window of a test trial is used in training.
* ``loso`` -- leave one subject out: train on all other subjects, test on the held-out one.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PROTOCOLS = ("subject-dependent", "trial-held-out", "loso")


@dataclass
class Fold:
    name: str
    train: np.ndarray  # row indices
    test: np.ndarray
    subject: str | None = None  # the subject the fold belongs to / holds out


def _rng(seed: int, *keys: str) -> np.random.Generator:
    # A per-subject stream that does not depend on the order subjects are visited in.
    mix = [seed] + [int.from_bytes(k.encode("utf-8")[:8].ljust(8, b"\0"), "little") % (2**32)
                    for k in keys]
    return np.random.default_rng(mix)


def make_folds(protocol: str, subjects: np.ndarray, trials: np.ndarray, *, seed: int = 0,
               test_fraction: float = 0.2) -> list[Fold]:
    """Folds for ``protocol`` given a subject id and a trial id per row."""
    subjects = np.asarray(subjects).astype(str)
    trials = np.asarray(trials).astype(str)
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose one of {PROTOCOLS}")
    if not 0 < test_fraction < 1:
        raise ValueError("test_fraction must lie strictly between 0 and 1")
    folds: list[Fold] = []
    uniq = sorted(set(subjects.tolist()))
    if protocol == "loso" and len(uniq) < 2:
        raise ValueError("leave-one-subject-out needs at least two subjects")
    for s in uniq:
        rows = np.flatnonzero(subjects == s)
        if protocol == "loso":
            folds.append(Fold(f"loso-{s}", np.flatnonzero(subjects != s), rows, s))
            continue
        rng = _rng(seed, protocol, s)
        if protocol == "subject-dependent":
            perm = rng.permutation(rows)
            n_test = max(1, int(round(test_fraction * len(rows))))
            if len(rows) < 2:
                continue
            test, train = np.sort(perm[:n_test]), np.sort(perm[n_test:])
        else:  # trial-held-out
            subj_trials = np.array(sorted(set(trials[rows].tolist())))
            if len(subj_trials) < 2:
                continue
            n_test = max(1, int(round(test_fraction * len(subj_trials))))
            test_trials = set(rng.permutation(subj_trials)[:n_test].tolist())
            is_test = np.array([t in test_trials for t in trials[rows]])
            test, train = rows[is_test], rows[~is_test]
        folds.append(Fold(f"{protocol}-{s}", train, test, s))
    return folds


def validation_split(train: np.ndarray, trials: np.ndarray, fraction: float, seed: int):
    """Split a fold's training rows into (fit, validation) by whole trials; never touches test."""
    if fraction <= 0:
        return train, np.array([], dtype=int)
    rng = np.random.default_rng(seed)
    keys = np.array([str(t) for t in trials[train]])
    uniq = np.array(sorted(set(keys.tolist())))
    n_val = max(1, int(round(fraction * len(uniq))))
    if len(uniq) < 2:
        return train, np.array([], dtype=int)
    val_keys = set(rng.permutation(uniq)[:n_val].tolist())
    is_val = np.array([k in val_keys for k in keys])
    return train[~is_val], train[is_val]
