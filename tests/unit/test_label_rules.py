"""Label enhancement of dimensional ratings: the circumplex rule against hand-computed values
and the geometry it promises, the Gaussian rule against SciPy's normal density, and the errors
through to_distributions."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from helo.data.label_rules import CIRCUMPLEX, circumplex, gaussian
from helo.data.labels import LabelError, to_distributions


def test_circumplex_by_hand():
    """valence 9, arousal 5 on 1..9: the point (1, 0), rho 1, theta 0 -> exp(3 cos(k 45°))"""
    D, names, skipped, problems = circumplex([[9, 5, 3]], ["Valence", "Arousal", "Dominance"])
    w = np.exp(3 * np.cos(np.deg2rad(np.arange(8) * 45.0)))
    np.testing.assert_allclose(D[0], w / w.sum(), rtol=1e-12)
    assert names == list(CIRCUMPLEX) and names[int(np.argmax(D[0]))] == "pleasure"
    assert not skipped and not problems
    assert D[0, 1] / D[0, 0] == pytest.approx(np.exp(-3 * (1 - np.cos(np.pi / 4))))


def test_circumplex_geometry():
    """the midpoint is uniform; high arousal and low valence peaks at distress (135°); the
    distribution is symmetric about the point's angle; a missing rating leaves the row out"""
    ratings = np.array([[3, 3], [1, 3], [1, 9], [5, 9], [np.nan, 2]])
    D, names, skipped, _ = circumplex(ratings, ["valence", "arousal"], scale=(1, 5), kappa=2)
    np.testing.assert_allclose(D[0], np.full(8, 1 / 8))
    assert names[int(np.argmax(D[1]))] == "misery"
    # (1, 9) on 1..5 is outside the scale: named, not silently clipped
    _, _, _, problems = circumplex(ratings, ["valence", "arousal"], scale=(1, 5))
    assert problems == ["row 3: arousal 9 outside the scale 1..5",
                        "row 4: arousal 9 outside the scale 1..5"]
    assert skipped == [(4, "valence or arousal rating missing (NaN)")]
    assert np.isnan(D[4]).all()
    D, _, _, _ = circumplex([[1, 9]], ["valence", "arousal"], scale=(1, 9))
    k = names.index("distress")
    np.testing.assert_allclose(D[0, (k + 1) % 8], D[0, k - 1], rtol=1e-12)


def test_gaussian_matches_scipy():
    D, names, skipped, problems = gaussian([[6.5], [1]], ["valence"], scale=(1, 9), sigma=1.5)
    for row, r in zip(D, (6.5, 1)):
        ref = norm.pdf(np.arange(1, 10), loc=r, scale=1.5)
        np.testing.assert_allclose(row, ref / ref.sum(), rtol=1e-12)
    assert names == [f"valence_{j}" for j in range(1, 10)] and not skipped and not problems


def test_rules_through_to_distributions():
    D, names, kind, skipped, warns = to_distributions(
        np.array([[7.0, 2.0], [np.nan, 5.0]]), ["valence", "arousal"], kind="circumplex",
        rule={"scale": [1, 9], "kappa": 3.0}, where=["s1 t1", "s1 t2"])
    assert kind == "circumplex" and names[0] == "pleasure" and skipped[0][0] == 1
    np.testing.assert_allclose(D[0].sum(), 1.0)
    with pytest.raises(LabelError, match=r"s1 t1: valence 12 outside the scale 1..9"):
        to_distributions(np.array([[12.0, 2.0]]), ["valence", "arousal"], kind="circumplex",
                         where=["s1 t1"])
    with pytest.raises(LabelError, match="no 'arousal' column"):
        to_distributions(np.array([[5.0]]), ["valence"], kind="circumplex")
    D, names, *_ = to_distributions(np.array([[3.0]]), ["Arousal"], kind="gaussian",
                                    rule={"scale": [1, 5], "sigma": 1.0,
                                          "dimension": "arousal"})
    assert names == ["arousal_1", "arousal_2", "arousal_3", "arousal_4", "arousal_5"]
    assert D[0, 2] == D[0].max()


def test_schema_checks_the_rule():
    from helo.stages.schema import ParamsError, validate
    cfg = validate({"data": {"labels": "circumplex", "label_rule": {"scale": [1, 5]}}})
    assert cfg.data.label_rule.scale == (1.0, 5.0) and cfg.data.label_rule.kappa == 3.0
    with pytest.raises(ParamsError, match="data.label_rule.scale"):
        validate({"data": {"label_rule": {"scale": [5, 1]}}})
    with pytest.raises(ParamsError, match="data.label_rule.kappa"):
        validate({"data": {"label_rule": {"kappa": 0}}})
