"""Checks the DMER reader tests share: a subject's trials and self-reports equal the ground truth;
a problem list names a file."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from helo.data.labels import DMER_PANAS, panas_to_distribution


def check_reports(subject, st):
    truth_trials = st["trials"]
    assert [t.trial_id for t in subject.trials] == [t["trial_id"] for t in truth_trials]
    assert [t.order for t in subject.trials] == list(range(len(truth_trials)))
    for t, tt in zip(subject.trials, truth_trials):
        assert t.category == tt["category"]
        assert t.panas_items == DMER_PANAS
        np.testing.assert_array_equal(t.panas, tt["panas"])
        np.testing.assert_array_equal(panas_to_distribution(t.panas, t.panas_items),
                                      np.asarray(tt["distribution"]))
        for k in ("arousal", "valence", "dominance", "amusement", "disgust"):
            assert t.extra[k] == tt[k]


def has_problem(problems, sid, fname, words, severity="error"):
    return any(p.subject == sid and p.path is not None and Path(p.path).name == fname
               and p.severity == severity and all(w in p.message for w in words)
               for p in problems)
