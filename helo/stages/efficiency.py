"""Parameters and FLOPs of every deep method at DMER's dimensions (the paper's Table 5).

Each method's network is built, untrained, from its parameters in ``params.yaml`` on the DMER
feature dimensions (EEG 90, GSR 28, PPG 27, video 768; 10 labels) and counted with
``torch.utils.flop_counter`` on one sample (matrix products only; see
:mod:`helo.model.complexity`). Nothing is trained. Methods without a network that can be built
before training (the PyLDL learners, whose Keras models exist only once fitted) are left out.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from helo.stages.common import config_of

if TYPE_CHECKING:
    from helo.stages.schema import Params


def efficiency_table(methods: list[str], cfg: Params) -> list[dict]:
    import torch

    from helo.model.complexity import PAPER, count_flops, count_parameters, dmer_spec
    from helo.model.registry import make_model

    cfg = config_of(cfg)
    spec = dmer_spec()
    rows = []
    for method in methods:
        mp = cfg.method_options(method)
        mp.pop("modalities", None)
        if mp.get("query") not in spec.dims:
            mp.pop("query", None)
        mp["device"] = "cpu"
        try:
            net = _network(make_model(method, spec, mp))
        except TypeError:
            continue
        if net is None or not isinstance(net, torch.nn.Module):
            continue  # not a neural method, or no network before training
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
        paper = {k: v for k, v in paper.items() if k not in ("epochs", "query", "by_protocol")}
        net = make_model("helo", spec, {**paper, "device": "cpu"}).build()
        rows.append({"method": "helo (paper configuration)",
                     "params": int(count_parameters(net)),
                     "flops": count_flops(net, spec.dims)["flops"]})
    if rows:
        rows.append({"method": "HeLo (paper, Table 5)", "params": int(PAPER["params"]),
                     "flops": PAPER["flops"]})
    return rows


def _network(model):
    """The untrained network of a neural learner (None for the others)."""
    if hasattr(model, "build"):
        return model.build()
    if hasattr(model, "torch_module"):
        return model.torch_module()
    return None
