"""Reading one BIDS table (``_events.tsv``, ``_beh.tsv``, ``_physio.tsv.gz``) with every failure
named by its file."""
from __future__ import annotations

from pathlib import Path

from helo.data.base import ProblemCollector


def read_tsv(path: Path, col: ProblemCollector, **kw):
    """The tab-separated table at ``path`` (``n/a`` read as missing, nothing else); DataError
    naming the file for anything unreadable: a truncated or corrupt gzip (``EOFError``,
    ``BadGzipFile``, ``zlib.error``), bad bytes, a parser failure, an I/O error."""
    import gzip
    import zlib

    import pandas as pd
    try:
        return pd.read_csv(path, sep="\t", na_values=["n/a"], keep_default_na=False, **kw)
    except (EOFError, gzip.BadGzipFile, zlib.error) as e:
        raise col.fail(f"the gzip file is truncated or corrupt ({type(e).__name__}: {e})",
                       path) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, OSError,
            OverflowError, UnicodeDecodeError) as e:
        raise col.fail(f"cannot read table: {type(e).__name__}: {e}", path) from None


def where(path: Path, line: int, onset: float | None = None) -> str:
    """``<file name> row <line>`` (the row's line in the file, the header being line 1), with
    ``(onset <s> s)`` for an event: how messages point at one row."""
    at = f" (onset {onset:.10g} s)" if onset is not None else ""
    return f"{Path(path).name} row {line}{at}"


def two_rows(first: tuple, second: tuple) -> str:
    """Two rows named for a message, ``(path, line[, onset])`` each: the file named once when
    both rows are in it (``rows 2 (onset 1 s) and 5 (onset 9 s) of a_events.tsv``), else
    ``a_events.tsv row 2 (onset 1 s) and b_events.tsv row 3 (onset 4 s)``."""
    if Path(first[0]) == Path(second[0]):
        a, b = (where(*r).split(" row ", 1)[1] for r in (first, second))
        return f"rows {a} and {b} of {Path(first[0]).name}"
    return f"{where(*first)} and {where(*second)}"
