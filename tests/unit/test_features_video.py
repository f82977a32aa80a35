"""LBP-TOP against a per-pixel implementation of the definition and scikit-image; face crops."""
import math

import numpy as np
import pytest
from skimage.feature import local_binary_pattern

from helo.features import face, video
from helo.features import lbp_top as lbp
from helo.features.windows import grid_ends


def _bilinear(img, r, c):
    """scikit-image's bilinear interpolation, one point"""
    minr, minc, maxr, maxc = math.floor(r), math.floor(c), math.ceil(r), math.ceil(c)
    dr, dc = r - minr, c - minc
    top = (1 - dc) * float(img[minr, minc]) + dc * float(img[minr, maxc])
    bot = (1 - dc) * float(img[maxr, minc]) + dc * float(img[maxr, maxc])
    return (1 - dr) * top + dr * bot


def direct_lbp_top(V, P=8, R=1):
    """the definition, voxel by voxel: plane images XY = V[t], XT = V[::-1, y, :],
    YT = V[::-1, :, x]; point p at (row - R sin, col + R cos), offsets rounded to 5 decimals"""
    T, H, W = V.shape
    rp = [round(-R * math.sin(2 * math.pi * p / P), 5) for p in range(P)]
    cp = [round(R * math.cos(2 * math.pi * p / P), 5) for p in range(P)]
    m = math.ceil(R)
    hists = np.zeros((3, 1 << P))
    for t in range(m, T - m):
        for y in range(m, H - m):
            for x in range(m, W - m):
                for k, (img, r, c) in enumerate([(V[t], y, x), (V[::-1, y, :], T - 1 - t, x),
                                                 (V[::-1, :, x], T - 1 - t, y)]):
                    code = 0
                    for p in range(P):
                        if _bilinear(img, r + rp[p], c + cp[p]) - float(img[r, c]) >= 0:
                            code |= 1 << p
                    hists[k, code] += 1
    return (hists / hists.sum(axis=1, keepdims=True)).ravel()


def skimage_lbp_top(V, P=8, R=1, time_reversed=True):
    T, H, W = V.shape
    Vt = V[::-1] if time_reversed else V
    planes = [[local_binary_pattern(V[t], P, R)[1:-1, 1:-1] for t in range(1, T - 1)],
              [local_binary_pattern(Vt[:, y, :], P, R)[1:-1, 1:-1] for y in range(1, H - 1)],
              [local_binary_pattern(Vt[:, :, x], P, R)[1:-1, 1:-1] for x in range(1, W - 1)]]
    out = []
    for codes in planes:
        h = np.bincount(np.concatenate([c.ravel() for c in codes]).astype(int),
                        minlength=1 << P).astype(float)
        out.append(h / h.sum())
    return np.concatenate(out)


def volumes():
    rng = np.random.default_rng(0)
    yield rng.integers(0, 256, (6, 9, 10)).astype(np.uint8)
    yield rng.integers(0, 3, (7, 8, 9)).astype(np.uint8)  # many ties
    g = np.add.outer(np.add.outer(np.arange(6), 2 * np.arange(8)), np.arange(9))
    yield (g * 3).astype(np.uint8)  # symmetric gradients: float-rounding ties
    yield np.full((5, 6, 7), 77, np.uint8)


@pytest.mark.parametrize("engine", ["jit", "numpy"])
@pytest.mark.parametrize("V", list(volumes()))
def test_matches_definition_and_skimage(V, engine):
    ours = lbp.lbp_top(V, engine=engine)
    assert ours.shape == (768,)
    np.testing.assert_allclose(ours.reshape(3, 256).sum(axis=1), 1.0)
    assert np.array_equal(ours, direct_lbp_top(V))
    assert np.array_equal(ours, skimage_lbp_top(V))
    if engine == "numpy":  # slab boundaries change nothing
        assert np.array_equal(ours, lbp.lbp_top(V, slab_voxels=1, engine="numpy"))


@pytest.mark.parametrize("engine", ["jit", "numpy"])
def test_skimage_on_larger_random_volume(engine):
    V = np.random.default_rng(1).integers(0, 256, (12, 40, 36)).astype(np.uint8)
    assert np.array_equal(lbp.lbp_top(V, engine=engine), skimage_lbp_top(V))


def test_smooth_video_ties_match_skimage():
    """upscaled (smooth) frames: many interpolated points equal the centre in exact arithmetic,
    where scikit-image's float64 rounding decides; the compiled kernel decides the same way"""
    import cv2
    small = np.random.default_rng(19).integers(0, 15, (6, 5, 5)).astype(np.uint8)
    V = np.stack([cv2.resize(f, (19, 39), interpolation=cv2.INTER_LINEAR) for f in small])
    ours = lbp.lbp_top(V, engine="jit")
    assert np.array_equal(ours, skimage_lbp_top(V))
    up = lbp.lbp_top(V, ties="up", engine="numpy")
    assert not np.array_equal(ours, up)  # the volume does exercise tie rounding


@pytest.mark.parametrize("P,R", [(16, 2), (4, 1.5)])
def test_other_P_R_match_definition(P, R):
    V = np.random.default_rng(8).integers(0, 4, (7, 9, 10)).astype(np.uint8)
    ref = direct_lbp_top(V, P=P, R=R)
    for engine in ("jit", "numpy"):
        assert np.array_equal(lbp.lbp_top(V, P=P, R=R, time_radius=R, engine=engine), ref)


def test_engines_agree_with_other_time_radius_and_planes():
    V = np.random.default_rng(9).integers(0, 256, (11, 12, 13)).astype(np.uint8)
    for kw in ({"time_radius": 2}, {"time_radius": 1.5, "planes": ("yt", "xy")}):
        a = lbp.lbp_top(V, engine="jit", **kw)
        assert np.array_equal(a, lbp.lbp_top(V, engine="numpy", **kw))
    with pytest.raises(ValueError, match="ties='skimage'"):
        lbp.lbp_top(V, ties="up", engine="jit")


def _mirror_bits(P=8):
    perm = np.zeros(1 << P, dtype=int)
    for code in range(1 << P):
        perm[code] = sum(((code >> p) & 1) << ((P - p) % P) for p in range(P))
    return perm


def test_natural_time_order_mirrors_bits():
    """scikit-image on slices in natural time order puts point p at t - R sin: the reflection
    p -> (P - p) mod P of our bits (time up). Identical histograms after that permutation
    (random data without exact ties; a tie could round differently at other row indices)."""
    V = np.random.default_rng(2).integers(0, 256, (10, 20, 20)).astype(np.uint8)
    ours = lbp.lbp_top(V).reshape(3, 256)
    nat = skimage_lbp_top(V, time_reversed=False).reshape(3, 256)
    perm = _mirror_bits()
    assert np.array_equal(ours[0], nat[0])
    for k in (1, 2):
        mirrored = np.zeros(256)
        np.add.at(mirrored, perm, ours[k])
        assert np.array_equal(mirrored, nat[k])
        assert not np.array_equal(ours[k], nat[k])


def test_time_radius_and_small_volume():
    V = np.random.default_rng(3).integers(0, 256, (12, 10, 10)).astype(np.uint8)
    h = lbp.lbp_top(V, time_radius=4)
    np.testing.assert_allclose(h.reshape(3, 256).sum(axis=1), 1.0)
    with pytest.raises(ValueError):
        lbp.lbp_top(V[:8], time_radius=4)


def test_crop_faces_fallbacks():
    frames = np.random.default_rng(4).integers(0, 256, (6, 60, 80)).astype(np.uint8)
    plan = {1: [(10, 5, 20, 20)], 2: [], 3: [(30, 20, 10, 10), (40, 10, 30, 30)]}
    calls = []

    def detector(gray):
        calls.append(1)
        return plan.get(len(calls) - 1, [])

    crops, n_fb, notes = face.crop_faces(frames, size=16, detector=detector)
    assert crops.shape == (6, 16, 16) and crops.dtype == np.uint8
    # frame 0: nothing yet -> centre; 2: previous box; 4, 5: previous (largest of frame 3)
    assert n_fb == 4 and len(notes) == 2
    import cv2
    exp0 = cv2.resize(frames[0][0:60, 10:70], (16, 16), interpolation=cv2.INTER_AREA)
    assert np.array_equal(crops[0], exp0)
    exp2 = cv2.resize(frames[2][5:25, 10:30], (16, 16), interpolation=cv2.INTER_AREA)
    assert np.array_equal(crops[2], exp2)
    exp4 = cv2.resize(frames[4][10:40, 40:70], (16, 16), interpolation=cv2.INTER_AREA)
    assert np.array_equal(crops[4], exp4)
    calls.clear()
    crops, n_fb, _ = face.crop_faces(frames, size=16, detector=detector, detect_every=3)
    assert len(calls) == 2


def test_default_detector_loads_and_falls_back_to_centre():
    frames = np.full((3, 120, 160), 128, np.uint8)
    crops, n_fb, notes = face.crop_faces(frames, size=32)
    assert crops.shape == (3, 32, 32) and n_fb == 3 and "centre" in notes[0]


def test_video_features_windows_and_bad_frames():
    rng = np.random.default_rng(5)
    frames = rng.integers(0, 256, (int(6.5 * 30), 20, 20)).astype(np.uint8)
    ends = grid_ends(frames.shape[0] / 30)
    assert ends.tolist() == [5.0, 6.0]
    valid = np.ones(frames.shape[0], bool)
    valid[170] = False
    X, names = video.video_features(frames, 30.0, ends, valid=valid)
    assert X.shape == (2, 768) and names[0] == "video_xy_000" and names[-1] == "video_yt_255"
    assert np.array_equal(X[0], lbp.lbp_top(frames[120:150]))
    assert np.isnan(X[1]).all()
    notes = video.video_notes(frames.shape[0], 30.0, ends, 1.0, valid)
    assert notes[0] == "" and "unreadable" in notes[1]
    Xt, _ = video.video_features(frames, 30.0, ends, per_trial=True)
    assert np.array_equal(Xt[0], Xt[1])


@pytest.mark.parametrize("P,R", [(4, 1), (8, 2), (12, 1.5), (16, 2)])
def test_other_radii_match_skimage(P, R):
    m = math.ceil(R)
    rng = np.random.default_rng(P)
    for hi in (256, 3):
        V = rng.integers(0, hi, (9, 12, 13)).astype(np.uint8)
        T, H, W = V.shape
        planes = [[local_binary_pattern(V[t], P, R)[m:-m, m:-m] for t in range(m, T - m)],
                  [local_binary_pattern(V[::-1, y, :], P, R)[m:-m, m:-m] for y in range(m, H - m)],
                  [local_binary_pattern(V[::-1, :, x], P, R)[m:-m, m:-m] for x in range(m, W - m)]]
        ref = []
        for codes in planes:
            h = np.bincount(np.concatenate([c.ravel() for c in codes]).astype(int),
                            minlength=1 << P).astype(float)
            ref.append(h / h.sum())
        assert np.array_equal(lbp.lbp_top(V, P, R, time_radius=R), np.concatenate(ref))


def test_ties_up_differs_only_at_ties():
    V = np.random.default_rng(6).integers(0, 256, (8, 20, 20)).astype(np.uint8)
    # without exact ties both conventions agree
    g = np.add.outer(np.add.outer(np.arange(8), 2 * np.arange(20)), np.arange(20)).astype(np.uint8)
    assert np.array_equal(lbp.lbp_top(g, ties="up"), lbp.lbp_top(g))  # ties that round up
    low = np.random.default_rng(7).integers(0, 3, (30, 40, 40)).astype(np.uint8)
    a, b = lbp.lbp_top(low, ties="up"), lbp.lbp_top(low)
    assert np.abs(a - b).sum() < 0.01  # a few float-rounding ties only
    h = lbp.lbp_top(V, ties="up")
    np.testing.assert_allclose(h.reshape(3, 256).sum(axis=1), 1.0)
    with pytest.raises(ValueError):
        lbp.lbp_top(V, ties="down")
