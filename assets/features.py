"""features: the current feature set of one partition, computed from its raw snapshot.

Models are served and evaluated with the feature set they were trained on (computed from raw
rows at scoring time); this asset is the current version's view, with the checks that guard
it: its contract, and that no version's definitions changed without a version bump.
"""

import pandas as pd
from dagster import AssetCheckResult, AssetExecutionContext, AssetIn, Output, asset, asset_check

from assets.ingestion import ensure_contract
from assets.metadata import table
from assets.names import FEATURES, RAW
from assets.workflow import Workflow
from checks.contract import validate_against
from resources.snapshots import content_hash


def build(wf: Workflow) -> tuple[list, list]:
    parts = wf.partitions
    sets = wf.feature_sets
    current = sets.current_set
    pin = sets.pin(current.version)

    @asset(
        name=FEATURES,
        key_prefix=[wf.name],
        partitions_def=parts.definition,
        group_name="features",
        kinds={"pandas", "parquet"},
        code_version=pin.code_version,
        owners=[wf.team("model_owner")],
        ins={"raw": AssetIn(wf.key(RAW))},
    )
    def features(context: AssetExecutionContext, raw: pd.DataFrame) -> Output[pd.DataFrame]:
        """Model inputs for each row of the partition, by the current feature set. The code
        version is the feature-set version plus the hash of its definitions, so the UI marks
        these partitions stale when a definition changes."""
        ensure_contract(wf, raw, context.partition_key)
        computed = current.features(raw)
        return Output(
            computed,
            metadata={
                "dagster/row_count": len(computed),
                "feature_set_version": current.version,
                "feature_set_hash": current.definitions_hash,
                "raw_content_hash": content_hash(raw),
            },
        )

    @asset_check(
        asset=wf.key(FEATURES),
        name="features_contract",
        partitions_def=parts.definition,
        blocking=True,
    )
    def features_contract(features: pd.DataFrame) -> AssetCheckResult:
        """The current feature set's contract; an ERROR stops training and scoring here."""
        if current.contract is None:
            return AssetCheckResult(
                passed=True,
                description=f"feature set v{current.version} declares no contract",
            )
        report = validate_against(current.contract, features)
        return AssetCheckResult(
            passed=report.passed,
            description=report.summary(),
            metadata={
                "contract": report.contract,
                "failure_report": table(
                    report.failures, ["column", "check", "failures", "examples"]
                ),
            },
        )

    @asset_check(
        asset=wf.key(FEATURES),
        name="features_version_pinned",
        partitions_def=parts.definition,
        blocking=True,
    )
    def features_version_pinned() -> AssetCheckResult:
        """A version's definitions changed without a bump would silently change what every
        model trained on it means: an ERROR, for any version still in the code."""
        pins = [sets.pin(v) for v in sets.versions]
        broken = [p for p in pins if not p.ok]
        return AssetCheckResult(
            passed=not broken,
            description="; ".join(p.reason() for p in (broken or pins)),
            metadata={
                "versions": table(
                    [
                        {
                            "version": p.version,
                            "definitions_hash": p.definitions_hash[:12],
                            "pinned_hash": (p.pinned_hash or "none")[:12],
                            "ok": p.ok,
                        }
                        for p in pins
                    ]
                ),
                "current": current.version,
            },
        )

    return [features], [features_contract, features_version_pinned]
