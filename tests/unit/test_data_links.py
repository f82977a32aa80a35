"""Files reached through links that leave the dataset root are refused by every reader, before
a byte of them is read: the error names the link and where it leads, and never echoes content.
Links that stay inside the root, and a root that is itself a link, are fine."""
from __future__ import annotations

import json
import shutil

import pytest

from helo.cli import main
from helo.data import DataError, open_reader
from helo.data.base import inside_root

SECRET = "TOP-SECRET-LINE,password=hunter2"


@pytest.fixture
def outside(tmp_path):
    p = tmp_path / "outside" / "secret.csv"
    p.parent.mkdir()
    p.write_text(SECRET + "\n1,2,3\n")
    return p


def _plant(path, target):
    path.unlink()
    path.symlink_to(target)


def _no_echo(text: str) -> None:
    assert "TOP-SECRET" not in text and "hunter2" not in text


@pytest.mark.parametrize("layout,rel,sid,mods", [
    ("dmer-raw", "1/1/1_panas.csv", "1", []),  # a header-like first line was echoed before
    ("wesad", "S2/S2_quest.csv", "S2", []),
    ("wesad", "S2/S2.pkl", "S2", ["eda"]),
    ("mahnob", "Sessions/2/Part_1_S_Trial1_emotion.bdf", "1", ["eeg"]),
])
def test_links_out_of_the_root_are_refused(tiny_synth, tmp_path, outside, capsys, layout, rel,
                                           sid, mods):
    root = tmp_path / "ds"
    shutil.copytree(tiny_synth(layout), root)
    link = root / rel
    _plant(link, outside)
    with pytest.raises(DataError) as err:
        open_reader(layout, root).read_subject(sid, modalities=mods)
    msg = str(err.value)
    assert msg == (f"subject {sid}, file {link}: the file is a link that leads outside the "
                   f"dataset root {root} (to {outside}); refused: dataset files must lie "
                   f"inside the root (a root that is itself a link is fine)")
    assert main(["check-data", str(root), "--layout", layout]) == 1
    out = capsys.readouterr().out
    assert f"{link}: the file is a link that leads outside" in out
    _no_echo(msg + out)


def test_a_linked_subject_folder_is_refused(tiny_synth, tmp_path):
    root = tmp_path / "ds"
    shutil.copytree(tiny_synth("wesad"), root)
    shutil.move(root / "S3", tmp_path / "S3-elsewhere")
    (root / "S3").symlink_to(tmp_path / "S3-elsewhere")
    with pytest.raises(DataError, match=r"subject S3, file .*/ds/S3: the file is a link that "
                                        r"leads outside the dataset root"):
        open_reader("wesad", root).read_subject("S3", modalities=[])
    assert open_reader("wesad", root).read_subject("S2", modalities=[]).trials


def test_generic_table_named_by_the_sidecar_must_be_inside(tmp_path, outside):
    from helo.synth import generate
    root = tmp_path / "ds"
    generate("generic", root, seed=0, preset="tiny", progress=False)
    (root / "helo.json").write_text(json.dumps({"table": str(outside)}))
    with pytest.raises(DataError) as err:
        open_reader("generic", root).subjects()
    assert str(err.value) == (f"file {outside}: the file lies outside the dataset root {root};"
                              f" refused: dataset files must lie inside the root (a root that is "
                              f"itself a link is fine)")
    _no_echo(str(err.value))
    (root / "helo.json").write_text(json.dumps({"table": ["features.csv"]}))
    with pytest.raises(DataError, match=r"helo\.json: sidecar key 'table' must be a string, "
                                        r"not list"):
        open_reader("generic", root)
    (root / "helo.json").unlink()
    alias = tmp_path / "alias"
    alias.symlink_to(root)
    assert open_reader("generic", alias).subjects()  # a root that is a link: fine


def test_inside_root_rules(tmp_path):
    root = tmp_path / "root"
    (root / "a").mkdir(parents=True)
    (root / "a" / "f.txt").write_text("x")
    (root / "in").symlink_to(root / "a" / "f.txt")
    (root / "up").symlink_to(root / ".." / "root" / "a" / "f.txt")
    (root / "out").symlink_to(tmp_path)
    (root / "loop").symlink_to(root / "loop")
    assert inside_root(root / "in", root) == root / "in"
    assert inside_root(root / "up", root) == root / "up"
    with pytest.raises(DataError, match="leads outside the dataset root"):
        inside_root(root / "out", root)
    with pytest.raises(DataError, match="link loop"):
        inside_root(root / "loop", root)
    with pytest.raises(DataError, match="lies outside the dataset root"):
        inside_root(root / ".." / "root2" / "x", root)
