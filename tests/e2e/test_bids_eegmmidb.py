"""Real EEG through the BIDS layout: two PhysioNet EEGMMIDB baseline runs (S002R01, S003R01:
64 channels, 160 Hz, EDF+), written to BIDS by mne-bids with instantaneous, repeated events
(T1/T2, duration 0) and self-reports per condition, then ``helo check-data``, ``helo extract``
(labels, eeg) and ``helo assemble`` with ``data.events`` set as such datasets need. The
extracted band differential entropy is compared with an independent estimate from the same
EDF samples: SciPy's Welch band power, as the DE of a Gaussian.

The EDF files are not in the repository: the test looks for ``eegmmidb/`` in
``$HELO_SHARED_DATA``, else in ``shared/data`` of the repository's folder or a folder above it
(where worktrees of the project keep it), and skips when they are not there.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import yaml

pytestmark = [pytest.mark.e2e]

ROOT = Path(__file__).resolve().parents[2]
FILES = {"002": "S002R01.edf", "003": "S003R01.edf"}
FS = 160.0
SPAN_S = 5.0  # data.events.duration_s
# instants (duration 0) of two conditions repeated in one run; the EDF's own T0 (the whole
# baseline, 60.1 s) stays in the events and is left out by data.events.trial_types
ONSETS = {"T1": [2.0, 14.0, 26.0, 38.0, 50.0], "T2": [8.0, 20.0, 32.0, 44.0]}
# one self-report per condition (DMER's 10 PANAS items, scores 1-5)
SCORES = {"T1": [5, 4, 4, 3, 3, 1, 1, 2, 1, 1], "T2": [1, 2, 1, 1, 2, 4, 5, 4, 3, 5]}
BANDS = {"delta": (1.0, 3.0), "theta": (4.0, 7.0), "alpha": (8.0, 13.0), "beta": (14.0, 30.0),
         "gamma": (31.0, 50.0)}


def shared_eegmmidb() -> Path | None:
    """The folder holding the EEGMMIDB files, or None."""
    candidates = []
    if os.environ.get("HELO_SHARED_DATA"):
        candidates.append(Path(os.environ["HELO_SHARED_DATA"]) / "eegmmidb")
    candidates += [p / "shared" / "data" / "eegmmidb" for p in (ROOT, *ROOT.parents)]
    for c in candidates:
        if all((c / f).is_file() for f in FILES.values()):
            return c
    return None


SOURCE = shared_eegmmidb()


def _write_bids(root: Path) -> None:
    """Each EDF as sub-<id>/eeg/sub-<id>_task-baseline_run-1_eeg.edf (mne-bids copies the file),
    with the instants as annotations (so in _events.tsv: trial_type T1/T2, duration 0), and a
    beh table keyed by trial_type."""
    import mne
    from mne_bids import BIDSPath, write_raw_bids

    from helo.data.labels import DMER_PANAS
    for sid, name in FILES.items():
        raw = mne.io.read_raw_edf(SOURCE / name, verbose="error")
        onsets = [t for k in ONSETS for t in ONSETS[k]]
        kinds = [k for k in ONSETS for _ in ONSETS[k]]
        raw.set_annotations(raw.annotations + mne.Annotations(
            onsets, 0.0, kinds, orig_time=raw.annotations.orig_time))
        write_raw_bids(raw, BIDSPath(subject=sid, task="baseline", run=1, datatype="eeg",
                                     root=root), verbose="error")
        beh = root / f"sub-{sid}" / "beh"
        beh.mkdir()
        rows = ["\t".join(["trial_type", *DMER_PANAS])]
        rows += ["\t".join([k, *map(str, v)]) for k, v in SCORES.items()]
        (beh / f"sub-{sid}_task-baseline_beh.tsv").write_text("\n".join(rows) + "\n")


def _welch_de(x: np.ndarray) -> np.ndarray:
    """``(n_channels, n_bands)`` DE of a Gaussian with each band's Welch power of ``x``
    ``(n_channels, n_samples)`` in uV: 1 s Hann segments, half overlapping (1 Hz bins, every
    band edge on a bin), the density integrated over ``[lo, hi]`` by the trapezoid rule."""
    from scipy.integrate import trapezoid
    from scipy.signal import welch
    f, p = welch(x, fs=FS, nperseg=int(FS), noverlap=int(FS) // 2, window="hann",
                 detrend="constant", scaling="density", axis=-1)
    power = np.stack([trapezoid(p[:, (f >= lo) & (f <= hi)], f[(f >= lo) & (f <= hi)], axis=-1)
                      for lo, hi in BANDS.values()], axis=1)
    return 0.5 * np.log(2 * np.pi * np.e * power)


@pytest.mark.skipif(SOURCE is None, reason="EEGMMIDB files (shared/data/eegmmidb) not found")
def test_eegmmidb_instants_through_check_data_extract_and_assemble(tmp_path, monkeypatch,
                                                                   capsys):
    import mne

    from helo.cli import main
    from helo.data import store as S
    from helo.data.channels import normalise_channels
    bids = tmp_path / "bids"
    _write_bids(bids)
    ev = bids / "sub-002" / "eeg" / "sub-002_task-baseline_run-1_events.tsv"
    assert "T1\t" in ev.read_text() and "\t0.0\tT1" in ev.read_text()  # instants, as written

    project = tmp_path / "project"
    project.mkdir()
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"].update(name="eegmmidb", layout="bids", root=str(bids), items="dmer",
                          events={"trial_types": ["T1", "T2"], "duration_s": SPAN_S,
                                  "ids": "numbered"})
    params["features"]["modalities"] = ["eeg"]
    params["features"]["common"]["longest_window_s"] = 1.0  # 1 s windows tile each trial
    params["assemble"].update(physiological=["eeg"], behavioural=[])
    params["orchestrator"].update(task_runner="serial", warm=False)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    monkeypatch.chdir(project)
    monkeypatch.setenv("HELO_ENGINE", "local")

    # check-data takes the settings of params.yaml; without them the repeated T1 is named
    assert main(["check-data", str(bids), "--layout", "bids"]) == 0
    assert "2 subject(s)" in capsys.readouterr().out
    assert main(["check-data", str(bids), "--layout", "bids", "-S", "data.events.ids=trial"]) == 1
    out = capsys.readouterr().out
    assert "trial id 'T1' is given to two events, rows" in out and "ids: numbered" in out

    for modality in ("labels", "eeg"):
        assert main(["extract", "--modality", modality]) == 0
    assert main(["assemble"]) == 0
    capsys.readouterr()

    # assembled: 2 subjects x 9 trials x 5 windows; every window labelled by its condition
    z = np.load(project / "data/assembled/dataset.npz", allow_pickle=False)
    trials = [f"T1-{k}" for k in range(1, 6)] + [f"T2-{k}" for k in range(1, 5)]
    assert z["y"].shape == (2 * 9 * 5, 10)
    assert sorted(set(z["trial"].tolist())) == sorted(trials)
    for cond, scores in SCORES.items():
        rows = np.char.startswith(z["trial"].astype(str), cond + "-")
        np.testing.assert_allclose(z["y"][rows], np.tile(np.array(scores) / sum(scores),
                                                         (rows.sum(), 1)), atol=1e-6)

    diffs = []
    for sid, name in FILES.items():
        raw = mne.io.read_raw_edf(SOURCE / name, verbose="error")  # the original file
        x = raw.get_data() * 1e6
        chans = normalise_channels(raw.ch_names)
        df = S.read(project / "data/features", "eeg", sid)
        cols = [f"eeg_{c}_{b}" for c in chans for b in BANDS]
        assert [c for c in df.columns if c.startswith("eeg_")] == cols
        for cond, onsets in ONSETS.items():
            for k, onset in enumerate(onsets, 1):
                rows = df[df["trial"] == f"{cond}-{k}"]
                assert rows["t_end"].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
                de = rows[cols].to_numpy().reshape(5, len(chans), len(BANDS))
                # the windows' mean band variance (exp(2 DE) / 2 pi e), as a DE: what the
                # trial's band power gives, without the downward bias (Jensen) of a mean of
                # logs over 1 s windows
                helo_de = 0.5 * np.log(np.exp(2 * de).mean(axis=0))
                a = int(np.ceil(onset * FS - 1e-6))
                diffs.append(helo_de - _welch_de(x[:, a:a + int(SPAN_S * FS)]))
    d = np.abs(np.stack(diffs))  # (18 trials, 64 channels, 5 bands), nats
    # Measured on these files (delta, theta, alpha, beta, gamma): median |difference| 0.051,
    # 0.052, 0.031, 0.022, 0.016 nats; largest 0.27, 0.35, 0.29, 0.23, 0.09; mean difference
    # -0.04..0. The two estimators differ by design: Welch's 1 s Hann segments leak over about
    # +-2 Hz across the band edges where helo's band-pass has 1 Hz raised-cosine edges, each
    # 1 s window loses its own mean, and 9 half-overlapping segments average differently from
    # 5 disjoint windows. The limits are those figures with about a third added. Cutting the
    # trials 1 s late (the reference taken 1 s after the onset) gives medians 0.095, 0.091,
    # 0.064, 0.039, 0.027 and largest 1.76, 1.32, 0.63, 0.24, 0.15: above the limits; volts
    # for microvolts would be 13.8 nats off.
    np.testing.assert_array_less(np.median(d, axis=(0, 1)), [0.07, 0.07, 0.045, 0.03, 0.022])
    np.testing.assert_array_less(d.max(axis=(0, 1)), [0.37, 0.46, 0.38, 0.30, 0.13])
