"""EEG channel names: one normalisation, used by every reader that reads EEG (DMER, BIDS).

Real files spell the same electrode in many ways: ``FP1``, ``Fp1.`` (PhysioNet's EEGMMIDB pads
labels with dots to four characters: ``Fc5.``, ``Iz..``), ``EEG Fp1-REF`` (EDF exports),
``eeg_fp1``, and the old 10-20 names ``T3 T4 T5 T6`` for what the 10-10 system calls
``T7 T8 P7 P8``. :func:`normalise_channel` maps all of them to one spelling:

1. surrounding blanks and trailing dots are removed (``Fp1.`` -> ``Fp1``, ``Iz..`` -> ``Iz``);
2. a leading ``EEG``/``EXG`` type word (followed by a blank, ``_`` or ``-``) is removed, and a
   trailing reference (``-REF``, ``-Pz``, ``-A1``, ``-A2``, ``-LE``, ``-AVG``, ``-Cz``, ``-M1``,
   ``-M2``, separated by ``-``, ``_`` or a blank) is removed: the reference is the montage, not
   the electrode;
3. the case of the 10-20/10-10 system: upper case, except ``Fp`` and a trailing midline ``z``
   (``FP1`` -> ``Fp1``, ``fcz`` -> ``FCz``, ``AFZ`` -> ``AFz``, ``cp5`` -> ``CP5``);
4. with ``aliases=True`` (default) the old names become the 10-10 ones: T3 -> T7, T4 -> T8,
   T5 -> P7, T6 -> P8 (:data:`ALIASES_10_20`);
5. any ``_`` or blank left inside the name becomes ``-`` (helo's EEG feature names are
   ``eeg_<channel>_<band>``; an underscore in the channel would make them ambiguous).

A name that is not an electrode (``Trigger``, ``ECG``) goes through the same rules and comes out
upper case; readers pick EEG channels by type first and normalise the EEG ones only.
:func:`normalise_channels` normalises a list and raises ``ValueError`` when two channels land on
the same name (``T3`` and ``T7`` in one file), naming both.

Which spelling a reader *stores*: the BIDS reader stores the normalised names (so ``T3`` in a
file becomes features ``eeg_T7_*``). The DMER readers match the file's channels against DMER's
18 through this function (so ``T7`` in a DMER-like file is found as DMER's ``T3``) but keep
DMER's own names (``T3``...) as they were, so the DMER releases and models trained on them keep
their feature names.
"""
from __future__ import annotations

import re
from typing import Iterable

ALIASES_10_20 = {"T3": "T7", "T4": "T8", "T5": "P7", "T6": "P8"}

_TYPE_PREFIX = re.compile(r"^(EEG|EXG)[\s_-]+", re.IGNORECASE)
_REF_SUFFIX = re.compile(r"[\s_-](REF|PZ|A1|A2|LE|AVG|CZ|M1|M2)$", re.IGNORECASE)


def normalise_channel(name: str, *, aliases: bool = True) -> str:
    """One spelling of an EEG channel name (see the module docstring for the rules)."""
    s = str(name).strip().rstrip(".").strip()
    s = _TYPE_PREFIX.sub("", s)
    if _REF_SUFFIX.search(s) and len(_REF_SUFFIX.sub("", s)) > 0:
        s = _REF_SUFFIX.sub("", s)
    s = s.rstrip(".").strip().upper()
    if s.startswith("FP"):
        s = "Fp" + s[2:]
    if len(s) > 1 and s.endswith("Z") and s[:-1].isalpha():
        s = s[:-1] + "z"
    if aliases:
        s = ALIASES_10_20.get(s, s)
    return re.sub(r"[\s_]+", "-", s)


def normalise_channels(names: Iterable[str], *, aliases: bool = True) -> list[str]:
    """:func:`normalise_channel` of each name; ValueError when two names collide."""
    names = [str(n) for n in names]
    out = [normalise_channel(n, aliases=aliases) for n in names]
    seen: dict[str, str] = {}
    for orig, norm in zip(names, out):
        if norm in seen:
            raise ValueError(f"channels {seen[norm]!r} and {orig!r} are the same electrode "
                             f"({norm}) after name normalisation")
        seen[norm] = orig
    return out


__all__ = ["normalise_channel", "normalise_channels", "ALIASES_10_20"]
