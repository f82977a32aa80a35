"""Orchestration overhead of the two entry points, printed as a table.

Runs the same pipeline three ways in throw-away copies of this project:

1. ``direct``  -- every stage function called in one Python process (the stages' own work);
2. ``dvc``     -- ``dvc repro --force`` with no Prefect server (what a new user runs);
3. with a running local Prefect server:
   ``flow``   -- the ``helo`` flow (what ``prefect deployment run helo/full -p force=true``
   runs), DVC and the stage commands in the flow's process, every stage a subflow with
   per-subject / per-fold tasks;
   ``flow, stage subprocesses`` -- the same flow with ``in_process=False`` (``dvc repro`` in a
   subprocess, each stage its own process and flow run);
   ``dvc repro, engine prefect`` -- plain ``dvc repro --force`` with ``orchestrator.engine:
   prefect`` (each stage its own process and flow run);

and reports wall times and overhead = wall - direct, absolute and as a share of the run.
With ``--repeat N`` the direct and ``dvc repro`` runs alternate N times (fresh copies each
time), so a busy spell of a shared machine hits both ways alike; every pair's overhead is
printed and the median pair is the figure to report.

    python benchmarks/bench_orchestration.py                     # synthetic default
    python benchmarks/bench_orchestration.py --preset tiny       # quick look
    python benchmarks/bench_orchestration.py --methods helo mean --protocols loso
    python benchmarks/bench_orchestration.py --no-prefect --repeat 3   # the figure in docs
    python benchmarks/bench_orchestration.py --no-prefect --no-warm    # dvc repro, all cold

``--cold-vs-warm N --project DIR`` times single stage commands instead, in a project where
``dvc repro`` has already run (so every command has its inputs): each command run cold
(``HELO_WARM=0``) and through a warm server, alternating N times, and the median difference,
which is what every stage of a ``dvc repro`` without the warm server pays in addition.

``--yaml-reads N`` times the YAML reads of a run in this process, nothing else: ``params.yaml``
(which every stage command reads) with PyYAML's pure-Python safe loader and with libyaml's C
parser (``helo.io.read_yaml``), and ``dvc.lock`` with ruamel's safe loader, pure Python and
with its C parser (DVC's safe-mode reads), the two of each pair in turns, N rounds; then the
round trip (load and dump) DVC makes of ``dvc.lock`` after every stage.
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HERE / "tests" / "e2e"))
from e2e_util import copy_project, env, free_port  # noqa: E402


def configure(proj: Path, args) -> dict:
    params = yaml.safe_load((proj / "params.yaml").read_text())
    if args.methods:
        params["evaluate"]["methods"] = args.methods
    if args.protocols:
        params["evaluate"]["protocols"] = args.protocols
    (proj / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return params


def direct(proj: Path) -> float:
    code = """
import time, os
os.environ["HELO_ENGINE"] = "local"
t0 = time.perf_counter()
from helo.orchestration.run import run_stage
from helo.stages.params import load_config
p = load_config("params.yaml")
run_stage("synthesize", p)
for m in ["labels"] + list(p.features.modalities):
    run_stage("extract", p, modality=m)
run_stage("assemble", p)
for pr in p.evaluate.protocols:
    for me in p.evaluate.methods:
        run_stage("evaluate", p, protocol=pr, method=me)
run_stage("fit-final", p)
run_stage("report", p)
print(time.perf_counter() - t0)
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=proj, env=env(), check=True,
                         capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1])


def repro(proj: Path, **extra) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "dvc", "repro", "--force"], cwd=proj,
                   env=env(**extra), check=True, capture_output=True, text=True)
    return time.perf_counter() - t0


#: short stage commands of the synthetic default, one of each kind: the mean predictor (3
#: stages), a PyLDL method (18), a PyTorch method (21) and a data stage (the other 11)
PER_STAGE = (["evaluate", "--protocol", "loso", "--method", "mean"],
             ["evaluate", "--protocol", "subject-dependent", "--method", "aa-knn"],
             ["evaluate", "--protocol", "trial-held-out", "--method", "conformer"],
             ["assemble"])


def cold_vs_warm(proj: Path, repeat: int) -> int:
    """Wall time of each command in :data:`PER_STAGE`, cold and warm, alternating."""
    import statistics
    helo = [sys.executable, "-m", "helo"]
    sock = proj / ".helo" / "warm.sock"
    server = subprocess.Popen(helo + ["warm", "serve", "--idle", "900"], cwd=proj, env=env(),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def timed(cmd, cold):
        e = env(HELO_WARM="0") if cold else env()
        t0 = time.perf_counter()
        subprocess.run(helo + cmd, cwd=proj, env=e, check=True, capture_output=True)
        return time.perf_counter() - t0

    try:
        while not sock.exists():
            assert server.poll() is None, "the warm server did not start"
            time.sleep(0.1)
        print(f"{'command':58s} {'cold s':>7s} {'warm s':>7s} {'cold - warm s':>14s} "
              f"{'fastest pair':>13s}")
        diffs = []
        for cmd in PER_STAGE:
            timed(cmd, False)  # files in the page cache for both
            cold, warm = [], []
            for i in range(repeat):
                for is_cold in ((True, False) if i % 2 == 0 else (False, True)):
                    (cold if is_cold else warm).append(timed(cmd, is_cold))
            diff = statistics.median(c - w for c, w in zip(cold, warm))
            diffs.append(diff)
            print(f"{' '.join(cmd):58s} {statistics.median(cold):7.2f} "
                  f"{statistics.median(warm):7.2f} {diff:14.2f} "
                  f"{min(cold) - min(warm):13.2f}", flush=True)
        print(f"mean cold - warm per stage: {statistics.mean(diffs):.2f} s")
    finally:
        subprocess.run(helo + ["warm", "stop"], cwd=proj, env=env(), capture_output=True)
        server.wait(timeout=60)
    return 0


def yaml_reads(rounds: int) -> int:
    """Per-read wall time of each pair of YAML readers (see the module docstring), best of
    ``rounds`` rounds of 10 reads, the two readers of a pair in turns; prints the ratios."""
    from ruamel.yaml import YAML
    sys.path.insert(0, str(HERE))
    from helo.io import read_yaml

    def per_read(fn, text, k=10):
        t0 = time.perf_counter()
        for _ in range(k):
            fn(text)
        return (time.perf_counter() - t0) / k

    pairs = {
        "params.yaml": (lambda t: yaml.load(t, Loader=yaml.SafeLoader),  # noqa: S506
                        read_yaml, "PyYAML SafeLoader", "libyaml (helo.io.read_yaml)"),
        "dvc.lock": (YAML(typ="safe", pure=True).load, YAML(typ="safe").load,
                     "ruamel safe, pure", "ruamel safe, C parser"),
    }
    for fname, (slow, fast, slow_name, fast_name) in pairs.items():
        text = (HERE / fname).read_text()
        assert slow(text) == fast(text), f"{fname}: the two readers disagree"
        best = [float("inf"), float("inf")]
        for _ in range(rounds):
            for i, fn in enumerate((slow, fast)):
                best[i] = min(best[i], per_read(fn, text))
        print(f"{fname} ({len(text.splitlines())} lines): {slow_name} {best[0] * 1e3:.2f} ms, "
              f"{fast_name} {best[1] * 1e3:.2f} ms a read: {best[0] / best[1]:.1f}x as fast",
              flush=True)
    import io
    text = (HERE / "dvc.lock").read_text()

    def rewrite(t):  # what DVC does to dvc.lock after every stage: round-trip load and dump
        rt = YAML()
        rt.dump(rt.load(t), io.StringIO())

    best = min(per_read(rewrite, text, 2) for _ in range(max(1, rounds // 5)))
    print(f"dvc.lock round trip (ruamel load + dump, as DVC rewrites it after each stage): "
          f"{best:.2f} s", flush=True)
    return 0


def flow(proj: Path, in_process: bool, **extra) -> float:
    """the helo flow, forced, in a fresh process (as a served deployment runs it)"""
    code = ("from helo.cli import main\n"
            "from helo.orchestration.full import helo_flow, set_command_runner\n"
            "set_command_runner(main)\n"
            f"r = helo_flow(force=True, in_process={in_process})\n"
            "assert not r['dvc_status'] or 'up to date' in r['dvc_status'], r\n")
    e = env(HELO_PROJECT_DIR=str(proj), **extra)
    e.pop("HELO_ENGINE")
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=proj, env=e, check=True,
                   capture_output=True, text=True)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="synth-dmer")
    ap.add_argument("--methods", nargs="*")
    ap.add_argument("--protocols", nargs="*")
    ap.add_argument("--no-prefect", action="store_true", help="skip the Prefect rows")
    ap.add_argument("--repeat", type=int, default=1,
                    help="alternate direct and dvc repro this many times; report every pair "
                         "and the median")
    ap.add_argument("--prefect-rows", nargs="*", default=["flow", "flow-subprocess", "dvc"],
                    choices=["flow", "flow-subprocess", "dvc"],
                    help="which runs with a server: the helo flow (in-process), the flow "
                         "with in_process=False, plain dvc repro with engine prefect")
    ap.add_argument("--no-warm", action="store_true",
                    help="dvc repro with HELO_WARM=0: every stage command a cold process")
    ap.add_argument("--cold-vs-warm", type=int, metavar="N",
                    help="time single stage commands cold and warm, N times each, in --project")
    ap.add_argument("--project", type=Path, help="--cold-vs-warm: a project after dvc repro")
    ap.add_argument("--yaml-reads", type=int, metavar="N",
                    help="time the YAML readers of params.yaml and dvc.lock, N rounds")
    args = ap.parse_args()
    if args.yaml_reads:
        return yaml_reads(args.yaml_reads)
    if args.cold_vs_warm:
        if not args.project:
            ap.error("--cold-vs-warm needs --project DIR (a project after dvc repro)")
        return cold_vs_warm(args.project.resolve(), args.cold_vs_warm)
    rows = {}

    class Rows(dict):  # prints each figure as soon as it is measured
        def __setitem__(self, key, value):
            print(f"  {key}: {value:.1f} s", flush=True)
            super().__setitem__(key, value)

    rows = Rows()
    pairs = []
    with tempfile.TemporaryDirectory(prefix="helo-bench-") as tmp:
        tmp = Path(tmp)
        for i in range(max(1, args.repeat)):
            pair = {}
            for name in ("direct", "dvc"):
                proj = copy_project(tmp / f"{name}-{i}", args.preset)
                configure(proj, args)
                if name == "direct":
                    pair[name] = direct(proj)
                else:
                    pair[name] = repro(proj, **({"HELO_WARM": "0"} if args.no_warm else {}))
                print(f"  pair {i + 1}: {name} {pair[name]:.1f} s", flush=True)
                shutil.rmtree(proj)
            pairs.append(pair)
        ratios = sorted(pairs, key=lambda p: (p["dvc"] - p["direct"]) / p["dvc"])
        median = ratios[len(ratios) // 2]
        rows["direct"], rows["dvc"] = median["direct"], median["dvc"]
        if not args.no_prefect:
            proj = copy_project(tmp / "prefect", args.preset)
            configure(proj, args)
            port = free_port()
            api = f"http://127.0.0.1:{port}/api"
            e = env(PREFECT_HOME=str(tmp / "prefect-home"), PREFECT_API_URL=api)
            e.pop("HELO_ENGINE")
            t0 = time.perf_counter()
            server = subprocess.Popen([sys.executable, "-m", "helo", "prefect", "server"],
                                      cwd=proj, env=e, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.STDOUT, start_new_session=True)
            try:
                import urllib.request
                while True:
                    try:
                        urllib.request.urlopen(api + "/health", timeout=1)
                        break
                    except OSError:
                        time.sleep(0.5)
                rows["prefect server start-up (once)"] = time.perf_counter() - t0
                pe = {"PREFECT_API_URL": api, "PREFECT_HOME": str(tmp / "prefect-home")}
                if "flow" in args.prefect_rows:
                    rows["helo flow, server up"] = flow(proj, True, **pe)
                if "flow-subprocess" in args.prefect_rows:
                    rows["helo flow, stage subprocesses"] = flow(proj, False, **pe)
                if "dvc" in args.prefect_rows:
                    rows["dvc repro, engine prefect"] = repro(proj, HELO_ENGINE="prefect",
                                                              **pe)
            finally:
                os.killpg(server.pid, signal.SIGTERM)
                server.wait(timeout=30)
    if len(pairs) > 1:
        print("pairs (direct, dvc repro, overhead share), alternating:")
        for i, p in enumerate(pairs, 1):
            print(f"  {i}: {p['direct']:.1f} s, {p['dvc']:.1f} s, "
                  f"{100 * (p['dvc'] - p['direct']) / p['dvc']:.1f} %")
        print("the rows below: the median pair")
    base = rows["direct"]
    print(f"{'run':34s} {'wall s':>8s} {'overhead s':>11s} {'overhead %':>11s}", flush=True)
    for name, wall in rows.items():
        if name.startswith("prefect server"):
            print(f"{name:34s} {wall:8.1f}")
            continue
        over = wall - base
        print(f"{name:34s} {wall:8.1f} {over:11.1f} {100 * over / wall:10.1f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
