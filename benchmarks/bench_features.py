"""Feature throughput on one core: seconds of recording processed per wall second.

    OMP_NUM_THREADS=1 python benchmarks/bench_features.py [--seconds 120] [--no-synth]

Synthetic signals at DMER rates (EEG 18 x 300 Hz, GSR 4 Hz, PPG 100 Hz, 30 fps video on
128 x 128 face crops) and WESAD chest rates (700 Hz), each beside the naive way (LBP-TOP by
per-frame, per-plane scikit-image calls, asserting identical output; a full NeuroKit2
``*_process`` per window, not once on the whole record: that is ``bench_cardiac.py``), the
two taking turns, best of ``--rounds`` each. With the DMER generator present, also the whole
extraction stage with the features' defaults on its default preset (1 subject) and on a
1-subject dmer-scale sample (640 x 480 video), one run each.
EEG DE runs beside LibEER's way (Butterworth ``filtfilt`` per band, re-implemented here) and
the old MNE FIR path on the same 18-channel input, alternating runs, best of ``--rounds``
(``--eeg-only``: just that; ``--seconds`` the trial length).
Targets: every modality >= 100x real time; LBP-TOP >= 10x faster than the naive way; helo's EEG
DE at least 2x as fast as LibEER's way on 60 s and on 600 s trials.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
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

from helo.features import acc as acc_f  # noqa: E402
from helo.features import ecg as ecg_f
from helo.features import eda as eda_f
from helo.features import eeg, face, gsr, lbp_top, ppg, video  # noqa: E402
from helo.features import emg as emg_f
from helo.features.windows import grid_ends  # noqa: E402

ROWS = []


def timed(fn, repeat=1):
    best = np.inf
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def alternate(runs, rounds):
    """Best wall time of each of ``runs`` (name -> callable), the callables run in turn
    ``rounds`` times, so a busy spell of a shared machine hits them alike."""
    best = dict.fromkeys(runs, np.inf)
    for _ in range(rounds):
        for k, fn in runs.items():
            t0 = time.perf_counter()
            fn()
            best[k] = min(best[k], time.perf_counter() - t0)
    return best


def report(name, rec_s, wall_s, naive_rt=None, extra=""):
    rt = rec_s / wall_s
    ROWS.append((name, rt))
    nv = f"   naive {naive_rt:8.1f}x  speed-up {rt / naive_rt:6.1f}x" if naive_rt else ""
    flag = "ok " if rt >= 100 else "LOW"
    print(f"{flag} {name:<34s} {rt:9.1f}x real time{nv} {extra}", flush=True)


def smooth_noise(n, rng, fs, lo=0.5):
    x = np.cumsum(rng.standard_normal(n)) / np.sqrt(fs)
    return x - np.convolve(x, np.ones(int(fs / lo)) / int(fs / lo), mode="same")


def libeer_way_de(x, fs, ends, bands, window_s=1.0):
    """LibEER's DE (``data_utils/preprocess.py`` ``de_extraction``, read as a spec and written
    again here with scipy.signal): per band a 3rd-order Butterworth band-pass in (b, a) form,
    zero-phase ``filtfilt`` over the whole trial, then per window ``1/2 log2(2 pi e var)``
    with ``ddof=1``. ``x`` is ``(n_samples, n_channels)``; returns ``(n_windows, ch * bands)``
    in helo's column order (band fastest)."""
    from scipy import signal
    xt = np.ascontiguousarray(x.T)
    n = int(round(window_s * fs))
    stop = np.round(np.asarray(ends) * fs).astype(np.int64)
    out = np.empty((stop.size, x.shape[1], len(bands)))
    for j, (lo, hi) in enumerate(bands.values()):
        b, a = signal.butter(3, [lo, hi], btype="bandpass", fs=fs)
        y = signal.filtfilt(b, a, xt, axis=1)
        for i, e in enumerate(stop):
            out[i, :, j] = 0.5 * np.log2(2 * np.pi * np.e * np.var(y[:, e - n:e], axis=1, ddof=1))
    return out.reshape(stop.size, -1)


def bench_eeg_vs_libeer(T, rng, rounds=7):
    """helo's DE (FFT band-pass, the default) and LibEER's way on the same 18-channel input,
    alternating runs (best of ``rounds`` each); the ratio > 1 means helo is faster (target:
    2x)."""
    fs = 300.0
    ends = grid_ends(T)
    x = rng.standard_normal((int(T * fs), 18)) * 10
    chans = [f"c{i}" for i in range(18)]
    bands = eeg.PAPER_BANDS
    best = alternate({"helo": lambda: eeg.differential_entropy(x, fs, ends, channels=chans),
                      "libeer": lambda: libeer_way_de(x, fs, ends, bands),
                      "helo-mne": lambda: eeg.differential_entropy(x, fs, ends, channels=chans,
                                                                   filter="mne")}, rounds)
    report("eeg DE gaussian, FFT band-pass (18ch 300Hz)", T, best["helo"])
    report("eeg DE LibEER's way (Butterworth filtfilt)", T, best["libeer"])
    report("eeg DE gaussian, MNE FIR 'auto' (old)", T, best["helo-mne"])
    ratio = best["libeer"] / best["helo"]
    print(f"{'ok ' if ratio >= 2 else 'LOW'} helo / LibEER's way: {ratio:.2f}x as fast "
          f"(helo {best['helo'] * 1e3:.1f} ms, LibEER's way {best['libeer'] * 1e3:.1f} ms, "
          f"MNE FIR {best['helo-mne'] * 1e3:.1f} ms for {T:g} s x 18 channels, best of "
          f"{rounds} alternating)", flush=True)
    return best


def bench_dmer_signals(T, rng, rounds=7):
    ends = grid_ends(T)
    chans = [f"c{i}" for i in range(18)]
    bench_eeg_vs_libeer(T, rng, rounds)
    x = rng.standard_normal((int(T * 300), 18)) * 10
    w, _ = timed(lambda: eeg.differential_entropy(x, 300.0, ends, channels=chans,
                                                  method="spectral", resample=100), rounds)
    report("eeg DE spectral (resample 100)", T, w)
    g = 5 + smooth_noise(int(T * 4), rng, 4)
    w, _ = timed(lambda: gsr.gsr_features(g, 4.0, ends), rounds)
    report("gsr 28 (4 Hz)", T, w)
    t = np.arange(int(T * 100)) / 100
    p = np.sin(2 * np.pi * 1.2 * t) + 0.1 * rng.standard_normal(t.size)
    best = alternate({"27": lambda: ppg.ppg_features(p, 100.0, ends),
                      "32": lambda: ppg.ppg_features(p, 100.0, ends, cardiac=True)}, rounds)
    report("ppg 27 (100 Hz)", T, best["27"])
    report("ppg 27 + 5 pulse-rate (100 Hz; default)", T, best["32"],
           extra=f"(+{(best['32'] - best['27']) * 1e3:.1f} ms for the trial)")


def naive_lbp_top(V, P=8, R=1):
    from skimage.feature import local_binary_pattern as L
    T, H, W = V.shape
    planes = [[L(V[t], P, R)[1:-1, 1:-1] for t in range(1, T - 1)],
              [L(V[::-1, y, :], P, R)[1:-1, 1:-1] for y in range(1, H - 1)],
              [L(V[::-1, :, x], P, R)[1:-1, 1:-1] for x in range(1, W - 1)]]
    out = []
    for codes in planes:
        h = np.bincount(np.concatenate([c.ravel() for c in codes]).astype(np.int64),
                        minlength=1 << P).astype(float)
        out.append(h / h.sum())
    return np.concatenate(out)


def bench_video(rng, n_windows=4, rounds=7):
    import cv2
    kinds = {
        "random": rng.integers(0, 256, (30 * n_windows, 128, 128)).astype(np.uint8),
        "smooth (upscaled)": np.stack([cv2.resize(f, (128, 128), interpolation=cv2.INTER_LINEAR)
                                       for f in rng.integers(0, 256, (30 * n_windows, 24, 24))
                                       .astype(np.uint8)]),
    }
    for name, frames in kinds.items():
        ends = 1.0 + np.arange(n_windows)
        lbp_top.lbp_top(frames[:30], engine="jit")  # compile (or load the cached kernel) first
        for engine in ("jit", "numpy"):
            X, _ = video.video_features(frames, 30.0, ends, 1.0, engine=engine)
            same = all(np.array_equal(X[k], naive_lbp_top(frames[30 * k:30 * (k + 1)]))
                       for k in range(2))
            assert same, f"LBP-TOP ({engine}) differs from per-frame scikit-image"
        # naive: one 1 s window; the engines: n_windows windows; in turns, best of rounds
        best = alternate({
            "naive": lambda: naive_lbp_top(frames[:30]),
            "jit": lambda: video.video_features(frames, 30.0, ends, 1.0, engine="jit"),
            "numpy": lambda: video.video_features(frames, 30.0, ends, 1.0, engine="numpy"),
            "up": lambda: video.video_features(frames, 30.0, ends, 1.0, ties="up",
                                               engine="numpy")}, rounds)
        for engine in ("jit", "numpy"):
            report(f"video LBP-TOP 128x128 {name} engine={engine}", n_windows, best[engine],
                   naive_rt=1.0 / best["naive"], extra="(identical to naive: yes)")
        report(f"video LBP-TOP {name} numpy ties=up", n_windows, best["up"],
               naive_rt=1.0 / best["naive"])
    # face detection on 640 x 480 frames
    frames = np.full((60, 480, 640), 90, np.uint8)
    for i in range(60):
        cv2.ellipse(frames[i], (320 + i % 7, 240), (90, 120), 0, 0, 360, 200, -1)
    for name in ("haar", "mtcnn"):  # features.video.detector (defaults: haar 160, mtcnn 320)
        det = face.make_detector({"detector": name})
        for k in (1, 10, 30):
            w, _ = timed(lambda: face.crop_faces(frames, 128, detect_every=k, detector=det))
            report(f"face crop 640x480 {name} detect_every={k}", 2.0, w)


def bench_wesad(T, rng, rounds=7):
    """ECG, EDA and EMG beside a full NeuroKit2 ``*_process`` on each of the first 10 windows
    (5 s; the naive way), in turns, best of ``rounds``; EMG also beside ``nk.emg_process`` run
    once on the whole trial. ECG and EDA beside NeuroKit2 once on the whole record:
    ``bench_cardiac.py``."""
    import neurokit2 as nk
    fs = 700
    ends = grid_ends(T)
    nwin = 10

    def per_window(process, x):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return [process(x[int((e - 5) * fs):int(e * fs)], fs) for e in ends[:nwin]]

    ecg = nk.ecg_simulate(duration=int(T), sampling_rate=fs, heart_rate=70, method="simple",
                          random_state=0, noise=0.02)
    best = alternate({"helo": lambda: ecg_f.ecg_features(ecg, fs, ends),
                      "naive": lambda: per_window(nk.ecg_process, ecg)}, rounds)
    report("ecg 73 (700 Hz)", T, best["helo"], naive_rt=nwin / best["naive"],
           extra="(naive: nk.ecg_process/window)")
    eda = nk.eda_simulate(duration=int(T), sampling_rate=fs, scr_number=int(T // 10),
                          random_state=0)
    best = alternate({"helo": lambda: eda_f.eda_features(eda, fs, ends),
                      "naive": lambda: per_window(nk.eda_process, eda)}, rounds)
    report("eda 4 (700 Hz)", T, best["helo"], naive_rt=nwin / best["naive"],
           extra="(naive: nk.eda_process/window)")
    emg = nk.emg_simulate(duration=int(T), sampling_rate=fs, burst_number=int(T // 10),
                          random_state=0)

    def emg_whole():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return nk.emg_process(emg, fs)

    best = alternate({"helo": lambda: emg_f.emg_features(emg, fs, ends),
                      "naive": lambda: per_window(nk.emg_process, emg),
                      "whole": emg_whole}, rounds)
    report("emg 14 (700 Hz)", T, best["helo"], naive_rt=nwin / best["naive"],
           extra=f"(naive: nk.emg_process/window; nk.emg_process once on the whole trial: "
                 f"{T / best['whole']:.0f}x real time)")
    acc = rng.standard_normal((int(T * fs), 3))
    w, _ = timed(lambda: acc_f.acc_features(acc, fs, ends), rounds)
    report("acc 12 (700 Hz x 3)", T, w)


def bench_synth(preset, overrides, label):
    try:
        from helo.synth.dmer import generate_dmer
    except ImportError:
        print(f"--- {label}: DMER generator not available, skipped")
        return
    from helo.data import open_reader
    from helo.stages.extract import extract_subject
    d = Path(tempfile.mkdtemp(prefix="helo-bench-"))
    t0 = time.perf_counter()
    generate_dmer(d / "raw", layout="aligned", seed=0, preset=preset, progress=False,
                  **overrides)
    print(f"--- {label}: generated in {time.perf_counter() - t0:.1f} s", flush=True)
    reader = open_reader("dmer-aligned", d / "raw")
    sid = reader.subjects()[0]
    subj = reader.read_subject(sid, ["eeg"])
    rec = sum(t.signals["eeg"].duration for t in subj.trials)
    # the features' defaults: PPG with its 5 pulse-rate features, video with MTCNN at 320 px
    # tracking the face between full searches (redetect_every 10)
    for m, params, tag in (("eeg", {}, ""), ("gsr", {}, ""), ("ppg", {"cardiac": True}, ""),
                           ("video", {}, ""),
                           ("video", {"detect_every": 10}, " (detect_every=10)")):
        w, st = timed(lambda: extract_subject("dmer-aligned", d / "raw", sid, m, d / "store",
                                              params, force=True))
        report(f"{label} stage {m}{tag}", rec, w,
               extra=f"({rec:.0f} s recorded, incl. reading"
                     f"{', decoding, face detection' if m == 'video' else ''}; "
                     f"{st.get('n_fallback', 0)} fallback frames)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=120.0, help="synthetic trial length")
    ap.add_argument("--no-synth", action="store_true", help="skip the DMER generator runs")
    ap.add_argument("--eeg-only", action="store_true",
                    help="only helo's EEG DE beside LibEER's way")
    ap.add_argument("--rounds", type=int, default=7,
                    help="runs of each timing, the ways compared taking turns (the best of "
                         "each counts)")
    ap.add_argument("--scale-trials", type=int, default=4,
                    help="trials of the 1-subject dmer-scale sample")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    print(f"one core (OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}); "
          f"x = seconds of recording per wall second")
    if args.eeg_only:
        bench_eeg_vs_libeer(args.seconds, rng, args.rounds)
        return
    bench_dmer_signals(args.seconds, rng, args.rounds)
    bench_video(rng, rounds=args.rounds)
    bench_wesad(args.seconds, rng, args.rounds)
    if not args.no_synth:
        bench_synth("default", {"n_subjects": 1}, "synth default")
        bench_synth("dmer-scale", {"n_subjects": 1, "n_trials": args.scale_trials},
                    "synth dmer-scale")
    low = [n for n, rt in ROWS if rt < 100]
    print("below 100x real time:", ", ".join(low) if low else "none")


if __name__ == "__main__":
    main()
