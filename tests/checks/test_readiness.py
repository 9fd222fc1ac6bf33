"""The readiness report's judgements on small, hand-made inputs."""

from datetime import date

import pandas as pd

from checks.policy import ReadinessRules
from checks.readiness import ReadinessInputs, build_report

DAY = date(2026, 3, 10)


def _inputs(**change) -> ReadinessInputs:
    preds = pd.DataFrame(
        {
            "ticket_id": ["a", "b", "c", "d"],
            "day": [DAY.isoformat()] * 4,
            "model_version": ["3"] * 4,
            "score": [0.9, 0.1, 0.8, 0.2],
            "champion_score": [0.9, 0.1, 0.8, 0.2],
            "champion_version": ["3"] * 4,
            "escalate": [True, False, True, False],
            "channel": ["chat"] * 4,
        }
    )
    actions = pd.DataFrame(
        {
            "ticket_id": ["a", "b"],
            "day": [DAY.isoformat()] * 2,
            "agent_id": ["x", "y"],
            "used": [1, 1],
            "accepted": [1, 0],
            "handle_minutes": [10.0, 12.0],
        }
    )
    values = {
        "day": DAY,
        "launch": date(2026, 2, 4),
        "predictions": preds,
        "labels": pd.DataFrame({"ticket_id": ["a", "b", "c", "d"], "escalated": [1, 0, 1, 0]}),
        "actions_week": actions,
        "actions_recent": actions,
        "month1": {"adoption": 1.0, "override_rate": 0.1},
        "pre_deployment": {"handle_minutes": 12.0},
        "baseline": {"champion_version": "3", "metrics": {"task_success": {"value": 0.84}}},
        "pipeline": {"last_success": "x", "rows": 2000, "expected_rows": 2100, "schema_errors": []},
        "currency": {"champion": "3", "served": ["3"], "intended": ["3"], "flag": "on"},
        "output": {},
        "input_days": [],
        "threshold": 0.5,
        "rules": ReadinessRules(),
    }
    return ReadinessInputs(**{**values, **change})


def _status(report) -> dict:
    return {q["question"].split(":")[0]: q["status"] for q in report["questions"]}


def test_a_healthy_week_answers_ok_with_the_figures():
    report = build_report(_inputs())
    assert report["overall"] == "ok", report["questions"]
    task = report["questions"][0]
    assert task["this_week"] == 1.0 and task["baseline"] == 0.84


def test_a_version_nobody_intended_fails_version_currency():
    report = build_report(
        _inputs(currency={"champion": "3", "served": ["2"], "intended": ["3"], "flag": "on"})
    )
    assert _status(report)["version currency"] == "fail"
    assert "NOT the intended 3" in report["questions"][4]["answer"]


def test_schema_errors_earlier_warn_and_a_short_day_fails():
    earlier = {
        "last_success": "x",
        "rows": 2000,
        "expected_rows": 2100,
        "schema_errors": [{"day": "2026-02-20", "check": "raw_tickets_contract"}],
    }
    assert _status(build_report(_inputs(pipeline=earlier)))["data pipeline health"] == "warn"
    short = {**earlier, "rows": 900, "schema_errors": []}
    assert _status(build_report(_inputs(pipeline=short)))["data pipeline health"] == "fail"


def test_adoption_collapse_and_slower_handling_fail():
    report = build_report(
        _inputs(
            month1={"adoption": 1.0, "override_rate": 0.1}, pre_deployment={"handle_minutes": 9.0}
        )
    )
    assert _status(report)["business metric vs pre-deployment"] == "fail"  # 11 min vs 9
    collapsed = _inputs(month1={"adoption": 1.0, "override_rate": 0.1})
    collapsed.actions_week = collapsed.actions_week.assign(used=[1, 0])
    collapsed.actions_week.loc[1, "agent_id"] = "y"
    assert _status(build_report(collapsed))["adoption vs month 1"] == "fail"  # 50% vs 100%
