"""labels: the outcomes that became known in a partition, and the checks that nothing odd
arrived; feedback: what people did with the outputs, recorded the period after scoring.

A label for a row we never saw, a row labelled twice, or a value the task cannot read is
reported with counts and examples; training later uses only clean labels and records how many
it left out.
"""

import pandas as pd
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    Output,
    asset,
    asset_check,
)

from assets.metadata import check_severity, passed, table
from assets.names import FEEDBACK, LABELS, RAW
from assets.workflow import Workflow
from checks.contract import validate_against
from checks.labels import LabelSchema, judge_labels
from resources.policy import PolicyResource
from resources.source import SqlSource
from resources.storage import HomeStorage


def label_schema(wf: Workflow) -> LabelSchema:
    return LabelSchema(
        id=wf.entity.id,
        label=wf.label.column,
        known_at=wf.label.known_at_column,
        valid=wf.task.valid_labels,
        valid_text=wf.task.label_text,
    )


def lookback_partitions(wf: Workflow, lookback_extra_days: int) -> int:
    """How many earlier raw partitions a label's row may lie in: the label lag plus margin."""
    return wf.partitions.periods_for_days(wf.label.max_lag_days + lookback_extra_days)


def build(wf: Workflow) -> tuple[list, list]:
    parts = wf.partitions
    schema = label_schema(wf)
    entity = wf.entity.id

    @asset(
        name=LABELS,
        key_prefix=[wf.name],
        partitions_def=parts.definition,
        group_name="labels",
        kinds={"sql", "parquet"},
        owners=[wf.team("data_engineer")],
        description=f"{wf.name}: the {wf.label.column} outcomes that became known in this "
        "partition (for rows of earlier partitions).",
    )
    def labels(context: AssetExecutionContext, source: SqlSource) -> Output[pd.DataFrame]:
        found = source.labels(*parts.window(context.partition_key))
        return Output(found, metadata={"dagster/row_count": len(found)})

    @asset_check(asset=wf.key(LABELS), name="labels_contract", partitions_def=parts.definition)
    def labels_contract(labels: pd.DataFrame) -> AssetCheckResult:
        report = validate_against(wf.contracts.labels, labels)
        return AssetCheckResult(
            passed=report.passed,
            description=report.summary(),
            metadata={
                "failure_report": table(
                    report.failures, ["column", "check", "failures", "examples"]
                )
            },
        )

    @asset_check(asset=wf.key(LABELS), name="labels_integrity", partitions_def=parts.definition)
    def labels_integrity(
        context: AssetCheckExecutionContext,
        labels: pd.DataFrame,
        storage: HomeStorage,
        policy: PolicyResource,
    ) -> AssetCheckResult:
        """Labels for unknown rows, labels delivered twice, invalid values."""
        loaded = policy.load()
        rules = loaded.labels
        store = storage.snapshots
        n = lookback_partitions(wf, rules.lookback_extra_days)
        window = [context.partition_key, *parts.previous(context.partition_key, n)]
        raw_days, gone = store.window(RAW, window, missing="skip")
        if gone:
            # Not the source's fault: the rows the labels refer to were deleted here.
            return AssetCheckResult(
                passed=False,
                severity=AssetCheckSeverity.ERROR,
                description=f"raw partitions {', '.join(gone)} were written to the snapshot "
                "store and deleted since: the labels cannot be checked against their rows; "
                "restore them or re-materialize them",
                metadata={"deleted_raw_partitions": ", ".join(gone)},
            )
        known = set()
        for key in raw_days:
            raw = store.read(RAW, key)
            if entity in raw:
                known.update(raw[entity].astype("str"))
        label_days = set(store.partitions(LABELS))
        earlier = set()
        for key in window[1:]:
            if key in label_days:
                earlier.update(store.read(LABELS, key)[entity].astype("str"))
        report = judge_labels(labels, known, earlier, schema, rules.max_bad_fraction)
        return AssetCheckResult(
            passed=passed(report.severity),
            severity=check_severity(report.severity),
            description=report.reason,
            metadata={
                "problems": table(report.records()),
                "raw_partitions_searched": f"{raw_days[-1]} .. {raw_days[0]}"
                if raw_days
                else "none",
                "label_lag_days": wf.label.max_lag_days,
                **loaded.as_metadata("labels"),
            },
        )

    assets, checks = [labels], [labels_contract, labels_integrity]
    if wf.feedback is not None:
        feedback = wf.feedback

        @asset(
            name=FEEDBACK,
            key_prefix=[wf.name],
            partitions_def=parts.definition,
            group_name="labels",
            kinds={"sql", "parquet"},
            owners=[wf.team("data_engineer")],
            description=f"{wf.name}: what people did with each output, recorded in this "
            "partition (for the outputs of the one before).",
        )
        def feedback_asset(
            context: AssetExecutionContext, source: SqlSource
        ) -> Output[pd.DataFrame]:
            found = source.feedback(*parts.window(context.partition_key))
            used = int(found[feedback.used].sum()) if len(found) else 0
            return Output(
                found,
                metadata={
                    "dagster/row_count": len(found),
                    "outputs_used": used,
                    "actors": int(found[feedback.actor].nunique()) if len(found) else 0,
                },
            )

        assets.append(feedback_asset)
    return assets, checks
