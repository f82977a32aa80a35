"""Projected minutes of every deep method's leave-one-subject-out training (Tables 1-2) on one
H200, from what a CPU measures: kernels a stacked step issues and FLOPs a member-step does.

For HeLo (the paper's configuration: d 128, 8 tokens, batch 128, 300 epochs) and each deep
baseline at its learner's defaults (its paper configuration, the epochs ``params.yaml`` runs),
on DMER-scale synthetic tensors (913 features, 10 labels, 50,688 training windows a fold):

* **kernels per stacked step**: one training step of K = 2 and K = 4 stacked members through
  the engine, profiled on the CPU as ``bench_train.py --count-kernels`` counts them
  (:func:`bench_train.kernels_of`; MemberAdam's masked update as one pass, as on a GPU);
* **FLOPs per member-step**: ``torch.utils.flop_counter.FlopCounterMode`` over one training
  step of one member (forward, backward; matrix products and convolutions, what the counter
  knows), at the method's batch (SA-CPNN: the whole fold, one step an epoch).

Projection, K = 73 (all LOSO folds stacked): a step takes at least ``kernels x launch`` (eager
PyTorch 5-10 us of host time an op; a CUDA graph replays a node in 1-2 us) and at least
``73 x FLOPs / (peak x efficiency)`` (efficiency 40-100 %; H200 datasheet peaks: 67 TFLOP/s
fp32, ~495 tf32, ~990 bf16 dense); the projected step is the larger of the two, low and high
ends from the fast and slow ends of both. Minutes = step x steps an epoch x epochs / 60.
Memory traffic is not modelled (bytes a step are not measured), so a memory-bound method
(elementwise passes over large activations) can take longer than projected.

    python benchmarks/project_methods.py                  # every deep method, ~2 min on 2 cores
    python benchmarks/project_methods.py --methods helo,carat
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import helo  # noqa: E402,F401 - first: the pipeline's pinned CPU kernels

# isort: split
import bench_train as bt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

K_PROJECTED = 73
HELO_EPOCHS, HELO_BATCH, HELO_TOKENS = 300, 128, 8
PEAK = {"fp32": 67e12, "tf32": 495e12, "bf16": 990e12}  # FLOP/s, H200 datasheet (dense)
LAUNCH = {"eager": (5e-6, 10e-6), "graph": (1e-6, 2e-6)}  # s an op: fast end, slow end
EFFICIENCY = (1.0, 0.4)  # of peak: fast end, slow end
MODES = (("eager", "fp32"), ("graph", "fp32"), ("graph", "tf32"))


@dataclasses.dataclass
class Engine:
    """What one method's training hands the engine (as ``bench_train`` builds it)."""
    make: object
    loss_fn: object
    log_prob: object
    X: dict
    y: torch.Tensor
    members: list
    rules: object
    epochs: int
    batch: int


def helo_engine(seeds, X, y) -> Engine:
    from helo.model.helo import NET_DEFAULTS, HeLoNet, _net_log_prob, helo_loss
    from helo.model.train import Member, Rules, set_seed
    spec = bt.dmer_spec()
    net = {**NET_DEFAULTS, "tokens": HELO_TOKENS}

    def make(m):
        set_seed(m.seed)
        return HeLoNet(spec, **net)
    rules = Rules(epochs=1, batch_size=HELO_BATCH, lr=1e-3)
    members = [Member(seed=s, rows=np.arange(len(y))) for s in seeds]
    return Engine(make, helo_loss(1.0), _net_log_prob, X, y, members, rules, HELO_EPOCHS,
                  HELO_BATCH)


def baseline_engine(name, seeds, X, y) -> Engine:
    from helo.model.train import Member
    cls, learners, cols, rows, targets = bt.method_learners(name, seeds, X, y,
                                                            torch.device("cpu"))
    members = [Member(seed=s, rows=rows, target_rows=targets) for s in seeds]
    make, loss_fn, log_prob, _ = cls._engine_parts(learners, [y.numpy()] * len(seeds),
                                                   members)
    rules = learners[0].rules()
    batch = min(int(rules.batch_size), len(rows))
    return Engine(make, loss_fn, log_prob, cols, y, members,
                  dataclasses.replace(rules, epochs=1), int(learners[0].params["epochs"]),
                  batch)


def engine_of(name, seeds, X, y) -> Engine:
    return helo_engine(seeds, X, y) if name == "helo" else baseline_engine(name, seeds, X, y)


def stacked_step_kernels(name, K, X, y) -> int:
    """Kernels of the third step of K stacked members (the first steps allocate)."""
    from helo.model.train import fit_members
    e = engine_of(name, list(range(K)), X, y)
    p, hooks = bt.third_step_profiler()
    per_epoch = max(1, len(e.members[0].rows) // e.batch)
    rules = dataclasses.replace(e.rules, epochs=math.ceil(3 / per_epoch), max_steps=3)
    with bt.gpu_passes():
        fit_members(e.make, e.loss_fn, e.X, e.y, e.members, rules, log_prob=e.log_prob,
                    stacked=True, hooks=hooks)
    return sum(bt.kernels_of(p).values())


def member_step_flops(name, X, y) -> tuple[int, int, int]:
    """(FLOPs of one training step of one member, its batch, its epochs)."""
    from helo.model.train import Hooks, fit_members
    e = engine_of(name, [0], X, y)
    counter = FlopCounterMode(display=False)
    state = {"on": False}

    def after():  # count the second step only
        if state["on"]:
            counter.__exit__(None, None, None)
            state["on"] = None
        elif state["on"] is False:
            counter.__enter__()
            state["on"] = True
    per_epoch = max(1, len(e.members[0].rows) // e.batch)
    rules = dataclasses.replace(e.rules, epochs=math.ceil(2 / per_epoch), max_steps=2)
    fit_members(e.make, e.loss_fn, e.X, e.y, e.members, rules, log_prob=e.log_prob,
                stacked=False, hooks=Hooks(after_step=after))
    return int(counter.get_total_flops()), e.batch, e.epochs


def projection(kernels: int, flops: int, steps: int) -> dict[str, tuple[float, float]]:
    """Minutes (fast end, slow end) of ``steps`` stacked steps in each mode."""
    out = {}
    for launch, precision in MODES:
        ends = []
        for i in (0, 1):
            t_launch = kernels * LAUNCH[launch][i]
            t_flop = K_PROJECTED * flops / (PEAK[precision] * EFFICIENCY[i])
            ends.append(max(t_launch, t_flop) * steps / 60)
        out[f"{launch} {precision}"] = (ends[0], ends[1])
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", default="helo," + ",".join(bt.BASELINES))
    a = ap.parse_args(argv)
    torch.manual_seed(0)
    spec = bt.dmer_spec()
    X = {m: torch.randn(bt.N_TRAIN, d) for m, d in spec.dims.items()}
    y = torch.softmax(torch.randn(bt.N_TRAIN, spec.n_labels), dim=1)
    totals: dict[str, list[float]] = {}
    print(f"{'method':<12} {'kernels K=2/4':>14} {'GFLOP/step':>11} {'batch':>6} "
          f"{'epochs':>6} " + " ".join(f"{m + ' (min)':>17}" for m in (f"{x} {p}" for x, p in
                                                                       MODES)))
    for name in [m for m in a.methods.split(",") if m]:
        k2, k4 = (stacked_step_kernels(name, K, X, y) for K in (2, 4))
        flops, batch, epochs = member_step_flops(name, X, y)
        steps = math.ceil(bt.N_TRAIN / batch) * epochs
        proj = projection(max(k2, k4), flops, steps)
        for mode, (lo, hi) in proj.items():
            totals.setdefault(mode, [0.0, 0.0])
            totals[mode][0] += lo
            totals[mode][1] += hi
        print(f"{name:<12} {f'{k2:,}/{k4:,}':>14} {flops / 1e9:>11.2f} {batch:>6} {epochs:>6} "
              + " ".join(f"{f'{lo:,.1f}-{hi:,.1f}':>17}" for lo, hi in proj.values()),
              flush=True)
    for mode, (lo, hi) in totals.items():
        print(f"projected LOSO of every method above, one H200, {mode}: {lo:,.0f}-{hi:,.0f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
