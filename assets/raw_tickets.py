"""raw_tickets: one day of the source, kept as an immutable snapshot, and its four data checks.

The snapshot is stored before any check runs, so bad data is never lost: a failing contract
blocks what is downstream, but the raw day stays available for inspection and replay.
"""

from datetime import timedelta

import pandas as pd
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetExecutionContext,
    DataVersion,
    Failure,
    FreshnessPolicy,
    MetadataValue,
    Output,
    asset,
    asset_check,
)

from assets.history import latest_metadata
from assets.metadata import check_severity, column_schema, passed, table
from assets.partitions import DAILY, day_end, day_of, key_of, utc
from checks.contract import CONTRACT_COLUMNS, CONTRACT_VERSION, validate_contract
from checks.freshness import judge_freshness, newest_event_time
from checks.policy import Policy
from checks.schema_change import judge_schema, logical_type, schema_of
from checks.volume import judge_volume
from resources.clock import ClockResource
from resources.policy import PolicyResource
from resources.snapshots import content_hash
from resources.source import SqlTicketSource

_DEFAULT_RULES = Policy().freshness


@asset(
    partitions_def=DAILY,
    group_name="ingestion",
    kinds={"sql", "parquet"},
    owners=["team:data-engineering"],
    freshness_policy=FreshnessPolicy.time_window(
        fail_window=timedelta(hours=_DEFAULT_RULES.asset_fail_hours),
        warn_window=timedelta(hours=_DEFAULT_RULES.asset_warn_hours),
    ),
)
def raw_tickets(
    context: AssetExecutionContext, source: SqlTicketSource, clock: ClockResource
) -> Output[pd.DataFrame]:
    """One day of support tickets exactly as the CRM exported it (no coercion, no filtering).

    The content hash is the data version: re-extracting an unchanged day is a no-op for
    downstream staleness, a changed day is a new version stored beside the old one.
    """
    df = source.extract_day(day_of(context.partition_key))
    digest = content_hash(df)
    newest = newest_event_time(df)
    schema = schema_of(df)
    context.log.info(
        "extracted %d rows for %s (hash %s)", len(df), context.partition_key, digest[:12]
    )
    metadata = {
        "dagster/row_count": len(df),
        "dagster/column_schema": column_schema(schema),
        "logical_schema": MetadataValue.json(schema),
        "newest_event_time": MetadataValue.timestamp(utc(newest)) if newest else "none",
        "extracted_at": MetadataValue.timestamp(clock.now()),
        "content_hash": digest,
    }
    return Output(df, data_version=DataVersion(digest), metadata=metadata)


# The checks below take the asset's value as a parameter named `raw_tickets`, which shadows
# the asset definition inside them; they use this key instead.
RAW_KEY = raw_tickets.key


@asset_check(asset=raw_tickets, partitions_def=DAILY, blocking=True)
def raw_tickets_contract(raw_tickets: pd.DataFrame) -> AssetCheckResult:
    """The pandera contract; an ERROR here stops every downstream step of this partition."""
    report = validate_contract(raw_tickets)
    return AssetCheckResult(
        passed=report.passed,
        metadata={
            "contract": CONTRACT_VERSION,
            "rows": report.n_rows,
            "failures": report.n_failures,
            "summary": report.summary(),
            "failure_report": table(report.failures, ["column", "check", "failures", "examples"]),
        },
        description=report.summary(),
    )


@asset_check(asset=raw_tickets, partitions_def=DAILY)
def raw_tickets_volume(
    context: AssetCheckExecutionContext, raw_tickets: pd.DataFrame, policy: PolicyResource
) -> AssetCheckResult:
    """Row count against the trailing median of the same weekday."""
    rules = policy.load()
    day = day_of(context.partition_key)
    earlier = [key_of(day - timedelta(weeks=w)) for w in range(1, rules.volume.history_weeks + 1)]
    recorded = latest_metadata(context.instance, RAW_KEY, earlier)
    history = [int(recorded[k]["dagster/row_count"]) for k in earlier if k in recorded]
    result = judge_volume(len(raw_tickets), history, rules.volume)
    return AssetCheckResult(
        passed=passed(result.severity),
        severity=check_severity(result.severity),
        description=result.reason,
        metadata={
            "rows": result.count,
            "expected_rows": result.expected if result.expected is not None else "n/a",
            "drop": result.drop if result.drop is not None else "n/a",
            "history": MetadataValue.json(dict(zip(earlier, history, strict=False))),
            **rules.as_metadata("volume"),
        },
    )


@asset_check(asset=raw_tickets, partitions_def=DAILY)
def raw_tickets_freshness(
    context: AssetCheckExecutionContext, raw_tickets: pd.DataFrame, policy: PolicyResource
) -> AssetCheckResult:
    """Lag between the newest event and the partition's end: catches stale or re-sent feeds."""
    rules = policy.load()
    result = judge_freshness(
        newest_event_time(raw_tickets), day_end(context.partition_key), rules.freshness
    )
    return AssetCheckResult(
        passed=passed(result.severity),
        severity=check_severity(result.severity),
        description=result.reason,
        metadata={
            "newest_event": str(result.newest_event) if result.newest_event else "none",
            "lag_hours": result.lag_hours if result.lag_hours is not None else "n/a",
            **rules.as_metadata("freshness"),
        },
    )


@asset_check(asset=raw_tickets, partitions_def=DAILY)
def raw_tickets_schema(
    context: AssetCheckExecutionContext, raw_tickets: pd.DataFrame
) -> AssetCheckResult:
    """Columns added, removed, renamed-looking and retyped: vs the previous day and the contract."""
    previous_key = key_of(day_of(context.partition_key) - timedelta(days=1))
    recorded = latest_metadata(context.instance, RAW_KEY, [previous_key])
    previous = recorded.get(previous_key, {}).get("logical_schema")
    contract = {name: logical_type(dtype) for name, dtype in CONTRACT_COLUMNS.items()}
    report = judge_schema(schema_of(raw_tickets), previous, contract)
    rows = [{"against": "contract", "change": line} for line in report.vs_contract.describe()]
    if report.vs_previous is not None:
        rows += [{"against": previous_key, "change": c} for c in report.vs_previous.describe()]
    return AssetCheckResult(
        passed=passed(report.severity),
        severity=check_severity(report.severity),
        description=report.reason,
        metadata={
            "changes": table(rows, ["against", "change"]),
            "compared_with_previous": previous_key if previous is not None else "none",
        },
    )


def ensure_raw_contract(raw: pd.DataFrame, partition_key: str) -> None:
    """Refuse to build on a day that breaks the contract. The blocking check stops downstream
    steps in the same run; this also holds when a later run asks for that day."""
    report = validate_contract(raw)
    if not report.passed:
        raise Failure(f"raw_tickets {partition_key} breaks its contract: {report.summary()}")


RAW_TICKETS_CHECKS = [
    raw_tickets_contract,
    raw_tickets_volume,
    raw_tickets_freshness,
    raw_tickets_schema,
]
