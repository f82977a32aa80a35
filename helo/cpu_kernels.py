"""One CPU kernel level for every process that computes a result: same bytes on any x86-64 CPU.

NumPy, PyTorch (its own kernels, MKL and oneDNN), the OpenBLAS that NumPy and SciPy ship, and
OpenCV each pick their SIMD kernels when they load, by what the CPU offers. Kernels of different
widths round differently (AVX-512 ``exp``/``log`` in NumPy, another GEMM blocking in the BLAS), so
the same seed gave other EEG features and other metrics on an AVX-512 machine than on an AVX2 one.

:func:`pin` fixes every one of them at **x86-64-v3** (AVX2, FMA3, F16C: every x86-64 server and
desktop CPU since Intel Haswell, 2013, and AMD Excavator/Zen, 2015-2017) by setting, before the
libraries are imported, the variables each one reads at load time:

=============================  ================================  ===============================
library                         variable                          value
=============================  ================================  ===============================
NumPy (dispatched ufuncs)       ``NPY_DISABLE_CPU_FEATURES``      its AVX-512 targets the host has
PyTorch's ATen kernels          ``ATEN_CPU_CAPABILITY``           ``avx2``
MKL (PyTorch's BLAS on x86)     ``MKL_CBWR``                      ``AVX2,STRICT``
oneDNN (PyTorch's conv/linear)  ``ONEDNN_MAX_CPU_ISA``            ``AVX2``
OpenBLAS (NumPy's, SciPy's)     ``OPENBLAS_CORETYPE``             ``Haswell``
OpenCV (incl. ``cv2.dnn``)      ``OPENCV_CPU_DISABLE``            its AVX-512 groups the host has
=============================  ================================  ===============================

``MKL_CBWR``'s ``STRICT`` also makes MKL's GEMM independent of the thread count. Numba (the
LBP-TOP kernel) is left alone: that kernel's floating point is element-wise, compiled without
``fastmath`` (no contraction into FMA), so every vector width gives the same IEEE results.

The pin is applied by ``import helo`` (``helo/__init__.py`` calls :func:`pin` before anything
else), so every ``helo`` command, DVC stage process, warm stage server and its forks, pool,
Dask and pytest worker inherits it through the environment. It overrides values already in the
environment: the point is one level whatever the shell had. Opt out with
``HELO_CPU_KERNELS=native`` (each library's own choice: fastest, but bytes may differ between
machines).

Not covered, and said in docs/design.md: a CPU without AVX2/FMA (bytes differ from v3 machines;
a warning says so once per process), arm64 and other architectures (no pin: their own
kernels), operating systems without ``/proc/cpuinfo`` (no host features to read: only the
settings that are safe on any CPU are made), and GPUs (CUDA kernels are chosen per device).
"""
from __future__ import annotations

import os
import platform
import sys
import warnings

#: the one level every process runs at
LEVEL = "x86-64-v3"
#: every variable :func:`pin` may set: what a warm server's environment key must include
PINNED_VARIABLES = ("HELO_CPU_KERNELS", "NPY_DISABLE_CPU_FEATURES", "ATEN_CPU_CAPABILITY",
                    "MKL_CBWR", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "OPENBLAS_CORETYPE",
                    "OPENCV_CPU_DISABLE")
#: the host flags (``/proc/cpuinfo``) that make a CPU x86-64-v3
V3_FLAGS = ("avx", "avx2", "fma", "f16c", "bmi1", "bmi2", "movbe")

# NumPy's dispatch targets above v3, by naming scheme (2.4 groups them by psABI level); with a
# host flag that has to be present for the target to be in use there, spelt as Linux spells it
# in /proc/cpuinfo (``avx512vbmi`` but ``avx512_vbmi2``, ``avx512_fp16``, ``avx512_4fmaps``).
_NUMPY_TARGETS_2_4 = (("X86_V4", "avx512f"), ("AVX512_ICL", "avx512_vbmi2"),
                      ("AVX512_SPR", "avx512_fp16"))
_NUMPY_TARGETS_OLD = (("AVX512F", "avx512f"), ("AVX512CD", "avx512cd"),
                      ("AVX512_KNL", "avx512er"), ("AVX512_KNM", "avx512_4fmaps"),
                      ("AVX512_SKX", "avx512bw"), ("AVX512_CLX", "avx512_vnni"),
                      ("AVX512_CNL", "avx512ifma"), ("AVX512_ICL", "avx512_vbmi2"),
                      ("AVX512_SPR", "avx512_fp16"))
# OpenCV's feature groups above v3 (it warns about a name the host lacks, so only those it has)
_OPENCV_GROUPS = (("AVX512F", ("avx512f",)), ("AVX512-COMMON", ("avx512f", "avx512cd")),
                  ("AVX512-SKX", ("avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl")),
                  ("AVX512-CLX", ("avx512bw", "avx512_vnni")),
                  ("AVX512-CNL", ("avx512bw", "avx512ifma", "avx512vbmi")),
                  ("AVX512-ICL", ("avx512bw", "avx512_vbmi2", "avx512_bitalg",
                                  "avx512_vpopcntdq")),
                  ("AVX512-KNL", ("avx512er", "avx512pf")),
                  ("AVX512-KNM", ("avx512er", "avx512_4fmaps")))


def host_flags(cpuinfo: str = "/proc/cpuinfo") -> frozenset[str] | None:
    """The CPU's feature flags as Linux reports them, or None where ``/proc/cpuinfo`` is not."""
    try:
        with open(cpuinfo, encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return frozenset(line.partition(":")[2].split())
    except OSError:
        return None
    return frozenset()


def _numpy_targets() -> tuple[tuple[str, str], ...]:
    """NumPy's names for its dispatch targets, from the installed ``numpy/version.py`` read as
    text (importing NumPy would fix its kernels before the pin; ``importlib.metadata`` costs
    30-55 ms a process on the development VM)."""
    import importlib.util
    import re
    try:
        spec = importlib.util.find_spec("numpy")
        folder = os.path.dirname(spec.origin)  # type: ignore[union-attr, arg-type]
        with open(os.path.join(folder, "version.py"), encoding="utf-8") as fh:
            found = re.search(r'^version\s*(?::\s*str)?\s*=\s*["\'](\d+)\.(\d+)', fh.read(), re.M)
        major, minor = int(found.group(1)), int(found.group(2))  # type: ignore[union-attr]
    except Exception:  # noqa: BLE001 - not installed or an odd layout: the current names
        return _NUMPY_TARGETS_2_4
    return _NUMPY_TARGETS_2_4 if (major, minor) >= (2, 4) else _NUMPY_TARGETS_OLD


def settings(flags: frozenset[str] | None, machine: str | None = None) -> dict[str, str]:
    """The variables that pin a host with ``flags`` (None: unknown) at :data:`LEVEL`.

    Only what is safe on that host: a library is never told to use an instruction the CPU
    lacks (PyTorch trusts ``ATEN_CPU_CAPABILITY``, OpenBLAS ``OPENBLAS_CORETYPE``), and nothing
    is set on a CPU that is not x86-64."""
    machine = (machine or platform.machine()).lower()
    if machine not in ("x86_64", "amd64"):
        return {}
    out = {"HELO_CPU_KERNELS": LEVEL}
    known = flags if flags is not None else frozenset()
    npy = [name for name, flag in _numpy_targets() if flag in known]
    out["NPY_DISABLE_CPU_FEATURES"] = " ".join(npy)
    cv = [name for name, need in _OPENCV_GROUPS if all(f in known for f in need)]
    out["OPENCV_CPU_DISABLE"] = ",".join(cv)
    if flags is not None and all(f in flags for f in V3_FLAGS):
        out.update(ATEN_CPU_CAPABILITY="avx2", MKL_CBWR="AVX2,STRICT",
                   ONEDNN_MAX_CPU_ISA="AVX2", DNNL_MAX_CPU_ISA="AVX2",
                   OPENBLAS_CORETYPE="Haswell")
    return out


def below_level(flags: frozenset[str] | None) -> bool:
    """Whether a host with these flags cannot run at :data:`LEVEL` (None: unknown, so False)."""
    return flags is not None and not all(f in flags for f in V3_FLAGS)


class CpuKernelWarning(UserWarning):
    """Results of this process may differ in their last bits from other machines'."""


def pin(environ=None) -> dict[str, str]:
    """Set the variables of :func:`settings` for this host in ``environ`` (``os.environ``), so
    this process and every process it starts compute at :data:`LEVEL`; returns what was set.

    ``HELO_CPU_KERNELS=native`` leaves the environment as it is. Warns (once per process) when
    the host is below the level, and when NumPy or PyTorch was imported before the pin with
    kernels above it (then this process's results are not pinned)."""
    env = os.environ if environ is None else environ
    if env.get("HELO_CPU_KERNELS", "").strip().lower() == "native":
        return {}
    flags = host_flags()
    chosen = settings(flags)
    for key in PINNED_VARIABLES:
        if key in chosen:
            env[key] = chosen[key]
        elif key != "HELO_CPU_KERNELS" and chosen:
            env.pop(key, None)
    if environ is None and chosen:
        _check_loaded(chosen, flags)
    return chosen


_warned: set[str] = set()


def _warn(key: str, message: str) -> None:
    if key not in _warned:
        _warned.add(key)
        warnings.warn(message, CpuKernelWarning, stacklevel=3)


def _check_loaded(chosen: dict[str, str], flags: frozenset[str] | None) -> None:
    """What can still be checked after the fact, for libraries imported before ``helo``."""
    if below_level(flags):
        _warn("host", f"this CPU lacks {LEVEL} (AVX2/FMA): helo's results are correct but may "
                      "differ in their last bits from those of other machines")
    npy = sys.modules.get("numpy")
    if npy is not None and chosen.get("NPY_DISABLE_CPU_FEATURES"):
        try:
            from numpy._core._multiarray_umath import __cpu_features__ as feats
        except ImportError:  # NumPy < 2
            from numpy.core._multiarray_umath import __cpu_features__ as feats
        active = [n for n in chosen["NPY_DISABLE_CPU_FEATURES"].split() if feats.get(n)]
        if active:
            _warn("numpy", f"NumPy was imported before helo and uses {' '.join(active)}: "
                           f"import helo first (or set the variables of helo.cpu_kernels in "
                           f"the environment) for results pinned at {LEVEL}")
    torch = sys.modules.get("torch")
    if torch is not None and chosen.get("ATEN_CPU_CAPABILITY"):
        try:
            cap = torch.backends.cpu.get_cpu_capability()
        except Exception:  # noqa: BLE001 - a partial import: nothing to check
            return
        if cap not in ("AVX2", "DEFAULT"):
            _warn("torch", f"PyTorch was imported before helo and runs {cap} kernels: import "
                           f"helo first for results pinned at {LEVEL}")
