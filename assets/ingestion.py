"""raw: one partition of the source, kept as an immutable snapshot, and its data checks.

The snapshot is stored before any check runs, so bad data is never lost: a check that fails
with ERROR (the contract, volume, freshness, schema, repeated ids, event times before the
partition) blocks what is downstream in the run, but the raw rows stay available for
inspection and replay. A WARN blocks nothing.
"""

from datetime import timedelta

import pandas as pd
import pyarrow.parquet as pq
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetIn,
    DataVersion,
    Failure,
    FreshnessPolicy,
    MetadataValue,
    Output,
    asset,
    multi_asset_check,
)
from dagster._core.event_api import PartitionKeyFilter  # not exported by `dagster`

from assets.history import latest_metadata
from assets.metadata import check_severity, column_schema, passed, table
from assets.names import RAW
from assets.partitions import utc
from assets.workflow import Workflow
from checks.contract import ContractReport, validate_against
from checks.encoding import undecodable_text
from checks.event_window import judge_event_window
from checks.freshness import judge_freshness, newest_event_time
from checks.policy import Policy
from checks.repeats import judge_repeats
from checks.schema_change import judge_schema, logical_type, schema_of
from checks.schema_mapping import FIRST_VERSION, apply_mapping
from checks.volume import judge_volume
from resources.clock import ClockResource
from resources.policy import PolicyResource
from resources.schema_mappings import SchemaMappingStore, mappings_path
from resources.snapshots import SnapshotStore, content_hash
from resources.source import SqlSource
from resources.storage import HomeStorage

# Every check of raw; each blocks what is downstream when it fails with ERROR.
RAW_CHECK_NAMES = (
    "raw_contract",
    "raw_volume",
    "raw_freshness",
    "raw_schema",
    "raw_repeated_ids",
    "raw_event_window",
)


def raw_report(wf: Workflow, raw: pd.DataFrame) -> ContractReport:
    """The raw contract, and the text cells the source could only keep as bytes (named by
    column and row id): both break the contract."""
    report = validate_against(wf.contracts.raw, raw)
    text = [c for c, dtype in wf.contracts.raw_columns.items() if logical_type(dtype) == "string"]
    undecodable = undecodable_text(raw, text, wf.entity.id)
    if not undecodable:
        return report
    return ContractReport(
        passed=False,
        n_rows=report.n_rows,
        n_failures=report.n_failures + sum(f["failures"] for f in undecodable),
        failures=undecodable + report.failures,
        contract=report.contract,
    )


def ensure_contract(wf: Workflow, raw: pd.DataFrame, partition_key: str) -> None:
    """Refuse to build on a partition that breaks the raw contract, or whose other raw checks
    last said ERROR. The blocking checks stop downstream steps in the same run; this also
    holds when a later run asks for a downstream asset alone (called inside an asset)."""
    report = raw_report(wf, raw)
    if not report.passed:
        raise Failure(f"{wf.name}/{RAW} {partition_key} breaks its contract: {report.summary()}")
    instance = AssetExecutionContext.get().instance
    keys = [AssetCheckKey(wf.key(RAW), n) for n in RAW_CHECK_NAMES if n != "raw_contract"]
    latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        keys, partition_filter=PartitionKeyFilter(key=partition_key)
    )
    failed = [
        (k.name, e.description or "")
        for k, record in latest.items()
        if (e := record.evaluation) is not None
        and not e.passed
        and e.severity == AssetCheckSeverity.ERROR
    ]
    if failed:
        said = "; ".join(f"{name}: {why}" for name, why in sorted(failed))
        raise Failure(
            f"{wf.name}/{RAW} {partition_key} failed its ERROR check(s) when last ingested "
            f"({said}): nothing downstream is built on it until it is ingested again and passes"
        )


def read_through_mapping(
    wf: Workflow, storage: HomeStorage, partition: str, exported: pd.DataFrame
) -> tuple[pd.DataFrame, dict]:
    """The partition's rows read through the schema mapping in force for it (if any), and the
    metadata that says what it did ({} when the rows are the source's as sent)."""
    mapping = SchemaMappingStore(mappings_path(storage.root)).in_force(partition)
    if mapping is None:
        return exported, {}
    result = apply_mapping(exported, mapping, wf.contracts.raw_columns)
    said = {"schema_mapping_skipped": "; ".join(result.skipped)} if result.skipped else {}
    if not result.changed:  # e.g. a partition sent before the change: read as sent
        return exported, said
    return result.frame, {
        "schema_version": mapping.version,
        "schema_mapping": ", ".join(result.applied),
        "schema_mapping_reason": mapping.reason,
        "exported_schema": MetadataValue.json(schema_of(exported)),
        **({"unparsed_cells": MetadataValue.json(result.unparsed)} if result.unparsed else {}),
        **said,
    }


def earlier_ids(
    store: SnapshotStore, keys: list[str], column: str
) -> tuple[dict[str, pd.Series], list[str]]:
    """The id column of each stored raw partition among `keys` (in order), read alone from
    its current snapshot (a few milliseconds for 20,000 rows; the whole snapshot, verified,
    is read where its rows are used), and the stored partitions without that column."""
    stored = set(store.partitions(RAW))
    found, without = {}, []
    for key in keys:
        if key not in stored:
            continue
        path = store.current(RAW, key).path
        try:
            if column not in pq.read_schema(path).names:
                without.append(key)  # e.g. a day whose id column was renamed
                continue
            found[key] = pq.read_table(path, columns=[column]).column(column).to_pandas()
        except (OSError, ValueError) as err:  # pyarrow's own words name no partition
            raise Failure(
                f"the {RAW} snapshot of partition {key} cannot be read for its ids "
                f"({type(err).__name__}: {err}): {path}"
            ) from err
    return found, without


def build(wf: Workflow, policy: Policy) -> tuple[list, list]:
    """The raw asset and its checks. `policy` is the workflow's build-time policy (the asset's
    freshness window is fixed when the definitions load)."""
    parts = wf.partitions
    time_column = wf.entity.event_time
    key = wf.key(RAW)
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
        context: AssetExecutionContext,
        source: SqlSource,
        clock: ClockResource,
        storage: HomeStorage,
    ) -> Output[pd.DataFrame]:
        start, end = parts.window(context.partition_key)
        exported = source.extract(start, end)
        df, mapped = read_through_mapping(wf, storage, context.partition_key, exported)
        if "schema_mapping" in mapped:
            # What the source sent is kept beside the mapped rows (the store keeps every
            # version by its hash); the mapped rows, written next, are what downstream reads.
            kept = storage.snapshots.write(RAW, context.partition_key, exported, context.run.run_id)
            mapped["exported_content_hash"] = kept.content_hash
            context.log.info(
                "%s read through schema v%s: %s (as exported: %s)",
                context.partition_key,
                mapped["schema_version"],
                mapped["schema_mapping"],
                kept.content_hash[:12],
            )
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
                "schema_version": mapped.get("schema_version", FIRST_VERSION),
                **{k: v for k, v in mapped.items() if k != "schema_version"},
            },
        )

    def raw_contract(
        context: AssetCheckExecutionContext, raw: pd.DataFrame, rules: Policy, storage: HomeStorage
    ) -> AssetCheckResult:
        """The pandera contract, and text that is not UTF-8; an ERROR here stops every
        downstream step of this partition."""
        report = raw_report(wf, raw)
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

    def raw_volume(
        context: AssetCheckExecutionContext, raw: pd.DataFrame, rules: Policy, storage: HomeStorage
    ) -> AssetCheckResult:
        """Row count against the trailing median of comparable partitions (the same weekday
        for daily ones): a drop, or a spike."""
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
                "rise": result.rise if result.rise is not None else "n/a",
                "history": MetadataValue.json(dict(zip(earlier, history, strict=False))),
                **rules.as_metadata("volume"),
            },
        )

    def raw_freshness(
        context: AssetCheckExecutionContext, raw: pd.DataFrame, rules: Policy, storage: HomeStorage
    ) -> AssetCheckResult:
        """Lag between the newest event and the partition's end: a stale or re-sent feed."""
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

    def raw_schema(
        context: AssetCheckExecutionContext, raw: pd.DataFrame, rules: Policy, storage: HomeStorage
    ) -> AssetCheckResult:
        """Columns added, removed, renamed-looking and retyped: vs the previous partition and
        the contract."""
        previous_key = parts.shift(context.partition_key, -1)
        recorded = latest_metadata(context.instance, key, [previous_key, context.partition_key])
        previous = recorded.get(previous_key, {}).get("logical_schema")
        expected = {name: logical_type(dtype) for name, dtype in wf.contracts.raw_columns.items()}
        report = judge_schema(schema_of(raw), previous, expected)
        rows = [{"against": "contract", "change": line} for line in report.vs_contract.describe()]
        if report.vs_previous is not None:
            rows += [{"against": previous_key, "change": c} for c in report.vs_previous.describe()]
        # The rows judged are the mapped ones when a schema mapping read them: say so first.
        this = recorded.get(context.partition_key, {})
        version = this.get("schema_version", FIRST_VERSION)
        mapped = (
            f"mapped by schema v{version}: {this['schema_mapping']}"
            if "schema_mapping" in this
            else ""
        )
        if mapped:
            rows = [
                {
                    "against": f"as exported ({this.get('exported_content_hash', '?')[:12]})",
                    "change": r,
                }
                for r in this["schema_mapping"].split(", ")
            ] + rows
        return AssetCheckResult(
            passed=passed(report.severity),
            severity=check_severity(report.severity),
            description=f"{mapped}; {report.reason}" if mapped else report.reason,
            metadata={
                "changes": table(rows, ["against", "change"]),
                "compared_with_previous": previous_key if previous is not None else "none",
                "schema_version": version,
            },
        )

    def raw_repeated_ids(
        context: AssetCheckExecutionContext, raw: pd.DataFrame, rules: Policy, storage: HomeStorage
    ) -> AssetCheckResult:
        """Ids this partition shares with the earlier partitions of the look-back: a batch
        delivered again."""
        days = rules.repeats.lookback_days
        keys = parts.previous(context.partition_key, parts.periods_for_days(days)) if days else []
        entity = wf.entity.id
        earlier, without = earlier_ids(storage.snapshots, keys, entity)
        ids = raw[entity] if entity in raw else pd.Series([], dtype="str")
        result = judge_repeats(ids, earlier, rules.repeats)
        if without:
            context.log.warning("raw partitions without a %s column: %s", entity, without)
        return AssetCheckResult(
            passed=passed(result.severity),
            severity=check_severity(result.severity),
            description=result.reason,
            metadata={
                "rows": result.rows,
                "repeated_rows": result.repeated,
                "repeated_fraction": round(result.fraction, 4),
                "examples": ", ".join(result.examples) or "none",
                "by_partition": MetadataValue.json(result.by_partition),
                "searched": ", ".join(result.searched) or "none",
                "searched_without_id_column": ", ".join(without) or "none",
                **rules.as_metadata("repeats"),
            },
        )

    def raw_event_window(
        context: AssetCheckExecutionContext, raw: pd.DataFrame, rules: Policy, storage: HomeStorage
    ) -> AssetCheckResult:
        """Rows dated before the partition's start, beyond the late arrivals the policy
        tolerates (rows after its end: raw_freshness)."""
        result = judge_event_window(
            raw, time_column, wf.entity.id, parts.start_of(context.partition_key), rules.event_time
        )
        return AssetCheckResult(
            passed=passed(result.severity),
            severity=check_severity(result.severity),
            description=result.reason,
            metadata={
                "rows": result.rows,
                "early_rows": result.early,
                "before": str(result.cutoff),
                "oldest_event": str(result.oldest) if result.oldest else "none",
                "examples": ", ".join(result.examples) or "none",
                **rules.as_metadata("event_time"),
            },
        )

    judges = (
        raw_contract,
        raw_volume,
        raw_freshness,
        raw_schema,
        raw_repeated_ids,
        raw_event_window,
    )
    assert tuple(j.__name__ for j in judges) == RAW_CHECK_NAMES

    # One step for every raw check: the snapshot is read and verified once, not six times;
    # each check keeps its own key, result and blocking ERROR.
    @multi_asset_check(
        name=f"{wf.name}__raw_checks",
        specs=[
            AssetCheckSpec(
                n,
                asset=key,
                blocking=True,
                partitions_def=parts.definition,
                description=(j.__doc__ or "").split("\n\n")[0],
            )
            for n, j in zip(RAW_CHECK_NAMES, judges, strict=True)
        ],
        ins={"raw": AssetIn(key=key)},
    )
    def raw_checks(
        context: AssetCheckExecutionContext,
        raw: pd.DataFrame,
        policy: PolicyResource,
        storage: HomeStorage,
    ):
        rules = policy.load()
        for name, judge in zip(RAW_CHECK_NAMES, judges, strict=True):
            result = judge(context, raw, rules, storage)
            yield result._replace(check_name=name, asset_key=key)

    return [raw], [raw_checks]
