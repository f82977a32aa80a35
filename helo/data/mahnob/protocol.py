"""MAHNOB-HCI's emotion experiment as the reader (and the synthetic generator) sees it: the BDF's
channels, the self-report attributes of ``session.xml`` and their scales, the felt-emotion
codes, and the file names of a session folder."""
from __future__ import annotations

import re

#: the 32 EEG channels of the BioSemi cap in the order the BDF stores them (the DEAP/BioSemi
#: "Geneva" order, TorchEEG's ``MAHNOB_CHANNEL_LIST``)
EEG_CHANNELS = ["Fp1", "AF3", "F3", "F7", "FC5", "FC1", "C3", "T7", "CP5", "CP1", "P3", "P7",
                "PO3", "O1", "Oz", "Pz", "Fp2", "AF4", "Fz", "F4", "F8", "FC6", "FC2", "Cz",
                "C4", "T8", "CP6", "CP2", "P4", "P8", "PO4", "O2"]
#: the BDF's other channels, after the EEG: EXG1-3 the ECG electrodes (EXG1 upper right of the
#: chest, EXG2 upper left, EXG3 left abdomen), EXG4-8 unused, GSR1 skin resistance (Ohm), GSR2
#: and Erg1/2 unused, Resp the respiration belt, Temp skin temperature, Status the markers
OTHER_CHANNELS = ["EXG1", "EXG2", "EXG3", "EXG4", "EXG5", "EXG6", "EXG7", "EXG8", "GSR1",
                  "GSR2", "Erg1", "Erg2", "Resp", "Temp", "Status"]
STATUS = "Status"
GSR_CHANNEL = "GSR1"
#: the default ECG signal: the left-abdomen electrode (a lead such as ``EXG3-EXG1`` is an option)
ECG_LEAD = "EXG3"
MODALITIES = ["eeg", "ecg", "gsr", "video"]
SIGNALS = ["eeg", "ecg", "gsr"]

#: ``session.xml`` attribute -> self-report name (each rated 1..9)
RATINGS = {"feltVlnc": "valence", "feltArsl": "arousal", "feltCtrl": "control",
           "feltPred": "predictability"}
SCALE = (1, 9)
#: ``feltEmo``: the emotional keyword the participant chose, by code
EMOTIONS = {0: "neutral", 1: "anger", 2: "disgust", 3: "fear", 4: "joy", 5: "sadness",
            6: "surprise", 11: "amusement", 12: "anxiety"}
#: the label values of a trial (``Trial.panas_items``): the four ratings, then the felt emotion
#: one-hot (``felt_<keyword>``; all NaN when the session has no ``feltEmo``)
ITEMS = list(RATINGS.values()) + [f"felt_{name}" for name in EMOTIONS.values()]

#: ``Part_<subject>_<N|S>_Trial<k>_emotion.bdf`` (emotion experiment: N the neutral clip shown
#: before stimulus k, S the stimulus) or ``Part_<subject>_Trial<k>_tagging<...>.bdf``
BDF_NAME = re.compile(r"^Part_(?P<subject>\d+)_(?:(?P<ns>[NS])_)?Trial(?P<trial>\d+)_"
                      r"(?P<experiment>[A-Za-z0-9]+)\.bdf$", re.IGNORECASE)
#: the frontal colour camera (camera 1) of a session: ``P<subject>-Rec<r>-<date>_C1 trigger
#: _C_Section_<n>.avi``; the other cameras, the audio and the gaze ``.tsv`` are not read
FRONTAL_VIDEO = re.compile(r"C1 trigger.*\.avi$", re.IGNORECASE)

__all__ = ["EEG_CHANNELS", "OTHER_CHANNELS", "STATUS", "GSR_CHANNEL", "ECG_LEAD", "MODALITIES",
           "SIGNALS", "RATINGS", "SCALE", "EMOTIONS", "ITEMS", "BDF_NAME", "FRONTAL_VIDEO"]
