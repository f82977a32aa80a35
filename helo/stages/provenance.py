"""Which settings produced each cell of the comparison: tuned under the protocol it is
evaluated with, tuned under another one, or not tuned here.

A method's settings under a protocol are ``model.<method>`` with its ``by_protocol.<protocol>``
block laid over them (:meth:`helo.stages.schema.Params.method_options`); ``helo tune`` writes
that block and a record, ``outputs/tune/<protocol>/<method>/best.json``, holding the settings it
left the protocol with. The source of a cell is read from both, checking values rather than
trusting that a record exists:

* ``tuned here``: the record of this (protocol, method) holds exactly the settings the cell was
  evaluated with (its searched keys); whether the best trial or the settings before the search
  won is said in the detail;
* ``tuned under <other>``: no record of this protocol matches, but one of another protocol does
  (settings chosen on another split, such as the leaky subject-dependent one, reused here);
* ``tuned on other data``: a matching record made on another assembled data set (its
  :func:`helo.data.assemble.fingerprint` differs: settings a preset carried over from
  another data set, or data that changed since the search);
* ``set by hand``: a ``by_protocol`` block no record matches;
* ``not tuned``: none of the above; the shared ``model.<method>`` settings as given, described by
  ``report.settings_notes.<method>`` when a preset says where they come from (the paper
  presets: the authors' settings);
* ``nothing to tune``: a method without hyper-parameters (the mean predictor).
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from helo.stages.schema import Params

#: the sources, in the order the report explains them
SOURCES = ("tuned here", "tuned under another protocol", "tuned on other data", "set by hand",
           "not tuned", "nothing to tune")


def _same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        try:
            return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
        except (TypeError, ValueError):
            return False
    return a == b


def _record(tune_root: Path, protocol: str, method: str) -> dict | None:
    path = Path(tune_root) / protocol / method / "best.json"
    try:
        return json.loads(path.read_text()) if path.is_file() else None
    except (OSError, ValueError):
        return None


def _matches(record: dict | None, options: dict) -> bool:
    """Whether ``record`` left a method with the searched values ``options`` has."""
    if not record or not record.get("space"):
        return False
    settings = record.get("settings")
    if settings is None:  # a record from before per-protocol settings: what it left
        best = (record.get("best") or {}).get("params") or {}
        before = (record.get("baseline") or {}).get("params") or {}
        settings = best if record.get("written") else (
            before if not record.get("improves_on_baseline") else {})
    if record.get("settings") is None and not settings:
        return False

    def same(k):  # a key neither gives is the learner's default on both sides
        if k not in settings or k not in options:
            return k not in settings and k not in options
        return _same(settings[k], options[k])

    return all(same(k) for k in record["space"])


def _other_data(record: dict | None, fingerprint: str | None) -> bool:
    made_on = (record or {}).get("dataset")
    return bool(fingerprint and made_on and made_on != fingerprint)


def settings_source(cfg: Params, protocol: str, method: str, tune_root: Path,
                    protocols: list[str], fingerprint: str | None = None) -> dict:
    """``{"source", "detail", "trials"}`` for ``method`` under ``protocol`` (see the module
    doc); ``protocols``: the others to look in, in order; ``fingerprint``: the assembled data
    set's (None: not checked)."""
    options = cfg.method_options(method, protocol)
    here = _record(tune_root, protocol, method)
    if (here is not None and not here.get("space")) or method == "mean":
        return {"source": "nothing to tune", "detail": "no hyper-parameters", "trials": 0}
    if _matches(here, options) and _other_data(here, fingerprint):
        return {"source": "tuned on other data", "trials": here.get("trials_complete"),
                "detail": f"helo tune on another data set ({here.get('dataset')})"}
    if _matches(here, options):
        won = ("best trial" if here.get("improves_on_baseline")
               else "the settings before the search won")
        return {"source": "tuned here", "trials": here.get("trials_complete"),
                "detail": f"helo tune, {here.get('trials_complete')} trials ({won})"}
    for other in protocols:
        rec = _record(tune_root, other, method) if other != protocol else None
        if _matches(rec, options) and not _other_data(rec, fingerprint):
            return {"source": "tuned under another protocol",
                    "detail": f"tuned under {other} ({rec.get('trials_complete')} trials)",
                    "trials": rec.get("trials_complete")}
    if cfg.protocol_options(method, protocol):
        return {"source": "set by hand", "trials": None,
                "detail": f"model.{method}.by_protocol.{protocol}, no matching helo tune record"}
    note = cfg.report.settings_notes.get(method)
    return {"source": "not tuned", "trials": None,
            "detail": note or f"model.{method} as given"}


def settings_table(cfg: Params, protocols: list[str], methods: list[str],
                   tune_root: Path, fingerprint: str | None = None) -> list[dict]:
    """One row per (protocol, method): ``protocol``, ``method``, ``source``, ``detail``,
    ``trials``."""
    rows = []
    for p in protocols:
        for m in methods:
            rows.append({"protocol": p, "method": m, **settings_source(
                cfg, p, m, tune_root, list(protocols), fingerprint)})
    return rows


def settings_markdown(rows: list[dict], protocols: list[str], methods: list[str]) -> str:
    """The comparison's settings section: methods x protocols, each cell its source."""
    cell = {(r["protocol"], r["method"]): r for r in rows}
    short = {"tuned here": "tuned here", "nothing to tune": "–", "not tuned": "not tuned",
             "set by hand": "by hand", "tuned on other data": "tuned on other data"}
    lines = ["\n## Settings behind each cell\n",
             "Where each method's hyper-parameters under each protocol come from: **tuned "
             "here** (`helo tune` searched them inside this protocol's own training folds), "
             "tuned under another protocol (chosen on another split and reused), tuned on "
             "other data (a search on another data set), by hand "
             "(`model.<method>.by_protocol.<protocol>` without a matching search record), or not "
             "tuned (`model.<method>` as given). The tables above are unchanged by this; read "
             "a method's rank next to its source.\n",
             "| method | " + " | ".join(protocols) + " |",
             "|---|" + "---|" * len(protocols)]
    notes = {}
    for m in methods:
        cells = []
        for p in protocols:
            r = cell[(p, m)]
            text = short.get(r["source"]) or r["detail"]
            if r["source"] == "not tuned" and r["detail"] != f"model.{m} as given":
                notes[m] = r["detail"]
            if r["source"] == "tuned here" and r.get("trials"):
                text += f" ({r['trials']} trials)"
            cells.append(text)
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    counts = {p: sum(cell[(p, m)]["source"] == "tuned here" for m in methods) for p in protocols}
    tunable = {p: sum(cell[(p, m)]["source"] != "nothing to tune" for m in methods)
               for p in protocols}
    lines.append("")
    lines.append("Tuned under the protocol they are evaluated with: " + ", ".join(
        f"{p} {counts[p]} of {tunable[p]}" for p in protocols) + ".")
    lines += [f"- {m}, not tuned: {text}" for m, text in notes.items()]
    return "\n".join(lines) + "\n"
