"""Seeded synthetic SEED and SEED-IV in the releases' on-disk layouts, EEG that carries the clip's
class, so the readers' real code paths are what reads them.

:func:`generate_seed` writes, for ``layout``:

``seed``              ``out/Preprocessed_EEG/<n>_<YYYYMMDD>.mat`` (one per session, sessions a week
                      apart) with ``<prefix>_eeg<k>`` (62, samples) float32 at 200 Hz, plus
                      ``label.mat`` (``label`` (1, 15), the release's values) and ``readme.txt``
``seed-features``     ``out/ExtractedFeatures/<n>_<YYYYMMDD>.mat`` with ``de_movingAve<k>`` and
                      ``de_LDS<k>`` (62, windows, 5) on 1 s windows, ``label.mat``, ``readme.txt``
``seed-iv``           ``out/eeg_raw_data/<session>/<n>_<YYYYMMDD>.mat`` with ``<prefix>_eeg<k>``
``seed-iv-features``  ``out/eeg_feature_smooth/<session>/<n>_<YYYYMMDD>.mat`` with
                      ``de_movingAve<k>``, ``de_LDS<k>`` on 4 s windows

and ``out/_ground_truth.json`` (readers ignore it). Which clips, sessions and subjects, and how
long each clip is, come from the preset (:data:`PRESETS`): ``tiny`` (unit and end-to-end tests:
3 subjects, 2 sessions, 3 or 4 clips of a few seconds) or ``default`` (a laptop-size pipeline:
all 15 / 24 clips of 10-12 s). A clip lasts as long for every subject, as in the releases.

The EEG of a channel is 1/f noise (0.5-75 Hz) whose power in each band (the layout's band
edges) is raised or lowered by the clip's class (:data:`CLASS_EFFECTS`, natural-log power, scaled
by a fixed per-channel weight), a per-subject and a per-session offset, times a slow per-channel
envelope (a random walk over seconds). The released features are computed from exactly that
EEG as SEED's code does: per window without overlap, a Hann taper, the FFT (256 points for 1 s,
1024 for 4 s) and ``log2(100 * mean |X_k|^2)`` over the band's bins; ``de_movingAve`` is that
averaged over 5 windows (centred, shorter at the ends) and ``de_LDS`` a two-sided exponential
average (factor 0.2 per window each way), a stand-in for SEED's LDS smoother (which
:mod:`helo.features.lds` implements; the generator sits beside, not above, the feature code).
The real feature files hold ten more families (``psd_*``, ``dasm_*``, ``rasm_*``, ``asm_*``,
``dcau_*``); these do not, and no reader reads them.

Every subject's stream depends only on ``seed`` and the subject number, every clip's only on
``seed``, the session and the clip, so the same seed gives the same bytes
(``tests/unit/test_synth_guard.py``).
"""
from __future__ import annotations

import copy
import datetime
import sys
import time
from pathlib import Path

import numpy as np

from helo import io as hio
from helo.data.seed import (
    FS,
    SEED_CHANNELS_RELEASE,
    SEED_CLASSES,
    SEED_IV_CLASSES,
    SEED_IV_LABELS,
    SEED_LABELS,
)

__all__ = ["generate_seed", "PRESETS", "CLASS_EFFECTS", "LAYOUTS"]

LAYOUTS = ("seed", "seed-features", "seed-iv", "seed-iv-features")

PRESETS: dict[str, dict[str, dict]] = {
    "seed": {
        "tiny": dict(subjects=[1, 2, 3], sessions=[1, 2], clips=[1, 2, 3], seconds=[4, 5, 4]),
        "default": dict(subjects=[1, 2, 3, 4, 5], sessions=[1, 2, 3], clips=list(range(1, 16)),
                        seconds=[10, 11, 10, 12, 10, 11, 10, 12, 11, 10, 12, 10, 11, 10, 12]),
    },
    "seed-iv": {
        "tiny": dict(subjects=[1, 2, 3], sessions=[1, 2], clips=[1, 2, 3, 4],
                     seconds=[8, 8, 9, 8]),
        "default": dict(subjects=[1, 2, 3, 4], sessions=[1, 2, 3], clips=list(range(1, 25)),
                        seconds=[12] * 24),
    },
}

#: per class, the natural-log change of the band power (delta, theta, alpha, beta, gamma):
#: positive emotion raises beta and gamma, neutral alpha, negative and sad the low bands
#: (the direction Zheng & Lu 2015 report for beta/gamma; the sizes are this generator's)
CLASS_EFFECTS = {
    "positive": [-0.1, 0.0, -0.1, 0.4, 0.6], "neutral": [0.0, 0.05, 0.35, 0.0, -0.1],
    "negative": [0.3, 0.2, 0.0, -0.15, -0.3], "sad": [0.3, 0.2, 0.05, -0.2, -0.3],
    "fear": [0.1, 0.3, -0.2, 0.3, 0.2], "happy": [-0.1, 0.0, -0.1, 0.4, 0.6]}
_BANDS = {"seed": [(1, 3), (4, 7), (8, 13), (14, 30), (31, 50)],
          "seed-iv": [(1, 4), (4, 8), (8, 14), (14, 31), (31, 50)]}
_FOLDER = {"seed": "Preprocessed_EEG", "seed-features": "ExtractedFeatures",
           "seed-iv": "eeg_raw_data", "seed-iv-features": "eeg_feature_smooth"}
_WINDOW_S = {"seed": 1, "seed-iv": 4}
_FIRST_DATE = {"seed": datetime.date(2013, 6, 3), "seed-iv": datetime.date(2016, 5, 9)}
_AMPLITUDE_UV = 18.0  # rms of a channel before the class, subject and envelope factors
_PREFIX_LETTERS = "abcdefghijklmnopqrstuvwxyz"

# The 116-byte descriptive text at the head of a MATLAB 5 file: SciPy writes the wall-clock
# time there, so it is replaced by a fixed text (readers use only the bytes after it).
_MAT_HEADER = b"MATLAB 5.0 MAT-file, Platform: posix, Created by: helo synth (seeded, no date)"


def _savemat(path: Path, mat: dict) -> None:
    import scipy.io
    with hio.atomic_path(path, suffix=".mat") as tmp:
        scipy.io.savemat(str(tmp), mat)
        with open(tmp, "r+b") as fh:
            fh.write(_MAT_HEADER.ljust(116, b" "))


def _dataset(layout: str) -> str:
    return "seed-iv" if layout.startswith("seed-iv") else "seed"


def _label(dataset: str, session: int, clip: int) -> int:
    return SEED_IV_LABELS[session][clip - 1] if dataset == "seed-iv" else SEED_LABELS[clip - 1]


def _prefix(subject: int) -> str:
    """made-up initials, two or three letters, differing between subjects"""
    a = _PREFIX_LETTERS[(subject * 7) % 26]
    b = _PREFIX_LETTERS[(subject * 11 + 3) % 26]
    return a + b + (_PREFIX_LETTERS[subject % 26] if subject % 2 else "")


def _date(dataset: str, subject: int, session: int) -> str:
    day = _FIRST_DATE[dataset] + datetime.timedelta(days=9 * subject + 7 * (session - 1))
    return day.strftime("%Y%m%d")


# ------------------------------------------------------------------------------ signals

def _channel_weights(seed: int) -> np.ndarray:
    return 0.6 + 0.8 * np.random.default_rng([seed, 0, 0, 0]).random(len(SEED_CHANNELS_RELEASE))


def _clip_eeg(rng: np.random.Generator, n: int, log_power: np.ndarray,
              bands: list[tuple[int, int]]) -> np.ndarray:
    """(62, n) float32 microvolts: 1/f noise with each band's power times exp(log_power[:, b]),
    times a slow envelope"""
    n_ch = log_power.shape[0]
    freqs = np.fft.rfftfreq(n, 1.0 / FS)
    amp = np.zeros_like(freqs)
    inband = (freqs >= 0.5) & (freqs <= 75.0)
    amp[inband] = 1.0 / np.sqrt(freqs[inband])
    gain = np.ones((n_ch, freqs.size))
    for b, (lo, hi) in enumerate(bands):
        sel = (freqs >= lo) & (freqs <= hi)
        gain[:, sel] = np.exp(0.5 * log_power[:, b])[:, None]
    spec = (rng.standard_normal((n_ch, freqs.size))
            + 1j * rng.standard_normal((n_ch, freqs.size))) * amp * gain
    x = np.fft.irfft(spec, n=n, axis=1)
    x *= _AMPLITUDE_UV / np.sqrt(4.0 * np.sum(amp ** 2)) * n  # the 1/f part's expected rms
    seconds = int(np.ceil(n / FS)) + 1
    walk = np.cumsum(0.08 * rng.standard_normal((n_ch, seconds)), axis=1)
    env = np.exp(0.5 * np.stack([np.interp(np.arange(n) / FS, np.arange(seconds), w)
                                 for w in walk]))
    return (x * env).astype(np.float32)


def _spectral_de(x: np.ndarray, window_s: int, bands: list[tuple[int, int]]) -> np.ndarray:
    """(62, windows, 5): per window without overlap, Hann taper, FFT, log2(100 * mean |X_k|^2)
    over the band's bins (SEED's DE code)"""
    length = int(window_s * FS)
    n_win = x.shape[1] // length
    nfft = 1 << int(np.ceil(np.log2(max(length, 256))))
    segs = x[:, :n_win * length].astype(np.float64).reshape(x.shape[0], n_win, length)
    power = np.abs(np.fft.rfft(segs * np.hanning(length), n=nfft, axis=-1)) ** 2
    freqs = np.fft.rfftfreq(nfft, 1.0 / FS)
    out = np.empty((x.shape[0], n_win, len(bands)))
    for b, (lo, hi) in enumerate(bands):
        out[:, :, b] = np.log2(100.0 * power[..., (freqs >= lo) & (freqs <= hi)].mean(axis=-1))
    return out


def _moving_average(de: np.ndarray, width: int = 5) -> np.ndarray:
    """centred mean over ``width`` windows along axis 1, fewer at the ends"""
    half = width // 2
    csum = np.concatenate([np.zeros_like(de[:, :1]), np.cumsum(de, axis=1)], axis=1)
    n = de.shape[1]
    lo = np.clip(np.arange(n) - half, 0, n)
    hi = np.clip(np.arange(n) + half + 1, 0, n)
    return (csum[:, hi] - csum[:, lo]) / (hi - lo)[None, :, None]


def _two_sided_average(de: np.ndarray, factor: float = 0.2) -> np.ndarray:
    """an exponential average forward, then backward, along axis 1"""
    out = de.copy()
    for t in range(1, out.shape[1]):
        out[:, t] = out[:, t - 1] + factor * (out[:, t] - out[:, t - 1])
    for t in range(out.shape[1] - 2, -1, -1):
        out[:, t] = out[:, t + 1] + factor * (out[:, t] - out[:, t + 1])
    return out


# ------------------------------------------------------------------------------ driver

def _config(dataset: str, preset: str, overrides: dict) -> dict:
    presets = PRESETS[dataset]
    if preset not in presets:
        raise ValueError(f"unknown preset {preset!r} for {dataset}; choose one of "
                         f"{sorted(presets)}")
    cfg = copy.deepcopy(presets[preset])
    unknown = set(overrides) - set(cfg)
    if unknown:
        raise ValueError(f"unknown override(s) {sorted(unknown)}; known: {sorted(cfg)}")
    cfg.update(copy.deepcopy(overrides))
    if len(cfg["seconds"]) != len(cfg["clips"]):
        raise ValueError(f"seconds has {len(cfg['seconds'])} entries for {len(cfg['clips'])} "
                         f"clips")
    n_labels = 24 if dataset == "seed-iv" else 15
    if any(not 1 <= k <= n_labels for k in cfg["clips"]):
        raise ValueError(f"clips must lie in 1..{n_labels}, not {cfg['clips']}")
    if dataset == "seed-iv" and any(s not in SEED_IV_LABELS for s in cfg["sessions"]):
        raise ValueError(f"SEED-IV sessions are 1, 2, 3, not {cfg['sessions']}")
    return cfg


def _readme(layout: str) -> str:
    return (f"Synthetic {layout} data written by helo's seeded generator (helo synth --layout "
            f"{layout}); the layout of the BCMI release, not its recordings.\n")


def generate_seed(out, *, layout: str = "seed", seed: int = 0, preset: str = "default",
                  progress: bool = True, **overrides) -> dict:
    """Write a synthetic ``layout`` (one of :data:`LAYOUTS`) under ``out``; return (and write)
    the ground truth. ``overrides`` replace preset keys: ``subjects`` (numbers), ``sessions``,
    ``clips`` (clip numbers 1..15 / 1..24) and ``seconds`` (one duration per clip)."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, not {layout!r}")
    out = Path(out)
    dataset = _dataset(layout)
    features = layout.endswith("-features")
    cfg = _config(dataset, preset, overrides)
    bands = _BANDS[dataset]
    classes = SEED_IV_CLASSES if dataset == "seed-iv" else SEED_CLASSES
    folder = out / _FOLDER[layout]
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    weights = _channel_weights(seed)
    truth = {"generator": f"helo synth --layout {layout}", "layout": layout, "seed": seed,
             "preset": preset, "config": cfg, "fs": FS, "bands": bands,
             "channels": list(SEED_CHANNELS_RELEASE), "classes": list(classes.values()),
             "subjects": {}}
    if dataset == "seed":
        _savemat(folder / "label.mat", {"label": np.asarray([SEED_LABELS], dtype=np.float64)})
        hio.write_text(folder / "readme.txt", _readme(layout))
    for subject in cfg["subjects"]:
        ts = time.perf_counter()
        srng = np.random.default_rng([seed, int(subject)])
        subject_offset = 0.25 * srng.standard_normal((len(weights), len(bands)))
        prefix = _prefix(int(subject))
        files, trials = {}, []
        for session in cfg["sessions"]:
            session_offset = 0.1 * srng.standard_normal((len(weights), len(bands)))
            name = f"{subject}_{_date(dataset, int(subject), session)}.mat"
            path = folder / str(session) / name if dataset == "seed-iv" else folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            mat = {}
            for clip, seconds in zip(cfg["clips"], cfg["seconds"]):
                value = _label(dataset, session, clip)
                cls = classes[value]
                crng = np.random.default_rng([seed, int(subject), session, clip])
                log_power = (subject_offset + session_offset
                             + np.asarray(CLASS_EFFECTS[cls])[None, :] * weights[:, None])
                eeg = _clip_eeg(crng, int(seconds * FS), log_power, bands)
                if features:
                    de = _spectral_de(eeg, _WINDOW_S[dataset], bands)
                    mat[f"de_movingAve{clip}"] = _moving_average(de)
                    mat[f"de_LDS{clip}"] = _two_sided_average(de)
                    windows = de.shape[1]
                else:
                    mat[f"{prefix}_eeg{clip}"] = eeg
                    windows = None
                dist = [1.0 if c == value else 0.0 for c in classes]
                trials.append({"trial_id": f"s{session}-t{clip}", "session": session,
                               "clip": clip, "label": value, "class": cls,
                               "distribution": dist, "samples": int(eeg.shape[1]),
                               "windows": windows})
            _savemat(path, mat)
            files[str(session)] = path.relative_to(out).as_posix()
        truth["subjects"][str(subject)] = {"prefix": prefix, "files": files, "trials": trials,
                                           "subject_offset": subject_offset.tolist()}
        if progress:
            print(f"[synth-{layout}] subject {subject}: {len(trials)} clips, "
                  f"{time.perf_counter() - ts:.2f} s", file=sys.stderr, flush=True)
    hio.write_json(out / "_ground_truth.json", truth, significant=10)
    truth["elapsed_s"] = round(time.perf_counter() - t0, 3)
    return truth
