"""A restricted unpickler for data files that hold only containers and numpy arrays.

Unpickling an untrusted file can run arbitrary code (a pickle may name any importable callable,
``os.system`` included, and ask the loader to call it). The WESAD ``SX.pkl`` files are plain
nested dicts of numpy arrays, so :func:`safe_load` admits only the globals that rebuilding numpy
arrays and plain containers needs and refuses every other one *before* it is looked up, let
alone called. After loading, the result is walked once more to make sure it holds only dicts,
lists, tuples, strings, bytes, numbers and numeric (or string) numpy arrays.

Python-2 pickles (protocol 2, the real WESAD files) load with ``encoding="latin1"``, which turns
the Python-2 ``str`` payload of each array back into the raw bytes numpy expects.
"""
from __future__ import annotations

import io
import os
import pickle
import warnings
from pathlib import Path
from typing import IO, Any

import numpy as np

from helo.data.base import DataError

__all__ = ["safe_load", "safe_loads", "UnsafePickleError", "ALLOWED_GLOBALS"]


class UnsafePickleError(DataError):
    """A pickle names a global outside the allow-list, or loads to a disallowed object."""


_NUMPY_MULTIARRAY = ("numpy.core.multiarray", "numpy._core.multiarray")

#: (module, name) pairs a pickle may reference. Module spellings cover numpy 1.x
#: (``numpy.core``), numpy 2.x (``numpy._core``), Python 2 (``__builtin__``) and Python 3.
ALLOWED_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    [(m, "_reconstruct") for m in _NUMPY_MULTIARRAY]
    + [(m, "scalar") for m in _NUMPY_MULTIARRAY]
    + [("numpy", "ndarray"), ("numpy", "dtype")]
    + [(m, "ndarray") for m in _NUMPY_MULTIARRAY]
    + [(m, "dtype") for m in _NUMPY_MULTIARRAY]
    # Python 3 writes bytes at protocol <= 2 as _codecs.encode(str, "latin1"); harmless.
    + [("_codecs", "encode")]
    + [(b, n) for b in ("builtins", "__builtin__")
       for n in ("set", "frozenset", "complex", "bytearray", "list", "dict", "tuple")]
)


def _describe(source: Any) -> str:
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    return str(getattr(source, "name", "<file object>"))


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file: IO[bytes], *, encoding: str, source: str):
        super().__init__(file, encoding=encoding, fix_imports=True)
        self._source = source

    def find_class(self, module: str, name: str):  # noqa: D401 - pickle API
        if (module, name) not in ALLOWED_GLOBALS:
            raise UnsafePickleError(
                f"refused to unpickle global '{module}.{name}': only numpy arrays and plain "
                f"containers are allowed (the file may be corrupted or malicious)",
                path=self._source)
        with warnings.catch_warnings():
            # numpy>=2 warns when the numpy.core alias of old pickles is imported.
            warnings.simplefilter("ignore", DeprecationWarning)
            return super().find_class(module, name)


_PLAIN = (str, bytes, bytearray, int, float, complex, bool, type(None))


def _verify(obj: Any, source: str, where: str = "", depth: int = 0) -> None:
    if depth > 64:
        raise UnsafePickleError(f"pickle nests deeper than 64 levels at {where or 'top'}",
                                path=source)
    if isinstance(obj, _PLAIN) or isinstance(obj, np.generic) and obj.dtype != object:
        return
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            if obj.dtype != object:
                raise UnsafePickleError(f"structured array with object fields at {where or 'top'}",
                                        path=source)
            for k, item in enumerate(obj.ravel()):
                if not isinstance(item, _PLAIN):
                    raise UnsafePickleError(
                        f"object array at {where or 'top'} holds a {type(item).__name__} "
                        f"(element {k}); only strings and numbers are allowed", path=source)
        return
    if isinstance(obj, dict):
        for key, value in obj.items():
            if not isinstance(key, (str, bytes, int, float, bool, tuple)):
                raise UnsafePickleError(f"dict key of type {type(key).__name__} at "
                                        f"{where or 'top'}", path=source)
            _verify(value, source, f"{where}[{key!r}]", depth + 1)
        return
    if isinstance(obj, (list, tuple, set, frozenset)):
        for k, item in enumerate(obj):
            _verify(item, source, f"{where}[{k}]", depth + 1)
        return
    raise UnsafePickleError(f"pickle holds a {type(obj).__module__}.{type(obj).__name__} at "
                            f"{where or 'top'}; only containers, numbers, strings and numpy "
                            f"arrays are allowed", path=source)


def safe_load(path_or_file: str | os.PathLike | IO[bytes], *, encoding: str = "latin1") -> Any:
    """Load a pickle that may hold only dicts/lists/tuples/str/bytes/numbers/numpy arrays.

    Raises :class:`UnsafePickleError` (a :class:`DataError`) naming the file and the refused
    global or object, and :class:`DataError` when the file is missing, truncated or not a pickle.
    Nothing the pickle names outside the allow-list is ever imported or called.
    """
    source = _describe(path_or_file)
    try:
        if isinstance(path_or_file, (str, os.PathLike)):
            with open(Path(path_or_file), "rb") as fh:
                obj = _RestrictedUnpickler(fh, encoding=encoding, source=source).load()
        else:
            obj = _RestrictedUnpickler(path_or_file, encoding=encoding, source=source).load()
    except DataError:
        raise
    except FileNotFoundError:
        raise DataError("file not found", path=source) from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            ImportError, IndexError, KeyError, UnicodeDecodeError, OverflowError) as err:
        raise DataError(f"not a readable pickle ({type(err).__name__}: {err})",
                        path=source) from None
    _verify(obj, source)
    return obj


def safe_loads(data: bytes, *, encoding: str = "latin1", source: str = "<bytes>") -> Any:
    """:func:`safe_load` for a bytes object."""
    buf = io.BytesIO(data)
    buf.name = source  # type: ignore[attr-defined]
    return safe_load(buf, encoding=encoding)
