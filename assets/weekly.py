"""weekly_evaluation: the champion on the fixed test set and on last week's production outcomes,
against the baseline recorded at its promotion and against the week before."""

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

from assets.deployment import baseline_metrics
from assets.feature_definitions import FEATURE_COLUMNS
from assets.training import read_window, training_window
from assets.training_data import LABEL, assemble_training_set
from checks.bootstrap import bootstrap_ci
from checks.metrics import compute
from checks.task_success_drop import first_day_below, judge_task_success_drop
from resources.policy import PolicyResource
from resources.registry import ModelRegistry
from resources.storage import HomeStorage

METRIC = "task_success"


class WeekConfig(Config):
    """The last label day of the week evaluated; default: the newest label day stored."""

    week_end: str | None = None


@asset(
    group_name="monitoring", deps=[baseline_metrics], kinds={"mlflow"}, owners=["team:ml-platform"]
)
def weekly_evaluation(
    context: AssetExecutionContext,
    config: WeekConfig,
    eval_test_set: pd.DataFrame,
    registry: ModelRegistry,
    storage: HomeStorage,
    policy: PolicyResource,
) -> Output[dict]:
    rules = policy.load()
    store = storage.snapshots
    version = registry.version_for_alias("champion")
    if version is None:
        raise Failure("no champion to evaluate")
    if not store.partitions("baseline_metrics"):
        raise Failure("no baseline recorded: promote a champion first")
    baseline = store.read("baseline_metrics", None)
    previous = (
        store.read("weekly_evaluation", None) if store.partitions("weekly_evaluation") else None
    )
    label_days = store.partitions("ticket_labels")
    week_end = config.week_end or label_days[-1]
    # Tickets of the week whose labels have had time to arrive by week_end.
    feature_days, label_window = training_window(week_end, 7, rules.labels.max_delay_days)
    features, labels = read_window(store, feature_days, label_window)
    if not features:
        raise Failure(f"no features stored for the week {feature_days[0]} .. {feature_days[-1]}")
    week, _ = assemble_training_set(
        features, labels, 0.0, exclude_ticket_ids=frozenset(eval_test_set["ticket_id"])
    )
    model = registry.load_model(version)
    settings = rules.bootstrap_settings()
    scores = model.predict_proba(week[FEATURE_COLUMNS])[:, 1]
    production = bootstrap_ci(week[LABEL].to_numpy(), scores, [METRIC], **settings)[METRIC]
    days = pd.to_datetime(week["created_at"], utc=True).dt.strftime("%Y-%m-%d").to_numpy()
    daily = {
        day: compute(
            METRIC, week[LABEL].to_numpy()[days == day], scores[days == day], settings["threshold"]
        )
        for day in sorted(set(days))
    }
    floor = baseline["metrics"][METRIC]["value"] - rules.evaluation.weekly_drop_points / 100
    fixed = bootstrap_ci(
        eval_test_set[LABEL].to_numpy(),
        model.predict_proba(eval_test_set[FEATURE_COLUMNS])[:, 1],
        [METRIC],
        **settings,
    )[METRIC]
    value = {
        "week": f"{feature_days[0]} .. {feature_days[-1]}",
        "labels_until": week_end,
        "champion_version": version,
        "production": {
            "value": production.value,
            "low": production.low,
            "high": production.high,
            "rows": int(len(week)),
        },
        "test_set": {"value": fixed.value, "low": fixed.low, "high": fixed.high},
        "baseline": baseline["metrics"][METRIC]["value"],
        "baseline_version": baseline["champion_version"],
        "previous_week": previous["production"]["value"] if previous else None,
        "first_day": feature_days[0],
        "daily_task_success": daily,
        "drop_started": first_day_below(daily, floor),
    }
    context.log.info(
        "champion %s task success %.3f this week (baseline %.3f)",
        version,
        production.value,
        value["baseline"],
    )
    return Output(
        value,
        metadata={
            "champion_version": version,
            "week": value["week"],
            "task_success_this_week": production.value,
            "task_success_baseline": value["baseline"],
            "task_success_test_set": fixed.value,
            "rows": len(week),
            "detail": MetadataValue.json(value),
        },
    )


@asset_check(asset=weekly_evaluation)
def weekly_task_success(weekly_evaluation: dict, policy: PolicyResource) -> AssetCheckResult:
    """Task success may not drop more than the policy allows (5 points by default) against the
    baseline recorded at promotion, nor against last week."""
    allowed = policy.load().evaluation.weekly_drop_points
    judgement = judge_task_success_drop(
        weekly_evaluation["production"]["value"],
        weekly_evaluation["baseline"],
        weekly_evaluation["previous_week"],
        allowed,
    )
    return AssetCheckResult(
        passed=judgement.passed,
        severity=AssetCheckSeverity.ERROR,
        description=judgement.reason,
        metadata={
            "week_first_day": weekly_evaluation["first_day"],
            "labels_until": weekly_evaluation["labels_until"],
            "drop_started": weekly_evaluation["drop_started"] or "",
            "drop_points": {k: round(v, 2) for k, v in judgement.drops.items()},
            "allowed_drop_points": allowed,
        },
    )
