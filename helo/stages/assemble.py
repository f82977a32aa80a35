"""Stage ``assemble``: the feature store joined into one dataset with label distributions
(:func:`helo.data.assemble.assemble`) under ``data/assembled``. Params: ``features.modalities``,
``assemble.*``, ``data.items`` (the PANAS item set, or an explicit list of label items) and
``data.labels`` (what the label values are: auto | panas | distribution | scores)."""
from __future__ import annotations

from helo.data.assemble import assemble
from helo.stages import params as P
from helo.stages.common import ASSEMBLED, STORE


def run(params: dict) -> dict:
    ds = assemble(STORE, list(P.get(params, "features.modalities")),
                  items=P.get(params, "data.items", "dmer"),
                  physiological=list(P.get(params, "assemble.physiological")),
                  behavioural=list(P.get(params, "assemble.behavioural")),
                  nan_policy=P.get(params, "assemble.nan_policy", "drop"),
                  labels=P.get(params, "data.labels", "auto"), out=ASSEMBLED)
    return {"rows": ds.n, "dims": {m: x.shape[1] for m, x in ds.X.items()}}
