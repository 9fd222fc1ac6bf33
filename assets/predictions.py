"""predictions: each day's tickets scored as the serving flag and the rollout say (the champion,
a canary arm, a pinned version or the rule-based default), and the drift of the champion's
scores against its own validation-time scores."""

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

from assets.metadata import check_severity, passed
from assets.partitions import DAILY
from assets.serving import Scorer, current_flag, current_rollout, serve
from checks.output_drift import compare_scores, score_profile
from checks.rollout import is_active
from resources.clock import ClockResource
from resources.policy import PolicyResource
from resources.registry import ModelRegistry
from resources.storage import HomeStorage

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
    return version, _model(registry, version)


@asset(
    partitions_def=DAILY,
    group_name="scoring",
    kinds={"sklearn", "parquet"},
    owners=["team:ml-platform"],
    deps=["champion", "rollout", "serving_flags"],
)
def predictions(
    context: AssetExecutionContext,
    ticket_features: pd.DataFrame,
    registry: ModelRegistry,
    storage: HomeStorage,
    policy: PolicyResource,
    clock: ClockResource,
) -> Output[pd.DataFrame]:
    """One row per ticket: its arm, the version that served it, the escalation score, the
    confidence and the decision, plus what the champion and a rolled-out challenger each
    scored. "Which version served this prediction" is a column, not a guess."""
    rules = policy.load()
    store = storage.snapshots
    flag = current_flag(store) or {"state": "on"}
    record = current_rollout(store)
    challenger, arm_of_main = None, "champion"
    if flag["state"] == "off":
        main = None
    elif flag["state"] == "pin":
        main, arm_of_main = Scorer(flag["version"], _model(registry, flag["version"])), "pinned"
    else:
        main = Scorer(*champion_model(registry))
        if is_active(record):
            challenger = Scorer(record["version"], _model(registry, record["version"]))
    served = serve(
        ticket_features,
        main=main,
        challenger=challenger,
        rollout_id=record["id"] if challenger else None,
        fraction=record["fraction"] if challenger else 0.0,
        arm_of_main=arm_of_main,
        threshold=rules.gate.decision_threshold,
        fallback_priorities=rules.rollout.fallback_escalate_priorities,
        scored_at=clock.now().isoformat(),
    )
    out = served.frame
    profile = score_profile(out["score"].to_numpy(), rules.gate.decision_threshold)
    arms = out["arm"].value_counts().to_dict()
    context.log.info(
        "%d tickets scored; served by %s",
        len(out),
        ", ".join(f"{v} ({n})" for v, n in out["model_version"].value_counts().items()),
    )
    if served.challenger_failure:
        context.log.error("challenger %s failed: %s", challenger.version, served.challenger_failure)
    return Output(
        out,
        metadata={
            "dagster/row_count": len(out),
            "model_version": ", ".join(sorted(set(out["model_version"]))),
            "flag": flag["state"] + (f" {flag['version']}" if flag["state"] == "pin" else ""),
            "arms": MetadataValue.json({k: int(v) for k, v in arms.items()}),
            "rollout": (
                f"{record['id']}: {record['state']} at {record['fraction']:.0%}"
                if challenger
                else "none"
            ),
            **(
                {
                    "challenger_error_rate": float(out["challenger_error"].mean()),
                    "challenger_failure": served.challenger_failure or "none",
                }
                if challenger
                else {}
            ),
            "positive_rate": profile["positive_rate"],
            "mean_confidence": profile["mean_confidence"],
            "score_profile": MetadataValue.json(profile),
            "score_histogram": MetadataValue.md(_histogram(profile)),
        },
    )


def _model(registry: ModelRegistry, version: str):
    return _of_version(registry, version, "model", lambda: registry.load_model(version))


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
    # The champion (or the pinned version) scores every ticket whatever the arms served.
    judged = predictions[predictions["champion_version"].notna()]
    if predictions.empty:
        return AssetCheckResult(passed=True, description="no tickets were scored on this day")
    if judged.empty:
        return AssetCheckResult(
            passed=True,
            description="the model was switched off (serving flag): the rule-based default "
            "served every ticket, there are no model scores to judge",
            metadata={"model_version": "rules"},
        )
    versions = sorted(set(judged["champion_version"]))
    if len(versions) != 1:
        raise Failure(f"one partition scored by several versions {versions}: judge each apart")
    reference = _of_version(
        registry,
        versions[0],
        SCORE_PROFILE,
        lambda: registry.load_artifact_json(versions[0], SCORE_PROFILE),
    )
    current = score_profile(judged["champion_score"].to_numpy(), reference["threshold"])
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
