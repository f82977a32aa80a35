"""GSR features per window: the 28 statistics of :mod:`helo.features.physio` (HeLo Table 6),
with the Welch power of 0-2 Hz."""
from __future__ import annotations

from helo.features.physio import modality

PREFIX, PSD = "gsr", True  # physio statistics: name prefix, Welch 0-2 Hz power
gsr_features, compute, names = modality(PREFIX, PSD)
