"""Projected minutes of the paper's leave-one-subject-out training on the measured device.

Reads the rows ``benchmarks/bench_train.py --jsonl`` appended (one per measurement: method, K,
compile, precision, the timed steps' seconds) and, for every deep method, takes its fastest
stacked run with K = 73 (all LOSO folds of DMER as one stacked model) and projects

    minutes = seconds per stacked step x steps per epoch x epochs / 60,

steps per epoch = ceil(50,688 training windows / batch) (the largest fold decides a stacked
epoch), epochs = the method's own (HeLo: the paper's 300; a baseline: its learner's default,
what ``params.yaml`` uses). Tables 1-2's LOSO is the sum over methods. Only the standard
library, NumPy and the repository are needed (the GPU machine has no network).

    python benchmarks/gpu_projection.py gpu_out/results.jsonl
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

N_TRAIN = 50_688
HELO_EPOCHS = 300


def method_epochs_batch(method: str) -> tuple[int, int]:
    """The epochs and batch size a method trains with by default (a full-batch method,
    ``batch_size`` None such as SA-CPNN: the whole fold, one step an epoch)."""
    if method == "helo":
        return HELO_EPOCHS, 128
    from helo.model.registry import get_class
    cls = get_class(method)
    params = {**getattr(cls, "_common_defaults", {}), **getattr(cls, "defaults", {})}
    batch = params.get("batch_size", 64)
    return int(params.get("epochs", 40)), N_TRAIN if batch is None else int(batch)


def main(argv=None) -> int:
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("jsonl", type=Path)
    ap.add_argument("--k", type=int, default=73, help="the stacked runs to project from")
    a = ap.parse_args(argv)
    path = a.jsonl
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    best: dict[str, dict] = {}
    for r in rows:
        if int(r.get("K", 0)) != a.k or not r.get("stacked_s"):
            continue
        per_step = float(r["stacked_s"]) / int(r["steps"])
        if r["method"] not in best or per_step < best[r["method"]]["per_step"]:
            best[r["method"]] = {**r, "per_step": per_step}
    total = 0.0
    for method, r in sorted(best.items()):
        epochs, batch = method_epochs_batch(method)
        minutes = r["per_step"] * math.ceil(N_TRAIN / batch) * epochs / 60
        total += minutes
        print(f"projected LOSO {method}: {minutes:,.1f} min ({a.k} folds stacked, {epochs} "
              f"epochs, {r['per_step'] * 1e3:.1f} ms a step, "
              f"{'compiled' if r.get('compile') else 'eager'}, {r.get('precision', 'fp32')})")
    if best:
        print(f"projected Tables 1-2 LOSO, {len(best)} deep methods: {total:,.1f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
