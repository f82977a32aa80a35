"""The DEAP preprocessed-release reader (layout ``deap``) against its synthetic generator, the
label rule applied by hand, and the faults ``check-data`` must name."""
from __future__ import annotations

import math
import shutil

import numpy as np
import pytest

from helo.cli import main
from helo.data import open_reader
from helo.data.base import DataError
from helo.data.deap import CHANNELS, EEG_GENEVA, RATINGS
from helo.data.labels import to_distributions
from helo.data.safe_pickle import safe_load, safe_loads
from helo.synth.deap import generate_deap
from helo.synth.wesad import write_py2_pickle


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """The tiny synthetic set and what the generator wrote (the ``data`` arrays included)."""
    out = tmp_path_factory.mktemp("deap") / "DEAP"
    truth = generate_deap(out, seed=0, preset="tiny", progress=False, return_signals=True)
    return out, truth


def _copy(written, tmp_path):
    dst = tmp_path / "DEAP"
    shutil.copytree(written[0], dst)
    return dst


def _py2_string(b: bytes) -> bytes:
    """How Python 2 ``repr`` writes a ``str`` (what protocol 0's STRING opcode holds)."""
    esc = {ord("\\"): "\\\\", ord("'"): "\\'", ord("\n"): "\\n", ord("\r"): "\\r",
           ord("\t"): "\\t"}
    return ("'" + "".join(esc.get(c, chr(c) if 32 <= c < 127 else f"\\x{c:02x}")
                          for c in b) + "'").encode("latin1")


def _py2_protocol0_array(a: np.ndarray, memo: int) -> bytes:
    """A float64 array exactly as Python 2's cPickle wrote it at protocol 0 (numpy 1.x)."""
    p = [f"p{m}\n".encode() for m in range(memo, memo + 16)]
    shape = b"".join(b"I%d\n" % s for s in a.shape)
    return (b"cnumpy.core.multiarray\n_reconstruct\n" + p[0] + b"(cnumpy\nndarray\n" + p[1]
            + b"(I0\nt" + p[2] + b"S'b'\n" + p[3] + b"t" + p[4] + b"R" + p[5] + b"(I1\n("
            + shape + b"t" + p[6] + b"cnumpy\ndtype\n" + p[7] + b"(S'f8'\n" + p[8]
            + b"I0\nI1\nt" + p[9] + b"R" + p[10] + b"(I3\nS'<'\n" + p[11]
            + b"NNNI-1\nI-1\nI0\nt" + p[12] + b"bI00\nS" + _py2_string(a.tobytes()) + b"\n"
            + p[13] + b"t" + p[14] + b"b")


def test_safe_unpickler_reads_deap_pickles_of_protocol_0_and_2(tmp_path):
    """DEAP's .dat files are Python 2 cPickle dumps of numpy arrays; the restricted loader
    rebuilds them at protocol 0 (text, STRING payloads) and 2 (BINSTRING payloads) without
    widening its allow-list (numpy's _reconstruct, ndarray, dtype)."""
    data = np.arange(24, dtype="<f8").reshape(2, 3, 4) * 0.25 - 1
    labels = np.array([[1.0, 9.0, 5.5, 2.25], [7.75, 3.0, 1.0, 9.0]])
    p0 = (b"(dp0\nS'labels'\np1\n" + _py2_protocol0_array(labels, 2) + b"sS'data'\np30\n"
          + _py2_protocol0_array(data, 31) + b"s.")
    for obj in (safe_loads(p0, source="s01.dat"),):
        np.testing.assert_array_equal(obj["data"], data)
        np.testing.assert_array_equal(obj["labels"], labels)
    write_py2_pickle({"labels": labels, "data": data}, tmp_path / "s01.dat")
    assert (tmp_path / "s01.dat").read_bytes()[:2] == b"\x80\x02"
    obj = safe_load(tmp_path / "s01.dat")
    np.testing.assert_array_equal(obj["data"], data)
    assert obj["data"].dtype == np.float64
    hostile = p0.replace(b"cnumpy\nndarray\n", b"cos\nsystem\n", 1)
    with pytest.raises(DataError, match="refused to unpickle global 'os.system'"):
        safe_loads(hostile, source="s01.dat")


def test_reader_gives_the_arrays_the_generator_wrote(written):
    root, truth = written
    r = open_reader("deap", root)
    assert r.subjects() == ["s01", "s02", "s03"]
    assert r.modalities() == ["eeg", "emg", "gsr", "ppg"]
    for sid in r.subjects():
        s = r.read_subject(sid)
        data = truth["signals"][sid]  # (3 videos, 40 channels, 11 s x 128 Hz)
        assert data.shape == (3, 40, 1408)
        assert [t.trial_id for t in s.trials] == ["1", "2", "3"]
        order = truth["subjects"][sid]["presentation"]  # videos in presentation order
        for k, t in enumerate(s.trials):
            assert t.order == order.index(k + 1)
            assert t.extra["presentation_trial"] == order.index(k + 1) + 1
            eeg = t.signals["eeg"]
            assert eeg.fs == 128.0 and eeg.channels == EEG_GENEVA and eeg.data.shape == (1024, 32)
            np.testing.assert_array_equal(eeg.data, data[k, :32, 384:].T)
            for m, name in (("emg", "zEMG"), ("gsr", "GSR"), ("ppg", "Plethysmograph")):
                assert t.signals[m].channels == [name]
                np.testing.assert_array_equal(t.signals[m].data[:, 0],
                                              data[k, CHANNELS.index(name), 384:])
            assert t.panas_items == RATINGS
            np.testing.assert_array_equal(t.panas, truth["subjects"][sid]["ratings"][str(k + 1)])
        fam = [t.extra["familiarity"] for t in s.trials]
        assert (fam == [None] * 3) if sid == "s02" else all(1 <= f <= 5 for f in fam)
        assert s.warnings == []
    only = r.read_subject("s01", [])
    assert only.trials[0].signals == {} and only.trials[0].panas is not None
    assert open_reader("deap", root / "data_preprocessed_python").subjects() == ["s01", "s02",
                                                                                  "s03"]


def test_circumplex_labels_equal_the_rule_by_hand(written):
    """Russell's 8 categories at 45 degrees, p_k ~ exp(kappa rho cos(theta - theta_k)) with the
    rating mapped from 1..9 to -1..1 (kappa 3), computed here independently of label_rules."""
    root, truth = written
    r = open_reader("deap", root)
    rows = [t.panas for sid in r.subjects() for t in r.read_subject(sid, []).trials]
    D, names, kind, skipped, _ = to_distributions(np.array(rows), RATINGS, kind="circumplex",
                                                  rule={"scale": [1, 9], "kappa": 3})
    assert names[:3] == ["pleasure", "excitement", "arousal"] and not skipped
    for row, d in zip(rows, D):
        x, y = (row[0] - 5) / 4, (row[1] - 5) / 4
        rho, theta = min(1.0, math.hypot(x, y)), math.atan2(y, x)
        w = [math.exp(3 * rho * math.cos(theta - math.radians(45 * k))) for k in range(8)]
        np.testing.assert_allclose(d, np.array(w) / sum(w), rtol=1e-12)
    # valence 9, arousal 5: all mass toward pleasure; e^3 / (e^3 + 2e^2.1213 + 2 + 2e^-2.1213
    # + e^-3) = 0.51423 by hand
    one, *_ = to_distributions(np.array([[9.0, 5.0, 5.0, 5.0]]), RATINGS, kind="circumplex",
                               rule={"scale": [1, 9], "kappa": 3})
    assert one[0, 0] == pytest.approx(0.51423, abs=1e-5)
    assert one[0, 1] == pytest.approx(one[0, 7]) and one[0, 4] == pytest.approx(0.0012747, 1e-3)


def _rewrite(path, **change):
    obj = safe_load(path)
    obj.update(change)
    write_py2_pickle(obj, path)


def _errors(root):
    return [p for p in open_reader("deap", root).check() if p.severity == "error"]


def test_check_names_a_missing_subject_file(written, tmp_path, capsys):
    root = _copy(written, tmp_path)
    (root / "data_preprocessed_python" / "s02.dat").unlink()
    errs = _errors(root)
    assert len(errs) == 1 and errs[0].subject == "s02"
    assert errs[0].path.endswith("data_preprocessed_python/s02.dat")
    assert "missing subject file: participant_ratings.csv lists participant 2" in errs[0].message
    assert main(["check-data", str(root), "--layout", "deap"]) == 1
    out = capsys.readouterr().out
    assert "ERROR | subject s02 |" in out and "2 subject(s)" in out


def test_check_names_a_truncated_file_and_a_truncated_array(written, tmp_path):
    root = _copy(written, tmp_path)
    short = root / "data_preprocessed_python" / "s01.dat"
    _rewrite(short, data=safe_load(short)["data"][:, :, :1000])
    (err,) = _errors(root)
    assert err.subject == "s01" and err.path == str(short)
    assert err.message == ("holds 3 trials of 1000 samples where the other subjects' files "
                           "hold 3 of 1408: a truncated or different export")
    cut = root / "data_preprocessed_python" / "s03.dat"
    cut.write_bytes(cut.read_bytes()[:500_000])
    errs = _errors(root)
    assert [e.subject for e in errs] == ["s03", None]
    assert errs[0].path == str(cut) and "truncated" in errs[0].message
    assert errs[1].message.startswith("the subject files disagree on trials x samples (s01 3 x "
                                      "1000, s02 3 x 1408) and no shape is the majority's")
    with pytest.raises(DataError, match=r"subject s03, file .*s03\.dat: not a readable pickle"):
        open_reader("deap", root).read_subject("s03")


def test_ratings_out_of_range_are_refused_naming_the_trial(written, tmp_path):
    root = _copy(written, tmp_path)
    path = root / "data_preprocessed_python" / "s01.dat"
    labels = safe_load(path)["labels"]
    labels[1, 1] = 10.5
    _rewrite(path, labels=labels)
    with pytest.raises(DataError) as err:
        open_reader("deap", root).read_subject("s01", [])
    assert str(err.value) == (f"subject s01, file {path}: 'labels' out of range: trial 2 "
                              f"(video 2): arousal 10.5 outside DEAP's 1..9 scale")
    assert [e.subject for e in _errors(root)] == ["s01"]


def test_wrong_structure_and_table_faults(written, tmp_path):
    root = _copy(written, tmp_path)
    path = root / "data_preprocessed_python" / "s02.dat"
    write_py2_pickle({"data": safe_load(path)["data"][:, :32]}, path)
    err = {e.subject: e.message for e in _errors(root)}
    assert err == {"s02": "expected a dict with 'data' and 'labels', found ['data']"}
    table = root / "Metadata" / "participant_ratings.csv"
    lines = table.read_text().splitlines()
    fields = lines[1].split(",")
    fields[5] = "0.5"  # arousal
    table.write_text("\n".join([lines[0], ",".join(fields), *lines[2:]]) + "\n")
    errs = _errors(root)
    assert [(e.subject, e.path) for e in errs] == [(None, str(table)), ("s02", str(path))]
    assert errs[0].message == "line 2: arousal 0.5 outside DEAP's 1..9 scale"


def test_check_warns_when_table_and_labels_disagree(written, tmp_path):
    root = _copy(written, tmp_path)
    table = root / "Metadata" / "participant_ratings.csv"
    lines = table.read_text().splitlines()
    fields = lines[1].split(",")  # participant 1, trial 1
    fields[4] = str(float(fields[4]) - 1 if float(fields[4]) > 2 else float(fields[4]) + 1)
    table.write_text("\n".join([lines[0], ",".join(fields), *lines[2:]]) + "\n")
    problems = open_reader("deap", root).check()
    assert not [p for p in problems if p.severity == "error"]
    (warn,) = problems
    assert warn.subject == "s01" and f"video(s) [{fields[2]}]" in warn.message
    # a labels-only read keeps the .dat's ratings
    s = open_reader("deap", root).read_subject("s01", [])
    np.testing.assert_array_equal(s.trial(fields[2]).panas,
                                  written[1]["subjects"]["s01"]["ratings"][fields[2]])
