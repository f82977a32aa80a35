"""Seeded synthetic MAHNOB-HCI (emotion experiment) in the release's layout.

``generate_mahnob(out, seed=0, preset="default", **overrides)`` writes, per participant ``p``
and stimulus ``k`` (session ids as the release numbers them, ``130 * (p - 1) + ...``)::

    out/Sessions/<id 2k-1>/   the neutral clip before stimulus k: session.xml (isStim="0", no
                              ratings), Part_<p>_N_Trial<k>_emotion.bdf, the frontal video
    out/Sessions/<id 2k>/     the stimulus: session.xml (feltVlnc, feltArsl, feltCtrl,
                              feltPred, feltEmo, mediaFile, cutLenSec, isStim="1", ...),
                              Part_<p>_S_Trial<k>_emotion.bdf,
                              P<p>-Rec1-<date>_C1 trigger _C_Section_<2k>.avi,
                              P<p>-Rec1-All-Data-New_Section_<2k>.tsv (gaze stand-in)
    out/Sessions/<id 41+j>/   implicit-tagging sessions: session.xml + Part_<p>_Trial<j>_
                              taggingImages1.bdf (no ratings: the reader skips them)
    out/_ground_truth.json    what was written (readers ignore it)

A stimulus session's BDF holds ``baseline_seconds`` before the stimulus, the stimulus, and
``baseline_seconds`` after it (30 s each in the release), 256 Hz, the release's 47 channels
(:mod:`~helo.synth.mahnob.files`), with two ``Status`` markers at the stimulus' first sample
and at the sample after its last; the video (61 fps) covers the same section. The
``missing_bdf`` pairs ``(p, k)`` leave stimulus ``k`` of ``p`` without its BDF, as several
sessions of the release are (the reader skips them with a warning). How the self-reports
drive the signals and the face: :mod:`~helo.synth.mahnob.signals`. A participant's data depend
only on ``(seed, p)``, not on which other participants are generated.
"""
from __future__ import annotations

import datetime
import sys
import time
from dataclasses import asdict
from pathlib import Path

from helo.data.mahnob.protocol import EEG_CHANNELS, EMOTIONS, ITEMS
from helo.io import write_json, write_text
from helo.synth.mahnob import signals as S
from helo.synth.mahnob.config import CLIPS, PRESETS, MahnobSynthConfig, make_config
from helo.synth.mahnob.files import gaze_tsv, session_xml, status_channel, write_bdf, write_video

_SESSIONS_PER_PARTICIPANT = 130
_EPOCH = datetime.datetime(2009, 7, 9, 10, 0, 0)


def session_id(subject: int, offset: int) -> int:
    """The release's numbering: 130 sessions per participant, emotion sessions first (the
    neutral clip of stimulus k at 2k - 1, the stimulus at 2k), tagging from 42."""
    return _SESSIONS_PER_PARTICIPANT * (subject - 1) + offset


def _write_session(folder: Path, cfg: MahnobSynthConfig, seed: int, p: int, *, stream: int,
                   seconds: int, span: tuple[int, int], rep: dict | None, bdf_name: str,
                   start: datetime.datetime, write_data: bool = True) -> dict:
    """The BDF (unless ``write_data`` is false) of one session; returns its sample facts."""
    fs = cfg.fs
    n = seconds * fs
    st = S.state(rep)
    if write_data:
        x = S.eeg(seed, p, stream, n, fs, span, st)
        channels = {c: x[:, j] for j, c in enumerate(EEG_CHANNELS)}
        exg, beats = S.ecg(seed, p, stream + 1, n, fs, span, st)
        channels.update(EXG1=exg[:, 0], EXG2=exg[:, 1], EXG3=exg[:, 2])
        channels["GSR1"] = 1e6 / S.conductance(seed, p, stream + 2, n, fs, span, st)
        channels.update(S.other_channels(seed, p, stream + 3, n, fs))
        channels["Status"] = status_channel(n, [span[0], span[1]])
        write_bdf(folder / bdf_name, channels, fs, start)
    return {"n_samples": n, "span": [int(span[0]), int(span[1])], "fs": fs}


def _participant(out: Path, cfg: MahnobSynthConfig, seed: int, p: int) -> dict:
    r = S.rng(seed, p, 0)
    clips = [CLIPS[i] for i in r.permutation(len(CLIPS))[:cfg.n_trials]]
    seconds = r.integers(cfg.clip_seconds[0], cfg.clip_seconds[1] + 1, size=cfg.n_trials)
    reports = S.ratings(seed, p, clips)
    rec = _EPOCH + datetime.timedelta(days=p - 1, seconds=int(r.integers(0, 3600)))
    stamp = rec.strftime("%Y.%m.%d.%H.%M.%S")
    missing = {k for s, k in cfg.missing_bdf if s == p}
    base = cfg.baseline_seconds
    sessions = []
    for k in range(1, cfg.n_trials + 1):
        clip, rep, clip_s = clips[k - 1], reports[k - 1], int(seconds[k - 1])
        for kind in ("N", "S"):
            offset = 2 * k - (1 if kind == "N" else 0)
            sid = session_id(p, offset)
            folder = out / "Sessions" / str(sid)
            folder.mkdir(parents=True, exist_ok=True)
            stim = kind == "S"
            total = 2 * base + clip_s if stim else cfg.neutral_seconds
            span = ((base * cfg.fs, (base + clip_s) * cfg.fs) if stim
                    else (cfg.fs // 4, total * cfg.fs - cfg.fs // 2))
            bdf = f"Part_{p}_{kind}_Trial{k}_emotion.bdf"
            video = f"P{p}-Rec1-{stamp}_C1 trigger _C_Section_{offset}.avi"
            gaze = f"P{p}-Rec1-All-Data-New_Section_{offset}.tsv"
            start = rec + datetime.timedelta(seconds=240 * offset)
            has_bdf = not (stim and k in missing)
            facts = _write_session(folder, cfg, seed, p, stream=100 + 10 * offset,
                                   seconds=total, span=span, rep=rep if stim else None,
                                   bdf_name=bdf, start=start, write_data=has_bdf)
            attrs = {"cutNr": str(k), "cutLenSec": f"{(span[1] - span[0]) / cfg.fs:.3f}",
                     "isStim": "1" if stim else "0",
                     "mediaFile": f"{clip}.avi" if stim else f"neutral_{k}.avi"}
            if stim:
                attrs.update(feltEmo=str(rep["feltEmo"]), feltArsl=str(rep["arousal"]),
                             feltVlnc=str(rep["valence"]), feltCtrl=str(rep["control"]),
                             feltPred=str(rep["predictability"]))
            attrs.update(sessionId=str(sid), date=start.isoformat(), vidRate=str(cfg.fps))
            tracks = [("Video", video, gaze if stim else None), ("Physiological", bdf, None)]
            write_text(folder / "session.xml", session_xml(attrs, p, tracks))
            n_frames = total * cfg.fps
            if cfg.video:
                write_video(folder / video, n_frames=n_frames, fps=cfg.fps,
                            size=cfg.video_size, seed=seed, subject=p,
                            stream=105 + 10 * offset,
                            span_s=(span[0] / cfg.fs, span[1] / cfg.fs),
                            st=S.state(rep if stim else None))
            if stim:
                gaze_tsv(folder / gaze, total, seed, p, 106 + 10 * offset)
            entry = {"session": str(sid), "kind": "stimulus" if stim else "neutral",
                     "trial": k, "bdf": bdf if has_bdf else None,
                     "video": video if cfg.video else None, **facts,
                     "frames": [round(span[0] / cfg.fs * cfg.fps),
                                round(span[1] / cfg.fs * cfg.fps)], "n_frames": n_frames,
                     "fps": cfg.fps}
            if stim:
                entry.update(clip=clip, clip_seconds=clip_s, **rep,
                             felt_emotion=EMOTIONS[rep["feltEmo"]])
            sessions.append(entry)
    for j in range(1, cfg.tagging_sessions + 1):
        sid = session_id(p, 41 + j)
        folder = out / "Sessions" / str(sid)
        folder.mkdir(parents=True, exist_ok=True)
        bdf = f"Part_{p}_Trial{j}_taggingImages1.bdf"
        start = rec + datetime.timedelta(hours=1, seconds=30 * j)
        facts = _write_session(folder, cfg, seed, p, stream=5000 + 10 * j, seconds=3,
                               span=(cfg.fs // 4, 2 * cfg.fs), rep=None, bdf_name=bdf,
                               start=start)
        attrs = {"cutNr": str(j), "mediaFile": f"{j}.jpg", "sessionId": str(sid),
                 "date": start.isoformat()}
        write_text(folder / "session.xml",
                   session_xml(attrs, p, [("Physiological", bdf, None)]))
        sessions.append({"session": str(sid), "kind": "tagging", "trial": j, "bdf": bdf,
                         **facts})
    trials = [s for s in sessions if s["kind"] == "stimulus" and s["bdf"]]
    return {"sessions": sessions, "trials": trials, "recording": stamp,
            "skipped_no_bdf": [s["session"] for s in sessions
                               if s["kind"] == "stimulus" and not s["bdf"]]}


def generate_mahnob(out: str | Path, *, seed: int = 0, preset: str = "default",
                    progress: bool = True, **overrides) -> dict:
    """Write a synthetic MAHNOB-HCI under ``out``; return (and write) the ground truth.
    ``overrides`` replace :class:`~helo.synth.mahnob.config.MahnobSynthConfig` fields."""
    cfg = make_config(preset, **overrides)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    truth = {"dataset": "mahnob-hci", "layout": "mahnob", "seed": seed, "preset": preset,
             "config": asdict(cfg), "items": list(ITEMS), "subjects": {}}
    for p in cfg.subjects:
        ts = time.perf_counter()
        truth["subjects"][str(p)] = _participant(out, cfg, seed, int(p))
        if progress:
            print(f"[synth mahnob] participant {p}: {time.perf_counter() - ts:.1f} s",
                  file=sys.stderr, flush=True)
    write_json(out / "_ground_truth.json", truth, significant=10)
    truth["elapsed_s"] = round(time.perf_counter() - t0, 3)
    return truth


__all__ = ["generate_mahnob", "make_config", "MahnobSynthConfig", "PRESETS", "CLIPS",
           "session_id"]
