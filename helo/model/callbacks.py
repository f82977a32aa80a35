"""Hooks into the training loop (the shape of skorch's callbacks): early stopping with
best-epoch restore, the divergence stop, and the caller's plain-function hooks."""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

#: the running ``helo.model.train.Trainer`` (``members``, ``stopped``, ``diverged``, ``epoch``,
#: ``logged``, ``state``, ``device``)
Trainer = Any

log = logging.getLogger("helo.model.train")


class Callback:
    """Hooks into the loop (the shape of skorch's callbacks): ``trainer`` is the running
    :class:`Trainer` (``trainer.members``, ``trainer.stopped``, ``trainer.epoch``, ...)."""

    def on_epoch_begin(self, trainer: Trainer) -> None:
        """After the epoch's batch order is drawn."""

    def on_step_end(self, trainer: Trainer) -> None:
        """After each optimiser step (host side: not part of a captured step)."""

    def on_epoch_end(self, trainer: Trainer, val: np.ndarray | None) -> None:
        """After the epoch's rows were appended to the members' histories; ``val``: the
        members' validation losses (NaN without validation rows) or None."""

    def on_train_end(self, trainer: Trainer) -> None:
        """After the last epoch, before the modules are handed back."""


@dataclass
class Hooks(Callback):
    """The caller's hooks as plain functions: ``before_epoch(epoch)``, ``after_step()``,
    ``on_epoch(member index, history row)``."""
    before_epoch: Callable[[int], None] | None = None
    after_step: Callable[[], None] | None = None
    on_epoch: Callable[[int, dict], None] | None = None

    def on_epoch_begin(self, trainer):
        if self.before_epoch is not None:
            self.before_epoch(trainer.epoch)

    def on_step_end(self, trainer):
        if self.after_step is not None:
            self.after_step()

    def on_epoch_end(self, trainer, val):
        if self.on_epoch is not None:
            for k in trainer.logged:
                self.on_epoch(int(k), trainer.members[k].history[-1])


class DivergenceStop(Callback):
    """Stop a member whose epoch ``loss`` or ``val_loss`` is not finite (module docstring)."""

    def on_epoch_end(self, trainer, val):
        for k in trainer.logged:
            mem = trainer.members[k]
            why = non_finite(mem.history[-1], trainer.epoch)
            if why is not None:
                mem.diverged = why
                trainer.diverged[k] = trainer.stopped[k] = True
                log.warning("member %d (seed %d): %s; stopped", k, mem.seed, why)


class EarlyStopping(Callback):
    """Per member: the best validation loss, the epochs since it improved (``patience``), and a
    copy of the best epoch's state (parameters and buffers) put back at the end, except for a
    member that diverged."""

    def __init__(self, patience: int | None, min_delta: float):
        self.patience, self.min_delta = patience, float(min_delta)
        self.best = self.stale = self.improved_any = None
        self.snapshot: list[torch.Tensor] | None = None

    def on_epoch_end(self, trainer, val):
        if val is None:
            return
        K = len(trainer.members)
        if self.best is None:
            self.best = np.full(K, math.inf)
            self.stale = np.zeros(K, dtype=np.int64)
            self.improved_any = np.zeros(K, dtype=bool)
        live = ~trainer.stopped & np.isfinite(val)
        improved = live & (val < self.best - self.min_delta)
        self.best[improved] = val[improved]
        self.stale[improved] = 0
        waiting = live & ~improved
        self.stale[waiting] += 1
        if self.patience:
            trainer.stopped[waiting & (self.stale >= self.patience)] = True
        if improved.any():
            with torch.no_grad():
                if self.snapshot is None:
                    self.snapshot = [t.detach().clone() for t in trainer.state]
                else:
                    keep = torch.as_tensor(improved, device=trainer.device)
                    for s, t in zip(self.snapshot, trainer.state):
                        s.copy_(torch.where(_lead(keep, t), t, s))
            self.improved_any |= improved

    def on_train_end(self, trainer):
        if self.snapshot is None:
            return
        back = torch.as_tensor(self.improved_any & ~trainer.diverged, device=trainer.device)
        with torch.no_grad():
            for s, t in zip(self.snapshot, trainer.state):
                t.copy_(torch.where(_lead(back, t), s, t))


def _lead(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A ``(K,)`` mask shaped to broadcast over a ``(K, ...)`` tensor."""
    return mask.view(-1, *([1] * (like.dim() - 1)))


def non_finite(row: dict, epoch: int) -> str | None:
    """What is not finite in an epoch's log row (``loss``, then ``val_loss``), or None."""
    for key, what in (("loss", "training loss"), ("val_loss", "validation loss")):
        if key in row and not math.isfinite(row[key]):
            return f"{what} is {row[key]} at epoch {epoch}"
    return None
