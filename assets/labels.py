"""ticket_labels: the outcomes that arrived on a day, and the check that nothing odd arrived.

A label for a ticket we never saw, a ticket labelled twice, or an escalation value that is not
0/1 is reported here with counts and examples; training later uses only clean labels and
records how many it left out.
"""

from datetime import timedelta

import pandas as pd
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetExecutionContext,
    Output,
    asset,
    asset_check,
)

from assets.metadata import check_severity, passed, table
from assets.partitions import DAILY, day_of, key_of
from checks.labels import judge_labels, validate_labels
from resources.policy import PolicyResource
from resources.source import SqlTicketSource
from resources.storage import HomeStorage


@asset(
    partitions_def=DAILY,
    group_name="labels",
    kinds={"sql", "parquet"},
    owners=["team:data-engineering"],
)
def ticket_labels(context: AssetExecutionContext, source: SqlTicketSource) -> Output[pd.DataFrame]:
    """Escalation outcomes that became known on this day (for tickets of earlier days)."""
    labels = source.extract_labels(day_of(context.partition_key))
    return Output(labels, metadata={"dagster/row_count": len(labels)})


@asset_check(asset=ticket_labels, partitions_def=DAILY)
def ticket_labels_contract(ticket_labels: pd.DataFrame) -> AssetCheckResult:
    report = validate_labels(ticket_labels)
    return AssetCheckResult(
        passed=report.passed,
        description=report.summary(),
        metadata={
            "failure_report": table(report.failures, ["column", "check", "failures", "examples"])
        },
    )


@asset_check(asset=ticket_labels, partitions_def=DAILY)
def ticket_labels_integrity(
    context: AssetCheckExecutionContext,
    ticket_labels: pd.DataFrame,
    storage: HomeStorage,
    policy: PolicyResource,
) -> AssetCheckResult:
    """Labels for unknown tickets, labels delivered twice, invalid values."""
    loaded = policy.load()
    rules = loaded.labels
    day = day_of(context.partition_key)
    store = storage.snapshots
    window = [key_of(day - timedelta(days=i)) for i in range(rules.lookback_days + 1)]
    raw_stored = set(store.partitions("raw_tickets"))
    raw_days = [k for k in window if k in raw_stored]
    known = set()
    for key in raw_days:
        raw = store.read("raw_tickets", key)
        if "ticket_id" in raw:
            known.update(raw["ticket_id"].astype("str"))
    label_days = set(store.partitions("ticket_labels"))
    earlier = set()
    for key in window[1:]:
        if key in label_days:
            earlier.update(store.read("ticket_labels", key)["ticket_id"].astype("str"))
    report = judge_labels(ticket_labels, known, earlier, max_bad_fraction=rules.max_bad_fraction)
    return AssetCheckResult(
        passed=passed(report.severity),
        severity=check_severity(report.severity),
        description=report.reason,
        metadata={
            "problems": table(report.records()),
            "raw_days_searched": f"{raw_days[-1]} .. {raw_days[0]}" if raw_days else "none",
            **loaded.as_metadata("labels"),
        },
    )


LABEL_CHECKS = [ticket_labels_contract, ticket_labels_integrity]
