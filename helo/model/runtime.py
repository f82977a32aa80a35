"""Where and how the engine computes: device choice, seeding, deterministic algorithms,
matmul precision, the attention backends a stack needs, and the whole-step CUDA graph.

Each is a small context or helper the training engine (:mod:`helo.model.train`) uses; the
baselines and the benchmarks use ``select_device`` and ``set_seed`` too.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import platform
import random
import threading
import warnings
from typing import Callable, Iterator

import numpy as np
import torch

#: ``Rules.precision`` (``evaluate.precision``)
PRECISIONS = ("fp32", "tf32", "bf16")


def set_seed(seed: int) -> None:
    """Seed Python's, NumPy's and torch's (all devices) global RNGs."""
    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch.manual_seed(seed)


def select_device(device: str | torch.device | None = "auto") -> torch.device:
    """``"auto"``/``None`` -> CUDA if available, else MPS if available, else CPU."""
    if device is None or device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(device)


@contextlib.contextmanager
def deterministic(enabled: bool = True, fill_uninitialized: bool = False) -> Iterator[None]:
    """Deterministic algorithms on (warn-only) inside the block, then restored; NaN filling of
    uninitialised memory only with ``fill_uninitialized``."""
    if not enabled:
        yield
        return
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    prev = torch.are_deterministic_algorithms_enabled()
    prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    det = torch.utils.deterministic
    prev_fill = det.fill_uninitialized_memory
    torch.use_deterministic_algorithms(True, warn_only=True)
    det.fill_uninitialized_memory = bool(fill_uninitialized)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(prev, warn_only=prev_warn)
        det.fill_uninitialized_memory = prev_fill


@contextlib.contextmanager
def tf32_matmuls(precision: str, device: torch.device) -> Iterator[None]:
    """TF32 matmuls and convolutions on CUDA inside the block when ``precision == "tf32"``."""
    if precision != "tf32" or device.type != "cuda":
        yield
        return
    prev = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = prev


def autocast(precision: str, device: torch.device):
    """The forward's autocast context: bf16 for ``precision == "bf16"``, else none."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


@contextlib.contextmanager
def mha_fastpath(enabled: bool) -> Iterator[None]:
    """The Transformer eval fast path (``_transformer_encoder_layer_fwd``) has no vmap batching
    rule (vmap then silently loops over the members): off inside stacked evaluation."""
    mha = getattr(torch.backends, "mha", None)
    if mha is None or not hasattr(mha, "set_fastpath_enabled"):
        yield
        return
    prev = mha.get_fastpath_enabled()
    mha.set_fastpath_enabled(enabled)
    try:
        yield
    finally:
        mha.set_fastpath_enabled(prev)


@contextlib.contextmanager
def math_attention() -> Iterator[None]:
    """Scaled-dot-product attention through its composite math backend: the fused kernels
    (flash / memory-efficient, CPU and CUDA) have no vmap batching rule, so under vmap they run
    once per member; the math backend is plain matmuls and softmax, batched."""
    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel
    except ImportError:  # older torch
        yield
        return
    with sdpa_kernel([SDPBackend.MATH]):
        yield


_FOLD = threading.local()


class _ContiguousGrad(torch.autograd.Function):
    """The identity, whose backward hands on a contiguous gradient."""
    generate_vmap_rule = True

    @staticmethod
    def forward(x):
        return x.view_as(x)

    @staticmethod
    def setup_context(ctx, inputs, output):
        pass

    @staticmethod
    def backward(ctx, grad):
        return grad.contiguous()


_FOLD_LOCK = threading.Lock()


def _install_folding_linear() -> None:
    """Wrap ``torch.nn.functional.linear`` and ``scaled_dot_product_attention`` (once per
    process; pass-throughs wherever no :func:`folded_linear` is open in the calling thread)."""
    import torch.nn.functional as F

    with _FOLD_LOCK:
        if getattr(F.linear, "_helo_folding", False):
            return
        plain = F.linear

        def linear(input, weight, bias=None):
            if getattr(_FOLD, "depth", 0) and input.dim() >= 3 and not input.is_contiguous():
                input = input.contiguous()
            return plain(input, weight, bias)

        linear._helo_folding = True
        F.linear = linear
        plain_sdpa = F.scaled_dot_product_attention

        def sdpa(query, key, value, *args, **kwargs):
            if not getattr(_FOLD, "depth", 0):
                return plain_sdpa(query, key, value, *args, **kwargs)
            query, key, value = query.contiguous(), key.contiguous(), value.contiguous()
            return _ContiguousGrad.apply(plain_sdpa(query, key, value, *args, **kwargs))
        F.scaled_dot_product_attention = sdpa


@contextlib.contextmanager
def folded_linear() -> Iterator[None]:
    """In this thread, ``F.linear`` (``nn.Linear``, the attention's in-projection) of an input
    of three or more dimensions that is not contiguous goes through a contiguous copy of it.
    Alone, ``matmul`` folds such an input into one matrix (a copy) when the weight requires a
    gradient; under vmap the member's weight does not say so, and the product becomes a
    broadcast ``bmm`` over every leading index (a ``(K x T)`` batch for the Transformer's
    ``(T, B, d)`` view) whose weight gradient is summed from a ``(K x T, out, in)`` tensor. The
    copy is what the fold makes: same arithmetic, one ``(K, rows, in)`` product. Likewise
    ``F.scaled_dot_product_attention`` gets contiguous queries, keys and values and hands a
    contiguous gradient back to its output. Without these copies vmap's reshapes of such views
    are views for a member dimension of size 1 and copies otherwise: with them a stacked step
    issues the same kernels for any K (``bench_train.py --count-kernels``). For the stack
    only. Why wrappers of ``F.linear`` and ``F.scaled_dot_product_attention``:
    ``nn.MultiheadAttention`` calls them inside ``F.multi_head_attention_forward``, out of the
    modules' reach; the wrappers are installed once and act only in a thread inside this
    context, so a model trained or predicting alone in another thread (the ``threads`` task
    runner) computes exactly as without them."""
    _install_folding_linear()
    _FOLD.depth = getattr(_FOLD, "depth", 0) + 1
    try:
        yield
    finally:
        _FOLD.depth -= 1


_STACK = threading.local()


@contextlib.contextmanager
def stack_members(k: int) -> Iterator[None]:
    """In this thread, a stacked fit of ``k`` members runs (:func:`stacked_members`)."""
    outer = getattr(_STACK, "k", 1)
    _STACK.k = int(k)
    try:
        yield
    finally:
        _STACK.k = outer


def stacked_members() -> int:
    """The members of the stacked fit running in this thread (1 outside one): a module whose
    step is memory-bound can size its working set to the whole stack (SA-CPNN's hidden
    layer on the CPU)."""
    return getattr(_STACK, "k", 1)


# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_MMAP_MAX = -1, -3, -4
_HEAP_LOCK = threading.Lock()
_HEAP_DEPTH = [0]


def _glibc() -> ctypes.CDLL | None:
    """The C library when it is glibc (Linux), else ``None``."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


@contextlib.contextmanager
def retained_heap(enabled: bool = True) -> Iterator[None]:
    """While CPU training runs, freed memory stays in the process's heap for the next step.

    glibc serves every allocation above its mmap threshold (at most 32 MiB) with a fresh
    ``mmap`` and unmaps it on free, and trims the heap's free top above twice that. A training
    step allocates and frees the same large temporaries every step (a stack of 8 HeLo members:
    several of 25-52 MB), so each step faults all their pages in from the kernel again (about 3
    million page faults and 6-8 s of system time in ``bench_train.py --stack 8 --steps 20``).
    Inside this context ``mmap`` is off for new allocations (``M_MMAP_MAX`` 0) and the heap is
    never trimmed (``M_TRIM_THRESHOLD`` -1: a finite threshold, even 2 GiB, let a stacked
    SA-CPNN's free top of more than 2 GB be handed back and faulted in again every step), so
    from the second step on the temporaries reuse resident pages. On leaving
    the outermost such context (process-wide, counted across threads), glibc's own limits are
    set back as fixed values (``M_MMAP_MAX`` 65,536; mmap threshold 32 MiB and trim threshold
    64 MiB, where glibc's dynamic rule settles after the first large free) and the free heap is
    returned to the system (``malloc_trim``). Nothing computed changes: only where the bytes
    live. Other C libraries (macOS, musl) and ``enabled=False``: a no-op."""
    libc = _glibc() if enabled else None
    if libc is None:
        yield
        return
    with _HEAP_LOCK:
        if _HEAP_DEPTH[0] == 0:
            libc.mallopt(_M_MMAP_MAX, 0)
            libc.mallopt(_M_TRIM_THRESHOLD, -1)  # -1: never trim (glibc: size_t max)
        _HEAP_DEPTH[0] += 1
    try:
        yield
    finally:
        with _HEAP_LOCK:
            _HEAP_DEPTH[0] -= 1
            if _HEAP_DEPTH[0] == 0:
                libc.mallopt(_M_MMAP_MAX, 65536)
                libc.mallopt(_M_MMAP_THRESHOLD, 32 << 20)
                libc.mallopt(_M_TRIM_THRESHOLD, 64 << 20)
                libc.malloc_trim(0)


class CudaGraphStep:
    """A stacked step as one CUDA graph: three eager warm-up steps on a side stream (real
    training steps: they update the members), then the capture of the fourth (capture records,
    it does not run), then a replay per step. The step's inputs are fixed buffers; the step
    index is copied into ``index`` before each call. A capture that fails falls back to eager
    steps with a warning."""

    warmup = 3

    def __init__(self, step: Callable[[torch.Tensor], None], index: torch.Tensor,
                 graphs=None):
        self.step, self.index = step, index
        self.graphs = graphs if graphs is not None else torch.cuda
        self.graph = None
        self.warm = 0
        self.eager = False

    def __call__(self, t: torch.Tensor) -> None:
        self.index.copy_(t)
        if self.eager:
            self.step(self.index)
        elif self.graph is not None:
            self.graph.replay()
        elif self.warm < self.warmup:
            side = self.graphs.Stream()
            side.wait_stream(self.graphs.current_stream())
            with self.graphs.stream(side):
                self.step(self.index)
            self.graphs.current_stream().wait_stream(side)
            self.warm += 1
        else:
            graph = self.graphs.CUDAGraph()
            try:
                with self.graphs.graph(graph):
                    self.step(self.index)
            except Exception as err:  # noqa: BLE001 - a kernel that cannot be captured
                warnings.warn(f"CUDA graph capture of the training step failed "
                              f"({type(err).__name__}: {err}); training eagerly")
                self.eager = True
                self.step(self.index)
                return
            self.graph = graph
            graph.replay()
