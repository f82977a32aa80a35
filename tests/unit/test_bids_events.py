"""BIDS events as real EEG datasets write them (``data.events``): instantaneous stimuli, one
``trial_type`` repeated over runs, self-reports per condition; collisions and instants named
row by row with the setting that fixes them; check-data reading with extraction's settings."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from helo.data import DataError, open_reader

FS = 160.0
CHANNELS = ["Fc5.", "Cz..", "T3..", "Oz.."]
RUNS = (2, 10)  # unpadded, as mne-bids writes them: run-2 must come before run-10
ROOT_PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"

# (onset, duration, trial_type) as EEGMMIDB-like files write them: instants, repeated types,
# a rest marker (T0) without a self-report; run-10's rows are not in onset order
EVENTS = {2: [("0.0", "0", "T0"), ("4.0", "0", "T1"), ("10.0", "0", "T2"), ("16.0", "n/a", "T1"),
              ("22.0", "0", "T2")],
          10: [("15.25", "0", "T1"), ("3.0", "0", "T1"), ("9.5", "0", "T2")]}
BEH_BY_TYPE = "trial_type\tlabel__calm\tlabel__tense\nT1\t0.8\t0.2\nT2\t0.3\t0.7\n"


@pytest.fixture(scope="module")
def eeg_runs(tmp_path_factory):
    """Two EDF runs of one subject written by mne-bids (4 EEG channels, 160 Hz, 30 s each), and
    the signals in volts."""
    import mne
    from mne_bids import BIDSPath, write_raw_bids
    root = tmp_path_factory.mktemp("bids-events") / "ds"
    signals = {}
    for run in RUNS:
        x = np.random.default_rng(run).normal(0, 20e-6, size=(len(CHANNELS), int(30 * FS)))
        raw = mne.io.RawArray(x, mne.create_info(CHANNELS, FS, "eeg"), verbose="error")
        write_raw_bids(raw, BIDSPath(subject="s1", task="motor", run=run, datatype="eeg",
                                     root=root), format="EDF", allow_preload=True,
                       verbose="error")
        signals[run] = x
    return root, signals


def _events_path(root: Path, run: int) -> Path:
    return root / "sub-s1" / "eeg" / f"sub-s1_task-motor_run-{run}_events.tsv"


def _dataset(eeg_runs, tmp_path, events=EVENTS, beh=BEH_BY_TYPE) -> Path:
    """A copy of the EDF runs with ``events`` ({run: rows}) and ``beh`` (one table's text)."""
    root = tmp_path / "ds"
    shutil.copytree(eeg_runs[0], root)
    for run, rows in events.items():
        header = ["onset", "duration", "trial_type", "trial"][:len(rows[0])]
        _events_path(root, run).write_text(
            "\n".join(["\t".join(header)] + ["\t".join(r) for r in rows]) + "\n")
    (root / "sub-s1" / "beh").mkdir(exist_ok=True)
    (root / "sub-s1" / "beh" / "sub-s1_task-motor_beh.tsv").write_text(beh)
    return root


def _read(root, **options):
    return open_reader("bids", root, **options).read_subject("s1")


def _error(root, **options) -> str:
    with pytest.raises(DataError) as err:
        _read(root, **options)
    return str(err.value)


def test_a_repeated_trial_type_names_both_rows_and_the_settings(eeg_runs, tmp_path):
    root = _dataset(eeg_runs, tmp_path)
    ev = _events_path(root, 2)
    assert _error(root) == (
        f"subject s1, file {ev}: trial id 'T1' is given to two events, rows 3 (onset 4 s) and "
        f"5 (onset 16 s) of sub-s1_task-motor_run-2_events.tsv: trial ids must be unique per "
        f"subject; to number a condition repeated under one trial_type set data.events.ids: "
        f"numbered (ids T1-1, T1-2, ... in onset order over the runs), or give the events files "
        f"a trial column; if 'T1' marks no trial, list the trial_types that do in "
        f"data.events.trial_types; the events are instantaneous too (duration 0 or n/a): set "
        f"data.events.duration_s")


def test_instantaneous_events_need_duration_s(eeg_runs, tmp_path):
    root = _dataset(eeg_runs, tmp_path)
    ev = _events_path(root, 2)
    assert _error(root, ids="numbered") == (
        f"subject s1, file {ev}: sub-s1_task-motor_run-2_events.tsv row 3 (onset 4 s) (trial "
        f"'T1-1'): duration 0 marks an instant, not a span: set data.events.duration_s to the "
        f"seconds each trial lasts from its onset")
    rows = dict(EVENTS)
    rows[2] = [r if r[0] != "4.0" else ("4.0", "n/a", "T1") for r in EVENTS[2]]
    root = _dataset(eeg_runs, tmp_path / "na", events=rows)
    assert "row 3 (onset 4 s) (trial 'T1-1'): duration n/a marks an instant" in _error(
        root, ids="numbered")


def test_numbered_instants_are_cut_from_their_onsets(eeg_runs, tmp_path):
    """T1-1, T1-2 ... count in onset order over the runs in run order (run-2 before run-10,
    run-10's rows sorted by onset); each trial is duration_s from its onset, the samples of the
    EDF; the condition's self-report labels every trial of it."""
    root = _dataset(eeg_runs, tmp_path)
    s = _read(root, ids="numbered", duration_s=2.5)
    assert [t.trial_id for t in s.trials] == ["T1-1", "T2-1", "T1-2", "T2-2", "T1-3", "T2-3",
                                              "T1-4"]
    assert [t.category for t in s.trials] == ["T1", "T2", "T1", "T2", "T1", "T2", "T1"]
    assert [t.order for t in s.trials] == list(range(7))
    onsets = [(2, 4.0), (2, 10.0), (2, 16.0), (2, 22.0), (10, 3.0), (10, 9.5), (10, 15.25)]
    for t, (run, onset) in zip(s.trials, onsets):
        x = eeg_runs[1][run]
        a = int(np.ceil(onset * FS - 1e-6))
        eeg = t.signals["eeg"]
        assert eeg.channels == ["FC5", "Cz", "T7", "Oz"] and eeg.data.shape == (400, 4)
        step = (x.max(axis=1) - x.min(axis=1)) / 65535 * 1e6  # EDF's 16-bit quantum, in uV
        assert np.all(np.abs(eeg.data - x[:, a:a + 400].T * 1e6) <= 2 * step)
        want = [0.8, 0.2] if t.category == "T1" else [0.3, 0.7]
        np.testing.assert_allclose(t.extra["distribution"], want)
        assert t.panas_items == ["calm", "tense"]
    assert any("events without a self-report skipped: ['T0']" in w for w in s.warnings)


def test_trial_types_select_the_trials(eeg_runs, tmp_path):
    root = _dataset(eeg_runs, tmp_path)
    s = _read(root, ids="numbered", duration_s=1.0, trial_types=["T1"])
    assert [t.trial_id for t in s.trials] == ["T1-1", "T1-2", "T1-3", "T1-4"]
    assert not any("skipped" in w for w in s.warnings)  # T0 and T2 left out on purpose
    beh = root / "sub-s1" / "beh" / "sub-s1_task-motor_beh.tsv"
    assert f"{beh}: self-report of trial_type 'T2' (sub-s1_task-motor_beh.tsv row 3) unused: " \
           "its events' trial_type is not in data.events.trial_types" in s.warnings
    ev = _events_path(root, 2)
    assert _error(root, ids="numbered", duration_s=1.0, trial_types=["T0", "T1"]) == (
        f"subject s1, file {ev}: sub-s1_task-motor_run-2_events.tsv row 2 (onset 0 s): "
        f"trial_type 'T0' is one of data.events.trial_types, but trial 'T0-1' has no "
        f"self-report (no beh row with trial 'T0-1' or trial_type 'T0')")
    s = _read(root, ids="numbered", duration_s=1.0, trial_types=["T1", "T9"])
    assert "data.events.trial_types ['T9'] occur in no events file of this subject" in s.warnings


def test_a_trial_column_repeated_across_runs_names_both_files(eeg_runs, tmp_path):
    events = {2: [("4.0", "2", "T1", "a"), ("10.0", "2", "T2", "b")],
              10: [("3.0", "2", "T1", "b")]}
    root = _dataset(eeg_runs, tmp_path, events, "trial\tlabel__calm\tlabel__tense\na\t1\t0\n"
                                                "b\t0\t1\n")
    ev10 = _events_path(root, 10)
    assert _error(root) == (
        f"subject s1, file {ev10}: trial id 'b' is given to two events, "
        f"sub-s1_task-motor_run-2_events.tsv row 3 (onset 10 s) and "
        f"sub-s1_task-motor_run-10_events.tsv row 2 (onset 3 s): trial ids must be unique per "
        f"subject; the trial column repeats it: make it unique per subject, or number each "
        f"trial_type's events with data.events.ids: numbered")
    # numbered ids ignore the trial column; beh rows keyed by the numbered ids
    (root / "sub-s1/beh/sub-s1_task-motor_beh.tsv").write_text(
        "trial\tlabel__calm\tlabel__tense\nT1-1\t1\t0\nT1-2\t0.5\t0.5\nT2-1\t0\t1\n")
    s = _read(root, ids="numbered")
    assert [(t.trial_id, t.category) for t in s.trials] == [("T1-1", "T1"), ("T2-1", "T2"),
                                                            ("T1-2", "T1")]
    np.testing.assert_allclose(s.trials[2].extra["distribution"], [0.5, 0.5])


def test_two_self_reports_of_one_trial_are_named(eeg_runs, tmp_path):
    root = _dataset(eeg_runs, tmp_path)
    beh = root / "sub-s1" / "beh"
    (beh / "sub-s1_task-motor_run-2_beh.tsv").write_text(
        "trial\tlabel__calm\tlabel__tense\nT1-1\t1\t0\n")
    assert _error(root, ids="numbered", duration_s=1.0).endswith(
        "the event at sub-s1_task-motor_run-2_events.tsv row 3 (onset 4 s) (trial 'T1-1', "
        "trial_type 'T1') has two self-reports: its trial's row "
        "(sub-s1_task-motor_run-2_beh.tsv row 2) and its condition's row "
        "(sub-s1_task-motor_beh.tsv row 2); keep one")
    (beh / "sub-s1_task-motor_run-2_beh.tsv").unlink()
    (beh / "sub-s1_task-motor_beh.tsv").write_text(BEH_BY_TYPE + "T1\t0.5\t0.5\n")
    assert _error(root, ids="numbered", duration_s=1.0) == (
        f"subject s1, file {beh / 'sub-s1_task-motor_beh.tsv'}: condition (trial_type) 'T1' "
        f"has two self-report rows (rows 2 and 4 of sub-s1_task-motor_beh.tsv)")
    (beh / "sub-s1_task-motor_beh.tsv").write_text(BEH_BY_TYPE + "T7\t0.5\t0.5\n")
    assert _error(root, ids="numbered", duration_s=1.0).endswith(
        "self-reports for trial_types ['T7'] have no event (no row of that trial_type in any "
        "_events.tsv)")
    (beh / "sub-s1_task-motor_beh.tsv").write_text("label__calm\tlabel__tense\n1\t0\n")
    assert "needs a trial column (one row per trial) or a trial_type column" in _error(root)


def test_duration_s_replaces_every_duration_and_says_so(eeg_runs, tmp_path):
    events = {2: [("4.0", "4.1", "T1"), ("10.0", "0", "T2"), ("16.0", "4.2", "T1")],
              10: [("3.0", "2.0", "T2")]}
    root = _dataset(eeg_runs, tmp_path, events)
    ev2 = _events_path(root, 2)
    s = _read(root, ids="numbered", duration_s=2.0)
    assert [t.signals["eeg"].data.shape[0] for t in s.trials] == [320] * 4
    assert [w for w in s.warnings if "replaces" in w] == [
        f"{ev2}: data.events.duration_s (2 s) replaces the file's own durations of 2 trial(s) "
        f"(4.1 to 4.2 s)"]
    events[10] = [("3.0", "-1", "T2")]
    root = _dataset(eeg_runs, tmp_path / "neg", events)
    assert _error(root, ids="numbered", duration_s=2.0).endswith(
        "sub-s1_task-motor_run-10_events.tsv row 2 (onset 3 s) (trial 'T2-2'): duration -1 "
        "does not define a span")


def test_settings_that_go_by_trial_type_need_the_column(eeg_runs, tmp_path):
    root = _dataset(eeg_runs, tmp_path, {2: [("4.0", "2")], 10: [("3.0", "2")]},
                    "trial\tlabel__calm\tlabel__tense\nx\t1\t0\n")
    assert "column 'trial_type' is missing (columns: ['onset', 'duration']), but " \
           "data.events.ids is 'numbered', which goes by trial_type" in _error(root,
                                                                               ids="numbered")
    assert "but data.events.trial_types is ('T1',)" in _error(root, trial_types=["T1"])


def test_reader_options_refuse_bad_settings(tmp_path):
    for kw, msg in (({"ids": "counted"}, "ids must be one of trial, numbered"),
                    ({"duration_s": 0}, "duration_s must be a finite number of seconds > 0"),
                    ({"duration_s": float("inf")}, "finite number"),
                    ({"trial_types": "T1"}, "non-empty list of trial_type names"),
                    ({"trial_types": []}, "non-empty list")):
        with pytest.raises(ValueError, match=msg):
            open_reader("bids", tmp_path, **kw)


def _params(**events) -> dict:
    from helo.stages import params as P
    params = P.load(ROOT_PARAMS)
    params["data"].update(layout="bids")
    params["data"]["events"].update(events)
    return params


def test_the_schema_validates_data_events_and_hands_them_to_the_reader():
    from helo.stages.common import reader_options
    from helo.stages.schema import ParamsError, validate
    assert reader_options(validate(_params())) == {}  # defaults: the options recorded before
    cfg = validate(_params(trial_types=["T1", "T2"], duration_s=4, ids="numbered"))
    assert reader_options(cfg) == {"trial_types": ["T1", "T2"], "duration_s": 4.0,
                                   "ids": "numbered"}
    for events, msg in (({"ids": "counted"}, "data.events.ids"),
                        ({"duration_s": 0}, "data.events.duration_s"),
                        ({"duration_s": -2.5}, "data.events.duration_s"),
                        ({"duration_s": float("inf")}, "data.events.duration_s"),
                        ({"duration_s": True}, "a number of seconds, not bool"),
                        ({"duration_s": "4"}, "a number of seconds, not str"),
                        ({"trial_types": []}, "data.events.trial_types"),
                        ({"trial_types": ["T1", "T1"]}, "more than once"),
                        ({"trial_types": [" T1"]}, "surrounding spaces"),
                        ({"colour": 1}, "data.events.colour")):
        with pytest.raises(ParamsError, match=msg):
            validate(_params(**events))
    params = _params(ids="numbered")
    params["data"]["layout"] = "dmer-raw"
    with pytest.raises(ParamsError, match="data.events: .*layout 'dmer-raw' has none"):
        validate(params)


def test_check_data_accepts_exactly_what_extraction_reads(eeg_runs, tmp_path, monkeypatch,
                                                          capsys):
    """check-data and the extract stage read with the settings of params.yaml and -S: the
    same refusal (one message) without them, the same trials with them."""
    from helo.cli import main
    from helo.data import store as S
    from helo.stages import extract
    from helo.stages.common import STORE
    from helo.stages.params import load_config
    root = _dataset(eeg_runs, tmp_path)
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    params = _params()
    params["data"]["root"] = str(root)
    params["orchestrator"].update(task_runner="serial", allow_partial=True)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    assert main(["check-data", str(root), "--layout", "bids"]) == 1
    printed = capsys.readouterr().out
    summary = extract.run(load_config("params.yaml"), "labels", progress=False)
    reason = summary["failed"][0]["reason"]
    assert "trial id 'T1' is given to two events" in reason
    assert f"ERROR | subject s1 | {_events_path(root, 2)}: {reason.split(': ', 1)[1]}" in printed

    sets = ["-S", "data.events.ids=numbered", "-S", "data.events.duration_s=2.5", "-S",
            "data.events.trial_types=[T1, T2]"]
    assert main(["check-data", str(root), "--layout", "bids", *sets]) == 0
    assert "0 error(s)" in capsys.readouterr().out
    cfg = load_config("params.yaml", [s for s in sets if s != "-S"])
    summary = extract.run(cfg, "labels", progress=False)
    assert summary["done"] == ["s1"] and not summary["failed"]
    assert S.read(STORE, "labels", "s1")["trial"].drop_duplicates().tolist() == [
        "T1-1", "T2-1", "T1-2", "T2-2", "T1-3", "T2-3", "T1-4"]

    # the settings in params.yaml itself: check-data takes them without -S
    params["data"]["events"].update(ids="numbered", duration_s=2.5)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert main(["check-data", str(root), "--layout", "bids"]) == 0
    capsys.readouterr()
    assert main(["check-data", str(root), "--layout", "bids", "-S",
                 "data.events.ids=counted"]) == 1
    assert "data.events.ids" in capsys.readouterr().err

    # outside a project (no params.yaml): the schema's defaults, -S still taken
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["check-data", str(root), "--layout", "bids"]) == 1
    assert main(["check-data", str(root), "--layout", "bids", *sets]) == 0
