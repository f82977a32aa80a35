"""DMER GSR/PPG statistics and WESAD ECG/EDA/EMG/ACC features, cross-checked independently."""
import warnings

import numpy as np
import pytest
from scipy.signal import welch

from helo.features import acc, ecg, eda, emg, gsr, ppg
from helo.features.windows import grid_ends


def _ref_time(v):
    n = v.size
    mins = sum(1 for i in range(1, n - 1) if v[i] < v[i - 1] and v[i] < v[i + 1])
    maxs = sum(1 for i in range(1, n - 1) if v[i] > v[i - 1] and v[i] > v[i + 1])
    return [np.median(v), np.mean(v), np.std(v), np.min(v), np.max(v), mins / n, maxs / n]


def _ref_window(w, fs, psd):
    out = _ref_time(w) + _ref_time(np.diff(w)) + _ref_time(np.diff(np.diff(w)))
    mag = np.abs(np.fft.fft(w))[: w.size // 2 + 1]
    out += [np.median(mag), mag.mean(), mag.std(), mag.max(), mag.min(), mag.max() - mag.min()]
    if psd:
        f, p = welch(w, fs=fs, nperseg=min(256, w.size))
        out.append(p[f <= 2].sum() * (f[1] - f[0]))
    return np.array(out)


@pytest.mark.parametrize("kind,fs,dim", [("gsr", 4.0, 28), ("ppg", 100.0, 27)])
def test_dmer_stats_match_reference(kind, fs, dim):
    rng = np.random.default_rng(0)
    T = 23.0
    t = np.arange(int(T * fs)) / fs
    x = 5 + np.sin(2 * np.pi * 0.3 * t) + 0.3 * rng.standard_normal(t.size)
    ends = grid_ends(T)
    fn = gsr.gsr_features if kind == "gsr" else ppg.ppg_features
    X, names = fn(x, fs, ends)
    assert X.shape == (19, dim) and len(names) == dim and len(set(names)) == dim
    assert all(n.startswith(kind + "_") for n in names)
    for w in (0, 7, 18):
        a = int(round((ends[w] - 5) * fs))
        seg = x[a:a + int(5 * fs)]
        np.testing.assert_allclose(X[w], _ref_window(seg, fs, kind == "gsr"), rtol=1e-9,
                                   atol=1e-12)


def test_gsr_psd_is_welch_power():
    rng = np.random.default_rng(1)
    x = rng.standard_normal(4 * 30)
    X, names = gsr.gsr_features(x, 4.0, grid_ends(30.0))
    j = names.index("gsr_psd_0_2hz")
    f, p = welch(x[:20], fs=4.0, nperseg=20)
    assert X[0, j] == pytest.approx(np.sum(p[f <= 2]) * (f[1] - f[0]))
    # Parseval-ish sanity: Welch power over [0, fs/2] ~ variance of the window
    assert X[0, j] == pytest.approx(np.var(x[:20]), rel=0.5)


def test_physio_bad_input():
    x = np.ones(4 * 20)
    x[40:46] = np.nan
    X, _ = gsr.gsr_features(x, 4.0, grid_ends(20.0))
    assert np.isnan(X).all()  # flat or NaN everywhere -> NaN rows, no crash
    X, _ = ppg.ppg_features(np.zeros(300), 100.0, grid_ends(3.0))
    assert X.shape == (0, 27)


# ------------------------------------------------------------------------------- WESAD
FS = 700.0


def _ecg(duration, hr=70, seed=0):
    import neurokit2 as nk
    return nk.ecg_simulate(duration=duration, sampling_rate=int(FS), heart_rate=hr,
                           method="simple", random_state=seed, noise=0.01)


def test_ecg_73_and_matches_neurokit():
    import neurokit2 as nk
    x = _ecg(20, hr=75, seed=1)
    ends = grid_ends(20.0)
    X, names = ecg.ecg_features(x, FS, ends)
    assert X.shape == (16, 73) and len(set(names)) == 73
    assert np.isfinite(X).all()
    peaks, clean = ecg.r_peaks(x, FS)
    nk_map = {"meannn": "MeanNN", "sdnn": "SDNN", "rmssd": "RMSSD", "sdsd": "SDSD",
              "cvnn": "CVNN", "cvsd": "CVSD", "mediannn": "MedianNN", "madnn": "MadNN",
              "mcvnn": "MCVNN", "iqrnn": "IQRNN", "sdrmssd": "SDRMSSD", "prc20nn": "Prc20NN",
              "prc80nn": "Prc80NN", "pnn50": "pNN50", "pnn20": "pNN20", "minnn": "MinNN",
              "maxnn": "MaxNN", "hti": "HTI"}
    for w in (0, 9, 15):
        a, b = np.searchsorted(peaks, [(ends[w] - 5) * FS, ends[w] * FS])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ht = nk.hrv_time(peaks[a:b], sampling_rate=FS)
        for ours, theirs in nk_map.items():
            assert X[w, names.index(f"ecg_hrv_{ours}")] == pytest.approx(
                float(ht[f"HRV_{theirs}"].iloc[0]), rel=1e-6, abs=1e-9), ours
        assert X[w, names.index("ecg_n_beats")] == b - a
        rri = np.diff(peaks[a:b]) / FS * 1000
        x1 = (rri[:-1] - rri[1:]) / np.sqrt(2)
        assert X[w, names.index("ecg_hrv_sd1")] == pytest.approx(np.std(x1, ddof=1))
    hr = X[:, names.index("ecg_hr_mean")]
    assert np.all(np.abs(hr - 75) < 5)


def test_ecg_flat_gives_nan_not_crash():
    X, names = ecg.ecg_features(np.zeros(int(8 * FS)), FS, grid_ends(8.0))
    assert X.shape == (4, 73) and np.isnan(X).all()


def test_eda_four():
    import neurokit2 as nk
    x = nk.eda_simulate(duration=30, sampling_rate=int(FS), scr_number=5, random_state=2)
    ends = grid_ends(30.0)
    X, names = eda.eda_features(x, FS, ends)
    assert names == ["eda_mean", "eda_std", "eda_scr_count", "eda_scr_amp"]
    assert X.shape == (26, 4) and np.isfinite(X).all()
    seg = x[int(3 * FS):int(8 * FS)]
    assert X[3, 0] == pytest.approx(seg.mean()) and X[3, 1] == pytest.approx(seg.std())
    assert X[:, 2].sum() > 0
    assert np.all((X[:, 2] > 0) | (X[:, 3] == 0))


def test_emg_fourteen():
    rng = np.random.default_rng(3)
    n = int(12 * FS)
    x = 0.05 * rng.standard_normal(n)
    x[int(6 * FS):int(7 * FS)] += np.sin(2 * np.pi * 80 * np.arange(int(FS)) / FS)  # a burst
    ends = grid_ends(12.0)
    X, names = emg.emg_features(x, FS, ends)
    assert X.shape == (8, 14) and len(names) == 14 and np.isfinite(X).all()
    seg = x[int(2 * FS):int(7 * FS)]  # window ending at 7 s holds the burst
    w = 2
    np.testing.assert_allclose(
        X[w, :7], [seg.mean(), seg.std(), np.ptp(seg), np.abs(seg).sum() / FS, np.median(seg),
                   np.percentile(seg, 10), np.percentile(seg, 90)], rtol=1e-9)
    assert X[w, names.index("emg_peak_freq")] == pytest.approx(80, abs=0.5)
    f, p = welch(seg - seg.mean(), fs=FS, nperseg=seg.size, window="boxcar")
    assert X[w, names.index("emg_psd_total")] == pytest.approx(p.sum() * (f[1] - f[0]), rel=1e-6)
    assert X[w, names.index("emg_peak_count")] > X[0, names.index("emg_peak_count")]


def test_acc_twelve():
    n = int(10 * FS)
    t = np.arange(n) / FS
    x = np.column_stack([np.sin(2 * np.pi * 1.4 * t), 0.5 + 0 * t, np.cos(2 * np.pi * 3 * t)])
    x[:, 1] += 0.01 * np.random.default_rng(0).standard_normal(n)
    X, names = acc.acc_features(x, FS, grid_ends(10.0))
    assert X.shape == (6, 12) and names[0] == "acc_x_mean"
    assert X[0, names.index("acc_x_peak_freq")] == pytest.approx(1.4, abs=0.11)
    assert X[0, names.index("acc_z_peak_freq")] == pytest.approx(3.0, abs=0.11)
    assert X[0, names.index("acc_y_mean")] == pytest.approx(0.5, abs=0.01)
    assert X[0, names.index("acc_y_absint")] == pytest.approx(2.5, abs=0.05)


# ------------------------------------------------------------- HRV at exact ties (issue 12.2)
def _tied_peaks(fs, rr, offset):
    """R-peak samples from integer RR intervals, starting far into a recording (large sample
    indices are where ``diff(peaks / fs)`` used to round a tie upwards)."""
    return offset + np.concatenate([[0], np.cumsum(rr)]).astype(np.int64)


@pytest.mark.parametrize("fs,rr,offset", [
    # 100 Hz: successive differences of exactly 5 samples = 50 ms and 2 samples = 20 ms
    (100.0, [80, 85, 80, 75, 77, 82, 80, 86, 81, 81, 76, 78, 73, 83, 80, 82], 987_654),
    # 700 Hz: exactly 14 samples = 20 ms, 35 samples = 50 ms, 7 samples = 10 ms
    (700.0, [560, 574, 560, 546, 553, 567, 602, 567, 574, 574, 581, 595, 560, 525, 532],
     2_345_678),
])
def test_hrv_counts_exact_ties_like_neurokit(fs, rr, offset):
    import neurokit2 as nk
    peaks = _tied_peaks(fs, rr, offset)
    dd = np.diff(np.asarray(rr))
    thr = {k: int(k * fs / 1000) for k in (50, 20, 10)}  # thresholds in whole samples here
    assert any(np.abs(dd) == thr[50]) and any(np.abs(dd) == thr[20])  # ties are present
    # the old conversion (differences of converted times) rounds some of these ties upwards
    old = np.diff(np.diff(peaks / fs) * 1000.0)
    assert np.sum(np.abs(old) > 50) + np.sum(np.abs(old) > 20) > \
        np.sum(np.abs(dd) > thr[50]) + np.sum(np.abs(dd) > thr[20])
    out = ecg.hrv_window(peaks, fs, len(rr) * 0.8)
    names = list(ecg.ECG_NAMES)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ht = nk.hrv_time(peaks, sampling_rate=fs)
        hn = nk.hrv_nonlinear(peaks, sampling_rate=fs)
    # hand counts on integers (a tie does not count), the percentage over len(dd) + 1 intervals
    for k in (50, 20, 10):
        ref = np.sum(np.abs(dd) > thr[k]) / (dd.size + 1) * 100
        key = f"ecg_hrv_pnn{k}" if k != 10 else "ecg_ibi_pnn10"
        assert out[names.index(key)] == pytest.approx(ref, abs=1e-12), k
    assert out[names.index("ecg_hrv_pnn50")] == pytest.approx(float(ht["HRV_pNN50"].iloc[0]))
    assert out[names.index("ecg_hrv_pnn20")] == pytest.approx(float(ht["HRV_pNN20"].iloc[0]))
    # Porta's and Guzik's asymmetry indices: equal intervals (dd == 0) are on the identity line
    assert np.sum(dd == 0) > 0
    pi_ref = np.sum(dd < 0) / np.sum(dd != 0) * 100
    assert out[names.index("ecg_hrv_pi")] == pytest.approx(pi_ref, abs=1e-12)
    assert out[names.index("ecg_hrv_pi")] == pytest.approx(float(hn["HRV_PI"].iloc[0]))
    assert out[names.index("ecg_hrv_gi")] == pytest.approx(float(hn["HRV_GI"].iloc[0]))


def test_hrv_exact_where_neurokit_rounds():
    """At 700 Hz NeuroKit2's per-interval ``/ fs * 1000`` can itself land a 20 ms tie a hair
    above 20 (400 -> 386 samples); helo's integer decision still does not count it."""
    fs = 700.0
    rr = [400, 386, 400, 386, 400]
    r = np.asarray(rr) / fs * 1000
    nk_style = np.sum(np.abs(np.diff(r)) > 20)
    out = ecg.hrv_window(_tied_peaks(fs, rr, 0), fs, 5.0)
    assert out[list(ecg.ECG_NAMES).index("ecg_hrv_pnn20")] == 0.0
    assert nk_style > 0  # the reference's round-off, which helo does not share


# ------------------------------------------------------ flatness per modality (issue 12.5)
def test_acc_still_wrist_is_a_measurement():
    """bit-constant accelerometer windows (a body at rest) give the hand-computed features"""
    from helo.features import MODALITIES, flat_is_fault
    assert not flat_is_fault("acc") and not MODALITIES["acc"].flat_is_fault
    n = int(10 * FS)
    t = np.arange(n) / FS
    x = np.column_stack([np.full(n, -0.25), np.full(n, 0.96875), np.full(n, 0.0)])
    x[int(6 * FS):, 2] = np.sin(2 * np.pi * 2.0 * t[int(6 * FS):])  # z moves after 6 s
    ends = grid_ends(10.0)
    X, names = acc.acc_features(x, FS, ends)
    assert np.isfinite(X).all()
    for k, (axis, c) in enumerate((("x", -0.25), ("y", 0.96875))):
        for w in range(ends.size):
            assert X[w, names.index(f"acc_{axis}_mean")] == pytest.approx(c, abs=1e-12)
            assert X[w, names.index(f"acc_{axis}_std")] == 0.0
            assert X[w, names.index(f"acc_{axis}_absint")] == pytest.approx(abs(c) * 5.0,
                                                                              rel=1e-12)
            assert X[w, names.index(f"acc_{axis}_peak_freq")] == 0.0
    # z: 0 until 6 s, so the first window (0-5 s) is all zero: integral 0, std 0
    row = dict(zip(names, X[0]))
    assert (row["acc_z_mean"], row["acc_z_std"], row["acc_z_absint"], row["acc_z_peak_freq"]) \
        == (0.0, 0.0, 0.0, 0.0)
    seg = x[int(5 * FS):int(10 * FS), 2]  # the last window (5-10 s) holds the movement
    assert X[-1, names.index("acc_z_std")] == pytest.approx(seg.std())
    assert X[-1, names.index("acc_z_peak_freq")] == pytest.approx(2.0, abs=0.21)
    # an entirely still recording still gives a row per window, and no fault note
    from helo.data.base import Signal, Trial
    from helo.features import trial_features
    still = Trial("t1", signals={"acc": Signal(np.tile([0.1, -0.2, 0.97], (n, 1)), FS,
                                               ["x", "y", "z"])})
    Xs, _, notes = trial_features(still, "acc", {"window_s": 5.0})
    assert Xs.shape == (6, 12) and np.isfinite(Xs).all() and notes == [""] * 6
    assert Xs[0, names.index("acc_z_absint")] == pytest.approx(0.97 * 5.0, rel=1e-12)


@pytest.mark.parametrize("modality,fs", [("gsr", 4.0), ("ppg", 100.0), ("eda", 700.0),
                                         ("emg", 700.0), ("ecg", 700.0)])
def test_flat_physiology_stays_a_fault(modality, fs):
    from helo.data.base import Signal, Trial
    from helo.features import flat_is_fault, trial_features
    assert flat_is_fault(modality)
    n = int(8 * fs)
    x = np.full((n, 1), 2.5)
    X, _, notes = trial_features(Trial("t1", signals={modality: Signal(x, fs, [modality])}),
                                 modality, {"window_s": 5.0})
    assert X.shape[0] == 4 and np.isnan(X).all()
    assert all("flat" in nt for nt in notes)


def test_flat_eeg_channel_stays_a_fault():
    from helo.data.base import Signal, Trial
    from helo.features import flat_is_fault, trial_features
    assert flat_is_fault("eeg")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((int(6 * 250), 2))
    x[:, 1] = -3.0
    X, names, _ = trial_features(Trial("t1", signals={"eeg": Signal(x, 250.0, ["Fz", "Cz"])}),
                                 "eeg", {"window_s": 1.0})
    assert np.isfinite(X[:, :5]).all() and np.isnan(X[:, 5:]).all()
    x[:, 0] = 1.0  # every channel flat: the whole window is a fault with a note
    X, _, notes = trial_features(Trial("t1", signals={"eeg": Signal(x, 250.0, ["Fz", "Cz"])}),
                                 "eeg", {"window_s": 1.0})
    assert np.isnan(X).all() and all("flat" in nt for nt in notes)
