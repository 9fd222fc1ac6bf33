import dataclasses

import numpy as np
import pytest
from pydantic import ValidationError

from checks.bootstrap import Difference, Estimate
from checks.gate import VERDICTS, GateDecision, SliceComparison, decide
from checks.metrics import compute
from checks.policy import EvaluationRules, GateRules, Policy, build_policy, load_policy
from checks.tasks import BinaryClassification, Regression

RULES = GateRules()
TASK = BinaryClassification(0.5)


def est(value, low, high):
    return Estimate(value, low, high, 1000)


def diff(d, low, high, p_better):
    return Difference(d, low, high, p_better, 1000)


def challenger(**overrides):
    values = {
        "roc_auc": est(0.810, 0.781, 0.838),
        "task_success": est(0.852, 0.834, 0.870),
        "precision": est(0.712, 0.671, 0.752),
        "recall": est(0.604, 0.561, 0.648),
        "f1": est(0.654, 0.617, 0.689),
        "log_loss": est(0.402, 0.380, 0.425),
        "ece": est(0.021, 0.016, 0.043),
    }
    return values | overrides


def champion():
    return {
        "roc_auc": est(0.789, 0.760, 0.817),
        "task_success": est(0.848, 0.829, 0.866),
        "precision": est(0.700, 0.660, 0.741),
        "recall": est(0.600, 0.558, 0.645),
        "f1": est(0.648, 0.611, 0.684),
        "log_loss": est(0.420, 0.398, 0.444),
        "ece": est(0.030, 0.022, 0.051),
    }


def differences(**overrides):
    values = {
        "roc_auc": diff(0.021, 0.008, 0.034, 0.998),
        "task_success": diff(0.004, -0.008, 0.016, 0.71),
        "precision": diff(0.012, -0.010, 0.034, 0.85),
        "recall": diff(0.004, -0.018, 0.026, 0.62),
        "f1": diff(0.006, -0.012, 0.024, 0.73),
        "log_loss": diff(0.018, 0.006, 0.030, 0.999),
        "ece": diff(0.009, -0.012, 0.027, 0.80),
    }
    return values | overrides


def expected_criteria(rules, has_champion, slices=()):
    names = [f"floor:{m}" for m in rules.floors]
    if has_champion:
        names += [
            f"non_inferiority:{m}" for m in rules.non_inferiority_metrics or [rules.primary_metric]
        ]
        names.append(f"superiority:{rules.primary_metric}")
    else:
        names.append("champion")
    return names + [f"slice:{s}" for s in slices] + ["approval"]


def assert_every_criterion_has_a_reason(decision: GateDecision, expected: list[str]):
    assert [c.criterion for c in decision.criteria] == expected
    assert decision.reasons == [c.reason for c in decision.criteria]
    assert all(r.strip() for r in decision.reasons)
    records = decision.records()
    assert len(records) == len(expected)
    columns = {"criterion", "value", "threshold", "passed", "reason", "needs_approval"}
    assert all(set(r) == columns for r in records)
    assert decision.verdict in VERDICTS
    assert decision.promote == (decision.verdict == "promote")
    assert decision.summary().startswith(decision.verdict + ":")


def test_a_better_challenger_is_promoted_with_every_reason():
    g = decide(challenger(), champion(), differences(), None, RULES)
    assert g.promote and g.verdict == "promote" and g.failed() == []
    assert_every_criterion_has_a_reason(g, expected_criteria(RULES, True))
    assert "roc_auc 0.810 [0.781, 0.838] clears the floor 0.7" in g.reasons
    assert "log_loss 0.402 [0.380, 0.425] is within the ceiling 0.5" in g.reasons
    assert (
        "roc_auc better than champion (0.810 vs 0.789) by +0.021 [+0.008, +0.034], "
        "95% interval above 0, P(better)=0.998" in g.reasons
    )
    assert (
        "roc_auc non-inferior to champion: +0.021 [+0.008, +0.034], interval above the -0.01 "
        "margin" in g.reasons
    )
    assert g.summary().startswith("promote: 9 of 9 criteria passed, none failed; roc_auc")


def test_a_worse_challenger_is_rejected():
    worse = differences(
        roc_auc=diff(-0.030, -0.046, -0.014, 0.0),
        task_success=diff(-0.021, -0.034, -0.008, 0.001),
    )
    g = decide(challenger(), champion(), worse, None, RULES)
    assert not g.promote and g.verdict == "reject"
    assert g.failed() == ["non_inferiority:roc_auc", "superiority:roc_auc"]
    assert (
        "roc_auc not shown non-inferior: -0.030 [-0.046, -0.014] reaches below the -0.01 margin"
        in g.reasons
    )
    assert g.summary() == (
        "reject: 2 of 9 criteria failed: non_inferiority:roc_auc, superiority:roc_auc"
    )
    # Holding more metrics to non-inferiority is a policy choice, judged on the interval too.
    strict = RULES.model_copy(update={"non_inferiority_metrics": ["roc_auc", "task_success"]})
    g = decide(challenger(), champion(), worse, None, strict)
    assert "non_inferiority:task_success" in g.failed()
    assert_every_criterion_has_a_reason(g, expected_criteria(strict, True))
    g = decide(challenger(), champion(), worse, None, RULES)
    assert_every_criterion_has_a_reason(g, expected_criteria(RULES, True))


def test_better_only_within_noise_is_rejected():
    noisy = differences(roc_auc=diff(0.004, -0.009, 0.017, 0.74))
    g = decide(challenger(), champion(), noisy, None, RULES)
    assert g.verdict == "reject" and g.failed() == ["superiority:roc_auc"]
    (text,) = [r for r in g.reasons if r.startswith("roc_auc not better")]
    assert text == (
        "roc_auc not better than champion (0.810 vs 0.789) with 95% confidence: "
        "+0.004 [-0.009, +0.017] reaches 0 or below, P(better)=0.740"
    )


def test_p_better_between_95_and_975_percent_is_not_enough():
    # One test only: the two-sided 95% interval must clear 0; P(better)=0.96 is reported, and
    # does not promote on its own.
    borderline = differences(roc_auc=diff(0.012, -0.001, 0.025, 0.96))
    g = decide(challenger(), champion(), borderline, None, RULES)
    assert g.failed() == ["superiority:roc_auc"]


def test_a_regression_on_a_named_slice_is_rejected_with_the_slice_named():
    slices = {
        "plan_tier=enterprise": SliceComparison(212, 0.70, 0.78),
        "plan_tier=free": SliceComparison(900, 0.82, 0.80),
        "region=apac": SliceComparison(12, 0.50, 0.90),
        "channel=phone": SliceComparison(40, None, 0.75, "slice has one class (all y=0)"),
        "channel=chat": SliceComparison(300, 0.73, 0.78),  # exactly the 0.05 allowed
    }
    g = decide(challenger(), champion(), differences(), slices, RULES)
    assert g.verdict == "reject" and g.failed() == ["slice:plan_tier=enterprise"]
    assert (
        "slice 'plan_tier=enterprise' (n=212): roc_auc 0.700 vs 0.780, "
        "regression 0.080 > 0.05 allowed" in g.reasons
    )
    by_name = {c.criterion: c for c in g.criteria}
    assert by_name["slice:plan_tier=free"].passed is True
    assert by_name["slice:channel=chat"].passed is True
    assert by_name["slice:region=apac"].passed is None
    assert by_name["slice:region=apac"].reason == (
        "slice 'region=apac' (n=12): not judged, fewer than 30 examples"
    )
    assert by_name["slice:channel=phone"].reason == (
        "slice 'channel=phone' (n=40): not judged, roc_auc undefined: slice has one class (all y=0)"
    )
    assert_every_criterion_has_a_reason(g, expected_criteria(RULES, True, slices))


def test_the_first_model_is_promoted_on_the_floors():
    slices = {"plan_tier=enterprise": SliceComparison(212, 0.70, None)}
    g = decide(challenger(), None, None, slices, RULES)
    assert g.promote and g.verdict == "promote"
    assert "no champion to compare with: the first model is judged on the floors alone" in (
        g.reasons
    )
    assert (
        g.summary() == "promote: first model, floors cleared; 8 of 9 criteria passed, none failed"
    )
    assert_every_criterion_has_a_reason(g, expected_criteria(RULES, False, slices))


def test_a_first_model_below_a_floor_is_rejected():
    low = challenger(roc_auc=est(0.652, 0.621, 0.684), ece=est(0.071, 0.055, 0.090))
    g = decide(low, None, None, None, RULES)
    assert g.verdict == "reject" and g.failed() == ["floor:roc_auc", "floor:ece"]
    assert "roc_auc 0.652 [0.621, 0.684] is below the floor 0.7" in g.reasons
    assert "ece 0.071 [0.055, 0.090] is above the ceiling 0.05" in g.reasons
    assert_every_criterion_has_a_reason(g, expected_criteria(RULES, False))


def test_an_undefined_floor_metric_rejects_with_its_reason():
    undefined = Estimate(None, None, None, 0, 0.95, "slice has one class (all y=0)")
    g = decide(challenger(roc_auc=undefined), None, None, None, RULES)
    assert g.verdict == "reject" and g.failed() == ["floor:roc_auc"]
    assert "roc_auc not judged: slice has one class (all y=0); it has a floor" in g.reasons
    missing = {k: v for k, v in challenger().items() if k != "ece"}
    g = decide(missing, None, None, None, RULES)
    assert "ece was not evaluated; it has a ceiling" in g.reasons


def test_an_undefined_difference_cannot_show_non_inferiority():
    undefined = Difference(None, None, None, None, 0, 0.95, "slice has no positive examples")
    rules = RULES.model_copy(update={"non_inferiority_metrics": ["roc_auc", "recall"]})
    g = decide(challenger(), champion(), differences(recall=undefined), None, rules)
    assert g.failed() == ["non_inferiority:recall"]
    assert "recall: non-inferiority not shown: slice has no positive examples" in g.reasons


def test_approval_mode_awaits_a_human():
    rules = RULES.model_copy(update={"require_approval": True})
    g = decide(challenger(), champion(), differences(), None, rules)
    assert g.verdict == "awaiting_approval" and g.promote is False
    assert g.reasons[-1] == (
        "approval required (high-risk switch): a human must approve before promotion"
    )
    assert g.summary() == (
        "awaiting_approval: 8 of 9 criteria passed, none failed; a human must approve"
    )
    assert_every_criterion_has_a_reason(g, expected_criteria(rules, True))
    # a failing challenger is rejected outright, never left waiting for approval
    worse = differences(roc_auc=diff(-0.03, -0.046, -0.014, 0.0))
    assert decide(challenger(), champion(), worse, None, rules).verdict == "reject"


def test_misuse_raises():
    with pytest.raises(ValueError, match="paired differences"):
        decide(challenger(), champion(), None, None, RULES)
    at_90 = {k: dataclasses.replace(v, confidence=0.90) for k, v in differences().items()}
    with pytest.raises(ValueError, match="superiority_confidence 0.95"):
        decide(challenger(), champion(), at_90, None, RULES)
    bad = GateRules(metrics=["roc_auc", "auc"], floors={"auc": 0.7})
    with pytest.raises(KeyError, match="unknown metric 'auc'"):
        decide(challenger(), None, None, None, bad)


# --- end to end: simulated evaluation set through the bootstrap --------------------------------


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def evaluate(seed, noise_challenger, noise_champion, enterprise_noise=None):
    """1,500 labelled tickets (the policy's eval_set_size); 15% are enterprise."""
    rng = np.random.default_rng(seed)
    n = 1500
    z = rng.normal(-1.5, 2.5, n)
    y = (rng.uniform(size=n) < sigmoid(z)).astype(int)
    enterprise = rng.uniform(size=n) < 0.15
    noise = np.full(n, noise_challenger)
    if enterprise_noise is not None:
        noise[enterprise] = enterprise_noise  # the challenger lost a signal enterprise needs
    p_new = sigmoid(z + rng.normal(0, 1, n) * noise)
    p_old = sigmoid(z + rng.normal(0, noise_champion, n))
    ev = EvaluationRules()
    kw = dict(n_resamples=ev.bootstrap_resamples, confidence=ev.confidence, seed=ev.seed)
    slices = {
        f"plan_tier={name}": SliceComparison(
            int(mask.sum()),
            compute("roc_auc", y[mask], p_new[mask]),
            compute("roc_auc", y[mask], p_old[mask]),
        )
        for name, mask in (("enterprise", enterprise), ("other", ~enterprise))
    }
    return decide(
        TASK.estimates(y, p_new, RULES.metrics, **kw),
        TASK.estimates(y, p_old, RULES.metrics, **kw),
        TASK.paired(y, p_new, p_old, RULES.metrics, **kw),
        slices,
        RULES,
        registry=TASK.registry,
    )


def test_end_to_end_a_clearly_better_challenger_is_promoted():
    g = evaluate(seed=3, noise_challenger=0.2, noise_champion=1.0)
    assert g.verdict == "promote", g.reasons
    assert_every_criterion_has_a_reason(
        g, expected_criteria(RULES, True, ["plan_tier=enterprise", "plan_tier=other"])
    )


def test_end_to_end_an_equally_good_challenger_is_not_promoted():
    g = evaluate(seed=3, noise_challenger=0.6, noise_champion=0.6)
    assert g.verdict == "reject" and "superiority:roc_auc" in g.failed()


def test_end_to_end_a_slice_regression_blocks_an_overall_better_challenger():
    g = evaluate(seed=3, noise_challenger=0.2, noise_champion=1.0, enterprise_noise=2.2)
    # better overall with confidence, but enterprise tickets lost 0.064 of ROC AUC
    assert g.verdict == "reject" and g.failed() == ["slice:plan_tier=enterprise"]
    assert (
        "slice 'plan_tier=enterprise' (n=222): roc_auc 0.794 vs 0.858, "
        "regression 0.064 > 0.05 allowed" in g.reasons
    )


# --- policy sections --------------------------------------------------------------------------


def test_gate_and_evaluation_defaults_are_the_documented_ones():
    policy = Policy()
    assert policy.gate.primary_metric == "roc_auc"
    assert policy.gate.floors == {
        "roc_auc": 0.70,
        "task_success": 0.80,
        "log_loss": 0.50,
        "ece": 0.05,
        "recall": 0.20,
        "f1": 0.25,
    }
    assert policy.gate.metrics == [
        "task_success",
        "precision",
        "recall",
        "f1",
        "roc_auc",
        "log_loss",
        "ece",
    ]
    assert policy.gate.non_inferiority_margin == 0.01
    assert policy.gate.superiority_confidence == 0.95
    assert (policy.gate.slice_max_regression, policy.gate.min_slice_size) == (0.05, 30)
    assert policy.gate.require_approval is False
    ev = policy.evaluation
    assert (ev.bootstrap_resamples, ev.confidence, ev.seed) == (1000, 0.95, 7)
    assert (ev.weekly_drop_points, ev.eval_set_size, ev.eval_set_min_size) == (5.0, 1500, 500)
    assert ev.window_days == 7
    assert policy.bootstrap_settings() == {"n_resamples": 1000, "confidence": 0.95, "seed": 7}
    assert Policy().as_metadata("gate")["policy.primary_metric"] == "roc_auc"


def test_gate_rules_from_yaml_and_their_validation(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text("gate:\n  require_approval: true\n  floors: {roc_auc: 0.75}\n")
    policy = load_policy(path)
    assert policy.gate.require_approval is True and policy.gate.floors == {"roc_auc": 0.75}
    assert policy.gate.primary_metric == "roc_auc"
    with pytest.raises(ValidationError, match="primary_metric 'f1' must be in metrics"):
        GateRules(primary_metric="f1", metrics=["roc_auc"])
    with pytest.raises(
        ValidationError, match="floors or non-inferiority on metrics not in metrics: \\['f1'\\]"
    ):
        GateRules(metrics=["roc_auc"], floors={"f1": 0.5})
    with pytest.raises(ValidationError, match="superiority_confidence"):
        GateRules(superiority_confidence=1.5)
    with pytest.raises(ValidationError, match="eval_set_min_size"):
        EvaluationRules(eval_set_size=400)


def test_the_decision_threshold_is_the_tasks_not_the_policys():
    # The gate no longer carries a threshold: a policy file that still sets one is refused
    # by name rather than silently ignored, and the threshold lives on the task.
    assert "decision_threshold" not in GateRules.model_fields
    with pytest.raises(ValidationError, match="decision_threshold"):
        build_policy([{"gate": {"decision_threshold": 0.4}}])
    assert BinaryClassification().threshold == 0.5
    y, p = [1, 1, 1, 0], [0.45, 0.45, 0.9, 0.1]
    # at 0.5 the two 0.45s say no (wrong for their 1s); at 0.4 they say yes
    assert TASK.compute("task_success", y, p) == 0.5 and TASK.compute("recall", y, p) == 1 / 3
    lower = BinaryClassification(0.4)
    assert lower.compute("task_success", y, p) == 1.0 and lower.compute("recall", y, p) == 1.0


def test_a_regression_task_layers_its_own_gate_and_is_judged_with_its_registry():
    task = Regression(tolerance=2.0)
    policy = build_policy([task.default_policy])
    gate = policy.gate
    assert gate.primary_metric == "task_success" and gate.floors == {}
    assert gate.metrics == ["task_success", "mae", "rmse"]
    rng = np.random.default_rng(4)
    y = rng.normal(50, 10, 400)
    close, far = y + rng.normal(0, 1, 400), y + rng.normal(0, 4, 400)
    kw = policy.bootstrap_settings()
    new = task.estimates(y, close, gate.metrics, **kw)
    old = task.estimates(y, far, gate.metrics, **kw)
    paired = task.paired(y, close, far, gate.metrics, **kw)
    first = decide(new, None, None, None, gate, registry=task.registry)
    assert first.verdict == "promote"
    assert [c.criterion for c in first.criteria] == ["champion", "approval"]
    # within 2.0: about 95% of the sd-1 errors against about 38% of the sd-4 ones
    better = decide(new, old, paired, None, gate, registry=task.registry)
    assert better.verdict == "promote", better.reasons
    worse = decide(
        old, new, task.paired(y, far, close, gate.metrics, **kw), None, gate, registry=task.registry
    )
    assert worse.verdict == "reject" and "superiority:task_success" in worse.failed()
    with pytest.raises(KeyError, match="mae"):
        decide(new, None, None, None, gate)  # the classification registry has no mae
