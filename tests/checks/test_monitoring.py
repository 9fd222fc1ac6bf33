"""The monitoring layers' plain functions: the label-free estimate, adoption, stages."""

import numpy as np
import pandas as pd
import pytest

from checks.monitoring import (
    adoption_summary,
    cbpe_task_success,
    sparkline,
    stage_view,
    task_success,
)


def _calibrated(rng, n, a=1.5, b=-1.0):
    """Scores from a calibrated model: the outcome is drawn with exactly the predicted p."""
    x = rng.normal(size=n)
    p = 1 / (1 + np.exp(-(a * x + b)))
    return x, p, rng.random(n) < p


def test_the_estimate_of_a_calibrated_model_covers_the_real_task_success_at_the_nominal_rate():
    rng = np.random.default_rng(5)
    inside = 0
    for _ in range(400):
        _, p, y = _calibrated(rng, 2_000)
        est = cbpe_task_success(p, 0.5)
        inside += abs(est.value - task_success(p, y, 0.5)) <= 1.96 * est.std
    assert 0.92 <= inside / 400 <= 0.98  # its own standard error is honest


def test_the_estimate_follows_a_covariate_shift_and_misses_a_concept_drift():
    rng = np.random.default_rng(6)
    _, p, y = _calibrated(rng, 20_000)
    base = cbpe_task_success(p, 0.5).value
    # Covariate shift: inputs move towards the boundary; the model stays right about p.
    x, _, _ = _calibrated(rng, 20_000)
    shifted = 1 / (1 + np.exp(-(0.3 * x - 0.1)))
    y_shifted = rng.random(len(x)) < shifted
    est = cbpe_task_success(shifted, 0.5).value
    assert est < base - 0.1
    assert abs(est - task_success(shifted, y_shifted, 0.5)) < 0.02
    # Concept drift: same scores, outcomes flipped. The estimate does not move (its known
    # blind spot); the real task success falls.
    assert cbpe_task_success(p, 0.5).value == pytest.approx(base)
    assert task_success(p, ~y, 0.5) < base - 0.3


def test_adoption_is_the_share_of_agent_days_using_the_assistant():
    actions = pd.DataFrame(
        {
            "day": ["d1"] * 4 + ["d2"] * 4,
            "agent_id": ["a", "a", "b", "c"] * 2,
            "used": [1, 1, 0, 0, 1, 1, 1, 0],
            "accepted": [1, 0, 0, 0, 1, 1, 1, 0],
            "handle_minutes": [10.0] * 8,
        }
    )
    summary = adoption_summary(actions)
    assert summary["adoption"] == pytest.approx(3 / 6)  # a on d1; a and b on d2; of 6 agent-days
    assert summary["override_rate"] == pytest.approx(1 / 5)
    assert adoption_summary(actions.iloc[0:0])["adoption"] is None  # unknown, not zero


def test_each_stage_is_judged_against_its_own_threshold():
    view = stage_view(
        {"ranking": 0.74, "retrieval": 0.93, "answer": None},
        {"retrieval": {"min": 0.9}, "ranking": {"min": 0.8}, "answer": {"max": 1.0}},
    )
    status = {s["stage"]: s["status"] for s in view}
    assert status == {
        "retrieval": "ok",
        "ranking": "below its threshold",
        "answer": "not measured",
    }


def test_sparkline_keeps_gaps_and_order():
    line = sparkline([0.1, None, 0.5, 0.9])
    assert len(line) == 4 and line[1] == " " and line[0] < line[2] < line[3]
