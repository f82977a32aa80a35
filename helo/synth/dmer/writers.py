"""File writers of the synthetic DMER: MATLAB files with a fixed header, the self-report CSVs,
the wristband CSVs and the EDF."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from helo.data.dmer.protocol import EEG_CHANNELS
from helo.io import atomic_path, write_text
from helo.synth.dmer.config import DmerSynthConfig
from helo.synth.dmer.plan import _index, _Plan
from helo.synth.dmer.truth import _rng

# The 116-byte descriptive text at the head of a MATLAB 5 file. SciPy writes its own text with
# the wall-clock time ("Created on: ..."), so two runs of the same seed would differ; MATLAB and
# SciPy read only the version and endianness bytes after it, so a fixed text is as valid.
_MAT_HEADER = b"MATLAB 5.0 MAT-file, Platform: posix, Created by: helo synth (seeded, no date)"


def _savemat(path: Path, mat: dict) -> None:
    """``scipy.io.savemat`` with a fixed header text, written atomically."""
    import scipy.io
    with atomic_path(path, suffix=".mat") as tmp:
        scipy.io.savemat(str(tmp), mat)
        with open(tmp, "r+b") as fh:
            fh.write(_MAT_HEADER.ljust(116, b" "))


def _write_reports(folder: Path, sid: int, trials: list[dict]) -> dict:
    panas = "".join(f"{t['clip']}," + ",".join(str(s) for s in t["panas"]) + "\n" for t in trials)
    av = "".join(f"{t['clip']},{t['arousal']},{t['valence']},{t['dominance']}\n" for t in trials)
    emo = "".join(f"{t['clip']},{t['amusement']},{t['disgust']}\n" for t in trials)
    files = {"panas": folder / f"{sid}_panas.csv",
             "arousal_valence": folder / "Arousal_Valence.csv",
             "emotions": folder / f"{sid}_emotions.csv"}
    write_text(files["panas"], panas)
    write_text(files["arousal_valence"], av)
    write_text(files["emotions"], emo)
    return {k: str(v) for k, v in files.items()}


def _wrist_csv(path: Path, values: np.ndarray, markers: dict[int, int], start_epoch: int,
               fs: int, packet: int, decimals: int, r: np.random.Generator) -> None:
    n = values.size
    vals = np.char.mod(f"%.{decimals}f", values)
    lines = []
    for i in range(n):
        ts = ""
        if i % packet == 0:
            ts = str(start_epoch + (i * 1000) // fs + int(r.integers(0, 3)))
        code = markers.get(i)
        lines.append(f"{ts},{vals[i]}" if code is None else f"{ts},{vals[i]},{code}")
    write_text(path, "\n".join(lines) + "\n")


def _write_edf(path: Path, eeg_uv: np.ndarray, cfg: DmerSynthConfig, plan: _Plan,
               seed: int) -> dict:
    import datetime

    import mne
    fs = cfg.fs_eeg
    n = eeg_uv.shape[0]
    r = _rng(seed, plan.sid, 12)
    names = list(EEG_CHANNELS) + list(cfg.eeg_extra_channels)
    data = [eeg_uv.T * 1e-6]
    if cfg.eeg_extra_channels:
        data.append(r.normal(0, 15e-6, size=(len(cfg.eeg_extra_channels), n)))
    types = ["eeg"] * len(names)
    if cfg.trigger == "channel":
        trig = np.zeros(n)
        for code, t in plan.events:
            i = _index(t, plan.eeg_start_ms, fs)
            trig[i:i + 3] = code
        data.append(trig[None, :])
        names.append("Trigger")
        types.append("stim")
    info = mne.create_info(names, fs, types)
    raw = mne.io.RawArray(np.concatenate(data, axis=0), info, verbose="error")
    start = (plan.epoch_ms + plan.eeg_start_ms) // 1000
    raw.set_meas_date(datetime.datetime.fromtimestamp(start, tz=datetime.timezone.utc))
    if cfg.trigger == "annotations":
        on = [_index(t, plan.eeg_start_ms, fs) / fs for _, t in plan.events]
        raw.set_annotations(mne.Annotations(on, [0.0] * len(on), [str(c) for c, _ in plan.events],
                                            orig_time=raw.info["meas_date"]))
    with atomic_path(path, suffix=".edf") as tmp:
        mne.export.export_raw(str(tmp), raw, fmt="edf", physical_range="channelwise",
                              overwrite=True, verbose="error")
    x = eeg_uv
    return {"physical_min_uv": x.min(axis=0).tolist(), "physical_max_uv": x.max(axis=0).tolist()}
