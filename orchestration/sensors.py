"""Sensors: the loop's reflexes. Each reads what the checks and the registry recorded, asks a
plain function in `checks.retraining` whether to act, and turns the answer into run requests
with run keys, so one incident asks for one run however often the sensor ticks.

Time comes from the clock resource (the demo ticks these sensors on simulated days).
"""

from __future__ import annotations

import logging
from datetime import date

from dagster import (
    AssetCheckKey,
    AssetKey,
    AssetRecordsFilter,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from assets import names as n
from assets.challenger_queue import (
    ChallengerQueue,
    queue_path,
    stored_evaluations,
    sync,
)
from assets.challenger_queue import next_move as queue_next_move
from assets.champion_repair import repair_needed
from assets.check_history import HISTORY_LIMIT, evaluations
from assets.evaluation import find_evaluation
from assets.history import latest_metadata, latest_unpartitioned
from assets.serving import current_rollout
from assets.workflow import Workflow
from checks.retraining import (
    Trigger,
    drift_trigger_in_history,
    in_cooldown,
    label_trigger,
    next_test_set_version,
)
from checks.rollout import is_active, next_move
from orchestration.alert_context import alert_context
from orchestration.alerts import (
    alert_key,
    alert_payload,
    digest_messages,
    due,
    immediate_message,
    route,
)
from orchestration.alias_watch import build_alias_watch
from orchestration.jobs import WORKFLOW_TAG, WorkflowJobs
from resources.alerts import AlertDeliveryError, AlertOutbox, AlertWebhook
from resources.clock import ClockResource
from resources.links import UiLinks
from resources.policy import PolicyResource
from resources.registry import ModelRegistry
from resources.storage import HomeStorage

log = logging.getLogger("afterlaunch.sensors")

TRIGGER_TAG = "afterlaunch/trigger"
START_TAG = "afterlaunch/start_date"
END_TAG = "afterlaunch/end_date"
REASON_TAG = "afterlaunch/reason"
ON = DefaultSensorStatus.RUNNING  # safe to run from the start: run keys and cooldowns


def build_sensors(wf: Workflow, jobs: WorkflowJobs) -> list:
    """The loop's sensors for one workflow: its check keys, its store, its outbox."""
    return _Sensors(wf, jobs).all()


class _Sensors:
    def __init__(self, wf: Workflow, jobs: WorkflowJobs):
        self.wf, self.jobs = wf, jobs
        self.drift_check = AssetCheckKey(wf.key(n.PROFILES), "drift")
        self.weekly_check = AssetCheckKey(wf.key(n.WEEKLY), "weekly_task_success")
        self.tags = {WORKFLOW_TAG: wf.name}

    def trained_on(self, instance) -> date | None:
        last = latest_unpartitioned(instance, self.wf.key(n.CHALLENGER))
        if "trained_at" not in last:
            return None
        return date.fromisoformat(str(last["trained_at"])[:10])

    def retraining_request(
        self, trigger: Trigger, kind: str, start: str | None = None, end: str | None = None
    ) -> RunRequest:
        wf = self.wf
        window = {k: v for k, v in {"start_date": start, "end_date": end}.items() if v}
        ops: dict = {
            wf.op(n.CHALLENGER): {
                "config": {"change_summary": f"{kind} retraining: {trigger.reason}", "actor": kind}
            }
        }
        if window:
            ops[wf.op(n.TRAINING_SET)] = {"config": window}
        return RunRequest(
            run_key=trigger.key,
            job_name="retraining",
            run_config={"ops": ops},
            tags={
                **self.tags,
                TRIGGER_TAG: kind,
                REASON_TAG: trigger.reason[:250],
                **({START_TAG: start} if start else {}),
            },
        )

    def all(self) -> list:
        wf, jobs, sensors = self.wf, self.jobs, self
        retraining = jobs["retraining"]
        refresh_test_set = jobs["refresh_test_set"]

        @sensor(job=retraining, minimum_interval_seconds=3600, default_status=ON)
        def drift_retraining_sensor(
            context: SensorEvaluationContext, policy: PolicyResource, clock: ClockResource
        ):
            """ERROR drift on a key column for N partitions in a row (policy) asks for one
            retraining."""
            rules = policy.load().retraining

            def read(limit: int) -> tuple[dict[date, set[str]], bool]:
                found = evaluations(context.instance, [sensors.drift_check], limit=limit)
                by_day: dict[date, set[str]] = {}
                for e in found:  # oldest first: re-runs overwrite
                    if e.partition is not None:
                        errors = (
                            set(e.metadata.get("drifted_columns") or [])
                            if e.level == "error"
                            else set()
                        )
                        by_day[date.fromisoformat(e.partition)] = errors
                return by_day, len(found) >= limit

            key_columns = rules.drift_key_columns
            if key_columns is None:
                key_columns = [*wf.contracts.numeric_columns, *wf.contracts.categorical_columns]
            trigger = drift_trigger_in_history(
                read,
                key_columns,
                rules.drift_consecutive_days,
                previous=lambda d: date.fromisoformat(wf.partitions.shift(d.isoformat(), -1)),
                limit=HISTORY_LIMIT,
            )
            if trigger is None:
                return SkipReason("no key column has drifted on enough consecutive partitions")
            today = clock.now().date()
            if in_cooldown(today, sensors.trained_on(context.instance), rules.cooldown_days):
                return SkipReason(f"{trigger.reason}, but a retraining ran within the cooldown")
            return sensors.retraining_request(trigger, "drift")

        @sensor(job=retraining, minimum_interval_seconds=3600, default_status=ON)
        def label_retraining_sensor(
            context: SensorEvaluationContext,
            policy: PolicyResource,
            clock: ClockResource,
            storage: HomeStorage,
        ):
            """Enough newly labelled rows since the last training's labels ask for a
            retraining."""
            rules = policy.load().retraining
            last = latest_unpartitioned(context.instance, wf.key(n.CHALLENGER))
            if not last:
                return SkipReason("no model trained yet: the first training is a launch decision")
            since = str(last["labels_until"])
            newer = [d for d in storage.snapshots.partitions(n.LABELS) if d > since]
            counts = latest_metadata(context.instance, wf.key(n.LABELS), newer)
            rows = sum(int(m["dagster/row_count"]) for m in counts.values())
            trigger = label_trigger(rows, since, rules.new_labels_min_rows)
            if trigger is None:
                return SkipReason(f"{rows} new labelled rows, {rules.new_labels_min_rows} needed")
            if in_cooldown(
                clock.now().date(), sensors.trained_on(context.instance), rules.cooldown_days
            ):
                return SkipReason(f"{trigger.reason}, but a retraining ran within the cooldown")
            return sensors.retraining_request(trigger, "labels")

        @sensor(
            jobs=[refresh_test_set, retraining], minimum_interval_seconds=3600, default_status=ON
        )
        def performance_retraining_sensor(context: SensorEvaluationContext):
            """A failed weekly task-success check: first a new test-set version from the
            partitions since the drop (the old one describes a world that is gone) with the
            champion's baseline re-recorded on it; when that run has succeeded, a retraining
            on the same partitions."""
            instance = context.instance
            after = int(context.cursor or 0)
            new = evaluations(instance, [sensors.weekly_check], after_id=after)
            requests = []
            for e in new:
                if e.level != "error":
                    continue
                start = e.metadata.get("drop_started") or e.metadata["week_first_day"]
                end = e.metadata["labels_until"]
                current = latest_unpartitioned(instance, wf.key(n.EVAL_SET)).get("eval_set_version")
                version = next_test_set_version(current)
                requests.append(
                    RunRequest(
                        run_key=f"performance:{end}",
                        job_name=refresh_test_set.name,
                        run_config={
                            "ops": {
                                wf.op(n.EVAL_SET): {
                                    "config": {
                                        "version": version,
                                        "start_date": start,
                                        "end_date": end,
                                    }
                                },
                                wf.op(n.BASELINE): {"config": {"rescore": True}},
                            }
                        },
                        tags={
                            **sensors.tags,
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
                    tags={TRIGGER_TAG: "performance", WORKFLOW_TAG: wf.name},
                ),
                limit=5,
            )
            for run in refreshed:
                start, end = run.tags[START_TAG], run.tags[END_TAG]
                trigger = Trigger(
                    key=f"performance-retrain:{run.run_id}",
                    reason=f"task success fell from {start}; test set refreshed in run "
                    f"{run.run_id[:8]}",
                )
                requests.append(sensors.retraining_request(trigger, "performance", start, end))
            cursor = str(max([after, *(e.id for e in new)]))
            if not requests:
                return SensorResult(skip_reason="no failed weekly evaluation", cursor=cursor)
            return SensorResult(run_requests=requests, cursor=cursor)

        @sensor(job=jobs["evaluate_challenger"], minimum_interval_seconds=300, default_status=ON)
        def challenger_sensor(
            context: SensorEvaluationContext, registry: ModelRegistry, storage: HomeStorage
        ):
            """A new version behind @challenger (trained here or registered by hand) is
            evaluated against the champion, and the gate decides. The cursor is the last
            version seen."""
            version = registry.version_for_alias("challenger")
            if version is None:
                return SkipReason("no version behind @challenger")
            if version == context.cursor:
                return SkipReason(f"@challenger is still version {version}")
            if find_evaluation(storage.snapshots, version) is not None:
                return SensorResult(
                    skip_reason=f"version {version} is evaluated already", cursor=version
                )
            return SensorResult(
                run_requests=[
                    RunRequest(
                        run_key=f"challenger:{version}",
                        run_config={"ops": {wf.op(n.EVALUATION): {"config": {"version": version}}}},
                        tags={
                            **sensors.tags,
                            TRIGGER_TAG: "challenger",
                            "afterlaunch/version": version,
                        },
                    )
                ],
                cursor=version,
            )

        @sensor(
            jobs=[jobs["rollout_step"], jobs["complete_rollout"], jobs["evaluate_challenger"]],
            minimum_interval_seconds=3600,
            default_status=ON,
        )
        def rollout_sensor(
            context: SensorEvaluationContext,
            policy: PolicyResource,
            clock: ClockResource,
            storage: HomeStorage,
            registry: ModelRegistry,
        ):
            """Starts a rollout for a challenger the gate passed, then every day: rolls it back
            when a trigger fired, advances the canary on the policy's schedule, and promotes it
            (or abandons it) at the end. The decision is `checks.rollout.next_move`. A
            challenger that passes while a rollout runs is queued (`assets.challenger_queue`)
            and, once the rollout has ended, re-evaluated against the champion of then."""
            rules = policy.load()
            store = storage.snapshots
            record = current_rollout(store)
            queued = None
            if rules.rollout.enabled:
                queued = sensors.queue_step(
                    context.instance, storage, registry, record, clock.now()
                )
            if not is_active(record):
                if queued is not None:
                    return queued
                return sensors.maybe_start(store, registry, rules, record)
            judged = store.partitions(n.COMPARISON)
            latest = store.read(n.COMPARISON, judged[-1]) if judged else None
            if latest is None or latest["rollout_id"] != record["id"]:
                latest = {"fired": [], "proven": None, "proof": "not compared yet"}
            move = next_move(
                record, clock.now().date(), latest["fired"], latest["proven"], latest["proof"]
            )
            rid, step = record["id"], record["step"]
            if move.action == "wait":
                return SkipReason(f"rollout {rid}: {move.reason}")
            if move.action == "complete":
                version = record["version"]
                config = {
                    wf.op(n.CHAMPION): {
                        "config": {
                            "action": "promote",
                            "version": version,
                            "actor": "rollout",
                            "reason": f"rollout {rid} completed: {move.reason}",
                        }
                    },
                    wf.op(n.ROLLOUT): {
                        "config": {"action": "complete", "actor": "rollout", "reason": move.reason}
                    },
                }
                return sensors.rollout_request(
                    "complete_rollout", f"rollout-complete:{rid}", config, move.reason
                )
            config = {
                wf.op(n.ROLLOUT): {
                    "config": {"action": move.action, "actor": "rollout", "reason": move.reason}
                }
            }
            key = f"rollout-{move.action}:{rid}" + (
                f":{step + 1}" if move.action == "advance" else ""
            )
            return sensors.rollout_request("rollout_step", key, config, move.reason)

        alert_sensor = build_alert_sensor(wf)

        @sensor(job=jobs["change_champion"], minimum_interval_seconds=60, default_status=ON)
        def champion_repair_sensor(context: SensorEvaluationContext, storage: HomeStorage):
            """A promote or rollback a crash interrupted (or left unrecorded in Dagster) is
            completed or reverted by a `change_champion` run with action `repair`."""
            needed = repair_needed(context.instance, wf, storage)
            if needed is None:
                return SkipReason("the champion's aliases, history and record agree")
            key, reason = needed
            config = {"ops": {wf.op(n.CHAMPION): {"config": {"action": "repair"}}}}
            return RunRequest(
                run_key=key,
                run_config=config,
                tags={**sensors.tags, TRIGGER_TAG: "repair", REASON_TAG: reason[:250]},
            )

        @sensor(job=jobs["readiness_refresh"], minimum_interval_seconds=300, default_status=ON)
        def blocked_day_readiness_sensor(context: SensorEvaluationContext):
            """A daily_production run stopped (by a blocking check) before readiness_report
            leaves its partition without a report: ask for that report alone, which reads
            what exists and says what is missing and why. One request per stopped run."""
            requests = [
                RunRequest(
                    run_key=f"readiness-after:{run_id}",
                    partition_key=partition,
                    tags={
                        **sensors.tags,
                        TRIGGER_TAG: "blocked_day",
                        REASON_TAG: f"daily_production {run_id} stopped before the report",
                    },
                )
                for run_id, partition in stopped_before_readiness(context.instance, wf)
            ]
            return requests or SkipReason("every stopped daily_production day has its report")

        return [
            drift_retraining_sensor,
            label_retraining_sensor,
            performance_retraining_sensor,
            challenger_sensor,
            rollout_sensor,
            alert_sensor,
            champion_repair_sensor,
            build_alias_watch(wf, jobs),
            blocked_day_readiness_sensor,
        ]

    def rollout_request(self, job: str, key: str, config: dict, reason: str) -> RunRequest:
        return RunRequest(
            run_key=key,
            job_name=job,
            run_config={"ops": config},
            tags={**self.tags, TRIGGER_TAG: "rollout", REASON_TAG: reason[:250]},
        )

    def queue_step(self, instance, storage: HomeStorage, registry: ModelRegistry, record, now):
        """Record what the queue must know (a rollout started, a verdict held up), then the
        head's next request while no rollout runs; None when the queue is empty."""
        wf, store = self.wf, storage.snapshots
        queue = ChallengerQueue(queue_path(storage.root))
        champion = registry.version_for_alias("champion")
        entries = sync(queue, store, champion, now)
        heads = [e for e in entries if e.is_open]
        failed = _failed_run(instance, heads[0].last.get("run_key")) if heads else None
        move = queue_next_move(entries, stored_evaluations(store), champion, record, failed)
        if move.action == "none":
            return None
        waiting = ", ".join(f"{e.version} ({e.state})" for e in entries if e.is_open)
        if move.action == "wait":
            return SkipReason(f"challenger queue [{waiting}]: {move.reason}")
        entry = move.entry
        log.info("challenger queue: %s", move.reason)
        if move.action == "fail":
            queue.append(entry.id, "failed", entry.version, now, move.reason, against=champion)
            return SkipReason(f"challenger queue: {move.reason}")
        if move.action == "reevaluate":
            tries = sum(e["event"] == "reevaluating" for e in entry.events)
            run_key = f"queue-reevaluate:{entry.id}:{tries + 1}"
            queue.append(
                entry.id,
                "reevaluating",
                entry.version,
                now,
                move.reason,
                against=champion,
                after=f"rollout {record['id']} {record['state']}" if record else "no rollout",
                evaluations_seen=len(stored_evaluations(store)),
                run_key=run_key,
                **({"evaluation": move.evaluation.key} if move.evaluation else {}),
            )
            return RunRequest(
                run_key=run_key,
                job_name="evaluate_challenger",
                run_config={"ops": {wf.op(n.EVALUATION): {"config": {"version": entry.version}}}},
                tags={
                    **self.tags,
                    TRIGGER_TAG: "challenger_queue",
                    "afterlaunch/version": entry.version,
                    REASON_TAG: move.reason[:250],
                },
            )
        if move.action == "reject":
            queue.append(
                entry.id,
                "rejected",
                entry.version,
                now,
                move.reason,
                evaluation=move.evaluation.key,
                verdict=move.evaluation.record["verdict"],
                against=champion,
            )
            return SkipReason(f"challenger queue: {move.reason}")
        if entry.state != "starting":
            evaluation_key = move.evaluation.key
            queue.append(
                entry.id,
                "starting",
                entry.version,
                now,
                move.reason,
                evaluation=evaluation_key,
                against=champion,
                run_key=f"queue-start:{entry.id}:{evaluation_key}",
            )
        else:
            evaluation_key = entry.last["evaluation"]
        config = {
            wf.op(n.ROLLOUT): {
                "config": {
                    "action": "start",
                    "version": entry.version,
                    "actor": "rollout",
                    "reason": f"from the challenger queue: {move.reason}",
                }
            }
        }
        return self.rollout_request(
            "rollout_step", f"queue-start:{entry.id}:{evaluation_key}", config, move.reason
        )

    def maybe_start(self, store, registry: ModelRegistry, rules, record: dict | None):
        wf = self.wf
        if not rules.rollout.enabled:
            return SkipReason("rollouts are off in the policy: the gate promotes directly")
        if not store.partitions(n.EVALUATION):
            return SkipReason("no challenger evaluated yet")
        evaluation = store.read(n.EVALUATION, None)
        version = evaluation["challenger_version"]
        champion = registry.version_for_alias("champion")
        if evaluation["verdict"] != "promote":
            return SkipReason(f"latest challenger {version}: gate verdict {evaluation['verdict']}")
        if record is not None and record["version"] == version:
            return SkipReason(f"version {version} was rolled out already ({record['state']})")
        if champion is None or evaluation["champion_version"] != champion:
            return SkipReason(
                f"version {version} was judged against champion "
                f"{evaluation['champion_version']}, the champion is {champion}: it needs a new "
                "evaluation"
            )
        reason = (
            f"gate passed against champion {champion} on test set "
            f"v{evaluation['test_set']['version']}"
        )
        config = {
            wf.op(n.ROLLOUT): {
                "config": {
                    "action": "start",
                    "version": version,
                    "actor": "rollout",
                    "reason": reason,
                }
            }
        }
        return self.rollout_request("rollout_step", f"rollout-start:{version}", config, reason)


def stopped_before_readiness(instance, wf: Workflow, limit: int = 10) -> list[tuple[str, str]]:
    """(run id, partition) of the newest failed daily_production runs whose partition has
    no readiness_report materialized since the run started."""
    records = instance.get_run_records(
        filters=RunsFilter(
            job_name="daily_production",
            statuses=[DagsterRunStatus.FAILURE],
            tags={WORKFLOW_TAG: wf.name},
        ),
        limit=limit,
    )
    found = []
    for record in records:
        partition = record.dagster_run.tags.get("dagster/partition")
        if not partition:
            continue
        reports = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=wf.key(n.READINESS), asset_partitions=[partition]),
            limit=1,
        ).records
        started = record.start_time or record.create_timestamp.timestamp()
        if not reports or reports[0].timestamp < started:
            found.append((record.dagster_run.run_id, partition))
    return found


def build_alert_sensor(wf: Workflow):
    """The alert sensor alone: every workflow has it, whatever its task."""

    @sensor(minimum_interval_seconds=60, default_status=ON)
    def alert_sensor(
        context: SensorEvaluationContext,
        policy: PolicyResource,
        clock: ClockResource,
        storage: HomeStorage,
        webhook: AlertWebhook,
        links: UiLinks,
    ):
        """Every newly failed check evaluation becomes an alert in the outbox, routed by
        the policy to its owner (at once or in the daily digest), with its context: the
        check's link, the size of the change, the failing streak and what the system did
        (`orchestration.alert_context`); then whatever is due is sent. A send that fails
        stays pending and is retried on the next tick."""
        loaded = policy.load()
        rules = loaded.alerts
        now = clock.now()
        outbox = AlertOutbox(storage.outbox)
        after = int(context.cursor or 0)
        graph = context.repository_def.asset_graph
        keys = graph.asset_check_keys
        new = evaluations(context.instance, keys, after_id=after)
        histories: dict[AssetCheckKey, list] = {}
        queued = 0
        for e in (e for e in new if not e.passed):
            owner, delivery = route(e, rules, wf)
            key = AssetCheckKey(AssetKey.from_user_string(e.asset), e.check)
            if key not in histories:  # one read per check and tick
                histories[key] = evaluations(context.instance, [key])
            try:
                facts = alert_context(
                    e,
                    histories[key],
                    wf,
                    loaded,
                    context.instance,
                    links,
                    now.date(),
                    blocking=graph.get_check_spec(key).blocking,
                )
            except Exception as err:  # noqa: BLE001 - the alert itself must still go out
                # A bug in the context must not hold every alert back: the alert says
                # its context failed and why, and the log has the traceback.
                log.exception("context of alert %s failed", alert_key(e))
                said = f"context unavailable ({type(err).__name__}: {err})"
                facts = {
                    "url": links.check(e.asset, e.check),
                    "change": said,
                    "in_a_row": None,
                    "action": said,
                }
            if delivery == "log":
                log.warning(
                    "check %s.%s [%s]: %s; %s; %s",
                    e.asset,
                    e.check,
                    e.partition,
                    e.description,
                    facts["change"],
                    facts["action"],
                )
                continue
            queued += outbox.add(
                alert_key(e),
                owner,
                e.severity,
                delivery,
                now.isoformat(),
                alert_payload(e, facts),
            )
        sent, failed = _deliver(outbox, webhook, now, rules.max_attempts_logged)
        cursor = str(max([after, *(e.id for e in new)]))
        return SensorResult(
            skip_reason=f"{queued} alert(s) queued, {sent} delivered, {failed} still pending",
            cursor=cursor,
        )

    return alert_sensor


def _failed_run(instance, run_key: str | None) -> str | None:
    """The id of the newest run launched for `run_key` if it failed (None otherwise)."""
    if not run_key:
        return None
    runs = instance.get_runs(filters=RunsFilter(tags={"dagster/run_key": run_key}), limit=1)
    if runs and runs[0].status == DagsterRunStatus.FAILURE:
        return runs[0].run_id
    return None


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
