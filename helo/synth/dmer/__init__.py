"""Seeded synthetic DMER: writes the raw, aligned or features release layout plus its ground truth.

``generate_dmer(out, layout="raw", seed=0, preset="default", **overrides)`` writes a complete
dataset under ``out`` in the layout the readers in :mod:`helo.data.dmer` read, and
returns the ground truth (also written as ``out/_ground_truth.json``; readers ignore it).

How the emotion gets into the data
----------------------------------
Each trial's 10 PANAS scores (integers 1-5, DMER item order) come from the clip category
(positive clips 0-7 raise Inspired..Determined, negative clips 8-15 raise Afraid..Distressed,
mixed clips 16-31 raise both), a clip intensity shared by all subjects, a per-subject reporting
bias per item, and noise. From the *written* scores three latent values are derived:
``pos`` = mean positive score on 0..1, ``neg`` likewise, ``arousal`` (a mix of both), and these
drive every signal:

* EEG (300 Hz, 18 channels, microvolts): per-channel 1/f background plus delta/theta/alpha/beta/
  gamma bumps whose power scales with affect (alpha falls with arousal, beta rises with arousal
  and negative affect, gamma rises with positive affect, theta with negative affect) and a
  frontal alpha asymmetry (left frontal alpha lower, right higher, with ``pos - neg``);
* GSR (4 Hz, microsiemens): tonic level rising with negative affect/arousal (first-order lag),
  phasic SCRs whose rate and amplitude grow with arousal;
* PPG (100 Hz, raw units): pulse train whose heart rate rises with arousal and negative affect
  and whose beat-to-beat variability falls with negative affect;
* face video: a drawn face (skin ellipse, hair, eyes, brows, nose, mouth) whose mouth curvature
  follows ``pos - neg``, brows lower and tilt with ``neg``, eyes open with arousal; small head
  motion and pixel noise on every frame. It is detected by OpenCV's frontal-face Haar cascade.

Every effect size, baseline and noise level is drawn per subject (subject offsets, response
gains, skin tone, face size...), so leave-one-subject-out is harder than within-subject.
A subject's data depend only on ``(seed, subject id)``, not on which other subjects are generated.

Modules, in the order the generator runs them: :mod:`~helo.synth.dmer.config` (presets,
:class:`DmerSynthConfig`), :mod:`~helo.synth.dmer.truth` (self-reports and affect),
:mod:`~helo.synth.dmer.plan` (the session timeline), :mod:`~helo.synth.dmer.signals` (EEG, GSR,
PPG), :mod:`~helo.synth.dmer.face_video`, :mod:`~helo.synth.dmer.writers` (file formats),
:mod:`~helo.synth.dmer.layouts` (one writer per layout) and :mod:`~helo.synth.dmer.generate`
(:func:`generate_dmer`). The channel list and the clips' categories are the reader's
(:mod:`helo.data.dmer.protocol`).
"""
from __future__ import annotations

from helo.data.dmer.protocol import EEG_CHANNELS, clip_category
from helo.synth.dmer.config import (
                                    BANDS,
                                    LAYOUTS,
                                    MISSING_IDS,
                                    PRESETS,
                                    RELEASED_IDS,
                                    DmerSynthConfig,
                                    make_config,
)
from helo.synth.dmer.face_video import draw_face
from helo.synth.dmer.generate import generate_dmer
from helo.synth.dmer.layouts import FEATURE_DIMS
from helo.synth.dmer.signals import eeg_band_gains

__all__ = ["generate_dmer", "make_config", "DmerSynthConfig", "PRESETS", "RELEASED_IDS",
           "MISSING_IDS", "EEG_CHANNELS", "BANDS", "FEATURE_DIMS", "draw_face", "clip_category",
           "eeg_band_gains", "LAYOUTS"]
