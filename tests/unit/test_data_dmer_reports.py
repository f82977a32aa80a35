"""The self-report CSVs (helo.data.dmer.reports)."""
from __future__ import annotations

import os

import pytest

from helo.data.base import DataError

os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.mark.parametrize("clip", ["inf", "nan", "1e400"])
def test_non_finite_clip_id_is_named(tmp_path, clip):
    """a clip id that parses as a float but is not finite: the file and line, no
    OverflowError"""
    from helo.data.base import ProblemCollector
    from helo.data.dmer.reports import _read_report
    p = tmp_path / "1_panas.csv"
    p.write_text(f"{clip}," + ",".join(["3"] * 10) + "\n")
    with pytest.raises(DataError) as err:
        _read_report(p, 10, ProblemCollector("1"), "PANAS")
    assert str(err.value) == (f"subject 1, file {p}: line 1: clip id {clip!r} is not a DMER "
                              f"clip (0..31)")
