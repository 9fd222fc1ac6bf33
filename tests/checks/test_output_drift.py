import numpy as np
import pytest

from checks.output_drift import (
    compare_scores,
    compare_values,
    psi,
    score_profile,
    value_profile,
)

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


def test_compare_scores_reports_the_judged_shift():
    rng = np.random.default_rng(3)
    reference = score_profile(rng.beta(2, 5, 5000), 0.5)
    drift = compare_scores(score_profile(rng.beta(3, 4, 2000), 0.5), reference, **RULES)
    assert drift.statistic == "positive_rate"
    assert drift.shift == pytest.approx(drift.positive_rate_change)


# --- real-valued outputs ---------------------------------------------------------------------

VALUE_RULES = {"psi_warn": 0.10, "psi_error": 0.25, "shift_error": 0.25, "min_rows": 200}


def test_value_profile_bins_on_the_reference_deciles():
    # 1..100: np.quantile's linear deciles are 10.9, 20.8, ..., 90.1, so each bin holds 10.
    reference = value_profile(np.arange(1.0, 101.0))
    assert reference["edges"][0] == 1.0 and reference["edges"][-1] == 100.0
    assert reference["edges"][1] == pytest.approx(10.9) and len(reference["edges"]) == 11
    assert reference["counts"] == [10] * 10
    assert reference["mean"] == pytest.approx(50.5)
    assert reference["std"] == pytest.approx(np.std(np.arange(1.0, 101.0)))


def test_values_beyond_the_reference_range_fall_in_the_open_outer_bins():
    reference = value_profile(np.arange(1.0, 101.0))
    current = value_profile([-1e6, 10.9, 55.0, 1e6], reference["edges"])
    # 10.9 is the first inner edge: it opens the second bin, as in np.histogram
    assert current["counts"] == [1, 1, 0, 0, 0, 1, 0, 0, 0, 1]
    assert current["n"] == 4 and current["edges"] == reference["edges"]


def test_a_lumpy_reference_merges_repeated_deciles():
    # 70% zeros: the first six deciles are all 0, one edge remains for them.
    values = np.r_[np.zeros(70), np.arange(1.0, 31.0)]
    profile = value_profile(values)
    assert sum(profile["counts"]) == 100 and len(profile["counts"]) == len(profile["edges"]) - 1
    assert profile["counts"][0] == 0 and profile["counts"][1] == 70  # 0 opens the bin [0, ...)


def test_value_profile_refuses_what_is_not_a_finite_number():
    with pytest.raises(ValueError, match="NaN or infinite"):
        value_profile([1.0, np.nan])
    with pytest.raises(ValueError, match="NaN or infinite"):
        value_profile([1.0, np.inf], [0.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="no outputs"):
        value_profile([])


def test_compare_values_needs_the_reference_bins():
    rng = np.random.default_rng(4)
    reference = value_profile(rng.normal(0, 1, 1000))
    own_bins = value_profile(rng.normal(0, 1, 1000))
    with pytest.raises(ValueError, match="reference's edges"):
        compare_values(own_bins, reference, **VALUE_RULES)
    with pytest.raises(ValueError, match="not a value_profile"):
        compare_values(score_profile(rng.uniform(size=300), 0.5), reference, **VALUE_RULES)
    few = value_profile(rng.normal(0, 1, 50), reference["edges"])
    drift = compare_values(few, reference, **VALUE_RULES)
    assert drift.level == "insufficient" and drift.statistic == "mean" and drift.psi is None


def test_a_constant_reference_flags_any_move_of_the_mean():
    reference = value_profile(np.full(500, 3.0))
    same = compare_values(
        value_profile(np.full(300, 3.0), reference["edges"]), reference, **VALUE_RULES
    )
    moved = compare_values(
        value_profile(np.full(300, 3.5), reference["edges"]), reference, **VALUE_RULES
    )
    assert same.level == "ok" and same.shift == 0.0
    assert moved.level == "error" and moved.shift == np.inf
