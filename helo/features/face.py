"""Face detection and cropping for the video modality: OpenCV's Haar cascade (frontal face),
the box held between detections and a centre crop when no face was ever found.
"""
from __future__ import annotations

import numpy as np

from helo.data.base import VideoRef
from helo.data.video import iter_frames


def haar_detector(min_size: int = 24, detect_width: int = 160, scale_factor: float = 1.1,
                  min_neighbors: int = 5):
    """A callable ``gray frame -> list of (x, y, w, h)`` using OpenCV's frontal-face cascade,
    run on a copy scaled to ``detect_width`` pixels wide (boxes mapped back)."""
    import cv2
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    if cascade.empty():
        raise RuntimeError("OpenCV's haarcascade_frontalface_default.xml could not be loaded")

    def detect(gray: np.ndarray):
        h, w = gray.shape[:2]
        f = min(1.0, detect_width / float(w))
        small = cv2.resize(gray, (int(round(w * f)), int(round(h * f))),
                           interpolation=cv2.INTER_AREA) if f < 1 else gray
        ms = max(24, int(round(min_size * f)))  # 24 px: the cascade's own window
        boxes = cascade.detectMultiScale(small, scaleFactor=scale_factor,
                                         minNeighbors=min_neighbors, minSize=(ms, ms))
        return [tuple(int(round(v / f)) for v in b) for b in boxes]

    return detect


class FaceCropper:
    """Stateful per-frame cropper: detect every ``detect_every``-th frame (the largest face),
    keep the last box in between, fall back to the previous box when detection fails, and to a
    centred square when no face has been seen yet. ``n_fallback`` counts frames whose latest
    detection attempt failed; ``n_centre`` those cut from the centre."""

    def __init__(self, size: int = 128, detector=None, detect_every: int = 1,
                 margin: float = 0.0):
        self.size = int(size)
        self.detector = detector if detector is not None else haar_detector()
        self.detect_every = max(1, int(detect_every))
        self.margin = float(margin)
        self.box = None
        self.i = 0
        self.failed = False
        self.n_fallback = 0
        self.n_centre = 0

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        import cv2
        gray = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        if gray.dtype != np.uint8:
            gray = np.clip(gray, 0, 255).astype(np.uint8)
        H, W = gray.shape
        if self.i % self.detect_every == 0:
            boxes = list(self.detector(gray))
            if boxes:
                x, y, w, h = max(boxes, key=lambda b: b[2] * b[3])
                self.box = self._square(x, y, w, h, H, W)
                self.failed = False
            else:
                self.failed = True
        self.i += 1
        if self.box is None:
            s = min(H, W)
            box = ((W - s) // 2, (H - s) // 2, s)
            self.n_centre += 1
            self.n_fallback += 1
        else:
            box = self.box
            if self.failed:
                self.n_fallback += 1
        x, y, s = box
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
    """Face crops of ``frames`` ``(T, H, W[, 3])`` -> ``(crops (T, size, size) uint8,
    n_fallback, notes)``; see :class:`FaceCropper`."""
    fc = FaceCropper(size=size, detector=detector, detect_every=detect_every, margin=margin)
    crops = np.stack([fc(f) for f in frames]) if len(frames) else \
        np.zeros((0, size, size), np.uint8)
    return crops, fc.n_fallback, fc.notes()


def read_face_crops(ref: VideoRef, size: int = 128, detect_every: int = 1, detector=None):
    """Stream ``ref`` through a :class:`FaceCropper`:
    ``(crops (T, size, size) uint8, valid (T,), n_fallback, notes)``. Only the crops are kept
    in memory."""
    fc = FaceCropper(size=size, detector=detector, detect_every=detect_every)
    crops, valid = [], []
    for f, ok in iter_frames(ref, gray=True):
        if ok:
            crops.append(fc(f))
        else:
            crops.append(np.zeros((size, size), np.uint8))
        valid.append(ok)
    arr = np.stack(crops) if crops else np.zeros((0, size, size), np.uint8)
    valid = np.asarray(valid, dtype=bool)
    notes = fc.notes()
    if (~valid).any():
        notes.append(f"{int((~valid).sum())} unreadable frames")
    return arr, valid, fc.n_fallback, notes
