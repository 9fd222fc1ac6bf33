"""`afterlaunch schema`: record a schema mapping, re-ingest what the contract blocked through it.

An upstream rename or retype breaks the raw contract and blocks its partitions. The contract
the model was built on stays as it is; a person records a mapping (checks/schema_mapping.py:
upstream's new name back to the contract's, a text column back to the contract's type) as the
next raw-contract version, in force from a partition on. The raw asset reads every partition
from there through it, keeping what the source sent beside the mapped rows. `backfill` then
re-runs the daily job on each partition the contract blocked since the mapping's effective
partition, so its features, predictions and reports are built as on any other day.

The CLI and the demo's `schema_map` action call the same functions here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from dagster import AssetCheckKey, AssetCheckSeverity, DagsterInstance
from dagster._core.event_api import PartitionKeyFilter  # not exported by `dagster`

from assets.history import latest_metadata
from assets.names import RAW, REFERENCE
from assets.workflow import Workflow
from checks.schema_change import logical_type
from checks.schema_mapping import (
    MappingRefused,
    SchemaMapping,
    rules_apply,
    validate_mapping,
)
from orchestration.runner import RunOutcome
from orchestration.schema_cli import BACKFILL_JOBS
from resources.approvals import acting_person
from resources.clock import ClockResource
from resources.schema_mappings import SchemaMappingStore, mappings_path
from resources.snapshots import SnapshotStore
from resources.storage import workflow_root

log = logging.getLogger("afterlaunch.schema")

# The checks whose ERROR says the partition's schema or contract is broken: what a mapping fixes.
CONTRACT_CHECKS = ("raw_contract", "raw_schema")
BACKFILL_TAG = "afterlaunch/trigger"


def mapping_store(home_root, wf: Workflow) -> SchemaMappingStore:
    return SchemaMappingStore(mappings_path(workflow_root(home_root, wf.name)))


def contract_types(wf: Workflow) -> dict[str, str]:
    return {name: logical_type(dtype) for name, dtype in wf.contracts.raw_columns.items()}


def observed_schemas(
    instance: DagsterInstance, wf: Workflow, partitions: list[str]
) -> dict[str, dict[str, str]]:
    """Per partition with a recorded raw materialization: the columns and logical types the
    source sent (before any mapping)."""
    recorded = latest_metadata(instance, wf.key(RAW), partitions)
    return {
        p: meta.get("exported_schema") or meta["logical_schema"]
        for p, meta in recorded.items()
        if "logical_schema" in meta
    }


def effective_partition(
    instance: DagsterInstance,
    wf: Workflow,
    store: SnapshotStore,
    renames: dict[str, str],
    retypes: dict[str, str],
    start: str | None = None,
) -> tuple[str, str | None, dict[str, str] | None]:
    """(the partition the mapping takes effect from, the partition it is checked against,
    what the source sent there).

    With `start` (a date), the partition holding it; the mapping is checked against the
    newest ingested partition from there on. Without, the change is found: the newest
    ingested partition and the unbroken run before it in which the source sent what the
    rules are for; the mapping takes effect from the first of them."""
    stored = store.partitions(RAW)
    if start is not None:
        try:
            first = wf.partitions.key_at(datetime.fromisoformat(str(start)))
        except ValueError:
            raise MappingRefused(f"--from {start!r} is not a date (YYYY-MM-DD)") from None
        later = [p for p in stored if p >= first]
        if not later:
            return first, None, None
        seen = observed_schemas(instance, wf, [later[-1]])
        return first, later[-1], seen.get(later[-1])
    if not stored:
        raise MappingRefused(
            f"no {RAW} partition of {wf.name} has been ingested: nothing shows what the "
            "source sends; give --from DATE to record a mapping ahead of the change"
        )
    seen = observed_schemas(instance, wf, stored[-60:])  # the change is recent: 60 partitions
    newest = stored[-1]
    first = newest
    for key in reversed(stored[-60:]):
        if key not in seen or not rules_apply(renames, retypes, seen[key]):
            break
        first = key
    return first, newest, seen.get(newest)


def record_mapping(
    home_root,
    wf: Workflow,
    instance: DagsterInstance,
    renames: dict[str, str],
    retypes: dict[str, str],
    reason: str,
    actor: str | None = None,
    start: str | None = None,
) -> SchemaMapping:
    """Validate the rules against the contract and what the source sent, then append them as
    the next schema version. `MappingRefused` says why a mapping is not recorded."""
    if not (reason or "").strip():
        raise MappingRefused("a schema mapping needs --reason: it is what the next person reads")
    store = SnapshotStore(workflow_root(home_root, wf.name) / "snapshots")
    first, checked_in, observed = effective_partition(instance, wf, store, renames, retypes, start)
    where = f"partition {checked_in}" if checked_in else "the source"
    validate_mapping(renames, retypes, contract_types(wf), observed, where)
    mapping = mapping_store(home_root, wf).record(
        renames,
        retypes,
        effective_from=first,
        reason=reason,
        actor=acting_person(actor),
        at=ClockResource().now().isoformat(),
        contract=wf.contracts.raw.Config.name,
    )
    log.info(
        "%s: schema v%d recorded by %s, in force from %s: %s",
        wf.name,
        mapping.version,
        mapping.actor,
        mapping.effective_from,
        mapping.describe(),
    )
    return mapping


def blocked_partitions(
    instance: DagsterInstance, wf: Workflow, store: SnapshotStore, since: str
) -> list[str]:
    """The ingested partitions from `since` on whose contract or schema check said ERROR when
    they were last ingested."""
    keys = [AssetCheckKey(wf.key(RAW), name) for name in CONTRACT_CHECKS]
    found = []
    for partition in (p for p in store.partitions(RAW) if p >= since):
        latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(
            keys, partition_filter=PartitionKeyFilter(key=partition)
        )
        if any(
            (e := record.evaluation) is not None
            and not e.passed
            and e.severity == AssetCheckSeverity.ERROR
            for record in latest.values()
        ):
            found.append(partition)
    return found


def daily_job(home_root, wf: Workflow, store: SnapshotStore) -> str:
    """The job a day of this home runs: before launch (no reference profile) raw_ingestion;
    with a reference and no champion daily_ingestion; with a champion daily_production."""
    if not store.partitions(REFERENCE):
        return "raw_ingestion"
    from orchestration.home import registry_for, resolve_home

    champion = registry_for(resolve_home(home_root), wf).version_for_alias("champion")
    return "daily_production" if champion else "daily_ingestion"


def backfill(
    home_root,
    wf: Workflow,
    instance: DagsterInstance,
    run: Callable[..., RunOutcome],
    job: str | None = None,
    since: str | None = None,
) -> tuple[SchemaMapping, list[RunOutcome]]:
    """Re-run the daily job on every partition the contract blocked since the latest mapping's
    effective partition (or `since`): the raw asset reads them through the mapping, the
    downstream assets follow as on any day. `run(job, partition, tags=...)` runs one."""
    mapping = mapping_store(home_root, wf).latest()
    if mapping is None:
        raise MappingRefused(
            f"{wf.name} has no schema mapping to backfill through: record one with "
            "`afterlaunch schema map` first"
        )
    store = SnapshotStore(workflow_root(home_root, wf.name) / "snapshots")
    job = job or daily_job(home_root, wf, store)
    if job not in BACKFILL_JOBS:
        raise MappingRefused(f"backfill job {job!r}: one of {', '.join(BACKFILL_JOBS)}")
    first = since or mapping.effective_from
    partitions = blocked_partitions(instance, wf, store, first)
    log.info(
        "%s: backfilling %d blocked partition(s) from %s through schema v%d with %s: %s",
        wf.name,
        len(partitions),
        first,
        mapping.version,
        job,
        ", ".join(partitions) or "none",
    )
    tags = {BACKFILL_TAG: "schema_backfill", "afterlaunch/schema_version": str(mapping.version)}
    return mapping, [run(job, p, tags=tags) for p in partitions]
