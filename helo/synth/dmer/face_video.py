"""The synthetic face video: a drawn face whose expression follows the affect, with head motion
and pixel noise, and the mp4 writer."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from helo.io import atomic_path
from helo.synth.dmer.config import DmerSynthConfig
from helo.synth.dmer.plan import _affect_at, _index, _lag, _Plan
from helo.synth.dmer.truth import _rng


def _face_params(seed: int, sid: int) -> dict:
    r = _rng(seed, sid, 40)
    return dict(skin=tuple(float(v) for v in (r.uniform(120, 175), r.uniform(150, 195),
                                              r.uniform(190, 235))),
                hair=tuple(float(v) for v in r.uniform(15, 60, 3)),
                bg=tuple(float(v) for v in r.uniform(50, 110, 3)),
                scale=r.uniform(0.92, 1.05), gain=r.uniform(0.6, 1.2),
                mouth0=r.normal(0, 0.15), brow0=r.normal(0, 0.2),
                phase=r.uniform(0, 6.28, 4))


def draw_face(img: np.ndarray, pos: float, neg: float, aro: float, par: dict,
              dx: float = 0.0, dy: float = 0.0,
              canvas: tuple[int, int] | None = None) -> np.ndarray:
    """Draw the synthetic face into ``img`` (BGR uint8, in place) for an affective state.

    The face is sized for a ``canvas`` (width, height; default the image size) and centred in
    ``img`` shifted by ``(dx, dy)`` pixels (a larger ``img`` leaves room for head motion)."""
    import cv2
    H, W = img.shape[:2]
    w, h = canvas if canvas is not None else (W, H)
    dx += (W - w) / 2
    dy += (H - h) / 2
    s = 16  # fixed-point shift of 4 bits for sub-pixel drawing
    P = lambda x, y: (int(round(x * s)), int(round(y * s)))  # noqa: E731
    g = par["gain"]
    cx, cy = w / 2 + dx, h / 2 + dy + 0.03 * h
    fw, fh = 0.26 * w * par["scale"], 0.40 * h * par["scale"]
    img[:] = np.array(par["bg"], dtype=np.uint8)
    aa = cv2.LINE_AA
    cv2.ellipse(img, P(cx, cy - 0.08 * h), P(fw * 1.08, fh * 1.05), 0, 180, 360, par["hair"], -1,
                aa, 4)
    cv2.ellipse(img, P(cx, cy), P(fw, fh), 0, 0, 360, par["skin"], -1, aa, 4)
    ey, ex = cy - 0.12 * h, 0.40 * fw
    eo = 0.018 * h * (0.5 + 0.9 * g * aro)
    brow_w = max(1, int(round(0.02 * h)))
    for sgn in (-1, 1):
        x = cx + sgn * ex
        cv2.ellipse(img, P(x, ey), P(0.16 * fw, eo + 1), 0, 0, 360, (235, 235, 235), -1, aa, 4)
        cv2.circle(img, P(x, ey), int(0.07 * fw * s), (40, 30, 20), -1, aa, 4)
        by = ey - 0.07 * h + 0.03 * h * (g * neg + par["brow0"] * 0.3)
        tilt = 0.03 * h * g * neg
        cv2.line(img, P(x - sgn * 0.2 * fw, by + tilt), P(x + sgn * 0.2 * fw, by - 0.01 * h),
                 (40, 50, 60), brow_w, aa, 4)
    cv2.line(img, P(cx, ey + 0.03 * h), P(cx - 0.03 * w, cy + 0.08 * h), (110, 140, 180), 1, aa, 4)
    my, mw = cy + 0.2 * h, 0.45 * fw
    curv = (g * (pos - neg) + par["mouth0"]) * 0.06 * h
    xs = np.linspace(-mw, mw, 15)
    ys = my - curv * (1 - (xs / mw) ** 2) + curv
    pts = np.stack([(cx + xs) * s, ys * s], 1).round().astype(np.int32)
    cv2.polylines(img, [pts], False, (60, 60, 150), brow_w, aa, 4)
    return img


class _FaceRenderer:
    """Frames of one subject's session, renderable in any order (all randomness precomputed)."""

    def __init__(self, cfg: DmerSynthConfig, seed: int, plan: _Plan):
        r = _rng(seed, plan.sid, 41)
        self.w, self.h = cfg.video_size
        self.par = _face_params(seed, plan.sid)
        n = _index(plan.end_ms, 0, cfg.fps)
        self.n = n
        self.aff = _lag(_affect_at(plan, n, 0, cfg.fps), cfg.fps, 0.4)
        t = np.arange(n) / cfg.fps
        ph = self.par["phase"]
        amp = 0.02 * self.w
        self.dx = amp * (np.sin(2 * np.pi * 0.11 * t + ph[0])
                         + 0.5 * np.sin(2 * np.pi * 0.37 * t + ph[1]))
        self.dy = amp * (np.sin(2 * np.pi * 0.07 * t + ph[2])
                         + 0.5 * np.sin(2 * np.pi * 0.29 * t + ph[3]))
        self.dx += np.cumsum(r.normal(0, 0.02, n)).clip(-amp, amp)
        self.noise = r.integers(0, 9, size=(8, self.h, self.w, 3), dtype=np.uint8)
        self.pick = r.integers(0, 8, size=n)
        # expressions are rendered once per quantised state and shifted for head motion
        self.keys = np.rint(self.aff * 50).astype(np.int64)
        self.cache: dict[tuple, np.ndarray] = {}
        self.pad = int(math.ceil(max(np.abs(self.dx).max(), np.abs(self.dy).max()))) + 1

    def frame(self, i: int) -> np.ndarray:
        import cv2
        i = min(i, self.n - 1)
        key = tuple(self.keys[i])
        base = self.cache.get(key)
        pad = self.pad
        if base is None:
            big = np.zeros((self.h + 2 * pad, self.w + 2 * pad, 3), np.uint8)
            draw_face(big, *(np.asarray(key) / 50.0), self.par, canvas=(self.w, self.h))
            self.cache[key] = base = big
        x0 = pad - int(round(self.dx[i]))
        y0 = pad - int(round(self.dy[i]))
        return cv2.add(base[y0:y0 + self.h, x0:x0 + self.w], self.noise[self.pick[i]])


def _write_video(path: Path, frames, fps: int, size: tuple[int, int]) -> int:
    import cv2
    with atomic_path(path, suffix=".mp4") as tmp:
        vw = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), size)
        if not vw.isOpened():
            raise RuntimeError(f"OpenCV cannot write mp4v video {path}")
        n = 0
        for fr in frames:
            vw.write(fr)
            n += 1
        vw.release()
    return n
