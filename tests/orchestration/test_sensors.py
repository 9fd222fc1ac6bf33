"""The loop's sensors on a real Dagster instance holding real check evaluations (reported to
the event log as a deployment's checks would), evaluated with `evaluate_tick`; the alert
sensor posts to a real HTTP server on localhost."""

from datetime import date, timedelta

import pandas as pd
from dagster import (
    AssetCheckEvaluation,
    AssetCheckSeverity,
    AssetMaterialization,
    build_sensor_context,
)

from orchestration.catalog import definitions
from orchestration.webhook_receiver import WebhookReceiver
from resources.alerts import AlertOutbox, AlertWebhook, outbox_path
from resources.clock import ClockResource
from resources.links import UiLinks
from resources.policy import PolicyResource
from resources.snapshots import SnapshotStore, snapshot_root
from resources.storage import HomeStorage
from workflows.ticket_escalation.workflow import WORKFLOW as WF

defs = definitions(WF)
SENSORS = {s.name: s for s in defs.get_repository_def().sensor_defs}
drift_retraining_sensor = SENSORS["drift_retraining_sensor"]
label_retraining_sensor = SENSORS["label_retraining_sensor"]
performance_retraining_sensor = SENSORS["performance_retraining_sensor"]
alert_sensor = SENSORS["alert_sensor"]

DAY = date(2026, 3, 2)


def resources(home, now, webhook_url=""):
    return {
        "policy": PolicyResource(
            workflow=WF.name,
            home=str(home.root),
            workflow_file=str(WF.policy_file),
            defaults=WF.task.default_policy,
            label_lag_days=WF.label.max_lag_days,
        ),
        "clock": ClockResource(fixed_now=now.isoformat()),
        "storage": HomeStorage(home=str(home.root), workflow=WF.name),
        "webhook": AlertWebhook(url=webhook_url),
        "links": UiLinks(),
    }


def tick(sensor, instance, home, now, cursor=None, webhook_url=""):
    with build_sensor_context(
        instance=instance,
        cursor=cursor,
        repository_def=defs.get_repository_def(),
        resources=resources(home, now, webhook_url),
        sensor_name=sensor.name,
    ) as context:
        return sensor.evaluate_tick(context)


def report_check(instance, asset, check, passed, partition=None, severity="ERROR", **metadata):
    instance.report_runless_asset_event(
        AssetCheckEvaluation(
            asset_key=WF.key(asset),
            check_name=check,
            passed=passed,
            severity=AssetCheckSeverity(severity),
            description=f"{check} {'passed' if passed else 'failed'} on {partition}",
            metadata=metadata,
            partition=partition,
        )
    )


def drift_day(instance, day, columns):
    report_check(
        instance,
        "profiles",
        "drift",
        passed=not columns,
        partition=day.isoformat(),
        drifted_columns=columns,
    )


def trained(instance, on: date, labels_until: str):
    instance.report_runless_asset_event(
        AssetMaterialization(
            asset_key=WF.key("challenger_model"),
            metadata={"trained_at": f"{on}T03:00:00+00:00", "labels_until": labels_until},
        )
    )


def test_drift_sensor_asks_once_per_incident_and_respects_the_cooldown(home, instance):
    trained(instance, DAY - timedelta(days=30), "2026-01-25")
    drift_day(instance, DAY, [])
    drift_day(instance, DAY + timedelta(days=1), ["first_response_minutes"])
    one_day = tick(drift_retraining_sensor, instance, home, DAY + timedelta(days=2))
    assert not one_day.run_requests, "one drifted day is not a new world"

    drift_day(instance, DAY + timedelta(days=2), ["first_response_minutes"])
    second = tick(drift_retraining_sensor, instance, home, DAY + timedelta(days=3))
    [request] = second.run_requests
    assert request.job_name == "retraining"
    assert request.run_key == f"drift:{DAY + timedelta(days=1)}"
    assert request.tags["afterlaunch/trigger"] == "drift"
    assert request.tags["afterlaunch/workflow"] == WF.name

    # The same incident on its third day: the same key, so the daemon launches nothing new.
    drift_day(instance, DAY + timedelta(days=3), ["first_response_minutes", "channel"])
    third = tick(drift_retraining_sensor, instance, home, DAY + timedelta(days=4))
    assert [r.run_key for r in third.run_requests] == [request.run_key]

    # A retraining ran yesterday: a new streak within the cooldown waits.
    trained(instance, DAY + timedelta(days=3), "2026-02-27")
    cooled = tick(drift_retraining_sensor, instance, home, DAY + timedelta(days=4))
    assert not cooled.run_requests and "cooldown" in cooled.skip_message


def test_drift_on_a_column_the_model_ignores_asks_for_nothing(home, instance):
    for i in range(3):
        drift_day(instance, DAY + timedelta(days=i), ["subject"])
    assert not tick(drift_retraining_sensor, instance, home, DAY + timedelta(days=3)).run_requests


def test_label_sensor_counts_rows_labelled_since_the_last_training(home, instance):
    trained(instance, DAY - timedelta(days=20), DAY.isoformat())
    store = SnapshotStore(snapshot_root(home.root, WF.name))

    for i in range(1, 7):  # 6 days x 2,000 labels after the training's last label day
        key = (DAY + timedelta(days=i)).isoformat()
        store.write("labels", key, pd.DataFrame({"ticket_id": [f"T{i}"]}))
        instance.report_runless_asset_event(
            AssetMaterialization(
                asset_key=WF.key("labels"), partition=key, metadata={"dagster/row_count": 2000}
            )
        )
    result = tick(label_retraining_sensor, instance, home, DAY + timedelta(days=7))
    [request] = result.run_requests
    assert (
        request.run_key == f"labels:{DAY.isoformat()}"
        and "12000" in request.tags["afterlaunch/reason"]
    )


def test_performance_sensor_refreshes_the_test_set_then_retrains(home, instance):
    instance.report_runless_asset_event(
        AssetMaterialization(asset_key=WF.key("eval_test_set"), metadata={"eval_set_version": "1"})
    )
    report_check(
        instance,
        "weekly_evaluation",
        "weekly_task_success",
        passed=True,
        week_first_day="2026-02-14",
        labels_until="2026-02-27",
        drop_started="",
    )
    quiet = tick(performance_retraining_sensor, instance, home, DAY)
    assert not quiet.run_requests

    report_check(
        instance,
        "weekly_evaluation",
        "weekly_task_success",
        passed=False,
        week_first_day="2026-02-21",
        labels_until="2026-03-06",
        drop_started="2026-02-23",
    )
    result = tick(performance_retraining_sensor, instance, home, DAY, cursor=quiet.cursor)
    [request] = result.run_requests
    assert request.job_name == "refresh_test_set"
    assert request.tags["afterlaunch/workflow"] == WF.name
    drawn = request.run_config["ops"][WF.op("eval_test_set")]["config"]
    assert drawn == {"version": "2", "start_date": "2026-02-23", "end_date": "2026-03-06"}
    # The failure is behind the cursor now: the next tick does not ask again.
    again = tick(performance_retraining_sensor, instance, home, DAY, cursor=result.cursor)
    assert not again.run_requests


def test_alerts_survive_a_webhook_that_is_down_and_follow_the_routes(home, instance):
    report_check(instance, "raw", "raw_volume", passed=False, partition=DAY.isoformat())
    report_check(
        instance, "predictions", "prediction_drift", passed=False, partition=DAY.isoformat()
    )
    report_check(instance, "raw", "raw_contract", passed=True, partition=DAY.isoformat())
    outbox = AlertOutbox(outbox_path(home.root, WF.name))
    morning = DAY + timedelta(days=1)
    with WebhookReceiver() as channel:
        channel.failing = True
        down = tick(alert_sensor, instance, home, _at(morning, 7), webhook_url=channel.url)
        pending = outbox.pending()
        assert [(a.owner, a.delivery) for a in pending] == [
            ("data engineer", "immediate"),
            ("workflow designer", "digest"),
        ]
        assert pending[0].attempts == 1 and "503" in pending[0].last_error
        assert channel.received == []

        channel.failing = False
        up = tick(alert_sensor, instance, home, _at(morning, 8), down.cursor, channel.url)
        [message] = channel.received  # the immediate one; the digest waits for tomorrow
        assert "ticket_escalation/raw.raw_volume" in message["text"] and message["blocks"]
        assert [a.delivery for a in outbox.pending()] == ["digest"]

        tick(
            alert_sensor,
            instance,
            home,
            _at(morning + timedelta(days=1), 7),
            up.cursor,
            channel.url,
        )
        digest = channel.received[-1]
        assert "digest for workflow designer" in digest["text"]
        assert "prediction_drift" in digest["text"] and outbox.pending() == []
        # Nothing is raised twice: the passed check never became an alert.
        assert len(outbox.all()) == 2


def _at(day, hour):
    from datetime import UTC, datetime, time

    return datetime.combine(day, time(hour), tzinfo=UTC)
