"""rollout and rollout_comparison: a challenger the gate passed meets real traffic in shadow,
then a canary that grows on the policy's schedule; the triggers agreed at its start are judged
every day on the same traffic, and the rollout sensor rolls back, advances or promotes.

`rollout` is one materialization per move (start, advance, rollback, abandon, complete): the
event log is the record a person reads later, and the latest value is what scoring applies.
"""

import getpass
from datetime import date

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    Config,
    Failure,
    MetadataValue,
    Output,
    asset,
    asset_check,
)

from assets.evaluation import find_evaluation
from assets.metadata import table
from assets.partitions import DAILY, day_of, key_of
from assets.serving import current_rollout
from checks.labels import clean_labels
from checks.rollout import RolloutError, advance, end, is_active, start
from checks.rollout_compare import compare_on_traffic
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


@asset(
    group_name="deployment",
    deps=["challenger_evaluation", "champion"],  # a completed rollout is promoted first
    kinds={"mlflow"},
    owners=["team:ml-platform"],
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
    actor = config.actor or getpass.getuser()
    try:
        if config.action == "start":
            record = _start(store, registry, policy, current, config, today, actor)
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
            "summary": f"{record['id']}: {last['action']} -> {record['state']} "
            f"({record['fraction']:.0%}): {last['reason']}",
            "triggers": MetadataValue.json(record["triggers"]),
            "schedule": table(
                [{"step": "shadow", "fraction": 0.0, "days": record["shadow_days"]}]
                + [{"step": i + 1, **s} for i, s in enumerate(record["schedule"])]
            ),
            "events": table(record["events"]),
        },
    )


def _start(store, registry, policy, current, config, today: date, actor: str) -> dict:
    rules = policy.load()
    if is_active(current):
        raise Failure(
            f"rollout {current['id']} is in progress ({current['state']}, "
            f"{current['fraction']:.0%}): roll it back or let it finish before starting another"
        )
    version = config.version
    if version is None:
        if not store.partitions("challenger_evaluation"):
            raise Failure("no challenger has been evaluated: nothing to roll out")
        version = store.read("challenger_evaluation", None)["challenger_version"]
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
    baseline = store.read("baseline_metrics", None)
    if baseline["champion_version"] != champion:
        raise Failure(f"the recorded baseline is not champion {champion}'s: re-record it first")
    return start(
        version=version,
        champion_version=champion,
        baseline_task_success=baseline["metrics"]["task_success"]["value"],
        rules=rules.rollout,
        today=today,
        actor=actor,
        reason=config.reason or f"gate passed on test set v{evaluation['test_set']['version']}",
        policy_version=rules.version,
    )


@asset(
    partitions_def=DAILY,
    group_name="deployment",
    deps=["ticket_labels", "rollout"],
    kinds={"pandas"},
    owners=["team:ml-platform"],
    output_required=False,
)
def rollout_comparison(
    context: AssetExecutionContext,
    predictions: pd.DataFrame,
    storage: HomeStorage,
    policy: PolicyResource,
):
    """Champion and challenger side by side on the tickets both scored, through this day:
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
    day = day_of(context.partition_key)
    # Earlier days from the store; this day's rows from this run (the store may hold an
    # older version of them).
    days = [
        d for d in store.partitions("predictions") if record["started"] <= d < context.partition_key
    ]
    frames = {d: store.read("predictions", d) for d in days}
    frames[context.partition_key] = predictions
    ours = {d: f[f["rollout_id"] == rollout_id] for d, f in frames.items()}
    ours = {d: f for d, f in ours.items() if len(f)}
    rows = pd.concat([ours[d] for d in sorted(ours)], ignore_index=True)
    recent = sorted(ours)[-rules.rollout.trigger_window_days :]
    window = pd.concat([ours[d] for d in recent], ignore_index=True)
    label_days = [
        d for d in store.partitions("ticket_labels") if record["started"] <= d <= key_of(day)
    ]
    raw = [store.read("ticket_labels", d) for d in label_days]
    labels = (
        pd.concat(raw, ignore_index=True)
        if raw
        else pd.DataFrame(
            {"ticket_id": pd.Series(dtype="str"), "escalated": pd.Series(dtype="int64")}
        )
    )
    usable, _ = clean_labels(labels, set(rows["ticket_id"]), earlier_labelled_ids=set())
    result = compare_on_traffic(
        rows,
        window,
        usable,
        record,
        rules.rollout,
        rules.gate.decision_threshold,
        rules.gate.non_inferiority_margin,
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


def _histograms(scores: dict) -> str:
    lines = ["| score | champion | challenger |", "| --- | --- | --- |"]
    champion, challenger = scores["champion"], scores["challenger"]
    for i in range(10):
        cells = []
        for s in (champion, challenger):
            share = s["histogram"][i] / s["n"] if s["n"] else 0.0
            cells.append(f"{share:.1%} {'█' * round(share * 30)}")
        lines.append(f"| {i / 10:.1f}–{(i + 1) / 10:.1f} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)


@asset_check(asset=rollout_comparison, partitions_def=DAILY)
def rollout_triggers(rollout_comparison: dict) -> AssetCheckResult:
    """The rollback triggers written down when the rollout started, judged on this day's
    window. An ERROR here is what the rollout sensor rolls back on."""
    fired = rollout_comparison["fired"]
    return AssetCheckResult(
        passed=not fired,
        severity=AssetCheckSeverity.ERROR,
        description="; ".join(fired)
        if fired
        else "triggers quiet: " + "; ".join(t["reason"] for t in rollout_comparison["triggers"]),
        metadata={
            "rollout_id": rollout_comparison["rollout_id"],
            "version": rollout_comparison["version"],
            "window": rollout_comparison["window"],
            "fired": MetadataValue.json(fired),
            "triggers": table(rollout_comparison["triggers"]),
        },
    )
