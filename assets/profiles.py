"""reference_profile and ticket_profiles: what the data looked like, in mergeable form.

The reference profile fixes the bins and categories from a window of clean days; every daily
profile is computed on those bins, so a week's drift is the merge of seven daily profiles,
without reading a single row again.
"""

from datetime import timedelta

import pandas as pd
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetExecutionContext,
    AssetIn,
    Config,
    Failure,
    MetadataValue,
    Output,
    asset,
    asset_check,
)

from assets.metadata import check_severity, passed, table
from assets.partitions import DAILY, day_of, key_of
from assets.raw_tickets import ensure_raw_contract, raw_tickets
from checks.contract import CATEGORICAL_COLUMNS, NUMERIC_COLUMNS, validate_contract
from checks.drift import compare_profiles, render_markdown
from checks.policy import DriftRules
from checks.profiles import TableProfile, build_reference_profile, merge_profiles, profile_like
from resources.policy import PolicyResource
from resources.snapshots import content_hash
from resources.storage import HomeStorage

RAW = "raw_tickets"


class ReferenceWindow(Config):
    """The last day of the reference window (inclusive); default: the newest stored day."""

    end_date: str | None = None


@asset(
    group_name="profiles", deps=[raw_tickets], kinds={"pandas"}, owners=["team:data-engineering"]
)
def reference_profile(
    context: AssetExecutionContext,
    config: ReferenceWindow,
    storage: HomeStorage,
    policy: PolicyResource,
) -> Output[dict]:
    """The agreed picture of the inputs: a profile of the clean days in the reference window.

    Days that break the contract are left out and listed; which snapshots (partition and
    content hash) went in is recorded, so the reference itself can be reproduced.
    """
    rules = policy.load().drift
    store = storage.snapshots
    stored = store.partitions(RAW)
    if not stored:
        raise Failure("no raw_tickets snapshots stored yet: materialize raw_tickets first")
    end = day_of(config.end_date or stored[-1])
    window = [key_of(end - timedelta(days=i)) for i in range(rules.reference_window_days)][::-1]
    used, frames, excluded = {}, [], {}
    for key in window:
        if key not in stored:
            excluded[key] = "not materialized"
            continue
        df = store.read(RAW, key)
        report = validate_contract(df)
        if not report.passed:
            excluded[key] = report.summary()
            continue
        frames.append(df)
        used[key] = store.current(RAW, key).content_hash
    if len(used) < rules.min_reference_days:
        raise Failure(
            f"only {len(used)} clean days in the reference window ending {end} "
            f"({rules.min_reference_days} needed); excluded: {excluded}"
        )
    rows = pd.concat(frames, ignore_index=True)
    profile = build_reference_profile(
        rows, NUMERIC_COLUMNS, CATEGORICAL_COLUMNS, rules.n_bins, rules.max_categories
    )
    context.log.info("reference profile from %d days, %d rows", len(used), len(rows))
    value = {"profile": profile.to_dict(), "snapshots": used, "excluded": excluded}
    return Output(
        value,
        metadata={
            "window": f"{window[0]} .. {window[-1]}",
            "days_used": len(used),
            "rows": len(rows),
            "snapshots": MetadataValue.json(used),
            "excluded_days": MetadataValue.json(excluded),
            "content_hash": content_hash(value),
        },
    )


@asset(
    partitions_def=DAILY, group_name="profiles", kinds={"pandas"}, owners=["team:data-engineering"]
)
def ticket_profiles(
    context: AssetExecutionContext, raw_tickets: pd.DataFrame, reference_profile: dict
) -> Output[dict]:
    """This day's profile on the reference's bins and categories: mergeable, small, comparable."""
    ensure_raw_contract(raw_tickets, context.partition_key)
    reference = TableProfile.from_dict(reference_profile["profile"])
    profile = profile_like(raw_tickets, reference)
    return Output(profile.to_dict(), metadata={"rows": profile.n_rows})


def _drift_result(
    current: TableProfile,
    reference: TableProfile,
    rules: DriftRules,
    span: str,
    cap_at_warn: bool = False,
):
    report = compare_profiles(
        current,
        reference,
        alpha=rules.alpha,
        numeric_warn=rules.numeric_warn,
        numeric_error=rules.numeric_error,
        categorical_warn=rules.categorical_warn,
        categorical_error=rules.categorical_error,
        null_rate_error=rules.null_rate_error,
        min_rows=rules.min_rows,
    )
    # The weekly view still holds an incident day for six days after it: it warns, the daily
    # check is the one that raises the ERROR on the day itself.
    worst = "warn" if cap_at_warn and report.worst == "error" else report.worst
    return AssetCheckResult(
        passed=passed(worst),
        severity=check_severity(worst),
        description=f"{span}: {report.summary()}",
        metadata={
            "columns": table(report.to_records()),
            "plot": MetadataValue.md(render_markdown(report)),
            "rows_current": report.n_current,
            "rows_reference": report.n_reference,
            "drifted_columns": [c.column for c in report.columns if c.decision == "error"],
        },
    )


@asset_check(
    asset=ticket_profiles,
    partitions_def=DAILY,
    additional_ins={"reference_profile": AssetIn("reference_profile")},
)
def ticket_drift(
    ticket_profiles: dict, reference_profile: dict, policy: PolicyResource
) -> AssetCheckResult:
    """Per-column drift of this day against the reference profile."""
    rules = policy.load().drift
    return _drift_result(
        TableProfile.from_dict(ticket_profiles),
        TableProfile.from_dict(reference_profile["profile"]),
        rules,
        "day",
    )


@asset_check(
    asset=ticket_profiles,
    partitions_def=DAILY,
    additional_ins={"reference_profile": AssetIn("reference_profile")},
)
def weekly_drift(
    context: AssetCheckExecutionContext,
    ticket_profiles: dict,
    reference_profile: dict,
    storage: HomeStorage,
    policy: PolicyResource,
) -> AssetCheckResult:
    """Drift of the seven days ending here, from merged daily profiles: slow drift that one
    day's sample is too small to show."""
    rules = policy.load().drift
    day = day_of(context.partition_key)
    store = storage.snapshots
    stored = set(store.partitions("ticket_profiles"))
    keys = [
        key_of(day - timedelta(days=i))
        for i in range(1, 7)
        if key_of(day - timedelta(days=i)) in stored
    ]
    profiles = [TableProfile.from_dict(ticket_profiles)] + [
        TableProfile.from_dict(store.read("ticket_profiles", k)) for k in keys
    ]
    merged = merge_profiles(profiles)
    return _drift_result(
        merged,
        TableProfile.from_dict(reference_profile["profile"]),
        rules,
        f"{len(profiles)} days to {context.partition_key}",
        cap_at_warn=True,
    )


PROFILE_CHECKS = [ticket_drift, weekly_drift]
