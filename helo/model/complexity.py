"""Parameter and FLOP counts of HeLo, for comparison with the paper's Table 5.

``torch.utils.flop_counter.FlopCounterMode`` counts matrix products (``mm``/``bmm``/
``addmm``/attention kernels) as 2 x multiply-accumulates; element-wise work (softmax,
LayerNorm, the Sinkhorn ``logsumexp`` iterations, activations) is not counted. We report
both FLOPs and MACs (= FLOPs / 2) for one sample, since the paper's convention is unknown
(many "FLOPs" tables, e.g. those from ``thop``/``ptflops``, actually report MACs).

``python -m helo.model.complexity`` prints the table at DMER's dimensions.
"""
from __future__ import annotations

import argparse
import json
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from helo.model.base import ModalitySpec

PAPER = {"params": 4.040e6, "flops": 11.656e6}


def dmer_spec() -> ModalitySpec:
    """DMER's feature dimensions: EEG 18 ch x 5 bands, GSR 28, PPG 27, video 768, 10 labels."""
    return ModalitySpec(dims={"eeg": 90, "gsr": 28, "ppg": 27, "video": 768},
                        physiological=["eeg", "gsr", "ppg"], behavioural=["video"],
                        n_labels=10, channels={"eeg": 18})


def count_parameters(module: nn.Module, trainable_only: bool = True) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def count_flops(net: nn.Module, dims: dict[str, int], batch: int = 1) -> dict[str, Any]:
    """Forward FLOPs of ``net`` on a random batch (eval mode); per-sample totals and the
    top-level module breakdown."""
    X = {m: torch.randn(batch, d) for m, d in dims.items()}
    was_training = net.training
    net.eval()
    counter = FlopCounterMode(display=False, depth=4)
    # The eval-mode fast path of nn.TransformerEncoderLayer is one fused kernel that the
    # counter does not see; switch it off while counting (same maths, counted matmuls).
    fast = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with torch.no_grad(), counter:
            net(X)
    finally:
        torch.backends.mha.set_fastpath_enabled(fast)
        net.train(was_training)
    total = counter.get_total_flops() / batch
    counts = {k: sum(v.values()) for k, v in counter.get_flop_counts().items()
              if k.count(".") >= 1}
    # per top-level child: sum the shallowest entries under it (ModuleDicts are never called
    # themselves, so "tok" appears only as tok.eeg, tok.gsr, ...)
    top: dict[str, float] = {}
    groups: dict[str, list[tuple[int, int]]] = {}
    for name, c in counts.items():
        parts = name.split(".")
        groups.setdefault(parts[1], []).append((len(parts), c))
    for g, items in groups.items():
        d0 = min(dep for dep, _ in items)
        top[g] = sum(c for dep, c in items if dep == d0) / batch
    return {"flops": total, "macs": total / 2, "by_module_flops": top}


def report(**net_params) -> dict[str, Any]:
    from helo.model.helo import HeLoNet
    spec = dmer_spec()
    params = dict(d=128, heads=4, ff=64, depth=1)
    params.update(net_params)
    torch.manual_seed(0)
    net = HeLoNet(spec, **params)
    fl = count_flops(net, spec.dims)
    return {"config": params, "params": count_parameters(net), **fl,
            "paper_params": PAPER["params"], "paper_flops": PAPER["flops"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=8)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    r = report(tokens=a.tokens)
    if a.json:
        print(json.dumps(r, indent=2))
        return 0
    print(f"HeLo at DMER dims, config {r['config']} tokens={a.tokens}")
    print(f"  params : {r['params'] / 1e6:8.3f} M   (paper {r['paper_params'] / 1e6:.3f} M)")
    print(f"  FLOPs  : {r['flops'] / 1e6:8.3f} M   (paper {r['paper_flops'] / 1e6:.3f} M)")
    print(f"  MACs   : {r['macs'] / 1e6:8.3f} M")
    for k, v in r["by_module_flops"].items():
        print(f"    {k:12s} {v / 1e6:8.3f} M FLOPs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
