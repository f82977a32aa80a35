"""The DMER protocol as every DMER reader (and the synthetic generator) sees it: the 18 EEG
channels, the modalities, the nominal sampling rates, the rest marker and the clips' categories."""
from __future__ import annotations

EEG_CHANNELS = ["P3", "C3", "F3", "Fz", "F4", "C4", "P4", "Cz", "Fp1", "Fp2", "T3", "T5", "O1",
                "O2", "F7", "F8", "T6", "T4"]
MODALITIES = ["eeg", "gsr", "ppg", "video"]
SIGNALS = ["eeg", "gsr", "ppg"]
NOMINAL_FS = {"eeg": 300.0, "gsr": 4.0, "ppg": 100.0}
REST_ID = 40


#: the clips' categories: ids 0-7 positive, 8-15 negative, 16-31 mixed (32 clips)
CLIP_CATEGORIES = {"positive": range(0, 8), "negative": range(8, 16), "mixed": range(16, 32)}


def clip_category(clip: int) -> str:
    for name, ids in CLIP_CATEGORIES.items():
        if ids.start <= clip < ids.stop:
            return name
    raise ValueError(f"DMER clip ids are 0..31, got {clip}")


__all__ = ["EEG_CHANNELS", "MODALITIES", "SIGNALS", "NOMINAL_FS", "REST_ID",
           "CLIP_CATEGORIES", "clip_category"]
