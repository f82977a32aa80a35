"""Settings per protocol: ``model.<method>.by_protocol.<protocol>`` checked by the schema, laid
over the shared settings, turned into the files DVC's evaluate stages depend on (so one
protocol's settings re-run that protocol only), and the report's account of where each cell's
settings come from."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from helo.stages.schema import ParamsError, validate

BASE = {"evaluate": {"protocols": ["subject-dependent", "trial-held-out", "loso"],
                     "methods": ["mean", "aa-knn", "helo"]},
        "model": {"mean": {}, "aa-knn": {"k": 5},
                  "helo": {"lr": 0.001, "epochs": 3,
                           "by_protocol": {"loso": {"lr": 0.0005, "dropout": 0.2}}}}}


def _params(**model):
    p = json.loads(json.dumps(BASE))
    p["model"].update(model)
    return p


def test_protocol_block_is_laid_over_the_shared_settings():
    cfg = validate(_params())
    assert cfg.method_options("helo") == {"lr": 0.001, "epochs": 3}
    assert cfg.method_options("helo", "loso") == {"lr": 0.0005, "epochs": 3, "dropout": 0.2}
    assert cfg.method_options("helo", "trial-held-out") == {"lr": 0.001, "epochs": 3}
    assert cfg.protocol_options("helo", "loso") == {"lr": 0.0005, "dropout": 0.2}
    assert cfg.protocol_options("aa-knn", "loso") == {}


@pytest.mark.parametrize("block, message", [
    ({"leave-one-out": {"lr": 0.1}}, "model.helo.by_protocol.leave-one-out: unknown protocol"),
    ({"loso": {"lr": -1.0}}, "model.helo.by_protocol.loso.lr: Input should be greater than 0"),
    ({"loso": {"learning_rate": 0.1}},
     "model.helo.by_protocol.loso.learning_rate: unknown option of helo"),
    ({"loso": {"modalities": ["eeg"]}},
     "model.helo.by_protocol.loso.modalities: a protocol block cannot change the modalities"),
    ({"loso": [1, 2]}, "model.helo.by_protocol.loso: a mapping of options expected"),
    ([1], "model.helo.by_protocol: a mapping of protocol -> options expected"),
])
def test_bad_protocol_blocks_are_named(block, message):
    with pytest.raises(ParamsError) as err:
        validate(_params(helo={"lr": 0.001, "by_protocol": block}))
    assert any(p.startswith(message) for p in err.value.problems), err.value.problems


def test_method_params_files_change_only_for_the_changed_protocol(tmp_path, monkeypatch):
    """one file per (protocol, method); a protocol block changes that protocol's file only, a
    shared setting every protocol's file of that method, nothing else's bytes"""
    from helo.stages import method_params as MP
    monkeypatch.chdir(tmp_path)
    params = _params()
    MP.run(params)
    folder = tmp_path / "data" / "params" / "methods"

    def files():
        return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.glob("*/*")}

    first = files()
    assert len(first) == 9
    assert json.loads(first["loso/helo.json"]) == {"dropout": 0.2, "epochs": 3, "lr": 0.0005}
    assert json.loads(first["subject-dependent/helo.json"]) == {"epochs": 3, "lr": 0.001}
    params["model"]["aa-knn"]["by_protocol"] = {"trial-held-out": {"k": 9}}
    MP.run(params)
    second = files()
    assert [k for k in first if first[k] != second[k]] == ["trial-held-out/aa-knn.json"]
    params["model"]["helo"]["epochs"] = 4
    MP.run(params)
    third = files()
    assert sorted(k for k in first if second[k] != third[k]) == [
        "loso/helo.json", "subject-dependent/helo.json", "trial-held-out/helo.json"]
    params["evaluate"]["methods"] = ["mean"]  # helo stays: fit-final trains it
    MP.run(params)
    assert sorted(files()) == [f"{p}/{m}.json" for p in ("loso", "subject-dependent",
                                                          "trial-held-out")
                               for m in ("helo", "mean")]


def test_dvc_evaluate_stages_depend_on_their_settings_file():
    import yaml
    root = Path(__file__).resolve().parents[2]
    stages = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]
    deps = stages["evaluate"]["deps"]
    assert "data/params/methods/${item.protocol}/${item.method}.json" in deps
    assert not any(str(p).startswith("model") for p in stages["evaluate"]["params"])
    assert "data/params/methods/loso/helo.json" in stages["fit-final"]["deps"]
    assert stages["method-params"]["outs"] == ["data/params/methods"]


def _record(root: Path, protocol: str, method: str, settings: dict, improves=True):
    out = root / protocol / method
    out.mkdir(parents=True)
    (out / "best.json").write_text(json.dumps({
        "method": method, "protocol": protocol, "space": sorted(settings) if settings else [],
        "settings": settings, "improves_on_baseline": improves, "trials_complete": 10,
        "written": True}))


def test_settings_source_of_each_cell(tmp_path):
    """tuned here only when the record holds the values the cell runs with; another
    protocol's matching record, a block nobody's search wrote, untuned, nothing to tune"""
    from helo.stages.provenance import settings_markdown, settings_table
    params = _params(**{"aa-knn": {"k": 5, "by_protocol": {"subject-dependent": {"k": 7},
                                                            "trial-held-out": {"k": 3}}}})
    params["report"] = {"settings_notes": {"helo": "the paper's settings"}}
    params["model"]["helo"] = {"lr": 0.001, "dropout": 0.1,
                               "by_protocol": {"loso": {"lr": 0.0005, "dropout": 0.2}}}
    cfg = validate(params)
    root = tmp_path / "tune"
    _record(root, "subject-dependent", "aa-knn", {"k": 7})
    _record(root, "loso", "aa-knn", {"k": 5}, improves=False)  # the shared k won
    _record(root, "loso", "helo", {"lr": 0.0005, "dropout": 0.25})  # stale: dropout differs
    _record(root, "subject-dependent", "mean", {})
    protocols = list(BASE["evaluate"]["protocols"])
    rows = settings_table(cfg, protocols, ["mean", "aa-knn", "helo"], root)
    got = {(r["protocol"], r["method"]): r["source"] for r in rows}
    assert got == {
        ("subject-dependent", "mean"): "nothing to tune",
        ("trial-held-out", "mean"): "nothing to tune", ("loso", "mean"): "nothing to tune",
        ("subject-dependent", "aa-knn"): "tuned here",
        ("trial-held-out", "aa-knn"): "set by hand",
        ("loso", "aa-knn"): "tuned here",
        ("subject-dependent", "helo"): "not tuned", ("trial-held-out", "helo"): "not tuned",
        ("loso", "helo"): "set by hand"}
    detail = {(r["protocol"], r["method"]): r["detail"] for r in rows}
    assert "the settings before the search won" in detail[("loso", "aa-knn")]
    assert detail[("subject-dependent", "helo")] == "the paper's settings"
    # a protocol without its own record, whose values another protocol's search chose
    params["model"]["aa-knn"]["by_protocol"]["trial-held-out"] = {"k": 7}
    rows = settings_table(validate(params), protocols, ["aa-knn"], root)
    assert rows[1]["source"] == "tuned under another protocol"
    assert rows[1]["detail"] == "tuned under subject-dependent (10 trials)"
    md = settings_markdown(rows, protocols, ["aa-knn"])
    assert "| aa-knn | tuned here (10 trials) | tuned under subject-dependent (10 trials) | " \
           "tuned here (10 trials) |" in md
    assert "subject-dependent 1 of 1, trial-held-out 0 of 1, loso 1 of 1" in md


def test_a_record_made_on_other_data_is_not_tuned_here(tmp_path):
    from helo.stages.provenance import settings_table
    params = _params(**{"aa-knn": {"k": 5, "by_protocol": {"loso": {"k": 7}}}})
    root = tmp_path / "tune"
    _record(root, "loso", "aa-knn", {"k": 7})
    rec = root / "loso" / "aa-knn" / "best.json"
    rec.write_text(json.dumps({**json.loads(rec.read_text()), "dataset": "aaaa"}))
    cfg = validate(params)
    same = settings_table(cfg, ["loso"], ["aa-knn"], root, fingerprint="aaaa")
    other = settings_table(cfg, ["loso"], ["aa-knn"], root, fingerprint="bbbb")
    assert same[0]["source"] == "tuned here"
    assert other[0]["source"] == "tuned on other data" and "aaaa" in other[0]["detail"]


def test_a_preset_replaces_protocol_blocks_whole(tmp_path):
    """a preset's by_protocol replaces the file's (never a mix of two searches' keys); null
    clears it; the file's comments stay"""
    from helo.stages.params import merge, merge_text
    text = ("model:\n  aa-knn:   # neighbours\n    k: 5\n    by_protocol:\n"
            "      loso: {k: 3, pca: 8}\n  helo: {lr: 0.1, by_protocol: {loso: {lr: 0.2}}}\n")
    import yaml
    over = {"model": {"aa-knn": {"by_protocol": {"loso": {"k": 9}}},
                      "helo": {"by_protocol": None}}}
    got = yaml.safe_load(merge_text(text, over))
    assert got["model"]["aa-knn"] == {"k": 5, "by_protocol": {"loso": {"k": 9}}}
    assert got["model"]["helo"] == {"lr": 0.1, "by_protocol": None}
    assert merge(yaml.safe_load(text), over) == got
    assert "# neighbours" in merge_text(text, over)
    assert validate({"model": got["model"]}).method_options("helo", "loso") == {"lr": 0.1}


def test_a_search_the_learner_defaults_won_is_tuned_here(tmp_path):
    """the searched keys unset before and after (the learner's defaults won, nothing written):
    still tuned here; a block that sets one of them by hand is not"""
    from helo.stages.provenance import settings_table
    root = tmp_path / "tune"
    out = root / "loso" / "aa-knn"
    out.mkdir(parents=True)
    (out / "best.json").write_text(json.dumps({
        "method": "aa-knn", "protocol": "loso", "space": ["k", "pca"], "settings": {},
        "improves_on_baseline": False, "trials_complete": 6, "written": False}))
    cfg = validate(_params(**{"aa-knn": {}}))
    assert settings_table(cfg, ["loso"], ["aa-knn"], root)[0]["source"] == "tuned here"
    cfg = validate(_params(**{"aa-knn": {"by_protocol": {"loso": {"k": 3}}}}))
    assert settings_table(cfg, ["loso"], ["aa-knn"], root)[0]["source"] == "set by hand"
