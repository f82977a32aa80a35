"""Training throughput of HeLo at DMER scale through the one engine (``helo.model.train``):
K members stacked against the same K trained one at a time, and the projected cost of the
paper's protocol (73 LOSO folds x 300 epochs).

Synthetic random tensors with DMER's dimensions (913 features: EEG 90, GSR 28, PPG 27, video
768; 10 labels); each member trains on 50,688 windows (one LOSO fold of 73 subjects x 32 trials
x ~22 windows), at the paper's configuration (d 128, 8 tokens, 50 Sinkhorn iterations, batch
128). All members share the pool (different seeds: their own init and batch order), which is
what the engine sees for the folds of a protocol up to which rows each member gathers.

    python benchmarks/bench_train.py --device cpu --stack 8 --steps 20
    python benchmarks/bench_train.py --device cuda --ks 1,8,73 --steps 30 --compile both
    python benchmarks/bench_train.py --device cpu --profile     # where a step's time goes
    python benchmarks/bench_train.py --device cpu --count-kernels  # kernels of one step, K 1/16

Timing: the first ``--warmup`` steps of every run are excluded. On CUDA the clock runs from
the end of the last warm-up step to the end of the last step (read through the engine's
``after_step`` hook, with a sync at both ends only); on the CPU a run's time is its median step
time x steps (every step timed: the 2-core development VM is shared and a preempted step would
otherwise dominate). The one-at-a-time figure is the sum of K single-member runs of the same
steps.

After HeLo, each deep baseline of ``--methods`` (default: all seven) is timed the same way at
its default (paper) configuration and batch size (SA-CPNN: full batch, one step an epoch),
``--method-k`` (8) members stacked against the same members one at a time, on the same pool
(Amanda adapting to the last 704 rows as its held-out subject, MAET's adversary over 72
training subjects); one line per method,
``stacked <method> K=<K> speed-up: <x>x``. The last line is HeLo's,
``stacked K=<K> speed-up: <x>x`` for the largest K run.

Kernel count (``--count-kernels``): one stacked training step through the engine (K = 1 and
16 members, the default deterministic mode), profiled on the CPU with ``torch.profiler``
(``record_shapes=False``) from the end of one step to the end of the next, so every op a step
issues (batch gather, forward, backward, clipping, MemberAdam, the loss sums) is in the window.
A kernel is a profiled ``aten::`` op none of whose nested ``aten::`` ops is one (composite ops
such as ``matmul``, ``logsumexp``, or the op a vmap batching rule re-dispatches are counted
through what they call), that is not a view or metadata-only (an op whose every overload
returns an alias of an input, ``_unsafe_view``, and the allocations ``empty*``/``new_empty*``,
which launch nothing). The Sinkhorn's share is the same count of one Sinkhorn forward +
backward at the step's shapes (vmapped over K, cost as the input). The last line is
``kernels per stacked step: <n>`` for the default solver (``NET_DEFAULTS["sinkhorn"]``).
"""
from __future__ import annotations

import argparse
import collections
import contextlib
import functools
import json
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import helo  # noqa: E402,F401 - first: the pipeline's pinned CPU kernels (helo/cpu_kernels.py)

# isort: split
import numpy as np  # noqa: E402
import torch  # noqa: E402

from helo.model.complexity import dmer_spec  # noqa: E402
from helo.model.helo import NET_DEFAULTS, HeLoNet, _net_log_prob, helo_loss  # noqa: E402
from helo.model.train import Hooks, Member, Rules, fit_members, select_device, set_seed  # noqa: E402

SUBJECTS, TRIALS, WINDOWS = 73, 32, 22
N_TRAIN = 50_688


def sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize()


def run(K: int, stacked: bool, X, y, spec, a, dev, compile_: bool) -> float:
    """Seconds of the timed steps of K members (stacked, or one after the other)."""
    net_params = {**NET_DEFAULTS, "tokens": a.tokens}
    rules = Rules(epochs=1, batch_size=a.batch, lr=1e-3, max_steps=a.warmup + a.steps,
                  compile=compile_, precision=a.precision,
                  deterministic=not a.no_deterministic)
    def make(m):
        set_seed(m.seed)
        return HeLoNet(spec, **net_params)

    def timed(members):
        marks = []

        def after():
            if dev.type == "cuda" and len(marks) in (a.warmup - 1, a.warmup + a.steps - 1):
                sync(dev)
            marks.append(time.perf_counter())
        fit_members(make, helo_loss(1.0), X, y, members, rules, log_prob=_net_log_prob,
                    stacked=stacked, hooks=Hooks(after_step=after))
        if dev.type == "cuda":  # asynchronous: the wall time of the timed steps
            return marks[a.warmup + a.steps - 1] - marks[a.warmup - 1]
        # CPU: the median step time x steps (robust to the shared machine's preemptions)
        steps = np.diff(marks[a.warmup - 1:a.warmup + a.steps])
        return float(np.median(steps)) * a.steps

    if stacked:
        return timed([Member(seed=k, rows=fold_rows(k)) for k in range(K)])
    return sum(timed([Member(seed=k, rows=fold_rows(k))]) for k in range(K))


def append_jsonl(a, row: dict) -> None:
    """Append one measured row to ``--jsonl`` at once (a later timeout loses nothing)."""
    if a.jsonl is None:
        return
    a.jsonl.parent.mkdir(parents=True, exist_ok=True)
    with open(a.jsonl, "a") as fh:
        fh.write(json.dumps({"tag": a.tag, "device": str(a.device_name), **row}) + "\n")


def fold_rows(k: int) -> np.ndarray:
    """Member k's training rows: LOSO folds differ in size (the held-out subject's windows),
    here by up to 4 % (ragged epochs: per-member step counts and masked steps at the end)."""
    return np.arange(N_TRAIN - 500 * (k % 5))


def device_pool(folds: int = SUBJECTS, batch: int = 128) -> tuple[float, float]:
    """GB of the data the engine holds on the device for ``folds`` stacked DMER-scale LOSO
    folds (the raw rows once, each fold's rows, standardisation table and batch plan; the
    networks' parameters and Adam state are not data), and the process's peak host memory
    (GB) while building it."""
    import resource

    from helo.model.train import FoldPool, FoldRows, Rules, StackTrainer
    spec = dmer_spec()
    n_all = SUBJECTS * TRIALS * WINDOWS
    rng = np.random.default_rng(0)
    X = {m: rng.standard_normal((n_all, d), dtype=np.float32) for m, d in spec.dims.items()}
    y = rng.random((n_all, spec.n_labels), dtype=np.float32)
    subject = np.repeat(np.arange(SUBJECTS), n_all // SUBJECTS)
    fold_list = [FoldRows(rows=np.flatnonzero(subject != k),
                          shift={m: X[m][:1] for m in X}, scale={m: X[m][:1] for m in X})
                 for k in range(folds)]
    pool = FoldPool(X=X, y=y, folds=fold_list)
    Xd, yd, _ = pool.to("cpu")
    members = pool.members(range(folds))
    trainer = StackTrainer(lambda m: torch.nn.Linear(1, 1), None, Xd, yd, members,
                           Rules(batch_size=batch), None, [])
    model = {id(t) for t in (trainer.flat.flat, trainer.opt.m, trainer.opt.v,
                             trainer.opt.steps, *trainer.leaves, *trainer.blist)}
    seen, total = set(), 0

    def add(obj):
        nonlocal total
        if torch.is_tensor(obj):
            key = (obj.untyped_storage().data_ptr(), obj.untyped_storage().nbytes())
            if id(obj) not in model and key not in seen:
                seen.add(key)
                total += key[1]
        elif isinstance(obj, dict):
            for v in obj.values():
                add(v)
        elif isinstance(obj, (list, tuple)):
            for v in obj:
                add(v)
    for value in vars(trainer).values():
        add(value)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
    return total / 1e9, peak


def profile(X, y, spec, a, dev) -> None:
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as prof
    net = HeLoNet(spec, **{**NET_DEFAULTS, "tokens": a.tokens}).to(dev).train()
    loss_fn = helo_loss(1.0)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    idx = torch.arange(a.batch, device=dev)

    def step():
        loss, _ = loss_fn(net, {m: v[idx] for m, v in X.items()}, y[idx], None)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    for _ in range(2):
        step()
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if dev.type == "cuda" else [])
    with prof(activities=acts) as p:
        for _ in range(3):
            step()
        sync(dev)
    ev = p.key_averages()
    total_ops = sum(e.count for e in ev if e.key.startswith("aten::")) / 3
    total_self = sum(e.self_cpu_time_total for e in ev) / 3
    print(f"profile (K=1, batch {a.batch}): {total_ops:,.0f} aten ops dispatched per step, "
          f"{total_self / 1e3:,.1f} ms self CPU per step")
    rows = sorted(ev, key=lambda e: -e.self_cpu_time_total)[:12]
    for e in rows:
        print(f"  {e.key:<42} {e.count / 3:7.0f} calls  {e.self_cpu_time_total / 3e3:8.1f} ms "
              f"({100 * e.self_cpu_time_total / max(total_self * 3, 1):4.1f} %)")
    lse = sum(e.count for e in ev if "logsumexp" in e.key) / 3
    print(f"  logsumexp calls per step (Sinkhorn forward + backward): {lse:.0f}")
    sinkhorn_variants(a, dev)


def sinkhorn_variants(a, dev) -> None:
    """Ops and time of HeLo's two Sinkhorn solvers (forward + backward, the paper's 16 x 16
    plan, 50 iterations, eps 0.05)."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as prof

    from helo.model.othm import cosine_cost, sinkhorn_log, sinkhorn_scaling
    torch.manual_seed(0)
    x = torch.randn(a.batch, 16, 128, device=dev, requires_grad=True)
    z = torch.randn(a.batch, 16, 128, device=dev)
    fns = {"log domain": lambda c: sinkhorn_log(c, 0.05, 50),
           "scaling domain": lambda c: sinkhorn_scaling(c, 0.05, 50)}
    plans = {}
    for name, fn in fns.items():
        for _ in range(2):
            fn(cosine_cost(x, z)).sum().backward()
        acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if dev.type == "cuda" else [])
        t0 = time.perf_counter()
        with prof(activities=acts) as p:
            for _ in range(5):
                out = fn(cosine_cost(x, z))
                (out * z[:, :, :16]).sum().backward()
            sync(dev)
        dt = (time.perf_counter() - t0) / 5
        ops = sum(e.count for e in p.key_averages() if e.key.startswith("aten::")) / 5
        plans[name] = fn(cosine_cost(x, z)).detach()
        print(f"  sinkhorn {name:<26}: {ops:6.0f} aten ops, {dt * 1e3:7.1f} ms fwd+bwd "
              f"(profiled)")
    diff = (plans["log domain"] - plans["scaling domain"]).abs().max()
    print(f"  max |plan difference| {float(diff):.2e}")


#: ops that allocate or describe a tensor without launching a kernel
NO_KERNEL = {"aten::empty", "aten::empty_strided", "aten::empty_like", "aten::new_empty",
             "aten::new_empty_strided", "aten::resize_", "aten::lift_fresh",
             "aten::result_type", "aten::set_", "aten::_unsafe_view"}


@functools.lru_cache(maxsize=None)
def launches(name: str) -> bool:
    """Whether the ATen op ``name`` (``aten::add``) launches a kernel when it is a leaf."""
    if not name.startswith("aten::") or name in NO_KERNEL:
        return False
    try:
        packet = getattr(torch.ops.aten, name[len("aten::"):])
    except (AttributeError, RuntimeError):
        return True
    for overload in packet.overloads():
        rets = getattr(packet, overload)._schema.returns
        if rets and all(r.alias_info is not None and not r.alias_info.is_write for r in rets):
            return False  # a view: its result aliases an input
    return True


def count_kernels(fn) -> collections.Counter:
    """Kernels ``fn()`` launches, by op name (see the module docstring for what counts)."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as prof
    with prof(activities=[ProfilerActivity.CPU], record_shapes=False) as p:
        fn()
    return kernels_of(p)


def kernels_of(p) -> collections.Counter:
    counts: collections.Counter = collections.Counter()

    def walk(e) -> int:
        n = sum(walk(c) for c in e.cpu_children)
        if n == 0 and launches(e.name):
            counts[e.name] += 1
            return 1
        return n
    for e in p.events():
        if e.cpu_parent is None:
            walk(e)
    return counts


@contextlib.contextmanager
def gpu_passes():
    """The CPU's cache blocking off, so a step issues the kernels a GPU's does: MemberAdam's
    masked update in one pass (on the CPU one set of its kernels per ~2^16 elements, a count
    growing with K x P) and SA-CPNN's stacked hidden layer whole (on the CPU by blocks of rows,
    a count growing with K and the rows)."""
    from helo.model.baselines import sa_cpnn
    from helo.model.optim import MemberAdam
    blocked, MemberAdam.block = MemberAdam.block, None
    rows, sa_cpnn.STACK_BLOCK_ELEMENTS = sa_cpnn.STACK_BLOCK_ELEMENTS, None
    try:
        yield
    finally:
        MemberAdam.block = blocked
        sa_cpnn.STACK_BLOCK_ELEMENTS = rows


def third_step_profiler():
    """``(profiler, hooks)``: the engine hook runs the CPU profiler from the end of the second
    step to the end of the third (the first steps allocate)."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as prof
    p = prof(activities=[ProfilerActivity.CPU], record_shapes=False)
    done = []

    def after():
        done.append(1)
        if len(done) == 2:
            p.start()
        elif len(done) == 3:
            p.stop()
    return p, Hooks(after_step=after)


def step_kernels(K: int, sinkhorn: str, a, dev) -> collections.Counter:
    """Kernels of one stacked HeLo training step of K members at the paper's configuration,
    as a GPU issues them (:func:`gpu_passes`)."""
    spec = dmer_spec()
    n_rows = 4 * a.batch  # the count does not depend on the pool's size
    g = torch.Generator().manual_seed(0)
    X = {m: torch.randn(n_rows, d, generator=g).to(dev) for m, d in spec.dims.items()}
    y = torch.softmax(torch.randn(n_rows, spec.n_labels, generator=g), dim=1).to(dev)
    net_params = {**NET_DEFAULTS, "tokens": a.tokens, "sinkhorn": sinkhorn}
    rules = Rules(epochs=1, batch_size=a.batch, lr=1e-3, max_steps=3, precision=a.precision,
                  deterministic=not a.no_deterministic)
    p, hooks = third_step_profiler()

    def make(m):
        set_seed(m.seed)
        return HeLoNet(spec, **net_params)
    with gpu_passes():
        fit_members(make, helo_loss(1.0), X, y, [Member(seed=k, rows=np.arange(n_rows))
                                                  for k in range(K)],
                    rules, log_prob=_net_log_prob, stacked=True, hooks=hooks)
    return kernels_of(p)


def sinkhorn_kernels(K: int, B: int, n: int, sinkhorn: str, n_iter: int = 50,
                     eps: float = 0.05, deterministic_mode: bool = False) -> int:
    """Kernels of one Sinkhorn forward + backward of ``(K, B, n, n)`` costs, vmapped over K
    (``deterministic_mode``: with the engine's deterministic algorithms, whose NaN fills of
    fresh allocations are kernels too)."""
    from helo.model.othm import sinkhorn as solve
    from helo.model.train import deterministic
    gen = torch.Generator().manual_seed(0)
    cost = (torch.rand(K, B, n, n, generator=gen) * 2).requires_grad_(True)
    upstream = torch.randn(K, B, n, n, generator=gen)

    def fwd_bwd():
        plan = torch.vmap(lambda c: solve(c, eps, n_iter, method=sinkhorn))(cost)
        torch.autograd.grad(plan, cost, upstream)
    with deterministic(deterministic_mode):
        fwd_bwd()  # warm-up: first calls allocate
        return sum(count_kernels(fwd_bwd).values())


def count_step_kernels(a, dev) -> None:
    default = NET_DEFAULTS["sinkhorn"]
    n_tok = 2 * a.tokens  # OTHM's plan is (2C, 2C)
    final = {}
    for method in ("log", "scaling", "implicit"):
        for K in (1, 16):
            c = step_kernels(K, method, a, dev)
            total = sum(c.values())
            sk = sinkhorn_kernels(K, a.batch, n_tok, method,
                                  deterministic_mode=not a.no_deterministic)
            final.setdefault(method, []).append(total)
            top = ", ".join(f"{k[6:]} {v}" for k, v in c.most_common(6))
            print(f"sinkhorn {method:<7} K={K:2d}: {total:,} kernels per stacked step, the "
                  f"Sinkhorn's forward + backward {sk:,} ({100 * sk / total:.0f} %); top: {top}")
    counts = final[default]
    same = "same for K = 1 and 16" if len(set(counts)) == 1 else f"K = 1, 16: {counts}"
    print(f"default solver {default!r}, {same}")
    print(f"kernels per stacked step: {max(counts)}")


#: the deep baselines ``--methods`` times by default (registry names)
BASELINES = ("carat", "rsm-ual", "amanda", "conformer", "maet", "emotiondict", "sa-cpnn")
#: the held-out subject's windows (Amanda's unlabelled target rows) and MAET's training subjects
TARGET_ROWS = TRIALS * WINDOWS
TRAIN_SUBJECTS = SUBJECTS - 1


def method_learners(name: str, seeds, X, y, dev):
    """K learners of the baseline ``name`` at its default (paper) configuration and the pool's
    columns, training rows and target rows: every member trains on the whole pool (as HeLo's
    members here), Amanda's members adapt to the last ``TARGET_ROWS`` rows as their held-out
    subject, MAET's adversary tells ``TRAIN_SUBJECTS`` subjects apart (its subject column is
    the learners' own ``_inputs``)."""
    from helo.model.registry import get_class
    cls = get_class(name)
    rows = np.arange(N_TRAIN)
    targets = np.arange(N_TRAIN - TARGET_ROWS, N_TRAIN) if cls.uses_target else None
    groups = rows * TRAIN_SUBJECTS // N_TRAIN
    stub = {m: np.zeros((N_TRAIN, 1), np.float32) for m in X}
    y_np = y.cpu().numpy()
    learners, cols = [], dict(X)
    for s in seeds:
        lr_ = cls(dmer_spec(), device=str(dev), seed=s)
        for c, v in lr_._inputs(stub, y_np, groups).items():  # also the learner's data state
            if c not in X:
                cols[c] = torch.as_tensor(v, device=dev)
        learners.append(lr_)
    return cls, learners, cols, rows, targets


def run_method(name: str, K: int, stacked: bool, X, y, a, dev, compile_: bool) -> float:
    """Seconds of the timed steps of K members of the baseline ``name`` (stacked, or one after
    the other) under the rules and the timing of :func:`run`."""
    import dataclasses

    from helo.model.train import Member
    y_np = y.cpu().numpy()

    def timed(seeds):
        cls, learners, cols, rows, targets = method_learners(name, seeds, X, y, dev)
        members = [Member(seed=s, rows=rows, target_rows=targets) for s in seeds]
        make, loss_fn, log_prob, _ = cls._engine_parts(learners, [y_np] * len(seeds), members)
        base = learners[0].rules()
        per_epoch = -(-N_TRAIN // min(base.batch_size, N_TRAIN))  # SA-CPNN's full batch: 1
        rules = dataclasses.replace(base, epochs=-(-(a.warmup + a.steps) // per_epoch),
                                    max_steps=a.warmup + a.steps, compile=compile_,
                                    precision=a.precision,
                                    deterministic=not a.no_deterministic)
        marks = []

        def after():
            if dev.type == "cuda" and len(marks) in (a.warmup - 1, a.warmup + a.steps - 1):
                sync(dev)
            marks.append(time.perf_counter())
        fit_members(make, loss_fn, cols, y, members, rules, log_prob=log_prob,
                    stacked=stacked, hooks=Hooks(after_step=after))
        if dev.type == "cuda":
            return marks[a.warmup + a.steps - 1] - marks[a.warmup - 1]
        return float(np.median(np.diff(marks[a.warmup - 1:a.warmup + a.steps]))) * a.steps

    if stacked:
        return timed(list(range(K)))
    return sum(timed([k]) for k in range(K))


def bench_methods(a, X, y, dev) -> list[dict]:
    """``--methods``: each baseline's K members stacked against the same K one at a time
    (``--method-k``); prints one line per method, ``stacked <method> K=<K> speed-up: <x>x``."""
    from helo.model.registry import get_class
    names = [m for m in (a.methods or "").split(",") if m]
    compile_ = a.compile == "yes"
    rows = []
    for name in names:
        K = a.method_k
        t_st = run_method(name, K, True, X, y, a, dev, compile_)
        t_seq = None if a.no_sequential else run_method(name, K, False, X, y, a, dev, compile_)
        bs = int(get_class(name)(dmer_spec()).params["batch_size"] or N_TRAIN)  # None: full
        row = {"method": name, "K": K, "batch": bs, "steps": a.steps, "compile": compile_,
               "precision": a.precision, "stacked_s": t_st, "sequential_s": t_seq,
               "samples_per_s_all": K * a.steps * bs / t_st,
               "speedup": t_seq / t_st if t_seq else None}
        rows.append(row)
        append_jsonl(a, row)
        print(f"{name} K={K} batch {bs}: {row['samples_per_s_all']:,.0f} samples/s stacked"
              + (f", {K * a.steps * bs / t_seq:,.0f} one at a time" if t_seq else ""))
        if t_seq:
            print(f"stacked {name} K={K} speed-up: {row['speedup']:.2f}x")
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--stack", type=int, default=None, help="one K (same as --ks K)")
    ap.add_argument("--ks", default="1,8", help="comma-separated K values")
    ap.add_argument("--steps", type=int, default=20, help="timed steps per run")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--tokens", type=int, default=8)
    ap.add_argument("--compile", choices=("no", "yes", "both"), default="no")
    ap.add_argument("--precision", choices=("fp32", "tf32", "bf16"), default="fp32",
                    help="the engine's matmul precision (evaluate.precision)")
    ap.add_argument("--amp", action="store_true", help="the same as --precision bf16")
    ap.add_argument("--no-sequential", action="store_true",
                    help="skip the one-at-a-time runs (large K on a GPU)")
    ap.add_argument("--paper-epochs", type=int, default=300)
    ap.add_argument("--folds", type=int, default=SUBJECTS)
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    ap.add_argument("--no-deterministic", action="store_true")
    ap.add_argument("--profile", action="store_true", help="torch.profiler of one K=1 step")
    ap.add_argument("--pool", action="store_true",
                    help="the engine's device data for --folds stacked DMER-scale folds")
    ap.add_argument("--count-kernels", action="store_true",
                    help="kernels of one stacked step (K = 1, 16), each Sinkhorn solver")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    ap.add_argument("--jsonl", type=Path, default=None,
                    help="append each measured row to this file as soon as it is measured")
    ap.add_argument("--tag", default="", help="a name for this run's rows in --jsonl")
    ap.add_argument("--methods", default=",".join(BASELINES),
                    help="deep baselines timed after HeLo, comma-separated ('' for none)")
    ap.add_argument("--method-k", type=int, default=8, help="members of each baseline run")
    ap.add_argument("--methods-only", action="store_true",
                    help="time the baselines of --methods only, not HeLo")
    a = ap.parse_args(argv)
    if a.amp:
        a.precision = "bf16"
    if a.threads:
        torch.set_num_threads(a.threads)
    dev = select_device(a.device)
    spec = dmer_spec()
    if a.count_kernels:
        print(f"device {dev}, torch {torch.__version__}, batch {a.batch}, tokens {a.tokens}, "
              f"deterministic {not a.no_deterministic}")
        count_step_kernels(a, dev)
        return 0
    if a.pool:
        gb, peak = device_pool(a.folds, a.batch)
        copies = a.folds * N_TRAIN * (sum(spec.dims.values()) + spec.n_labels) * 4 / 1e9
        print(f"one standardised copy per fold (before): {copies:.1f} GB; host peak while "
              f"building the pool: {peak:.2f} GB")
        print(f"device pool for {a.folds} folds: {gb:.2f} GB")
        return 0
    torch.manual_seed(0)
    X = {m: torch.randn(N_TRAIN, d, device=dev) for m, d in spec.dims.items()}
    y = torch.softmax(torch.randn(N_TRAIN, spec.n_labels, device=dev), dim=1)
    name = (torch.cuda.get_device_name(dev) if dev.type == "cuda"
            else platform.processor() or platform.machine())
    a.device_name = name
    print(f"device {dev} ({name}), threads {torch.get_num_threads()}, torch {torch.__version__}, "
          f"{sum(spec.dims.values())} features, {N_TRAIN} windows per member, batch {a.batch}")
    if a.profile:
        profile(X, y, spec, a, dev)
        return 0
    ks = [] if a.methods_only else [a.stack] if a.stack else [int(k) for k in a.ks.split(",")]
    modes = {"no": [False], "yes": [True], "both": [False, True]}[a.compile]
    results = []
    last = None
    for compile_ in modes:
        for K in ks:
            t_st = run(K, True, X, y, spec, a, dev, compile_) if K > 1 else None
            t_seq = None if (a.no_sequential and K > 1) else run(K, False, X, y, spec, a, dev,
                                                                   compile_)
            t = t_st if t_st is not None else t_seq
            samples = K * a.steps * a.batch
            rate_all = samples / t
            fold_s = N_TRAIN * a.paper_epochs / (rate_all / K)  # one member's fold
            all_s = a.folds * N_TRAIN * a.paper_epochs / rate_all
            row = {"K": K, "compile": compile_, "precision": a.precision, "stacked_s": t_st,
                   "sequential_s": t_seq, "samples_per_s_all": rate_all,
                   "samples_per_s_per_member": rate_all / K,
                   "speedup": (t_seq / t_st) if (t_st and t_seq) else None,
                   "projected_73x300_h": all_s / 3600, "projected_fold_h": fold_s / 3600}
            results.append(row)
            append_jsonl(a, {"method": "helo", "steps": a.steps, "batch": a.batch, **row})
            sp = f", speed-up {row['speedup']:.2f}x vs one at a time" if row["speedup"] else ""
            seq = (f"; one at a time {samples / t_seq:,.0f} samples/s" if t_seq and K > 1
                   else "")
            print(f"K={K:3d} {'compiled' if compile_ else 'eager   '}: "
                  f"{rate_all:,.0f} samples/s in all, {rate_all / K:,.0f} per member{seq}{sp}; "
                  f"projected {a.folds} folds x {a.paper_epochs} epochs = "
                  f"{all_s / 3600:,.2f} h at this K")
            if row["speedup"]:
                last = row
    methods = bench_methods(a, X, y, dev)
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps({"device": str(dev), "device_name": name,
                                      "threads": torch.get_num_threads(),
                                      "torch": torch.__version__, "batch": a.batch,
                                      "steps": a.steps, "results": results,
                                      "methods": methods}, indent=2) + "\n")
    if results:
        best = min(results, key=lambda r: r["projected_73x300_h"])
        print(f"projected helo LOSO {a.folds} folds x {a.paper_epochs} epochs: "
              f"{best['projected_73x300_h'] * 60:,.1f} min (K={best['K']}, "
              f"{'compiled' if best['compile'] else 'eager'}, {a.precision})")
    if last is not None:
        print(f"stacked K={last['K']} speed-up: {last['speedup']:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
