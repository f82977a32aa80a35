"""LBP-TOP: local binary patterns on three orthogonal planes of a grayscale video volume.

LBP-TOP (Zhao & Pietikainen 2007) here is the *basic* (non-uniform) LBP with ``P`` points on a
circle of radius ``R`` (``time_radius`` along time) on the three orthogonal planes through every
voxel, exactly scikit-image's ``local_binary_pattern(image, P, R, method="default")`` on each
plane slice (bilinear interpolation of off-grid points, bit ``p`` set when the point
``theta_p = 2 pi p / P`` is >= the centre, code ``sum 2^p``), with these planes and axes:

* XY: frame ``V[t]`` (rows y, columns x);
* XT: ``V[::-1, y, :]`` (rows = time *reversed*, columns x);
* YT: ``V[::-1, :, x]`` (rows = time reversed, columns y).

scikit-image puts point ``p`` at row offset ``-R sin theta_p`` ("up" in an image), so on the
time-reversed slices point ``p`` lies ``+R_t sin theta_p`` frames *later*: the bits run
counter-clockwise with time pointing up, as in the XY plane with y pointing up. Feeding the
slices in natural time order instead mirrors the bit order (p <-> P/2 - p ... i.e. the code of
the reflected pattern). Only voxels whose whole neighbourhood lies inside the volume count
(``ceil(R)`` pixels and ``ceil(time_radius)`` frames in from each border), the same voxels on all
three planes; each plane's ``2^P``-bin histogram is normalised to sum 1 and the three are
concatenated XY | XT | YT (768 values for P = 8).

Two engines give identical histograms. The default compiled kernel (``helo.features._lbp_jit``,
Numba) evaluates scikit-image's float64 interpolation on every voxel, row by row in vectorised
loops. The NumPy engine
(no compiler needed) is vectorised over the whole volume: integer differences of flat-shifted
copies, interpolation weights scaled to integers (exact sign except within a small band around
0), and scikit-image's own float64 arithmetic only for the few voxels in that band (ties such
as a symmetric gradient, whose sign is decided by floating-point rounding in scikit-image).
"""
from __future__ import annotations

import math

import numpy as np

_SCALE = 22  # integer weights w * 2^22: |sum| <= 2^22 * 255 fits int32


def _offsets(P: int, r_row: float, r_col: float):
    p = np.arange(P, dtype=np.float64)
    rp = np.round(-r_row * np.sin(2 * np.pi * p / P), 5)
    cp = np.round(r_col * np.cos(2 * np.pi * p / P), 5)
    return rp, cp


def _plane_axes(plane: str, shape):
    """volume offset of a (row, col) step in the plane's scikit-image coordinates"""
    T, H, W = shape
    if plane == "xy":
        return (0, 1, 0), (0, 0, 1)
    if plane == "xt":
        return (-1, 0, 0), (0, 0, 1)
    if plane == "yt":
        return (-1, 0, 0), (0, 1, 0)
    raise ValueError(plane)


def _corner_offsets(rp: float, cp: float, row_ax, col_ax, strides) -> list[int]:
    """flat offsets of the bilinear corners (floor r, floor c), (floor r, ceil c),
    (ceil r, floor c), (ceil r, ceil c) of the point ``(rp, cp)`` of a plane"""
    return [sum((a * row_ax[k] + b * col_ax[k]) * strides[k] for k in range(3))
            for a in (math.floor(rp), math.ceil(rp)) for b in (math.floor(cp), math.ceil(cp))]


def _corners(rp: float, cp: float):
    """[(d_row, d_col, weight)] of the bilinear corners, merged, nominal weights"""
    fr, fc = math.floor(rp), math.floor(cp)
    cr, cc = math.ceil(rp), math.ceil(cp)
    dr, dc = rp - fr, cp - fc
    acc: dict[tuple[int, int], float] = {}
    for (a, b, w) in ((fr, fc, (1 - dr) * (1 - dc)), (fr, cc, (1 - dr) * dc),
                      (cr, fc, dr * (1 - dc)), (cr, cc, dr * dc)):
        acc[(a, b)] = acc.get((a, b), 0.0) + w
    return [(a, b, w) for (a, b), w in acc.items() if w != 0.0]


def lbp_top(volume: np.ndarray, P: int = 8, R: float = 1, time_radius: float = 1,
            planes: tuple[str, ...] = ("xy", "xt", "yt"), slab_voxels: int = 1 << 17,
            ties: str = "skimage", engine: str = "auto") -> np.ndarray:
    """LBP-TOP histogram of a ``(T, H, W)`` uint8 volume: ``(len(planes) * 2^P,)`` float64.

    Needs ``T > 2 ceil(time_radius)`` and ``H, W > 2 ceil(R)`` (else ValueError). The volume
    is processed in slabs of about ``slab_voxels`` voxels (cache-friendly; same result).

    ``ties="skimage"`` (default) reproduces scikit-image bit for bit, including interpolated
    points that equal the centre in exact arithmetic, where scikit-image's float64 rounding
    decides (it depends on the row/column index); ``ties="up"`` counts those as ``>=`` (bit 1),
    the exact-arithmetic definition, and skips the float64 pass: faster on smooth video (many
    ties), and different from scikit-image only at such ties.

    ``engine``: ``"jit"`` runs the compiled kernel of :mod:`helo.features._lbp_jit` (Numba;
    scikit-image's float64 arithmetic on every voxel, ``ties="skimage"`` only), ``"numpy"`` the
    vectorised NumPy path above (integer weights plus a float64 pass near ties; either tie
    rule), ``"auto"`` (default) the compiled kernel when Numba is importable and
    ``ties="skimage"``, else NumPy. Both give identical histograms.
    """
    if ties not in ("skimage", "up"):
        raise ValueError("ties must be 'skimage' or 'up'")
    if engine not in ("auto", "jit", "numpy"):
        raise ValueError("engine must be 'auto', 'jit' or 'numpy'")
    if engine == "jit" and ties != "skimage":
        raise ValueError("engine='jit' implements ties='skimage' only")
    V = np.asarray(volume)
    if V.ndim != 3:
        raise ValueError(f"volume must be (T, H, W), got {V.shape}")
    if V.dtype != np.uint8:
        if V.size and (V.min() < 0 or V.max() > 255):
            raise ValueError("volume values must lie in 0..255")
        V = V.astype(np.uint8)
    if not 1 <= P <= 16:
        raise ValueError("P must be 1..16")
    T, H, W = V.shape
    mt, ms = int(math.ceil(time_radius)), int(math.ceil(R))
    if T <= 2 * mt or H <= 2 * ms or W <= 2 * ms:
        raise ValueError(f"volume {V.shape} too small for R={R}, time_radius={time_radius}")
    if engine == "auto":
        engine = "jit" if ties == "skimage" and _jit_kernel() is not None else "numpy"
    if engine == "jit":
        kernel = _jit_kernel()
        if kernel is None:
            raise ImportError("engine='jit' needs numba (pip install numba)")
        icounts = np.zeros((len(planes), 1 << P), dtype=np.int64)
        kernel(np.ascontiguousarray(V), mt, ms, *_jit_tables(V.shape, P, R, time_radius, planes),
               icounts)
        counts = icounts.astype(np.float64)
    else:
        counts = np.zeros((len(planes), 1 << P))
        step = max(1, slab_voxels // (H * W))
        for a in range(mt, T - mt, step):
            b = min(a + step, T - mt)
            counts += _counts(np.ascontiguousarray(V[a - mt:b + mt]), P, R, time_radius, planes,
                              a - mt, T, ties == "skimage")
    tot = counts.sum(axis=1, keepdims=True)
    return (counts / np.maximum(tot, 1.0)).ravel()


_JIT: list = []


def _jit_kernel():
    """the compiled kernel, or None when Numba is not installed (imported once, lazily)"""
    if not _JIT:
        try:
            from helo.features._lbp_jit import lbp_top_counts
        except ImportError:
            lbp_top_counts = None
        _JIT.append(lbp_top_counts)
    return _JIT[0]


_AXIS = {(0, 1, 0): 1, (0, 0, 1): 2, (-1, 0, 0): 0}


def _jit_tables(shape, P, R, time_radius, planes):
    """corner offsets and scikit-image's fractional parts for :mod:`helo.features._lbp_jit`"""
    T, H, W = shape
    strides = (H * W, W, 1)
    nq = len(planes)
    grid = np.zeros((nq, P), dtype=np.bool_)
    offs = np.zeros((nq, P, 4), dtype=np.int64)
    row_ax = np.zeros(nq, dtype=np.int64)
    col_ax = np.zeros(nq, dtype=np.int64)
    n = max(T, H, W)
    DR = np.zeros((nq, P, n))
    DC = np.zeros((nq, P, n))
    for q, plane in enumerate(planes):
        r_ax, c_ax = _plane_axes(plane, shape)
        row_ax[q], col_ax[q] = _AXIS[r_ax], _AXIS[c_ax]
        r_row = time_radius if plane != "xy" else R
        rps, cps = _offsets(P, r_row, R)
        # the scikit-image row/column coordinate of each index along the axis
        rows = (T - 1 - np.arange(T)) if row_ax[q] == 0 else np.arange(H)
        cols = np.arange(W) if col_ax[q] == 2 else np.arange(H)
        for p in range(P):
            rp, cp = float(rps[p]), float(cps[p])
            offs[q, p] = _corner_offsets(rp, cp, r_ax, c_ax, strides)
            grid[q, p] = rp == math.floor(rp) and cp == math.floor(cp)
            r = rows.astype(np.float64) + rp
            c = cols.astype(np.float64) + cp
            DR[q, p, :rows.size] = r - np.floor(r)
            DC[q, p, :cols.size] = c - np.floor(c)
    return grid, offs, row_ax, col_ax, DR, DC


def _counts(V, P, R, time_radius, planes, t0, T_total, exact_ties=True):
    """unnormalised per-plane code counts over the interior of the slab ``V`` (frames
    ``t0 ..`` of a ``T_total``-frame volume)"""
    T, H, W = V.shape
    mt, ms = int(math.ceil(time_radius)), int(math.ceil(R))
    flat = V.ravel()
    strides = (H * W, W, 1)
    m = mt * H * W + ms * W + ms  # flat margin: every neighbour of an interior voxel is inside
    N = flat.size
    centre = flat[m:N - m]
    cache: dict[int, np.ndarray] = {}

    def diff(s: int) -> np.ndarray:
        if s not in cache:
            cache[s] = np.subtract(flat[m + s:N - m + s], centre, dtype=np.int16)
        return cache[s]

    mask_box: list[np.ndarray] = []

    def inner_mask() -> np.ndarray:  # flat positions (offset m) of interior voxels
        if not mask_box:
            mk = np.zeros((T, H, W), dtype=bool)
            mk[mt:T - mt, ms:H - ms, ms:W - ms] = True
            mask_box.append(mk.ravel()[m:N - m])
        return mask_box[0]

    nbins = 1 << P
    code_dtype = np.uint8 if P <= 8 else np.uint16
    hists = []
    for plane in planes:
        row_ax, col_ax = _plane_axes(plane, V.shape)
        r_row = time_radius if plane != "xy" else R
        rps, cps = _offsets(P, r_row, R)
        code = np.zeros(N - 2 * m, dtype=code_dtype)
        for p in range(P):
            corners = _corners(rps[p], cps[p])
            terms = []
            for (a, b, w) in corners:
                s = sum((a * row_ax[k] + b * col_ax[k]) * strides[k] for k in range(3))
                if s != 0:
                    terms.append((s, w))
            if len(corners) == 1:  # on the grid: exact integer comparison
                bit = diff(terms[0][0]) >= 0 if terms else np.ones(code.size, bool)
            else:
                groups: dict[int, list[int]] = {}  # equal integer weights share one product
                margin = 1
                for s, w in terms:
                    k = int(round(w * (1 << _SCALE)))
                    margin += int(math.ceil(abs(k - w * (1 << _SCALE)) * 255)) + 1
                    groups.setdefault(k, []).append(s)
                lhs = None
                for k, offs in groups.items():
                    dsum = diff(offs[0])
                    for s in offs[1:]:
                        dsum = dsum + diff(s)  # int16: |sum| <= 4 * 255
                    prod = np.multiply(dsum, np.int32(k), dtype=np.int32)
                    if lhs is None:
                        lhs = prod
                    else:
                        lhs += prod
                bit = lhs >= 0
                if exact_ties:
                    lhs += np.int32(margin)
                    nearm = lhs.view(np.uint32) <= np.uint32(2 * margin)
                    if nearm.any():
                        near = np.flatnonzero(nearm & inner_mask())
                        if near.size:
                            offs = _corner_offsets(rps[p], cps[p], row_ax, col_ax, strides)
                            bit[near] = _exact_bits(flat, near + m, V.shape, plane, rps[p],
                                                    cps[p], offs, t0, T_total)
            if P <= 8:
                np.add(code, bit.view(np.uint8) * np.uint8(1 << p), out=code)
            else:
                code |= bit.astype(np.uint16) << np.uint16(p)
        full = np.zeros(N, dtype=code_dtype)
        full[m:N - m] = code
        inner = full.reshape(T, H, W)[mt:T - mt, ms:H - ms, ms:W - ms]
        hists.append(_histogram(inner, nbins))
    return np.stack(hists)


def _histogram(codes: np.ndarray, nbins: int) -> np.ndarray:
    if codes.dtype == np.uint8:
        import cv2
        c2 = np.ascontiguousarray(codes).reshape(-1, codes.shape[-1])
        h = cv2.calcHist([c2], [0], None, [nbins], [0, nbins]).ravel().astype(np.float64)
    else:
        h = np.bincount(codes.ravel(), minlength=nbins).astype(np.float64)
    return h


def _exact_bits(flat: np.ndarray, idx: np.ndarray, shape, plane: str, rp: float, cp: float,
                offs, t0: int, T_total: int) -> np.ndarray:
    """scikit-image's float64 bilinear interpolation and ``>=`` test at the slab positions
    ``idx`` (flat, slab of ``shape`` starting at frame ``t0`` of a ``T_total``-frame volume).
    ``offs`` are the flat offsets of the corners (floor r, floor c), (floor r, ceil c),
    (ceil r, floor c), (ceil r, ceil c). The time-reversed rows count from the volume's end."""
    T, H, W = shape
    if plane == "xy":
        row = (idx // W) % H
        col = idx % W
    else:
        row = T_total - 1 - (idx // (H * W) + t0)
        col = idx % W if plane == "xt" else (idx // W) % H
    r = row.astype(np.float64) + rp
    c = col.astype(np.float64) + cp
    dr = r - np.floor(r)
    dc = c - np.floor(c)
    tl, tr, bl, br = (flat[idx + o].astype(np.float64) for o in offs)
    top = (1 - dc) * tl + dc * tr
    bottom = (1 - dc) * bl + dc * br
    val = (1 - dr) * top + dr * bottom
    return (val - flat[idx].astype(np.float64)) >= 0


def lbp_top_names(P: int = 8, planes=("xy", "xt", "yt")) -> list[str]:
    width = max(3, len(str((1 << P) - 1)))
    return [f"video_{pl}_{i:0{width}d}" for pl in planes for i in range(1 << P)]
