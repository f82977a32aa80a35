import numpy as np
import pytest

from helo.data.labels import (
    DMER_PANAS,
    WESAD_OVERLAP,
    WESAD_PANAS,
    WESAD_PANAS_TSST,
    panas_to_distribution,
)
from helo.evaluation.splits import make_folds, validation_split


def _ids(n_subj=4, n_trials=5, n_win=6):
    subj, trial = [], []
    for s in range(n_subj):
        for t in range(n_trials):
            subj += [f"S{s}"] * n_win
            trial += [str(t)] * n_win
    return np.array(subj), np.array(trial)


def test_panas_distribution_hand_computed():
    s = np.array([1, 2, 3, 4, 5, 5, 4, 3, 2, 1], float)
    d = panas_to_distribution(s, DMER_PANAS, "dmer")
    assert d.sum() == pytest.approx(1.0)
    assert d[0] == pytest.approx(1 / 30) and d[4] == pytest.approx(5 / 30)


def test_panas_wesad_overlap_and_tsst_order():
    # TSST's row has Angry/Irritated before Sad: selection is by name, not position.
    scores = np.arange(1, len(WESAD_PANAS_TSST) + 1) % 5 + 1.0
    d = panas_to_distribution(scores, WESAD_PANAS_TSST, "wesad-all")
    expect = np.array([scores[WESAD_PANAS_TSST.index(i)] for i in WESAD_PANAS])
    np.testing.assert_allclose(d, expect / expect.sum())
    assert set(WESAD_OVERLAP) <= set(DMER_PANAS) and "Inspired" in WESAD_OVERLAP


def test_panas_rejects_nan_and_out_of_range():
    s = np.full(10, 3.0)
    s[2] = np.nan
    with pytest.raises(ValueError, match="Excited"):
        panas_to_distribution(s, DMER_PANAS)
    with pytest.raises(ValueError, match="1..5"):
        panas_to_distribution(np.zeros(10), DMER_PANAS)


def test_loso_holds_out_each_subject_once():
    subj, trial = _ids()
    folds = make_folds("loso", subj, trial)
    assert len(folds) == 4
    for f in folds:
        assert set(subj[f.test]) == {f.subject}
        assert f.subject not in set(subj[f.train])
        assert len(f.train) + len(f.test) == len(subj)


def test_subject_dependent_is_8_2_within_subject():
    subj, trial = _ids()
    folds = make_folds("subject-dependent", subj, trial, seed=3)
    for f in folds:
        assert set(subj[f.train]) == set(subj[f.test]) == {f.subject}
        assert len(f.test) == round(0.2 * 30)
        assert not set(f.train) & set(f.test)
    # seeded: same seed, same split; another seed, another split
    again = make_folds("subject-dependent", subj, trial, seed=3)
    other = make_folds("subject-dependent", subj, trial, seed=4)
    assert all(np.array_equal(a.test, b.test) for a, b in zip(folds, again))
    assert any(not np.array_equal(a.test, b.test) for a, b in zip(folds, other))


def test_trial_held_out_never_shares_a_trial():
    subj, trial = _ids()
    for f in make_folds("trial-held-out", subj, trial, seed=1):
        assert set(trial[f.train]).isdisjoint(set(trial[f.test]))
        assert len(set(trial[f.test])) == 1  # 20 % of 5 trials


def test_validation_split_uses_whole_trials_of_training_only():
    subj, trial = _ids()
    f = make_folds("loso", subj, trial)[0]
    keys = np.char.add(np.char.add(subj, "|"), trial)
    fit, val = validation_split(f.train, keys, 0.25, seed=0)
    assert set(fit) | set(val) == set(f.train)
    assert set(keys[fit]).isdisjoint(set(keys[val]))
    assert not set(val) & set(f.test)
