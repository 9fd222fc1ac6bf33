"""What earlier materializations recorded, read back from the Dagster event log."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dagster import AssetKey, AssetRecordsFilter, DagsterInstance


def latest_metadata(
    instance: DagsterInstance, asset_key: AssetKey, partition_keys: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Per partition that has one: the metadata of its latest materialization, as plain values."""
    found: dict[str, dict[str, Any]] = {}
    if not partition_keys:
        return found
    result = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=asset_key, asset_partitions=list(partition_keys)),
        limit=max(50, 10 * len(partition_keys)),
    )
    for record in result.records:  # newest first
        materialization = record.asset_materialization
        if materialization is None or materialization.partition in found:
            continue
        found[materialization.partition] = {
            key: getattr(value, "value", value) for key, value in materialization.metadata.items()
        }
    return found


def latest_unpartitioned(instance: DagsterInstance, asset_key: AssetKey) -> dict[str, Any]:
    """The metadata of an unpartitioned asset's latest materialization, as plain values
    ({} when it was never materialized)."""
    event = instance.get_latest_materialization_event(asset_key)
    if event is None or event.asset_materialization is None:
        return {}
    return {k: getattr(v, "value", v) for k, v in event.asset_materialization.metadata.items()}


def materialization_metadata(
    instance: DagsterInstance, asset_key: AssetKey, limit: int = 1000
) -> list[dict[str, Any]]:
    """Metadata of every materialization of an unpartitioned asset, oldest first."""
    result = instance.fetch_materializations(asset_key, limit=limit, ascending=True)
    return [
        {
            key: getattr(value, "value", value)
            for key, value in r.asset_materialization.metadata.items()
        }
        for r in result.records
        if r.asset_materialization is not None
    ]
