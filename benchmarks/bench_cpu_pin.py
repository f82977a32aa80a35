"""What pinning the CPU kernels costs: ``dvc repro --force`` pinned vs ``HELO_CPU_KERNELS=native``.

Both ways run in fresh throw-away copies of this project, alternating (pinned, native, pinned,
native, ...) so a busy spell of a shared machine hits both alike; every pair is printed with its
ratio, and the median ratio is the figure. Both ways must give the same ``outputs/metrics.json``
on a machine without AVX-512 (there the pin only moves MKL onto its reproducible AVX2 path); on
an AVX-512 machine the native run also shows what the pin gives up.

    python benchmarks/bench_cpu_pin.py                  # synthetic default, one pair
    python benchmarks/bench_cpu_pin.py --repeat 3
    python benchmarks/bench_cpu_pin.py --preset tiny    # quick look
"""
from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HERE / "tests" / "e2e"))
from e2e_util import copy_project  # noqa: E402


def one_run(preset: str, **env) -> tuple[float, str]:
    with tempfile.TemporaryDirectory(prefix="helo-pin-") as tmp:
        proj = copy_project(Path(tmp), preset)
        t0 = time.perf_counter()
        run_env = {k: v for k, v in os.environ.items() if k != "HELO_CPU_KERNELS"}
        run_env.update(DO_NOT_TRACK="1", DVC_NO_ANALYTICS="1", **env)
        subprocess.run([sys.executable, "-m", "dvc", "repro", "--force"], cwd=proj, env=run_env,
                       check=True, capture_output=True, timeout=3600)
        wall = time.perf_counter() - t0
        metrics = proj / "outputs" / "metrics.json"
        digest = hashlib.sha256(metrics.read_bytes()).hexdigest()[:12] if metrics.exists() else "-"
    return wall, digest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", default="synth-dmer", help="preset of the runs (default: the "
                    "synthetic default)")
    ap.add_argument("--repeat", type=int, default=1, help="pairs to run (alternating)")
    a = ap.parse_args()
    ratios = []
    print(f"dvc repro --force, preset {a.preset}: pinned (x86-64-v3) vs HELO_CPU_KERNELS=native")
    for i in range(a.repeat):
        pinned, d_pinned = one_run(a.preset)
        native, d_native = one_run(a.preset, HELO_CPU_KERNELS="native")
        ratios.append(pinned / native)
        print(f"pair {i + 1}: pinned {pinned:.1f} s (metrics {d_pinned}), native {native:.1f} s "
              f"(metrics {d_native}), pinned / native {pinned / native:.3f}", flush=True)
    print(f"pinned / native (median of {len(ratios)}): {statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
