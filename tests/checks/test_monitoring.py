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


def _days(values, version="1"):
    return [
        {"day": f"2026-03-{i + 1:02d}", "override_rate": v, "version": version}
        for i, v in enumerate(values)
    ]


def test_the_early_warning_is_quiet_on_noise_and_fires_on_a_real_rise():
    from checks.monitoring import early_warning

    rng = np.random.default_rng(9)
    # Null: 14 days of an override rate of 0.14 measured on 1,500 suggestions a day.
    fired = 0
    for _ in range(500):
        series = list(rng.binomial(1_500, 0.14, size=15) / 1_500)
        fired += early_warning(_days(series), "override_rate", "up").moved
    assert fired / 500 <= 0.03
    # A rise on the newest day: one daily standard error is about 0.9 points and the band's
    # edge about 3 of them away, so +3 points is seen about half the time, +5 almost always.
    for rise, power in ((0.03, 0.5), (0.05, 0.95)):
        seen = 0
        for _ in range(500):
            series = list(rng.binomial(1_500, 0.14, size=14) / 1_500) + [
                rng.binomial(1_500, 0.14 + rise) / 1_500
            ]
            seen += early_warning(_days(series), "override_rate", "up").moved
        assert seen / 500 >= power, (rise, seen)


def test_a_new_champion_starts_its_own_band():
    from checks.monitoring import early_warning

    days = _days([0.14] * 10) + _days([0.20], version="2")
    days[-1]["day"] = "2026-03-20"
    verdict = early_warning(days, "override_rate", "up")
    assert not verdict.moved and "too few" in verdict.reason
