"""Stage ``method-params``: each method's settings under each protocol as one small JSON file,
``data/params/methods/<protocol>/<method>.json``, which ``evaluate@<protocol>-<method>`` (and
``fit-final``, for ``loso/helo``) depends on.

Why a stage: a method's settings under a protocol are ``model.<method>`` with its
``by_protocol.<protocol>`` block laid over them (:meth:`helo.stages.schema.Params.method_options`).
A DVC params dependency on ``model.<method>`` would re-run the method under every protocol when
one protocol's block changes, and one on ``model.<method>.by_protocol.<protocol>`` fails
("Parameters ... are missing from params.yaml") when the block does not exist -- and most
methods need none. This stage depends on the whole ``model`` group and writes, per protocol
and per method of ``evaluate.methods`` (and HeLo, which ``fit-final`` trains), exactly the
options the learner receives, keys sorted. DVC compares the files by content: ``helo tune
--protocol loso --method carat`` changes ``loso/carat.json`` only, so only
``evaluate@loso-carat`` re-runs; a shared setting re-runs that method under every protocol.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING

from helo.evaluation.splits import PROTOCOLS
from helo.io import write_text
from helo.stages.common import METHOD_PARAMS, config_of
from helo.stages.ownership import place

if TYPE_CHECKING:
    from helo.stages.schema import Params


def params_text(cfg: Params, method: str, protocol: str) -> str:
    """The file's text for ``method`` under ``protocol`` (sorted keys: equal settings, equal
    bytes)."""
    options = config_of(cfg).method_options(method, protocol)
    return json.dumps(options, indent=2, sort_keys=True, default=str) + "\n"


def run(cfg: Params) -> dict:
    cfg = config_of(cfg)
    methods = list(dict.fromkeys([*cfg.evaluate.methods, "helo"]))
    out = place(METHOD_PARAMS)
    out.mkdir(parents=True, exist_ok=True)
    wanted = {(p, m) for p in PROTOCOLS for m in methods}
    for old in out.glob("*/*.json"):
        if (old.parent.name, old.stem) not in wanted:
            old.unlink()
    for protocol in PROTOCOLS:
        (out / protocol).mkdir(exist_ok=True)
        for method in methods:
            write_text(out / protocol / f"{method}.json", params_text(cfg, method, protocol))
    return {"protocols": list(PROTOCOLS), "methods": methods, "folder": str(METHOD_PARAMS)}
