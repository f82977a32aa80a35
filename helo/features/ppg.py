"""PPG features per window: the 27 statistics of :mod:`helo.features.physio` (HeLo Table 6),
without the Welch power."""
from __future__ import annotations

from helo.features.physio import modality

PREFIX, PSD = "ppg", False  # physio statistics: name prefix, Welch 0-2 Hz power
ppg_features, compute, names = modality(PREFIX, PSD)
