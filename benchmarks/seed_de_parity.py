"""How helo's DE relates to SEED's DE definition, and what LDS smoothing does, on synthetic SEED.

One synthetic SEED session (``helo.synth.seed``: clips 1-3 of 240 s, as long as SEED's clips) is
read through the ``seed`` reader; per 1 s window without overlap (helo's grid with ``step_s`` =
``longest_window_s`` = 1) it computes

* helo's DE (``method: gaussian``: FFT band-pass of the whole clip, ``1/2 ln(2 pi e var)``, nats)
* SEED's DE (``method: spectral`` with ``nfft: 256``: Hann taper, ``log2(100 mean |X_k|^2)``,
  the definition of SEED's feature code and of TorchEEG's ``BandDifferentialEntropyV1``)

and prints per band the least-squares slope and intercept of helo's DE on SEED's, the
correlation of the two over windows within each channel's sequence (each sequence's mean
removed), and how much LDS smoothing (``smooth: lds``, default variances) shrinks the
window-to-window change of helo's DE.

    python benchmarks/seed_de_parity.py                  # seed 0, subject 1, session 1
    python benchmarks/seed_de_parity.py --seconds 12     # the default preset's clip length
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402

import helo  # noqa: E402,F401 - first: pins the CPU kernels
from helo.data import open_reader  # noqa: E402
from helo.features import eeg  # noqa: E402
from helo.features.lds import lds_smooth  # noqa: E402
from helo.features.windows import grid_ends  # noqa: E402
from helo.synth import generate  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--seconds", type=int, default=240, help="length of each of the 3 clips")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        generate("seed", Path(tmp), seed=args.seed, preset="default", progress=False,
                 subjects=[1], sessions=[1], clips=[1, 2, 3], seconds=[args.seconds] * 3)
        sub = open_reader("seed", tmp).read_subject("1")
    helo_de, seed_de, smoothed, filtered = [], [], [], []
    for t in sub.trials:
        sig = t.signals["eeg"]
        ends = grid_ends(sig.duration, 1.0, 1.0)
        base = {"window_s": 1.0, "bands": "paper"}
        g, names = eeg.compute(sig.data, sig.fs, ends, base, channels=sig.channels)
        s, _ = eeg.compute(sig.data, sig.fs, ends, {**base, "method": "spectral", "nfft": 256},
                           channels=sig.channels)
        helo_de.append(g)
        seed_de.append(s)
        smoothed.append(lds_smooth(g, axis=0))
        filtered.append(lds_smooth(g, axis=0, smoother=False))
    bands = list(eeg.PAPER_BANDS)
    print(f"{len(sub.trials)} clips, {sum(len(g) for g in helo_de)} windows, 62 channels")
    print("band   slope  intercept  r(within)  sd of window-to-window change, after/before: "
          "lds  lds-filter")
    for b, band in enumerate(bands):
        cols = slice(b, None, len(bands))
        x = np.concatenate([s[:, cols] for s in seed_de]).ravel()
        y = np.concatenate([g[:, cols] for g in helo_de]).ravel()
        slope, icept = np.polyfit(x, y, 1)
        xc = np.concatenate([(s[:, cols] - s[:, cols].mean(0)) for s in seed_de]).ravel()
        yc = np.concatenate([(g[:, cols] - g[:, cols].mean(0)) for g in helo_de]).ravel()
        r = np.corrcoef(xc, yc)[0, 1]
        before = np.concatenate([np.diff(g[:, cols], axis=0) for g in helo_de]).std()
        after = np.concatenate([np.diff(m[:, cols], axis=0) for m in smoothed]).std()
        after_f = np.concatenate([np.diff(m[:, cols], axis=0) for m in filtered]).std()
        print(f"{band:6s} {slope:6.3f} {icept:9.2f} {r:10.3f}  {after / before:27.4f} "
              f"{after_f / before:11.4f}")
    print(f"slope of nats on log2 units for the same power: 0.5 ln 2 = {0.5 * np.log(2):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
