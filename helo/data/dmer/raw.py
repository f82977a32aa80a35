"""
Raw layout (``<root>/<n>/<n>/`` + ``<root>/<n>/sub<n>/``)
---------------------------------------------------------
Every stream is cut by its *own* markers; no clock alignment between devices is attempted or
needed. A clip k spans from the sample carrying code ``k+10`` up to (not including) the sample
carrying code ``k+100``:

* EEG: ``sub<n>/1_raw.edf`` (else the only ``*.edf`` there). The 18 channels are picked by name
  through :func:`helo.data.channels.normalise_channel` (case, trailing dots, ``EEG `` prefixes,
  ``-Pz``/``-REF`` style suffixes and the 10-20 aliases T3/T7, T4/T8, T5/P7, T6/P8 do not matter;
  others such as A1, A2, X1-X3 are dropped); they keep DMER's names (``T3``...). Codes come
  from a trigger channel (named ``Trigger``/``TRIG``/
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
"""
from __future__ import annotations

from pathlib import Path

from helo.data.base import DataError, ProblemCollector, Signal, Subject, Trial, VideoRef
from helo.data.dmer.camera import _read_camera, _video_info
from helo.data.dmer.edf import _read_edf
from helo.data.dmer.markers import _match_spans, _pair_events
from helo.data.dmer.protocol import EEG_CHANNELS, NOMINAL_FS
from helo.data.dmer.reader import _DmerReader, _nan_warning
from helo.data.dmer.reports import _find_one, _read_reports
from helo.data.dmer.wristband import _read_wrist


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

    def _read(self, sid: str, mods: list[str], col: ProblemCollector, deep: bool) -> Subject:
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

    def _video(self, d: Path, trials: list[Trial], col: ProblemCollector, spans_by: dict,
               keep: bool) -> None:
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
    def _cross_check(trials, spans_by: dict, col: ProblemCollector, where: Path) -> None:
        rates = dict(NOMINAL_FS, video=30.0)
        for t in trials:
            clip = int(t.trial_id)
            durs = {m: (s[clip][1] - s[clip][0]) / rates[m] for m, s in spans_by.items()
                    if clip in s}
            if len(durs) > 1 and max(durs.values()) - min(durs.values()) > 1.0:
                col.warn(f"clip {clip}: durations differ between streams "
                         f"({', '.join(f'{m} {v:.2f} s' for m, v in durs.items())})", where)
