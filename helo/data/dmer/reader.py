"""What the four DMER readers share: :class:`_DmerReader` (``read_subject`` and ``check`` over
a layout's ``_read``, the subject folders, link refusal, source files), the modality choice and
the NaN warning of a cut signal."""
from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Sequence

import numpy as np

from helo.data.base import (
    DataError,
    Problem,
    ProblemCollector,
    Subject,
    dataset_files,
    refuse_outside_links,
    safe_id,
)
from helo.data.dmer.protocol import MODALITIES


def _resolve_modalities(modalities: Sequence[str] | None, allowed: Sequence[str]) -> list[str]:
    if modalities is None:
        return list(allowed)
    mods = [m.lower() for m in modalities]
    bad = [m for m in mods if m not in allowed]
    if bad:
        raise ValueError(f"unknown DMER modalities {bad}; choose from {list(allowed)}")
    return mods



def _nan_warning(x: np.ndarray, what: str, clip: int, path, col: ProblemCollector) -> None:
    bad = int(np.isnan(x).sum())
    if bad:
        col.warn(f"{what} of clip {clip} has {bad} NaN value(s) (kept as NaN)", path)



class _DmerReader(ABC):
    layout = "dmer"
    _modalities = MODALITIES

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def modalities(self) -> list[str]:
        return list(self._modalities)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.root)!r})"

    def read_subject(self, subject_id: str, modalities: Sequence[str] | None = None) -> Subject:
        sid = safe_id(subject_id, path=self.root)  # it becomes part of paths below
        mods = _resolve_modalities(modalities, self._modalities)
        col = ProblemCollector(sid)
        self._refuse_links(sid)
        subject = self._read(sid, mods, col, deep=False)
        col.raise_errors()
        subject.warnings = col.warning_texts
        return subject

    def check(self) -> list[Problem]:
        problems: list[Problem] = []
        if not self.root.is_dir():
            return [Problem(None, str(self.root), "dataset root does not exist")]
        sids = self.subjects()
        if not sids:
            from helo.data import no_subjects_message
            problems.append(Problem(None, str(self.root),
                                    no_subjects_message(self.layout, self.root)))
        dups = self.duplicate_subjects() if hasattr(self, "duplicate_subjects") else {}
        for sid, why in dups.items():
            problems.append(Problem(sid, str(self.root / sid), why))
        for sid in sids:
            col = ProblemCollector(sid)
            try:
                self._refuse_links(sid)
                self._read(sid, list(self._modalities), col, deep=True)
            except DataError as e:
                col.add(e)
            except Exception as e:  # never let one subject stop the others
                col.error(f"unexpected {type(e).__name__}: {e}")
            problems.extend(col.problems)
        return problems

    @abstractmethod
    def _read(self, sid: str, mods: list[str], col: ProblemCollector, deep: bool) -> Subject:
        """One subject of the layout (each layout's reader)."""

    def _refuse_links(self, sid: str) -> None:
        """DataError naming any of the subject's files (``<root>/<sid>/``, ``<root>/<sid>.mat``)
        that is a link leading outside the root, before anything is read."""
        refuse_outside_links(self.root, [self.root / sid, self.root / f"{sid}.mat"],
                             subject=sid)

    def source_files(self, subject_id: str) -> list[Path]:
        """Files the subject's features may come from: ``<root>/<sid>/`` and the files directly
        in the root (``<sid>.mat`` of the features release among them)."""
        return dataset_files(self.root, [self.root / safe_id(subject_id, path=self.root)])

    @staticmethod
    def _numeric_dirs(root: Path) -> list[str]:
        if not root.is_dir():
            return []
        return sorted((p.name for p in root.iterdir() if p.is_dir() and p.name.isdigit()), key=int)

