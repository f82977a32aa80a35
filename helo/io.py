"""Atomic file writes: write to a temporary file beside the target, then rename.

A file at its final path is therefore always complete; an interrupted run leaves at most a
``.tmp-*`` file, which readers ignore and the next run of the stage removes (:func:`clean_tmp`).
Before the rename, every registered write guard (:func:`add_write_guard`) may refuse the file:
:mod:`helo.stages.ownership` refuses writes of a stage run that is no longer the current one.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Callable, Iterator

#: called with the final path before each atomic rename; raising refuses the write
_WRITE_GUARDS: list[Callable[[Path], None]] = []


def add_write_guard(guard: Callable[[Path], None]) -> None:
    if guard not in _WRITE_GUARDS:
        _WRITE_GUARDS.append(guard)


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto ``path`` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".tmp-{path.name}.", suffix=suffix or path.suffix,
                               dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        if tmp.exists():
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual mode
        for guard in _WRITE_GUARDS:
            guard(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def clean_tmp(folder: str | Path) -> list[Path]:
    """Remove the ``.tmp-*`` leftovers of an interrupted (killed) run directly in ``folder``;
    returns what was removed. Call it only where no other process is writing at the time (a
    stage cleaning its own output folder before it starts)."""
    folder = Path(folder)
    removed = []
    if folder.is_dir():
        for p in folder.glob(".tmp-*"):
            if p.is_file():
                p.unlink(missing_ok=True)
                removed.append(p)
    return removed


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | Path, obj, *, significant: int | None = None) -> None:
    """Atomically write ``obj`` as indented JSON. ``significant``: round every float to that many
    significant digits first, so last-bit differences between NumPy versions or CPU instruction
    sets (e.g. AVX-512 vs AVX2 math kernels) do not change the file."""
    if significant is not None:
        obj = round_floats(obj, significant)
    write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def round_floats(obj, significant: int = 10):
    """``obj`` with every float (Python or NumPy, inside dicts, lists, tuples and arrays) rounded
    to ``significant`` significant digits; other values unchanged."""
    import numpy as np
    if isinstance(obj, dict):
        return {k: round_floats(v, significant) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [round_floats(v, significant) for v in obj]
    if isinstance(obj, np.ndarray):
        return round_floats(obj.tolist(), significant)
    if isinstance(obj, (float, np.floating)):
        return float(f"{float(obj):.{significant}g}")
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def _json_default(o):
    import numpy as np
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o)}")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def read_yaml(text: str):
    """Parse YAML text with PyYAML's safe loader, through libyaml's C parser when PyYAML was
    built with it (the same objects, about 10 times faster on ``params.yaml``, which every stage
    command reads: ``benchmarks/bench_orchestration.py --yaml-reads``). ``None`` for an empty
    document."""
    import yaml
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader
