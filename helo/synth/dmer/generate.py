"""The entry point: :func:`generate_dmer` writes every subject of a synthetic DMER dataset in one
layout and its ground truth."""
from __future__ import annotations

import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from helo.data.dmer.protocol import EEG_CHANNELS
from helo.data.labels import DMER_PANAS
from helo.io import write_json
from helo.synth.dmer.config import LAYOUTS, make_config
from helo.synth.dmer.layouts import (
    _subject_aligned,
    _subject_features,
    _subject_raw,
    _subject_subject_features,
)
from helo.synth.dmer.plan import _plan
from helo.synth.dmer.truth import _clip_intensities


def generate_dmer(out: str | Path, *, layout: str = "raw", seed: int = 0, preset: str = "default",
                  progress: bool = True, return_signals: bool = False,
                  aligned_rows: str = "id+time", labels: str | None = None,
                  video_dim: int = 768, **overrides) -> dict:
    """Write a synthetic DMER dataset in ``layout`` (``raw``, ``aligned`` or ``features``) under
    ``out`` and return its ground truth (also written to ``out/_ground_truth.json``).

    ``overrides`` change the preset's :class:`DmerSynthConfig` fields (``n_subjects``,
    ``subject_ids``, ``n_trials``, ``trial_seconds`` (int or (lo, hi)), ``video_size``, ``fps``,
    ``trigger`` ("channel"/"annotations"), ``video``, ...). ``return_signals=True`` adds, in the
    returned dict only (file paths in the truth are relative to ``out``), ``"_signals"``:
    subject -> trial id -> modality -> array of the values
    written for that trial (raw/aligned: ``eeg`` (n, 18) uV, ``gsr``/``ppg`` (n, 1);
    features: ``feas`` (rows, 913); subject-features: ``eeg`` (rows, 90) channel-major, ``gsr``,
    ``ppg``, ``video``), for tests.

    Variants of the files as the dataset's authors use them: ``aligned_rows`` ("id+time": signal
    rows + clip-id row + time row, the release; "id": the clip id as the last row),
    ``labels`` ("panas": the self-report CSVs; "dis_label": ``dis_label`` (32 x 10) in
    ``datas.mat`` only; "both"; default "panas", and "dis_label" for subject-features) and, for
    ``layout="subject-features"`` (``eegfea.mat``/``perifea.mat``/``videoFea.mat``),
    ``video_dim`` (768: LBP-TOP-shaped histograms; another width: a different descriptor).
    """
    if layout not in LAYOUTS:
        raise ValueError(f"unknown DMER layout {layout!r}; choose one of {LAYOUTS}")
    if aligned_rows not in ("id+time", "id"):
        raise ValueError(f"aligned_rows is 'id+time' or 'id', not {aligned_rows!r}")
    labels = labels or ("dis_label" if layout == "subject-features" else "panas")
    if labels not in ("panas", "dis_label", "both"):
        raise ValueError(f"labels is 'panas', 'dis_label' or 'both', not {labels!r}")
    cfg = make_config(preset, **overrides)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    clip_int = _clip_intensities(seed)
    from functools import partial
    writer = {"raw": _subject_raw,
              "aligned": partial(_subject_aligned, aligned_rows=aligned_rows, labels=labels),
              "features": _subject_features,
              "subject-features": partial(_subject_subject_features, labels=labels,
                                          video_dim=video_dim)}[layout]
    truth: dict[str, Any] = {"dataset": "dmer", "layout": f"dmer-{layout}", "seed": seed,
                             "preset": preset, "config": asdict(cfg), "panas_items": DMER_PANAS,
                             "eeg_channels": EEG_CHANNELS, "subjects": {}}
    variant = {k: v for k, v, default in (
        ("aligned_rows", aligned_rows, "id+time"), ("labels", labels, "panas"),
        ("video_dim", video_dim, 768)) if v != default and (
            layout in ("aligned", "subject-features") if k != "video_dim"
            else layout == "subject-features")}
    if variant:  # only when not the default, so the default datasets keep their bytes
        truth["variant"] = variant
    signals: dict[str, dict] = {}
    t_start = time.perf_counter()
    for k, sid in enumerate(cfg.subject_ids):
        t0 = time.perf_counter()
        plan = _plan(cfg, seed, sid, clip_int)
        keep: dict | None = {} if return_signals else None
        st = writer(out, cfg, seed, plan, keep)
        st["files"] = {k: Path(v).relative_to(out).as_posix() for k, v in st["files"].items()}
        truth["subjects"][str(sid)] = st
        if keep is not None:
            signals[str(sid)] = keep
        if progress:
            print(f"[synth dmer-{layout}] subject {sid} ({k + 1}/{len(cfg.subject_ids)}) "
                  f"{time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    if progress:
        print(f"[synth dmer-{layout}] done in {time.perf_counter() - t_start:.1f} s",
              file=sys.stderr, flush=True)
    write_json(out / "_ground_truth.json", truth, significant=10)
    if return_signals:
        truth = dict(truth, _signals=signals)
    return truth
