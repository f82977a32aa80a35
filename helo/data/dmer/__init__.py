"""Readers for the DMER releases: raw recordings, aligned ``datas.mat``, 913-d features, and the
per-subject feature files the dataset's authors' own code reads.

All of them return :class:`~helo.data.base.Subject` objects whose trials are the rows
of the subject's ``*_panas.csv`` (one row per trial, presentation order; without one, the clips
labelled by ``dis_label``, see :mod:`~helo.data.dmer.aligned`): ``trial_id`` is the clip id as a
string, ``order`` the row position, ``category`` positive (0-7) / negative (8-15) / mixed
(16-31), ``panas`` the 10 scores (NaN where a cell is empty) in :data:`DMER_PANAS` order, and
``extra`` holds ``arousal``, ``valence``, ``dominance`` (``Arousal_Valence.csv``, columns assumed
in that order: the real column order is unsure) and ``amusement``, ``disgust``
(``*_emotions.csv``) where those files have the clip.

Modules: :mod:`~helo.data.dmer.protocol` (channels, modalities, rates, clip categories), one
per layout (:mod:`~helo.data.dmer.raw`, :mod:`~helo.data.dmer.aligned`,
:mod:`~helo.data.dmer.features`, :mod:`~helo.data.dmer.subject_features`, each with its layout's
description) over :mod:`~helo.data.dmer.reader` (what they share), and one per file format or
record: :mod:`~helo.data.dmer.reports` (self-report CSVs), :mod:`~helo.data.dmer.markers`
(marker codes to clip spans), :mod:`~helo.data.dmer.edf`, :mod:`~helo.data.dmer.wristband`,
:mod:`~helo.data.dmer.camera`, :mod:`~helo.data.dmer.mat` (MATLAB files, signal matrices, clip-id
rows) and :mod:`~helo.data.dmer.dis_label` (``dis_label`` and the PANAS CSVs as labels).

(the first, with a count of the others); warnings land in ``Subject.warnings``. ``check()``
returns all of them, for all subjects, as :class:`Problem` objects.
"""
from __future__ import annotations

from helo.data.dmer.aligned import DmerAlignedReader
from helo.data.dmer.features import FEATURE_BLOCKS, N_SIGNAL_FEATURES, DmerFeaturesReader
from helo.data.dmer.protocol import (
    EEG_CHANNELS,
    MODALITIES,
    NOMINAL_FS,
    REST_ID,
    SIGNALS,
    clip_category,
)
from helo.data.dmer.raw import DmerRawReader
from helo.data.dmer.subject_features import (
    EMOTIONDICT_BANDS,
    SUBJECT_FEATURE_FILES,
    DmerSubjectFeaturesReader,
)
from helo.data.dmer.wristband import packet_times

__all__ = ["DmerRawReader", "DmerAlignedReader", "DmerFeaturesReader",
           "DmerSubjectFeaturesReader", "EEG_CHANNELS", "EMOTIONDICT_BANDS",
           "SUBJECT_FEATURE_FILES", "FEATURE_BLOCKS", "N_SIGNAL_FEATURES", "MODALITIES",
           "SIGNALS", "NOMINAL_FS", "REST_ID", "clip_category", "packet_times"]
