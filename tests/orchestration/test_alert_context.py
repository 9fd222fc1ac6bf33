"""Alerts with context on a real Dagster instance: the check's link, the size of the change in
numbers, the failing streak and what the system did, as the alert sensor posts them to a real
HTTP server on localhost. Then the same sentences read back from a 34-day demo home, where
the drift on first_response_minutes (2026-01-13..15) asked for a retraining run."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import pandas as pd
import pytest
from dagster import (
    AssetCheckEvaluation,
    AssetCheckKey,
    AssetCheckSeverity,
    AssetKey,
    DagsterInstance,
    asset,
    build_sensor_context,
    materialize,
)

from assets.check_history import evaluations
from assets.profiles import drift_result
from checks.policy import DriftRules
from checks.profiles import build_reference_profile, profile_like
from orchestration.alert_context import alert_context
from orchestration.catalog import definitions
from orchestration.webhook_receiver import WebhookReceiver
from resources.alerts import AlertOutbox, AlertWebhook, outbox_path
from resources.clock import ClockResource
from resources.links import UiLinks
from resources.policy import PolicyResource
from resources.storage import HomeStorage
from tests.support.demo_home import copied_home
from workflows.ticket_escalation.workflow import WORKFLOW as WF

defs = definitions(WF)
alert_sensor = next(s for s in defs.get_repository_def().sensor_defs if s.name == "alert_sensor")
DAGSTER_UI = "http://127.0.0.1:3000"
DAY = date(2026, 3, 2)
DRIFT_URL = f"{DAGSTER_UI}/assets/ticket_escalation/profiles?view=checks&checkDetail=drift"


def policy(home) -> PolicyResource:
    return PolicyResource(
        workflow=WF.name,
        home=str(home.root),
        workflow_file=str(WF.policy_file),
        defaults=WF.task.default_policy,
        label_lag_days=WF.label.max_lag_days,
    )


def tick(instance, home, day: date, cursor: str | None, webhook_url: str):
    resources = {
        "policy": policy(home),
        "clock": ClockResource(fixed_now=datetime.combine(day, time(7), tzinfo=UTC).isoformat()),
        "storage": HomeStorage(home=str(home.root), workflow=WF.name),
        "webhook": AlertWebhook(url=webhook_url),
        "links": UiLinks(dagster_url=DAGSTER_UI),
    }
    with build_sensor_context(
        instance=instance,
        cursor=cursor,
        repository_def=defs.get_repository_def(),
        resources=resources,
        sensor_name=alert_sensor.name,
    ) as context:
        return alert_sensor.evaluate_tick(context)


# Profiles the way the drift check holds them: a reference window, then days shifted by 1 SD.
RNG = np.random.default_rng(7)


def tickets(n: int, shift_sd: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "first_response_minutes": RNG.normal(60 + 15 * shift_sd, 15, n),
            "channel": RNG.choice(["email", "chat", "phone"], n, p=[0.5, 0.3, 0.2]),
        }
    )


REFERENCE = build_reference_profile(tickets(20_000), ["first_response_minutes"], ["channel"])


def report_drift(instance, day: date, shift_sd: float) -> dict:
    result = drift_result(
        profile_like(tickets(2_000, shift_sd), REFERENCE),
        REFERENCE,
        DriftRules(),
        "partition",
        key_columns=["first_response_minutes", "channel"],
    )
    instance.report_runless_asset_event(
        AssetCheckEvaluation(
            asset_key=WF.key("profiles"),
            check_name="drift",
            passed=result.passed,
            severity=result.severity,
            description=result.description,
            metadata=result.metadata,
            partition=day.isoformat(),
        )
    )
    return {k: getattr(v, "value", v) for k, v in result.metadata.items()}


def sensor_run(instance, run_key: str) -> str:
    """A real run on the instance tagged as the drift sensor's request is (the daemon adds the
    run key); its job is a stand-in, the alert only looks the run up by its key."""

    @asset(name="retraining_stand_in")
    def stand_in() -> int:
        return 1

    tags = {"dagster/run_key": run_key, "afterlaunch/workflow": WF.name}
    return materialize([stand_in], instance=instance, tags=tags).run_id


def drift_alerts(channel) -> list[dict]:
    return [m for m in channel.received if "profiles.drift" in m["text"]]


def test_a_drift_streak_alert_says_how_big_how_long_and_what_was_done(home, instance):
    d1, d2, d3 = DAY, DAY + timedelta(days=1), DAY + timedelta(days=2)
    outbox = AlertOutbox(outbox_path(home.root, WF.name))
    with WebhookReceiver() as channel:
        report_drift(instance, d1 - timedelta(days=1), 0.0)  # a clean day before the streak
        meta = report_drift(instance, d1, 1.0)
        first = tick(instance, home, d1 + timedelta(days=1), None, channel.url)
        [message] = drift_alerts(channel)
        effect = meta["first_response_minutes/effect"]
        assert 0.8 < effect < 1.2
        change = f"first_response_minutes moved by {effect:.2f} SD (floor 0.15), p < 0.001"
        assert f"*Change:* {change}" in message["text"]
        assert "*In a row:* 1 failing partitions" in message["text"]
        assert (
            "*Action:* retraining is requested after 2 failing days in a row on a key "
            "column; this is day 1" in message["text"]
        )
        assert f"<{DRIFT_URL}|Open the check in Dagster>" in message["text"]

        # Day two: the drift sensor asked for the retraining (run key = the streak's start).
        report_drift(instance, d2, 1.0)
        run_id = sensor_run(instance, f"drift:{d1}")
        second = tick(instance, home, d2 + timedelta(days=1), first.cursor, channel.url)
        report_drift(instance, d3, 1.0)
        tick(instance, home, d3 + timedelta(days=1), second.cursor, channel.url)

    *_, on_d2, on_d3 = drift_alerts(channel)
    assert "*In a row:* 2 failing partitions" in on_d2["text"]
    assert (
        f"retraining requested for the drift since {d1} (run {DAGSTER_UI}/runs/{run_id}, success)"
        in on_d3["text"]
    )
    payload = next(a.payload for a in outbox.all() if a.payload["partition"] == d3.isoformat())
    assert payload["in_a_row"] == 3 and payload["url"] == DRIFT_URL
    assert payload["action"].endswith(f"(run {DAGSTER_UI}/runs/{run_id}, success)")
    assert payload["change"].startswith("first_response_minutes moved by ")


def test_a_volume_drop_on_a_blocking_check_names_rows_and_the_hold(home, instance):
    instance.report_runless_asset_event(
        AssetCheckEvaluation(
            asset_key=WF.key("raw"),
            check_name="raw_volume",
            passed=False,
            severity=AssetCheckSeverity.ERROR,
            description="1024 rows, 48% below the median",
            metadata={"rows": 1024, "expected_rows": 1970.0, "drop": 0.48},
            partition=DAY.isoformat(),
        )
    )
    with WebhookReceiver() as channel:
        tick(instance, home, DAY + timedelta(days=1), None, channel.url)
    [message] = channel.received
    assert "*Change:* 1,024 rows, 52% of the expected 1,970" in message["text"]
    assert (
        f"*Action:* downstream assets of partition {DAY} are held until this check passes"
        in message["text"]
    )
    assert "checkDetail=raw_volume" in message["text"]


# --- the demo home: 34 simulated days, real runs ----------------------------------------------


@pytest.fixture(scope="module")
def loop_home(loop_demo, tmp_path_factory):
    home = copied_home(loop_demo, tmp_path_factory.mktemp("loop"), WF)  # read, but a copy
    yield home, DagsterInstance.from_config(str(home.dagster_home))


def context_for(loop_home, asset: str, check: str, partition: str | None, today: date):
    home, instance = loop_home
    key = AssetCheckKey(AssetKey([WF.name, asset]), check)
    history = evaluations(instance, [key])
    [evaluation] = [e for e in history if e.partition == partition and not e.passed][-1:]
    blocking = defs.resolve_asset_graph().get_check_spec(key).blocking
    facts = alert_context(
        evaluation,
        history,
        WF,
        policy(home).load(),
        instance,
        UiLinks(dagster_url=DAGSTER_UI),
        today,
        blocking,
    )
    return evaluation, facts, instance


def run_id_for(instance, run_key: str) -> str:
    from dagster import RunsFilter

    [run] = instance.get_runs(filters=RunsFilter(tags={"dagster/run_key": run_key}))
    return run.run_id


def test_the_demo_homes_drift_alert_on_the_third_day(loop_home):
    evaluation, facts, instance = context_for(
        loop_home, "profiles", "drift", "2026-01-15", date(2026, 1, 16)
    )
    assert facts["url"] == DRIFT_URL
    assert facts["in_a_row"] == 3
    [row] = [
        r.data for r in evaluation.metadata["columns"].records if r.data["decision"] == "error"
    ]
    assert row["column"] == "first_response_minutes"
    # Recorded before the table carried its floor: the floor comes from the policy (0.15).
    assert facts["change"] == (
        f"first_response_minutes moved by {row['effect_size']:.2f} SD (floor 0.15), p < 0.001"
    )
    run_id = run_id_for(instance, "drift:2026-01-13")
    assert facts["action"] == (
        "retraining requested for the drift since 2026-01-13 "
        f"(run {DAGSTER_UI}/runs/{run_id}, success)"
    )


def test_the_demo_homes_rollback_volume_and_weekly_alerts_name_what_happened(loop_home):
    _, rollback, instance = context_for(
        loop_home, "rollout_comparison", "rollout_triggers", "2026-01-15", date(2026, 1, 16)
    )
    run_id = run_id_for(instance, "rollout-rollback:v3-2026-01-13")
    assert rollback["action"] == (
        "the rollout v3-2026-01-13 of version 3 was rolled back "
        f"(run {DAGSTER_UI}/runs/{run_id}, success)"
    )
    assert rollback["change"].startswith("2 of ")

    _, volume, _ = context_for(loop_home, "raw", "raw_volume", "2026-01-12", date(2026, 1, 13))
    assert volume["change"] == "1,093 rows, 49% of the expected 2,232"
    assert volume["action"].startswith("downstream assets of partition 2026-01-12 are held")

    _, weekly, _ = context_for(
        loop_home, "weekly_evaluation", "weekly_task_success", None, date(2026, 1, 26)
    )
    refresh = run_id_for(instance, "performance:2026-01-25")
    retrain = run_id_for(instance, f"performance-retrain:{refresh}")
    assert weekly["change"] == (
        "task success dropped 8.6 points vs baseline, 8.9 points vs last week (5 allowed)"
    )
    assert (
        f"test set refresh requested (run {DAGSTER_UI}/runs/{refresh}, success)" in weekly["action"]
    )
    assert f"retraining requested (run {DAGSTER_UI}/runs/{retrain}, success)" in weekly["action"]
    assert weekly["in_a_row"] == 1

    _, merged, _ = context_for(
        loop_home, "profiles", "merged_drift", "2026-01-20", date(2026, 1, 21)
    )
    assert merged["in_a_row"] == 8 and merged["action"].startswith("nothing automatic")
