"""A restricted unpickler for data files that hold only containers and numpy arrays.

Unpickling an untrusted file can run arbitrary code (a pickle may name any importable callable,
``os.system`` included, and ask the loader to call it). The WESAD ``SX.pkl`` files are plain
nested dicts of numpy arrays, so :func:`safe_load` admits only the globals that rebuilding numpy
arrays and plain containers needs and refuses every other one *before* it is looked up, let
alone called. After loading, the result is walked once more to make sure it holds only dicts,
lists, tuples, sets, strings, bytes, numbers and numeric (or string) numpy arrays.

Resources are bounded too, so a small hostile file can neither hang the loader nor exhaust
memory:

* No allocator is admitted (``bytearray(n)``, ``numpy.ndarray(shape)``, ``list``/``dict``/
  ``tuple`` copies are not in the allow-list). The callables that are admitted run through
  guards that charge what they would create (array bytes of ``_reconstruct`` and of the array
  state set by ``BUILD``, scalar bytes, set sizes, encoded string lengths) to one budget of
  ``BUDGET_FACTOR x file size + BUDGET_SLACK`` bytes. A genuine pickle's arrays are made from
  bytes that lie in the file, so they stay far below it; a pickle that asks for more is refused
  before anything is allocated.
* The post-load walk is iterative and remembers every object it has seen (a set of ``id``):
  a container reached a second time (memo references making a DAG or a cycle, e.g. a list
  holding the same list twice, 40 levels deep: 2^40 paths in a few hundred bytes) is refused at
  once (data files are trees), so the walk is linear in the number of objects, itself bounded
  by the file size. Nesting is capped at :data:`MAX_DEPTH`.
* Length-prefixed strings are checked against the bytes left in the file before a buffer is
  allocated; protocol 5's ``BYTEARRAY8`` is refused.
* ``MemoryError``/``RecursionError`` while loading are reported as :class:`DataError` naming
  the file, like any other unreadable pickle.

Python-2 pickles (protocol 2, the real WESAD files) load with ``encoding="latin1"``, which turns
the Python-2 ``str`` payload of each array back into the raw bytes numpy expects. The loader is
pickle's pure-Python one (its per-opcode dispatch is what lets ``BUILD`` be charged); a WESAD
file is a few dozen large byte strings, so that costs little.
"""
from __future__ import annotations

import io
import math
import os
import pickle
import struct
from pathlib import Path
from typing import IO, Any

import numpy as np

from helo.data.base import DataError

__all__ = ["safe_load", "safe_loads", "UnsafePickleError", "ALLOWED_GLOBALS", "MAX_DEPTH",
           "BUDGET_FACTOR", "BUDGET_SLACK"]

#: deepest nesting of containers a data pickle may have
MAX_DEPTH = 64
#: the bytes a pickle may make objects of: this many times its own size ...
BUDGET_FACTOR = 4
#: ... plus this much
BUDGET_SLACK = 1 << 20


class UnsafePickleError(DataError):
    """A pickle names a global outside the allow-list, loads to a disallowed object or asks
    for more memory than its size justifies."""


_NUMPY_MULTIARRAY = ("numpy.core.multiarray", "numpy._core.multiarray")

#: (module, name) pairs a pickle may reference. Module spellings cover numpy 1.x
#: (``numpy.core``), numpy 2.x (``numpy._core``), Python 2 (``__builtin__``) and Python 3.
#: ``numpy.ndarray`` is admitted only as the class argument of ``_reconstruct`` (calling it
#: is refused); no allocator (``bytearray``, ``list``, ``dict``, ``tuple``) is admitted.
ALLOWED_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    [(m, "_reconstruct") for m in _NUMPY_MULTIARRAY]
    + [(m, "scalar") for m in _NUMPY_MULTIARRAY]
    + [("numpy", "ndarray"), ("numpy", "dtype")]
    + [(m, "ndarray") for m in _NUMPY_MULTIARRAY]
    + [(m, "dtype") for m in _NUMPY_MULTIARRAY]
    # Python 3 writes bytes at protocol <= 2 as _codecs.encode(str, "latin1")
    + [("_codecs", "encode")]
    + [(b, n) for b in ("builtins", "__builtin__") for n in ("set", "frozenset", "complex")]
)

_LATIN1 = {"latin1", "latin-1", "iso-8859-1", "iso8859-1", "l1"}


def _describe(source: Any) -> str:
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    return str(getattr(source, "name", "<file object>"))


class _NdarrayClass:
    """What the global ``numpy.ndarray`` loads as: usable only as ``_reconstruct``'s class."""

    def __init__(self, unpickler: "_RestrictedUnpickler"):
        self._u = unpickler

    def __call__(self, *args, **kw):
        raise self._u.refuse("the pickle calls numpy.ndarray directly (an allocator); only "
                             "numpy's own _reconstruct form is allowed")


class _RestrictedUnpickler(pickle._Unpickler):  # the pure-Python loader: see the module doc
    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, file: IO[bytes], *, encoding: str, source: str, size: int | None):
        super().__init__(file, encoding=encoding, fix_imports=True)
        self._source = source
        self.size = size
        self.budget = (BUDGET_FACTOR * size + BUDGET_SLACK) if size is not None else None
        self.spent = 0

    def refuse(self, message: str) -> UnsafePickleError:
        return UnsafePickleError(message, path=self._source)

    def charge(self, n: int, what: str) -> None:
        if self.budget is None:
            return
        self.spent += max(int(n), 0)
        if self.spent > self.budget:
            raise self.refuse(f"{what} would take the pickle's objects past "
                              f"{self.budget} bytes ({BUDGET_FACTOR} x its {self.size} bytes "
                              f"+ {BUDGET_SLACK}): refused before allocating")

    # -- globals --------------------------------------------------------------------------
    def find_class(self, module: str, name: str):  # noqa: D401 - pickle API
        if (module, name) not in ALLOWED_GLOBALS:
            raise self.refuse(
                f"refused to unpickle global '{module}.{name}': only numpy arrays and plain "
                f"containers are allowed (the file may be corrupted or malicious)")
        if name == "ndarray":
            return self._ndarray
        if name == "dtype":
            return np.dtype
        if name == "_reconstruct":
            return self._reconstruct
        if name == "scalar":
            return self._scalar
        if name == "encode":
            return self._encode
        if name in ("set", "frozenset"):
            return self._set if name == "set" else self._frozenset
        return complex

    @property
    def _ndarray(self):
        return _NdarrayClass(self)

    def _nbytes(self, shape, dtype, what: str) -> int:
        try:
            dt = np.dtype(dtype)
            dims = (shape,) if isinstance(shape, int) else tuple(int(s) for s in shape)
        except Exception as err:
            raise self.refuse(f"{what}: bad shape or dtype ({type(err).__name__}: {err})")
        if any(d < 0 for d in dims):
            raise self.refuse(f"{what}: negative dimension in {dims}")
        return math.prod(dims) * max(dt.itemsize, 1)

    def _reconstruct(self, cls, shape, dtype):
        if not isinstance(cls, _NdarrayClass):
            raise self.refuse(f"_reconstruct of {type(cls).__name__}: only numpy.ndarray is "
                              f"allowed")
        if isinstance(dtype, (bytes, str)):
            dtype = np.dtype("b")  # what numpy writes: the dtype comes with the state
        self.charge(self._nbytes(shape, dtype, "_reconstruct"), f"an array of shape {shape}")
        return np.ndarray.__new__(np.ndarray, shape, dtype)

    def _scalar(self, dtype, data=None):
        dt = np.dtype(dtype)
        self.charge(dt.itemsize, f"a {dt} scalar")
        return _numpy_scalar()(dt, data) if data is not None else _numpy_scalar()(dt)

    def _encode(self, obj, encoding="utf-8", errors="strict"):
        if not isinstance(obj, str) or str(encoding).lower() not in _LATIN1:
            raise self.refuse(f"_codecs.encode with {type(obj).__name__} / {encoding!r}: only "
                              f"str with latin1 (Python 3's bytes at protocol 2) is allowed")
        self.charge(len(obj), "an encoded string")
        return obj.encode("latin1", errors)

    def _sized(self, arg, what):
        try:
            n = len(arg)
        except TypeError:
            raise self.refuse(f"{what} of a {type(arg).__name__}") from None
        if not isinstance(arg, (list, tuple, set, frozenset)):
            raise self.refuse(f"{what} of a {type(arg).__name__}: only of a list or tuple")
        self.charge(n * 8, what)

    def _set(self, arg=()):
        self._sized(arg, "set")
        return set(arg)

    def _frozenset(self, arg=()):
        self._sized(arg, "frozenset")
        return frozenset(arg)

    # -- BUILD: an array's state is charged before numpy copies it ------------------------
    def load_build(self):
        state = self.stack[-1]
        inst = self.stack[-2]
        if isinstance(inst, np.ndarray):
            if not (isinstance(state, tuple) and len(state) in (4, 5)):
                raise self.refuse("numpy array with a malformed state")
            shape, dtype = state[-4], state[-3]
            self.charge(self._nbytes(shape, dtype, "array state"),
                        f"an array of shape {shape}")
        elif not isinstance(inst, np.dtype):
            raise self.refuse(f"BUILD on a {type(inst).__name__}: only numpy arrays and dtypes "
                              f"carry a state")
        pickle._Unpickler.load_build(self)

    dispatch[pickle.BUILD[0]] = load_build

    def load_bytearray8(self):  # protocol 5 makes a bytearray without naming a global
        raise self.refuse("the pickle builds a bytearray (BYTEARRAY8): not allowed in data files")

    dispatch[pickle.BYTEARRAY8[0]] = load_bytearray8


class _Bounded:
    """A read-only view of a binary file that refuses to read past its end *before* a buffer
    is allocated (a pickle may claim a 2^60-byte string in 9 bytes)."""

    def __init__(self, fh, size: int, source: str):
        self._fh, self._left, self._source = fh, size, source
        self.name = source

    def _take(self, n: int) -> None:
        if n > self._left:
            raise DataError(f"not a readable pickle: it says {n} bytes follow but only "
                            f"{self._left} remain (truncated or malicious)", path=self._source)

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = self._left
        self._take(n)
        data = self._fh.read(n)
        self._left -= len(data)
        return data

    def readinto(self, buf) -> int:
        self._take(len(buf))
        got = self._fh.readinto(buf)
        self._left -= got
        return got

    def readline(self, limit: int = -1) -> bytes:
        line = self._fh.readline(self._left if limit is None or limit < 0 else
                                 min(limit, self._left))
        self._left -= len(line)
        return line


def _numpy_scalar():
    try:
        from numpy._core.multiarray import scalar  # numpy >= 2
    except ImportError:  # numpy 1.x
        from numpy.core.multiarray import scalar
    return scalar


_PLAIN = (str, bytes, int, float, complex, bool, type(None))


def _verify(obj: Any, source: str) -> None:
    """Walk ``obj`` once per distinct object (iteratively): only containers, numbers, strings
    and numeric/string numpy arrays, at most :data:`MAX_DEPTH` levels deep."""
    seen: set[int] = set()
    todo: list[tuple[Any, str, int]] = [(obj, "", 0)]
    while todo:
        obj, where, depth = todo.pop()
        if depth > MAX_DEPTH:
            raise UnsafePickleError(f"pickle nests deeper than {MAX_DEPTH} levels at "
                                    f"{where or 'top'}", path=source)
        if isinstance(obj, _PLAIN) or isinstance(obj, np.generic) and obj.dtype != object:
            continue
        if id(obj) in seen:
            if isinstance(obj, (list, dict, set)) or isinstance(obj, (tuple, frozenset)) and obj:
                raise UnsafePickleError(
                    f"one {type(obj).__name__} is reached twice (at {where or 'top'}): the "
                    f"pickle's containers form a DAG or a cycle, data files are trees",
                    path=source)
            continue
        seen.add(id(obj))
        if isinstance(obj, np.ndarray):
            if obj.dtype.hasobject:
                if obj.dtype != object:
                    raise UnsafePickleError(f"structured array with object fields at "
                                            f"{where or 'top'}", path=source)
                for k, item in enumerate(obj.ravel()):
                    if not isinstance(item, _PLAIN):
                        raise UnsafePickleError(
                            f"object array at {where or 'top'} holds a {type(item).__name__} "
                            f"(element {k}); only strings and numbers are allowed", path=source)
            continue
        if isinstance(obj, dict):
            for key, value in obj.items():
                if not isinstance(key, (str, bytes, int, float, bool, tuple)):
                    raise UnsafePickleError(f"dict key of type {type(key).__name__} at "
                                            f"{where or 'top'}", path=source)
                todo.append((value, f"{where}[{key!r}]", depth + 1))
            continue
        if isinstance(obj, (list, tuple, set, frozenset)):
            for k, item in enumerate(obj):
                todo.append((item, f"{where}[{k}]", depth + 1))
            continue
        raise UnsafePickleError(f"pickle holds a {type(obj).__module__}.{type(obj).__name__} "
                                f"at {where or 'top'}; only containers, numbers, strings and "
                                f"numpy arrays are allowed", path=source)


def _size_of(fh) -> int | None:
    try:
        return os.fstat(fh.fileno()).st_size
    except (AttributeError, OSError, io.UnsupportedOperation):
        pass
    try:
        here = fh.tell()
        fh.seek(0, os.SEEK_END)
        end = fh.tell()
        fh.seek(here)
        return end - here
    except (AttributeError, OSError):
        return None


def _load(fh, encoding: str, source: str) -> Any:
    size = _size_of(fh)
    if size is not None:
        fh = _Bounded(fh, size, source)
    return _RestrictedUnpickler(fh, encoding=encoding, source=source, size=size).load()


def safe_load(path_or_file: str | os.PathLike | IO[bytes], *, encoding: str = "latin1") -> Any:
    """Load a pickle that may hold only dicts/lists/tuples/sets/str/bytes/numbers/numpy arrays.

    Raises :class:`UnsafePickleError` (a :class:`DataError`) naming the file and the refused
    global, object or allocation, and :class:`DataError` when the file is missing, truncated,
    not a pickle, or exhausts memory or the recursion limit while loading. Nothing the pickle
    names outside the allow-list is ever imported or called.
    """
    source = _describe(path_or_file)
    try:
        if isinstance(path_or_file, (str, os.PathLike)):
            with open(Path(path_or_file), "rb") as fh:
                obj = _load(fh, encoding, source)
        else:
            obj = _load(path_or_file, encoding, source)
        _verify(obj, source)
    except DataError:
        raise
    except FileNotFoundError:
        raise DataError("file not found", path=source) from None
    except OSError as err:  # a folder, an I/O error: the message need not name the file
        raise DataError(f"cannot read the pickle ({type(err).__name__}: "
                        f"{err.strerror or err})", path=source) from None
    except (MemoryError, RecursionError) as err:
        raise DataError(f"not a loadable pickle: {type(err).__name__} while loading (the file "
                        f"may be corrupted or malicious)", path=source) from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            ImportError, IndexError, KeyError, UnicodeDecodeError, UnicodeEncodeError,
            OverflowError, struct.error) as err:
        raise DataError(f"not a readable pickle ({type(err).__name__}: {err})",
                        path=source) from None
    return obj


def safe_loads(data: bytes, *, encoding: str = "latin1", source: str = "<bytes>") -> Any:
    """:func:`safe_load` for a bytes object."""
    buf = io.BytesIO(data)
    buf.name = source  # type: ignore[attr-defined]
    return safe_load(buf, encoding=encoding)
