"""The gate's provenance, packaging and cost criteria as plain functions on given numbers, and
how ``decide`` treats a criterion that needs a person's approval."""

import pytest

from checks import provenance
from checks.bootstrap import Estimate
from checks.gate import Criterion, decide
from checks.policy import GateRules

RULES = GateRules()
EXPECTED = {
    "lineage.training_window": "rows 2026-01-01 .. 2026-01-28, labels known by 2026-02-02",
    "lineage.training_set_sha256": "a" * 64,
    "lineage.manifest_sha256": "b" * 64,
    "feature_set.version": "1",
}


def est(value):
    return Estimate(value, value - 0.02, value + 0.02, 1000)


GOOD = {
    "roc_auc": est(0.80),
    "task_success": est(0.86),
    "precision": est(0.7),
    "recall": est(0.6),
    "f1": est(0.65),
    "log_loss": est(0.40),
    "ece": est(0.02),
}


# ---------------------------------------------------------------- lineage


def test_complete_lineage_passes():
    found = provenance.LineageEvidence(dict(EXPECTED), dict(EXPECTED), "b" * 64)
    c = provenance.lineage(found, RULES)
    assert c.passed is True and not c.needs_approval
    assert "complete lineage" in c.reason


def test_a_version_registered_by_hand_needs_a_persons_approval():
    found = provenance.LineageEvidence({"feature_set.version": "1"}, None, None)
    c = provenance.lineage(found, RULES)
    assert c.passed is None and c.needs_approval
    assert "no lineage.json" in c.reason and "approve" in c.reason


def test_incomplete_lineage_rejects_when_the_policy_says_so():
    found = provenance.LineageEvidence({}, None, None)
    c = provenance.lineage(found, GateRules(incomplete_lineage="reject"))
    assert c.passed is False and not c.needs_approval


def test_a_lineage_json_that_is_not_the_one_the_tags_name_is_incomplete():
    found = provenance.LineageEvidence(dict(EXPECTED), dict(EXPECTED), "c" * 64)
    problems = provenance.lineage_problems(found)
    assert problems == [
        f"lineage.manifest_sha256 {'b' * 12} is not the hash of its lineage.json ({'c' * 12})"
    ]
    tampered = {**EXPECTED, "feature_set.version": "2"}
    missing = {k: v for k, v in EXPECTED.items() if k != "lineage.training_window"}
    assert (
        "1 tags differ"
        in provenance.lineage_problems(
            provenance.LineageEvidence(tampered, dict(EXPECTED), "b" * 64)
        )[0]
    )
    assert (
        "1 lineage tags missing: lineage.training_window"
        in provenance.lineage_problems(
            provenance.LineageEvidence(missing, dict(EXPECTED), "b" * 64)
        )[0]
    )


def test_needs_approval_makes_a_passing_verdict_await_approval_and_approval_names_it():
    waiting = provenance.lineage(provenance.LineageEvidence({}, None, None), RULES)
    decision = decide(GOOD, None, None, None, RULES, extra=[waiting])
    assert decision.verdict == "awaiting_approval" and not decision.promote
    assert decision.criteria[-1].criterion == "approval"
    assert "lineage" in decision.criteria[-1].reason
    assert decision.summary().endswith("a human must approve (lineage)")
    # Without it, the same challenger is promoted: the flag alone made the difference.
    assert decide(GOOD, None, None, None, RULES).verdict == "promote"


def test_a_failed_criterion_still_rejects_beside_one_that_needs_approval():
    waiting = provenance.lineage(provenance.LineageEvidence({}, None, None), RULES)
    failed = Criterion("leakage", 3.0, 0.0, False, "3 test-set entities in its training set")
    decision = decide(GOOD, None, None, None, RULES, extra=[waiting, failed])
    assert decision.verdict == "reject" and decision.failed() == ["leakage"]


# ---------------------------------------------------------------- leakage


def test_a_version_that_saw_test_entities_is_rejected_naming_how_many():
    c = provenance.leakage(["T1", "T2", "T3", "T4"], ["T9", "T2", "T3", "T7"], RULES)
    assert c.passed is False and c.value == 2.0 and c.threshold == 0.0
    assert c.reason.startswith("2 of the 4 test-set entities are in its training set (T2, T3)")


def test_leakage_passes_without_overlap_and_within_an_allowance():
    assert provenance.leakage(["T1", "T2"], ["T3"], RULES).passed is True
    allowed = GateRules(max_leaked_entities=2)
    assert provenance.leakage(["T1", "T2", "T3"], ["T2", "T3"], allowed).passed is True
    assert provenance.leakage(["T1", "T2", "T3"], ["T1", "T2", "T3"], allowed).passed is False


def test_ids_are_compared_as_text():
    assert provenance.leakage([1, 2], ["2"], RULES).value == 1.0


def test_a_version_with_no_recorded_training_ids_is_not_judged():
    c = provenance.leakage(["T1"], None, RULES)
    assert c.passed is None and c.value is None and "not judged" in c.reason


# ---------------------------------------------------------------- packaging


def test_a_version_that_fails_to_load_in_a_fresh_process_is_rejected_with_the_error():
    c = provenance.fresh_load("exit 1: UnsafeModel: stored in the 'cloudpickle' format", 5, None)
    assert c.passed is False and "cloudpickle" in c.reason
    assert provenance.fresh_load(None, 5, 0.0).passed is True
    different = provenance.fresh_load(None, 5, 0.25)
    assert different.passed is False and "differ" in different.reason


def test_the_signature_must_name_the_feature_sets_columns():
    assert provenance.signature(["a", "b"], ["b", "a"]).passed is True
    c = provenance.signature(["a", "x"], ["a", "b"])
    assert c.passed is False and c.value == 2.0
    assert "not in the signature: b" in c.reason and "not in the feature set: x" in c.reason
    assert provenance.signature(None, ["a"]).passed is False


def test_requirements_are_parsed_and_each_mismatch_is_named():
    recorded = provenance.parse_requirements(
        "# comment\n-r other.txt\nmlflow==3.17.0\nscikit_learn==1.9.0\nskops>=0.10\n\n"
        "numpy==2.3.1 ; python_version >= '3.11'\n"
    )
    assert recorded == {
        "mlflow": "3.17.0",
        "scikit-learn": "1.9.0",
        "skops": None,
        "numpy": "2.3.1",
    }
    installed = {"mlflow": "3.17.0", "scikit-learn": "1.8.0", "skops": "0.11", "numpy": None}
    c = provenance.requirements(recorded, installed)
    assert c.passed is False and c.value == 2.0
    assert "scikit-learn==1.9.0 (installed 1.8.0)" in c.reason
    assert "numpy==2.3.1 (not installed)" in c.reason
    assert "not pinned, not compared: skops" in c.reason
    same = {**installed, "scikit-learn": "1.9.0", "numpy": "2.3.1"}
    assert provenance.requirements(recorded, same).passed is True
    assert provenance.requirements({}, {}).passed is False


@pytest.mark.bad_input
def test_a_requirements_line_that_is_no_requirement_is_refused():
    with pytest.raises(ValueError, match="'==1.0' is not a requirement"):
        provenance.parse_requirements("==1.0\n")


# ---------------------------------------------------------------- cost


def test_latency_is_the_median_per_1000_rows():
    # 1,500 rows in 3 ms (the median of the repeats; the slow outlier does not count).
    assert provenance.ms_per_1000([0.003, 0.002, 0.009, 0.003, 0.004], 1500) == pytest.approx(2.0)


@pytest.mark.bad_input
def test_latency_needs_rows_and_timings():
    with pytest.raises(ValueError, match="scored rows"):
        provenance.ms_per_1000([0.1], 0)
    with pytest.raises(ValueError, match="non-negative timings"):
        provenance.ms_per_1000([], 10)


def test_a_challenger_slower_than_the_policy_allows_is_rejected():
    c = provenance.latency(5.0, 2.0, RULES)
    assert c.passed is False and c.value == pytest.approx(2.5) and c.threshold == 2.0
    assert "2.50x, above the 2x allowed" in c.reason
    assert provenance.latency(3.9, 2.0, RULES).passed is True
    assert provenance.latency(3.9, 2.0, GateRules(max_latency_ratio=1.5)).passed is False
    first = provenance.latency(3.9, None, RULES)
    assert first.passed is None and "no champion" in first.reason


def test_artifact_size_is_reported_and_held_to_a_ceiling_only_when_set():
    size = 3 * provenance.MB
    reported = provenance.artifact_size(size, RULES)
    assert reported.passed is None and reported.value == pytest.approx(3.0)
    assert provenance.artifact_size(size, GateRules(max_artifact_mb=2.0)).passed is False
    assert provenance.artifact_size(size, GateRules(max_artifact_mb=4.0)).passed is True
