"""ticket_features: the versioned feature set of one day, computed from its raw snapshot."""

import pandas as pd
from dagster import AssetCheckResult, AssetExecutionContext, Output, asset, asset_check

from assets.feature_definitions import compute_features
from assets.feature_set import current_pin
from assets.metadata import table
from assets.partitions import DAILY
from assets.raw_tickets import ensure_raw_contract
from checks.feature_contract import FEATURE_CONTRACT_VERSION, validate_features
from resources.snapshots import content_hash

PIN = current_pin()


@asset(
    partitions_def=DAILY,
    group_name="features",
    kinds={"pandas", "parquet"},
    code_version=PIN.code_version,
    owners=["team:ml-platform"],
)
def ticket_features(
    context: AssetExecutionContext, raw_tickets: pd.DataFrame
) -> Output[pd.DataFrame]:
    """Model inputs for each ticket of the day: the same `compute_features` serves training and
    scoring. The code version is the feature-set version plus the hash of its definitions, so
    the UI marks these partitions stale when a definition changes."""
    ensure_raw_contract(raw_tickets, context.partition_key)
    features = compute_features(raw_tickets)
    return Output(
        features,
        metadata={
            "dagster/row_count": len(features),
            "feature_set_version": PIN.version,
            "feature_set_hash": PIN.definitions_hash,
            "raw_content_hash": content_hash(raw_tickets),
        },
    )


@asset_check(asset=ticket_features, partitions_def=DAILY, blocking=True)
def ticket_features_contract(ticket_features: pd.DataFrame) -> AssetCheckResult:
    """The feature-set contract; an ERROR stops training and scoring on this partition."""
    report = validate_features(ticket_features)
    return AssetCheckResult(
        passed=report.passed,
        description=report.summary(),
        metadata={
            "contract": FEATURE_CONTRACT_VERSION,
            "failure_report": table(report.failures, ["column", "check", "failures", "examples"]),
        },
    )


@asset_check(asset=ticket_features, partitions_def=DAILY, blocking=True)
def ticket_features_version_pinned() -> AssetCheckResult:
    """Feature definitions changed without a version bump would silently change what a model
    version means: that is an ERROR."""
    pin = current_pin()
    return AssetCheckResult(
        passed=pin.ok,
        description=pin.reason(),
        metadata={
            "version": pin.version,
            "definitions_hash": pin.definitions_hash,
            "pinned_hash": pin.pinned_hash or "none",
        },
    )


FEATURE_CHECKS = [ticket_features_contract, ticket_features_version_pinned]
