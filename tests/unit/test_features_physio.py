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
