"""Sensors: the loop's reflexes. Each reads what the checks and the registry recorded, asks a
plain function in `checks.retraining` whether to act, and turns the answer into run requests
with run keys, so one incident asks for one run however often the sensor ticks.

Time comes from the clock resource (the demo ticks these sensors on simulated days).
"""

from __future__ import annotations

import logging
from datetime import date

from dagster import (
    AssetKey,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from assets.check_history import check_key, evaluations
from assets.evaluation import find_evaluation
from assets.history import latest_metadata, latest_unpartitioned
from assets.serving import current_rollout
from checks.retraining import (
    Trigger,
    drift_trigger,
    in_cooldown,
    label_trigger,
    next_test_set_version,
)
from checks.rollout import is_active, next_move
from orchestration.alerts import (
    alert_key,
    alert_payload,
    digest_messages,
    due,
    immediate_message,
    route,
)
from orchestration.jobs import (
    complete_rollout,
    evaluate_challenger,
    refresh_test_set,
    retraining,
    rollout_step,
)
from resources.alerts import AlertDeliveryError, AlertOutbox, AlertWebhook, outbox_path
from resources.clock import ClockResource
from resources.policy import PolicyResource
from resources.registry import ModelRegistry
from resources.storage import HomeStorage

log = logging.getLogger("afterlaunch.sensors")

TRIGGER_TAG = "afterlaunch/trigger"
START_TAG = "afterlaunch/start_date"
END_TAG = "afterlaunch/end_date"
REASON_TAG = "afterlaunch/reason"
ON = DefaultSensorStatus.RUNNING  # safe to run from the start: run keys and cooldowns
DRIFT_CHECK = check_key("ticket_profiles", "ticket_drift")
WEEKLY_CHECK = check_key("weekly_evaluation", "weekly_task_success")


def _trained_on(instance) -> date | None:
    last = latest_unpartitioned(instance, AssetKey("challenger_model"))
    if "trained_at" not in last:
        return None
    return date.fromisoformat(str(last["trained_at"])[:10])


def retraining_request(
    trigger: Trigger, kind: str, start: str | None = None, end: str | None = None
) -> RunRequest:
    window = {k: v for k, v in {"start_date": start, "end_date": end}.items() if v}
    ops: dict = {
        "challenger_model": {
            "config": {"change_summary": f"{kind} retraining: {trigger.reason}", "actor": kind}
        }
    }
    if window:
        ops["training_set"] = {"config": window}
    return RunRequest(
        run_key=trigger.key,
        job_name=retraining.name,
        run_config={"ops": ops},
        tags={
            TRIGGER_TAG: kind,
            REASON_TAG: trigger.reason[:250],
            **({START_TAG: start} if start else {}),
        },
    )


@sensor(job=retraining, minimum_interval_seconds=3600, default_status=ON)
def drift_retraining_sensor(
    context: SensorEvaluationContext, policy: PolicyResource, clock: ClockResource
):
    """ERROR drift on a key column for N days in a row (policy) asks for one retraining."""
    rules = policy.load().retraining
    by_day: dict[date, set[str]] = {}
    for e in evaluations(context.instance, [DRIFT_CHECK]):  # oldest first: re-runs overwrite
        if e.partition is not None:
            errors = set(e.metadata.get("drifted_columns") or []) if e.level == "error" else set()
            by_day[date.fromisoformat(e.partition)] = errors
    trigger = drift_trigger(by_day, rules.drift_key_columns, rules.drift_consecutive_days)
    if trigger is None:
        return SkipReason("no key column has drifted on enough consecutive days")
    today = clock.now().date()
    if in_cooldown(today, _trained_on(context.instance), rules.cooldown_days):
        return SkipReason(f"{trigger.reason}, but a retraining ran within the cooldown")
    return retraining_request(trigger, "drift")


@sensor(job=retraining, minimum_interval_seconds=3600, default_status=ON)
def label_retraining_sensor(
    context: SensorEvaluationContext,
    policy: PolicyResource,
    clock: ClockResource,
    storage: HomeStorage,
):
    """Enough newly labelled rows since the last training's labels ask for a retraining."""
    rules = policy.load().retraining
    last = latest_unpartitioned(context.instance, AssetKey("challenger_model"))
    if not last:
        return SkipReason("no model trained yet: the first training is a launch decision")
    since = str(last["labels_until"])
    newer = [d for d in storage.snapshots.partitions("ticket_labels") if d > since]
    counts = latest_metadata(context.instance, AssetKey("ticket_labels"), newer)
    rows = sum(int(m["dagster/row_count"]) for m in counts.values())
    trigger = label_trigger(rows, since, rules.new_labels_min_rows)
    if trigger is None:
        return SkipReason(f"{rows} new labelled rows, {rules.new_labels_min_rows} needed")
    if in_cooldown(clock.now().date(), _trained_on(context.instance), rules.cooldown_days):
        return SkipReason(f"{trigger.reason}, but a retraining ran within the cooldown")
    return retraining_request(trigger, "labels")


@sensor(jobs=[refresh_test_set, retraining], minimum_interval_seconds=3600, default_status=ON)
def performance_retraining_sensor(context: SensorEvaluationContext):
    """A failed weekly task-success check: first a new test-set version from the days since the
    drop (the old one describes a world that is gone) with the champion's baseline re-recorded
    on it; when that run has succeeded, a retraining on the same days."""
    instance = context.instance
    after = int(context.cursor or 0)
    new = evaluations(instance, [WEEKLY_CHECK], after_id=after)
    requests = []
    for e in new:
        if e.level != "error":
            continue
        start = e.metadata.get("drop_started") or e.metadata["week_first_day"]
        end = e.metadata["labels_until"]
        current = latest_unpartitioned(instance, AssetKey("eval_test_set")).get("eval_set_version")
        version = next_test_set_version(current)
        requests.append(
            RunRequest(
                run_key=f"performance:{end}",
                job_name=refresh_test_set.name,
                run_config={
                    "ops": {
                        "eval_test_set": {
                            "config": {"version": version, "start_date": start, "end_date": end}
                        },
                        "baseline_metrics": {"config": {"rescore": True}},
                    }
                },
                tags={
                    TRIGGER_TAG: "performance",
                    START_TAG: start,
                    END_TAG: end,
                    REASON_TAG: f"weekly task success failed: {e.description}"[:250],
                },
            )
        )
    refreshed = instance.get_runs(
        filters=RunsFilter(
            job_name=refresh_test_set.name,
            statuses=[DagsterRunStatus.SUCCESS],
            tags={TRIGGER_TAG: "performance"},
        ),
        limit=5,
    )
    for run in refreshed:
        start, end = run.tags[START_TAG], run.tags[END_TAG]
        trigger = Trigger(
            key=f"performance-retrain:{run.run_id}",
            reason=f"task success fell from {start}; test set refreshed in run {run.run_id[:8]}",
        )
        requests.append(retraining_request(trigger, "performance", start, end))
    cursor = str(max([after, *(e.id for e in new)]))
    if not requests:
        return SensorResult(skip_reason="no failed weekly evaluation", cursor=cursor)
    return SensorResult(run_requests=requests, cursor=cursor)


@sensor(job=evaluate_challenger, minimum_interval_seconds=300, default_status=ON)
def challenger_sensor(
    context: SensorEvaluationContext, registry: ModelRegistry, storage: HomeStorage
):
    """A new version behind @challenger (trained here or registered by hand) is evaluated
    against the champion, and the gate decides. The cursor is the last version seen."""
    version = registry.version_for_alias("challenger")
    if version is None:
        return SkipReason("no version behind @challenger")
    if version == context.cursor:
        return SkipReason(f"@challenger is still version {version}")
    if find_evaluation(storage.snapshots, version) is not None:
        return SensorResult(skip_reason=f"version {version} is evaluated already", cursor=version)
    return SensorResult(
        run_requests=[
            RunRequest(
                run_key=f"challenger:{version}",
                run_config={"ops": {"challenger_evaluation": {"config": {"version": version}}}},
                tags={TRIGGER_TAG: "challenger", "afterlaunch/version": version},
            )
        ],
        cursor=version,
    )


def _rollout_request(job: str, key: str, config: dict, reason: str) -> RunRequest:
    return RunRequest(
        run_key=key,
        job_name=job,
        run_config={"ops": config},
        tags={TRIGGER_TAG: "rollout", REASON_TAG: reason[:250]},
    )


@sensor(jobs=[rollout_step, complete_rollout], minimum_interval_seconds=3600, default_status=ON)
def rollout_sensor(
    context: SensorEvaluationContext,
    policy: PolicyResource,
    clock: ClockResource,
    storage: HomeStorage,
    registry: ModelRegistry,
):
    """Starts a rollout for a challenger the gate passed, then every day: rolls it back when a
    trigger fired, advances the canary on the policy's schedule, and promotes it (or abandons
    it) at the end. The decision is `checks.rollout.next_move`."""
    rules = policy.load()
    store = storage.snapshots
    record = current_rollout(store)
    if not is_active(record):
        return _maybe_start(store, registry, rules, record)
    judged = store.partitions("rollout_comparison")
    latest = store.read("rollout_comparison", judged[-1]) if judged else None
    if latest is None or latest["rollout_id"] != record["id"]:
        latest = {"fired": [], "proven": None, "proof": "not compared yet"}
    move = next_move(record, clock.now().date(), latest["fired"], latest["proven"], latest["proof"])
    rid, step = record["id"], record["step"]
    if move.action == "wait":
        return SkipReason(f"rollout {rid}: {move.reason}")
    if move.action == "complete":
        version = record["version"]
        config = {
            "champion": {
                "config": {
                    "action": "promote",
                    "version": version,
                    "actor": "rollout",
                    "reason": f"rollout {rid} completed: {move.reason}",
                }
            },
            "rollout": {
                "config": {"action": "complete", "actor": "rollout", "reason": move.reason}
            },
        }
        return _rollout_request(
            complete_rollout.name, f"rollout-complete:{rid}", config, move.reason
        )
    config = {
        "rollout": {"config": {"action": move.action, "actor": "rollout", "reason": move.reason}}
    }
    key = f"rollout-{move.action}:{rid}" + (f":{step + 1}" if move.action == "advance" else "")
    return _rollout_request(rollout_step.name, key, config, move.reason)


def _maybe_start(store, registry: ModelRegistry, rules, record: dict | None):
    if not rules.rollout.enabled:
        return SkipReason("rollouts are off in the policy: the gate promotes directly")
    if not store.partitions("challenger_evaluation"):
        return SkipReason("no challenger evaluated yet")
    evaluation = store.read("challenger_evaluation", None)
    version = evaluation["challenger_version"]
    champion = registry.version_for_alias("champion")
    if evaluation["verdict"] != "promote":
        return SkipReason(f"latest challenger {version}: gate verdict {evaluation['verdict']}")
    if record is not None and record["version"] == version:
        return SkipReason(f"version {version} was rolled out already ({record['state']})")
    if champion is None or evaluation["champion_version"] != champion:
        return SkipReason(
            f"version {version} was judged against champion {evaluation['champion_version']}, "
            f"the champion is {champion}: it needs a new evaluation"
        )
    reason = (
        f"gate passed against champion {champion} on test set v{evaluation['test_set']['version']}"
    )
    config = {
        "rollout": {
            "config": {"action": "start", "version": version, "actor": "rollout", "reason": reason}
        }
    }
    return _rollout_request(rollout_step.name, f"rollout-start:{version}", config, reason)


@sensor(minimum_interval_seconds=60, default_status=ON)
def alert_sensor(
    context: SensorEvaluationContext,
    policy: PolicyResource,
    clock: ClockResource,
    storage: HomeStorage,
    webhook: AlertWebhook,
):
    """Every newly failed check evaluation becomes an alert in the outbox, routed by the policy
    to its owner (at once or in the daily digest); then whatever is due is sent. A send that
    fails stays pending and is retried on the next tick."""
    rules = policy.load().alerts
    now = clock.now()
    outbox = AlertOutbox(outbox_path(storage.home))
    after = int(context.cursor or 0)
    keys = context.repository_def.asset_graph.asset_check_keys
    new = evaluations(context.instance, keys, after_id=after)
    queued = 0
    for e in (e for e in new if not e.passed):
        owner, delivery = route(e, rules)
        if delivery == "log":
            log.warning("check %s.%s [%s]: %s", e.asset, e.check, e.partition, e.description)
            continue
        queued += outbox.add(
            alert_key(e), owner, e.severity, delivery, now.isoformat(), alert_payload(e)
        )
    sent, failed = _deliver(outbox, webhook, now, rules.max_attempts_logged)
    cursor = str(max([after, *(e.id for e in new)]))
    return SensorResult(
        skip_reason=f"{queued} alert(s) queued, {sent} delivered, {failed} still pending",
        cursor=cursor,
    )


def _deliver(outbox: AlertOutbox, webhook: AlertWebhook, now, loud_after: int) -> tuple[int, int]:
    today = now.date().isoformat()
    pending = [a for a in outbox.pending() if due(a, today)]
    batches = [([a], immediate_message(a)) for a in pending if a.delivery == "immediate"]
    batches += digest_messages([a for a in pending if a.delivery == "digest"])
    sent = failed = 0
    for alerts, message in batches:
        ids = [a.id for a in alerts]
        log.info("alert: %s", message["text"].splitlines()[0])
        if not webhook.configured:
            outbox.mark_delivered(ids, now.isoformat())  # the log is the only channel
            sent += len(ids)
            continue
        try:
            webhook.send(message)
        except AlertDeliveryError as err:
            outbox.mark_failed(ids, str(err))
            failed += len(ids)
            attempts = max(a.attempts for a in alerts) + 1
            level = logging.ERROR if attempts >= loud_after else logging.WARNING
            log.log(level, "alert delivery failed (attempt %d, kept for retry): %s", attempts, err)
            continue
        outbox.mark_delivered(ids, now.isoformat())
        sent += len(ids)
    return sent, failed


SENSORS = [
    drift_retraining_sensor,
    label_retraining_sensor,
    performance_retraining_sensor,
    challenger_sensor,
    rollout_sensor,
    alert_sensor,
]
