"""Training throughput of HeLo at DMER scale, and the projected cost of the paper's protocol.

Synthetic random tensors with DMER's dimensions (EEG 90, GSR 28, PPG 27, video 768, 10
labels): 73 subjects x 32 trials x ~22 windows ~ 51.4k windows; one LOSO fold trains on 72/73
of them. Measures training samples/s (forward + backward + Adam step, the same loss as
``HeLoLearner``: KL + CC) after a warm-up, then projects the time of one fold and of 73 folds
at ``--paper-epochs`` (300).

    python benchmarks/bench_train.py --device cpu --epochs 2 --max-batches 40
    python benchmarks/bench_train.py --device cuda --epochs 3

``--max-batches`` caps the batches timed per epoch (for slow devices); the per-epoch time is
then extrapolated from the measured per-sample rate.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from helo.model.complexity import dmer_spec  # noqa: E402
from helo.model.helo import HeLoNet, kl_loss  # noqa: E402
from helo.model.lcdca import cc_loss  # noqa: E402
from helo.model.train import batches, deterministic, select_device  # noqa: E402

SUBJECTS, TRIALS, WINDOWS = 73, 32, 22


def sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--epochs", type=int, default=2, help="epochs to time")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--max-batches", type=int, default=None,
                    help="time at most this many batches per epoch")
    ap.add_argument("--paper-epochs", type=int, default=300)
    ap.add_argument("--folds", type=int, default=SUBJECTS)
    ap.add_argument("--tokens", type=int, default=8)
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    ap.add_argument("--no-deterministic", action="store_true")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    a = ap.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    dev = select_device(a.device)
    spec = dmer_spec()
    n_total = SUBJECTS * TRIALS * WINDOWS
    n_train = round(n_total * (SUBJECTS - 1) / SUBJECTS)
    torch.manual_seed(0)
    X = {m: torch.randn(n_train, d, device=dev) for m, d in spec.dims.items()}
    y = torch.softmax(torch.randn(n_train, spec.n_labels, device=dev), dim=1)
    net = HeLoNet(spec, tokens=a.tokens).to(dev).train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)

    def step(idx):
        idx = idx.to(dev)
        _, aux = net({m: v[idx] for m, v in X.items()})
        loss = kl_loss(aux["log_prob"], y[idx]) + cc_loss(aux["M_L"], y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    rates, epoch_times = [], []
    with deterministic(not a.no_deterministic):
        for i, idx in enumerate(batches(n_train, a.batch, gen)):  # warm-up
            step(idx)
            if i == 4:
                break
        sync(dev)
        for _ in range(a.epochs):
            seen, t0 = 0, time.perf_counter()
            for i, idx in enumerate(batches(n_train, a.batch, gen)):
                if a.max_batches is not None and i >= a.max_batches:
                    break
                step(idx)
                seen += len(idx)
            sync(dev)
            dt = time.perf_counter() - t0
            rates.append(seen / dt)
            epoch_times.append(n_train / rates[-1])
    rate = sorted(rates)[len(rates) // 2]
    epoch_s = n_train / rate
    fold_s = epoch_s * a.paper_epochs
    res = {
        "device": str(dev), "device_name": (torch.cuda.get_device_name(dev)
                                            if dev.type == "cuda" else platform.processor()
                                            or platform.machine()),
        "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
        "n_total_windows": n_total, "n_train_per_fold": n_train, "batch": a.batch,
        "epochs_timed": a.epochs, "max_batches": a.max_batches,
        "params": sum(p.numel() for p in net.parameters()),
        "train_samples_per_s": rate, "epoch_s": epoch_s,
        "fold_s_at_paper_epochs": fold_s, "paper_epochs": a.paper_epochs,
        "all_folds_h": fold_s * a.folds / 3600, "folds": a.folds,
        "per_epoch_rates": rates,
    }
    print(f"device {res['device']} ({res['device_name']}), threads {res['torch_threads']}, "
          f"params {res['params'] / 1e6:.2f} M, batch {a.batch}")
    print(f"train fold: {n_train} windows (of {n_total}); throughput "
          f"{rate:,.0f} samples/s; epoch {epoch_s:,.1f} s")
    print(f"projected: one fold x {a.paper_epochs} epochs = {fold_s / 3600:,.2f} h; "
          f"{a.folds} LOSO folds = {res['all_folds_h']:,.1f} h "
          f"({res['all_folds_h'] / 24:,.2f} days)")
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(res, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
