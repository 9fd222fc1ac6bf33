"""The decision threshold chosen on validation rows, by each rule the policy can name."""

import numpy as np
import pytest

from checks.tasks import BinaryClassification
from checks.thresholds import choose_threshold


def _calibrated(n: int, seed: int, base: float = -1.7):
    """Scores that are the true probabilities (a perfectly calibrated model), ~17% positive."""
    rng = np.random.default_rng(seed)
    p = 1 / (1 + np.exp(-(base + 1.3 * rng.standard_normal(n))))
    y = (rng.random(n) < p).astype(int)
    return y, p


def _brute_f1(y, p):
    best, at = -1.0, None
    for t in np.unique(p):
        d = p >= t
        tp = np.sum(d & (y == 1))
        f1 = 2 * tp / (d.sum() + y.sum())
        if f1 >= best - 1e-12:
            best, at = f1, t
    return best, at


def test_best_f1_is_the_highest_f1_over_every_candidate_threshold():
    for seed in range(5):
        y, p = _calibrated(800, seed)
        choice = choose_threshold(y, p, "best_f1")
        best, at = _brute_f1(y, p)
        assert choice.f1 == pytest.approx(best, abs=1e-12)
        assert choice.threshold == pytest.approx(at)
        # A rare outcome's best threshold is far below 0.5, where the majority answer sits.
        assert choice.threshold < 0.45
        assert choice.recall > 0.3


def test_target_recall_is_reached_by_the_highest_threshold_that_reaches_it():
    y, p = _calibrated(2_000, 3)
    choice = choose_threshold(y, p, "target_recall", target_recall=0.8)
    assert choice.recall >= 0.8
    higher = np.unique(p[p > choice.threshold])[0]  # the next candidate up
    assert np.sum((p >= higher) & (y == 1)) / y.sum() < 0.8


def test_the_cost_rule_lands_near_the_bayes_threshold_of_a_calibrated_model():
    # For calibrated probabilities the cost-optimal threshold is c_fp / (c_fp + c_fn): with a
    # missed escalation four times as costly as a needless one, 0.2. Over 20 seeds the chosen
    # thresholds centre there (sampling noise moves each by a few hundredths).
    chosen = [
        choose_threshold(
            *_calibrated(4_000, seed), "cost", cost_false_positive=1, cost_false_negative=4
        ).threshold
        for seed in range(20)
    ]
    assert abs(np.median(chosen) - 0.2) < 0.03
    assert max(abs(np.array(chosen) - 0.2)) < 0.1


def test_when_saying_no_to_everyone_is_cheapest_the_cost_rule_says_no_to_everyone():
    # The top score is a needless escalation: any "yes" costs 100, missing the one positive 1.
    y, p = np.array([0, 1, 0, 0]), np.array([0.9, 0.8, 0.2, 0.1])
    choice = choose_threshold(y, p, "cost", cost_false_positive=100, cost_false_negative=1)
    assert choice.recall == 0.0 and choice.threshold > p.max()
    # The same scores with a costly miss: escalate down to the positive.
    costly = choose_threshold(y, p, "cost", cost_false_positive=1, cost_false_negative=100)
    assert costly.threshold == pytest.approx(0.8) and costly.recall == 1.0


def test_fixed_keeps_the_workflows_threshold():
    y, p = _calibrated(500, 2)
    assert choose_threshold(y, p, "fixed", default=0.5).threshold == 0.5


@pytest.mark.bad_input
@pytest.mark.parametrize(
    ("y", "rule", "kwargs", "message"),
    [
        ([0, 0, 0, 0], "best_f1", {}, "has 0 positives"),
        ([0, 1, 0, 1], "target_recall", {}, "target_recall must be in"),
        ([0, 1, 0, 1], "youden", {}, "unknown threshold rule"),
    ],
)
def test_a_rule_that_cannot_choose_says_why(y, rule, kwargs, message):
    with pytest.raises(ValueError, match=message):
        choose_threshold(y, [0.1, 0.2, 0.3, 0.4], rule, **kwargs)


def test_a_task_at_a_threshold_decides_and_counts_success_there():
    task = BinaryClassification(0.5)
    scores = np.array([0.1, 0.3, 0.6])
    assert task.at(0.25).decide(scores).tolist() == [False, True, True]
    # One threshold per row: rows served by versions that decide differently.
    assert task.decide(scores, [0.05, 0.5, 0.7]).tolist() == [True, False, False]
    assert task.correct(scores, [1, 1, 1], [0.05, 0.5, 0.7]).tolist() == [True, False, False]
    assert task.at(None) is task
