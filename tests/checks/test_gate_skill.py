"""Skill: the gate compares the challenger with answers that need no model."""

import numpy as np

from checks.bootstrap import paired_bootstrap
from checks.gate import decide
from checks.gate_skill import beat_baselines
from checks.policy import GateRules
from checks.tasks import BinaryClassification

TASK = BinaryClassification(0.5)


def _data(n=1_500, seed=0, signal=1.5):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(-1.7 + signal * x)))).astype(int)
    return x, y


def _difference(y, challenger, baseline, seed=1):
    return paired_bootstrap(
        y, challenger, baseline, ["roc_auc"], threshold=0.3, n_resamples=400, seed=seed
    )["roc_auc"]


def test_a_model_with_signal_beats_the_majority_answer_and_a_weak_rule():
    x, y = _data()
    model = 1 / (1 + np.exp(-(-1.7 + 1.5 * x)))
    rule = (x + np.random.default_rng(5).standard_normal(x.size) * 3 > 2).astype(float)
    differences = {
        "majority": _difference(y, model, TASK.majority_outputs(y)),
        "fallback": _difference(y, model, rule),
    }
    criteria = beat_baselines("roc_auc", differences, 0.95)
    assert [c.passed for c in criteria] == [True, True]
    assert "better than the workflow's fallback rule" in criteria[0].reason


def test_a_model_no_better_than_the_rule_is_rejected_by_the_gate():
    # The "model" is the rule plus a little noise: the same ranking, no skill beyond it.
    x, y = _data(seed=2)
    rule = (x > 0.8).astype(float)
    model = np.clip(rule * 0.6 + 0.2 + np.random.default_rng(3).normal(0, 1e-3, x.size), 0, 1)
    criteria = beat_baselines(
        "roc_auc",
        {"fallback": _difference(y, model, rule), "majority": None},
        0.95,
    )
    fallback = next(c for c in criteria if c.criterion == "baseline:fallback")
    assert fallback.passed is False and "not better than the workflow's fallback" in fallback.reason
    rules = GateRules(floors={})
    estimates = TASK.estimates(y, model, rules.metrics, n_resamples=200, seed=0)
    decision = decide(estimates, None, None, None, rules, extra=criteria)
    assert decision.verdict == "reject" and "baseline:fallback" in decision.failed()


def test_a_workflow_without_a_fallback_is_not_judged_on_it():
    [fallback, majority] = beat_baselines("roc_auc", {"fallback": None, "majority": None}, 0.95)
    assert fallback.passed is None and "not judged" in fallback.reason
    assert majority.passed is None


def test_the_majority_answer_is_the_same_certain_answer_for_everyone():
    assert TASK.majority_outputs([0, 0, 1]).tolist() == [0.0, 0.0, 0.0]
    assert TASK.majority_outputs([1, 1, 0]).tolist() == [1.0, 1.0, 1.0]
