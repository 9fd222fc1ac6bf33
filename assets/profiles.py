"""reference_profile and profiles: what the data looked like, in mergeable form.

The reference profile fixes the bins and categories from a window of clean partitions; every
later profile is computed on those bins, so a week's drift is the merge of daily profiles,
without reading a single row again. The profiled columns come from the workflow's raw
contract (numeric columns, and text columns with a closed list of values).
"""

from dataclasses import asdict

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

from assets.ingestion import ensure_contract
from assets.metadata import check_severity, passed, round_sig, table
from assets.names import PROFILES, RAW, REFERENCE
from assets.workflow import Workflow
from checks.contract import validate_against
from checks.drift import LEVELS, DriftReport, compare_profiles, render_markdown
from checks.histograms import column_histogram, render_histogram
from checks.policy import DriftRules
from checks.profiles import TableProfile, build_reference_profile, merge_profiles, profile_like
from resources.policy import PolicyResource
from resources.snapshots import content_hash
from resources.storage import HomeStorage


class ReferenceWindow(Config):
    """The last partition of the reference window (inclusive); default: the newest stored."""

    end_date: str | None = None


# The per-column table: what was decided and why first, then the numbers behind it.
TABLE_COLUMNS = (
    "decision",
    "reason",
    "column",
    "kind",
    "effect_size",
    "effect_floor",
    "p_adjusted",
    "p_value",
    "psi",
    "null_rate_ref",
    "null_rate_cur",
    "statistic",
    "test",
    "effect_metric",
)


def _table_records(report: DriftReport) -> list[dict]:
    worst_first = sorted(report.columns, key=lambda c: -LEVELS.index(c.decision))
    return [
        {
            **{k: round_sig(v) for k, v in asdict(c).items()},
            "effect_floor": report.error_floors.get(c.kind),
        }
        for c in worst_first
    ]


def _column_metrics(report: DriftReport, key_columns: list[str] | None) -> dict:
    """Numeric metadata per key column under names that never change from one partition to
    the next, so Dagster plots each column's effect size against its floor over time."""
    by_name = {c.column: c for c in report.columns}
    names = list(by_name) if key_columns is None else key_columns
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise Failure(f"retraining.drift_key_columns {unknown} are not profiled columns")
    out = {}
    for name in names:
        c = by_name[name]
        out[f"{name}/effect"] = MetadataValue.float(c.effect_size)
        out[f"{name}/effect_floor"] = MetadataValue.float(report.error_floors.get(c.kind))
        out[f"{name}/p_adjusted"] = MetadataValue.float(c.p_adjusted)
    return out


def _histograms(report: DriftReport, current: TableProfile, reference: TableProfile) -> dict:
    """Reference-versus-current shares of every column that drifted (warn or error)."""
    return {
        f"histogram/{c.column}": MetadataValue.md(
            render_histogram(
                column_histogram(c.column, reference.columns[c.column], current.columns[c.column])
            )
        )
        for c in report.columns
        if c.decision != "ok" and c.column in current.columns
    }


def drift_result(
    current: TableProfile,
    reference: TableProfile,
    rules: DriftRules,
    span: str,
    cap_at_warn: bool = False,
    key_columns: list[str] | None = None,
) -> AssetCheckResult:
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
    # The merged view still holds an incident day for the days after it: it warns, the daily
    # check is the one that raises the ERROR on the day itself.
    worst = "warn" if cap_at_warn and report.worst == "error" else report.worst
    return AssetCheckResult(
        passed=passed(worst),
        severity=check_severity(worst),
        description=f"{span}: {report.summary()}",
        metadata={
            "columns": table(_table_records(report), TABLE_COLUMNS),
            "plot": MetadataValue.md(render_markdown(report)),
            "rows_current": report.n_current,
            "rows_reference": report.n_reference,
            "drifted_columns": [c.column for c in report.columns if c.decision == "error"],
            **_column_metrics(report, key_columns),
            **_histograms(report, current, reference),
        },
    )


def build(wf: Workflow) -> tuple[list, list]:
    parts = wf.partitions
    numeric = wf.contracts.numeric_columns
    categorical = wf.contracts.categorical_columns
    owner = wf.team("data_engineer")
    reference_in = {"reference_profile": AssetIn(wf.key(REFERENCE))}

    @asset(
        name=REFERENCE,
        key_prefix=[wf.name],
        group_name="profiles",
        deps=[wf.key(RAW)],
        kinds={"pandas"},
        owners=[owner],
    )
    def reference_profile(
        context: AssetExecutionContext,
        config: ReferenceWindow,
        storage: HomeStorage,
        policy: PolicyResource,
    ) -> Output[dict]:
        """The agreed picture of the inputs: a profile of the clean partitions in the
        reference window. Partitions that break the contract are left out and listed; which
        snapshots (partition and content hash) went in is recorded, so it can be reproduced."""
        rules = policy.load().drift
        store = storage.snapshots
        stored = store.partitions(RAW)
        if not stored:
            raise Failure(f"no {wf.name}/{RAW} snapshots stored yet: materialize raw first")
        end = parts.key_at(parts.start_of(config.end_date or stored[-1]))
        n = parts.periods_for_days(rules.reference_window_days)
        window = [*reversed(parts.previous(end, n - 1)), end]
        store.window(RAW, window)  # a partition stored once and deleted since: refused by name
        used, frames, excluded = {}, [], {}
        for key in window:
            if key not in stored:
                excluded[key] = "not materialized"
                continue
            df = store.read(RAW, key)
            report = validate_against(wf.contracts.raw, df)
            if not report.passed:
                excluded[key] = report.summary()
                continue
            frames.append(df)
            used[key] = store.current(RAW, key).content_hash
        needed = parts.periods_for_days(rules.min_reference_days)
        if len(used) < needed:
            raise Failure(
                f"only {len(used)} clean partitions in the reference window ending {end} "
                f"({needed} needed); excluded: {excluded}"
            )
        rows = pd.concat(frames, ignore_index=True)
        profile = build_reference_profile(
            rows, numeric, categorical, rules.n_bins, rules.max_categories
        )
        context.log.info("reference profile from %d partitions, %d rows", len(used), len(rows))
        value = {"profile": profile.to_dict(), "snapshots": used, "excluded": excluded}
        return Output(
            value,
            metadata={
                "window": f"{window[0]} .. {window[-1]}",
                "partitions_used": len(used),
                "rows": len(rows),
                "snapshots": MetadataValue.json(used),
                "excluded_partitions": MetadataValue.json(excluded),
                "content_hash": content_hash(value),
            },
        )

    @asset(
        name=PROFILES,
        key_prefix=[wf.name],
        partitions_def=parts.definition,
        group_name="profiles",
        kinds={"pandas"},
        owners=[owner],
        ins={"raw": AssetIn(wf.key(RAW)), **reference_in},
    )
    def profiles(
        context: AssetExecutionContext, raw: pd.DataFrame, reference_profile: dict
    ) -> Output[dict]:
        """This partition's profile on the reference's bins and categories: mergeable, small,
        comparable."""
        ensure_contract(wf, raw, context.partition_key)
        reference = TableProfile.from_dict(reference_profile["profile"])
        profile = profile_like(raw, reference)
        return Output(profile.to_dict(), metadata={"rows": profile.n_rows})

    @asset_check(
        asset=wf.key(PROFILES),
        name="drift",
        partitions_def=parts.definition,
        additional_ins=reference_in,
    )
    def drift(profiles: dict, reference_profile: dict, policy: PolicyResource) -> AssetCheckResult:
        """Per-column drift of this partition against the reference profile."""
        rules = policy.load()
        return drift_result(
            TableProfile.from_dict(profiles),
            TableProfile.from_dict(reference_profile["profile"]),
            rules.drift,
            "partition",
            key_columns=rules.retraining.drift_key_columns,
        )

    @asset_check(
        asset=wf.key(PROFILES),
        name="merged_drift",
        partitions_def=parts.definition,
        additional_ins=reference_in,
    )
    def merged_drift(
        context: AssetCheckExecutionContext,
        profiles: dict,
        reference_profile: dict,
        storage: HomeStorage,
        policy: PolicyResource,
    ) -> AssetCheckResult:
        """Drift of the last few partitions merged (policy `drift.merged_partitions`): slow
        drift that one partition's sample is too small to show."""
        policy_rules = policy.load()
        rules = policy_rules.drift
        store = storage.snapshots
        earlier = parts.previous(context.partition_key, rules.merged_partitions - 1)
        keys, _ = store.window(PROFILES, earlier)  # one deleted since is refused by name
        merged = merge_profiles(
            [TableProfile.from_dict(profiles)]
            + [TableProfile.from_dict(store.read(PROFILES, k)) for k in keys]
        )
        return drift_result(
            merged,
            TableProfile.from_dict(reference_profile["profile"]),
            rules,
            f"{len(keys) + 1} partitions to {context.partition_key}",
            cap_at_warn=True,
            key_columns=policy_rules.retraining.drift_key_columns,
        )

    return [reference_profile, profiles], [drift, merged_drift]
