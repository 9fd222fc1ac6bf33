"""rollout and rollout_comparison: a challenger the gate passed meets real traffic in shadow,
then a canary that grows on the policy's schedule; the triggers agreed at its start are judged
every day on the same traffic, and the rollout sensor rolls back, advances or promotes.

`rollout` is one materialization per move (start, advance, rollback, abandon, complete): the
event log is the record a person reads later, and the latest value is what scoring applies.
"""

from datetime import date, datetime

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetIn,
    Config,
    Failure,
    MetadataValue,
    Output,
    asset,
    asset_check,
)

from assets.evaluation import find_evaluation
from assets.labels import label_schema
from assets.metadata import table
from assets.names import (
    BASELINE,
    CHAMPION,
    COMPARISON,
    EVALUATION,
    LABELS,
    PREDICTIONS,
    ROLLOUT,
)
from assets.serving import current_rollout
from assets.workflow import Workflow
from checks.labels import clean_labels
from checks.rollout import RolloutError, advance, end, is_active, start
from checks.rollout_compare import compare_on_traffic
from resources.approvals import acting_person
from resources.clock import ClockResource
from resources.policy import PolicyResource
from resources.registry import ModelRegistry
from resources.storage import HomeStorage

ACTIONS = ("start", "advance", "rollback", "abandon", "complete")


class RolloutChange(Config):
    """One move of the rollout. `start` takes the evaluated `version` (default: the version of
    the latest evaluation); the others act on the rollout in progress. `reason` is recorded."""

    action: str
    version: str | None = None
    reason: str = ""
    actor: str | None = None


def _start(wf, store, registry, policy, current, config, today: date, actor: str) -> dict:
    rules = policy.load()
    if is_active(current):
        raise Failure(
            f"rollout {current['id']} is in progress ({current['state']}, "
            f"{current['fraction']:.0%}): roll it back or let it finish before starting another"
        )
    version = config.version
    if version is None:
        if not store.partitions(EVALUATION):
            raise Failure("no challenger has been evaluated: nothing to roll out")
        version = store.read(EVALUATION, None)["challenger_version"]
    evaluation = find_evaluation(store, version)
    if evaluation is None or evaluation["verdict"] != "promote":
        verdict = evaluation["verdict"] if evaluation else "never evaluated"
        raise Failure(f"version {version} cannot be rolled out: gate verdict {verdict}")
    champion = registry.version_for_alias("champion")
    if champion is None:
        raise Failure("no champion: the first model is promoted on the gate alone")
    if evaluation["champion_version"] != champion:
        raise Failure(
            f"version {version} was judged against champion {evaluation['champion_version']}, "
            f"the champion is now {champion}: evaluate it again"
        )
    baseline = store.read(BASELINE, None)
    if baseline["champion_version"] != champion:
        raise Failure(f"the recorded baseline is not champion {champion}'s: re-record it first")
    return start(
        version=version,
        champion_version=champion,
        baseline_task_success=baseline["metrics"][wf.task.success_metric]["value"],
        rules=rules.rollout,
        today=today,
        actor=actor,
        reason=config.reason or f"gate passed on test set v{evaluation['test_set']['version']}",
        policy_version=rules.version,
    )


def _histograms(scores: dict) -> str:
    lines = ["| output | champion | challenger |", "| --- | --- | --- |"]
    champion, challenger = scores["champion"], scores["challenger"]
    edges = champion["edges"]
    for i in range(len(edges) - 1):
        cells = []
        for s in (champion, challenger):
            share = s["histogram"][i] / s["n"] if s["n"] and s["histogram"] else 0.0
            cells.append(f"{share:.1%} {'█' * round(share * 30)}")
        lines.append(f"| {edges[i]:.3g}–{edges[i + 1]:.3g} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)


def build(wf: Workflow) -> tuple[list, list]:
    parts = wf.partitions
    owner = wf.team("model_owner")

    @asset(
        name=ROLLOUT,
        key_prefix=[wf.name],
        group_name="deployment",
        deps=[wf.key(EVALUATION), wf.key(CHAMPION)],  # a completed rollout is promoted first
        kinds={"mlflow"},
        owners=[owner],
    )
    def rollout(
        context: AssetExecutionContext,
        config: RolloutChange,
        storage: HomeStorage,
        registry: ModelRegistry,
        policy: PolicyResource,
        clock: ClockResource,
    ) -> Output[dict]:
        """The challenger's rollout: shadow, the canary's gradual schedule, and how it ended."""
        if config.action not in ACTIONS:
            raise Failure(f"unknown rollout action {config.action!r}: one of {', '.join(ACTIONS)}")
        store = storage.snapshots
        current = current_rollout(store)
        today = clock.now().date()
        actor = acting_person(config.actor)
        try:
            if config.action == "start":
                record = _start(wf, store, registry, policy, current, config, today, actor)
            elif config.action == "advance":
                record = advance(current, today, actor, config.reason or "schedule")
            elif config.action == "complete":
                champion = registry.version_for_alias("champion")
                if not current or champion != current["version"]:
                    raise Failure(
                        f"cannot complete: @champion is {champion}, not the rolled-out version "
                        f"{current['version'] if current else None} (promote it first)"
                    )
                record = end(current, "promoted", today, actor, config.reason or "schedule done")
            else:
                outcome = "rolled_back" if config.action == "rollback" else "abandoned"
                record = end(current, outcome, today, actor, config.reason or config.action)
        except RolloutError as err:
            raise Failure(str(err)) from err
        # Mirrored on the version in MLflow, so the model's page says where it stands.
        registry.set_version_tags(
            record["version"],
            {
                "rollout.id": record["id"],
                "rollout.state": record["state"],
                "rollout.fraction": str(record["fraction"]),
                "rollout.reason": record["events"][-1]["reason"][:500],
            },
        )
        last = record["events"][-1]
        context.log.info(
            "rollout %s: %s -> %s at %.0f%% (%s)",
            record["id"],
            last["action"],
            record["state"],
            100 * record["fraction"],
            last["reason"],
        )
        return Output(
            record,
            metadata={
                "action": last["action"],
                "state": record["state"],
                "version": record["version"],
                "champion_version": record["champion_version"],
                "fraction": record["fraction"],
                "reason": last["reason"],
                "actor": actor,
                "at": clock.now().isoformat(),  # the workflow's clock: a demo's simulated date
                "summary": f"{record['id']}: {last['action']} -> {record['state']} "
                f"({record['fraction']:.0%}): {last['reason']} (on {today.isoformat()})",
                "triggers": MetadataValue.json(record["triggers"]),
                "schedule": table(
                    [{"step": "shadow", "fraction": 0.0, "days": record["shadow_days"]}]
                    + [{"step": i + 1, **s} for i, s in enumerate(record["schedule"])]
                ),
                "events": table(record["events"]),
            },
        )

    @asset(
        name=COMPARISON,
        key_prefix=[wf.name],
        partitions_def=parts.definition,
        group_name="deployment",
        deps=[wf.key(LABELS), wf.key(ROLLOUT)],
        kinds={"pandas"},
        owners=[owner],
        output_required=False,
        ins={"predictions": AssetIn(wf.key(PREDICTIONS))},
    )
    def rollout_comparison(
        context: AssetExecutionContext,
        predictions: pd.DataFrame,
        storage: HomeStorage,
        policy: PolicyResource,
    ):
        """Champion and challenger side by side on the rows both scored, through this partition:
        agreement, score distributions, task success per arm, the paired test, the triggers."""
        if predictions["rollout_id"].isna().all():
            context.log.info("no rollout scored on %s: nothing to compare", context.partition_key)
            return
        store = storage.snapshots
        rules = policy.load()
        record = current_rollout(store)
        rollout_id = predictions["rollout_id"].dropna().iloc[0]
        if record is None or record["id"] != rollout_id:
            raise Failure(f"predictions name rollout {rollout_id}, the stored rollout is not it")
        # Earlier partitions from the store; this one's rows from this run (the store may hold an
        # older version of them).
        started = parts.key_at(datetime.fromisoformat(record["started"]))
        # Written, not only stored now: a day deleted since is refused by name, never dropped
        # from the triggers' evidence in silence.
        days = [d for d in store.written(PREDICTIONS) if started <= d < context.partition_key]
        frames = {d: store.read(PREDICTIONS, d) for d in store.window(PREDICTIONS, days)[0]}
        frames[context.partition_key] = predictions
        ours = {d: f[f["rollout_id"] == rollout_id] for d, f in frames.items()}
        ours = {d: f for d, f in ours.items() if len(f)}
        rows = pd.concat([ours[d] for d in sorted(ours)], ignore_index=True)
        recent = sorted(ours)[-rules.rollout.trigger_window_days :]
        window = pd.concat([ours[d] for d in recent], ignore_index=True)
        label_days = [d for d in store.written(LABELS) if started <= d <= context.partition_key]
        raw = [store.read(LABELS, d) for d in store.window(LABELS, label_days)[0]]
        schema = label_schema(wf)
        labels = (
            pd.concat(raw, ignore_index=True)
            if raw
            else pd.DataFrame({c: pd.Series(dtype="object") for c in schema.columns})
        )
        usable, _ = clean_labels(labels, set(rows[schema.id]), set(), schema)
        result = compare_on_traffic(
            rows,
            window,
            usable,
            record,
            rules.rollout,
            wf.task,
            rules.gate.non_inferiority_margin,
            schema.id,
            schema.label,
        )
        result["window"] = f"{recent[0]} .. {recent[-1]}"
        paired = result["paired"]
        yield Output(
            result,
            metadata={
                "rollout_id": rollout_id,
                "version": record["version"],
                "state": record["state"],
                "fraction": record["fraction"],
                "scored_rows": result["scored_rows"],
                "labelled_rows": result["labelled_rows"],
                "agreement_rate": result["agreement_rate"],
                "paired_difference": paired["difference"],
                "proven": "not judged" if result["proven"] is None else str(result["proven"]),
                "proof": result["proof"],
                "task_success_by_arm": table(
                    [{"arm": arm, **rate} for arm, rate in result["task_success_by_arm"].items()]
                ),
                "scores": table(
                    [
                        {"model": who, **{k: v for k, v in s.items() if k != "histogram"}}
                        for who, s in result["scores"].items()
                    ]
                ),
                "score_histograms": MetadataValue.md(_histograms(result["scores"])),
            },
        )

    @asset_check(asset=wf.key(COMPARISON), name="rollout_triggers", partitions_def=parts.definition)
    def rollout_triggers(rollout_comparison: dict) -> AssetCheckResult:
        """The rollback triggers written down when the rollout started, judged on this day's
        window. An ERROR here is what the rollout sensor rolls back on."""
        fired = rollout_comparison["fired"]
        return AssetCheckResult(
            passed=not fired,
            severity=AssetCheckSeverity.ERROR,
            description="; ".join(fired)
            if fired
            else "triggers quiet: "
            + "; ".join(t["reason"] for t in rollout_comparison["triggers"]),
            metadata={
                "rollout_id": rollout_comparison["rollout_id"],
                "version": rollout_comparison["version"],
                "window": rollout_comparison["window"],
                "fired": MetadataValue.json(fired),
                "triggers": table(rollout_comparison["triggers"]),
            },
        )

    return [rollout, rollout_comparison], [rollout_triggers]
