"""Stage ``assemble``: the feature store joined into one dataset with label distributions
(:func:`helo.data.assemble.assemble`) under ``data/assembled``. Params: ``features.modalities``,
``assemble.*``, ``data.items`` (the PANAS item set, or an explicit list of label items) and
``data.labels`` (what the label values are: auto | panas | distribution | scores | circumplex |
gaussian) and ``data.label_smoothing`` (each distribution mixed with the uniform one).

Rows are joined (an inner join) on every modality and the labels, so a subject that lacks one
of them would vanish without a word; the stage therefore names every subject that was
extracted for *some* input (a store file, or a failure recorded in a modality's
``_summary.json``) but is not in the dataset, with the reason (``no eeg features: <why the
extraction failed>``, ``no self-report``, ``every row dropped ...``), in
``data/assembled/excluded.json``, and fails unless partial results are allowed
(``--allow-partial`` / ``orchestrator.allow_partial``)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from helo.data import store as S
from helo.data.assemble import assemble
from helo.io import clean_tmp, write_json
from helo.stages.common import ASSEMBLED, STORE, config_of, require_complete
from helo.stages.ownership import place

if TYPE_CHECKING:
    from helo.stages.schema import Params


def excluded_subjects(store: Path, inputs: list[str], kept: set[str]) -> list[dict]:
    """``[{"subject", "reason"}]`` for every subject some input of ``inputs`` (modalities and
    ``labels``) knows but ``kept`` lacks, sorted by subject."""
    have = {m: set(S.subjects(store, m)) for m in inputs}
    failed: dict[str, dict[str, str]] = {}
    for m in inputs:
        summary = Path(store) / m / "_summary.json"
        if summary.is_file():
            try:
                for f in json.loads(summary.read_text()).get("failed", []):
                    failed.setdefault(m, {})[str(f["subject"])] = str(f["reason"])
            except (ValueError, KeyError, TypeError):
                pass
    known = set().union(*have.values(), *(set(f) for f in failed.values()))
    out = []
    for sid in sorted(known - kept, key=lambda s: (len(s), s)):
        reasons = []
        for m in inputs:
            if sid in have[m]:
                continue
            what = "no self-report" if m == "labels" else f"no {m} features"
            why = failed.get(m, {}).get(sid)
            reasons.append(f"{what} ({why})" if why else
                           f"{what} (not extracted: run `helo extract --modality {m}`)")
        if not reasons:
            reasons.append("every row dropped: NaN features in every window or no usable "
                           "self-report (see assembly.json)")
        out.append({"subject": sid, "reason": "; ".join(reasons)})
    return out


def run(cfg: Params) -> dict:
    cfg = config_of(cfg)
    modalities = list(cfg.features.modalities)
    out = place(ASSEMBLED)
    clean_tmp(out)
    ds = assemble(STORE, modalities, items=cfg.data.items,
                  physiological=list(cfg.assemble.physiological),
                  behavioural=list(cfg.assemble.behavioural),
                  nan_policy=cfg.assemble.nan_policy, labels=cfg.data.labels,
                  label_rule=cfg.data.label_rule.model_dump(),
                  label_smoothing=cfg.data.label_smoothing, out=out)
    kept = set(ds.subject.tolist())
    excluded = excluded_subjects(STORE, modalities + ["labels"], kept)
    write_json(out / "excluded.json", {"subjects": len(kept), "excluded": excluded})
    require_complete("assemble", excluded, cfg, total=len(kept) + len(excluded),
                     where=str(ASSEMBLED / "excluded.json"))
    return {"rows": ds.n, "dims": {m: x.shape[1] for m, x in ds.X.items()},
            "subjects": len(kept), "excluded": excluded}
