"""Real-looking face frames with known face boxes, for measuring face detectors (no download).

A real face photograph that ships inside scikit-image (``skimage.data.astronaut()``, Eileen
Collins, NASA, public domain) is composited into ``640 x 480`` frames over backgrounds cut from
the other photographs scikit-image ships without a human face (coffee, rocket, cat, bricks,
grass, gravel, coins, the Hubble deep field, a page of text, stained tissue, a retina). Each
face frame draws, from one seeded generator: the face width (60-250 px by default), the
position, an in-plane rotation, a turned head (a horizontal squeeze of the head plus a
perspective tilt, as a head turned away from the camera looks), mirroring, lighting (gain,
gamma, a shading gradient across the frame), blur and sensor noise. A no-face frame ("a cut")
is a background alone with the same photometric changes, to count false positives.

The truth box is the square the face occupies: in the source photograph it is centred at
(224, 115) with side 96 px (the mean of the frontal-face Haar cascade's and MTCNN's boxes, checked
by eye: brows to chin, cheek to cheek); it moves with the head's transform (centre mapped, side
scaled with the head; a squeeze leaves the height, so the square keeps its side).

Used by ``benchmarks/bench_faces.py`` and the face-detection tests; not part of any DVC stage.
"""
from __future__ import annotations

import numpy as np

#: The face in ``skimage.data.astronaut()``: centre (x, y) and side of its square box (px).
FACE_CENTRE = (224.0, 115.0)
FACE_SIDE = 96.0
#: The head patch cut from the photograph (x0, y0, x1, y1) and its elliptical mask's centre
#: and radii (source pixels).
HEAD = (120, 0, 330, 250)
HEAD_ELLIPSE = ((224.0, 112.0), (76.0, 116.0))

#: Backgrounds: shipped photographs without a human face (not ``camera``: the cameraman's face
#: is real; the cat and the coins' profiles are kept as hard negatives).
BACKGROUNDS = ("coffee", "rocket", "chelsea", "brick", "grass", "gravel", "coins",
               "hubble_deep_field", "page", "immunohistochemistry", "retina")


def _rgb(name: str) -> np.ndarray:
    from skimage import data
    img = getattr(data, name)()
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    return np.ascontiguousarray(img[..., :3]).astype(np.uint8)


def head_patch() -> tuple[np.ndarray, np.ndarray]:
    """``(rgb patch, alpha in [0, 1])`` of the astronaut's head, feathered at the edge."""
    import cv2
    x0, y0, x1, y1 = HEAD
    patch = _rgb("astronaut")[y0:y1, x0:x1]
    (cx, cy), (rx, ry) = HEAD_ELLIPSE
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    d = np.sqrt(((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2)
    alpha = np.clip((1.0 - d) / 0.12, 0.0, 1.0).astype(np.float32)
    return patch, cv2.GaussianBlur(alpha, (0, 0), 2.0)


def background(rng: np.random.Generator, size=(640, 480)) -> np.ndarray:
    """A random crop of a random shipped photograph, resized to ``size`` (w, h)."""
    import cv2
    img = _rgb(BACKGROUNDS[int(rng.integers(len(BACKGROUNDS)))])
    H, W = img.shape[:2]
    w = int(rng.integers(max(32, W // 3), W + 1))
    h = min(H, max(24, int(round(w * size[1] / size[0]))))
    x = int(rng.integers(0, W - w + 1))
    y = int(rng.integers(0, H - h + 1))
    out = cv2.resize(img[y:y + h, x:x + w], size, interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.5:
        out = out[:, ::-1]
    return np.ascontiguousarray(out)


def _photometric(img: np.ndarray, rng: np.random.Generator, p: dict) -> np.ndarray:
    import cv2
    H, W = img.shape[:2]
    f = img.astype(np.float32) / 255.0
    f = f ** p["gamma"] * p["gain"]
    # a shading gradient across the frame (a lamp on one side)
    ang = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    ramp = ((xx - W / 2) * np.cos(ang) + (yy - H / 2) * np.sin(ang)) / max(H, W)
    f = f * (1.0 + p["shade"] * ramp)[..., None]
    f = np.clip(f * 255.0, 0, 255)
    if p["blur"] > 0:
        f = cv2.GaussianBlur(f, (0, 0), p["blur"])
    f = f + rng.normal(0.0, p["noise"], f.shape).astype(np.float32)
    return np.clip(np.round(f), 0, 255).astype(np.uint8)


def draw_params(rng: np.random.Generator, face_px=(60, 250), rotate=25.0, turn=0.55) -> dict:
    """One frame's random draw (see the module docstring)."""
    return {"width": float(np.exp(rng.uniform(np.log(face_px[0]), np.log(face_px[1])))),
            "rotate": float(rng.uniform(-rotate, rotate)),
            "squeeze": float(rng.uniform(turn, 1.0)) if rng.random() < 0.6 else 1.0,
            "tilt": float(rng.uniform(-0.25, 0.25)),
            "mirror": bool(rng.random() < 0.5),
            "gain": float(rng.uniform(0.55, 1.35)), "gamma": float(rng.uniform(0.7, 1.5)),
            "shade": float(rng.uniform(0.0, 0.9)), "blur": float(rng.choice([0, 0, 0.8, 1.6])),
            "noise": float(rng.uniform(0.0, 12.0)), "u": float(rng.random()),
            "v": float(rng.random())}


def compose(rng: np.random.Generator, size=(640, 480), face: bool = True,
            fixed: dict | None = None, **kw):
    """One RGB frame ``(H, W, 3)`` uint8 and its truth box ``[x, y, w, h]`` (None: no face),
    plus the parameters drawn; ``fixed`` overrides some of them (e.g. ``{"width": 80,
    "rotate": 0}``; ``u``, ``v`` in [0, 1] place the face)."""
    import cv2
    W, H = size
    bg = background(rng, size)
    p = {**draw_params(rng, **kw), **(fixed or {})}
    if not face:
        return _photometric(bg, rng, p), None, p
    patch, alpha = head_patch()
    ph, pw = patch.shape[:2]
    s = p["width"] / FACE_SIDE  # scale of the head
    side = FACE_SIDE * s
    # source -> frame: centre the face at a random point that keeps the face inside
    fx = FACE_CENTRE[0] - HEAD[0]
    fy = FACE_CENTRE[1] - HEAD[1]
    margin = side * 0.6
    cx = margin + p["u"] * max(1.0, W - 2 * margin)
    cy = margin + p["v"] * max(1.0, H - 2 * margin)
    # affine: move the face centre to the origin, squeeze x (a turned head), mirror, scale,
    # rotate, then move it to (cx, cy); a small perspective tilt about the vertical axis
    a = np.deg2rad(p["rotate"])
    sx = s * p["squeeze"] * (-1 if p["mirror"] else 1)
    M = np.array([[np.cos(a) * sx, -np.sin(a) * s, 0.0],
                  [np.sin(a) * sx, np.cos(a) * s, 0.0],
                  [0.0, 0.0, 1.0]])
    T0 = np.array([[1, 0, -fx], [0, 1, -fy], [0, 0, 1.0]])
    P = np.array([[1, 0, 0], [0, 1, 0], [p["tilt"] * (1 - p["squeeze"]) / max(pw, 1), 0, 1.0]])
    T1 = np.array([[1, 0, cx], [0, 1, cy], [0, 0, 1.0]])
    Hm = T1 @ M @ P @ T0
    warped = cv2.warpPerspective(patch, Hm, size, flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_CONSTANT)
    am = cv2.warpPerspective(alpha, Hm, size, flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_CONSTANT)[..., None]
    img = (warped.astype(np.float32) * am + bg.astype(np.float32) * (1 - am))
    img = _photometric(np.clip(img, 0, 255).astype(np.uint8), rng, p)
    c = Hm @ np.array([fx, fy, 1.0])
    c = c[:2] / c[2]
    box = [float(c[0] - side / 2), float(c[1] - side / 2), float(side), float(side)]
    return img, box, p


def scenes(n_face: int = 200, n_empty: int = 50, seed: int = 0, size=(640, 480), **kw):
    """``n_face`` face frames then ``n_empty`` no-face frames: a list of
    ``(rgb frame, truth box or None, params)``, the same for the same seed."""
    rng = np.random.default_rng(seed)
    out = [compose(rng, size, True, **kw) for _ in range(n_face)]
    out += [compose(rng, size, False, **kw) for _ in range(n_empty)]
    return out


def iou(a, b) -> float:
    """Intersection over union of two ``[x, y, w, h]`` boxes."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = iw * ih
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0
