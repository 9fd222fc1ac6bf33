"""incident_timeline: what happened to one workflow, day by day, read back from Dagster's own
records (check evaluations, materializations, runs) plus the approvals store and the alert
outbox. The assembly is `checks.incident_story`; this module only fetches and dates records.

Every record is dated by the workflow's clock: a materialization by the `at` it carries
(trained_at, evaluated_at, or its stored value's), a check by its partition's last day, a run
by what it produced (else its partition's end, else the dated run stored just before it).
Wall-clock timestamps of the event log only order records, never date them.
"""

from dataclasses import asdict
from datetime import UTC, datetime, timedelta

import pandas as pd
from dagster import (
    AssetCheckKey,
    AssetExecutionContext,
    DagsterEventType,
    DagsterInstance,
    EventRecordsFilter,
    MetadataValue,
    Output,
    RunsFilter,
    asset,
)

from assets.check_history import Evaluation, evaluations, failing_streak
from assets.names import (
    CHALLENGER,
    CHAMPION,
    EVALUATION,
    FLAGS,
    INCIDENT_TIMELINE,
    PROFILES,
    ROLLOUT,
    WEEKLY,
)
from assets.partitions import utc
from assets.readiness import WORKFLOW_TAG
from assets.workflow import Workflow
from checks.incident_story import (
    CheckRecord,
    Materialization,
    Records,
    Row,
    RunRecord,
    Streak,
    assemble,
    markdown,
)
from resources.alerts import AlertOutbox
from resources.approvals import ApprovalStore, approvals_path
from resources.links import UiLinks
from resources.storage import HomeStorage

EVENT_ASSETS = (CHALLENGER, EVALUATION, ROLLOUT, CHAMPION, FLAGS)
# The monitoring check behind each retraining trigger (the sensors' own choice).
TRIGGER_CHECKS = {"drift": (PROFILES, "drift"), "performance": (WEEKLY, "weekly_task_success")}
AT_FIELDS = ("at", "trained_at", "evaluated_at")
RECENT_DAYS = 14
COLUMNS = ("date", "kind", "version", "what", "why", "actor", "stale")
LIMIT = 5000


def iso(moment: datetime) -> str:
    return utc(moment).astimezone(UTC).isoformat()


def _plain(metadata) -> dict:
    return {k: getattr(v, "value", v) for k, v in metadata.items()}


def _stored_at(storage: HomeStorage, name: str, meta: dict) -> str | None:
    """The instant a materialization's stored value records (champion, flag, rollout)."""
    digest = meta.get("content_hash")
    if not digest:
        return None
    value = storage.snapshots.read(name, None, str(digest))
    if isinstance(value, dict) and value.get("at"):
        return str(value["at"])
    events = value.get("events") if isinstance(value, dict) else None
    if events:  # a rollout's moves carry their day
        return f"{events[-1]['date']}T00:00:00+00:00"
    return None


def _materializations(instance, wf: Workflow, storage: HomeStorage) -> list[tuple]:
    """(wall timestamp, Materialization) of every event asset, oldest first."""
    found = []
    for name in EVENT_ASSETS:
        result = instance.fetch_materializations(wf.key(name), limit=LIMIT, ascending=True)
        for r in result.records:
            if r.asset_materialization is None:
                continue
            meta = _plain(r.asset_materialization.metadata)
            at = next((str(meta[f]) for f in AT_FIELDS if meta.get(f)), None)
            at = at or _stored_at(storage, name, meta)
            if at is None:
                raise ValueError(
                    f"{wf.name}/{name} materialization in run {r.run_id} carries no date "
                    "(no at, trained_at or evaluated_at, and no stored value with one)"
                )
            found.append((r.timestamp, Materialization(name, at, r.run_id, meta)))
    return found


def _runs(instance, wf: Workflow, dated: list[tuple], partition_end) -> list[RunRecord]:
    """Every run of the workflow, dated by its own records, else its partition's end, else the
    dated run that started just before it."""
    own: dict[str, str] = {}
    for _, m in dated:
        own[m.run_id] = min(own.get(m.run_id, m.at), m.at)
    records = instance.get_run_records(filters=RunsFilter(tags={WORKFLOW_TAG: wf.name}))
    started = []
    for rec in records:
        run = rec.dagster_run
        at = own.get(run.run_id)
        if at is None and run.tags.get("dagster/partition"):
            at = partition_end(run.tags["dagster/partition"])
        started.append((rec.start_time or rec.create_timestamp.timestamp(), run, at))
    runs, last = [], None
    for wall, run, at in sorted(started, key=lambda item: item[0]):
        # A run that records no date ran on the clock's day of the run before it.
        at = at or last or iso(datetime.fromtimestamp(wall, UTC))
        last = at
        runs.append(RunRecord(run.run_id, run.job_name, at, dict(run.tags)))
    return runs


def workflow_check_keys(instance: DagsterInstance, wf: Workflow) -> list[AssetCheckKey]:
    """Every check of the workflow that was ever evaluated (from the event log, so the asset
    needs no repository: `materialize` runs it too)."""
    records = instance.event_log_storage.get_event_records(
        EventRecordsFilter(event_type=DagsterEventType.ASSET_CHECK_EVALUATION)
    )
    keys = set()
    for record in records:
        data = record.event_log_entry.dagster_event.event_specific_data
        if data.asset_key.path[0] == wf.name:
            keys.add(AssetCheckKey(data.asset_key, data.check_name))
    return sorted(keys, key=lambda k: k.to_user_string())


def gather(
    instance: DagsterInstance, wf: Workflow, storage: HomeStorage, check_keys: list
) -> Records:
    """Everything the timeline shows, as plain records dated by the workflow's clock."""
    parts = wf.partitions

    def partition_end(key: str) -> str:
        return iso(parts.end_of(key))

    def partition_day(key: str) -> str:  # the last instant of the partition
        return iso(parts.end_of(key) - timedelta(seconds=1))

    dated = _materializations(instance, wf, storage)
    runs = _runs(instance, wf, dated, partition_end)
    run_at = {r.run_id: r.at for r in runs}
    found = evaluations(instance, check_keys, limit=LIMIT)
    checks = [
        CheckRecord(
            e.id,
            e.asset,
            e.check,
            e.partition,
            partition_day(e.partition) if e.partition else run_at.get(e.run_id, ""),
            e.passed,
            e.severity,
            e.description,
            e.run_id,
        )
        for e in found
    ]
    approvals = [asdict(a) for a in ApprovalStore(approvals_path(storage.lock_path)).all()]
    alerts = (
        [asdict(a) for a in AlertOutbox(storage.outbox).all()] if storage.outbox.exists() else []
    )
    return Records(
        checks=checks,
        materializations=[m for _, m in dated],
        runs=runs,
        approvals=approvals,
        alerts=alerts,
        streaks=_streaks(wf, runs, found, checks),
    )


def _streaks(wf, runs, found: list[Evaluation], checks: list[CheckRecord]) -> dict[str, Streak]:
    """Per retraining run a monitor launched: how many partitions in a row its check had
    failed, through the newest partition judged before the run."""
    at_of = {c.id: c.at for c in checks}
    streaks = {}
    for run in runs:
        trigger = run.tags.get("afterlaunch/trigger")
        if trigger not in TRIGGER_CHECKS:
            continue
        asset_name, check = TRIGGER_CHECKS[trigger]
        asset_key = wf.key(asset_name).to_user_string()
        seen = [
            e
            for e in found
            if e.asset == asset_key and e.check == check and at_of[e.id] and at_of[e.id] <= run.at
        ]
        if not seen:
            continue
        newest = max(seen, key=lambda e: (at_of[e.id], e.id))
        streaks[run.run_id] = Streak(
            check, failing_streak(seen, newest.partition), newest.partition
        )
    return streaks


def frame(rows: list[Row]) -> pd.DataFrame:
    columns = ["date", *(k for k in Row.__dataclass_fields__)]
    records = [r.as_dict() for r in rows]
    return pd.DataFrame(records, columns=columns).astype("string")


def build(wf: Workflow) -> tuple[list, list]:
    parts = wf.partitions
    unit = {"daily": "day", "weekly": "week", "monthly": "month"}[parts.cadence]

    @asset(
        name=INCIDENT_TIMELINE,
        key_prefix=[wf.name],
        partitions_def=parts.definition,
        group_name="monitoring",
        kinds={"pandas"},
        owners=[wf.team("model_owner")],
        # No dependency on the day's data (a blocked contract must not block the story of
        # it); the lowest priority runs it after everything else its job runs.
        op_tags={"dagster/priority": "-1"},
    )
    def incident_timeline(
        context: AssetExecutionContext, storage: HomeStorage, links: UiLinks
    ) -> Output[pd.DataFrame]:
        """Every check failure, alert, retraining request, registration, gate verdict,
        rollout step, promotion, rollback, flag flip and approval up to the end of this
        partition, dated by the workflow's clock, each linking its run or check."""
        key = context.partition_key
        start, end = iso(parts.start_of(key)), iso(parts.end_of(key))
        records = gather(context.instance, wf, storage, workflow_check_keys(context.instance, wf))
        rows = assemble(records, links, until=end, unit=unit)
        recent_from = iso(parts.start_of(key) - timedelta(days=RECENT_DAYS))
        today = [r for r in rows if r.at >= start]
        recent = [r for r in rows if recent_from <= r.at < start]
        context.log.info("incident timeline %s: %d rows, %d today", key, len(rows), len(today))
        text = (
            f"### {key}\n\n{markdown(today, COLUMNS, 'nothing happened')}\n\n"
            f"### the {RECENT_DAYS} days before\n\n{markdown(recent[::-1], COLUMNS)}"
        )
        return Output(
            frame(rows),
            metadata={
                "dagster/row_count": len(rows),
                "rows_today": len(today),
                "timeline": MetadataValue.md(text),
                "stale_verdicts": sum(1 for r in rows if r.stale and r.kind == "verdict"),
            },
        )

    return [incident_timeline], []
