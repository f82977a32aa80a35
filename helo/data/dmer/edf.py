"""The raw release's EEG file (``sub<n>/1_raw.edf``): the header size check, the 18 channels
picked by name in microvolts, and the marker codes from a trigger channel or EDF+ annotations."""
from __future__ import annotations

import re
import warnings as _warnings
from pathlib import Path

import numpy as np

from helo.data.base import ProblemCollector
from helo.data.channels import normalise_channel
from helo.data.dmer.protocol import EEG_CHANNELS


def _edf_header_check(path: Path, col: ProblemCollector) -> None:
    """Raise DataError if the file is shorter than its EDF header says (truncated)."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(256)
            if len(head) < 256 or not head[:8].strip().startswith(b"0"):
                raise col.fail("not an EDF file (bad or short header)", path)
            n_rec = int(head[236:244].decode("ascii").strip())
            ns = int(head[252:256].decode("ascii").strip())
            hdr_bytes = int(head[184:192].decode("ascii").strip())
            if ns <= 0 or ns > 4096:
                raise col.fail(f"EDF header gives {ns} signals", path)
            if hdr_bytes != 256 * (ns + 1):
                raise col.fail(f"EDF header byte count is {hdr_bytes}, but {ns} signals need "
                               f"256 * ({ns} + 1) = {256 * (ns + 1)} bytes (corrupt header)", path)
            sig = fh.read(ns * 256)
            if len(sig) < ns * 256:
                raise col.fail("EDF header is truncated", path)
            off = ns * 216
            spr = [int(sig[off + 8 * k: off + 8 * k + 8].decode("ascii").strip())
                   for k in range(ns)]
    except (ValueError, UnicodeDecodeError) as e:
        raise col.fail(f"corrupt EDF header: {e}", path) from None
    except OSError as e:
        raise col.fail(f"cannot read EDF: {e}", path) from None
    expected = hdr_bytes + max(n_rec, 0) * sum(spr) * 2
    if n_rec >= 0 and size < expected:
        raise col.fail(f"EDF is truncated: {size} bytes, header promises {expected} "
                       f"({n_rec} records)", path)


def _read_edf(path: Path, col: ProblemCollector
              ) -> tuple[np.ndarray, float, list[tuple[int, int]], str]:
    """(data (n, 18) uV, fs, events [(code, sample)], source)."""
    import mne
    _edf_header_check(path, col)
    try:
        with _warnings.catch_warnings():
            _warnings.simplefilter("ignore")
            raw = mne.io.read_raw_edf(str(path), preload=True, stim_channel=None, verbose="error")
    except Exception as e:  # MNE raises many kinds on corrupt input
        raise col.fail(f"cannot read EDF: {type(e).__name__}: {e}", path) from None
    fs = float(raw.info["sfreq"])
    names = raw.ch_names
    lookup = {}
    for k, nm in enumerate(names):
        lookup.setdefault(normalise_channel(nm), k)
    missing = [c for c in EEG_CHANNELS if normalise_channel(c) not in lookup]
    if missing:
        raise col.fail(f"EEG channels {missing} not found (channels: {names})", path)
    picks = [lookup[normalise_channel(c)] for c in EEG_CHANNELS]
    data = raw.get_data(picks=picks).T * 1e6
    events: list[tuple[int, int]] = []
    source = "none"
    trig = [k for k, nm in enumerate(names)
            if re.search(r"trig|status|^sti", nm.strip(), re.IGNORECASE)]
    if trig:
        x = np.rint(raw.get_data(picks=[trig[0]])[0] * _unit_scale(raw, trig[0])).astype(np.int64)
        prev = np.r_[0, x[:-1]]
        on = np.flatnonzero((x != 0) & (x != prev))
        events = [(int(x[i]), int(i)) for i in on]
        source = f"channel {names[trig[0]]}"
    if not events and len(raw.annotations):
        for onset, desc in zip(raw.annotations.onset, raw.annotations.description):
            m = re.search(r"(-?\d+)\s*$", str(desc))
            if m:
                events.append((int(m.group(1)), int(round(float(onset) * fs))))
        events.sort(key=lambda e: e[1])
        source = "annotations"
    if not events:
        raise col.fail("no trigger codes in the EDF (neither a trigger channel nor annotations)",
                       path)
    return data, fs, events, source


def _unit_scale(raw, pick: int) -> float:
    """Undo MNE's volt scaling of a trigger channel stored with a voltage unit in the EDF."""
    if raw.get_channel_types(picks=[pick])[0] == "stim":
        return 1.0
    unit = str(getattr(raw, "_orig_units", {}).get(raw.ch_names[pick], "")).strip()
    return {"uV": 1e6, "µV": 1e6, "mV": 1e3, "nV": 1e9}.get(unit, 1.0)
