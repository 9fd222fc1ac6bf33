import numpy as np
import pytest

from checks.output_drift import compare_scores, psi, score_profile

RULES = {"psi_warn": 0.10, "psi_error": 0.25, "positive_rate_error": 0.10, "min_rows": 200}


def test_profile_counts_every_score_once_and_the_positive_share():
    profile = score_profile(np.array([0.0, 0.05, 0.5, 0.95, 1.0]), threshold=0.5)
    assert sum(profile["counts"]) == 5
    assert profile["counts"][0] == 2 and profile["counts"][-1] == 2
    assert profile["positive_rate"] == pytest.approx(3 / 5)


def test_profile_refuses_what_is_not_a_probability():
    with pytest.raises(ValueError, match="probabilities"):
        score_profile(np.array([0.2, 1.2]), 0.5)
    with pytest.raises(ValueError, match="NaN"):
        score_profile(np.array([0.2, np.nan]), 0.5)


def test_psi_is_zero_on_identical_shares_and_grows_with_the_move():
    assert psi([10, 20, 30], [1, 2, 3]) == pytest.approx(0.0)
    assert psi([30, 20, 10], [10, 20, 30]) > psi([25, 20, 15], [10, 20, 30]) > 0


def test_too_few_rows_are_not_judged():
    rng = np.random.default_rng(0)
    reference = score_profile(rng.beta(2, 5, 5000), 0.5)
    drift = compare_scores(score_profile(rng.beta(2, 5, 50), 0.5), reference, **RULES)
    assert drift.level == "insufficient"


def test_false_positive_rate_on_null_days():
    # A production day (2,000 rows) drawn from the same distribution as the reference (10,000
    # validation rows): over 300 days, never an ERROR and at most 1% WARN.
    rng = np.random.default_rng(1)
    reference = score_profile(rng.beta(2, 5, 10_000), 0.5)
    levels = [
        compare_scores(score_profile(rng.beta(2, 5, 2_000), 0.5), reference, **RULES).level
        for _ in range(300)
    ]
    assert levels.count("error") == 0
    assert levels.count("warn") <= 3


def test_power_on_a_known_shift_of_the_scores():
    # Scores shifted up so the positive share moves by about 0.15: an ERROR every time.
    rng = np.random.default_rng(2)
    reference = score_profile(rng.beta(2, 5, 10_000), 0.5)
    shifted = [score_profile(rng.beta(3, 4, 2_000), 0.5) for _ in range(100)]
    assert reference["positive_rate"] < 0.15
    assert all(compare_scores(s, reference, **RULES).level == "error" for s in shifted)
