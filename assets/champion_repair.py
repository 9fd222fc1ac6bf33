"""Bring Dagster's record of the champion back in line after an interrupted change.

:func:`assets.promotion.repair` makes the MLflow aliases and history agree; what is left is
Dagster's side: the `champion` materialization (the audit trail people read in the UI) and its
snapshot (what `baseline_metrics` and the CLI read). A change completed in the registry whose
intent id is not on the latest `champion` materialization was never recorded there: a process
died after the registry was committed but before Dagster stored the output.
"""

from __future__ import annotations

from dagster import AssetExecutionContext, AssetMaterialization, MetadataValue, Output

from assets.names import CHAMPION
from assets.promotion import (
    ChampionChange,
    Resolution,
    change_in_progress,
    last_completed,
    open_intent,
    repair,
)
from assets.workflow import Workflow
from resources.registry import ModelRegistry
from resources.storage import HomeStorage

CHANGE_ID = "change_id"


def change_metadata(change: ChampionChange, repaired: str | None = None) -> dict:
    metadata = {
        "action": change.action,
        "version": change.version,
        "previous_version": change.previous_version or "none",
        "reason": change.reason,
        "actor": change.actor,
        "approved_by": change.approved_by or "not required",
        "gate": MetadataValue.json(change.gate or {}),
        # `at` is the workflow's clock (the simulated date in a demo), not Dagster's timestamp.
        "at": change.at,
        "summary": f"{change.action}: {change.previous_version or 'none'} -> "
        f"{change.version} by {change.actor}: {change.reason} (on {change.at[:10]})",
        CHANGE_ID: change.id or "none",
    }
    if repaired:
        metadata["repaired"] = repaired
    return metadata


def change_output(change: ChampionChange, repaired: str | None = None) -> Output:
    return Output(change.as_dict(), metadata=change_metadata(change, repaired))


def unrecorded_change(context: AssetExecutionContext, wf: Workflow, storage: HomeStorage):
    """The last completed change if Dagster's latest `champion` materialization is not it."""
    return _unrecorded(context.instance, wf, storage)


def _unrecorded(instance, wf: Workflow, storage: HomeStorage) -> ChampionChange | None:
    done = last_completed(storage.lock_path)
    if done is None:
        return None
    event = instance.get_latest_materialization_event(wf.key(CHAMPION))
    recorded = None
    if event is not None and event.asset_materialization is not None:
        value = event.asset_materialization.metadata.get(CHANGE_ID)
        recorded = getattr(value, "value", value)
    return None if recorded == done.id else ChampionChange(**done.change)


def repair_needed(instance, wf: Workflow, storage: HomeStorage) -> tuple[str, str] | None:
    """(run key, reason) when a crash left the champion half-changed or unrecorded; None while
    a change holds the lock (its open intent is not a crash) or when all agree."""
    if change_in_progress(storage.lock_path):  # no registry here: $AFTERLAUNCH_MLFLOW_URI's store
        return None
    interrupted = open_intent(storage.lock_path)
    if interrupted is not None:
        return f"repair-{interrupted.id}", f"interrupted: {interrupted.describe()}"
    missing = _unrecorded(instance, wf, storage)
    if missing is not None:
        return (
            f"record-{missing.id}",
            f"not recorded in Dagster: {missing.action} to {missing.version}",
        )
    return None


def record_aside(
    context: AssetExecutionContext, wf: Workflow, storage: HomeStorage, change: ChampionChange
) -> None:
    """Record a repaired change inside a run whose own output is another change."""
    ref = storage.snapshots.write(CHAMPION, None, change.as_dict(), context.run_id)
    metadata = change_metadata(change, repaired="recorded by the next change of the champion")
    context.log_event(
        AssetMaterialization(
            asset_key=wf.key(CHAMPION),
            metadata={**metadata, "path": str(ref.path), "content_hash": ref.content_hash},
        )
    )


def repair_champion(
    context: AssetExecutionContext,
    wf: Workflow,
    registry: ModelRegistry,
    storage: HomeStorage,
    now,
):
    """The `repair` action of the champion asset: resolve an open intent, then yield the change
    Dagster is missing (if any) as this run's output, so `baseline_metrics` follows it."""
    resolution: Resolution | None = repair(registry, lock_path=storage.lock_path, at=now)
    if resolution is not None:
        context.log.warning(resolution.said)
    missing = unrecorded_change(context, wf, storage)
    if missing is None:
        context.log.info(
            "the champion's record agrees with the registry"
            + ("" if resolution else ": nothing to repair")
        )
        return
    said = resolution.said if resolution and resolution.change else "recorded after a crash"
    yield change_output(missing, repaired=said)


def on_repair_recorder(context: AssetExecutionContext, wf: Workflow, storage: HomeStorage):
    """The callback a promote/rollback passes: a change it completed for a crashed run is
    recorded before its own."""

    def record(resolution: Resolution) -> None:
        context.log.warning(resolution.said)
        if resolution.change is not None:
            record_aside(context, wf, storage, resolution.change)

    return record
