"""A MAHNOB-HCI session's BDF: the header's size check, the stimulus segment from the ``Status``
channel's markers, and the EEG, ECG and GSR of that segment.

Stimulus segment: the BioSemi ``Status`` channel carries the trigger codes in its lower 16 bits
(the upper 8 are the amplifier's own status and are masked off). A marker is a sample where the
masked code turns non-zero after a zero; a stimulus session has two, the stimulus' start and its
end, and the segment is ``[first, second)`` (TorchEEG's reading: ``mne.find_events`` onsets 0
and 1). More than two markers: the first and the last are taken, with a warning (the Idiap
``bob.db.hci_tagging`` reading, which spans every non-zero sample); fewer than two: an error.
About 30 s of the recording before the first marker and after the second are the
pre-/post-stimulus baselines; they are not read.
"""
from __future__ import annotations

import warnings as _warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from helo.data.base import ProblemCollector, Signal
from helo.data.channels import normalise_channel
from helo.data.mahnob.protocol import ECG_LEAD, EEG_CHANNELS, GSR_CHANNEL, STATUS

BDF_MAGIC = b"\xffBIOSEMI"
_TO_UV = {"uv": 1e6, "µv": 1e6, "μv": 1e6, "mv": 1e6, "v": 1e6}  # MNE gives these in volts
#: GSR units -> factor k of the conductance in microsiemens: ``uS = k / value`` for a
#: resistance, ``uS = k * value`` for a conductance
_RESISTANCE = {"ohm": 1e6, "kohm": 1e3, "mohm": 1.0}
_CONDUCTANCE = {"us": 1.0, "µs": 1.0, "μs": 1.0, "ns": 1e-3, "ms": 1e3, "s": 1e6}


@dataclass
class BdfSegment:
    """The stimulus segment of one BDF: sample span, rate, markers and the signals read."""

    fs: float
    n_samples: int
    span: tuple[int, int]
    markers: list[int]
    signals: dict[str, Signal]


def header_check(path: Path, col: ProblemCollector) -> None:
    """A :class:`~helo.data.base.DataError` when ``path`` is not a BDF file or is shorter than
    its header says (a truncated copy)."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(256)
            if len(head) < 256 or head[:8] != BDF_MAGIC:
                raise col.fail(f"not a BDF file (a BDF starts with 0xFF 'BIOSEMI'; this one "
                               f"with {head[:8]!r})", path)
            n_rec = int(head[236:244].decode("ascii").strip())
            ns = int(head[252:256].decode("ascii").strip())
            hdr_bytes = int(head[184:192].decode("ascii").strip())
            if not 0 < ns <= 4096:
                raise col.fail(f"BDF header gives {ns} signals", path)
            if hdr_bytes != 256 * (ns + 1):
                raise col.fail(f"BDF header byte count is {hdr_bytes}, but {ns} signals need "
                               f"256 * ({ns} + 1) = {256 * (ns + 1)} bytes (corrupt header)",
                               path)
            sig = fh.read(ns * 256)
            if len(sig) < ns * 256:
                raise col.fail(f"BDF header is truncated ({size} bytes; {ns} signals need "
                               f"{hdr_bytes})", path)
            spr = [int(sig[ns * 216 + 8 * k: ns * 216 + 8 * k + 8].decode("ascii").strip())
                   for k in range(ns)]
    except (ValueError, UnicodeDecodeError) as err:
        raise col.fail(f"corrupt BDF header: {err}", path) from None
    except OSError as err:
        raise col.fail(f"cannot read the BDF: {err}", path) from None
    expected = hdr_bytes + max(n_rec, 0) * sum(spr) * 3
    if n_rec >= 0 and size < expected:
        raise col.fail(f"BDF is truncated: {size} bytes, its header promises {expected} "
                       f"({n_rec} data records of {sum(spr)} samples, 3 bytes each)", path)


def markers(status: np.ndarray) -> np.ndarray:
    """Sample indices where the Status code (lower 16 bits) turns non-zero after a zero."""
    code = np.rint(np.asarray(status, dtype=np.float64)).astype(np.int64) & 0xFFFF
    prev = np.r_[0, code[:-1]]
    return np.flatnonzero((code != 0) & (prev == 0))


def stimulus_span(onsets: np.ndarray, path: Path, col: ProblemCollector) -> tuple[int, int]:
    """``[start, end)`` of the stimulus from the Status markers (module docstring)."""
    if onsets.size < 2:
        raise col.fail(f"the Status channel has {onsets.size} marker(s) "
                       f"{onsets.tolist()}; a stimulus session has 2 (stimulus start and "
                       f"end)", path)
    if onsets.size > 2:
        col.warn(f"the Status channel has {onsets.size} markers (at samples "
                 f"{onsets.tolist()[:8]}); the stimulus is taken from the first to the last",
                 path)
    return int(onsets[0]), int(onsets[-1])


def _unit(raw, name: str) -> str:
    return str(getattr(raw, "_orig_units", {}).get(name, "")).strip()


def _microvolts(raw, picks: list[int], names: list[str], a: int, b: int, path: Path,
                col: ProblemCollector) -> np.ndarray:
    x = raw.get_data(picks=picks, start=a, stop=b).T
    for j, name in enumerate(names):
        unit = _unit(raw, raw.ch_names[picks[j]])
        factor = _TO_UV.get(unit.lower())
        if factor is None:
            col.warn(f"channel {name} has the unit {unit!r}, not a voltage: taken as microvolts",
                     path)
            factor = 1.0
        x[:, j] *= factor
    return x


def _channel(names: list[str], want: str, path: Path, col: ProblemCollector) -> int:
    lower = [n.strip().lower() for n in names]
    if want.lower() not in lower:
        raise col.fail(f"no {want} channel (channels: {', '.join(names)})", path)
    return lower.index(want.lower())


def parse_lead(lead: str) -> tuple[str, str | None]:
    """``"EXG3"`` -> ``("EXG3", None)``; ``"EXG3-EXG1"`` -> ``("EXG3", "EXG1")`` (a difference
    of two electrodes)."""
    parts = [p.strip() for p in str(lead).split("-")]
    if len(parts) not in (1, 2) or not all(parts):
        raise ValueError(f"an ECG lead is a channel (EXG3) or a difference of two (EXG3-EXG1), "
                         f"not {lead!r}")
    return parts[0], (parts[1] if len(parts) == 2 else None)


def _conductance(raw, idx: int, a: int, b: int, path: Path, col: ProblemCollector) -> np.ndarray:
    x = raw.get_data(picks=[idx], start=a, stop=b)[0]
    unit = _unit(raw, raw.ch_names[idx])
    key = unit.lower()
    if key in _RESISTANCE:
        bad = ~(x > 0)
        if bad.any():
            col.warn(f"{GSR_CHANNEL} has {int(bad.sum())} resistance value(s) <= 0 in the "
                     f"stimulus segment: NaN", path)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(bad, np.nan, _RESISTANCE[key] / np.where(bad, 1.0, x))
    if key in _CONDUCTANCE:
        return x * _CONDUCTANCE[key]
    raise col.fail(f"{GSR_CHANNEL} has the unit {unit!r}: neither a resistance (Ohm, kOhm, "
                   f"MOhm) nor a conductance (uS, nS); cannot convert it to microsiemens", path)


def read_segment(path: Path, mods: list[str], col: ProblemCollector, *,
                 ecg_lead: str = ECG_LEAD) -> BdfSegment:
    """The stimulus segment of ``path`` and, of ``mods``, ``eeg`` (the 32 channels in
    :data:`EEG_CHANNELS` order, microvolts), ``ecg`` (``ecg_lead``, microvolts) and ``gsr``
    (``GSR1`` as skin conductance in microsiemens: ``1e6 / ohms``)."""
    import mne
    header_check(path, col)
    try:
        with _warnings.catch_warnings():
            _warnings.simplefilter("ignore")
            raw = mne.io.read_raw_bdf(str(path), preload=False, verbose="error")
    except Exception as err:  # MNE raises many kinds on corrupt input
        raise col.fail(f"cannot read the BDF: {type(err).__name__}: {err}", path) from None
    names = list(raw.ch_names)
    fs = float(raw.info["sfreq"])
    onsets = markers(raw.get_data(picks=[_channel(names, STATUS, path, col)])[0])
    a, b = stimulus_span(onsets, path, col)
    signals: dict[str, Signal] = {}
    if "eeg" in mods:
        lookup: dict[str, int] = {}
        for k, nm in enumerate(names):
            lookup.setdefault(normalise_channel(nm), k)
        missing = [c for c in EEG_CHANNELS if normalise_channel(c) not in lookup]
        if missing:
            raise col.fail(f"EEG channels {missing} not found (channels: {', '.join(names)})",
                           path)
        picks = [lookup[normalise_channel(c)] for c in EEG_CHANNELS]
        signals["eeg"] = Signal(_microvolts(raw, picks, EEG_CHANNELS, a, b, path, col), fs,
                                list(EEG_CHANNELS))
    if "ecg" in mods:
        plus, minus = parse_lead(ecg_lead)
        picks = [_channel(names, plus, path, col)]
        if minus is not None:
            picks.append(_channel(names, minus, path, col))
        x = _microvolts(raw, picks, [plus, minus][:len(picks)], a, b, path, col)
        lead = x[:, 0] - x[:, 1] if minus is not None else x[:, 0]
        signals["ecg"] = Signal(lead[:, None], fs, [ecg_lead])
    if "gsr" in mods:
        g = _conductance(raw, _channel(names, GSR_CHANNEL, path, col), a, b, path, col)
        signals["gsr"] = Signal(g[:, None], fs, [GSR_CHANNEL])
    return BdfSegment(fs=fs, n_samples=int(raw.n_times), span=(a, b),
                      markers=[int(i) for i in onsets], signals=signals)


__all__ = ["BdfSegment", "header_check", "markers", "stimulus_span", "parse_lead",
           "read_segment", "BDF_MAGIC"]
