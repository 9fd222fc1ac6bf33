"""predictions: each partition's rows scored as the serving flag and the rollout say (the
champion, a canary arm, a pinned version or the fallback rule), and the drift of the
champion's outputs against its own validation-time outputs."""

import pandas as pd
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetExecutionContext,
    AssetIn,
    Failure,
    MetadataValue,
    Output,
    asset,
    asset_check,
)

from assets.gate_evidence import Timed
from assets.ingestion import ensure_contract
from assets.metadata import check_severity, passed
from assets.models import cached, champion, load_served
from assets.names import CHAMPION, FEATURES, FLAGS, PREDICTIONS, RAW, ROLLOUT
from assets.serving import current_flag, current_rollout, serve
from assets.training import SCORE_PROFILE
from assets.workflow import Workflow
from checks.rollout import is_active
from resources.clock import ClockResource
from resources.policy import PolicyResource
from resources.registry import ModelRegistry
from resources.storage import HomeStorage


def reference_profile(registry: ModelRegistry, version: str) -> dict:
    """The output profile a version showed on its held-out validation rows at training."""
    return cached(
        registry,
        version,
        SCORE_PROFILE,
        lambda: registry.load_artifact_json(version, SCORE_PROFILE),
    )


def _histogram(profile: dict) -> str:
    total = max(profile["n"], 1)
    lines = ["| output | share |  |", "| --- | --- | --- |"]
    edges = profile["edges"]
    for low, high, count in zip(edges[:-1], edges[1:], profile["counts"], strict=True):
        share = count / total
        lines.append(f"| {low:.3g}–{high:.3g} | {share:.1%} | {'█' * round(share * 40)} |")
    return "\n".join(lines)


def _ms(latency: list[dict], arm: str) -> float | None:
    return next((r["ms_per_1000_rows"] for r in latency if r["arm"] == arm), None)


def build(wf: Workflow) -> tuple[list, list]:
    parts = wf.partitions
    task = wf.task
    owner = wf.team("model_owner")

    @asset(
        name=PREDICTIONS,
        key_prefix=[wf.name],
        partitions_def=parts.definition,
        group_name="scoring",
        kinds={"sklearn", "parquet"},
        owners=[owner],
        # features: its blocking checks stop scoring on a partition that breaks them.
        deps=[wf.key(FEATURES), wf.key(CHAMPION), wf.key(ROLLOUT), wf.key(FLAGS)],
        ins={"raw": AssetIn(wf.key(RAW))},
    )
    def predictions(
        context: AssetExecutionContext,
        raw: pd.DataFrame,
        registry: ModelRegistry,
        storage: HomeStorage,
        clock: ClockResource,
    ) -> Output[pd.DataFrame]:
        """One row per entity: its arm, the version that served it, the output, the
        confidence and the decision, plus what the champion and a rolled-out challenger each
        output. "Which version served this prediction" is a column, not a guess."""
        ensure_contract(wf, raw, context.partition_key)
        store = storage.snapshots
        flag = current_flag(store) or {"state": "on"}
        record = current_rollout(store)
        challenger, arm_of_main = None, "champion"
        if flag["state"] == "off":
            main = None
        elif flag["state"] == "pin":
            main, arm_of_main = load_served(wf, registry, flag["version"]), "pinned"
        else:
            main = champion(wf, registry, storage.lock_path)
            if is_active(record):
                challenger = load_served(wf, registry, record["version"])
        # Timed: scoring time per serving version, recorded per day (ms per 1,000 rows).
        main = Timed(main) if main is not None else None
        challenger = Timed(challenger) if challenger is not None else None
        served = serve(
            wf,
            raw,
            main=main,
            challenger=challenger,
            rollout_id=record["id"] if challenger else None,
            fraction=record["fraction"] if challenger else 0.0,
            arm_of_main=arm_of_main,
            scored_at=clock.now().isoformat(),
        )
        out = served.frame
        latency = [
            timed.record(arm)
            for timed, arm in ((main, arm_of_main), (challenger, "challenger"))
            if timed is not None and timed.rows
        ]
        scores = out["score"].to_numpy()
        decider = main.task_of(wf) if main is not None else task
        profile = decider.output_profile(scores) if len(scores) else None
        arms = out["arm"].value_counts().to_dict()
        context.log.info(
            "%d rows scored; served by %s",
            len(out),
            ", ".join(f"{v} ({n})" for v, n in out["model_version"].value_counts().items()),
        )
        if served.challenger_failure:
            context.log.error(
                "challenger %s failed: %s", challenger.version, served.challenger_failure
            )
        return Output(
            out,
            metadata={
                "dagster/row_count": len(out),
                "model_version": ", ".join(sorted(set(out["model_version"]))),
                "flag": flag["state"] + (f" {flag['version']}" if flag["state"] == "pin" else ""),
                "arms": MetadataValue.json({k: int(v) for k, v in arms.items()}),
                # Stable keys: the main (champion or pinned) model's and the challenger's
                # ms per 1,000 rows (None when it did not score), and both with versions.
                "scoring_latency": MetadataValue.json(latency),
                "main_ms_per_1000_rows": _ms(latency, arm_of_main),
                "challenger_ms_per_1000_rows": _ms(latency, "challenger"),
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
                **(
                    {
                        "output_profile": MetadataValue.json(profile),
                        "output_histogram": MetadataValue.md(_histogram(profile)),
                    }
                    if profile
                    else {}
                ),
            },
        )

    @asset_check(
        asset=wf.key(PREDICTIONS), name="prediction_drift", partitions_def=parts.definition
    )
    def prediction_drift(
        context: AssetCheckExecutionContext,
        predictions: pd.DataFrame,
        registry: ModelRegistry,
        policy: PolicyResource,
    ) -> AssetCheckResult:
        """The partition's outputs against the serving version's outputs on its held-out
        validation rows: a shift in what the model outputs shows before any label arrives."""
        rules = policy.load()
        # The champion (or the pinned version) scores every row whatever the arms served.
        judged = predictions[predictions["champion_version"].notna()]
        if predictions.empty:
            return AssetCheckResult(passed=True, description="no rows were scored")
        if judged.empty:
            return AssetCheckResult(
                passed=True,
                description="the model was switched off (serving flag): the fallback served "
                "every row, there are no model outputs to judge",
                metadata={"model_version": "rules"},
            )
        versions = sorted(set(judged["champion_version"]))
        if len(versions) != 1:
            raise Failure(f"one partition scored by several versions {versions}: judge each apart")
        reference = reference_profile(registry, versions[0])
        # At the threshold the reference was profiled at: the version's own.
        current = task.at(reference.get("threshold")).output_profile(
            judged["champion_score"].to_numpy(), reference
        )
        out = rules.output
        drift = task.compare_output_profiles(
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

    return [predictions], [prediction_drift]
