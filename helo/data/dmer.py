"""Readers for the DMER releases: raw recordings, aligned ``datas.mat``, 913-d features, and the
per-subject feature files the dataset's authors' own code reads.

All of them return :class:`~helo.data.base.Subject` objects whose trials are the rows
of the subject's ``*_panas.csv`` (one row per trial, presentation order; without one, the clips
labelled by ``dis_label``, see below): ``trial_id`` is the clip id as a string, ``order`` the row position, ``category`` positive (0-7) / negative (8-15) / mixed
(16-31), ``panas`` the 10 scores (NaN where a cell is empty) in :data:`DMER_PANAS` order, and
``extra`` holds ``arousal``, ``valence``, ``dominance`` (``Arousal_Valence.csv``, columns assumed
in that order: the real column order is unsure) and ``amusement``, ``disgust``
(``*_emotions.csv``) where those files have the clip.

Raw layout (``<root>/<n>/<n>/`` + ``<root>/<n>/sub<n>/``)
---------------------------------------------------------
Every stream is cut by its *own* markers; no clock alignment between devices is attempted or
needed. A clip k spans from the sample carrying code ``k+10`` up to (not including) the sample
carrying code ``k+100``:

* EEG: ``sub<n>/1_raw.edf`` (else the only ``*.edf`` there). The 18 channels are picked by name
  through :func:`helo.data.channels.normalise_channel` (case, trailing dots, ``EEG `` prefixes,
  ``-Pz``/``-REF`` style suffixes and the 10-20 aliases T3/T7, T4/T8, T5/P7, T6/P8 do not matter;
  others such as A1, A2, X1-X3 are dropped); they keep DMER's names (``T3``...). Codes come from a trigger channel (named ``Trigger``/``TRIG``/
  ``Status``/``STI``: an event wherever the rounded value changes to a non-zero code) or, when
  there is none or it holds no code, from EDF+ annotations whose description contains an integer
  code (onset rounded to the nearest sample). EEG time zero is the file's first sample; its
  first trigger is the practice start, matching the first code in camera.csv and the wristband
  files. The file size is checked against the EDF header, so a truncated file is reported. Data
  are returned in microvolts.
* GSR / PPG: ``raw_gsr.csv`` / ``raw_ppg.csv``, no header, ``timestamp,value[,marker]``. Nominal
  rates 4 Hz / 100 Hz. Per-sample times are reconstructed per packet (packet timestamp + j/fs for
  the j-th sample after it; samples before the first timestamp extrapolated backwards); they are
  only used to warn about gaps (lost packets) and a rate far from nominal. Empty values are NaN
  (kept, with a warning).
* Video: ``camera.csv`` (``frame,code,epoch_ms``; rows with code 0 are ignored, so one row per
  frame also works) gives the frame span of each clip in the whole-session ``1_<ms>.mp4``. A
  missing video or camera.csv is a warning (``video=None``), not an error.
* One file per role: two EDFs without a ``1_raw.edf`` or two ``1_*.mp4`` are an error naming
  both (never the first in sort order); an unreadable video is an error, in ``check`` and when
  the video is read alike. Two folders naming one subject number (``02`` beside ``2``) or
  holding the same recordings under two ids (:meth:`DmerRawReader.duplicate_subjects`: a
  fingerprint of the self-reports, file sizes and EDF headers) are errors for both ids.
* Code 40 is both "rest start" and "clip 30 start": ``40`` followed by ``130`` is clip 30,
  ``40`` followed by ``50`` is the rest; ``50`` followed by ``60`` is the practice trial. Both
  are skipped. A clip start without its end (or an end without its start) is an error.

Aligned layout (``<root>/<n>/``): ``datas.mat`` (``eeg_datas``, ``gsr_datas``, ``ppg_datas``:
the signal rows (18 / 1 / 1), the clip-id row, then a time row -- 20 x N / 3 x N as the release
describes -- or without the time row, the clip id as the last row -- 19 x N / 2 x N, as the
dataset authors' own code reads it; stored N x rows is accepted too; ``fs_*``; v7.3 files are
read with h5py), ``<k>.mp4`` per trial and the labels. Labels: the self-report CSVs in the same
folder (also looked for in ``<n>/<n>/``) and/or ``dis_label`` in ``datas.mat`` (32 x 10, the
label distribution of clip id k in row k, columns in PANAS item order). With PANAS CSVs the
trials are their rows; when ``dis_label`` is there too, each trial's scores divided by their sum
must equal its ``dis_label`` row within 1e-3, else an error names both files. With
``dis_label`` alone the trials are the clip ids of the (smallest) signal matrix's id row in
order of appearance, and a trial's labels are its ``dis_label`` row: ``Trial.panas`` holds the
distribution, ``extra["distribution"]`` too and ``extra["label_kind"]`` is ``"distribution"``
(the generic layout's convention for distribution labels). Columns are selected by the id row;
id 40 (rest) and other ids without a PANAS row are dropped (the latter with an error). The video
of a trial is the last ``T * fps`` frames of ``<k>.mp4``.

Subject-features layout (``dmer-subject-features``, ``<root>/<n>/``): the per-subject feature
files of the authors' code, ``eegfea.mat`` (``feas``), ``perifea.mat`` (``feas_gsr`` N x 28,
``feas_ppg`` N x 27) and ``videoFea.mat`` (``lbps_all`` N x d, ``vids`` 1 x N), with the labels
as in the aligned layout (``datas.mat``'s ``dis_label`` and/or the PANAS CSVs); see
:class:`DmerSubjectFeaturesReader` for how columns are named.

Features layout: ``<root>/<n>.mat`` (``feas`` N x 913, ``vids``) with self-reports in
``<root>/<n>/`` (or ``<root>/``, named ``<n>_panas.csv`` ...). ``feas`` is split, in the order
the release stores it (:data:`FEATURE_BLOCKS`), into the FeatureBlocks ``eeg`` (90: the DE of the
18 :data:`EEG_CHANNELS` in the five bands delta..gamma, channel-major with the band varying
fastest), ``gsr`` (28) and ``ppg`` (27) (HeLo Table 6: 7 statistics of the signal, its first and
second difference, 6 of its spectrum; GSR + the 0-2 Hz Welch power) and ``video`` (the rest: 768
= LBP-TOP histograms XY | XT | YT of 256 bins, P = 8). The reader names none of them: each block
says which helo feature computation it is (``FeatureBlock.computed``), and the names come from
that feature module when the block is stored (``helo.features.block_names``): ``eeg_P3_delta``,
``eeg_P3_theta`` ..., ``gsr_median`` ... ``gsr_psd_0_2hz``, ``ppg_median`` ..., ``video_xy_000``
... ``video_yt_255`` -- exactly the names helo's extraction gives the same features computed from
the raw or aligned recordings, in the same column order (helo's EEG code is channel-major with
the band fastest too, and the physio and LBP-TOP codes use the release's order). A ``feas`` whose
video part is not 768 wide (another LBP-TOP or another descriptor) is accepted with a warning:
those columns are not helo's LBP-TOP, so they are stored as ``video__0``, ``video__1`` ...

``read_subject`` collects every problem of the subject; any error raises one :class:`DataError`
(the first, with a count of the others); warnings land in ``Subject.warnings``. ``check()``
returns all of them, for all subjects, as :class:`Problem` objects.
"""
from __future__ import annotations

import math
import re
import warnings as _warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from helo.data.labels import DMER_PANAS

from helo.data.base import (DataError, FeatureBlock, Problem, Signal, Subject, Trial, VideoRef,
                             dataset_files, refuse_outside_links, safe_id)
from helo.data.channels import normalise_channel

EEG_CHANNELS = ["P3", "C3", "F3", "Fz", "F4", "C4", "P4", "Cz", "Fp1", "Fp2", "T3", "T5", "O1",
                "O2", "F7", "F8", "T6", "T4"]
MODALITIES = ["eeg", "gsr", "ppg", "video"]
SIGNALS = ["eeg", "gsr", "ppg"]
NOMINAL_FS = {"eeg": 300.0, "gsr": 4.0, "ppg": 100.0}
REST_ID = 40

#: The features release's ``feas`` columns: modality -> (first, stop, what helo computation the
#: columns are, as ``FeatureBlock.computed`` params). Names are not given here: they come from
#: ``helo.features`` (one source). EEG: DE per channel and band, channel-major (band fastest),
#: which is helo's own EEG column order, so column j of the release is helo's column j; the band
#: *names* are those of helo's "paper" set (the "official" set has the same names; the edges do
#: not enter the names). GSR / PPG: helo.features.physio's Table-6 order. Video: LBP-TOP, P = 8,
#: XY | XT | YT; a ``feas`` wider or narrower than 913 has another video width (see the reader).
FEATURE_BLOCKS = {"eeg": (0, 90, {"channels": list(EEG_CHANNELS), "bands": "paper"}),
                  "gsr": (90, 118, {}), "ppg": (118, 145, {}),
                  "video": (145, 913, {"points": 8})}
N_SIGNAL_FEATURES = 145  # EEG 90 + GSR 28 + PPG 27; the video block is the rest of the row


def clip_category(clip: int) -> str:
    if 0 <= clip <= 7:
        return "positive"
    if 8 <= clip <= 15:
        return "negative"
    if 16 <= clip <= 31:
        return "mixed"
    raise ValueError(f"DMER clip ids are 0..31, got {clip}")


# ----------------------------------------------------------------------------- problem collection


class _Collector:
    """Problems of one subject: errors and warnings, collected instead of raised one by one."""

    def __init__(self, subject: str):
        self.subject = subject
        self.problems: list[Problem] = []

    def error(self, message: str, path=None) -> None:
        self.problems.append(Problem(self.subject, str(path) if path is not None else None,
                                     message, "error"))

    def warn(self, message: str, path=None) -> None:
        self.problems.append(Problem(self.subject, str(path) if path is not None else None,
                                     message, "warning"))

    def add(self, err: DataError) -> None:
        self.problems.append(Problem(err.subject or self.subject, err.path, err.problem, "error"))

    def fail(self, message: str, path=None) -> DataError:
        return DataError(message, path=path, subject=self.subject)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warning_texts(self) -> list[str]:
        return [f"{p.path}: {p.message}" if p.path else p.message
                for p in self.problems if p.severity == "warning"]

    def raise_errors(self) -> None:
        errs = self.errors
        if errs:
            first = errs[0]
            more = f" (and {len(errs) - 1} more problem(s); run check() for all)" if len(errs) > 1 else ""
            raise DataError(first.message + more, path=first.path, subject=self.subject)


def _resolve_modalities(modalities: Sequence[str] | None, allowed: Sequence[str]) -> list[str]:
    if modalities is None:
        return list(allowed)
    mods = [m.lower() for m in modalities]
    bad = [m for m in mods if m not in allowed]
    if bad:
        raise ValueError(f"unknown DMER modalities {bad}; choose from {list(allowed)}")
    return mods


# ----------------------------------------------------------------------------- self-reports


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def _read_report(path: Path, n_values: int, col: _Collector, what: str) -> list[tuple[int, np.ndarray]]:
    """Rows ``clip id, v1..vn`` of a header-less self-report CSV; raises DataError when unusable."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise col.fail(f"{what} file is missing", path) from None
    except (OSError, UnicodeDecodeError) as e:
        raise col.fail(f"cannot read {what} file: {e}", path) from None
    rows: list[tuple[int, np.ndarray]] = []
    seen: set[int] = set()
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        cells = [c.strip() for c in line.split(",")]
        while len(cells) > 1 + n_values and cells[-1] == "":
            cells.pop()  # trailing commas
        if lineno == 1 and not any(_is_number(c) for c in cells if c):
            col.warn(f"first line looks like a header and was skipped: {line.strip()!r}", path)
            continue
        if len(cells) > 1 + n_values:
            raise col.fail(f"line {lineno}: {len(cells)} values, expected clip id + {n_values}", path)
        try:
            clip_f = float(cells[0])
        except ValueError:
            raise col.fail(f"line {lineno}: clip id {cells[0]!r} is not a number", path) from None
        if not 0 <= clip_f <= 31 or clip_f != int(clip_f):  # NaN and inf fail the first test
            raise col.fail(f"line {lineno}: clip id {cells[0]!r} is not a DMER clip (0..31)", path)
        clip = int(clip_f)
        if clip in seen:
            raise col.fail(f"line {lineno}: clip {clip} appears twice", path)
        seen.add(clip)
        vals = np.full(n_values, np.nan)
        for j, c in enumerate(cells[1:]):
            if c == "" or c.lower() in ("nan", "na"):
                continue
            try:
                vals[j] = float(c)
            except ValueError:
                raise col.fail(f"line {lineno} (clip {clip}): value {j + 1} {c!r} is not a number",
                               path) from None
        if np.isnan(vals).any():
            col.warn(f"line {lineno} (clip {clip}): {int(np.isnan(vals).sum())} missing value(s)", path)
        rows.append((clip, vals))
    if not rows:
        raise col.fail(f"{what} file has no rows", path)
    return rows


def _find(folder: Path, names: Sequence[str], pattern: str | None = None) -> Path | None:
    for n in names:
        if (folder / n).is_file():
            return folder / n
    if pattern:
        hits = sorted(p for p in folder.glob(pattern) if not p.name.startswith(".tmp-"))
        if hits:
            return hits[0]
    return None


def _find_one(folder: Path, name: str | None, pattern: str, col: _Collector):
    """``folder/name`` when it exists, else the one file matching ``pattern`` (None: none);
    two or more matches are an error naming them, and ``False`` is returned, rather than a
    silent pick of the first."""
    if name and (folder / name).is_file():
        return folder / name
    hits = sorted(p for p in folder.glob(pattern) if not p.name.startswith(".tmp-"))
    if len(hits) > 1:
        col.error(f"ambiguous: {len(hits)} files match {pattern} "
                  f"({', '.join(str(h) for h in hits)}); keep exactly one", folder)
        return False
    return hits[0] if hits else None


def _fingerprint(folder: Path) -> str:
    """A cheap content fingerprint of a raw DMER subject folder: the self-report CSVs' bytes,
    every file's suffix and size, and the first 64 KiB of each EDF
    (not whole videos: gigabytes). Equal fingerprints under two ids mean a copied folder."""
    import hashlib
    h = hashlib.sha256()
    files = sorted((p for p in folder.rglob("*") if p.is_file()
                    and not p.name.startswith(".")), key=lambda p: (p.suffix, p.stat().st_size))
    if not files:
        return ""
    for p in files:
        h.update(f"{p.suffix}:{p.stat().st_size};".encode())
        if p.name.endswith(".csv") and p.stat().st_size < (1 << 20):
            h.update(p.read_bytes())
        elif p.suffix.lower() == ".edf":
            with open(p, "rb") as fh:
                h.update(fh.read(1 << 16))
    return h.hexdigest()


def _read_reports(folder: Path, sid: str, col: _Collector) -> tuple[list[Trial], dict]:
    """Trials from the self-report CSVs in ``folder``; returns (trials, {clip: trial})."""
    panas_path = _find(folder, [f"{sid}_panas.csv"], "*_panas.csv") or folder / f"{sid}_panas.csv"
    rows = _read_report(panas_path, 10, col, "PANAS")
    trials = []
    for order, (clip, scores) in enumerate(rows):
        bad = scores[~np.isnan(scores)]
        if ((bad < 1) | (bad > 5)).any():
            col.warn(f"clip {clip}: PANAS score outside 1..5", panas_path)
        trials.append(Trial(trial_id=str(clip), order=order, category=clip_category(clip),
                            panas=scores, panas_items=list(DMER_PANAS)))
    by_clip = {int(t.trial_id): t for t in trials}
    extras = [("Arousal_Valence", _find(folder, ["Arousal_Valence.csv"], "*rousal*alence*.csv"),
               ["arousal", "valence", "dominance"]),
              ("emotions", _find(folder, [f"{sid}_emotions.csv"], "*_emotions.csv"),
               ["amusement", "disgust"])]
    for what, path, keys in extras:
        if path is None:
            col.warn(f"no {what} file; extra self-reports missing", folder)
            continue
        try:
            erows = _read_report(path, len(keys), col, what)
        except DataError as e:
            col.add(e)
            continue
        for clip, vals in erows:
            t = by_clip.get(clip)
            if t is None:
                col.error(f"clip {clip} has a row in {path.name} but none in {panas_path.name} "
                          f"(PANAS row missing)", panas_path)
                continue
            t.extra.update({k: float(v) for k, v in zip(keys, vals)})
        missing = sorted(set(by_clip) - {c for c, _ in erows})
        if missing:
            col.warn(f"clips {missing} have no row in {path.name}", path)
    return trials, by_clip


# ----------------------------------------------------------------------------- markers


def _pair_events(events: list[tuple[int, int]], path, col: _Collector) -> dict[int, tuple[int, int]]:
    """Clip spans ``{clip: (start, stop)}`` from ``(code, position)`` events in time order."""
    spans: dict[int, tuple[int, int]] = {}
    i = 0
    n = len(events)
    while i < n:
        code, pos = events[i]
        nxt = events[i + 1][0] if i + 1 < n else None
        if 10 <= code <= 41 and nxt == code + 90:
            clip = code - 10
            if clip in spans:
                col.error(f"clip {clip} is marked twice", path)
            else:
                spans[clip] = (pos, events[i + 1][1])
            i += 2
            continue
        if (code, nxt) in ((REST_ID, 50), (50, 60)):
            i += 2  # rest / practice trial
            continue
        if code in (REST_ID, 50, 60):
            col.warn(f"unpaired rest/practice marker {code} at {pos}", path)
        elif 10 <= code <= 41:
            col.error(f"start marker {code} (clip {code - 10}) at {pos} has no end marker "
                      f"{code + 90} right after it", path)
        elif 100 <= code <= 131:
            col.error(f"end marker {code} (clip {code - 100}) at {pos} has no start marker "
                      f"{code - 90} before it", path)
        else:
            col.warn(f"unknown marker code {code} at {pos} ignored", path)
        i += 1
    return spans


def _match_spans(trials: list[Trial], spans: dict, path, col: _Collector, what: str) -> dict:
    wanted = {int(t.trial_id) for t in trials}
    for clip in sorted(set(spans) - wanted):
        col.error(f"clip {clip} is marked in {Path(str(path)).name} but has no PANAS row "
                  f"(PANAS row missing)", path)
    for clip in sorted(wanted - set(spans)):
        col.error(f"no {what} markers for clip {clip} (start {clip + 10} / end {clip + 100})", path)
    order = [c for c in sorted(spans, key=lambda c: spans[c][0]) if c in wanted]
    panas_order = [int(t.trial_id) for t in trials if int(t.trial_id) in spans]
    if order != panas_order:
        col.warn(f"{what} marker order {order} differs from the PANAS row order {panas_order}", path)
    return spans


def _nan_warning(x: np.ndarray, what: str, clip: int, path, col: _Collector) -> None:
    bad = int(np.isnan(x).sum())
    if bad:
        col.warn(f"{what} of clip {clip} has {bad} NaN value(s) (kept as NaN)", path)


# ----------------------------------------------------------------------------- EDF


def _edf_header_check(path: Path, col: _Collector) -> None:
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
            spr = [int(sig[off + 8 * k: off + 8 * k + 8].decode("ascii").strip()) for k in range(ns)]
    except (ValueError, UnicodeDecodeError) as e:
        raise col.fail(f"corrupt EDF header: {e}", path) from None
    except OSError as e:
        raise col.fail(f"cannot read EDF: {e}", path) from None
    expected = hdr_bytes + max(n_rec, 0) * sum(spr) * 2
    if n_rec >= 0 and size < expected:
        raise col.fail(f"EDF is truncated: {size} bytes, header promises {expected} "
                       f"({n_rec} records)", path)


def _read_edf(path: Path, col: _Collector) -> tuple[np.ndarray, float, list[tuple[int, int]], str]:
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
        raise col.fail("no trigger codes in the EDF (neither a trigger channel nor annotations)", path)
    return data, fs, events, source


def _unit_scale(raw, pick: int) -> float:
    """Undo MNE's volt scaling of a trigger channel stored with a voltage unit in the EDF."""
    if raw.get_channel_types(picks=[pick])[0] == "stim":
        return 1.0
    unit = str(getattr(raw, "_orig_units", {}).get(raw.ch_names[pick], "")).strip()
    return {"uV": 1e6, "µV": 1e6, "mV": 1e3, "nV": 1e9}.get(unit, 1.0)


# ----------------------------------------------------------------------------- wristband CSV


def _read_wrist(path: Path, fs: float, col: _Collector, what: str) -> tuple[np.ndarray, list]:
    """(values (n,), events [(code, sample)]) of ``raw_gsr.csv`` / ``raw_ppg.csv``."""
    import pandas as pd
    if not path.is_file():
        raise col.fail(f"{what} file is missing", path)
    try:
        df = pd.read_csv(path, header=None, names=["ts", "value", "marker"], dtype=str,
                         skip_blank_lines=True, engine="c")
    except pd.errors.EmptyDataError:
        raise col.fail(f"{what} file is empty", path) from None
    except (pd.errors.ParserError, ValueError, OSError) as e:
        raise col.fail(f"cannot parse {what} file: {e}", path) from None
    if len(df) == 0:
        raise col.fail(f"{what} file is empty", path)
    cols = {}
    for c in ("ts", "value", "marker"):
        s = df[c].str.strip()
        num = pd.to_numeric(s, errors="coerce")
        bad = num.isna() & s.notna() & (s != "") & ~s.str.lower().isin(["nan", "na"])
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise col.fail(f"line {row + 1}: {c} {s.iloc[row]!r} is not a number", path)
        cols[c] = num.to_numpy(dtype=np.float64)
    values = cols["value"]
    mk = np.flatnonzero(~np.isnan(cols["marker"]) & (cols["marker"] != 0))
    events = [(int(cols["marker"][i]), int(i)) for i in mk]
    ts = cols["ts"]
    idx = np.flatnonzero(~np.isnan(ts))
    if idx.size == 0:
        col.warn(f"{what} file has no timestamps; nominal rate {fs:g} Hz assumed", path)
    elif idx.size > 1:
        # per-packet time reconstruction: t = packet timestamp + j * 1000 / fs
        dt = np.diff(ts[idx])
        expected = np.diff(idx) * 1000.0 / fs
        gaps = np.flatnonzero(np.abs(dt - expected) > max(500.0, 2000.0 / fs))
        if gaps.size:
            g = gaps[0]
            col.warn(f"{gaps.size} timestamp gap(s) (first at line {idx[g + 1] + 1}: "
                     f"{dt[g]:.0f} ms where {expected[g]:.0f} ms expected)", path)
        span = ts[idx[-1]] - ts[idx[0]]
        if span > 0:
            est = (idx[-1] - idx[0]) * 1000.0 / span
            if abs(est / fs - 1) > 0.05:
                col.warn(f"timestamps imply {est:.2f} Hz, nominal {fs:g} Hz", path)
    return values, events


def packet_times(ts: np.ndarray, fs: float) -> np.ndarray:
    """Per-sample epoch ms from a timestamp column set only on each packet's first sample."""
    ts = np.asarray(ts, dtype=np.float64)
    n = ts.size
    idx = np.flatnonzero(~np.isnan(ts))
    if idx.size == 0:
        return np.arange(n) * 1000.0 / fs
    pid = np.maximum(np.searchsorted(idx, np.arange(n), side="right") - 1, 0)
    return ts[idx[pid]] + (np.arange(n) - idx[pid]) * 1000.0 / fs


def _read_camera(path: Path, col: _Collector) -> list[tuple[int, int]]:
    import pandas as pd
    try:
        df = pd.read_csv(path, header=None, dtype=str)
    except pd.errors.EmptyDataError:
        raise col.fail("camera.csv is empty", path) from None
    except (pd.errors.ParserError, ValueError, OSError) as e:
        raise col.fail(f"cannot parse camera.csv: {e}", path) from None
    if df.shape[1] < 2:
        raise col.fail("camera.csv needs columns frame,code,epoch_ms", path)
    num = df.iloc[:, :2].apply(lambda s: pd.to_numeric(s.str.strip(), errors="coerce"))
    bad = num.isna().any(axis=1).to_numpy()
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        raise col.fail(f"line {r + 1}: frame/code not numeric: {list(df.iloc[r, :2])}", path)
    frames = num.iloc[:, 0].to_numpy().astype(np.int64)
    codes = num.iloc[:, 1].to_numpy().astype(np.int64)
    return [(int(c), int(f)) for f, c in zip(frames, codes) if c != 0]


def _video_info(path: Path) -> tuple[int | None, float | None]:
    """(frame count, fps) of a video, or (None, None) if OpenCV cannot open it."""
    import cv2
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            return None, None
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        fps = float(cap.get(cv2.CAP_PROP_FPS))
        return (n if n > 0 else None), (fps if fps > 0 else None)
    finally:
        cap.release()


# ----------------------------------------------------------------------------- readers


class _DmerReader:
    layout = "dmer"
    _modalities = MODALITIES

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def modalities(self) -> list[str]:
        return list(self._modalities)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.root)!r})"

    def read_subject(self, subject_id: str, modalities: Sequence[str] | None = None) -> Subject:
        sid = safe_id(subject_id, path=self.root)  # it becomes part of paths below
        mods = _resolve_modalities(modalities, self._modalities)
        col = _Collector(sid)
        self._refuse_links(sid)
        subject = self._read(sid, mods, col, deep=False)
        col.raise_errors()
        subject.warnings = col.warning_texts
        return subject

    def check(self) -> list[Problem]:
        problems: list[Problem] = []
        if not self.root.is_dir():
            return [Problem(None, str(self.root), "dataset root does not exist")]
        sids = self.subjects()
        if not sids:
            from helo.data import no_subjects_message
            problems.append(Problem(None, str(self.root),
                                    no_subjects_message(self.layout, self.root)))
        dups = self.duplicate_subjects() if hasattr(self, "duplicate_subjects") else {}
        for sid, why in dups.items():
            problems.append(Problem(sid, str(self.root / sid), why))
        for sid in sids:
            col = _Collector(sid)
            try:
                self._refuse_links(sid)
                self._read(sid, list(self._modalities), col, deep=True)
            except DataError as e:
                col.add(e)
            except Exception as e:  # never let one subject stop the others
                col.error(f"unexpected {type(e).__name__}: {e}")
            problems.extend(col.problems)
        return problems

    def _read(self, sid: str, mods: list[str], col: _Collector, deep: bool) -> Subject:
        raise NotImplementedError

    def _refuse_links(self, sid: str) -> None:
        """DataError naming any of the subject's files (``<root>/<sid>/``, ``<root>/<sid>.mat``)
        that is a link leading outside the root, before anything is read."""
        refuse_outside_links(self.root, [self.root / sid, self.root / f"{sid}.mat"],
                             subject=sid)

    def source_files(self, subject_id: str) -> list[Path]:
        """Files the subject's features may come from: ``<root>/<sid>/`` and the files directly
        in the root (``<sid>.mat`` of the features release among them)."""
        return dataset_files(self.root, [self.root / safe_id(subject_id, path=self.root)])

    @staticmethod
    def _numeric_dirs(root: Path) -> list[str]:
        if not root.is_dir():
            return []
        return sorted((p.name for p in root.iterdir() if p.is_dir() and p.name.isdigit()), key=int)


class DmerRawReader(_DmerReader):
    """The raw DMER release: ``<root>/<n>/<n>/`` (video, camera.csv, wristband CSVs,
    self-reports) and ``<root>/<n>/sub<n>/1_raw.edf`` (EEG + trigger)."""

    layout = "dmer-raw"

    def subjects(self) -> list[str]:
        return [s for s in self._numeric_dirs(self.root)
                if (self.root / s / s).is_dir() or (self.root / s / f"sub{s}").is_dir()]

    def duplicate_subjects(self) -> dict[str, str]:
        """``{subject: why}`` for every subject that is another one under a second id: folder
        names naming the same number (``02`` beside ``2``) or the same content (the
        :func:`_fingerprint` of self-reports, file sizes and the EDF's first 64 KiB). One
        person on both sides of a leave-one-subject-out fold would leak; both are refused."""
        sids = self.subjects()
        out: dict[str, str] = {}
        by_num: dict[int, list[str]] = {}
        for s in self._numeric_dirs(self.root):
            by_num.setdefault(int(s), []).append(s)
        for group in by_num.values():
            if len(group) > 1:
                paths = " and ".join(str(self.root / g) for g in group)
                for g in group:
                    out[g] = f"the same subject number under {len(group)} folders: {paths}"
        by_print: dict[str, list[str]] = {}
        for s in sids:
            by_print.setdefault(_fingerprint(self.root / s), []).append(s)
        for fp, group in by_print.items():
            if fp and len(group) > 1:
                paths = " and ".join(str(self.root / g) for g in group)
                for g in group:
                    out.setdefault(g, f"identical recordings under {len(group)} subject ids: "
                                      f"{paths} (a copied folder?)")
        return out

    def _read(self, sid: str, mods: list[str], col: _Collector, deep: bool) -> Subject:
        d = self.root / sid / sid
        e = self.root / sid / f"sub{sid}"
        if sid.isdigit():
            twins = [p for p in self._numeric_dirs(self.root) if p != sid and int(p) == int(sid)]
            if twins:
                raise col.fail(f"subject number {int(sid)} has folders {sid!r} and {twins}: "
                               f"which one is the subject is ambiguous", self.root / sid)
        if not d.is_dir():
            raise col.fail("participant folder is missing", d)
        trials, by_clip = _read_reports(d, sid, col)
        spans_by: dict[str, dict] = {}
        if "eeg" in mods or deep:
            edf = _find_one(e, "1_raw.edf", "*.edf", col) if e.is_dir() else None
            if edf is False:
                pass  # ambiguous: the error is recorded
            elif edf is None:
                col.error("EEG file (sub<n>/1_raw.edf) is missing", e / "1_raw.edf")
            else:
                try:
                    data, fs, events, _src = _read_edf(edf, col)
                    spans = _match_spans(trials, _pair_events(events, edf, col), edf, col, "EEG")
                    spans_by["eeg"] = spans
                    for t in trials:
                        clip = int(t.trial_id)
                        if clip in spans:
                            a, b = spans[clip]
                            x = data[a:b]
                            _nan_warning(x, "EEG", clip, edf, col)
                            if "eeg" in mods:
                                t.signals["eeg"] = Signal(x, fs, list(EEG_CHANNELS))
                except DataError as err:
                    col.add(err)
        for m in ("gsr", "ppg"):
            if m not in mods and not deep:
                continue
            path = d / f"raw_{m}.csv"
            try:
                values, events = _read_wrist(path, NOMINAL_FS[m], col, m.upper())
                spans = _match_spans(trials, _pair_events(events, path, col), path, col, m.upper())
                spans_by[m] = spans
                for t in trials:
                    clip = int(t.trial_id)
                    if clip in spans:
                        a, b = spans[clip]
                        x = values[a:b]
                        _nan_warning(x, m.upper(), clip, path, col)
                        if m in mods:
                            t.signals[m] = Signal(x[:, None], NOMINAL_FS[m], [m.upper()])
            except DataError as err:
                col.add(err)
        if "video" in mods or deep:
            self._video(d, trials, col, spans_by, "video" in mods)
        if deep:
            self._cross_check(trials, spans_by, col, d)
        return Subject(sid, trials, self.layout)

    def _video(self, d: Path, trials: list[Trial], col: _Collector, spans_by: dict, keep: bool) -> None:
        video = _find_one(d, None, "1_*.mp4", col)
        if video is None:
            video = _find_one(d, None, "*.mp4", col)
        cam = d / "camera.csv"
        if video is False:
            return
        if video is None:
            col.warn("no face video (1_<ms>.mp4); video=None for every trial", d)
            return
        if not cam.is_file():
            col.warn("camera.csv is missing, the video cannot be cut; video=None", cam)
            return
        try:
            spans = _match_spans(trials, _pair_events(_read_camera(cam, col), cam, col), cam, col,
                                 "camera")
        except DataError as err:
            col.add(err)
            return
        spans_by["video"] = spans
        n_frames, fps = _video_info(video)
        if n_frames is None and fps is None:  # the same verdict in check-data and extraction
            col.error("OpenCV cannot read the face video (corrupted or not a video)", video)
            return
        fps = fps or 30.0
        for t in trials:
            clip = int(t.trial_id)
            if clip not in spans:
                continue
            a, b = spans[clip]
            if n_frames is not None and b > n_frames:
                col.warn(f"clip {clip} needs frames up to {b} but the video has {n_frames}", video)
            if keep:
                t.video = VideoRef(video, int(a), int(b), fps)

    @staticmethod
    def _cross_check(trials, spans_by: dict, col: _Collector, where: Path) -> None:
        rates = dict(NOMINAL_FS, video=30.0)
        for t in trials:
            clip = int(t.trial_id)
            durs = {m: (s[clip][1] - s[clip][0]) / rates[m] for m, s in spans_by.items() if clip in s}
            if len(durs) > 1 and max(durs.values()) - min(durs.values()) > 1.0:
                col.warn(f"clip {clip}: durations differ between streams "
                         f"({', '.join(f'{m} {v:.2f} s' for m, v in durs.items())})", where)


def _clip_positions(trials, ids: np.ndarray, missing: str, path: Path, col: _Collector):
    """``(trial, clip, positions)`` for each trial whose clip id occurs in ``ids``; an error
    (``missing`` formatted with ``clip``) for each that does not."""
    for t in trials:
        clip = int(t.trial_id)
        pos = np.flatnonzero(ids == clip)
        if pos.size == 0:
            col.error(missing.format(clip=clip), path)
            continue
        yield t, clip, pos


def _clips_without_report(ids: np.ndarray, trials, what: str, path: Path,
                          col: _Collector) -> list[int]:
    """The clip ids in ``what`` in order of appearance; an error for each (but the rest id)
    that has no PANAS row among ``trials``."""
    wanted = {int(t.trial_id) for t in trials}
    present = [int(c) for c in dict.fromkeys(np.asarray(ids).tolist())]
    for clip in present:
        if clip != REST_ID and clip not in wanted:
            col.error(f"clip {clip} is in {what} but has no PANAS row (PANAS row missing)", path)
    return present


def _load_mat(path: Path, names: Sequence[str], col: _Collector) -> dict:
    """Variables ``names`` (those present) of a MATLAB file; v7.3 (HDF5) files via h5py."""
    import scipy.io
    if not path.is_file():
        raise col.fail("MATLAB file is missing", path)
    try:
        return scipy.io.loadmat(str(path), variable_names=list(names))
    except NotImplementedError:
        pass  # v7.3: HDF5
    except Exception as e:
        raise col.fail(f"cannot read MATLAB file: {type(e).__name__}: {e}", path) from None
    try:
        import h5py
        out = {}
        with h5py.File(path, "r") as fh:
            for n in names:
                if n in fh:
                    out[n] = np.asarray(fh[n]).T  # MATLAB is column-major
        return out
    except Exception as e:
        raise col.fail(f"cannot read MATLAB v7.3 file: {type(e).__name__}: {e}", path) from None


def _signal_matrix(key: str, raw, n_signal: int, path: Path, col: _Collector):
    """``(signal rows (n_signal, N), clip ids (N,))`` of an aligned signal matrix: the signal
    rows, then the clip-id row, then optionally the time row (``n_signal + 2`` rows, the aligned
    release) -- or the clip-id row last (``n_signal + 1`` rows, as the dataset authors' own code
    reads it). Stored transposed (N rows) is accepted."""
    arr = np.asarray(raw, dtype=np.float64)
    shapes = (n_signal + 2, n_signal + 1)
    if arr.ndim != 2 or not any(r in arr.shape for r in shapes):
        raise col.fail(f"{key} has shape {arr.shape}, expected ({n_signal} signal rows + a "
                       f"clip-id row [+ a time row], N): ({n_signal + 1} or {n_signal + 2}, N)",
                       path)
    if arr.shape[0] not in shapes:
        arr = arr.T
    id_row = n_signal  # the row after the signals, whether a time row follows or not
    ids = arr[id_row]
    if np.isnan(ids).any():
        raise col.fail(f"{key}: the clip-id row (row {id_row + 1}) has NaN", path)
    if (ids != np.round(ids)).any():
        raise col.fail(f"{key}: the clip-id row (row {id_row + 1}) holds non-integers: is it "
                       f"the clip-id row?", path)
    return arr[:n_signal], ids.astype(np.int64)


_DIS_TOL = 1e-3


def _dis_label(raw, path: Path, col: _Collector) -> np.ndarray:
    """``dis_label`` as (32, 10): one label distribution per clip id (row = clip id), columns in
    :data:`DMER_PANAS` order; rows not summing to 1 are normalised with a warning."""
    d = np.asarray(raw, dtype=np.float64)
    if d.shape == (10, 32):
        d = d.T
    if d.shape != (32, 10):
        raise col.fail(f"dis_label has shape {d.shape}, expected (32, 10): one row per clip id "
                       f"0..31, one column per PANAS item", path)
    if not np.isfinite(d).all() or (d < 0).any():
        raise col.fail("dis_label has NaN or negative values", path)
    sums = d.sum(axis=1)
    if (sums <= 0).any():
        raise col.fail(f"dis_label rows {np.flatnonzero(sums <= 0).tolist()} are all zero", path)
    off = np.flatnonzero(np.abs(sums - 1) > _DIS_TOL)
    if off.size:
        col.warn(f"dis_label rows {off.tolist()} do not sum to 1 (e.g. {sums[off[0]]:.6g}); "
                 "normalised", path)
    return d / sums[:, None]


def _labelled_trials(rep: Path, sid: str, mat_path: Path, col: _Collector, clip_order):
    """The trials and their labels: the PANAS CSVs when present (checked against ``dis_label``
    when ``mat_path`` has one), else ``dis_label`` of ``mat_path`` for the clips
    ``clip_order()`` returns (in that order)."""
    panas_path = _find(rep, [f"{sid}_panas.csv"], "*_panas.csv")
    dis = None
    if mat_path.is_file():
        try:
            mat = _load_mat(mat_path, ["dis_label"], col)
        except DataError as err:
            col.add(err)
            mat = {}
        if "dis_label" in mat:
            dis = _dis_label(mat["dis_label"], mat_path, col)
    if panas_path is not None:
        trials, _ = _read_reports(rep, sid, col)
        if dis is not None:
            bad, worst = [], 0.0
            for t in trials:
                s = np.asarray(t.panas, dtype=np.float64)
                if np.isnan(s).any() or s.sum() <= 0:
                    continue
                diff = float(np.abs(s / s.sum() - dis[int(t.trial_id)]).max())
                if diff > _DIS_TOL:
                    bad.append(int(t.trial_id))
                    worst = max(worst, diff)
            if bad:
                raise col.fail(f"dis_label disagrees with the PANAS scores of {panas_path} for "
                               f"clips {bad} (largest difference {worst:.3g}; the scores divided "
                               f"by their sum should equal the clip's dis_label row)", mat_path)
        return trials
    if dis is None:
        raise col.fail(f"no labels: neither a PANAS file ({sid}_panas.csv) nor dis_label in "
                       f"{mat_path}", rep / f"{sid}_panas.csv")
    trials = []
    for k, clip in enumerate(clip_order()):
        trials.append(Trial(trial_id=str(clip), order=k, category=clip_category(clip),
                            panas=dis[clip].copy(), panas_items=list(DMER_PANAS),
                            extra={"distribution": dis[clip].copy(),
                                   "label_kind": "distribution"}))
    if not trials:
        raise col.fail("no clip ids found for the dis_label trials", mat_path)
    return trials


def _clip_ids_in_order(ids: np.ndarray, what: str, path: Path, col: _Collector) -> list[int]:
    """Distinct clip ids of ``ids`` in order of first appearance, without the rest id (40);
    an error for any other id outside 0..31."""
    out = []
    for c in dict.fromkeys(np.asarray(ids).astype(np.int64).tolist()):
        if c == REST_ID:
            continue
        if not 0 <= c <= 31:
            raise col.fail(f"{what} holds clip id {c}, not a DMER clip (0..31) nor rest (40)",
                           path)
        out.append(int(c))
    return out


class DmerAlignedReader(_DmerReader):
    """The aligned DMER release: ``<root>/<n>/datas.mat``, ``<root>/<n>/<k>.mp4`` and the
    self-report CSVs in ``<root>/<n>/`` (or ``<root>/<n>/<n>/``)."""

    layout = "dmer-aligned"
    _rows = {"eeg": 18, "gsr": 1, "ppg": 1}

    def subjects(self) -> list[str]:
        return [s for s in self._numeric_dirs(self.root) if (self.root / s / "datas.mat").is_file()
                or _find(self.root / s, [f"{s}_panas.csv"], "*_panas.csv")]

    def _read(self, sid: str, mods: list[str], col: _Collector, deep: bool) -> Subject:
        d = self.root / sid
        if not d.is_dir():
            raise col.fail("participant folder is missing", d)
        rep = d if _find(d, [f"{sid}_panas.csv"], "*_panas.csv") else d / sid
        mat_path = d / "datas.mat"
        trials = _labelled_trials(rep if rep.is_dir() else d, sid, mat_path, col,
                                  lambda: self._clip_order(mat_path, col))
        sig_mods = [m for m in SIGNALS if m in mods or deep]
        seconds: dict[int, float] = {}
        if sig_mods:
            names = [f"{m}_datas" for m in sig_mods] + [f"fs_{m}" for m in sig_mods]
            try:
                mat = _load_mat(mat_path, names, col)
            except DataError as err:
                col.add(err)
                mat = None
            if mat is not None:
                for m in sig_mods:
                    try:
                        self._signal(m, mat, mat_path, trials, col, m in mods, seconds)
                    except DataError as err:
                        col.add(err)
        if "video" in mods or deep:
            for t in trials:
                clip = int(t.trial_id)
                vp = d / f"{clip}.mp4"
                if not vp.is_file():
                    col.warn(f"no video for clip {clip}; video=None", vp)
                    continue
                n, fps = _video_info(vp)
                if n is None and fps is None:
                    col.warn(f"OpenCV cannot open the video of clip {clip}; video=None", vp)
                    continue
                fps = fps or 30.0
                start, stop = 0, n
                if n is not None and clip in seconds:
                    need = int(round(seconds[clip] * fps))
                    if n < need:
                        col.warn(f"clip {clip}: video has {n} frames, signals need {need}", vp)
                    start = max(0, n - need)  # aligned at the trial end
                if "video" in mods:
                    t.video = VideoRef(vp, start, stop, fps)
        return Subject(sid, trials, self.layout)

    def _clip_order(self, mat_path: Path, col: _Collector) -> list[int]:
        """Clip ids in order of appearance in the smallest signal matrix (labels from
        ``dis_label`` need the trials without reading the EEG)."""
        for m in ("gsr", "ppg", "eeg"):
            mat = _load_mat(mat_path, [f"{m}_datas"], col)
            if f"{m}_datas" in mat:
                _, ids = _signal_matrix(f"{m}_datas", mat[f"{m}_datas"], self._rows[m],
                                        mat_path, col)
                return _clip_ids_in_order(ids, f"{m}_datas", mat_path, col)
        raise col.fail("no gsr_datas, ppg_datas or eeg_datas to find the clips of dis_label",
                       mat_path)

    def _signal(self, m: str, mat: dict, path: Path, trials: list[Trial], col: _Collector,
                keep: bool, seconds: dict) -> None:
        key = f"{m}_datas"
        if key not in mat:
            raise col.fail(f"variable {key} is missing", path)
        data, ids = _signal_matrix(key, mat[key], self._rows[m], path, col)
        fs_raw = mat.get(f"fs_{m}")
        if fs_raw is None:
            col.warn(f"fs_{m} missing; nominal {NOMINAL_FS[m]:g} Hz assumed", path)
            fs = NOMINAL_FS[m]
        else:
            try:
                fs = float(np.asarray(fs_raw, dtype=np.float64).ravel()[0])
            except (TypeError, ValueError, IndexError):
                raise col.fail(f"fs_{m} is not a number", path) from None
            if not (math.isfinite(fs) and fs > 0):
                raise col.fail(f"fs_{m} must be a finite positive number, not {fs}", path)
        present = _clips_without_report(ids, trials, key, path, col)
        wanted = {int(t.trial_id) for t in trials}
        order = [c for c in present if c in wanted]
        panas_order = [int(t.trial_id) for t in trials if int(t.trial_id) in present]
        if order != panas_order:
            col.warn(f"{key} clip order {order} differs from the PANAS row order", path)
        names = list(EEG_CHANNELS) if m == "eeg" else [m.upper()]
        missing = f"no columns with clip id {{clip}} in {key}"
        for t, clip, idx in _clip_positions(trials, ids, missing, path, col):
            if idx[-1] - idx[0] + 1 != idx.size:
                col.warn(f"{key}: columns of clip {clip} are not contiguous", path)
            secs = idx.size / fs
            if abs(secs - round(secs)) > 1e-6:
                col.warn(f"{key}: clip {clip} has {idx.size} samples, not whole seconds at {fs:g} Hz",
                         path)
            seconds.setdefault(clip, secs)
            x = data[:, idx].T
            _nan_warning(x, m.upper(), clip, path, col)
            if keep:
                t.signals[m] = Signal(x, fs, names)


class DmerFeaturesReader(_DmerReader):
    """The features DMER release: ``<root>/<n>.mat`` (``feas`` N x 913, ``vids``) with the
    self-report CSVs in ``<root>/<n>/`` (or ``<root>/``). The FeatureBlocks carry no names but
    say which helo computation they are (:data:`FEATURE_BLOCKS`); see the module doc."""

    layout = "dmer-features"

    def subjects(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted((p.stem for p in self.root.glob("*.mat") if p.stem.isdigit()), key=int)

    def _read(self, sid: str, mods: list[str], col: _Collector, deep: bool) -> Subject:
        rep = self.root / sid
        if rep.is_dir() and _find(rep, [f"{sid}_panas.csv"], "*_panas.csv"):
            trials, _ = _read_reports(rep, sid, col)
        else:
            trials, _ = _read_reports_flat(self.root, sid, col)
        if not mods and not deep:
            return Subject(sid, trials, self.layout)
        path = self.root / f"{sid}.mat"
        try:
            mat = _load_mat(path, ["feas", "vids"], col)
        except DataError as err:
            col.add(err)
            return Subject(sid, trials, self.layout)
        if "feas" not in mat or "vids" not in mat:
            col.error("variables feas and vids are required", path)
            return Subject(sid, trials, self.layout)
        feas = np.asarray(mat["feas"], dtype=np.float64)
        vids = np.asarray(mat["vids"]).ravel()
        if feas.ndim == 2 and feas.shape[1] != 913 and (
                feas.shape[0] == 913 or (feas.shape[1] == vids.size != feas.shape[0])):
            feas = feas.T  # stored (913, N), or (width, N) with N = len(vids)
        if feas.ndim != 2 or feas.shape[1] <= N_SIGNAL_FEATURES:
            col.error(f"feas has shape {feas.shape}, expected (N, 913): EEG 90 + GSR 28 + "
                      f"PPG 27 + video 768 (another video width is accepted)", path)
            return Subject(sid, trials, self.layout)
        if vids.size != feas.shape[0]:
            col.error(f"vids has {vids.size} entries but feas has {feas.shape[0]} rows", path)
            return Subject(sid, trials, self.layout)
        blocks = dict(FEATURE_BLOCKS)
        n_video = feas.shape[1] - N_SIGNAL_FEATURES
        if feas.shape[1] != 913:
            col.warn(f"feas has {feas.shape[1]} columns, not 913: its video part has {n_video} "
                     f"features, not the 768 of LBP-TOP (P = 8); they are kept under their "
                     f"positions (stored as video__0 .. video__{n_video - 1})", path)
            blocks["video"] = (N_SIGNAL_FEATURES, feas.shape[1], None)
        if np.isnan(vids.astype(np.float64)).any():
            col.error("vids has NaN", path)
            return Subject(sid, trials, self.layout)
        vids = vids.astype(np.int64)
        _clips_without_report(vids, trials, "vids", path, col)
        for t, clip, rows in _clip_positions(trials, vids, "no feature rows for clip {clip}", path,
                                             col):
            block = feas[rows]
            _nan_warning(block, "features", clip, path, col)
            for m in mods:
                a, b, computed = blocks[m]
                if computed is None:  # not helo's computation: the column positions as names
                    t.features[m] = FeatureBlock(block[:, a:b].copy(),
                                                 [str(i) for i in range(b - a)])
                else:  # helo's names, given by helo.features when stored
                    t.features[m] = FeatureBlock(block[:, a:b].copy(), [],
                                                 computed={k: list(v) if isinstance(v, list) else v
                                                           for k, v in computed.items()})
        return Subject(sid, trials, self.layout)


#: EmotionDict's four EEG bands (their ``process_de``: [4, 8, 14, 31, 45] Hz), as helo band edges
EMOTIONDICT_BANDS = {"theta": [4.0, 8.0], "alpha": [8.0, 14.0], "beta": [14.0, 31.0],
                     "gamma": [31.0, 45.0]}
#: per-subject feature files: modality -> (file, variable, helo's width for it)
SUBJECT_FEATURE_FILES = {"eeg": ("eegfea.mat", "feas", None),
                         "gsr": ("perifea.mat", "feas_gsr", 28),
                         "ppg": ("perifea.mat", "feas_ppg", 27),
                         "video": ("videoFea.mat", "lbps_all", 768)}


class DmerSubjectFeaturesReader(_DmerReader):
    """Per-subject feature files as the DMER authors' own code reads them:
    ``<root>/<n>/eegfea.mat`` (``feas``), ``perifea.mat`` (``feas_gsr`` N x 28, ``feas_ppg``
    N x 27), ``videoFea.mat`` (``lbps_all`` N x d, ``vids`` the clip id of each row) and the
    labels: ``dis_label`` in ``<n>/datas.mat`` and/or the PANAS CSVs (as the aligned reader).

    Rows: row ``j`` of every file belongs to clip ``vids[j]`` (all files have len(vids) rows; a
    ``vids`` in another file must agree); a clip's rows are its windows 0, 1, ... in file order;
    rows of the rest (id 40) are dropped. Without PANAS files the trials are the clips of
    ``vids`` in order of appearance. Names (``FeatureBlock.computed`` where the columns are a
    helo computation, so models transfer between layouts):

    * ``feas``: (N, 18 x B) channel-major with the band fastest (the features release's order),
      or 3-D (N, B, 18) / (N, 18, B) (the channel axis is the one of length 18; the authors' code
      feeds it to its model as a per-channel token matrix). The channels are DMER's 18 in
      :data:`EEG_CHANNELS` order (the order of ``eeg_datas`` rows). B = 5: helo's five DE bands
      (``eeg_P3_delta`` ...); B = 4: EmotionDict's bands (:data:`EMOTIONDICT_BANDS`, names
      ``eeg_P3_theta`` ... ``eeg_P3_gamma`` with those edges); any other width: named by position
      (``eeg__feas_0`` ...).
    * ``feas_gsr`` 28 / ``feas_ppg`` 27: helo's Table-6 statistics (``gsr_median`` ...), as the
      features release; another width is named by position (``gsr__feas_gsr_0`` ...).
    * ``lbps_all``: 768 wide: helo's LBP-TOP (P = 8, ``video_xy_000`` ...); any other width (the
      authors' copy holds 32: pooled CNN activations, not LBP-TOP) is named for what it is, the
      file's variable and column: ``video__lbps_all_0`` ... ``video__lbps_all_31``.
    """

    layout = "dmer-subject-features"

    def subjects(self) -> list[str]:
        return [s for s in self._numeric_dirs(self.root)
                if any((self.root / s / f).is_file() for f in ("eegfea.mat", "perifea.mat",
                                                               "videoFea.mat"))]

    def _vids(self, d: Path, col: _Collector) -> tuple[np.ndarray, Path]:
        for fname in ("videoFea.mat", "eegfea.mat", "perifea.mat"):
            p = d / fname
            if p.is_file():
                mat = _load_mat(p, ["vids"], col)
                if "vids" in mat:
                    v = np.asarray(mat["vids"], dtype=np.float64).ravel()
                    if np.isnan(v).any() or (v != np.round(v)).any():
                        raise col.fail("vids holds NaN or non-integer clip ids", p)
                    return v.astype(np.int64), p
        raise col.fail("no vids (the clip id of each feature row) in videoFea.mat, eegfea.mat "
                       "or perifea.mat", d / "videoFea.mat")

    def _read(self, sid: str, mods: list[str], col: _Collector, deep: bool) -> Subject:
        d = self.root / sid
        if not d.is_dir():
            raise col.fail("participant folder is missing", d)
        rep = d if _find(d, [f"{sid}_panas.csv"], "*_panas.csv") else d / sid
        vids_cache: list = []

        def vids():
            if not vids_cache:
                vids_cache.append(self._vids(d, col))
            return vids_cache[0]

        trials = _labelled_trials(rep if rep.is_dir() else d, sid, d / "datas.mat", col,
                                  lambda: _clip_ids_in_order(vids()[0], "vids", vids()[1], col))
        want = [m for m in self._modalities if m in mods or deep]
        if not want:
            return Subject(sid, trials, self.layout)
        try:
            ids, ids_path = vids()
        except DataError as err:
            col.add(err)
            return Subject(sid, trials, self.layout)
        _clip_ids_in_order(ids, "vids", ids_path, col)
        _clips_without_report(ids, trials, "vids", ids_path, col)
        blocks: dict[str, tuple[np.ndarray, dict | None, list[str]]] = {}
        for m in want:
            fname, var, width = SUBJECT_FEATURE_FILES[m]
            path = d / fname
            try:
                mat = _load_mat(path, [var, "vids"], col)
                if var not in mat:
                    raise col.fail(f"variable {var} is missing", path)
                if "vids" in mat and path != ids_path:
                    other = np.asarray(mat["vids"], dtype=np.float64).ravel()
                    if other.size != ids.size or (other != ids).any():
                        raise col.fail(f"vids differs from the one in {ids_path}", path)
                blocks[m] = self._block(m, np.asarray(mat[var], dtype=np.float64), var, width,
                                        ids.size, path, col)
            except DataError as err:
                col.add(err)
        for t, clip, rows in _clip_positions(trials, ids, "no feature rows for clip {clip} in "
                                             "vids", ids_path, col):
            if rows[-1] - rows[0] + 1 != rows.size:
                col.warn(f"rows of clip {clip} are not contiguous in vids", ids_path)
            for m, (X, computed, names) in blocks.items():
                block = X[rows]
                _nan_warning(block, f"{m} features", clip, d / SUBJECT_FEATURE_FILES[m][0], col)
                if m in mods:
                    t.features[m] = FeatureBlock(block.copy(), list(names), computed=computed)
        return Subject(sid, trials, self.layout)

    @staticmethod
    def _block(m: str, X: np.ndarray, var: str, width: int | None, n_rows: int, path: Path,
               col: _Collector):
        """(rows x features, computed params or None, names when not computed)."""
        if m == "eeg" and X.ndim == 3:
            if X.shape[0] != n_rows:
                raise col.fail(f"{var} has shape {X.shape}: {X.shape[0]} rows but vids has "
                               f"{n_rows}", path)
            if X.shape[2] == len(EEG_CHANNELS):
                X = X.transpose(0, 2, 1)  # (N, B, 18) -> (N, 18, B)
            elif X.shape[1] != len(EEG_CHANNELS):
                raise col.fail(f"{var} has shape {X.shape}: no axis of the 18 channels", path)
            X = X.reshape(n_rows, -1)  # channel-major, band fastest
        if X.ndim != 2:
            raise col.fail(f"{var} has shape {X.shape}, expected (N, features)", path)
        if X.shape[0] != n_rows and X.shape[1] == n_rows:
            X = X.T
        if X.shape[0] != n_rows:
            raise col.fail(f"{var} has {X.shape[0]} rows but vids has {n_rows}", path)
        k = X.shape[1]
        positional = [f"{var}_{j}" for j in range(k)]
        if m == "eeg":
            n_ch = len(EEG_CHANNELS)
            if k == 5 * n_ch:
                return X, {"channels": list(EEG_CHANNELS), "bands": "paper"}, []
            if k == 4 * n_ch:
                return X, {"channels": list(EEG_CHANNELS),
                           "bands": {b: list(e) for b, e in EMOTIONDICT_BANDS.items()}}, []
            col.warn(f"{var} has {k} columns, not 18 channels x 4 or 5 bands; named by "
                     f"position ({m}__{var}_0 ...)", path)
            return X, None, positional
        if k == width:
            return X, ({"points": 8} if m == "video" else {}), []
        what = ("not helo's LBP-TOP (768 = 3 x 256 bins)" if m == "video"
                else f"not helo's {width} {m.upper()} statistics")
        col.warn(f"{var} has {k} columns, {what}: stored as {m}__{var}_0 .. "
                 f"{m}__{var}_{k - 1}", path)
        return X, None, positional


def _read_reports_flat(root: Path, sid: str, col: _Collector):
    """Self-reports named ``<n>_panas.csv``, ``<n>_Arousal_Valence.csv``, ``<n>_emotions.csv``
    directly under the features root (fallback when there is no ``<root>/<n>/`` folder)."""
    panas = root / f"{sid}_panas.csv"
    if not panas.is_file():
        raise col.fail("PANAS file is missing (looked in <root>/<n>/ and <root>/)",
                       root / sid / f"{sid}_panas.csv")
    trials = []
    rows = _read_report(panas, 10, col, "PANAS")
    for order, (clip, scores) in enumerate(rows):
        trials.append(Trial(trial_id=str(clip), order=order, category=clip_category(clip),
                            panas=scores, panas_items=list(DMER_PANAS)))
    by_clip = {int(t.trial_id): t for t in trials}
    for fname, keys in ((f"{sid}_Arousal_Valence.csv", ["arousal", "valence", "dominance"]),
                        (f"{sid}_emotions.csv", ["amusement", "disgust"])):
        p = root / fname
        if not p.is_file():
            col.warn(f"no {fname}; extra self-reports missing", p)
            continue
        try:
            for clip, vals in _read_report(p, len(keys), col, fname):
                if clip in by_clip:
                    by_clip[clip].extra.update({k: float(v) for k, v in zip(keys, vals)})
                else:
                    col.error(f"clip {clip} has a row in {fname} but none in {panas.name}", panas)
        except DataError as err:
            col.add(err)
    return trials, by_clip


__all__ = ["DmerRawReader", "DmerAlignedReader", "DmerFeaturesReader",
           "DmerSubjectFeaturesReader", "EEG_CHANNELS", "EMOTIONDICT_BANDS",
           "SUBJECT_FEATURE_FILES",
           "FEATURE_BLOCKS", "N_SIGNAL_FEATURES", "clip_category", "packet_times"]
