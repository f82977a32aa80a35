"""Feature functions, one module per modality (named after it), and the registry of modalities.

Every function is pure: arrays and a sampling rate in, ``(X (n_windows, n_features), names)``
out, on the shared window grid (:mod:`helo.features.windows`). :data:`MODALITIES` maps a
modality to its function, default window length and expected dimension;
:func:`trial_features` computes one modality of one :class:`~helo.data.base.Trial`
with notes for the windows whose features are NaN.

Feature names have one source: each modality's module, whose ``names(params, channels=None)``
gives exactly the names its ``compute`` returns (:func:`feature_names` dispatches to it; EEG
``eeg_<channel>_<band>``, GSR/PPG the Table-6 statistics, video ``video_<plane>_<bin>``, WESAD
chest the fixed lists). Precomputed features read from a release (``Trial.features``) are
named here too, by :func:`block_names` when they are stored, never by the reader: a model trained
on features computed from raw recordings and one trained on a features release see the same
column names.

Params (a flat dict: ``features.common`` merged with ``features.<modality>`` of params.yaml):

=====================  =========  =========================================================
key                    default    meaning
=====================  =========  =========================================================
step_s                 1.0        grid step (s)
longest_window_s       5.0        longest window of the dataset: window w ends at L + w*step
window_s               per mod.   this modality's window (eeg/video 1, the others 5)
bands (eeg)            paper      paper | official | {name: [lo, hi]} | [[lo, hi], ...]
method (eeg)           gaussian   gaussian (1/2 ln 2 pi e var) | spectral (SEED log2 power)
resample (eeg)         None       spectral only: resample to this rate first (EmotionDict: 100)
nfft (eeg)             1024       spectral only
filter (eeg)           fft        gaussian only: fft (one FFT per channel, band gains applied
                                  in the frequency domain) | mne (MNE FIR band-pass)
transition_hz (eeg)    1.0        fft only: width of each band edge (Hz), half power at the
                                  nominal edge, nothing passes beyond half of it; 0: brick wall
l/h_trans_bandwidth    auto       filter mne only: MNE FIR transition bands
smooth (eeg)           none       none | lds (Kalman filter + RTS smoother over a trial's
                                  windows, as SEED's de_LDS) | lds-filter (forward pass only);
                                  :mod:`helo.features.lds`
lds_process_var,       1e-4, 1,   lds, lds-filter: the random walk's, the observation's and
lds_observation_var,   0.01       the prior's variance
lds_prior_var (eeg)
face_size (video)      128        face crop side (pixels)
detect_every (video)   1          run the face detector every k-th frame (boxes are held in
                                  between; see docs/benchmarks.md for the speed)
detector (video)       mtcnn      mtcnn (MTCNN cascade) | haar (OpenCV frontal-face cascade);
                                  :mod:`helo.features.face`
detect_width (video)   320        the detector runs on a copy scaled down to this width
                                  (haar: 160; null or 0: the full frame)
min_face (video)       40         smallest face searched for, px of the frame (haar: 24)
redetect_every (video) 10         mtcnn: the full search on every k-th detection attempt, the
                                  face tracked (R-Net and O-Net at its last box) between; 1: off
points / radius        8 / 1      LBP P and R (video)
time_radius (video)    1          LBP radius along time (frames); DMER's LBP-TOP code used 4
per_trial (video)      False      one LBP-TOP per trial, repeated on its rows
lbp_ties (video)       skimage    skimage: bit-identical to scikit-image | up: exact-arithmetic
                                  ties count as >= (NumPy engine only)
lbp_engine (video)     auto       auto | jit (compiled Numba kernel) | numpy; identical output
context_s (ecg)        window_s   tachogram length for the HRV frequency indices
correct_artifacts      True       ecg: R-peaks corrected as ``nk.ecg_process`` does (Kubios)
cardiac (ppg)          False      + 5 pulse-rate features from the systolic peaks
                                  (:mod:`helo.features.ppg`); params.yaml turns it on
work_fs (eda)          50         EDA rate for the SCR decomposition (decimated)
=====================  =========  =========================================================
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from helo.features.windows import grid_ends, window_notes


@dataclass(frozen=True)
class ModalityInfo:
    """What the pipeline knows about a modality before computing it.

    ``flat_is_fault``: whether a window in which every channel is exactly constant is a
    recorded fault (its features NaN, a note in the feature store) or a measurement. A flat
    EEG, GSR, PPG, ECG, EDA or EMG trace means a detached electrode, a saturated or stalled
    converter: a fault. A constant accelerometer is a body at rest, which a still wrist or chest
    really gives (bit-constant samples at 32-700 Hz): a measurement, with defined features
    (std 0, peak frequency 0, mean and absolute integral of the constant). NaN and windows past
    the recording stay faults for every modality. EEG judges flatness per channel (a dead
    channel's DE is NaN, :mod:`helo.features.eeg`).
    """
    window_s: float  # default window length (s)
    dim: int | None  # dimension with the default params (EEG: 90 for DMER's 18 channels)
    source: str = "signal"  # "signal" or "video"
    flat_is_fault: bool = True  # a constant window is a fault (NaN), not a measurement


#: Each modality's features live in ``helo.features.<modality>``, imported only when used (so
#: extracting GSR never imports OpenCV or MNE), each with ``compute(data, fs, ends, params,
#: channels=None) -> (X, names)`` and ``names(params, channels=None)`` (the names ``compute``
#: returns, without computing); the video module computes from a trial's frames instead.
MODALITIES: dict[str, ModalityInfo] = {
    "eeg": ModalityInfo(1.0, 90),
    "gsr": ModalityInfo(5.0, 28),
    "ppg": ModalityInfo(5.0, 27),
    "video": ModalityInfo(1.0, 768, "video"),
    "ecg": ModalityInfo(5.0, 73),
    "eda": ModalityInfo(5.0, 4),
    "emg": ModalityInfo(5.0, 14),
    "acc": ModalityInfo(5.0, 12, flat_is_fault=False),
}


def module(modality: str) -> ModuleType:
    """The module computing ``modality`` (``helo.features.<modality>``)."""
    if modality not in MODALITIES:
        raise KeyError(f"unknown modality {modality!r}; known: {sorted(MODALITIES)}")
    return importlib.import_module(f"helo.features.{modality}")


def flat_is_fault(modality: str) -> bool:
    """:attr:`ModalityInfo.flat_is_fault` of ``modality`` (True for a name not registered)."""
    mi = MODALITIES.get(modality)
    return True if mi is None else mi.flat_is_fault


def window_s(modality: str, params: dict | None = None) -> float:
    return float((params or {}).get("window_s", MODALITIES[modality].window_s))


def grid(duration: float, params: dict) -> np.ndarray:
    """Window ends of a trial of ``duration`` seconds on the shared grid."""
    return grid_ends(duration, float(params.get("longest_window_s", 5.0)),
                     float(params.get("step_s", 1.0)))


def signal_features(modality: str, data: np.ndarray, fs: float, ends, params: dict | None = None,
                    channels=None):
    """``helo.features.<modality>.compute`` with the params it understands -> ``(X, names)``."""
    params = dict(params or {})
    params.setdefault("window_s", MODALITIES[modality].window_s)
    return module(modality).compute(data, fs, ends, params, channels=channels)


def trial_features(trial, modality: str, params: dict | None = None, info: dict | None = None):
    """Features of one modality of a Trial -> ``(X, names, notes)`` (one note per row, "" when
    fine). ``info`` (a dict, optional) receives ``n_fallback`` / ``video_notes`` for video."""
    params = dict(params or {})
    mi = MODALITIES.get(modality)
    if mi is None:
        raise KeyError(f"unknown modality {modality!r}; known: {sorted(MODALITIES)}")
    params.setdefault("window_s", mi.window_s)
    if mi.source == "video":
        X, names, notes = module(modality).trial_features(trial, params,
                                                          info if info is not None else {})
        return X, names, explain(X, notes, modality)
    sig = trial.signals.get(modality)
    if sig is None:
        raise KeyError(f"trial {trial.trial_id} has no {modality} signal")
    ends = grid(sig.duration, params)
    X, names = signal_features(modality, sig.data, sig.fs, ends, params, channels=sig.channels)
    _, notes = window_notes(sig.data, sig.fs, ends, params["window_s"], what=modality,
                            flat_is_fault=mi.flat_is_fault)
    return X, names, explain(X, notes, modality)


def feature_names(modality: str, params: dict | None = None, channels=None) -> list[str]:
    """The names ``helo.features.<modality>.compute`` returns with ``params`` (the modality's
    ``features.common`` + ``features.<modality>`` params) -- from that module's ``names``. EEG
    names depend on the ``channels`` (required); video on ``points`` (``3 * 2^P``); the others
    are fixed."""
    if modality not in MODALITIES:
        raise KeyError(f"unknown modality {modality!r}; known: {sorted(MODALITIES)}")
    return list(module(modality).names(dict(params or {}), channels=channels))


def _known(modality: str, params: dict):
    """``name -> bool``: whether helo computes a ``modality`` feature of that name"""
    if modality not in MODALITIES:
        return lambda name: False
    mod = module(modality)
    if hasattr(mod, "is_feature_name"):  # names that depend on the channels (EEG)
        return lambda name: bool(mod.is_feature_name(name, params))
    return set(mod.names(params)).__contains__


def is_feature_name(modality: str, name: str, params: dict | None = None) -> bool:
    """Whether helo computes a ``modality`` feature called ``name`` with ``params`` (EEG: for some
    channel)."""
    return _known(modality, dict(params or {}))(name)


def block_names(modality: str, block, params: dict | None = None) -> list[str]:
    """The feature-store column names of a precomputed :class:`~helo.data.base.FeatureBlock`.

    * ``block.computed`` set (the reader says the columns are what helo's own ``modality`` code
      returns with those params, e.g. the DMER features release): :func:`feature_names` of those
      params (``channels`` from them), checked against the number of columns.
    * otherwise the block's own names (the generic layout's ``<modality>__<feature>`` columns give
      ``<feature>``): ``<modality>_<feature>`` (``<feature>`` itself when it already starts with
      ``<modality>_``) where that is a feature helo computes with ``params`` (the extraction
      params of the modality), else ``<modality>__<feature>``, the source's own column name, so
      a feature helo does not compute never poses as one of helo's.

    Raises ValueError on a count mismatch or when two columns get the same name.
    """
    params = dict(params or {})
    n_cols = int(np.shape(block.values)[1]) if np.ndim(block.values) == 2 else 0
    if block.computed is not None:
        comp = dict(block.computed)
        out = feature_names(modality, comp, channels=comp.get("channels"))
        if len(out) != n_cols:
            raise ValueError(f"{modality}: the block has {n_cols} columns but helo's {modality} "
                             f"features with {comp} are {len(out)}")
    else:
        if len(block.names) != n_cols:
            raise ValueError(f"{modality}: {len(block.names)} names for {n_cols} columns")
        known = _known(modality, params)
        out = []
        for name in block.names:
            name = str(name)
            helo_name = name if name.startswith(f"{modality}_") else f"{modality}_{name}"
            out.append(helo_name if known(helo_name) else f"{modality}__{name}")
    seen: set[str] = set()
    dup = [n for n in out if n in seen or seen.add(n)]
    if dup:
        raise ValueError(f"{modality}: columns named twice: {dup[:5]}")
    return out


def _only_cardiac_undefined(row) -> bool:
    """Whether a PPG row's NaN are all among the pulse-rate features (``cardiac``)."""
    k = len(module("ppg").CARDIAC_NAMES)
    return row.size == MODALITIES["ppg"].dim + k and bool(np.isfinite(row[:-k]).all())


def explain(X, notes, modality):
    """One note per row: the window's own note, or why its features are NaN."""
    out = list(notes)
    for i, row in enumerate(X):
        if not out[i] and not np.isfinite(row).all():
            if np.isnan(row).all():
                out[i] = ("ecg: fewer than 4 R-peaks in window" if modality == "ecg"
                          else f"{modality}: features undefined in window")
            elif modality == "ppg" and _only_cardiac_undefined(row):
                out[i] = f"ppg: {int(np.isnan(row).sum())} pulse-rate features undefined " \
                         f"(too few systolic peaks in window)"
            else:
                out[i] = f"{modality}: {int((~np.isfinite(row)).sum())} features undefined " \
                         f"(flat channel?)"
    return out


__all__ = ["MODALITIES", "ModalityInfo", "module", "flat_is_fault", "trial_features",
           "signal_features",
           "feature_names", "is_feature_name", "block_names", "grid", "grid_ends"]
