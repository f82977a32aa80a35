"""Fit and predict time and peak memory of every method for one fold at DMER scale.

Synthetic tensors with DMER's dimensions (EEG 90, GSR 28, PPG 27, video 768 = 913 features,
10 labels; :func:`helo.model.complexity.dmer_spec`): ``--rows`` training windows (default
50,000, about one LOSO fold of 73 subjects x 32 trials x ~22 windows) and ``--test-rows`` test
windows (default 700, one held-out subject). The labels are a softmax of a random linear map of
the features plus noise, so every method has something to learn; the training windows are
spread over ``--subjects`` subjects (MAET's domain head, Amanda's target domain = the test rows).

Each method runs in its own process (a clean peak-memory reading, and a hung method cannot stop
the others) with its parameters from ``params.yaml`` (``model.<method>``), except that the
iterative ones run a fixed small number of epochs / iterations (``--epochs``) and their fit time
is extrapolated linearly to the configured number: the table gives the measured fit time, the
time per epoch (or per iteration) and the extrapolated time per fold at the configured epochs.
Times are CPU seconds of the method's process (``time.process_time``; with one thread, the
wall time on an idle machine; robust to a shared machine's load; the JSON also has the wall
time), after a warm-up fit on 256 rows that pays the one-off import and set-up costs. The
extrapolation multiplies the whole measured fit (per-fold set-up such as PCA included) by the
configured count, so it slightly overestimates; the methods with a sizeable per-fold set-up
(SA-CPNN, CAD, LDL-LRR: PCA, the Keras model, PyLDL's CPNN's (instance, label) rows) are timed at
two counts (``--epochs`` and ten times that) and extrapolated as set-up + per-count time x
configured count. Peak MB is the process's peak resident memory (data, libraries and model
together; the line ``baseline`` is the same process with the data made and nothing fitted).

    python benchmarks/bench_methods.py                               # every method, 50,000 rows
    python benchmarks/bench_methods.py --methods pt-svm aa-knn --rows 5000 20000
    python benchmarks/bench_methods.py --json outputs/bench/methods.json
    python benchmarks/bench_methods.py --methods pt-svm --rows 2000 8000 --set pt-svm.solver=pyldl

Several ``--rows`` values also print the growth exponent of the fit time between them
(1 = linear in the rows).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: methods whose cost grows with a count we shorten, and the parameter holding it
ITERATIVE = {"helo": "epochs", "sa-cpnn": "epochs", "cad": "epochs", "carat": "epochs",
             "rsm-ual": "epochs", "amanda": "epochs", "conformer": "epochs", "maet": "epochs",
             "emotiondict": "epochs", "ldl-lrr": "max_iterations"}
#: iterative methods with a sizeable one-off set-up per fold (PCA, Keras model, the CPNN's
#: (instance, label) rows): timed at two counts, the difference gives the time per count
TWO_POINT = {"sa-cpnn", "cad", "ldl-lrr"}
#: the class default of the count when params.yaml does not set it
DEFAULT_COUNT = {"helo": 300, "ldl-lrr": 50, "sa-cpnn": 300, "cad": 500, "carat": 30,
                 "rsm-ual": 30, "amanda": 40, "conformer": 40, "maet": 30, "emotiondict": 30}


def make_data(rows: int, test_rows: int, subjects: int, seed: int = 0):
    import numpy as np

    from helo.model.complexity import dmer_spec
    spec = dmer_spec()
    rng = np.random.default_rng(seed)
    n = rows + test_rows
    X = {m: rng.standard_normal((n, d), dtype=np.float32) for m, d in spec.dims.items()}
    d_all = sum(spec.dims.values())
    Wm = {m: rng.standard_normal((d, spec.n_labels)) / math.sqrt(d_all)
          for m, d in spec.dims.items()}
    z = sum(X[m] @ Wm[m] for m in spec.dims) * 2.0 + 0.5 * rng.standard_normal((n, spec.n_labels))
    y = np.exp(z - z.max(1, keepdims=True))
    y /= y.sum(1, keepdims=True)
    groups = np.arange(rows) % subjects
    tr = {m: v[:rows] for m, v in X.items()}
    te = {m: v[rows:] for m, v in X.items()}
    return spec, tr, y[:rows], te, y[rows:], groups


def peak_mb() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 1024 if sys.platform != "darwin" else r / 2**20


def run_one(method: str, rows: int, test_rows: int, subjects: int, epochs: int,
            params_file: Path, device: str, overrides: list[str] = ()) -> dict:
    """Fit + predict one method in this process; returns the measurements."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import numpy as np
    import yaml

    from helo.model.registry import make_model
    params = yaml.safe_load(params_file.read_text()) if params_file.exists() else {}
    mp = dict(((params.get("model") or {}).get(method)) or {})
    mp.pop("modalities", None)
    for o in overrides:
        k, _, v = o.partition("=")
        m_, _, key_ = k.partition(".")
        if m_ == method:
            mp[key_] = yaml.safe_load(v)
    if "device" in mp or method in ITERATIVE and method not in ("cad", "ldl-lrr"):
        mp["device"] = device
    spec, Xtr, ytr, Xte, yte, groups = make_data(rows, test_rows, subjects)
    base_mb = peak_mb()
    key = ITERATIVE.get(method)
    configured = run = None
    if key:
        configured = int(mp.get(key) or DEFAULT_COUNT[method])
        run = min(int(epochs), configured)
        mp[key] = run
    # warm-up on a few rows: imports, Keras graph set-up and first-call costs are paid here
    warm = min(256, rows)
    wp = {**mp, key: 1} if key else mp
    w = make_model(method, spec, wp)
    w.fit({m: v[:warm] for m, v in Xtr.items()}, ytr[:warm], groups=groups[:warm],
          X_target=Xte if getattr(w, "uses_target", False) else None)
    w.predict(Xte)
    del w
    def timed_fit(params):
        model = make_model(method, spec, params)
        t0, c0 = time.perf_counter(), time.process_time()
        model.fit(Xtr, ytr, groups=groups,
                  X_target=Xte if getattr(model, "uses_target", False) else None)
        return model, time.perf_counter() - t0, time.process_time() - c0

    setup_s = None
    if key and method in TWO_POINT and configured > run:
        run2 = min(configured, 10 * run)
        _, _, fit1 = timed_fit(mp)
        mp[key] = run2
        model, fit_wall, fit_s = timed_fit(mp)
        per = max(fit_s - fit1, 0.0) / (run2 - run)
        setup_s = max(fit1 - per * run, 0.0)
        run = run2
    else:
        model, fit_wall, fit_s = timed_fit(mp)
    c0 = time.process_time()
    p = model.predict(Xte)
    pred_s = time.process_time() - c0
    kl = float(np.mean(np.sum(yte * (np.log(np.clip(yte, 1e-12, None))
                                     - np.log(np.clip(p, 1e-12, None))), 1)))
    kl_mean = float(np.mean(np.sum(yte * (np.log(yte) - np.log(ytr.mean(0))), 1)))
    out = {"method": method, "overrides": [o for o in overrides if o.startswith(method + ".")],
           "rows": rows, "test_rows": test_rows, "fit_s": fit_s,
           "fit_wall_s": fit_wall, "predict_s": pred_s, "peak_mb": peak_mb(),
           "baseline_mb": base_mb, "kl": kl,
           "kl_mean_predictor": kl_mean, "count_key": key, "count_run": run,
           "count_configured": configured}
    if key and setup_s is not None:
        out["setup_s"] = setup_s
        out["per_count_s"] = per
        out["fit_s_configured"] = setup_s + per * configured
    elif key:
        out["per_count_s"] = fit_s / run
        out["fit_s_configured"] = fit_s / run * configured
    else:
        out["fit_s_configured"] = fit_s
    return out


def _fmt_s(s: float | None) -> str:
    if s is None or not math.isfinite(s):
        return "-"
    if s >= 3600:
        return f"{s / 3600:.1f} h"
    if s >= 60:
        return f"{s / 60:.1f} min"
    return f"{s:.1f} s" if s >= 1 else f"{s:.2f} s"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", nargs="*", default=None, help="default: every registered one")
    ap.add_argument("--rows", type=int, nargs="+", default=[50_000])
    ap.add_argument("--test-rows", type=int, default=700)
    ap.add_argument("--subjects", type=int, default=72)
    ap.add_argument("--epochs", type=int, default=1,
                    help="epochs / iterations actually run by the iterative methods")
    ap.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1, help="BLAS / torch threads per method")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per method and size")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--set", nargs="*", default=[], metavar="METHOD.KEY=VALUE",
                    help="override a method parameter, e.g. pt-svm.solver=pyldl")
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.one:
        if a.threads:
            import torch
            torch.set_num_threads(a.threads)
        res = run_one(a.one, a.rows[0], a.test_rows, a.subjects, a.epochs, a.params, a.device,
                      a.set)
        print("RESULT " + json.dumps(res))
        return 0
    from helo.model.registry import available
    methods = a.methods or available()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": str(a.threads),
           "MKL_NUM_THREADS": str(a.threads), "OPENBLAS_NUM_THREADS": str(a.threads),
           "KERAS_BACKEND": os.environ.get("KERAS_BACKEND", "torch")}
    results = []
    for rows in a.rows:
        for m in methods:
            cmd = [sys.executable, str(Path(__file__).resolve()), "--one", m, "--rows", str(rows),
                   "--test-rows", str(a.test_rows), "--subjects", str(a.subjects), "--epochs",
                   str(a.epochs), "--params", str(a.params), "--device", a.device,
                   "--threads", str(a.threads), "--set", *a.set]
            t0 = time.perf_counter()
            try:
                cp = subprocess.run(cmd, env=env, capture_output=True, text=True,
                                    timeout=a.timeout)
                line = [ln for ln in cp.stdout.splitlines() if ln.startswith("RESULT ")]
                if cp.returncode or not line:
                    tail = (cp.stderr or cp.stdout).strip().splitlines()[-1:] or ["?"]
                    res = {"method": m, "rows": rows, "error": tail[0][:200]}
                else:
                    res = json.loads(line[-1][7:])
            except subprocess.TimeoutExpired:
                res = {"method": m, "rows": rows,
                       "error": f"timeout after {time.perf_counter() - t0:.0f} s"}
            results.append(res)
            print(json.dumps(res), file=sys.stderr, flush=True)
    print(f"\n{len(methods)} methods; train rows {a.rows}, test rows {a.test_rows}, 913 features,"
          f" 10 labels; {a.threads} thread(s), device {a.device}\n")
    print("| method | rows | fit (measured) | per epoch / iteration | fit per fold at configured"
          " | predict | peak MB | KL (mean predictor) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        if "error" in r:
            print(f"| {r['method']} | {r['rows']} | {r['error']} | | | | | |")
            continue
        per = (f"{_fmt_s(r['per_count_s'])} x {r['count_configured']} {r['count_key']}"
               if r.get("count_key") else "-")
        if r.get("setup_s") is not None:
            per += f" + {_fmt_s(r['setup_s'])} set-up"
        print(f"| {r['method']} | {r['rows']} | {_fmt_s(r['fit_s'])} | {per} | "
              f"{_fmt_s(r['fit_s_configured'])} | {_fmt_s(r['predict_s'])} | "
              f"{r['peak_mb']:.0f} | {r['kl']:.3f} ({r['kl_mean_predictor']:.3f}) |")
    if len(a.rows) > 1:
        print("\ngrowth of the fit time with the rows (exponent between the smallest and largest):")
        for m in methods:
            rs = [r for r in results if r["method"] == m and "error" not in r]
            if len(rs) >= 2:
                lo, hi = rs[0], rs[-1]
                k = math.log(hi["fit_s"] / lo["fit_s"]) / math.log(hi["rows"] / lo["rows"])
                print(f"  {m}: {k:.2f}")
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
