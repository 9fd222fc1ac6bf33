"""The policy's ``pipeline`` section: a staged pipeline's thresholds, gate, hallucination check
and text drift."""

import pytest
from pydantic import ValidationError

from checks.policy import Policy, build_policy


def test_every_policy_has_the_section_with_its_defaults():
    section = Policy().pipeline
    assert section.thresholds == {}
    assert section.min_rows == 30
    assert section.gate.margin == 0.01 and section.gate.eval_days == 5
    assert section.hallucination.sample_size == 30
    assert section.hallucination.faithfulness_min == 0.9
    assert section.text_drift.reference_days == 7 and section.text_drift.share_error == 0.05


def test_the_section_parses_thresholds_and_nested_rules():
    policy = build_policy(
        [
            {
                "pipeline": {
                    "thresholds": {
                        "ranking": {"ndcg_at_k": {"min": 0.95}},
                        "retrieval": {"stale_rate": {"max": 0.01}},
                        "generation": {"faithfulness": {"min": 0.9, "max": 1.0}},
                    },
                    "min_rows": 10,
                    "gate": {"eval_days": 3},
                    "hallucination": {"sample_size": 50},
                }
            }
        ]
    )
    section = policy.pipeline
    assert section.thresholds["ranking"]["ndcg_at_k"] == {"min": 0.95}
    assert section.thresholds["generation"]["faithfulness"] == {"min": 0.9, "max": 1.0}
    assert section.min_rows == 10
    assert section.gate.eval_days == 3 and section.gate.margin == 0.01
    assert section.hallucination.sample_size == 50
    assert policy.as_metadata("pipeline")["policy.min_rows"] == 10


@pytest.mark.parametrize(
    "layer",
    [
        {"pipeline": {"min_row": 10}},
        {"pipeline": {"gate": {"margn": 0.02}}},
        {"pipeline": {"hallucination": {"sample": 5}}},
        {"pipeline": {"text_drift": {"aplha": 0.05}}},
    ],
)
def test_an_unknown_key_is_refused(layer):
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        build_policy([layer])


def test_a_bad_side_is_refused():
    with pytest.raises(ValidationError, match="low"):
        build_policy([{"pipeline": {"thresholds": {"ranking": {"ndcg_at_k": {"low": 0.9}}}}}])


def test_a_threshold_without_a_bound_or_with_crossed_bounds_is_refused():
    with pytest.raises(ValidationError, match="give min and/or max"):
        build_policy([{"pipeline": {"thresholds": {"ranking": {"ndcg_at_k": {}}}}}])
    with pytest.raises(ValidationError, match="min 0.9 is above max 0.5"):
        build_policy(
            [{"pipeline": {"thresholds": {"ranking": {"ndcg_at_k": {"min": 0.9, "max": 0.5}}}}}]
        )


def test_text_drift_warn_levels_may_not_exceed_error_levels():
    with pytest.raises(ValidationError, match="warn level"):
        build_policy([{"pipeline": {"text_drift": {"warn": 0.2, "error": 0.1}}}])
