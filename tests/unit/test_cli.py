"""The `helo` command: help on every subcommand, check-data finding planted faults, params
reading."""
import shutil
from pathlib import Path

import numpy as np
import pytest

from helo.cli import build_parser, main


def test_every_subcommand_has_help(capsys):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert {"synth", "check-data", "extract", "assemble", "evaluate", "report", "predict",
            "preset", "ablate", "prefect", "fit-final"} <= set(sub.choices)
    for name in sub.choices:
        with pytest.raises(SystemExit) as ex:
            main([name, "--help"])
        assert ex.value.code == 0
        out = capsys.readouterr().out
        assert "usage: helo " + name in out and len(out) > 100


def test_check_data_clean_dataset_passes(tiny_dmer_raw, capsys):
    assert main(["check-data", str(tiny_dmer_raw), "--layout", "dmer-raw"]) == 0
    assert "0 error(s)" in capsys.readouterr().out


def test_check_data_lists_every_planted_fault(tiny_dmer_raw, tmp_path, capsys):
    bad = tmp_path / "bad"
    shutil.copytree(tiny_dmer_raw, bad)
    (bad / "1" / "1" / "raw_gsr.csv").unlink()                      # missing file
    edf = bad / "2" / "sub2" / "1_raw.edf"                             # truncated EDF
    edf.write_bytes(edf.read_bytes()[: edf.stat().st_size // 2])
    panas = next((bad / "5" / "5").glob("*_panas.csv"))              # a PANAS row missing
    lines = panas.read_text().splitlines()
    panas.write_text("\n".join(lines[:-1]) + "\n")
    rc = main(["check-data", str(bad), "--layout", "dmer-raw"])
    out = capsys.readouterr().out
    assert rc == 1
    assert "raw_gsr.csv" in out and "subject 1" in out
    assert "1_raw.edf" in out and "subject 2" in out
    assert "panas" in out.lower() and "subject 5" in out


def test_check_data_wesad_unsafe_pickle(tiny_wesad, tmp_path, capsys):
    import pickle
    root = tmp_path / "w"
    shutil.copytree(tiny_wesad, root)
    sid = sorted(p.name for p in root.iterdir() if p.is_dir())[0]

    class Evil:
        def __reduce__(self):
            return (shutil.rmtree, (str(root),))

    with open(root / sid / f"{sid}.pkl", "wb") as fh:
        pickle.dump({"subject": sid, "signal": Evil()}, fh, protocol=2)
    rc = main(["check-data", str(root), "--layout", "wesad"])
    out = capsys.readouterr().out
    assert rc == 1 and root.exists()
    assert f"{sid}.pkl" in out and "refus" in out.lower()


def test_synth_is_deterministic(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    main(["synth", "--layout", "wesad", "--preset", "tiny", "--seed", "4", "--out", str(a)])
    main(["synth", "--layout", "wesad", "--preset", "tiny", "--seed", "4", "--out", str(b)])
    for f in sorted(a.rglob("*.pkl")):
        assert f.read_bytes() == (b / f.relative_to(a)).read_bytes()
    assert np.array_equal(sorted(p.name for p in a.rglob("*")),
                          sorted(p.name for p in b.rglob("*")))


def test_params_reader_gives_pyyaml_safe_loader_objects():
    """helo.io.read_yaml (libyaml's C parser when present) builds exactly what PyYAML's pure
    Python safe loader builds, for the project's params and every preset, and for the YAML 1.1
    scalars that differ between parsers elsewhere (exponents without a dot, yes/no, octal)."""
    import yaml

    from helo.io import read_yaml
    from helo.stages import params as P
    root = Path(__file__).resolve().parents[2]
    texts = [(root / "params.yaml").read_text()] + [p.read_text() for p in P.presets().values()]
    texts.append("a: 1e-3\nb: 2.24e-05\nc: yes\nd: 0o17\ne: 017\nf: ~\ng: [1, .5, -.inf]\n"
                 "h: 2026-11-30\n")
    for text in texts:
        assert read_yaml(text) == yaml.load(text, Loader=yaml.SafeLoader)  # noqa: S506
    assert read_yaml("") is None


def test_the_default_preset_is_the_committed_default(tmp_path):
    """`helo preset synth-dmer` (the default) changes no value of the committed params.yaml,
    so a copy made with it reproduces the committed dvc.lock and metrics."""
    from helo.stages import params as P
    root = Path(__file__).resolve().parents[2]
    shutil.copy2(root / "params.yaml", tmp_path / "params.yaml")
    assert P.apply_preset("synth-dmer", tmp_path / "params.yaml") == P.load(root / "params.yaml")
