"""The wristband CSVs' per-packet timestamps (helo.data.dmer.wristband)."""
from __future__ import annotations

import os

import numpy as np

from helo.data.dmer import (
    packet_times,
)

os.environ.setdefault("OMP_NUM_THREADS", "1")


def test_packet_times():
    ts = np.array([np.nan, 1000.0, np.nan, np.nan, 1030.0, np.nan])
    np.testing.assert_allclose(packet_times(ts, 100.0), [990, 1000, 1010, 1020, 1030, 1040])
