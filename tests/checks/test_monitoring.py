"""The monitoring layers' plain functions: the label-free estimate, adoption, segments,
stages, in the neutral vocabulary (entity_id, score, decision, label, actor, used, accepted,
kpi)."""

import numpy as np
import pandas as pd
import pytest

from checks.monitoring import (
    adoption_summary,
    cbpe_task_success,
    early_warning,
    segment_performance,
    sparkline,
    stage_view,
    task_success,
)
from checks.tasks import BinaryClassification, Regression

TASK = BinaryClassification(0.5)


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
        inside += abs(est.value - task_success(p, y, TASK)) <= 1.96 * est.std
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
    assert abs(est - task_success(shifted, y_shifted, TASK)) < 0.02
    # Concept drift: same scores, outcomes flipped. The estimate does not move (its known
    # blind spot); the real task success falls.
    assert cbpe_task_success(p, 0.5).value == pytest.approx(base)
    assert task_success(p, ~y, TASK) < base - 0.3


def test_adoption_is_the_share_of_actor_days_using_the_output():
    actions = pd.DataFrame(
        {
            "day": ["d1"] * 4 + ["d2"] * 4,
            "actor": ["a", "a", "b", "c"] * 2,
            "used": [1, 1, 0, 0, 1, 1, 1, 0],
            "accepted": [1, 0, 0, 0, 1, 1, 1, 0],
            "kpi": [10.0, 12.0, 8.0, 10.0, 10.0, 10.0, 14.0, 6.0],
        }
    )
    summary = adoption_summary(actions)
    assert summary["adoption"] == pytest.approx(3 / 6)  # a on d1; a and b on d2; of 6 actor-days
    assert summary["override_rate"] == pytest.approx(1 / 5)  # a's second row on d1, of 5 used
    assert summary["acceptance_rate"] == pytest.approx(4 / 5)
    assert (summary["actors"], summary["actors_using"], summary["rows"]) == (3, 2, 8)
    assert summary["kpi"] == pytest.approx(10.0)
    empty = adoption_summary(actions.iloc[0:0])
    assert empty["adoption"] is None and empty["override_rate"] is None  # unknown, not zero
    assert empty["kpi"] is None and empty["rows"] == 0


def test_without_a_day_adoption_is_the_share_of_actors_and_without_a_kpi_it_is_none():
    actions = pd.DataFrame(
        {"actor": ["a", "a", "b", "c"], "used": [0, 1, 0, 0], "accepted": [0, 0, 0, 0]}
    )
    summary = adoption_summary(actions)
    assert summary["adoption"] == pytest.approx(1 / 3) and summary["kpi"] is None
    assert summary["override_rate"] == 1.0 and summary["acceptance_rate"] == 0.0


def test_segment_performance_per_value_in_the_neutral_vocabulary():
    joined = pd.DataFrame(
        {
            "entity_id": list("abcdef"),
            "channel": ["chat", "chat", "chat", "mail", "mail", "mail"],
            "score": [0.9, 0.2, 0.7, 0.6, np.nan, 0.1],
            "champion_score": [0.9, 0.2, 0.7, 0.6, np.nan, 0.1],
            "decision": [True, False, True, True, False, False],
            "label": [1, 1, np.nan, 0, 1, 0],
            "used": [1, 1, 0, 1, 0, 0],
            "accepted": [1, 0, 1, 1, 1, 1],
        }
    )
    rows = {r["value"]: r for r in segment_performance(joined, ["channel"], TASK)}
    chat, mail = rows["chat"], rows["mail"]
    assert set(chat) == {
        "segment",
        "value",
        "rows",
        "task_success",
        "acceptance_rate",
        "decision_rate",
        "error_rate",
    }
    assert chat["segment"] == "channel" and chat["rows"] == 3
    assert chat["task_success"] == 0.5  # a right, b wrong; c has no label yet
    # acceptance over the used rows only: c was "accepted" without being used
    assert chat["acceptance_rate"] == 0.5
    assert chat["decision_rate"] == pytest.approx(2 / 3) and chat["error_rate"] == 0.0
    assert mail["task_success"] == 0.5  # d said yes to a 0, f no to a 0; e was not scored
    assert mail["acceptance_rate"] == 1.0 and mail["error_rate"] == pytest.approx(1 / 3)


def test_segment_performance_of_a_regression_has_no_decision_rate():
    joined = pd.DataFrame(
        {
            "entity_id": ["a", "b"],
            "region": ["n", "n"],
            "score": [10.0, 20.0],
            "champion_score": [10.0, 20.0],
            "decision": [10.0, 20.0],
            "label": [11.0, 25.0],
        }
    )
    [row] = segment_performance(joined, ["region"], Regression(tolerance=2.0))
    assert row["task_success"] == 0.5 and row["decision_rate"] is None
    assert row["acceptance_rate"] is None  # no feedback column: nobody used it


def test_each_stage_is_judged_against_its_own_threshold():
    view = stage_view(
        {"ranking": 0.74, "retrieval": 0.93, "answer": None, "latency": 1.4, "review": 0.5},
        {
            "retrieval": {"min": 0.9},
            "ranking": {"min": 0.8},
            "answer": {"max": 1.0},
            "latency": {"max": 1.2},
            "nowhere": {"min": 0.1},  # a threshold for a stage nobody measures
        },
    )
    status = {s["stage"]: s["status"] for s in view}
    assert status == {
        "ranking": "below its threshold",
        "retrieval": "ok",
        "answer": "not measured",
        "latency": "above its threshold",
        "review": "no threshold",
    }
    assert [s["stage"] for s in view] == ["ranking", "retrieval", "answer", "latency", "review"]
    assert view[0] == {
        "stage": "ranking",
        "value": 0.74,
        "min": 0.8,
        "status": "below its threshold",
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
    days = _days([0.14] * 10) + _days([0.20], version="2")
    days[-1]["day"] = "2026-03-20"
    verdict = early_warning(days, "override_rate", "up")
    assert not verdict.moved and "too few" in verdict.reason


def test_the_early_warning_band_follows_its_settings():
    # Eight steady days then a step: a band of median +- k robust sd, at least min_spread.
    steady = [0.10, 0.11, 0.10, 0.12, 0.10, 0.11, 0.10, 0.11]
    days = _days([*steady, 0.125])
    # MAD of the steady days is 0.005 (median 0.105): k=3 gives 3 * 1.4826 * 0.005 = 0.0222
    wide = early_warning(days, "override_rate", "up", min_spread=0.0)
    assert wide.high == pytest.approx(0.105 + 3 * 1.4826 * 0.005) and not wide.moved
    narrow = early_warning(days, "override_rate", "up", k=1.0, min_spread=0.0)
    assert narrow.high == pytest.approx(0.105 + 1.4826 * 0.005) and narrow.moved
    floor = early_warning(days, "override_rate", "up", k=1.0, min_spread=0.05)
    assert floor.high == pytest.approx(0.155) and not floor.moved
    # the window: only the 2 days before the newest (0.10, 0.11) make the band
    short = early_warning(days, "override_rate", "up", window=2, min_spread=0.0, min_days=2)
    assert short.low == pytest.approx(0.105 - 3 * 1.4826 * 0.005)
    assert "median of the 2 days before" in short.reason
    # min_days: 8 earlier days are enough for 8, not for 9
    assert early_warning(days, "override_rate", "up", min_days=8).day == "2026-03-09"
    assert "too few" in early_warning(days, "override_rate", "up", min_days=9).reason
    # direction down: the estimate of task success falling out of its band
    fall = early_warning(_days([0.9] * 8 + [0.8], "1"), "override_rate", "down")
    assert fall.moved and fall.low == pytest.approx(0.89)  # zero MAD: min_spread 0.01
