"""Issue 13, "nothing lost in silence": one test per fault, each planting it and asserting the
named error, the exit code, that the other subjects are untouched and that nothing is written
outside the output folder."""
from __future__ import annotations

import json
import pickle
import shutil
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from helo.cli import main
from helo.data import DataError, open_reader
from helo.data.base import safe_id
from helo.data.safe_pickle import UnsafePickleError, safe_loads
from helo.stages import params as P
from helo.stages.schema import ParamsError, validate

ROOT = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------- a generic-layout project

def _table(subjects, nan_label_for=()):
    rows = []
    rng = np.random.default_rng(0)
    for s in subjects:
        for t in ("a", "b"):
            lab = rng.uniform(1, 5, 3)
            for w in range(4):
                rows.append({"subject": s, "trial": t, "window": w,
                             "gsr__f1": rng.normal(), "gsr__f2": rng.normal(),
                             "ppg__f1": rng.normal(),
                             "label__Happy": np.nan if s in nan_label_for else lab[0],
                             "label__Sad": lab[1], "label__Calm": lab[2]})
    return pd.DataFrame(rows)


@pytest.fixture
def project(tmp_path, monkeypatch):
    """``tmp_path/proj`` as the working folder: params.yaml for a generic table under
    ``proj/gen``; returns (proj, write_table)."""
    proj = tmp_path / "proj"
    (proj / "gen").mkdir(parents=True)
    params = P.load(ROOT / "params.yaml")
    params["data"].update(layout="generic", root="gen", items=["Happy", "Sad", "Calm"])
    params["features"]["modalities"] = ["gsr", "ppg"]
    params["assemble"].update(physiological=["gsr"], behavioural=["ppg"])
    params["model"]["helo"]["query"] = "gsr"
    params["orchestrator"].update(task_runner="threads", warm=False)
    (proj / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    monkeypatch.chdir(proj)

    def write(df):
        df.to_csv(proj / "gen" / "features.csv", index=False)
    return proj, write


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


# ------------------------------------------------------------------- 1 + 3: lost subjects, ids

def test_unsafe_subject_id_fails_alone_and_stage_exits_nonzero(project, tmp_path, capsys):
    proj, write = project
    write(_table(["1", "2", "../../evil", "/abs/evil", ".."]))
    outside = _files(tmp_path)
    rc = main(["extract", "--modality", "gsr"])
    err = capsys.readouterr().err
    assert rc == 1
    last = err.strip().splitlines()[-1]  # (above it: the progress bar)
    assert last.startswith("helo extract: error: extract gsr: 3 of 5 subject(s) produced no")
    assert "'../../evil' is not allowed" in last and "--allow-partial" in last
    assert "Traceback" not in err
    store = proj / "data" / "features" / "gsr"
    assert sorted(p.name for p in store.glob("*.parquet")) == ["1.parquet", "2.parquet"]
    summ = json.loads((store / "_summary.json").read_text())
    assert {f["subject"] for f in summ["failed"]} == {"../../evil", "/abs/evil", ".."}
    assert summ["done"] == ["1", "2"]
    # nothing outside the project's output folders
    new = _files(tmp_path) - outside
    assert all(n.startswith(("proj/data/features/", "proj/outputs/timings/",
                             "proj/.helo/runs/")) for n in new), new  # runs: output locks
    assert not list(tmp_path.parent.glob("evil*")) and not Path("/abs/evil.parquet").exists()
    # opting in to partial results: exit 0, the summary still names every missing subject
    assert main(["extract", "--modality", "gsr", "--allow-partial"]) == 0
    summ = json.loads((store / "_summary.json").read_text())
    assert len(summ["failed"]) == 3


def test_safe_id_rules():
    for good in ("1", "S14", "sub-01", "a.b_c"):
        assert safe_id(good) == good
    for bad in ("..", ".", "../x", "/abs/x", "a/b", "a\\b", "-x", ".hidden", "a..b", "", "x" * 200):
        with pytest.raises(DataError, match="not allowed"):
            safe_id(bad, path="table.csv")
    with pytest.raises(DataError) as info:
        safe_id("../x", path="gen/features.csv")
    assert "gen/features.csv" in str(info.value) and "'../x'" in str(info.value)


def test_assemble_names_subjects_lost_in_the_join(project, capsys):
    proj, write = project
    write(_table(["1", "2", "3"], nan_label_for=["3"]))  # 3's self-report is unusable
    assert main(["extract", "--modality", "labels", "--allow-partial"]) == 0
    assert main(["extract", "--modality", "gsr", "--allow-partial"]) == 0
    assert main(["extract", "--modality", "ppg", "--allow-partial"]) == 0
    (proj / "data/features/ppg/2.parquet").unlink()  # 2 lost its ppg (e.g. a failed run)
    capsys.readouterr()
    rc = main(["assemble"])
    err = capsys.readouterr().err
    assert rc == 1 and "assemble: 2 of 3 subject(s) produced no output" in err
    ex = json.loads((proj / "data/assembled/excluded.json").read_text())
    reasons = {e["subject"]: e["reason"] for e in ex["excluded"]}
    assert set(reasons) == {"2", "3"}
    assert "no ppg features" in reasons["2"]
    assert "no self-report" in reasons["3"] and "NaN" in reasons["3"]
    assert main(["assemble", "--allow-partial"]) == 0
    meta = np.load(proj / "data/assembled/dataset.npz")
    assert set(meta["subject"].tolist()) == {"1"}


def test_force_leaves_no_stale_features_and_tmp_files_are_cleaned(project, capsys):
    proj, write = project
    write(_table(["1", "2", "3"]))
    assert main(["extract", "--modality", "gsr"]) == 0
    store = proj / "data/features/gsr"
    before = (store / "1.parquet").read_bytes()
    (store / ".tmp-2.parquet.abc.parquet").write_bytes(b"half")  # a killed run's leftover
    write(_table(["1", "2"], nan_label_for=["2"]))  # 2 now unreadable, 3 gone
    rc = main(["extract", "--modality", "gsr", "--force"])
    assert rc == 1
    assert not (store / "2.parquet").exists()  # not the previous parameters' file
    assert not (store / "3.parquet").exists()  # a subject no longer under root
    assert not list(store.glob(".tmp-*"))
    assert (store / "1.parquet").read_bytes() == before  # the other subject: same bytes
    summ = json.loads((store / "_summary.json").read_text())
    assert summ["removed_stale"] == ["3"] and summ["failed"][0]["subject"] == "2"


# ------------------------------------------------------------------- 2: parameters

def test_params_validated_before_any_work(project, capsys):
    proj, write = project
    write(_table(["1"]))
    for argv, words in [
        # a generic table: its own modalities are allowed, so the table's are named
        (["extract", "--modality", "foo"], ["--modality", "'foo'", "gsr", "ppg"]),
        (["extract", "--modality", "eeg", "-S", "features.eeg.bands=weird"],
         ["features.eeg.bands", "'weird'", "paper", "official"]),
        (["assemble", "-S", "evaluate.methods=[helo, nope]"], ["evaluate.methods", "'nope'",
                                                              "conformer"]),
        (["assemble", "-S", "orchestrator.workerz=3"], ["orchestrator.workerz", "unknown key",
                                                       "allow_partial"]),
        (["assemble", "-S", "data.layout=dmer"], ["data.layout", "dmer-raw", "generic"]),
        (["assemble", "-S", "model.helo.epochs=many"], ["model.helo.epochs", "integer"]),
    ]:
        rc = main(argv)
        err = capsys.readouterr().err
        assert rc == 1, argv
        assert all(w in err for w in words), (argv, err)
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (proj / "data").exists()  # refused before any stage did work


def test_params_and_every_preset_validate():
    base = P.load(ROOT / "params.yaml")
    validate(base)
    for name, path in P.presets().items():
        validate(P.merge(base, yaml.safe_load(path.read_text()) or {}), source=name)
    bad = P.merge(base, {"assemble": {"physiological": ["eeg", "ecg"]}})
    with pytest.raises(ParamsError, match=r"assemble.physiological: \['ecg'\] not in features"):
        validate(bad)


def test_preset_keeps_comments(tmp_path):
    p = tmp_path / "params.yaml"
    shutil.copy(ROOT / "params.yaml", p)
    assert main(["preset", "paper-wesad", "--params", str(p)]) == 0
    text = p.read_text()
    assert "# helo pipeline parameters" in text
    assert "layout: wesad               # dmer-raw | dmer-aligned" in text
    assert "patience: null" in text
    merged = P.merge(P.load(ROOT / "params.yaml"),
                     yaml.safe_load((ROOT / "helo/presets/paper-wesad.yaml").read_text()))
    assert yaml.safe_load(text) == merged


def test_unexpected_errors_are_one_line_unless_debug(monkeypatch, capsys):
    import helo.cli as cli

    def boom(args):
        raise RuntimeError("disk on fire")
    monkeypatch.setattr(cli, "cmd_info", boom)
    assert main(["info"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == ("helo info: error: RuntimeError: disk on fire (run `helo --debug "
                           "info ...` for the traceback)")
    with pytest.raises(RuntimeError, match="disk on fire"):
        main(["--debug", "info"])


# ------------------------------------------------------------------- 4: the unpickler

class _Alloc:
    def __init__(self, n):
        self.n = n

    def __reduce__(self):
        return (bytearray, (self.n,))


def test_dag_pickle_refused_fast():
    x: list = []
    for _ in range(40):
        x = [x, x]  # 2^40 paths through memo references, a few hundred bytes
    data = pickle.dumps(x, protocol=2)
    assert len(data) < 600
    t0 = time.perf_counter()
    with pytest.raises(UnsafePickleError, match="reached twice"):
        safe_loads(data)
    assert time.perf_counter() - t0 < 1.0


def test_allocator_pickles_refused_without_allocating():
    data = pickle.dumps(_Alloc(512 << 20), protocol=2)
    assert len(data) <= 60
    huge = (b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nJ\x00\x00\x00\x40"
            b"\x85cnumpy\ndtype\nX\x02\x00\x00\x00f8\x89\x88\x87R\x87R.")
    claim = b"\x80\x04\x8e" + (1 << 40).to_bytes(8, "little") + b"abc."
    tracemalloc.start()
    try:
        with pytest.raises(UnsafePickleError, match="bytearray"):
            safe_loads(data)
        with pytest.raises(UnsafePickleError, match="refused before allocating"):
            safe_loads(huge)  # _reconstruct of 2^30 float64
        with pytest.raises(DataError, match="only 4 remain"):
            safe_loads(claim)  # a 2^40-byte string claimed in 12 bytes
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 << 20


def test_check_data_reports_resource_errors(tiny_wesad, monkeypatch, capsys):
    from helo.data.wesad import WesadReader

    def exhaust(self):
        raise MemoryError()
    monkeypatch.setattr(WesadReader, "check", exhaust)
    assert main(["check-data", str(tiny_wesad), "--layout", "wesad"]) == 1
    out = capsys.readouterr().out
    assert "ERROR" in out and "MemoryError" in out and "Traceback" not in out


# ------------------------------------------------------------------- 5: WESAD order vs labels

def _swap_medi_names(quest: Path):
    lines = quest.read_text().splitlines()
    k = next(i for i, l in enumerate(lines) if l.startswith("# ORDER"))
    lines[k] = lines[k].replace("Medi 1", "@").replace("Medi 2", "Medi 1").replace("@", "Medi 2")
    quest.write_text("\n".join(lines) + "\n")


def test_wesad_s14_medi_swap_attaches_questionnaires_by_time(tiny_wesad, tmp_path):
    root = tmp_path / "wesad"
    shutil.copytree(tiny_wesad, root)
    sids = open_reader("wesad", root).subjects()
    sid, other = sids[0], sids[1]
    before_other = open_reader("wesad", root).read_subject(other, ["ecg"])
    clean = open_reader("wesad", root).read_subject(sid, ["ecg"])
    _swap_medi_names(root / sid / f"{sid}_quest.csv")  # the real S14's quest file
    subj = open_reader("wesad", root).read_subject(sid, ["ecg"])
    t = {tr.trial_id: tr for tr in subj.trials}
    c = {tr.trial_id: tr for tr in clean.trials}
    # "Medi 1" is now the later run, and carries the questionnaire filled after it
    assert t["Medi 1"].extra["span"] == c["Medi 2"].extra["span"]
    assert t["Medi 2"].extra["span"] == c["Medi 1"].extra["span"]
    np.testing.assert_array_equal(t["Medi 1"].panas, c["Medi 2"].panas)
    np.testing.assert_array_equal(t["Medi 1"].signals["ecg"].data, c["Medi 2"].signals["ecg"].data)
    assert any("S14" in w for w in subj.warnings)
    # a labels-only read (quest times, no pickle) gives each trial the same questionnaire
    lab = {tr.trial_id: tr for tr in open_reader("wesad", root).read_subject(sid, []).trials}
    for name in ("Medi 1", "Medi 2"):
        np.testing.assert_array_equal(lab[name].panas, t[name].panas)
    # the other subject is untouched
    again = open_reader("wesad", root).read_subject(other, ["ecg"])
    for a, b in zip(before_other.trials, again.trials):
        assert a.trial_id == b.trial_id and a.extra["span"] == b.extra["span"]


def test_wesad_order_disagreeing_beyond_tolerance_is_an_error(tiny_wesad, tmp_path, capsys):
    root = tmp_path / "wesad"
    shutil.copytree(tiny_wesad, root)
    sid = open_reader("wesad", root).subjects()[0]
    q = root / sid / f"{sid}_quest.csv"
    lines = q.read_text().splitlines()
    k = next(i for i, l in enumerate(lines) if l.startswith("# ORDER"))
    lines[k] = lines[k].replace("Base", "@").replace("Fun", "Base").replace("@", "Fun")
    q.write_text("\n".join(lines) + "\n")  # ORDER says Fun where the label array has Base
    with pytest.raises(DataError, match="cannot be attached") as info:
        open_reader("wesad", root).read_subject(sid, ["ecg"])
    assert info.value.subject == sid and info.value.path.endswith(f"{sid}_quest.csv")
    assert main(["check-data", str(root), "--layout", "wesad"]) == 1
    assert "cannot be attached" in capsys.readouterr().out


# ------------------------------------------------------------------- 6: DMER duplicates

def test_dmer_duplicate_subject_and_ambiguous_video(tiny_dmer_raw, tmp_path, capsys):
    from helo.stages.extract import run_extract
    root = tmp_path / "dmer"
    shutil.copytree(tiny_dmer_raw, root)
    sids = open_reader("dmer-raw", root).subjects()
    a, b = sids[0], sids[1]
    # "0<a>" beside "<a>": the same subject number twice, same content
    twin = f"0{a}"
    shutil.copytree(root / a / a, root / twin / twin)
    shutil.copytree(root / a / f"sub{a}", root / twin / f"sub{twin}")
    # "<b>": a second face video
    video = next((root / b / b).glob("1_*.mp4"))
    shutil.copy(video, video.with_name("1_999.mp4"))
    assert main(["check-data", str(root), "--layout", "dmer-raw"]) == 1
    out = capsys.readouterr().out
    assert f"{root / a}" in out and f"{root / twin}" in out and "same subject number" in out
    assert "ambiguous" in out and "1_999.mp4" in out and video.name in out
    with pytest.raises(DataError, match="ambiguous"):
        open_reader("dmer-raw", root).read_subject(twin, [])
    with pytest.raises(DataError, match="1_999.mp4"):
        open_reader("dmer-raw", root).read_subject(b, ["video"])
    summ = run_extract("dmer-raw", root, tmp_path / "store", "labels", progress=False)
    failed = {f["subject"]: f["reason"] for f in summ["failed"]}
    assert set(failed) == {a, twin} and all("same subject number" in r for r in failed.values())
    assert set(summ["done"]) == set(sids) - {a}  # the others untouched
    # the same content under another number is caught by the fingerprint
    shutil.rmtree(root / twin)
    other = "77"
    shutil.copytree(root / a / a, root / other / other)
    shutil.copytree(root / a / f"sub{a}", root / other / f"sub{other}")
    dups = open_reader("dmer-raw", root).duplicate_subjects()
    assert set(dups) == {a, other} and "identical recordings" in dups[other]


def test_dmer_random_byte_video_and_bad_edf_header(tiny_dmer_raw, tmp_path, capsys):
    root = tmp_path / "dmer"
    shutil.copytree(tiny_dmer_raw, root)
    sids = open_reader("dmer-raw", root).subjects()
    a, b = sids[0], sids[1]
    video = next((root / a / a).glob("1_*.mp4"))
    video.write_bytes(np.random.default_rng(0).bytes(4096))
    edf = root / b / f"sub{b}" / "1_raw.edf"
    raw = bytearray(edf.read_bytes())
    raw[184:192] = b"512     "  # header byte count that disagrees with the signal count
    edf.write_bytes(bytes(raw))
    assert main(["check-data", str(root), "--layout", "dmer-raw"]) == 1
    out = capsys.readouterr().out
    assert f"ERROR | subject {a} | {video}: OpenCV cannot read the face video" in out
    assert "EDF header byte count is 512" in out and "AssertionError" not in out
    with pytest.raises(DataError, match="cannot read the face video"):
        open_reader("dmer-raw", root).read_subject(a, ["video"])
    with pytest.raises(DataError, match="byte count"):
        open_reader("dmer-raw", root).read_subject(b, ["eeg"])
    assert open_reader("dmer-raw", root).read_subject(sids[2], ["eeg"]).trials


# ------------------------------------------------------------------- 7: wrong layout

def test_wrong_layout_says_what_the_folder_looks_like(tiny_dmer_raw, tmp_path, project,
                                                      capsys):
    proj, _ = project
    rc = main(["extract", "--modality", "labels", "-S", "data.layout=wesad", "-S",
               f"data.root={tiny_dmer_raw}"])
    err = capsys.readouterr().err
    assert rc == 1 and "no subjects found" in err and "looks like dmer-raw" in err
    assert not list(proj.rglob("*.parquet"))
    assert main(["check-data", str(tiny_dmer_raw), "--layout", "wesad"]) == 1
    out = capsys.readouterr().out
    assert "looks like dmer-raw (3 subject(s))" in out
    from helo.stages.extract import run_extract
    with pytest.raises(DataError, match="looks like dmer-raw"):
        run_extract("wesad", tiny_dmer_raw, tmp_path / "store", "labels", progress=False)
    assert not (tmp_path / "store").exists() or not list((tmp_path / "store").rglob("*.parquet"))


def test_report_lists_subjects_left_out(tmp_path):
    from helo.stages.report import _excluded_section
    path = tmp_path / "excluded.json"
    assert _excluded_section(path) == []
    path.write_text(json.dumps({"subjects": 2, "excluded": [
        {"subject": "7", "reason": "no eeg features (subject 7, file x.edf: EDF is truncated)"}]}))
    text = "".join(_excluded_section(path))
    assert "## Subjects left out (1)" in text
    assert "| 7 | no eeg features (subject 7, file x.edf: EDF is truncated) |" in text


@pytest.mark.parametrize("layout", ["dmer-raw", "wesad"])
def test_readers_refuse_unsafe_ids(layout, tiny_dmer_raw, tiny_wesad):
    root = tiny_dmer_raw if layout == "dmer-raw" else tiny_wesad
    for bad in ("../1", "..", "/etc"):
        with pytest.raises(DataError, match="not allowed") as info:
            open_reader(layout, root).read_subject(bad, [])
        assert str(root) in str(info.value)


def test_wesad_copied_subject_is_a_duplicate(tiny_wesad, tmp_path, capsys):
    from helo.stages.extract import run_extract
    root = tmp_path / "wesad"
    shutil.copytree(tiny_wesad, root)
    sids = open_reader("wesad", root).subjects()
    src = sids[0]
    (root / "S99").mkdir()
    shutil.copy(root / src / f"{src}.pkl", root / "S99" / "S99.pkl")
    shutil.copy(root / src / f"{src}_quest.csv", root / "S99" / "S99_quest.csv")
    assert main(["check-data", str(root), "--layout", "wesad"]) == 1
    out = capsys.readouterr().out
    assert "identical recordings" in out and str(root / "S99") in out and str(root / src) in out
    summ = run_extract("wesad", root, tmp_path / "store", "labels", progress=False)
    assert {f["subject"] for f in summ["failed"]} == {src, "S99"}
    assert set(summ["done"]) == set(sids) - {src}


def test_every_ablation_validates():
    from helo.stages import ablation
    base = P.load(ROOT / "params.yaml")
    for sets in ablation.ABLATIONS.values():
        for s in sets:
            p = P.merge(base, {})
            for k, v in s.items():
                P.set_dotted(p, k, v)
            validate(p)
