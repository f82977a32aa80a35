"""Seeded synthetic recordings written as a BIDS dataset (EEG-BIDS + physio + beh + face video).

``generate_bids(out, seed=0, preset="default", **overrides)`` takes the same subjects, trials,
self-reports and signals as the synthetic DMER (:mod:`helo.synth.dmer`, same presets and
overrides, same seed -> same sessions) and writes them in the layout that
:class:`helo.data.bids.BidsReader` reads (its docstring is the specification)::

    out/dataset_description.json, participants.tsv, README     (mne-bids)
    out/sub-01/eeg/sub-01_task-emotion_eeg.edf (+ _eeg.json, _channels.tsv)   (mne-bids)
    out/sub-01/eeg/sub-01_task-emotion_events.tsv (+ .json)
    out/sub-01/eeg/sub-01_task-emotion_recording-gsr_physio.tsv.gz (+ .json)  4 Hz, column gsr
    out/sub-01/eeg/sub-01_task-emotion_recording-ppg_physio.tsv.gz (+ .json)  100 Hz, column cardiac
    out/sub-01/beh/sub-01_task-emotion_beh.tsv (+ .json)       one row per trial
    out/sub-01/beh/sub-01_task-emotion_recording-face_video.mp4 (+ .json)

* EEG: the 18 DMER channels at 300 Hz, written by ``mne_bids.write_raw_bids`` as EDF (16-bit,
  each channel's physical range its own min/max, so values come back within one quantisation
  step), under the old 10-20 names DMER uses (``T3``...): the reader stores them normalised
  (``T7``...), which the ground truth records.
* Events: one row per trial (``onset``/``duration`` in seconds from the first EEG sample, exact
  sample times; ``trial_type`` the clip category; ``trial`` the clip id), plus the practice and
  rest segments (``trial`` ``practice`` / ``rest``), which have no self-report and are skipped by
  the reader with a warning.
* Physio: the wristband GSR and PPG, each in its own ``_recording-<label>`` file (one sampling
  rate per file), ``StartTime`` = wristband start minus EEG start (s); values written with
  ``repr`` precision, so they come back bit for bit.
* Beh: ``trial``, the ten PANAS items (DMER order, 1-5) and arousal, valence, dominance,
  amusement, disgust.
* Video (BEP047 ``_video`` in ``beh/``): the whole-session drawn face, ``StartTime`` = video start
  minus EEG start (s).

The ground truth (``out/_ground_truth.json``) lists per subject and trial the EEG/physio sample
spans and video frame span the reader must find; ``return_signals=True`` adds the values
written (``eeg`` (n, 18) uV before EDF quantisation, ``gsr``/``ppg`` (n, 1)).
"""
from __future__ import annotations

import gzip
import io
import math
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from helo.data.dmer.protocol import EEG_CHANNELS
from helo.data.labels import DMER_PANAS
from helo.io import atomic_path, write_json, write_text
from helo.synth.dmer.config import make_config
from helo.synth.dmer.face_video import _FaceRenderer, _write_video
from helo.synth.dmer.plan import _index, _plan
from helo.synth.dmer.signals import _eeg_session, _gsr_session, _ppg_session
from helo.synth.dmer.truth import _clip_intensities

TASK = "emotion"
_EXTRA = ["arousal", "valence", "dominance", "amusement", "disgust"]


def _label(sid: int) -> str:
    return f"{sid:02d}"


def _write_bytes(path: Path, data: bytes) -> None:
    with atomic_path(path, suffix="".join(path.suffixes)) as tmp:
        Path(tmp).write_bytes(data)


def _tsv(rows: list[list], header: list[str]) -> str:
    return "\t".join(header) + "\n" + "".join("\t".join(str(c) for c in r) + "\n" for r in rows)


def first_sample_at(t: float, start: float, fs: float) -> int:
    """Index of the first sample at or after time ``t`` (s) of a stream whose sample 0 lies at
    ``start`` (s): the rule :class:`helo.data.bids.BidsReader` applies (with a 1e-6 sample
    tolerance for round-off in the written times)."""
    return int(math.ceil((t - start) * fs - 1e-6))


def _write_physio(path: Path, x: np.ndarray, fs: float, start: float, columns: list[str]) -> None:
    buf = io.BytesIO()
    text = "".join("\t".join(repr(float(v)) for v in row) + "\n" for row in np.atleast_2d(x.T).T)
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0) as gz:
        gz.write(text.encode("ascii"))
    _write_bytes(path, buf.getvalue())
    write_json(path.with_name(path.name.replace(".tsv.gz", ".json")),
               {"SamplingFrequency": fs, "StartTime": start, "Columns": columns})


def _subject(out: Path, cfg, seed: int, plan, keep: dict | None) -> dict:
    import datetime

    import mne
    from mne_bids import BIDSPath, write_raw_bids

    lab = _label(plan.sid)
    fs = cfg.fs_eeg
    eeg = _eeg_session(cfg, seed, plan)  # (n, 18) uV
    info = mne.create_info(list(EEG_CHANNELS), fs, "eeg")
    raw = mne.io.RawArray(eeg.T * 1e-6, info, verbose="error")
    start = (plan.epoch_ms + plan.eeg_start_ms) // 1000
    raw.set_meas_date(datetime.datetime.fromtimestamp(start, tz=datetime.timezone.utc))
    bp = BIDSPath(subject=lab, task=TASK, datatype="eeg", root=out)
    write_raw_bids(raw, bp, format="EDF", allow_preload=True, overwrite=True, verbose="error")
    eeg_dir = out / f"sub-{lab}" / "eeg"
    beh_dir = out / f"sub-{lab}" / "beh"
    stem = f"sub-{lab}_task-{TASK}"
    files = {"eeg": f"sub-{lab}/eeg/{stem}_eeg.edf"}

    # events: exact sample times of the EEG
    def onset(t_ms: int) -> float:
        return _index(t_ms, plan.eeg_start_ms, fs) / fs

    rows = []
    practice = [t for c, t in plan.events if c in (50, 60)]
    rows.append([onset(practice[0]), float(cfg.practice_seconds), "practice", "practice"])
    rows.append([onset(plan.rest[0]), (plan.rest[1] - plan.rest[0]) / 1000.0, "rest", "rest"])
    for tr in plan.trials:
        rows.append([onset(tr["t0"]), float(tr["seconds"]), tr["category"], tr["trial_id"]])
    rows.sort(key=lambda r: r[0])
    write_text(eeg_dir / f"{stem}_events.tsv",
               _tsv([[repr(r[0]), repr(r[1]), r[2], r[3]] for r in rows],
                    ["onset", "duration", "trial_type", "trial"]))
    write_json(eeg_dir / f"{stem}_events.json", {
        "trial_type": {"Description": "clip category (or practice / rest)"},
        "trial": {"Description": "trial identifier: the clip id, as in the beh table's trial "
                                 "column; practice / rest have no self-report"}})
    files["events"] = f"sub-{lab}/eeg/{stem}_events.tsv"

    # physio: one file per sampling rate
    wrist0 = (plan.wrist_start_ms - plan.eeg_start_ms) / 1000.0
    gsr = _gsr_session(cfg, seed, plan)
    ppg = _ppg_session(cfg, seed, plan)
    for rec, x, f, col in (("gsr", gsr, cfg.fs_gsr, "gsr"), ("ppg", ppg, cfg.fs_ppg, "cardiac")):
        p = eeg_dir / f"{stem}_recording-{rec}_physio.tsv.gz"
        _write_physio(p, x, float(f), wrist0, [col])
        files[rec] = p.relative_to(out).as_posix()

    # self-reports
    beh_rows = [[tr["trial_id"], *tr["panas"], *[tr[k] for k in _EXTRA]] for tr in plan.trials]
    write_text(beh_dir / f"{stem}_beh.tsv", _tsv(beh_rows, ["trial", *DMER_PANAS, *_EXTRA]))
    write_json(beh_dir / f"{stem}_beh.json", {
        "trial": {"Description": "trial identifier (the events' trial column)"},
        **{it: {"Description": f"PANAS item {it}", "Levels": {"1": "not at all",
                                                              "5": "extremely"}}
           for it in DMER_PANAS}})
    files["beh"] = f"sub-{lab}/beh/{stem}_beh.tsv"

    # face video (BEP047): whole session, starting at session time 0
    video0 = (0 - plan.eeg_start_ms) / 1000.0
    if cfg.video:
        vpath = beh_dir / f"{stem}_recording-face_video.mp4"
        rend = _FaceRenderer(cfg, seed, plan)
        _write_video(vpath, (rend.frame(i) for i in range(rend.n)), cfg.fps, cfg.video_size)
        write_json(vpath.with_suffix(".json"), {"StartTime": video0, "FrameRate": cfg.fps,
                                                "RecordingType": "face"})
        files["video"] = vpath.relative_to(out).as_posix()

    trials = []
    for tr in plan.trials:
        on = onset(tr["t0"])
        secs = tr["seconds"]
        spans = {"eeg": [round(on * fs), round(on * fs) + secs * fs]}
        for m, f in (("gsr", cfg.fs_gsr), ("ppg", cfg.fs_ppg)):
            a = first_sample_at(on, wrist0, f)
            spans[m] = [a, a + secs * f]
        a = first_sample_at(on, video0, cfg.fps)
        spans["video"] = [a, a + secs * cfg.fps]
        trials.append({k: v for k, v in tr.items() if k not in ("t0", "t1")} | {"spans": spans,
                                                                              "onset": on})
        if keep is not None:
            keep[tr["trial_id"]] = {"eeg": eeg[slice(*spans["eeg"])],
                                    "gsr": gsr[slice(*spans["gsr"]), None],
                                    "ppg": ppg[slice(*spans["ppg"]), None]}
    return dict(label=lab, trials=trials, files=files, physio_start_s=wrist0,
                video_start_s=video0)


def generate_bids(out: str | Path, *, seed: int = 0, preset: str = "default",
                  progress: bool = True, return_signals: bool = False, **overrides) -> dict:
    """Write the synthetic dataset as BIDS under ``out``; returns the ground truth (also
    ``out/_ground_truth.json``). ``preset`` and ``overrides`` as for
    :func:`helo.synth.dmer.generate_dmer` (``trigger``/``eeg_extra_channels`` are ignored)."""
    cfg = make_config(preset, **overrides)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    clip_int = _clip_intensities(seed)
    truth = {"dataset": "dmer", "layout": "bids", "seed": seed, "preset": preset,
             "config": asdict(cfg), "panas_items": DMER_PANAS, "task": TASK,
             "eeg_channels_written": list(EEG_CHANNELS), "subjects": {}}
    signals: dict[str, dict] = {}
    t_start = time.perf_counter()
    for k, sid in enumerate(cfg.subject_ids):
        t0 = time.perf_counter()
        plan = _plan(cfg, seed, sid, clip_int)
        keep: dict | None = {} if return_signals else None
        st = _subject(out, cfg, seed, plan, keep)
        truth["subjects"][st["label"]] = st
        if keep is not None:
            signals[st["label"]] = keep
        if progress:
            print(f"[synth bids] subject {sid} ({k + 1}/{len(cfg.subject_ids)}) "
                  f"{time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    from mne_bids import make_dataset_description
    make_dataset_description(path=out, name="helo synthetic recordings (DMER-like, seeded)",
                             dataset_type="raw", overwrite=True, verbose="error")
    write_text(out / ".bidsignore", "_ground_truth.json\n*_video.json\n*_video.mp4\n")
    write_json(out / "_ground_truth.json", truth, significant=10)
    if progress:
        print(f"[synth bids] done in {time.perf_counter() - t_start:.1f} s", file=sys.stderr,
              flush=True)
    if return_signals:
        truth = dict(truth, _signals=signals)
    return truth


__all__ = ["generate_bids", "first_sample_at", "TASK"]
