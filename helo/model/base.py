"""One interface for every method, so evaluation code never special-cases a model.

Inputs are a dict ``modality -> (n_samples, n_features) float32`` array, already standardised
by the evaluation code (statistics fitted on the training part of the fold only), and label
distributions ``y`` of shape ``(n_samples, n_labels)`` whose rows sum to 1.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np


@dataclass
class ModalitySpec:
    """What a model needs to know about its inputs."""

    dims: dict[str, int]  # modality -> feature dimension, in a fixed order
    physiological: list[str]  # e.g. ["eeg", "gsr", "ppg"] or ["ecg", "emg", "eda"]
    behavioural: list[str]  # e.g. ["video"] or ["acc"]
    n_labels: int
    label_names: list[str] = field(default_factory=list)
    # Number of "channels" (tokens) per modality when known from the layout, e.g. eeg: 18.
    channels: dict[str, int] = field(default_factory=dict)

    @property
    def modalities(self) -> list[str]:
        return list(self.dims)


class DistributionLearner(ABC):
    """Fit on one fold's training part, predict label distributions."""

    name: str = "base"
    #: True for methods that use unlabelled target-domain samples (e.g. Amanda under LOSO).
    uses_target: bool = False

    @abstractmethod
    def fit(self, X: dict[str, np.ndarray], y: np.ndarray, *,
            X_val: dict[str, np.ndarray] | None = None, y_val: np.ndarray | None = None,
            X_target: dict[str, np.ndarray] | None = None,
            groups: np.ndarray | None = None) -> "DistributionLearner":
        """Train. ``X_val``/``y_val``: optional validation split of the *training* part (early
        stopping); ``X_target``: unlabelled test-domain inputs (only for ``uses_target``
        methods); ``groups``: subject id per training row."""

    @abstractmethod
    def predict(self, X: dict[str, np.ndarray]) -> np.ndarray:
        """Return ``(n_samples, n_labels)`` distributions (non-negative, rows sum to 1)."""

    # Optional hooks -----------------------------------------------------------------------
    def history(self) -> list[dict]:
        """Per-epoch training log (epoch, loss, ...), empty for non-iterative methods."""
        return []

    def count_parameters(self) -> int | None:
        return None


def concat(X: dict[str, np.ndarray], modalities: list[str] | None = None) -> np.ndarray:
    """Concatenate modalities column-wise in the given (or dict) order."""
    keys = modalities if modalities is not None else list(X)
    return np.concatenate([np.asarray(X[k], dtype=np.float32) for k in keys], axis=1)


def normalize_rows(p: np.ndarray) -> np.ndarray:
    p = np.nan_to_num(np.asarray(p, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    p = np.clip(p, 0.0, None)
    s = p.sum(axis=1, keepdims=True)
    n = p.shape[1]
    out = np.where(s > 0, p / np.where(s > 0, s, 1.0), 1.0 / n)
    return out


class MeanDistribution(DistributionLearner):
    """Predicts the mean training distribution for every sample (the trivial baseline)."""

    name = "mean"

    def __init__(self, spec: ModalitySpec | None = None, **params):
        self.spec = spec
        self.mean_: np.ndarray | None = None

    def fit(self, X, y, *, X_val=None, y_val=None, X_target=None, groups=None):
        m = np.asarray(y, dtype=np.float64).mean(axis=0)
        self.mean_ = m / m.sum()
        return self

    def predict(self, X) -> np.ndarray:
        if self.mean_ is None:
            raise RuntimeError("MeanDistribution is not fitted")
        n = len(next(iter(X.values())))
        return np.tile(self.mean_, (n, 1))

    def count_parameters(self) -> int | None:
        return 0 if self.mean_ is None else int(self.mean_.size)
