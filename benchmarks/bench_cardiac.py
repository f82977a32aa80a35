"""Cost of the cardiac features on one core: ECG R-peak artifact correction on/off, PPG with and
without the pulse-rate features, and NeuroKit2 beside them.

    OMP_NUM_THREADS=1 python benchmarks/bench_cardiac.py [--seconds 120] [--rounds 5]

Simulated trials (NeuroKit2, fixed seeds): ECG at 700 Hz (WESAD chest), PPG at 100 Hz (DMER
wristband), EDA at 700 Hz, 5 s windows on a 1 s step. The two ways of each pair run alternately,
``--rounds`` times, and the figures are the median of the rounds (the machine is shared and
noisy: the ratio of the two medians is the stable number). "x real time": seconds of recording
per wall second. NeuroKit2 beside helo, two ways:

* per window: a full ``nk.*_process`` on each 5 s window (what docs/benchmarks.md's "naive"
  column is), timed on ``--nk-windows`` windows and counted as one step (1 s) of recording each;
* whole record: ``nk.*_process`` once on the trial, then ``nk.hrv_time`` on each window's peaks
  (ECG/PPG) or a window selection of the SCR peaks (EDA: nothing per window).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import helo  # noqa: E402,F401 - first: the pipeline's pinned CPU kernels (helo/cpu_kernels.py)

# isort: split
import numpy as np  # noqa: E402

from helo.features import ecg, eda, ppg  # noqa: E402
from helo.features.windows import grid_ends  # noqa: E402


def _wall(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def alternate(ways: dict, rounds: int) -> dict:
    """Median wall time of each way, the ways run in turn ``rounds`` times (after one warm-up)."""
    for fn in ways.values():
        fn()
    times = {name: [] for name in ways}
    for _ in range(rounds):
        for name, fn in ways.items():
            times[name].append(_wall(fn))
    return {name: float(np.median(t)) for name, t in times.items()}


def show(label, seconds, n_windows, wall, ref=None):
    ratio = f"  x{wall / ref:5.2f} of the first" if ref else ""
    print(f"  {label:<46s} {wall * 1e3:9.1f} ms  {wall / n_windows * 1e6:8.1f} us/window  "
          f"{seconds / wall:9.0f}x real time{ratio}", flush=True)


def nk_per_window(process, x, fs, ends, n):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for e in ends[:n]:
            process(x[int((e - 5) * fs):int(e * fs)], sampling_rate=fs)


def nk_whole_then_hrv(process, key, x, fs, ends):
    import neurokit2 as nk
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, info = process(x, sampling_rate=fs)
        pk = np.asarray(info[key])
        for e in ends:
            a, b = np.searchsorted(pk, [(e - 5) * fs, e * fs])
            nk.hrv_time(pk[a:b], sampling_rate=fs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=120.0, help="simulated trial length")
    ap.add_argument("--rounds", type=int, default=5, help="alternating rounds")
    ap.add_argument("--nk-windows", type=int, default=10,
                    help="windows timed for NeuroKit2 per window")
    args = ap.parse_args()
    import neurokit2 as nk
    T, R = args.seconds, args.rounds
    ends = grid_ends(T)
    nw = ends.size
    print(f"one core (OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}), {T:g} s trials, "
          f"{nw} windows of 5 s, median of {R} alternating rounds")

    fs = 700
    x = nk.ecg_simulate(duration=int(T), sampling_rate=fs, heart_rate=70, method="simple",
                        random_state=0, noise=0.02)
    print("ECG 73, 700 Hz")
    t = alternate({"off": lambda: ecg.ecg_features(x, fs, ends, correct_artifacts=False),
                   "on": lambda: ecg.ecg_features(x, fs, ends, correct_artifacts=True)}, R)
    show("helo, correct_artifacts off", T, nw, t["off"])
    show("helo, correct_artifacts on (default)", T, nw, t["on"], t["off"])
    t_pk = alternate({"off": lambda: ecg.r_peaks(x, fs, False),
                      "on": lambda: ecg.r_peaks(x, fs, True)}, R)
    show("  of which the trial's R-peaks, correction off", T, nw, t_pk["off"])
    show("  of which the trial's R-peaks, correction on", T, nw, t_pk["on"], t_pk["off"])
    print(f"  -> the correction: {(t_pk['on'] - t_pk['off']) * 1e3:.1f} ms a trial, "
          f"{(t_pk['on'] - t_pk['off']) / nw * 1e6:.1f} us a window")
    k = args.nk_windows
    n = alternate({"w": lambda: nk_per_window(nk.ecg_process, x, fs, ends, k)}, 1)["w"]
    show(f"nk.ecg_process per window ({k} windows)", k, k, n)
    print(f"  -> helo (on) is {(T / t['on']) / (k / n):.0f}x NeuroKit2 per window")
    n = alternate({"w": lambda: nk_whole_then_hrv(nk.ecg_process, "ECG_R_Peaks", x, fs, ends)},
                  1)["w"]
    show("nk.ecg_process whole + hrv_time per window", T, nw, n)
    print(f"  -> helo (on, 73 features) is {n / t['on']:.1f}x NeuroKit2 whole record "
          f"(hrv_time: 25 time-domain indices)")

    fs_p = 100
    p = nk.ppg_simulate(duration=int(T), sampling_rate=fs_p, heart_rate=75, random_state=0)
    print("PPG, 100 Hz")
    t = alternate({"27": lambda: ppg.ppg_features(p, fs_p, ends),
                   "32": lambda: ppg.ppg_features(p, fs_p, ends, cardiac=True)}, R)
    show("helo, the paper's 27", T, nw, t["27"])
    show("helo, 27 + 5 pulse-rate (cardiac)", T, nw, t["32"], t["27"])
    c = t["32"] - t["27"]
    t_pk = alternate({"peaks": lambda: ppg.systolic_peaks(p, fs_p)}, R)
    show("  of which the trial's systolic peaks", T, nw, t_pk["peaks"])
    print(f"  -> the 5 pulse-rate features: {c * 1e3:.1f} ms a trial, "
          f"{c / nw * 1e6:.1f} us a window")
    n = alternate({"w": lambda: nk_whole_then_hrv(nk.ppg_process, "PPG_Peaks", p, fs_p, ends)},
                  1)["w"]
    show("nk.ppg_process whole + hrv_time per window", T, nw, n)

    e = nk.eda_simulate(duration=int(T), sampling_rate=fs, scr_number=int(T // 10),
                        random_state=0)
    print("EDA 4, 700 Hz")
    t = alternate({"helo": lambda: eda.eda_features(e, fs, ends)}, R)
    show("helo", T, nw, t["helo"])
    n = alternate({"w": lambda: nk_per_window(nk.eda_process, e, fs, ends, k)}, 1)["w"]
    show(f"nk.eda_process per window ({k} windows)", k, k, n)
    print(f"  -> helo is {(T / t['helo']) / (k / n):.0f}x NeuroKit2 per window")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        n = alternate({"w": lambda: nk.eda_process(e, sampling_rate=fs)}, 1)["w"]
    show("nk.eda_process whole record", T, nw, n)
    print(f"  -> helo is {n / t['helo']:.1f}x NeuroKit2 whole record")


if __name__ == "__main__":
    main()
