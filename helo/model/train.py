"""The generic mini-batch training loop, seeding and device selection.

``fit_loop`` knows nothing about HeLo: it gets a ``batch_loss(idx)`` closure (indices of the
batch's rows -> ``(loss tensor, {name: float})``) and optionally a ``val_loss()`` closure.
In-memory tensors are indexed directly (no ``DataLoader`` / worker processes): the data of a
fold fits in memory and indexing a resident tensor is far cheaper than collating.

Determinism: ``set_seed`` seeds Python, NumPy and torch; the shuffling uses its own
``torch.Generator`` seeded from ``seed`` (independent of any other RNG use), and the loop turns
on ``torch.use_deterministic_algorithms(True, warn_only=True)`` for its duration (restoring the
previous setting afterwards). On CPU the same seed gives bit-identical weights; on CUDA a few
kernels have no deterministic implementation (a warning, not an error) and cuBLAS additionally
needs ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` (set here if unset, before the first cuBLAS call).
"""
from __future__ import annotations

import contextlib
import copy
import math
import os
import random
import time
from typing import Callable, Iterator

import numpy as np
import torch
from torch import nn


def set_seed(seed: int) -> None:
    """Seed Python's, NumPy's and torch's (all devices) global RNGs."""
    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch.manual_seed(seed)


def select_device(device: str | torch.device | None = "auto") -> torch.device:
    """``"auto"``/``None`` -> CUDA if available, else MPS if available, else CPU."""
    if device is None or device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(device)


@contextlib.contextmanager
def deterministic(enabled: bool = True) -> Iterator[None]:
    """Turn deterministic algorithms on (warn-only) inside the block, then restore."""
    if not enabled:
        yield
        return
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    prev = torch.are_deterministic_algorithms_enabled()
    prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(prev, warn_only=prev_warn)


def batches(n: int, batch_size: int, generator: torch.Generator | None,
            shuffle: bool = True) -> Iterator[torch.Tensor]:
    """Row-index batches (CPU ``int64``) over ``range(n)``; the last may be smaller."""
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    for start in range(0, n, batch_size):
        yield order[start:start + batch_size]


def fit_loop(net: nn.Module, batch_loss: Callable[[torch.Tensor], tuple[torch.Tensor, dict]],
             n_train: int, *, epochs: int = 30, batch_size: int = 128, lr: float = 1e-3,
             weight_decay: float = 0.0, seed: int = 0,
             val_loss: Callable[[], float] | None = None, patience: int | None = None,
             min_delta: float = 0.0, restore_best: bool = True,
             grad_clip: float | None = None, progress: bool = False,
             deterministic_algorithms: bool = True,
             on_epoch: Callable[[dict], None] | None = None) -> list[dict]:
    """Adam over shuffled mini-batches for ``epochs`` epochs; returns the per-epoch history.

    Each history row: ``epoch``, ``loss`` (mean over samples of the batch losses, weighted by
    batch size), the mean of every extra value ``batch_loss`` logs, ``val_loss`` when
    ``val_loss`` is given, ``seconds``. With ``patience`` (needs ``val_loss``) training stops
    after ``patience`` epochs without an improvement larger than ``min_delta``; with
    ``restore_best`` the weights of the best validation epoch are put back at the end.
    """
    if patience is not None and val_loss is None:
        raise ValueError("early stopping (patience) needs validation data")
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    gen = torch.Generator().manual_seed(int(seed))
    history: list[dict] = []
    best, best_state, stale = math.inf, None, 0
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=epochs, desc="train", unit="epoch")
    with deterministic(deterministic_algorithms):
        for epoch in range(1, epochs + 1):
            t0 = time.perf_counter()
            net.train()
            sums: dict[str, float] = {}
            seen = 0
            for idx in batches(n_train, batch_size, gen):
                loss, logs = batch_loss(idx)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if grad_clip is not None:
                    nn.utils.clip_grad_norm_(net.parameters(), grad_clip)
                opt.step()
                b = len(idx)
                seen += b
                sums["loss"] = sums.get("loss", 0.0) + float(loss.detach()) * b
                for k, v in logs.items():
                    sums[k] = sums.get(k, 0.0) + float(v) * b
            row = {"epoch": epoch, **{k: v / max(seen, 1) for k, v in sums.items()}}
            if val_loss is not None:
                net.eval()
                with torch.no_grad():
                    row["val_loss"] = float(val_loss())
            row["seconds"] = time.perf_counter() - t0
            history.append(row)
            if on_epoch is not None:
                on_epoch(row)
            if bar is not None:
                bar.update(1)
                bar.set_postfix({k: f"{row[k]:.4f}" for k in ("loss", "val_loss") if k in row})
            if val_loss is not None:
                if row["val_loss"] < best - min_delta:
                    best, stale = row["val_loss"], 0
                    if restore_best:
                        best_state = copy.deepcopy(net.state_dict())
                else:
                    stale += 1
                    if patience is not None and stale >= patience:
                        break
    if bar is not None:
        bar.close()
    if restore_best and best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    return history
