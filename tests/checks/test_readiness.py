"""The readiness report's judgements on small, hand-made inputs in the neutral vocabulary
(entity_id, score, decision, label, actor, used, accepted, kpi)."""

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from checks.policy import ReadinessRules
from checks.readiness import ReadinessInputs, build_report
from checks.tasks import BinaryClassification, Regression

DAY = date(2026, 3, 10)
TODAY = DAY.isoformat()
YESTERDAY = (DAY - timedelta(days=1)).isoformat()
TASK = BinaryClassification(0.5)
SOURCES = {
    "raw": "orders_raw",
    "labels": "orders_labels",
    "feedback": "orders_feedback",
    "predictions": "orders_predictions",
    "baseline": "orders_baseline",
    "champion": "orders_champion",
    "rollout": "orders_rollout",
    "flags": "orders_flags",
}
STAGES = {
    "scoring (task success)": "task_success",
    "human review (acceptance rate)": "acceptance_rate",
    "outcome (KPI vs pre-deployment)": "kpi_ratio",
}


def _predictions(
    scores, ids=None, day=TODAY, channels=None, version="3", arm="champion"
) -> pd.DataFrame:
    ids = ids or [chr(ord("a") + i) for i in range(len(scores))]
    return pd.DataFrame(
        {
            "entity_id": ids,
            "day": [day] * len(ids),
            "arm": [arm] * len(ids),
            "model_version": [version] * len(ids),
            "score": scores,
            "champion_score": scores,
            "champion_version": ["3"] * len(ids),
            "decision": TASK.decide(scores),
            "channel": channels or ["chat"] * len(ids),
        }
    )


def _feedback(ids, used, accepted, kpi=None, actors=None, day=TODAY) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "entity_id": ids,
            "day": [day] * len(ids),
            "actor": actors or [f"p{i}" for i in range(len(ids))],
            "used": used,
            "accepted": accepted,
            "kpi": kpi or [10.0] * len(ids),
        }
    )


def _labels(ids, values) -> pd.DataFrame:
    return pd.DataFrame({"entity_id": pd.Series(ids, dtype=object), "label": values})


def _inputs(**change) -> ReadinessInputs:
    actions = _feedback(["a", "b"], [1, 1], [1, 0], kpi=[10.0, 12.0], actors=["x", "y"])
    values = {
        "day": DAY,
        "launch": date(2026, 2, 4),
        "predictions": _predictions([0.9, 0.1, 0.8, 0.2]),
        "labels": _labels(["a", "b", "c", "d"], [1, 0, 1, 0]),
        "actions_week": actions,
        "actions_recent": actions,
        "month1": {"adoption": 1.0, "override_rate": 0.1},
        "pre_deployment": {"kpi": 12.0},
        "baseline": {"champion_version": "3", "metrics": {"task_success": {"value": 0.84}}},
        "pipeline": {"last_success": "x", "rows": 2000, "expected_rows": 2100, "schema_errors": []},
        "currency": {"champion": "3", "served": ["3"], "intended": ["3"], "flag": "on"},
        "output": {},
        "input_days": [],
        "task": TASK,
        "rules": ReadinessRules(),
        "stages": STAGES,
        "segments": ["channel"],
        "sources": SOURCES,
        "kpi_name": "handling minutes",
        "kpi_lower_is_better": True,
    }
    return ReadinessInputs(**{**values, **change})


def _status(report) -> dict:
    return {q["question"].split(":")[0]: q["status"] for q in report["questions"]}


def _q(report, start: str) -> dict:
    [found] = [q for q in report["questions"] if q["question"].startswith(start)]
    return found


# --- the five questions ------------------------------------------------------------------------


def test_a_healthy_week_answers_ok_with_the_figures():
    report = build_report(_inputs())
    assert report["overall"] == "ok", report["questions"]
    task = report["questions"][0]
    assert task["this_week"] == 1.0 and task["baseline"] == 0.84
    assert task["labelled_share"] == 1.0
    kpi = _q(report, "business metric")
    assert kpi["kpi"] == "handling minutes"
    assert (kpi["kpi_this_week"], kpi["kpi_pre_deployment"]) == (11.0, 12.0)
    assert kpi["change"] == pytest.approx(11 / 12 - 1)
    assert "average handling minutes 11.0 vs 12.0" in kpi["answer"]


def test_each_answer_cites_the_workflows_own_assets():
    report = build_report(_inputs())
    sources = {q["question"].split(" ")[0]: q["source"] for q in report["questions"]}
    assert sources["task"] == ["orders_predictions", "orders_labels", "orders_baseline"]
    assert sources["data"][0] == "orders_raw"
    assert sources["adoption"] == ["orders_feedback"]
    assert sources["business"] == ["orders_feedback"]
    assert sources["version"] == [
        "orders_predictions",
        "orders_champion",
        "orders_rollout",
        "orders_flags",
    ]


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
        "schema_errors": [{"day": "2026-02-20", "check": "raw_contract"}],
    }
    assert _status(build_report(_inputs(pipeline=earlier)))["data pipeline health"] == "warn"
    short = {**earlier, "rows": 900, "schema_errors": []}
    assert _status(build_report(_inputs(pipeline=short)))["data pipeline health"] == "fail"


def test_the_volume_warn_factor_is_the_policys():
    # 1,500 of 2,100 expected rows is 71%: enough at the default 0.7, short at 0.8.
    pipeline = {"last_success": "x", "rows": 1500, "expected_rows": 2100, "schema_errors": []}
    assert _status(build_report(_inputs(pipeline=pipeline)))["data pipeline health"] == "ok"
    strict = _inputs(pipeline=pipeline, rules=ReadinessRules(volume_warn_factor=0.8))
    assert _status(build_report(strict))["data pipeline health"] == "fail"


def test_adoption_collapse_and_a_worse_kpi_fail():
    report = build_report(
        _inputs(month1={"adoption": 1.0, "override_rate": 0.1}, pre_deployment={"kpi": 9.0})
    )
    assert _status(report)["business metric vs pre-deployment"] == "fail"  # 11 min vs 9
    collapsed = _inputs(month1={"adoption": 1.0, "override_rate": 0.1})
    collapsed.actions_week = collapsed.actions_week.assign(used=[1, 0])
    assert _status(build_report(collapsed))["adoption vs month 1"] == "fail"  # 50% vs 100%


def test_the_kpi_direction_is_the_workflows():
    # 11 this week against 12 before deployment: better if lower is better, 8% worse if not.
    lower = build_report(_inputs(kpi_lower_is_better=True))
    assert _status(lower)["business metric vs pre-deployment"] == "ok"
    higher = build_report(_inputs(kpi_lower_is_better=False, kpi_name="satisfaction"))
    assert _status(higher)["business metric vs pre-deployment"] == "fail"
    assert "average satisfaction 11.0 vs 12.0" in _q(higher, "business")["answer"]
    # the allowed worsening is the policy's: 10% lets the 8% pass
    tolerant = _inputs(kpi_lower_is_better=False, rules=ReadinessRules(kpi_worsening=0.10))
    assert _status(build_report(tolerant))["business metric vs pre-deployment"] == "ok"


# --- question 1 without labels: the label-free estimate (mutant 2) ------------------------------


NO_LABELS = _labels([], pd.Series([], dtype="int64"))


def test_a_week_without_labels_yet_is_judged_by_the_label_free_estimate():
    # Nothing labelled: the calibrated estimate is the mean of max(p, 1 - p).
    confident = build_report(_inputs(labels=NO_LABELS))  # scores 0.9, 0.1, 0.8, 0.2
    q1 = confident["questions"][0]
    assert q1["this_week"] is None and q1["labelled_share"] == 0.0
    assert q1["label_free_estimate"] == pytest.approx(0.85)
    assert q1["status"] == "ok"  # 0.85 >= 0.84 - 5 points
    assert q1["answer"] == (
        "label-free estimate 0.850 on all 4 (version 3, champion arm); "
        "baseline 0.840 (version 3), floor 0.790"
    )
    # the stage measured by task success shows the estimate too
    scoring = confident["stages"][0]
    assert scoring["stage"] == "scoring (task success)"
    assert scoring["value"] == pytest.approx(0.85)

    unsure = build_report(
        _inputs(labels=NO_LABELS, predictions=_predictions([0.6, 0.4, 0.55, 0.45]))
    )
    q1 = unsure["questions"][0]
    assert q1["label_free_estimate"] == pytest.approx(0.575)
    assert q1["status"] == "fail" and unsure["overall"] == "fail"  # 0.575 < 0.79


def test_labels_once_they_came_win_over_the_estimate():
    # Confident scores (estimate 0.85) that are all wrong: the labels decide.
    wrong = _inputs(labels=_labels(["a", "b", "c", "d"], [0, 1, 0, 1]))
    q1 = build_report(wrong)["questions"][0]
    assert q1["this_week"] == 0.0 and q1["label_free_estimate"] == pytest.approx(0.85)
    assert q1["status"] == "fail"


# --- the stages: every declared stage, its name, its own threshold (mutant 3) -----------------


def test_every_declared_stage_is_reported_under_its_name_against_its_own_threshold():
    stages = {
        "retrieval": "task_success",
        "editor check": "acceptance_rate",
        "customer outcome": "kpi_ratio",
        "second opinion": "task_success",  # two stages may share a measure
        "unjudged": "acceptance_rate",  # declared without a threshold
    }
    thresholds = {
        "retrieval": {"min": 0.9},  # task success 1.0
        "editor check": {"min": 0.75},  # acceptance 1 of the 2 used = 0.5
        "customer outcome": {"max": 0.9},  # KPI ratio 11 / 12 = 0.917
        "second opinion": {"min": 1.01},  # the same 1.0 against a stricter line
    }
    report = build_report(_inputs(stages=stages, rules=ReadinessRules(stages=thresholds)))
    assert report["stages"] == [
        {"stage": "retrieval", "value": 1.0, "min": 0.9, "status": "ok"},
        {"stage": "editor check", "value": 0.5, "min": 0.75, "status": "below its threshold"},
        {
            "stage": "customer outcome",
            "value": pytest.approx(11 / 12),
            "max": 0.9,
            "status": "above its threshold",
        },
        {"stage": "second opinion", "value": 1.0, "min": 1.01, "status": "below its threshold"},
        {"stage": "unjudged", "value": 0.5, "status": "no threshold"},
    ]


def test_a_stage_without_feedback_is_not_measured():
    stages = {"editor check": "acceptance_rate"}
    rules = ReadinessRules(stages={"editor check": {"min": 0.75}})
    empty = _feedback([], [], [])
    report = build_report(_inputs(stages=stages, rules=rules, actions_week=empty))
    assert report["stages"] == [
        {"stage": "editor check", "value": None, "min": 0.75, "status": "not measured"}
    ]


# --- the performance layer: per day (mutant 1) and per segment (mutant 4) ----------------------


def test_the_daily_override_rate_is_the_share_of_used_outputs_people_overrode():
    preds = pd.concat(
        [
            _predictions([0.9, 0.1, 0.8, 0.2], ids=["a", "b", "c", "d"], day=YESTERDAY),
            _predictions([0.7, 0.3, 0.6, 0.4], ids=["e", "f", "g", "h"]),
            _predictions([0.9, 0.1], ids=["i", "j"], day="2026-03-08"),  # no feedback yet
        ],
        ignore_index=True,
    )
    recent = pd.concat(
        [
            # yesterday: 4 used, 1 overridden
            _feedback(["a", "b", "c", "d"], [1, 1, 1, 1], [1, 1, 0, 1], day=YESTERDAY),
            # today: 3 used, none overridden; h was not used (neither accepted nor overridden)
            _feedback(["e", "f", "g", "h"], [1, 1, 1, 0], [1, 1, 1, 0]),
        ],
        ignore_index=True,
    )
    report = build_report(_inputs(predictions=preds, actions_recent=recent))
    daily = {d["day"]: d for d in report["layers"]["performance"]["daily"]}
    assert daily[YESTERDAY]["override_rate"] == 0.25
    assert daily[TODAY]["override_rate"] == 0.0
    assert daily["2026-03-08"]["override_rate"] is None  # unknown, not zero
    assert [daily[d]["rows"] for d in sorted(daily)] == [2, 4, 4]
    assert daily[YESTERDAY]["version"] == "3"


def test_segment_acceptance_counts_only_the_rows_where_the_output_was_used():
    preds = _predictions([0.9, 0.1, 0.8, 0.2], channels=["chat", "chat", "email", "email"])
    week = _feedback(["a", "b", "c", "d"], [1, 0, 1, 1], [1, 0, 0, 1])
    report = build_report(_inputs(predictions=preds, actions_week=week))
    segments = {s["value"]: s for s in report["layers"]["performance"]["segments"]}
    assert set(segments) == {"chat", "email"}
    # chat: a used and accepted; b not used (nobody looked at it): 1 of 1
    assert segments["chat"]["acceptance_rate"] == 1.0
    # email: c overridden, d accepted: 1 of 2
    assert segments["email"]["acceptance_rate"] == 0.5
    assert segments["chat"]["rows"] == 2 and segments["chat"]["decision_rate"] == 0.5
    assert segments["chat"]["task_success"] == 1.0


def test_only_the_declared_segments_that_exist_are_reported():
    report = build_report(_inputs(segments=["channel", "region"]))  # no region column
    assert {s["segment"] for s in report["layers"]["performance"]["segments"]} == {"channel"}


# --- a regression task ---------------------------------------------------------------------------


def _regression_inputs(labels, tolerance=2.0) -> ReadinessInputs:
    scores = [10.0, 20.0, 30.0, 40.0]
    preds = _predictions([0.5] * 4).assign(
        score=scores, champion_score=scores, decision=np.array(scores)
    )
    return _inputs(task=Regression(tolerance=tolerance), predictions=preds, labels=labels)


def test_a_regression_report_has_no_label_free_estimate_and_judges_realised_task_success():
    # |error| = 1, 5, 0, 1.5: within 2.0 for 3 of 4
    labels = _labels(["a", "b", "c", "d"], [11.0, 25.0, 30.0, 41.5])
    report = build_report(_regression_inputs(labels))
    q1 = report["questions"][0]
    assert q1["label_free_estimate"] is None and q1["label_free_std"] is None
    assert q1["this_week"] == 0.75
    assert q1["status"] == "fail"  # 0.75 < 0.84 - 5 points
    assert q1["answer"] == (
        "task success 0.750 (version 3, champion arm) on 4 labelled of 4 rows; no label-free "
        "estimate for this task (only labels can tell); baseline 0.840 (version 3), floor 0.790"
    )
    # a wider tolerance makes all four right: the task decides what success is
    assert build_report(_regression_inputs(labels, tolerance=5.0))["questions"][0]["status"] == "ok"
    assert report["layers"]["output"]["label_free_estimate"] is None
    [today] = report["layers"]["performance"]["daily"]
    assert today["label_free_estimate"] is None and today["task_success"] == 0.75
    [segment] = report["layers"]["performance"]["segments"]
    assert segment["task_success"] == 0.75 and segment["decision_rate"] is None


def test_a_regression_week_without_labels_is_unknown_not_guessed():
    q1 = build_report(_regression_inputs(NO_LABELS.astype({"label": "float64"})))["questions"][0]
    assert q1["this_week"] is None and q1["label_free_estimate"] is None
    assert q1["status"] == "unknown"
    assert "no label-free estimate for this task (only labels can tell)" in q1["answer"]


# --- one measurement, every number naming its version or arm ------------------------------------


def _canary_week() -> ReadinessInputs:
    """Yesterday version 3 served all rows (all right); today half the rows went to a canary
    of version 5 that got them wrong, while the champion's shadow score was right."""
    yesterday = _predictions([0.9, 0.1, 0.8, 0.2], ids=["a", "b", "c", "d"], day=YESTERDAY)
    today_champion = _predictions([0.9, 0.1], ids=["e", "f"])
    today_canary = _predictions([0.2, 0.7], ids=["g", "h"], version="5", arm="canary").assign(
        champion_score=[0.9, 0.1]
    )
    preds = pd.concat([yesterday, today_champion, today_canary], ignore_index=True)
    labels = _labels(list("abcdefgh"), [1, 0, 1, 0, 1, 0, 1, 0])
    return _inputs(predictions=preds, labels=labels)


def test_the_headline_and_the_daily_table_measure_the_same_served_rows():
    report = build_report(_canary_week())
    q1 = report["questions"][0]
    daily = {d["day"]: d for d in report["layers"]["performance"]["daily"]}
    # The canary's two wrong rows count: 6 of 8 served rows right, not the champion's 8 of 8.
    assert q1["this_week"] == 0.75 and q1["labelled_rows"] == 8
    assert daily[YESTERDAY]["task_success"] == 1.0 and daily[TODAY]["task_success"] == 0.5
    pooled = sum(d["task_success"] * d["labelled"] for d in daily.values()) / sum(
        d["labelled"] for d in daily.values()
    )
    assert pooled == pytest.approx(q1["this_week"])
    # The mix is said per day and for the week.
    assert daily[YESTERDAY]["version"] == "3" and daily[TODAY]["version"] == "3,5"
    assert daily[TODAY]["served"] == (
        f"mixed: version 3 (champion arm, 2 rows, {TODAY}); version 5 (canary arm, 2 rows, {TODAY})"
    )
    assert q1["mixed"] is True
    assert {(v["version"], v["arm"], v["rows"], v["labelled"]) for v in q1["versions"]} == {
        ("3", "champion", 6, 6),
        ("5", "canary", 2, 2),
    }
    assert "version 5 (canary arm, 2 rows" in q1["answer"]


def test_every_answer_names_the_version_or_arm_its_numbers_are_about():
    report = build_report(_inputs())
    task, pipeline, adoption, business, currency = report["questions"]
    assert task["version"] == "version 3, champion arm"
    assert task["answer"].startswith("task success 1.000 (version 3, champion arm) on 4 labelled")
    assert task["answer"].endswith("baseline 0.840 (version 3), floor 0.790")
    assert task["mixed"] is False and task["value"] == 1.0
    assert pipeline["version"] == f"the data of {TODAY} (no model version)"
    assert f"rows on {TODAY}" in pipeline["answer"]
    for q in (adoption, business):
        assert q["version"] == "version 3, champion arm"
        assert q["answer"].endswith("(outputs of version 3, champion arm)")
    assert currency["answer"].startswith("served version 3 (champion arm, 4 rows)")
    assert currency["served_arms"] == [
        {"version": "3", "arm": "champion", "rows": 4, "first_day": TODAY, "last_day": TODAY}
    ]
    assert currency["value"] == 1.0  # every row today served by an intended version
    assert [q["value"] for q in (pipeline, adoption, business)] == [
        pytest.approx(2000 / 2100),
        1.0,
        11.0,
    ]


def test_a_flag_off_day_names_the_fallback_rules_and_leaves_the_estimate_to_the_models():
    rules = _predictions([1.0, 0.0], ids=["a", "b"], version="rules", arm="flag_off").assign(
        champion_score=np.nan, champion_version=None
    )
    model = _predictions([0.9, 0.2], ids=["c", "d"], day=YESTERDAY)
    report = build_report(_inputs(predictions=pd.concat([model, rules], ignore_index=True)))
    q1 = report["questions"][0]
    assert q1["label_free_estimate"] == pytest.approx(0.85)  # c and d only
    assert q1["this_week"] == 1.0 and q1["labelled_rows"] == 4  # what was served, rules too
    assert "the fallback rules (flag_off arm, 2 rows" in q1["version"]
    assert report["questions"][4]["answer"].startswith(
        "served the fallback rules (flag_off arm, 2 rows)"
    )


def test_predictions_without_arm_or_version_are_refused_by_name():
    bare = _predictions([0.9]).drop(columns=["arm"])
    with pytest.raises(ValueError, match="predictions lack arm"):
        build_report(_inputs(predictions=bare))


# --- a degraded report on a blocked day ----------------------------------------------------------


LAST_GOOD = {
    "day": "2026-03-08",
    "overall": "ok",
    "questions": [
        {"question": "task success this week vs the launch baseline", "status": "ok",
         "answer": "task success 0.850", "value": 0.85, "version": "version 3, champion arm"},
    ],
}  # fmt: skip
CONTRACT = {
    "asset": "orders/raw",
    "check": "raw_contract",
    "severity": "ERROR",
    "description": "message_length: column missing",
}


def _blocked_day() -> ReadinessInputs:
    from checks.readiness import Blocked

    # Today's rows were never scored: the contract stopped the run after raw.
    preds = _predictions([0.9, 0.1, 0.8, 0.2], day=YESTERDAY)
    missing = [
        {"asset": "orders/features", "partition": TODAY},
        {"asset": "orders/predictions", "partition": TODAY},
    ]
    return _inputs(
        predictions=preds,
        currency={"champion": "3", "served": [], "intended": ["3"], "flag": "on"},
        blocked=Blocked(missing=missing, failed_checks=[CONTRACT], last_good=LAST_GOOD),
    )


def test_a_blocked_day_reports_what_is_known_what_is_missing_and_why():
    report = build_report(_blocked_day())
    degraded = report["degraded"]
    assert degraded["day"] == TODAY
    assert degraded["missing"] == [
        {"asset": "orders/features", "partition": TODAY},
        {"asset": "orders/predictions", "partition": TODAY},
    ]
    assert degraded["why"] == ["orders/raw.raw_contract (ERROR): message_length: column missing"]
    assert degraded["last_good"]["day"] == "2026-03-08"
    task, pipeline, _, _, currency = report["questions"]
    # What is known: the week's other days, named.
    assert task["days"] == [YESTERDAY] and TODAY in task["unscored_days"]
    assert task["this_week"] == 1.0
    assert pipeline["status"] == "fail" and report["overall"] == "fail"
    assert pipeline["answer"].endswith(f"the run for {TODAY} stopped at raw_contract (ERROR)")
    assert currency["status"] == "unknown" and currency["value"] is None
    assert currency["answer"].startswith(f"served nothing on {TODAY} (no predictions)")


def test_a_stopped_run_without_a_failed_check_is_still_a_pipeline_failure():
    from checks.readiness import Blocked

    x = _blocked_day()
    x.blocked = Blocked(missing=[], failed_checks=[], last_good=None)
    report = build_report(x)
    assert report["questions"][1]["status"] == "fail"
    assert report["degraded"]["why"] == [
        f"the daily run for {TODAY} stopped before the report (no failed check)"
    ]


def test_a_complete_day_is_not_degraded():
    assert build_report(_inputs())["degraded"] is None
