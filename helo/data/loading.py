"""Loading a file so that any failure names it: one context manager for every loader.

Library loaders fail with messages that do not say which file they were reading: ``gzip``'s
``EOFError`` ("Compressed file ended before the end-of-stream marker was reached"), ``zipfile``'s
``OSError: [Errno 22] Invalid argument`` for a truncated ``.npz``, torch's ``RuntimeError:
PytorchStreamReader failed ...`` or ``UnpicklingError`` (``weights_only=True`` refusing a global),
``OverflowError``, ``KeyError``. :func:`named` turns any of them into a :class:`DataError` naming
the file, what it was meant to be and the library's own first line; ``MemoryError`` and
``KeyboardInterrupt`` pass through unchanged, and a :class:`DataError` that already names a file
is kept as it is.
"""
from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Iterator

import numpy as np

from helo.data.base import DataError

__all__ = ["named", "json_object", "npz_arrays"]

#: the longest library message quoted in an error (the first line of it)
MAX_QUOTE = 300


def _first_line(err: BaseException) -> str:
    text = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return line[:MAX_QUOTE] + ("..." if len(line) > MAX_QUOTE else "")


@contextlib.contextmanager
def named(path: str | Path, what: str, *, subject: str | None = None) -> Iterator[None]:
    """Run the block; any exception but MemoryError/KeyboardInterrupt/SystemExit becomes
    ``DataError("cannot load <what>: <Type>: <first line>", path=path)``."""
    try:
        yield
    except DataError as err:
        if err.path is None:
            raise DataError(f"cannot load {what}: {err.problem}", path=path,
                            subject=subject) from None
        raise
    except MemoryError:
        raise
    except FileNotFoundError:
        raise DataError(f"{what} is missing", path=path, subject=subject) from None
    except Exception as err:  # noqa: BLE001 - every loader failure is named the same way
        detail = _first_line(err)
        raise DataError(f"cannot load {what}: {type(err).__name__}"
                        + (f": {detail}" if detail else ""), path=path,
                        subject=subject) from None


def json_object(path: str | Path, what: str, required: tuple[str, ...] = (), *,
                subject: str | None = None, allow_nan: bool = False) -> dict:
    """The JSON object in ``path`` holding at least the keys ``required``; DataError naming the
    file otherwise. ``NaN``/``Infinity`` (not JSON; Python's reader would take them) are refused
    unless ``allow_nan``, for a caller that checks its fields one by one and names the field
    (:func:`helo.data.base.finite_number`)."""
    def refuse(token):
        raise ValueError(f"{token} is not a JSON number")

    with named(path, what, subject=subject):
        text = Path(path).read_text(encoding="utf-8")
        obj = json.loads(text) if allow_nan else json.loads(text, parse_constant=refuse)
    if not isinstance(obj, dict):
        raise DataError(f"{what} must be a JSON object, not {type(obj).__name__}", path=path,
                        subject=subject)
    missing = [k for k in required if k not in obj]
    if missing:
        raise DataError(f"{what} lacks {missing}", path=path, subject=subject)
    return obj


def npz_arrays(path: str | Path, what: str) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` at ``path`` (no pickled objects), read in full; DataError
    naming the file when it is missing, truncated or not an npz."""
    with named(path, what):
        with np.load(Path(path), allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
