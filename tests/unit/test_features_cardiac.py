"""ECG R-peak artifact correction and the PPG pulse rate, cross-checked against NeuroKit2 run on
the whole record (``nk.ecg_process`` / ``nk.ppg_process`` + ``nk.hrv_time``)."""
import warnings

import numpy as np
import pytest

from helo.features import ecg, feature_names, ppg, trial_features
from helo.features.windows import grid_ends

FS_ECG = 100  # the rate of the resting ECG the missing correction was found on
T_ECG = 120
REMOVED_BEAT = 40
#: beat index -> shift of its QRS complex (samples at 100 Hz: 150-220 ms)
SHIFTS = {60: 18, 69: -16, 78: 20, 87: -15, 96: 22, 105: -19, 114: 17, 123: -21}
HRV = ("MeanNN", "SDNN", "RMSSD")


def _nk():
    import neurokit2 as nk
    return nk


def _bridge(y, a, b):
    y[a:b] = np.linspace(y[a], y[b], b - a)


@pytest.fixture(scope="module")
def ecg_with_artefacts():
    """A simulated resting ECG (ECGSYN, fixed seed) with one beat flattened away (a missed
    beat) and eight QRS complexes moved by 150-220 ms (misplaced beats); with the R-peaks found
    before the edits."""
    nk = _nk()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        x = nk.ecg_simulate(duration=T_ECG, sampling_rate=FS_ECG, heart_rate=70,
                            heart_rate_std=3, method="ecgsyn", random_state=1, noise=0.01)
        _, info = nk.ecg_peaks(nk.ecg_clean(x, sampling_rate=FS_ECG), sampling_rate=FS_ECG)
    r = np.asarray(info["ECG_R_Peaks"])
    y = np.array(x, dtype=np.float64)
    k = r[REMOVED_BEAT]
    _bridge(y, k - 25, k + 40)  # QRS and T wave of one beat: gone
    for j, s in SHIFTS.items():
        a, b = r[j] - 6, r[j] + 6
        qrs = y[a:b].copy()
        _bridge(y, a, b)
        y[a + s:b + s] = qrs
    return y, r


def _neurokit_hrv(y, fs):
    """NeuroKit2 on the whole record: ecg_process (artifact correction on) + hrv_time."""
    nk = _nk()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        signals, info = nk.ecg_process(y, sampling_rate=fs)
        ht = nk.hrv_time(info["ECG_R_Peaks"], sampling_rate=fs)
    return signals, {k: float(ht[f"HRV_{k}"].iloc[0]) for k in HRV}


def _helo_record(y, fs, correct):
    """helo's ECG features on one window spanning the whole record."""
    X, names = ecg.ecg_features(y, fs, [float(T_ECG)], float(T_ECG), correct_artifacts=correct)
    return {k: X[0, names.index(f"ecg_hrv_{k.lower()}")] for k in HRV} | {
        "hr_mean": X[0, names.index("ecg_hr_mean")]}


def test_the_artefacts_are_there(ecg_with_artefacts):
    y, before = ecg_with_artefacts
    raw, _ = ecg.r_peaks(y, FS_ECG, correct_artifacts=False)
    fixed, _ = ecg.r_peaks(y, FS_ECG, correct_artifacts=True)
    gone = before[REMOVED_BEAT]
    assert np.abs(raw - gone).min() > 20  # the beat is missed: a 2x interval
    assert np.diff(raw).max() > 1.6 * np.median(np.diff(raw))
    assert np.abs(fixed - gone).min() <= 5  # ... inserted again by the correction
    for j, s in SHIFTS.items():  # the moved beats are found where they were moved to
        assert np.abs(raw - (before[j] + s)).min() <= 2, j
    assert np.all(np.diff(fixed) > 0)


def test_corrected_r_peaks_are_neurokits(ecg_with_artefacts):
    y, _ = ecg_with_artefacts
    signals, _ = _neurokit_hrv(y, FS_ECG)
    fixed, clean = ecg.r_peaks(y, FS_ECG)
    np.testing.assert_array_equal(fixed, np.flatnonzero(signals["ECG_R_Peaks"].to_numpy()))
    np.testing.assert_allclose(clean, signals["ECG_Clean"].to_numpy())


def test_hrv_with_correction_is_neurokits_and_without_it_is_not(ecg_with_artefacts):
    y, _ = ecg_with_artefacts
    signals, ref = _neurokit_hrv(y, FS_ECG)
    ours = _helo_record(y, FS_ECG, True)
    for k in HRV:
        assert ours[k] == pytest.approx(ref[k], rel=0.05), k
    assert ours["hr_mean"] == pytest.approx(signals["ECG_Rate"].mean(), rel=0.05)
    plain = _helo_record(y, FS_ECG, False)
    for k in ("SDNN", "RMSSD"):  # measured: +115 % and +146 %
        assert abs(plain[k] / ref[k] - 1) > 0.3, k
        assert abs(plain[k] / ref[k] - 1) > 5 * abs(ours[k] / ref[k] - 1), k


def test_each_window_selects_from_the_corrected_trial(ecg_with_artefacts):
    y, before = ecg_with_artefacts
    """Corrected once per trial, then windowed: a 5 s window's HRV is NeuroKit2's
    ``hrv_time`` of the whole record's corrected peaks inside it."""
    nk = _nk()
    signals, _ = _neurokit_hrv(y, FS_ECG)
    peaks = np.flatnonzero(signals["ECG_R_Peaks"].to_numpy())
    ends = grid_ends(T_ECG)
    X, names = ecg.ecg_features(y, FS_ECG, ends)
    plain, _ = ecg.ecg_features(y, FS_ECG, ends, correct_artifacts=False)
    t_missed = before[REMOVED_BEAT] / FS_ECG
    hit = np.flatnonzero((ends - 5 <= t_missed) & (ends > t_missed))
    assert hit.size == 5
    j = names.index("ecg_hrv_sdnn")
    for w in hit:
        a, b = np.searchsorted(peaks, [(ends[w] - 5) * FS_ECG, ends[w] * FS_ECG])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ht = nk.hrv_time(peaks[a:b], sampling_rate=FS_ECG)
        assert X[w, names.index("ecg_n_beats")] == b - a
        for k in HRV:
            assert X[w, names.index(f"ecg_hrv_{k.lower()}")] == pytest.approx(
                float(ht[f"HRV_{k}"].iloc[0]), rel=1e-9), (w, k)
    # windows holding both neighbours of the missed beat: the 2x interval inflates the SDNN
    both = hit[((ends[hit] - 5) * FS_ECG <= before[REMOVED_BEAT - 1])
               & (before[REMOVED_BEAT + 1] < ends[hit] * FS_ECG)]
    assert both.size >= 2
    assert np.all(plain[both, j] > 2 * X[both, j])


def test_ecg_compute_reads_the_switch(ecg_with_artefacts):
    y, _ = ecg_with_artefacts
    ends = grid_ends(T_ECG)
    on, _ = ecg.compute(y, FS_ECG, ends, {"window_s": 5.0})
    off, _ = ecg.compute(y, FS_ECG, ends,
                         {"window_s": 5.0, "correct_artifacts": False})
    direct, _ = ecg.ecg_features(y, FS_ECG, ends)
    np.testing.assert_array_equal(on, direct)
    assert not np.allclose(on, off, equal_nan=True)


# ------------------------------------------------------------------------------- PPG

FS_PPG = 100.0


def _ppg(hr, seed, seconds=60):
    return _nk().ppg_simulate(duration=seconds, sampling_rate=int(FS_PPG), heart_rate=hr,
                              random_state=seed)


@pytest.mark.parametrize("hr,seed", [(60, 1), (95, 3), (120, 4)])
def test_pulse_rate_is_neurokits(hr, seed):
    nk = _nk()
    x = _ppg(hr, seed)
    ends = grid_ends(60.0)
    X, names = ppg.ppg_features(x, FS_PPG, ends, cardiac=True)
    assert X.shape == (56, 32) and names[27:] == ppg.CARDIAC_NAMES and np.isfinite(X).all()
    base, base_names = ppg.ppg_features(x, FS_PPG, ends)
    assert base_names == names[:27]
    np.testing.assert_array_equal(X[:, :27], base)  # the paper's 27 unchanged
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        signals, info = nk.ppg_process(x, sampling_rate=int(FS_PPG))
    peaks = np.asarray(info["PPG_Peaks"])
    np.testing.assert_array_equal(ppg.systolic_peaks(x, FS_PPG), peaks)
    rate = signals["PPG_Rate"].to_numpy()
    col = {n: names.index(n) for n in ppg.CARDIAC_NAMES}
    for w in range(0, ends.size, 5):
        a, b = int(round((ends[w] - 5) * FS_PPG)), int(round(ends[w] * FS_PPG))
        assert abs(X[w, col["ppg_hr_mean"]] - rate[a:b].mean()) < 2.0
        assert X[w, col["ppg_hr_mean"]] == pytest.approx(rate[a:b].mean(), rel=1e-9)
        assert X[w, col["ppg_hr_std"]] == pytest.approx(rate[a:b].std(), rel=1e-6, abs=1e-9)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ht = nk.hrv_time(peaks[(peaks >= a) & (peaks < b)], sampling_rate=int(FS_PPG))
        for ours, theirs in (("meannn", "MeanNN"), ("sdnn", "SDNN"), ("rmssd", "RMSSD")):
            assert X[w, col[f"ppg_prv_{ours}"]] == pytest.approx(
                float(ht[f"HRV_{theirs}"].iloc[0]), rel=1e-9), (w, ours)
    # and the rate is the simulated one (the local-maxima count of the 27 is not)
    assert X[:, col["ppg_hr_mean"]].mean() == pytest.approx(hr, abs=2.0)


def test_windows_with_too_few_beats_are_nan_not_an_error():
    x = _ppg(60, 1, seconds=30)
    ends = grid_ends(30.0, 1.5, 0.5)
    X, names = ppg.ppg_features(x, FS_PPG, ends, 1.5, cardiac=True)
    peaks = ppg.systolic_peaks(x, FS_PPG)
    start = np.round((ends - 1.5) * FS_PPG)
    n_beats = np.array([np.sum((peaks >= a) & (peaks < a + 150)) for a in start])
    assert set(n_beats) >= {1, 2}  # 1.5 s windows at 60 bpm: one or two beats
    assert np.isfinite(X[:, :27]).all()
    c = X[:, 27:]
    np.testing.assert_array_equal(np.isfinite(c[:, 0]), n_beats >= 2)  # rate
    np.testing.assert_array_equal(np.isfinite(c[:, 2]), n_beats >= 2)  # MeanNN
    np.testing.assert_array_equal(np.isfinite(c[:, 3]), n_beats >= 3)  # SDNN
    np.testing.assert_array_equal(np.isfinite(c[:, 4]), n_beats >= 3)  # RMSSD
    two = np.flatnonzero(n_beats == 2)[0]
    a = int(start[two])
    pk = peaks[(peaks >= a) & (peaks < a + 150)]
    assert c[two, 2] == pytest.approx((pk[1] - pk[0]) * 10.0)  # ms at 100 Hz


def test_ppg_without_a_pulse_and_a_flat_trial():
    rng = np.random.default_rng(0)
    ramp = np.linspace(0.0, 1.0, 2000)  # nothing in the 0.5-8 Hz band: no pulse wave
    X, _ = ppg.ppg_features(ramp, FS_PPG, grid_ends(20.0), cardiac=True)
    assert np.isfinite(X[:, :27]).all() and np.isnan(X[:, 27:]).all()
    X, _ = ppg.ppg_features(np.zeros(2000), FS_PPG, grid_ends(20.0), cardiac=True)
    assert X.shape == (16, 32) and np.isnan(X).all()  # flat: a fault, as the 27
    X, _ = ppg.ppg_features(rng.normal(size=300), FS_PPG, grid_ends(3.0), cardiac=True)
    assert X.shape == (0, 32)


def test_ppg_too_slow_for_the_band_pass_is_refused():
    x = np.sin(2 * np.pi * 1.2 * np.arange(400) / 10.0)
    with pytest.raises(ValueError, match=r"ppg: sampling rate 10 Hz .* features.ppg.cardiac"):
        ppg.ppg_features(x, 10.0, grid_ends(40.0), cardiac=True)
    X, names = ppg.ppg_features(x, 10.0, grid_ends(40.0))  # the 27 need no peaks
    assert len(names) == 27 and np.isfinite(X).all()


def test_ppg_names_follow_the_switch_and_notes_say_why():
    from helo.data.base import Signal, Trial
    assert feature_names("ppg", {}) == feature_names("ppg", {"cardiac": False})
    assert len(feature_names("ppg", {})) == 27
    assert feature_names("ppg", {"cardiac": True}) == (feature_names("ppg", {})
                                                       + ppg.CARDIAC_NAMES)
    x = _ppg(60, 1, seconds=12)
    trial = Trial("0", signals={"ppg": Signal(x[:, None], FS_PPG, ["PPG"])})
    params = {"step_s": 1.0, "longest_window_s": 2.0, "window_s": 2.0, "cardiac": True}
    X, names, notes = trial_features(trial, "ppg", params)
    assert names == feature_names("ppg", params)
    short = [i for i, row in enumerate(X) if np.isnan(row).any()]
    assert short and all("pulse-rate features undefined" in notes[i] for i in short)
    assert all(notes[i] == "" for i in range(len(X)) if i not in short)
