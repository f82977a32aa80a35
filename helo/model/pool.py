"""What the engine trains on: the members (a seed, rows in one pool of rows, their
standardisation) and the pool of rows several folds share (:class:`FoldPool`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

import numpy as np

if TYPE_CHECKING:  # the module stays importable without torch (stages of other methods)
    import torch


@dataclass
class Member:
    """One model to train: its seed, its training rows (and validation rows, and unlabelled
    target rows) in the pool, and the generator of its batch order (default: a generator on the
    pool's device seeded with ``seed``)."""
    seed: int
    rows: np.ndarray | torch.Tensor
    val_rows: np.ndarray | torch.Tensor | None = None
    target_rows: np.ndarray | torch.Tensor | None = None
    generator: torch.Generator | None = None
    #: the member's standardisation of the pool's raw rows, applied on the device after each
    #: gather: ``(x - shift[m][g]) / scale[m][g]``, ``(G, d)`` per modality, ``g`` the row's
    #: group (``fit_members(groups=...)``; one group: the same for every row). None: the rows
    #: as they are in the pool
    shift: dict[str, np.ndarray] | None = None
    scale: dict[str, np.ndarray] | None = None
    history: list[dict] = field(default_factory=list)
    #: why it stopped as diverged (``"training loss is nan at epoch 3"``); None: it did not
    diverged: str | None = None


@dataclass
class FoldRows:
    """One fold's rows in a :class:`FoldPool` (training, validation, unlabelled target) and
    its standardisation (``Member.shift`` / ``Member.scale``)."""
    rows: np.ndarray
    val_rows: np.ndarray | None = None
    target_rows: np.ndarray | None = None
    shift: dict[str, np.ndarray] | None = None
    scale: dict[str, np.ndarray] | None = None


@dataclass
class FoldPool:
    """The rows of several folds held once: ``X`` / ``y`` (raw, float32), ``groups`` (a
    standardisation group per row, e.g. the subject; None: one group) and each fold's rows and
    standardisation. Memory is the rows once plus small per-fold tables, whatever the number
    of folds (the runner's stacked folds); :func:`fold_pool` builds one from per-fold arrays."""
    X: dict[str, np.ndarray]
    y: np.ndarray
    folds: list[FoldRows]
    groups: np.ndarray | None = None
    #: the subject of each row (what a learner that tells training subjects apart reads)
    subjects: np.ndarray | None = None

    def fold_arrays(self, k: int) -> tuple:
        """Fold ``k`` as its own standardised arrays, ``(X, y, X_val, y_val, X_target,
        subjects of the training rows)`` (float32, the table applied on the host): for learners
        that take per-fold copies instead of the pool."""
        f = self.folds[k]

        def rows_of(rows):
            if rows is None or not len(rows):
                return None
            rows = np.asarray(rows)
            if f.shift is None:
                return {m: np.asarray(x[rows], dtype=np.float32) for m, x in self.X.items()}
            g = self.groups[rows] if self.groups is not None else np.zeros(len(rows), int)
            return {m: ((x[rows] - np.asarray(f.shift[m], np.float32)[g])
                        / np.asarray(f.scale[m], np.float32)[g]).astype(np.float32)
                    for m, x in self.X.items()}
        y_val = None if f.val_rows is None or not len(f.val_rows) else self.y[f.val_rows]
        subjects = None if self.subjects is None else np.asarray(self.subjects)[f.rows]
        return (rows_of(f.rows), self.y[f.rows], rows_of(f.val_rows), y_val,
                rows_of(f.target_rows), subjects)

    def members(self, seeds: Sequence[int]) -> list[Member]:
        return [Member(seed=int(s), rows=f.rows, val_rows=f.val_rows, target_rows=f.target_rows,
                       shift=f.shift, scale=f.scale) for s, f in zip(seeds, self.folds)]

    def to(self, device) -> tuple[dict[str, "torch.Tensor"], "torch.Tensor",
                                  "torch.Tensor | None"]:
        """The pool's tensors on ``device``: ``(X, y, groups)``."""
        import torch
        X = {m: torch.as_tensor(np.ascontiguousarray(x, dtype=np.float32), device=device)
             for m, x in self.X.items()}
        y = torch.as_tensor(np.ascontiguousarray(self.y, dtype=np.float32), device=device)
        g = None if self.groups is None else torch.as_tensor(self.groups, dtype=torch.long,
                                                            device=device)
        return X, y, g


def fold_pool(data: Sequence[tuple], modalities: Sequence[str]) -> FoldPool:
    """``data[k] = (X, y, X_val, y_val[, X_target])`` -- each fold's own, already prepared
    rows -- as one :class:`FoldPool` (the rows concatenated: training, validation, target)."""
    parts: dict[str, list] = {m: [] for m in modalities}
    ys, folds, off = [], [], 0

    def add(Xp, yp):
        nonlocal off
        for m in modalities:
            if m not in Xp:
                raise KeyError(f"input lacks modality {m!r} (have {sorted(Xp)})")
            parts[m].append(np.asarray(Xp[m], dtype=np.float32))
        n = len(next(iter(Xp.values())))
        ys.append(np.zeros((n, ys[0].shape[1]), np.float32) if yp is None
                  else np.asarray(yp, dtype=np.float32))
        rows = np.arange(off, off + n)
        off += n
        return rows

    for item in data:
        X, y, X_val, y_val = item[:4]
        X_target = item[4] if len(item) > 4 else None
        rows = add(X, y)
        val = add(X_val, y_val) if X_val is not None and y_val is not None and len(y_val) \
            else None
        tgt = add(X_target, None) if X_target is not None \
            and len(next(iter(X_target.values()))) else None
        folds.append(FoldRows(rows=rows, val_rows=val, target_rows=tgt))
    return FoldPool(X={m: np.concatenate(v) for m, v in parts.items()},
                    y=np.concatenate(ys), folds=folds)


# -- flat parameters, optimiser, clipping -------------------------------------------------------
