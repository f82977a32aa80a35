"""Readers for DEAP (Koelstra et al., 2012): the preprocessed Python release (layout ``deap``,
:mod:`~helo.data.deap.preprocessed`) and the original BDF recordings with the ratings table and
face videos (layout ``deap-bdf``, :mod:`~helo.data.deap.bdf`); :mod:`~helo.data.deap.common`
holds what both share (channel orders, the rating scale, ``participant_ratings.csv``).

Both give a trial per video with ``trial_id`` the video id (``Experiment_id``, ``"1"`` ..
``"40"``), the four ratings (valence, arousal, dominance, liking, 1-9) as ``panas`` /
``panas_items`` and EEG in the Geneva channel order, so features and labels of the two releases
line up.
"""
from __future__ import annotations

from helo.data.deap.bdf import DeapBdfReader
from helo.data.deap.common import CHANNELS, EEG_GENEVA, EEG_TWENTE, PERIPHERAL, RATINGS, SCALE
from helo.data.deap.preprocessed import DeapReader

__all__ = ["DeapReader", "DeapBdfReader", "CHANNELS", "EEG_GENEVA", "EEG_TWENTE", "PERIPHERAL",
           "RATINGS", "SCALE"]
