"""Parameters and FLOPs of every deep method at DMER's dimensions (the paper's Table 5).

Each method is built from its parameters in ``params.yaml`` on the DMER feature dimensions
(EEG 90, GSR 28, PPG 27, video 768; 10 labels), fitted for one epoch on 16 random samples so
lazily built networks exist, and counted with ``torch.utils.flop_counter`` on one sample
(matrix products only; see :mod:`helo.model.complexity`).
"""
from __future__ import annotations

import numpy as np

from helo.stages import params as P


def efficiency_table(methods: list[str], params: dict) -> list[dict]:
    import torch

    from helo.model.complexity import PAPER, count_flops, count_parameters, dmer_spec
    from helo.model.registry import make_model

    spec = dmer_spec()
    rng = np.random.default_rng(0)
    X = {m: rng.normal(size=(16, d)).astype(np.float32) for m, d in spec.dims.items()}
    y = rng.dirichlet(np.ones(spec.n_labels), size=16).astype(np.float32)
    rows = []
    for method in methods:
        mp = dict(P.get(params, f"model.{method}") or {})
        mp.pop("modalities", None)
        if mp.get("query") not in spec.dims:
            mp.pop("query", None)
        if "epochs" in mp:
            mp["epochs"] = 1
        mp["device"] = "cpu" if "device" in mp else mp.get("device", "cpu")
        try:
            model = make_model(method, spec, mp)
        except TypeError:
            continue
        if not (hasattr(model, "torch_module") or hasattr(model, "net")):
            continue  # not a neural method
        net = _module(model)
        if net is None:
            try:
                model.fit(X, y, X_target=X if getattr(model, "uses_target", False) else None)
            except Exception:  # noqa: BLE001 - counted as unavailable rather than failing
                continue
            net = _module(model)
        if net is None or not isinstance(net, torch.nn.Module):
            continue
        try:
            fl = count_flops(net, spec.dims)["flops"]
        except Exception:  # noqa: BLE001 - a network whose forward wants other inputs
            fl = float("nan")
        rows.append({"method": method, "params": int(count_parameters(net)), "flops": fl})
    if "helo" in methods:
        # HeLo also at the paper's configuration (d 128, 8 tokens, 4 heads, ff 64, depth 1)
        import yaml

        from helo.stages.params import PRESETS_DIR
        paper = yaml.safe_load((PRESETS_DIR / "paper-dmer.yaml").read_text())["model"]["helo"]
        paper = {k: v for k, v in paper.items() if k not in ("epochs", "query")}
        net = make_model("helo", spec, {**paper, "epochs": 1, "device": "cpu"})
        net.fit(X, y)
        rows.append({"method": "helo (paper configuration)",
                     "params": int(count_parameters(net.net)),
                     "flops": count_flops(net.net, spec.dims)["flops"]})
    if rows:
        rows.append({"method": "HeLo (paper, Table 5)", "params": int(PAPER["params"]),
                     "flops": PAPER["flops"]})
    return rows


def _module(model):
    if hasattr(model, "torch_module"):
        return model.torch_module()
    return getattr(model, "net", None)
