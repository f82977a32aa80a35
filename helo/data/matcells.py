"""MATLAB v5 files of cells and structs (DREAMER, AMIGOS): loading with errors that name the
file, and the few accessors a reader needs to walk cells and structs whatever their shape.

Files are read with ``scipy.io.loadmat(squeeze_me=False, struct_as_record=False)``: numeric
arrays keep their MATLAB shape (a one-sample trial stays ``1 x 14``), a cell array is an object
array, a struct is a ``mat_struct`` wrapped in a ``1 x 1`` object array. :func:`one` removes
that wrapping, :func:`cells` lists a cell array's elements (a ``1 x n`` or ``n x 1`` cell, or a
struct array, alike), :func:`field` reads a struct field and names the fields there are when it
is absent. A MATLAB v7.3 (HDF5) file is refused with a message saying how to re-save it: the
DREAMER and AMIGOS releases are v5 files (SciPy reads them), so a v7.3 file is a re-saved copy.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from helo.data.base import DataError

__all__ = ["load_mat", "one", "cells", "field", "fields", "text", "number", "matrix"]


def load_mat(path: str | Path, *, subject: str | None = None,
             variable_names: Sequence[str] | None = None, what: str = "MATLAB file") -> dict:
    """The variables of a MATLAB v5 file; :class:`DataError` naming the file when it is missing,
    truncated, corrupt or a v7.3 (HDF5) file."""
    import scipy.io
    path = Path(path)
    if not path.is_file():
        raise DataError(f"missing {what} {path.name}", path=path, subject=subject)
    try:
        return scipy.io.loadmat(str(path), squeeze_me=False, struct_as_record=False,
                                chars_as_strings=True, verify_compressed_data_integrity=True,
                                variable_names=list(variable_names) if variable_names else None)
    except MemoryError:
        raise
    except Exception as err:  # noqa: BLE001 - SciPy raises many types for a damaged file
        if isinstance(err, NotImplementedError) or _is_hdf5(path):
            raise DataError(f"{what} is a MATLAB v7.3 (HDF5) file; the release is a v5 "
                            f"MAT-file: re-save it in MATLAB with save(name, '-v7')", path=path,
                            subject=subject) from None
        raise DataError(f"cannot read {what} ({type(err).__name__}: {err}): the file is "
                        f"truncated or corrupt", path=path, subject=subject) from None


def _is_hdf5(path: Path) -> bool:
    """Whether the HDF5 signature opens the file or its 512-byte MATLAB user block ends."""
    with open(path, "rb") as fh:
        head = fh.read(520)
    return any(head[k:k + 8] == b"\x89HDF\r\n\x1a\n" for k in (0, 512))


def one(x):
    """``x`` without the ``1 x 1`` object-array wrapping MATLAB cells and structs get."""
    while isinstance(x, np.ndarray) and x.dtype == object and x.size == 1:
        x = x.reshape(-1)[0]
    return x


def cells(x) -> list:
    """The elements of a cell (or struct) array in order; ``[]`` for an empty one; a value that
    is not a cell array is a cell of one."""
    if isinstance(x, np.ndarray) and x.dtype == object:
        flat = x.reshape(-1, order="F") if x.ndim == 2 and min(x.shape) > 1 else x.reshape(-1)
        return [one(c) if isinstance(c, np.ndarray) and c.dtype == object else c for c in flat]
    return [x]


def fields(struct) -> list[str]:
    """Field names of a struct (``[]`` when ``struct`` is not one)."""
    return list(getattr(one(struct), "_fieldnames", None) or [])


def field(struct, name: str, *, path, subject: str | None = None, where: str = "struct"):
    """Field ``name`` of ``struct``; :class:`DataError` naming the fields there are when it is
    absent or ``struct`` is not a struct."""
    s = one(struct)
    names = fields(s)
    if not names:
        raise DataError(f"{where} is not a MATLAB struct (found {_describe(s)})", path=path,
                        subject=subject)
    if name not in names:
        raise DataError(f"{where} has no field {name!r} (fields: {', '.join(names)})",
                        path=path, subject=subject)
    return getattr(s, name)


def text(x) -> str:
    """A char array (or a cell holding one) as a string; ``""`` for an empty one."""
    x = one(x)
    if isinstance(x, str):
        return x
    if isinstance(x, np.ndarray):
        if x.size == 0:
            return ""
        if x.dtype.kind == "U":
            return "".join(str(v) for v in x.reshape(-1))
        if x.size == 1:
            v = x.reshape(-1)[0]
            return str(int(v)) if float(v).is_integer() else str(v)
    return str(x)


def number(x, *, path, subject: str | None = None, what: str = "value") -> float:
    """A ``1 x 1`` numeric array as a float; :class:`DataError` otherwise."""
    x = one(x)
    arr = np.asarray(x)
    if arr.dtype.kind not in "fiub" or arr.size != 1:
        raise DataError(f"{what} must be one number, found {_describe(x)}", path=path,
                        subject=subject)
    return float(arr.reshape(-1)[0])


def matrix(x, n_cols: int, *, path, subject: str | None = None, what: str = "array"
           ) -> np.ndarray:
    """A numeric ``samples x n_cols`` array as float64 (one stored ``n_cols x samples`` is
    turned round); :class:`DataError` naming ``what`` and the shape otherwise."""
    x = one(x)
    if not isinstance(x, np.ndarray) or x.dtype.kind not in "fiub":
        raise DataError(f"{what} is not a numeric array (found {_describe(x)})", path=path,
                        subject=subject)
    if x.ndim != 2:
        raise DataError(f"{what} has shape {x.shape}, expected (samples, {n_cols})", path=path,
                        subject=subject)
    if x.shape[1] != n_cols and x.shape[0] == n_cols:
        x = x.T
    if x.shape[1] != n_cols:
        raise DataError(f"{what} has shape {x.shape}, expected (samples, {n_cols}): a column "
                        f"is missing or the array is truncated", path=path, subject=subject)
    return np.asarray(x, dtype=np.float64)


def _describe(x) -> str:
    if isinstance(x, np.ndarray):
        return f"{x.dtype} array of shape {x.shape}"
    return type(x).__name__
