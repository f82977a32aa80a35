"""MATLAB files of the DMER releases (v5 via SciPy, v7.3 via h5py), the aligned signal matrices
(signal rows, clip-id row, optional time row) and the clip ids that select trials' columns or
rows (``vids``)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from helo.data.base import ProblemCollector
from helo.data.dmer.protocol import REST_ID


def _clip_positions(trials, ids: np.ndarray, missing: str, path: Path, col: ProblemCollector):
    """``(trial, clip, positions)`` for each trial whose clip id occurs in ``ids``; an error
    (``missing`` formatted with ``clip``) for each that does not."""
    for t in trials:
        clip = int(t.trial_id)
        pos = np.flatnonzero(ids == clip)
        if pos.size == 0:
            col.error(missing.format(clip=clip), path)
            continue
        yield t, clip, pos


def _clips_without_report(ids: np.ndarray, trials, what: str, path: Path,
                          col: ProblemCollector) -> list[int]:
    """The clip ids in ``what`` in order of appearance; an error for each (but the rest id)
    that has no PANAS row among ``trials``."""
    wanted = {int(t.trial_id) for t in trials}
    present = [int(c) for c in dict.fromkeys(np.asarray(ids).tolist())]
    for clip in present:
        if clip != REST_ID and clip not in wanted:
            col.error(f"clip {clip} is in {what} but has no PANAS row (PANAS row missing)", path)
    return present


def _load_mat(path: Path, names: Sequence[str], col: ProblemCollector) -> dict:
    """Variables ``names`` (those present) of a MATLAB file; v7.3 (HDF5) files via h5py."""
    import scipy.io
    if not path.is_file():
        raise col.fail("MATLAB file is missing", path)
    try:
        return scipy.io.loadmat(str(path), variable_names=list(names))
    except NotImplementedError:
        pass  # v7.3: HDF5
    except Exception as e:
        raise col.fail(f"cannot read MATLAB file: {type(e).__name__}: {e}", path) from None
    try:
        import h5py
        out = {}
        with h5py.File(path, "r") as fh:
            for n in names:
                if n in fh:
                    out[n] = np.asarray(fh[n]).T  # MATLAB is column-major
        return out
    except Exception as e:
        raise col.fail(f"cannot read MATLAB v7.3 file: {type(e).__name__}: {e}", path) from None


def _signal_matrix(key: str, raw, n_signal: int, path: Path, col: ProblemCollector):
    """``(signal rows (n_signal, N), clip ids (N,))`` of an aligned signal matrix: the signal
    rows, then the clip-id row, then optionally the time row (``n_signal + 2`` rows, the aligned
    release) -- or the clip-id row last (``n_signal + 1`` rows, as the dataset authors' own code
    reads it). Stored transposed (N rows) is accepted."""
    arr = np.asarray(raw, dtype=np.float64)
    shapes = (n_signal + 2, n_signal + 1)
    if arr.ndim != 2 or not any(r in arr.shape for r in shapes):
        raise col.fail(f"{key} has shape {arr.shape}, expected ({n_signal} signal rows + a "
                       f"clip-id row [+ a time row], N): ({n_signal + 1} or {n_signal + 2}, N)",
                       path)
    if arr.shape[0] not in shapes:
        arr = arr.T
    id_row = n_signal  # the row after the signals, whether a time row follows or not
    ids = arr[id_row]
    if np.isnan(ids).any():
        raise col.fail(f"{key}: the clip-id row (row {id_row + 1}) has NaN", path)
    if (ids != np.round(ids)).any():
        raise col.fail(f"{key}: the clip-id row (row {id_row + 1}) holds non-integers: is it "
                       f"the clip-id row?", path)
    return arr[:n_signal], ids.astype(np.int64)



def _clip_ids_in_order(ids: np.ndarray, what: str, path: Path, col: ProblemCollector) -> list[int]:
    """Distinct clip ids of ``ids`` in order of first appearance, without the rest id (40);
    an error for any other id outside 0..31."""
    out = []
    for c in dict.fromkeys(np.asarray(ids).astype(np.int64).tolist()):
        if c == REST_ID:
            continue
        if not 0 <= c <= 31:
            raise col.fail(f"{what} holds clip id {c}, not a DMER clip (0..31) nor rest (40)",
                           path)
        out.append(int(c))
    return out
