"""Compiled (Numba) LBP-TOP kernel: scikit-image's arithmetic, voxel for voxel.

For every interior voxel and every plane the kernel evaluates scikit-image's bilinear
interpolation in float64 with the same operations in the same order::

    top    = (1 - dc) * tl + dc * tr
    bottom = (1 - dc) * bl + dc * br
    value  = (1 - dr) * top + dr * bottom
    bit    = value - centre >= 0

where ``dr``/``dc`` are the fractional parts of ``row + rp`` / ``col + cp`` computed exactly as
scikit-image computes them (so ties, which floating-point rounding decides and which depend on
the row/column index, come out the same). Points that fall on the pixel grid (``dr = dc = 0``
for every pixel) reduce to ``value = tl`` exactly and are compared as integers. Numba does not
contract ``a * b + c`` into fused multiply-adds without ``fastmath``, which would change those
roundings; the kernel is compiled without it on purpose.

Work goes image row by image row: each (plane, point) is one branch-free loop over the row's
pixels on contiguous slices, which LLVM vectorises; the per-row codes then go into four
interleaved histograms (repeated codes, common on smooth video, would otherwise serialise on
one counter). Compiled once per installation (``cache=True``). Internal module: use
:func:`helo.features.lbp_top.lbp_top`.
"""
from __future__ import annotations

import os

import numpy as np
from numba import njit


def _tune_for_host() -> None:
    """On AMD Zen 4/5 (``znver*`` with AVX-512) let LLVM schedule for an Intel AVX-512 core.

    LLVM's Zen 4 cost model vectorises these loops with 512-bit operations that the core splits
    in two; tuned as ``skylake-avx512`` the same loops run faster (docs/benchmarks.md). Only the
    *tuning* changes: Numba still
    passes the host's exact feature list, so no instruction the CPU lacks can be emitted.
    Process-wide for Numba code compiled after it (Numba has no per-function CPU name) and a
    no-op once Numba has compiled anything, when ``NUMBA_CPU_NAME`` is set, or with
    ``HELO_NUMBA_TUNE=0``."""
    if os.environ.get("HELO_NUMBA_TUNE", "1") == "0":
        return
    try:
        import llvmlite.binding as ll
        from numba.core import config
        if config.CPU_NAME is not None:
            return
        feats = ll.get_host_cpu_features()
        if ll.get_host_cpu_name().startswith("znver") and feats.get("avx512f", False):
            config.CPU_NAME = "skylake-avx512"
    except Exception:  # noqa: BLE001 - tuning only; the default is always correct
        pass


_tune_for_host()


@njit(cache=True, nogil=True, boundscheck=False)
def _on_grid(code, nb, centre, bit, n):  # pragma: no cover - compiled
    for i in range(n):
        code[i] += np.int32(nb[i] >= centre[i]) * bit


@njit(cache=True, nogil=True, boundscheck=False)
def _interpolated(code, tl, tr, bl, br, centre, dc, dr, bit, n):  # pragma: no cover
    for i in range(n):
        top = (1.0 - dc[i]) * tl[i] + dc[i] * tr[i]
        bottom = (1.0 - dc[i]) * bl[i] + dc[i] * br[i]
        value = (1.0 - dr) * top + dr * bottom
        code[i] += np.int32(value - centre[i] >= 0.0) * bit


@njit(cache=True, nogil=True, boundscheck=False)
def lbp_top_counts(V, mt, ms, grid, offs, row_ax, col_ax, DR, DC, counts):  # pragma: no cover
    """Add the per-plane code counts of the interior of ``V`` ``(T, H, W)`` uint8 to
    ``counts`` ``(n_planes, 2^P)`` int64.

    ``grid[q, p]``: point ``p`` of plane ``q`` lies on the pixel grid (one corner, integer
    compare); ``offs[q, p, k]``: flat offset of corner ``k`` (tl, tr, bl, br); ``row_ax[q]`` /
    ``col_ax[q]``: the volume axis (0 t, 1 y, 2 x) whose index selects ``DR[q, p, :]`` /
    ``DC[q, p, :]``, the fractional parts as scikit-image computes them for that plane.
    """
    T, H, W = V.shape
    flat = V.ravel()
    F = flat.astype(np.float64)
    nq, P = grid.shape
    nb = counts.shape[1]
    n = W - 2 * ms
    code = np.zeros(n, np.int32)
    dc = np.empty(n, np.float64)
    sub = np.zeros((4, nq, nb), np.int64)
    for t in range(mt, T - mt):
        for y in range(ms, H - ms):
            base = (t * H + y) * W + ms
            fc = F[base:base + n]
            uc = flat[base:base + n]
            for q in range(nq):
                code[:] = 0
                for p in range(P):
                    bit = np.int32(1) << p
                    if grid[q, p]:
                        o = base + offs[q, p, 0]
                        _on_grid(code, flat[o:o + n], uc, bit, n)
                        continue
                    o0 = base + offs[q, p, 0]
                    o1 = base + offs[q, p, 1]
                    o2 = base + offs[q, p, 2]
                    o3 = base + offs[q, p, 3]
                    dr = DR[q, p, t] if row_ax[q] == 0 else DR[q, p, y]
                    if col_ax[q] == 2:
                        dc[:] = DC[q, p, ms:ms + n]
                    else:
                        dc[:] = DC[q, p, y]
                    _interpolated(code, F[o0:o0 + n], F[o1:o1 + n], F[o2:o2 + n],
                                  F[o3:o3 + n], fc, dc, dr, bit, n)
                for i in range(0, n - 3, 4):
                    sub[0, q, code[i]] += 1
                    sub[1, q, code[i + 1]] += 1
                    sub[2, q, code[i + 2]] += 1
                    sub[3, q, code[i + 3]] += 1
                for i in range(n - n % 4, n):
                    sub[0, q, code[i]] += 1
    for k in range(4):
        for q in range(nq):
            for b in range(nb):
                counts[q, b] += sub[k, q, b]
