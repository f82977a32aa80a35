"""One writer per synthetic DMER layout (raw, aligned, features, subject-features).

Layout choices where the real release description is silent
------------------------------------------------------------
* raw: ``camera.csv`` has one row per marker event (``frame,code,epoch_ms``), not one per frame;
  GSR/PPG rows are ``timestamp,value`` or ``,value`` (first sample of each packet carries the epoch
  ms timestamp), with a third column holding the code on marker samples; GSR is printed with 4
  decimals, PPG with 3. ``Arousal_Valence.csv`` columns are ``clip,arousal,valence,dominance``.
  The EDF holds the 18 channels (+ optional extra channels such as A1/A2) and either a ``Trigger``
  stim channel (the code held for 3 samples, 0 elsewhere) or EDF+ annotations whose description
  is the code (``trigger="annotations"``). Only ``1_raw.edf`` is written (no ``.csv``/``.dsi``).
* aligned: ``<n>/datas.mat``, ``<n>/<k>.mp4`` and the three self-report CSVs in the same ``<n>/``
  folder; the rest segment (id 40) comes first in ``datas.mat``; the time row counts seconds from
  0 within each segment.
* features: ``<root>/<n>.mat`` (``feas`` N x 913, ``vids`` N x 1) and the self-report CSVs in
  ``<root>/<n>/``; ``T - 4`` rows per trial of ``T`` seconds; values carry the emotion but are not
  the output of the real feature code.
* subject-features (the files the dataset authors' code reads): ``<n>/eegfea.mat`` (``feas``
  N x 5 x 18, bands x channels), ``<n>/perifea.mat`` (``feas_gsr`` N x 28, ``feas_ppg`` N x 27),
  ``<n>/videoFea.mat`` (``lbps_all`` N x ``video_dim``, ``vids`` 1 x N) and ``<n>/datas.mat``
  with ``dis_label`` (32 x 10); the same values as the features layout (``video_dim`` 768).
* variants (``generate_dmer`` arguments): aligned matrices without the time row (clip id last)
  and labels as ``dis_label`` in ``datas.mat`` instead of, or besides, the PANAS CSVs.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from helo.io import write_text
from helo.synth.dmer.config import DmerSynthConfig
from helo.synth.dmer.face_video import _FaceRenderer, _write_video
from helo.synth.dmer.plan import _index, _Plan
from helo.synth.dmer.signals import (
    _eeg_session,
    _eeg_subject_params,
    _gsr_session,
    _ppg_session,
    eeg_band_gains,
)
from helo.synth.dmer.truth import _rng
from helo.synth.dmer.writers import _savemat, _wrist_csv, _write_edf, _write_reports


def _subject_raw(out: Path, cfg: DmerSynthConfig, seed: int, plan: _Plan,
                 keep: dict | None) -> dict:
    sid = plan.sid
    d, e = out / str(sid) / str(sid), out / str(sid) / f"sub{sid}"
    files = _write_reports(d, sid, plan.trials)
    r = _rng(seed, sid, 50)
    eeg = _eeg_session(cfg, seed, plan)
    files["eeg"] = str(e / "1_raw.edf")
    edf_info = _write_edf(e / "1_raw.edf", eeg, cfg, plan, seed)
    gsr = _gsr_session(cfg, seed, plan)
    ppg = _ppg_session(cfg, seed, plan)
    gsr_marks = {_index(t, plan.wrist_start_ms, cfg.fs_gsr): c for c, t in plan.events}
    ppg_marks = {_index(t, plan.wrist_start_ms, cfg.fs_ppg): c for c, t in plan.events}
    wrist_epoch = plan.epoch_ms + plan.wrist_start_ms
    files["gsr"] = str(d / "raw_gsr.csv")
    files["ppg"] = str(d / "raw_ppg.csv")
    _wrist_csv(d / "raw_gsr.csv", gsr, gsr_marks, wrist_epoch, cfg.fs_gsr, cfg.gsr_packet, 4, r)
    _wrist_csv(d / "raw_ppg.csv", ppg, ppg_marks, wrist_epoch, cfg.fs_ppg, cfg.ppg_packet, 3, r)
    cam = "".join(f"{_index(t, 0, cfg.fps)},{c},"
                  f"{plan.epoch_ms + (_index(t, 0, cfg.fps) * 1000) // cfg.fps}\n"
                  for c, t in plan.events)
    write_text(d / "camera.csv", cam)
    files["camera"] = str(d / "camera.csv")
    if cfg.video:
        rend = _FaceRenderer(cfg, seed, plan)
        vpath = d / f"1_{plan.epoch_ms}.mp4"
        _write_video(vpath, (rend.frame(i) for i in range(rend.n)), cfg.fps, cfg.video_size)
        files["video"] = str(vpath)
    trials = []
    for tr in plan.trials:
        spans = {"eeg": [_index(tr[k], plan.eeg_start_ms, cfg.fs_eeg) for k in ("t0", "t1")],
                 "gsr": [_index(tr[k], plan.wrist_start_ms, cfg.fs_gsr) for k in ("t0", "t1")],
                 "ppg": [_index(tr[k], plan.wrist_start_ms, cfg.fs_ppg) for k in ("t0", "t1")],
                 "video": [_index(tr[k], 0, cfg.fps) for k in ("t0", "t1")]}
        trials.append(dict(tr, spans=spans))
        if keep is not None:
            keep[tr["trial_id"]] = {"eeg": eeg[slice(*spans["eeg"])],
                                    "gsr": gsr[slice(*spans["gsr"]), None],
                                    "ppg": ppg[slice(*spans["ppg"]), None]}
    return dict(trials=trials, files=files, edf=edf_info, rest_ms=list(plan.rest),
                eeg_start_ms=plan.eeg_start_ms, wrist_start_ms=plan.wrist_start_ms,
                epoch_ms=plan.epoch_ms)


def _dis_label(plan: _Plan) -> np.ndarray:
    """(32, 10) ``dis_label``: row k = clip k's PANAS scores / their sum (uniform for clips the
    subject did not see, which the real release does not have: every subject saw all 32)."""
    d = np.full((32, 10), 0.1)
    for tr in plan.trials:
        s = np.asarray(tr["panas"], dtype=np.float64)
        d[tr["clip"]] = s / s.sum()
    return d


def _subject_aligned(out: Path, cfg: DmerSynthConfig, seed: int, plan: _Plan, keep: dict | None,
                     aligned_rows: str = "id+time", labels: str = "panas") -> dict:
    sid = plan.sid
    d = out / str(sid)
    files = _write_reports(d, sid, plan.trials) if labels in ("panas", "both") else {}
    streams = {"eeg": (_eeg_session(cfg, seed, plan), plan.eeg_start_ms, cfg.fs_eeg),
               "gsr": (_gsr_session(cfg, seed, plan)[:, None], plan.wrist_start_ms, cfg.fs_gsr),
               "ppg": (_ppg_session(cfg, seed, plan)[:, None], plan.wrist_start_ms, cfg.fs_ppg)}
    rest_secs = (plan.rest[1] - plan.rest[0]) // 1000
    segs = [(40, plan.rest[0], rest_secs)] + [(t["clip"], t["t0"], t["seconds"])
                                              for t in plan.trials]
    mat = {}
    spans: dict[str, dict[str, list[int]]] = {}
    for m, (x, start, fs) in streams.items():
        cols = []
        pos = 0
        for clip, t0, secs in segs:
            a = _index(t0, start, fs)
            seg = x[a:a + secs * fs]
            ids = np.full(secs * fs, float(clip))
            tm = np.full(secs * fs, -1.0)
            tm[::fs] = np.arange(secs)
            cols.append(np.vstack([seg.T, ids, tm] if aligned_rows == "id+time" else
                                  [seg.T, ids]))
            if clip != 40:
                spans.setdefault(str(clip), {})[m] = [pos, pos + secs * fs]
                if keep is not None:
                    keep.setdefault(str(clip), {})[m] = seg
            pos += secs * fs
        mat[f"{m}_datas"] = np.concatenate(cols, axis=1)
        mat[f"fs_{m}"] = float(fs)
    if labels in ("dis_label", "both"):
        mat["dis_label"] = _dis_label(plan)
    _savemat(d / "datas.mat", mat)
    files["mat"] = str(d / "datas.mat")
    rend = _FaceRenderer(cfg, seed, plan) if cfg.video else None
    trials = []
    for tr in plan.trials:
        f0 = _index(tr["t0"], 0, cfg.fps)
        nf = tr["seconds"] * cfg.fps
        if rend is not None:
            _write_video(d / f"{tr['clip']}.mp4", (rend.frame(i) for i in range(f0, f0 + nf)),
                         cfg.fps, cfg.video_size)
        sp = dict(spans[tr["trial_id"]], video=[0, nf])
        trials.append(dict(tr, spans=sp))
    return dict(trials=trials, files=files)


FEATURE_DIMS = {"eeg": 90, "gsr": 28, "ppg": 27, "video": 768}


def _feature_projections(seed: int) -> dict:
    r = _rng(seed, 999_002)
    return {m: r.normal(0, 1, size=(3, FEATURE_DIMS[m])) for m in ("gsr", "ppg", "video")}


def _feature_rows(seed: int, plan: _Plan):
    """``(trial, feas (T - 4, 913))`` per trial: EEG DE 90 | GSR 28 | PPG 27 | LBP-TOP 768."""
    sid = plan.sid
    r = _rng(seed, sid, 60)
    par = _eeg_subject_params(seed, sid)
    proj = _feature_projections(seed)
    offs = {m: r.normal(0, 0.6, FEATURE_DIMS[m]) for m in proj}
    sgain = {m: r.uniform(0.6, 1.4) for m in proj}
    for tr in plan.trials:
        n = tr["seconds"] - 4
        af = tr["affect"]
        state = np.array([af["pos"], af["neg"], af["arousal"]])
        g = eeg_band_gains(par, *state)  # (18, 5) amplitudes
        de = 0.5 * np.log(2 * np.pi * np.e * (g ** 2 + (par["bg"][:, None] * 0.5) ** 2))
        eeg = de.reshape(1, 90) + r.normal(0, 0.12, size=(n, 90))  # band fastest
        blocks = [eeg]
        for m in ("gsr", "ppg", "video"):
            v = (offs[m] + sgain[m] * (state @ proj[m])
                 + r.normal(0, 0.35, size=(n, FEATURE_DIMS[m])))
            if m == "video":  # LBP-TOP: three normalised 256-bin histograms
                v = np.exp(0.5 * v).reshape(n, 3, 256)
                v = (v / v.sum(axis=2, keepdims=True)).reshape(n, 768)
            blocks.append(v)
        yield tr, np.concatenate(blocks, axis=1)


def _subject_features(out: Path, cfg: DmerSynthConfig, seed: int, plan: _Plan,
                      keep: dict | None) -> dict:
    sid = plan.sid
    files = _write_reports(out / str(sid), sid, plan.trials)
    rows, vids, trials = [], [], []
    pos = 0
    for tr, feas in _feature_rows(seed, plan):
        n = feas.shape[0]
        rows.append(feas)
        vids.append(np.full(n, tr["clip"]))
        trials.append(dict(tr, spans={"rows": [pos, pos + n]}))
        if keep is not None:
            keep[tr["trial_id"]] = {"feas": feas}
        pos += n
    mat = {"feas": np.concatenate(rows, axis=0),
           "vids": np.concatenate(vids)[:, None].astype(float)}
    _savemat(out / f"{sid}.mat", mat)
    files["mat"] = str(out / f"{sid}.mat")
    return dict(trials=trials, files=files)


def _subject_subject_features(out: Path, cfg: DmerSynthConfig, seed: int, plan: _Plan,
                              keep: dict | None, labels: str = "dis_label",
                              video_dim: int = 768) -> dict:
    """The authors' per-subject feature files: ``<n>/eegfea.mat`` (``feas`` (N, 5, 18): bands x
    channels), ``<n>/perifea.mat`` (``feas_gsr``, ``feas_ppg``), ``<n>/videoFea.mat``
    (``lbps_all`` (N, video_dim), ``vids`` (1, N)) and the labels (``<n>/datas.mat`` holding
    ``dis_label`` only, and/or the PANAS CSVs)."""
    sid = plan.sid
    d = out / str(sid)
    files = _write_reports(d, sid, plan.trials) if labels in ("panas", "both") else {}
    rv = _rng(seed, sid, 61)
    proj = _rng(seed, 999_003).normal(0, 1, size=(3, video_dim))
    parts: dict[str, list] = {"eeg": [], "gsr": [], "ppg": [], "video": []}
    vids, trials = [], []
    pos = 0
    for tr, feas in _feature_rows(seed, plan):
        n = feas.shape[0]
        af = tr["affect"]
        blocks = {"eeg": feas[:, :90], "gsr": feas[:, 90:118], "ppg": feas[:, 118:145],
                  "video": feas[:, 145:]}
        if video_dim != 768:  # another descriptor (the authors' copy: 32 pooled CNN values)
            state = np.array([af["pos"], af["neg"], af["arousal"]])
            blocks["video"] = state @ proj + rv.normal(0, 0.35, size=(n, video_dim))
        for m, v in blocks.items():
            parts[m].append(v)
        vids.append(np.full(n, tr["clip"]))
        trials.append(dict(tr, spans={"rows": [pos, pos + n]}))
        if keep is not None:
            keep[tr["trial_id"]] = {m: v.copy() for m, v in blocks.items()}
        pos += n
    eeg = np.concatenate(parts["eeg"])
    _savemat(d / "eegfea.mat", {"feas": eeg.reshape(-1, 18, 5).transpose(0, 2, 1)})
    _savemat(d / "perifea.mat", {"feas_gsr": np.concatenate(parts["gsr"]),
                                 "feas_ppg": np.concatenate(parts["ppg"])})
    _savemat(d / "videoFea.mat", {"lbps_all": np.concatenate(parts["video"]),
                                  "vids": np.concatenate(vids)[None, :].astype(float)})
    files.update(eeg=str(d / "eegfea.mat"), peri=str(d / "perifea.mat"),
                 video=str(d / "videoFea.mat"))
    if labels in ("dis_label", "both"):
        _savemat(d / "datas.mat", {"dis_label": _dis_label(plan)})
        files["mat"] = str(d / "datas.mat")
    return dict(trials=trials, files=files)
