"""The rollout state machine: the schedule walked day by day, and the moves it refuses."""

from datetime import date, timedelta

import pytest

from checks.policy import Policy, RolloutRules
from checks.rollout import RolloutError, advance, end, is_active, next_move, start

DAY0 = date(2026, 3, 1)


def _started(rules: RolloutRules | None = None) -> dict:
    return start(
        version="4",
        champion_version="1",
        baseline_task_success=0.84,
        rules=rules or RolloutRules(),
        today=DAY0,
        actor="rollout",
        reason="gate passed",
        policy_version="test",
    )


def _walk(record: dict, days: int, fired_on: int | None = None, proven=True):
    """Apply the sensor's daily decision for `days` days; return the moves and the record."""
    moves = []
    for i in range(1, days + 1):
        today = DAY0 + timedelta(days=i)
        fired = ["task success below the floor"] if fired_on == i else []
        move = next_move(record, today, fired, proven, "paired interval above 0")
        moves.append((i, move.action, record["fraction"]))
        if move.action == "advance":
            record = advance(record, today, "rollout", move.reason)
        elif move.action in ("rollback", "complete", "abandon"):
            outcome = {"rollback": "rolled_back", "complete": "promoted", "abandon": "abandoned"}
            record = end(record, outcome[move.action], today, "rollout", move.reason)
            break
    return moves, record


def test_the_default_schedule_goes_shadow_then_1_5_25_50_100_percent_over_14_days():
    rules = RolloutRules()
    assert [s.fraction for s in rules.steps] == [0.01, 0.05, 0.25, 0.5, 1.0]
    assert sum(s.days for s in rules.steps) == 14
    moves, record = _walk(_started(rules), 40)
    advances = [(day, fraction) for day, action, fraction in moves if action == "advance"]
    # Each advance happens once the step's days are served: shadow 2, then 2, 3, 3, 3 days.
    assert [day for day, _ in advances] == [2, 4, 7, 10, 13]
    assert [fraction for _, fraction in advances] == [0.0, 0.01, 0.05, 0.25, 0.5]
    assert moves[-1][:2] == (16, "complete")  # 3 days at 100%, then promotion
    assert record["state"] == "promoted" and record["fraction"] == 0.0
    assert [e["action"] for e in record["events"]] == ["start"] + ["advance"] * 5 + ["complete"]


def test_a_fired_trigger_rolls_back_whatever_the_step_and_the_record_says_why():
    moves, record = _walk(_started(), 40, fired_on=6)
    assert moves[-1][:2] == (6, "rollback")
    assert record["state"] == "rolled_back" and not is_active(record)
    assert record["events"][-1]["reason"] == "task success below the floor"
    assert record["events"][-1]["fraction"] == 0.0


def test_promotion_needs_the_proof_on_the_same_traffic():
    moves, record = _walk(_started(), 40, proven=False)
    assert moves[-1][:2] == (16, "abandon") and record["state"] == "abandoned"
    # Not judged yet (too few labels): it waits at 100%, then gives up after twice the step.
    moves, record = _walk(_started(), 40, proven=None)
    assert [a for _, a, _ in moves[13:16]] == ["wait", "wait", "wait"]
    assert moves[-1][:2] == (19, "abandon")


def test_the_triggers_are_written_down_at_the_start():
    record = _started(RolloutRules(task_success_drop_points=3.0, max_error_rate=0.02))
    assert record["triggers"]["task_success_floor"] == pytest.approx(0.81)
    assert record["triggers"]["max_error_rate"] == 0.02
    assert record["state"] == "shadow" and record["fraction"] == 0.0
    assert record["id"] == "v4-2026-03-01"


def test_moves_an_ended_rollout_refuses():
    _, record = _walk(_started(), 40, fired_on=2)
    with pytest.raises(RolloutError, match="no rollout in progress"):
        advance(record, DAY0, "x", "y")
    with pytest.raises(RolloutError, match="last step"):
        end(_started(), "promoted", DAY0, "x", "too early")


def test_the_policy_refuses_a_schedule_that_does_not_reach_everyone_or_falls():
    with pytest.raises(ValueError, match="end at fraction 1.0"):
        Policy.model_validate({"rollout": {"steps": [{"fraction": 0.5, "days": 2}]}})
    with pytest.raises(ValueError, match="must rise"):
        Policy.model_validate(
            {
                "rollout": {
                    "steps": [
                        {"fraction": 0.5, "days": 1},
                        {"fraction": 0.2, "days": 1},
                        {"fraction": 1.0, "days": 1},
                    ]
                }
            }
        )
