"""predictions: each day's tickets scored by the model behind @champion, and the drift of
those scores against the champion's own validation-time scores."""

import numpy as np
import pandas as pd
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetExecutionContext,
    Failure,
    MetadataValue,
    Output,
    asset,
    asset_check,
)

from assets.feature_definitions import FEATURE_COLUMNS
from assets.metadata import check_severity, passed
from assets.partitions import DAILY
from checks.output_drift import compare_scores, score_profile
from resources.clock import ClockResource
from resources.policy import PolicyResource
from resources.registry import ModelRegistry

SCORE_PROFILE = "score_profile.json"
# A registered version never changes, so a process may keep what it loaded of it (the demo
# scores and checks ninety days with a handful of versions).
_LOADED: dict[tuple[str, str, str, str], object] = {}


def _of_version(registry: ModelRegistry, version: str, what: str, load):
    key = (registry.tracking_uri, registry.model_name, version, what)
    if key not in _LOADED:
        _LOADED[key] = load()
    return _LOADED[key]


def champion_model(registry: ModelRegistry) -> tuple[str, object]:
    version = registry.version_for_alias("champion")
    if version is None:
        raise Failure("no model behind @champion: promote one before scoring")
    return version, _of_version(registry, version, "model", lambda: registry.load_model(version))


@asset(
    partitions_def=DAILY,
    group_name="scoring",
    kinds={"sklearn", "parquet"},
    owners=["team:ml-platform"],
    deps=["champion"],
)
def predictions(
    context: AssetExecutionContext,
    ticket_features: pd.DataFrame,
    registry: ModelRegistry,
    policy: PolicyResource,
    clock: ClockResource,
) -> Output[pd.DataFrame]:
    """One row per ticket: the version that served it, the escalation score, the confidence
    and the decision. "Which version served this prediction" is a column, not a guess."""
    threshold = policy.load().gate.decision_threshold
    version, model = champion_model(registry)
    scores = model.predict_proba(ticket_features[FEATURE_COLUMNS])[:, 1]
    out = pd.DataFrame(
        {
            "ticket_id": ticket_features["ticket_id"].to_numpy(),
            "model_version": version,
            "score": scores,
            "confidence": np.maximum(scores, 1.0 - scores),
            "escalate": scores >= threshold,
            "scored_at": clock.now().isoformat(),
        }
    )
    profile = score_profile(scores, threshold)
    context.log.info("%d tickets scored by version %s", len(out), version)
    return Output(
        out,
        metadata={
            "dagster/row_count": len(out),
            "model_version": version,
            "positive_rate": profile["positive_rate"],
            "mean_confidence": profile["mean_confidence"],
            "score_profile": MetadataValue.json(profile),
            "score_histogram": MetadataValue.md(_histogram(profile)),
        },
    )


def _histogram(profile: dict) -> str:
    total = max(profile["n"], 1)
    lines = ["| score | share |  |", "| --- | --- | --- |"]
    for low, count in zip(profile["edges"][:-1], profile["counts"], strict=True):
        share = count / total
        lines.append(f"| {low:.1f}–{low + 0.1:.1f} | {share:.1%} | {'█' * round(share * 40)} |")
    return "\n".join(lines)


@asset_check(asset=predictions, partitions_def=DAILY)
def prediction_drift(
    context: AssetCheckExecutionContext,
    predictions: pd.DataFrame,
    registry: ModelRegistry,
    policy: PolicyResource,
) -> AssetCheckResult:
    """The day's scores against the serving version's scores on its held-out validation rows:
    a shift in what the model outputs shows before any label arrives."""
    rules = policy.load()
    versions = sorted(set(predictions["model_version"]))
    if len(versions) != 1:
        raise Failure(f"one partition scored by several versions {versions}: judge each apart")
    reference = _of_version(
        registry,
        versions[0],
        SCORE_PROFILE,
        lambda: registry.load_artifact_json(versions[0], SCORE_PROFILE),
    )
    current = score_profile(predictions["score"].to_numpy(), reference["threshold"])
    out = rules.output
    drift = compare_scores(
        current, reference, out.psi_warn, out.psi_error, out.positive_rate_error, out.min_rows
    )
    return AssetCheckResult(
        passed=passed(drift.level),
        severity=check_severity(drift.level),
        description=drift.reason,
        metadata={
            "model_version": versions[0],
            "psi": drift.psi,
            "positive_rate": drift.positive_rate,
            "reference_positive_rate": drift.reference_positive_rate,
            **rules.as_metadata("output"),
        },
    )
