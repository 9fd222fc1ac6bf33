"""raw: one partition of the source, kept as an immutable snapshot, and its four data checks.

The snapshot is stored before any check runs, so bad data is never lost: a failing contract
blocks what is downstream, but the raw rows stay available for inspection and replay.
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
from assets.names import RAW
from assets.partitions import utc
from assets.workflow import Workflow
from checks.contract import validate_against
from checks.freshness import judge_freshness, newest_event_time
from checks.policy import Policy
from checks.schema_change import judge_schema, logical_type, schema_of
from checks.volume import judge_volume
from resources.clock import ClockResource
from resources.policy import PolicyResource
from resources.snapshots import content_hash
from resources.source import SqlSource


def ensure_contract(wf: Workflow, raw: pd.DataFrame, partition_key: str) -> None:
    """Refuse to build on a partition that breaks the raw contract. The blocking check stops
    downstream steps in the same run; this also holds when a later run asks for it."""
    report = validate_against(wf.contracts.raw, raw)
    if not report.passed:
        raise Failure(f"{wf.name}/{RAW} {partition_key} breaks its contract: {report.summary()}")


def build(wf: Workflow, policy: Policy) -> tuple[list, list]:
    """The raw asset and its checks. `policy` is the workflow's build-time policy (the asset's
    freshness window is fixed when the definitions load)."""
    parts = wf.partitions
    time_column = wf.entity.event_time
    key = wf.key(RAW)
    contract = wf.contracts.raw
    period = timedelta(days=parts.period_days)

    @asset(
        name=RAW,
        key_prefix=[wf.name],
        partitions_def=parts.definition,
        group_name="ingestion",
        kinds={"sql", "parquet"},
        owners=[wf.team("data_engineer")],
        freshness_policy=FreshnessPolicy.time_window(
            fail_window=period + timedelta(hours=policy.freshness.asset_fail_hours - 24),
            warn_window=period + timedelta(hours=policy.freshness.asset_warn_hours - 24),
        ),
        description=f"{wf.name}: one partition of the source exactly as it was exported "
        "(no coercion, no filtering). The content hash is the data version.",
    )
    def raw(
        context: AssetExecutionContext, source: SqlSource, clock: ClockResource
    ) -> Output[pd.DataFrame]:
        start, end = parts.window(context.partition_key)
        df = source.extract(start, end)
        digest = content_hash(df)
        newest = newest_event_time(df, time_column)
        schema = schema_of(df)
        context.log.info(
            "extracted %d rows for %s (hash %s)", len(df), context.partition_key, digest[:12]
        )
        return Output(
            df,
            data_version=DataVersion(digest),
            metadata={
                "dagster/row_count": len(df),
                "dagster/column_schema": column_schema(schema),
                "logical_schema": MetadataValue.json(schema),
                "newest_event_time": MetadataValue.timestamp(utc(newest)) if newest else "none",
                "extracted_at": MetadataValue.timestamp(clock.now()),
                "content_hash": digest,
            },
        )

    @asset_check(asset=key, name="raw_contract", partitions_def=parts.definition, blocking=True)
    def raw_contract(raw: pd.DataFrame) -> AssetCheckResult:
        """The pandera contract; an ERROR here stops every downstream step of this partition."""
        report = validate_against(contract, raw)
        return AssetCheckResult(
            passed=report.passed,
            metadata={
                "contract": report.contract,
                "rows": report.n_rows,
                "failures": report.n_failures,
                "summary": report.summary(),
                "failure_report": table(
                    report.failures, ["column", "check", "failures", "examples"]
                ),
            },
            description=report.summary(),
        )

    @asset_check(asset=key, name="raw_volume", partitions_def=parts.definition)
    def raw_volume(
        context: AssetCheckExecutionContext, raw: pd.DataFrame, policy: PolicyResource
    ) -> AssetCheckResult:
        """Row count against the trailing median of comparable partitions (the same weekday
        for daily ones)."""
        rules = policy.load()
        earlier = parts.seasonal_history(context.partition_key, rules.volume.history_weeks)
        recorded = latest_metadata(context.instance, key, earlier)
        history = [int(recorded[k]["dagster/row_count"]) for k in earlier if k in recorded]
        result = judge_volume(len(raw), history, rules.volume)
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

    @asset_check(asset=key, name="raw_freshness", partitions_def=parts.definition)
    def raw_freshness(
        context: AssetCheckExecutionContext, raw: pd.DataFrame, policy: PolicyResource
    ) -> AssetCheckResult:
        """Lag between the newest event and the partition's end: a stale or re-sent feed."""
        rules = policy.load()
        result = judge_freshness(
            newest_event_time(raw, time_column),
            parts.end_of(context.partition_key),
            rules.freshness,
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

    @asset_check(asset=key, name="raw_schema", partitions_def=parts.definition)
    def raw_schema(context: AssetCheckExecutionContext, raw: pd.DataFrame) -> AssetCheckResult:
        """Columns added, removed, renamed-looking and retyped: vs the previous partition and
        the contract."""
        previous_key = parts.shift(context.partition_key, -1)
        recorded = latest_metadata(context.instance, key, [previous_key])
        previous = recorded.get(previous_key, {}).get("logical_schema")
        expected = {name: logical_type(dtype) for name, dtype in wf.contracts.raw_columns.items()}
        report = judge_schema(schema_of(raw), previous, expected)
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

    return [raw], [raw_contract, raw_volume, raw_freshness, raw_schema]
