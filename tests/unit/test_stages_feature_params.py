"""The feature-params stage: per-modality extraction params as files DVC's extract stages
depend on (so a modality without a features.<modality> group needs none)."""


def test_feature_params_files_change_only_for_the_changed_modality(tmp_path, monkeypatch):
    """the feature-params stage: one file per listed modality, byte-identical unless that
    modality's own params (or features.common) change; modalities without a group get the
    common params"""
    from helo.stages import feature_params as FP
    monkeypatch.chdir(tmp_path)
    params = {"data": {"layout": "generic"},  # hrv: a generic table's own modality
              "features": {"modalities": ["eeg", "hrv"], "common": {"step_s": 1.0},
                           "eeg": {"window_s": 1.0}}}
    FP.run(params)
    folder = tmp_path / "data" / "params" / "features"
    first = {p.name: p.read_bytes() for p in folder.glob("*.json")}
    assert set(first) == {"eeg.json", "hrv.json"}
    assert first["hrv.json"] == b'{\n  "step_s": 1.0\n}\n'
    params["features"]["eeg"]["transition_hz"] = 0.5
    params["features"]["modalities"] = ["eeg", "hrv"]
    FP.run(params)
    second = {p.name: p.read_bytes() for p in folder.glob("*.json")}
    assert second["hrv.json"] == first["hrv.json"] and second["eeg.json"] != first["eeg.json"]
    params["features"]["modalities"] = ["eeg"]
    FP.run(params)
    assert sorted(p.name for p in folder.glob("*.json")) == ["eeg.json"]
