"""Stage ``assemble``: the feature store joined into one dataset with label distributions
(:func:`helo.data.assemble.assemble`) under ``data/assembled``."""
from __future__ import annotations

from helo.data.assemble import assemble
from helo.stages import params as P
from helo.stages.common import ASSEMBLED, STORE


def run(params: dict) -> dict:
    ds = assemble(STORE, list(P.get(params, "features.modalities")),
                  items=P.get(params, "data.items", "dmer"),
                  physiological=list(P.get(params, "assemble.physiological")),
                  behavioural=list(P.get(params, "assemble.behavioural")),
                  nan_policy=P.get(params, "assemble.nan_policy", "drop"), out=ASSEMBLED)
    return {"rows": ds.n, "dims": {m: x.shape[1] for m, x in ds.X.items()}}
