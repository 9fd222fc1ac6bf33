"""Check evaluations read back from the Dagster event log: what sensors judge from."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from dagster import AssetCheckKey, AssetKey, DagsterInstance
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

# Enough history for the longest look-back a sensor needs (a few weeks of daily checks).
HISTORY_LIMIT = 200


@dataclass(frozen=True)
class Evaluation:
    id: int  # event-log storage id: increases with every stored evaluation
    asset: str
    check: str
    partition: str | None
    passed: bool
    severity: str  # WARN | ERROR
    description: str
    metadata: dict
    run_id: str

    @property
    def level(self) -> str:
        return "ok" if self.passed else self.severity.lower()


def check_key(asset: str, check: str) -> AssetCheckKey:
    return AssetCheckKey(AssetKey.from_user_string(asset), check)


def evaluations(
    instance: DagsterInstance,
    keys: Iterable[AssetCheckKey],
    after_id: int = 0,
    limit: int = HISTORY_LIMIT,
) -> list[Evaluation]:
    """Completed evaluations of the given checks stored after `after_id`, oldest first (at
    most the newest `limit` per check)."""
    found: list[Evaluation] = []
    for key in keys:
        records = instance.event_log_storage.get_asset_check_execution_history(
            key,
            limit=limit,
            status={
                AssetCheckExecutionRecordStatus.SUCCEEDED,
                AssetCheckExecutionRecordStatus.FAILED,
            },
        )
        for record in records:
            if record.id <= after_id or record.event is None:
                continue
            data = record.event.dagster_event.event_specific_data
            found.append(
                Evaluation(
                    id=record.id,
                    asset=key.asset_key.to_user_string(),
                    check=key.name,
                    partition=data.partition or record.partition,
                    passed=data.passed,
                    severity=data.severity.value,
                    description=data.description or "",
                    metadata={k: getattr(v, "value", v) for k, v in data.metadata.items()},
                    run_id=record.run_id,
                )
            )
    return sorted(found, key=lambda e: e.id)


def latest_per_partition(found: Iterable[Evaluation]) -> dict[str | None, Evaluation]:
    """The newest evaluation of each partition (a re-run check supersedes the earlier one)."""
    latest: dict[str | None, Evaluation] = {}
    for e in sorted(found, key=lambda e: e.id):
        latest[e.partition] = e
    return latest


def failing_streak(found: Iterable[Evaluation], partition: str | None) -> int:
    """How many partitions in a row, ending at `partition`, the check's newest verdict failed
    (0 when it passed there). `found` holds one check's evaluations; keys sort by date."""
    latest = latest_per_partition(found)
    if partition not in latest or latest[partition].passed:
        return 0
    keys = sorted(k for k in latest if k is not None) if partition is not None else [None]
    streak = 0
    for key in reversed(keys[: keys.index(partition) + 1]):
        if latest[key].passed:
            break
        streak += 1
    return streak
