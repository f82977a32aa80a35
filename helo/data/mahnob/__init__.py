"""Reader for MAHNOB-HCI (Soleymani, Lichtenauer, Pun and Pantic, *IEEE Trans. Affective
Computing* 3(1), 2012), its emotion-elicitation experiment, as the release lays it out.

Layout (``data.root`` is the folder holding ``Sessions/``, or ``Sessions/`` itself)::

    Sessions/<session id>/session.xml
    Sessions/<session id>/Part_<p>_S_Trial<k>_emotion.bdf      physiological signals
    Sessions/<session id>/P<p>-Rec1-<date>_C1 trigger _C_Section_<n>.avi   frontal colour camera
    Sessions/<session id>/...          other cameras, audio, eye gaze (.tsv): not read

One folder per recorded session. ``session.xml``'s root ``<session>`` carries the self-reports
as attributes: ``feltVlnc``, ``feltArsl``, ``feltCtrl``, ``feltPred`` (valence, arousal,
control, predictability, 1..9), ``feltEmo`` (the emotional keyword chosen: 0 neutral, 1 anger,
2 disgust, 3 fear, 4 joy, 5 sadness, 6 surprise, 11 amusement, 12 anxiety), ``mediaFile`` (the
clip shown), ``cutLenSec`` (its length), ``isStim``; its ``<subject id="..."/>`` child names the
participant; ``<track type="Physiological" filename="..."/>`` and ``<track type="Video" ...>``
name the session's files (when absent, the folder's ``*.bdf`` and ``*C1 trigger*.avi``).

Which sessions are trials: the emotion experiment's stimulus sessions, i.e. those with felt
ratings (TorchEEG's and LibEER's rule). The neutral clip shown before each stimulus
(``Part_<p>_N_Trial<k>_emotion.bdf``, ``isStim="0"``) and the implicit-tagging experiment's
sessions have none and are skipped, counted in one warning per subject. A stimulus session
without its BDF (the release has several) is skipped with a warning naming the file; a folder
without ``session.xml`` likewise.

A trial: ``trial_id`` the clip (``mediaFile`` without extension), ``order`` ``k - 1`` of the
BDF's ``Trial<k>``, ``category`` the felt-emotion keyword, ``panas`` the label values in
:data:`~helo.data.mahnob.protocol.ITEMS` order (valence, arousal, control, predictability, then
the felt emotion's one-hot ``felt_<keyword>``), ``extra`` the ratings, the keyword and its code,
the session id, the media file, the BDF sample span of the stimulus and the video frame span.

Signals (:mod:`helo.data.mahnob.bdf`): the BDF (256 Hz in the release) is read with
``mne.io.read_raw_bdf``; the stimulus segment is the span between the two markers of the
``Status`` channel; ``eeg`` the 32 BioSemi channels (microvolts), ``ecg`` the ``EXG3``
electrode (left abdomen; ``ecg_lead`` chooses another or a difference such as ``EXG3-EXG1``),
``gsr`` ``GSR1`` converted from skin resistance (Ohm) to conductance (microsiemens,
``1e6 / ohms``). Temperature, respiration, the other EXG and the Erg channels are not read.
Video: the frontal camera's frames ``round(t * fps)`` for the stimulus' start and end times ``t``
(the video and the BDF are cut to the same section; ``fps`` from the file, else ``vidRate``).

Errors (``read_subject`` raises the first, ``check`` lists all, naming file and subject): a
truncated or non-BDF file, a Status channel without two markers, a rating outside 1..9, a
``feltEmo`` that is no keyword code, a malformed ``session.xml``, a subject id that the BDF's
name contradicts, a clip shown twice to one subject, an unreadable frontal video.
"""
from __future__ import annotations

from helo.data.mahnob.protocol import ECG_LEAD, EEG_CHANNELS, EMOTIONS, ITEMS, MODALITIES, RATINGS
from helo.data.mahnob.reader import MahnobReader

__all__ = ["MahnobReader", "EEG_CHANNELS", "EMOTIONS", "ITEMS", "MODALITIES", "RATINGS",
           "ECG_LEAD"]
