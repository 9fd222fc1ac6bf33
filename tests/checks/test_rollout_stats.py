import hashlib

import numpy as np
import pytest
from scipy import stats

from checks.rollout_stats import (
    Paired,
    Rate,
    TriggerResult,
    agreement_rate,
    buckets,
    canary_mask,
    error_rate_trigger,
    paired_difference,
    task_success_vs_baseline,
    task_success_vs_champion,
    wilson,
)

IDS = [f"T-{i:07d}" for i in range(100_000)]  # fixed ids: the statistical tests are deterministic
SALT = "rollout-2024"
Z95 = stats.norm.ppf(0.975)


def fire_rate(results: list[TriggerResult]) -> float:
    assert all(r.judged for r in results)
    return float(np.mean([r.fired for r in results]))


def correct_rows(seed: int, p: float, n: int, trials: int) -> np.ndarray:
    """(trials, n) bools: each row one canary's labelled rows, each right with probability p."""
    return np.random.default_rng(seed).random((trials, n)) < p


def paired_rows(seed: int, cells: tuple[float, float, float, float], n: int, trials: int):
    """(challenger, champion), each (trials, n), from the joint probabilities of
    (both right, only challenger right, only champion right, both wrong)."""
    assert sum(cells) == pytest.approx(1)
    u = np.random.default_rng(seed).random((trials, n))
    cell = np.searchsorted(np.cumsum(cells)[:-1], u, side="right")
    return cell <= 1, (cell == 0) | (cell == 2)


# --- buckets ----------------------------------------------------------------------------------


def test_bucket_is_the_documented_keyed_blake2b_and_pinned():
    # Pinned: a change of hash, key, byte order or scaling would move entities between arms.
    digest = hashlib.blake2b(b"T-0000001", key=SALT.encode(), digest_size=8).digest()
    assert buckets(["T-0000001"], SALT)[0] == int.from_bytes(digest, "big") / 2**64
    assert buckets(["T-0000001"], SALT)[0] == 0.021777606579423358


def test_buckets_are_deterministic_and_the_salt_reshuffles_them():
    a = buckets(IDS, SALT)
    assert a.shape == (len(IDS),) and a.dtype == np.float64
    assert np.array_equal(a, buckets(IDS, SALT))
    b = buckets(IDS, "rollout-2025")
    assert abs(np.corrcoef(a, b)[0, 1]) < 0.02  # standard error ~0.003 for independent buckets


def test_buckets_are_uniform_on_the_unit_interval():
    b = buckets(IDS, SALT)
    assert b.min() >= 0 and b.max() < 1
    assert stats.kstest(b, "uniform").pvalue > 0.01


def test_salt_must_be_a_usable_blake2b_key_and_ids_must_be_strings():
    with pytest.raises(ValueError, match="empty"):
        buckets(IDS[:3], "")
    with pytest.raises(ValueError, match="65 bytes"):
        buckets(IDS[:3], "x" * 65)
    with pytest.raises(ValueError, match="66 bytes"):
        buckets(IDS[:3], "é" * 33)  # the limit is bytes, not characters
    assert buckets(IDS[:3], "x" * 64).shape == (3,)
    with pytest.raises(TypeError, match="int"):
        buckets([1, 2], SALT)
    assert buckets([], SALT).shape == (0,)


# --- canary_mask ------------------------------------------------------------------------------


def test_an_entity_keeps_its_arm_across_calls_orders_and_subsets():
    ids = np.array(IDS[:20_000])
    mask = canary_mask(ids, SALT, 0.25)
    assert np.array_equal(mask, canary_mask(entity_ids=ids, salt=SALT, fraction=0.25))
    assert np.array_equal(buckets(entity_ids=ids[:5], salt=SALT), buckets(ids[:5], SALT))
    assert np.array_equal(mask, canary_mask(ids, SALT, 0.25))
    order = np.random.default_rng(0).permutation(ids.size)
    assert np.array_equal(canary_mask(ids[order], SALT, 0.25), mask[order])
    assert np.array_equal(canary_mask(ids[::7], SALT, 0.25), mask[::7])
    assert np.array_equal(canary_mask(list(ids[:5]), SALT, 0.25), mask[:5])


@pytest.mark.parametrize("fraction", [0.01, 0.05, 0.25, 0.5])
def test_the_canary_share_matches_the_fraction(fraction):
    share = canary_mask(IDS, SALT, fraction).mean()
    se = np.sqrt(fraction * (1 - fraction) / len(IDS))
    assert abs(share - fraction) < 4 * se


def test_fraction_zero_serves_nobody_one_everybody_and_widening_only_adds():
    ids = IDS[:20_000]
    assert not canary_mask(ids, SALT, 0.0).any()
    assert canary_mask(ids, SALT, 1.0).all()
    at5, at25 = canary_mask(ids, SALT, 0.05), canary_mask(ids, SALT, 0.25)
    assert not (at5 & ~at25).any() and at5.sum() < at25.sum()


@pytest.mark.parametrize("fraction", [-0.1, 1.5, float("nan")])
def test_a_fraction_outside_the_unit_interval_is_refused(fraction):
    with pytest.raises(ValueError, match=str(fraction)):
        canary_mask(IDS[:3], SALT, fraction)


# --- wilson -----------------------------------------------------------------------------------


def test_wilson_bounds_solve_the_score_equation_and_stay_in_range():
    r = wilson(81, 100, 0.95)
    assert (r.n, r.successes, r.value) == (100, 81, 0.81)
    for bound in (r.low, r.high):  # Wilson: |p_hat - p| = z * sqrt(p (1 - p) / n) at each bound
        assert (0.81 - bound) ** 2 == pytest.approx(Z95**2 * bound * (1 - bound) / 100)
    assert r.low < 0.81 < r.high
    assert wilson(0, 20, 0.95).low == 0 and wilson(20, 20, 0.95).high == 1
    assert wilson(81, 100, 0.99).low < r.low  # more confidence, wider
    assert wilson(0, 0, 0.95) == Rate(0, 0, None, None, None)
    with pytest.raises(ValueError):
        wilson(5, 4, 0.95)


def test_wilson_covers_the_true_rate_at_about_the_nominal_share():
    successes = np.random.default_rng(11).binomial(500, 0.8, size=2000)
    covered = [(r.low <= 0.8 <= r.high) for r in (wilson(s, 500, 0.95) for s in successes)]
    assert 0.93 <= np.mean(covered) <= 0.97


# --- paired_difference ------------------------------------------------------------------------


def test_paired_interval_uses_the_paired_standard_error():
    c = np.array([1, 1, 1, 0, 1, 0], dtype=bool)
    k = np.array([1, 0, 1, 1, 1, 1], dtype=bool)
    out = paired_difference(c, k, 0.95)
    d = c.astype(int) - k.astype(int)
    half = Z95 * np.sqrt(d.var(ddof=1) / d.size)
    assert out.n == 6 and out.challenger == pytest.approx(4 / 6) and out.champion == 5 / 6
    assert out.difference == pytest.approx(-1 / 6)
    assert (out.low, out.high) == pytest.approx((-1 / 6 - half, -1 / 6 + half))
    # McNemar exact: 1 win, 2 losses among 3 discordant pairs.
    assert out.p_value == pytest.approx(stats.binomtest(1, 3, 0.5).pvalue)


def test_mcnemar_p_value_is_small_when_one_model_wins_every_disagreement():
    c = np.r_[np.ones(90, bool), np.zeros(10, bool)]
    k = np.ones(100, bool)
    assert paired_difference(c, k, 0.95).p_value == pytest.approx(2 * 0.5**10)


def test_identical_columns_differ_by_exactly_nothing():
    x = np.random.default_rng(3).random(300) < 0.8
    out = paired_difference(x, x.copy(), 0.95)
    assert out.difference == out.low == out.high == 0 and out.p_value == 1.0


def test_too_few_or_mismatched_rows():
    assert paired_difference([True], [False], 0.95) == Paired(1, *[None] * 6)
    assert paired_difference([], [], 0.95) == Paired(0, *[None] * 6)
    with pytest.raises(ValueError, match="rows"):
        paired_difference([True, False], [True], 0.95)
    with pytest.raises(ValueError, match="bool"):
        paired_difference([1.0, np.nan], [1, 0], 0.95)  # a missing label is not "right"


def test_paired_interval_covers_the_true_difference_at_about_the_nominal_share():
    # Correlated pairs: the models agree on 87% of rows; true difference 0.83 - 0.86 = -0.03.
    c, k = paired_rows(5, (0.78, 0.05, 0.08, 0.09), n=1000, trials=1000)
    results = [paired_difference(c[t], k[t], 0.95) for t in range(len(c))]
    assert np.mean([r.low <= -0.03 <= r.high for r in results]) == pytest.approx(0.95, abs=0.02)


def test_agreement_rate():
    assert agreement_rate([True, True, False, False], [True, False, False, True]) == 0.5
    assert agreement_rate([], []) is None
    with pytest.raises(ValueError):
        agreement_rate([True], [True, False])


# --- error_rate_trigger -----------------------------------------------------------------------


def errors(count: int, n: int) -> np.ndarray:
    return np.arange(n) < count


def test_error_rate_above_the_maximum_fires_on_the_point_rate():
    result = error_rate_trigger(errors(30, 1000), max_rate=0.02, min_rows=500)
    assert result.fired and result.judged and result.name == "error_rate"
    assert (result.value, result.bound, result.threshold, result.n) == (0.03, None, 0.02, 1000)
    assert "0.030 (30 of 1,000 rows)" in result.reason and "roll back" in result.reason


def test_error_rate_at_or_below_the_maximum_does_not_fire():
    assert not error_rate_trigger(errors(10, 1000), 0.02, 500).fired
    assert not error_rate_trigger(errors(20, 1000), 0.02, 500).fired  # at the line is allowed


def test_error_rate_is_not_judged_below_min_rows():
    result = error_rate_trigger(errors(100, 499), 0.02, 500)
    assert not result.judged and not result.fired and "need 500" in result.reason
    assert not error_rate_trigger([], 0.02, 0).judged


# --- task_success_vs_baseline -----------------------------------------------------------------


def baseline_trigger(correct, n_min: int = 200) -> TriggerResult:
    return task_success_vs_baseline(correct, 0.84, 3, 0.95, n_min)


def test_baseline_trigger_compares_the_one_sided_upper_bound_with_the_floor():
    correct = np.arange(2000) < 1560  # 0.780
    result = baseline_trigger(correct)
    assert result.fired and result.judged and result.name == "task_success_vs_baseline"
    assert result.value == 0.78 and result.threshold == pytest.approx(0.81)
    # One-sided 95% upper bound = upper end of the two-sided 90% interval.
    assert result.bound == wilson(1560, 2000, 0.90).high
    assert result.value < result.bound < result.threshold
    assert "upper 95% bound" in result.reason and "n=2,000" in result.reason
    assert "floor 0.810 = baseline 0.840 - 3 points: roll back" in result.reason


def test_a_rate_below_the_floor_but_not_with_confidence_does_not_fire():
    result = baseline_trigger(np.arange(2000) < 1610)  # 0.805 < 0.81, bound above it
    assert result.value < result.threshold < result.bound and not result.fired
    assert "keep" in result.reason


def test_baseline_trigger_is_not_judged_below_min_rows():
    result = baseline_trigger(np.zeros(199, bool), n_min=200)  # all wrong, but too few rows
    assert not result.judged and not result.fired and "need 200" in result.reason
    assert baseline_trigger(np.zeros(200, bool), n_min=200).fired


def test_a_healthy_canary_almost_never_rolls_back():
    rows = correct_rows(21, 0.84, n=2000, trials=2000)
    assert fire_rate([baseline_trigger(r) for r in rows]) <= 0.01


def test_a_canary_exactly_at_the_floor_rolls_back_at_most_about_one_minus_confidence():
    rows = correct_rows(22, 0.81, n=2000, trials=2000)
    assert fire_rate([baseline_trigger(r) for r in rows]) <= 0.07


def test_a_canary_eight_points_below_baseline_rolls_back():
    rows = correct_rows(23, 0.76, n=2000, trials=500)
    assert fire_rate([baseline_trigger(r) for r in rows]) >= 0.99


def test_two_hundred_rows_can_only_catch_large_drops():
    # n=200: the 95% upper bound is ~1.645*sqrt(.81*.19/200) = 4.6 points above the rate, so it
    # fires only below ~0.764: at the floor ~5%, at 0.76 (8 points down) about half the time, at
    # 0.69 (15 down) the rate is 2.3 standard errors below 0.764 so ~99%.
    def rate(p: float, seed: int) -> float:
        return fire_rate([baseline_trigger(r, 200) for r in correct_rows(seed, p, 200, 500)])

    assert rate(0.81, 24) <= 0.08
    assert 0.40 <= rate(0.76, 25) <= 0.65
    assert rate(0.69, 26) >= 0.95


# --- task_success_vs_champion -----------------------------------------------------------------

HEALTHY = (0.80, 0.04, 0.04, 0.12)  # both 0.84, agree on 92% of rows
AT_THE_LINE = (0.78, 0.03, 0.06, 0.13)  # challenger 0.81 vs champion 0.84
EIGHT_WORSE = (0.74, 0.02, 0.10, 0.14)  # challenger 0.76 vs champion 0.84


def champion_trigger(c, k, n_min: int = 200) -> TriggerResult:
    return task_success_vs_champion(c, k, 3, 0.95, n_min)


def test_champion_trigger_compares_the_one_sided_paired_upper_bound():
    c, k = paired_rows(30, EIGHT_WORSE, n=2000, trials=1)
    result = champion_trigger(c[0], k[0])
    assert result.fired and result.judged and result.name == "task_success_vs_champion"
    assert result.threshold == pytest.approx(-0.03)
    assert result.bound == pytest.approx(paired_difference(c[0], k[0], 0.90).high)
    assert result.value == pytest.approx(c[0].mean() - k[0].mean())
    assert "upper 95% bound" in result.reason and "roll back" in result.reason
    assert agreement_rate(c[0], k[0]) == pytest.approx(0.88, abs=0.02)


def test_champion_trigger_is_not_judged_below_min_rows():
    result = champion_trigger(np.zeros(199, bool), np.ones(199, bool))
    assert not result.judged and not result.fired and "need 200" in result.reason
    assert champion_trigger(np.zeros(200, bool), np.ones(200, bool)).fired


def test_a_challenger_as_good_as_the_champion_almost_never_rolls_back():
    c, k = paired_rows(31, HEALTHY, n=2000, trials=2000)
    assert fire_rate([champion_trigger(c[t], k[t]) for t in range(len(c))]) <= 0.01


def test_a_challenger_exactly_at_the_line_rolls_back_at_most_about_one_minus_confidence():
    c, k = paired_rows(32, AT_THE_LINE, n=2000, trials=2000)
    assert fire_rate([champion_trigger(c[t], k[t]) for t in range(len(c))]) <= 0.07


def test_a_challenger_eight_points_worse_than_the_champion_rolls_back():
    c, k = paired_rows(33, EIGHT_WORSE, n=2000, trials=500)
    assert fire_rate([champion_trigger(c[t], k[t]) for t in range(len(c))]) >= 0.99


@pytest.mark.parametrize("confidence", [0.5, 1.0])
def test_one_sided_confidence_must_be_above_one_half(confidence):
    with pytest.raises(ValueError, match="confidence"):
        task_success_vs_baseline(np.ones(10, bool), 0.84, 3, confidence, 1)
