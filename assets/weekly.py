"""weekly_evaluation: the champion on the fixed test set and on the last week's labelled
production, against the baseline recorded at its promotion and against the week before."""

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

from assets.evaluation import raw_rows
from assets.models import load_served
from assets.names import BASELINE, EVAL_SET, LABELS, WEEKLY
from assets.training import labelled_window
from assets.workflow import Workflow
from checks.task_success_drop import first_day_below, judge_task_success_drop
from resources.policy import PolicyResource
from resources.registry import ModelRegistry
from resources.storage import HomeStorage


class WeekConfig(Config):
    """The last label partition of the week evaluated; default: the newest label stored."""

    week_end: str | None = None


def build(wf: Workflow) -> tuple[list, list]:
    task = wf.task
    metric = task.success_metric
    label = wf.label.column
    owner = wf.team("model_owner")

    @asset(
        name=WEEKLY,
        key_prefix=[wf.name],
        group_name="monitoring",
        deps=[wf.key(BASELINE)],
        kinds={"mlflow"},
        owners=[owner],
        ins={"eval_test_set": AssetIn(wf.key(EVAL_SET))},
    )
    def weekly_evaluation(
        context: AssetExecutionContext,
        config: WeekConfig,
        eval_test_set,
        registry: ModelRegistry,
        storage: HomeStorage,
        policy: PolicyResource,
    ) -> Output[dict]:
        """Rows of the window (policy `evaluation.window_days`) whose labels have had the
        label lag to arrive by `week_end`, scored by the champion with its own features."""
        rules = policy.load()
        store = storage.snapshots
        version = registry.version_for_alias("champion")
        if version is None:
            raise Failure("no champion to evaluate")
        if not store.partitions(BASELINE):
            raise Failure("no baseline recorded: promote a champion first")
        baseline = store.read(BASELINE, None)
        previous = store.read(WEEKLY, None) if store.partitions(WEEKLY) else None
        # Written, not only stored now: a deleted newest partition is named by the window
        # instead of silently moving the week a day back.
        label_days = store.written(LABELS)
        if not label_days:
            raise Failure(f"no {wf.name}/{LABELS} stored yet: the week needs known outcomes")
        week_end = config.week_end or label_days[-1]
        exclude = frozenset(eval_test_set[wf.entity.id].astype("str"))
        window = labelled_window(
            wf,
            store,
            week_end,
            rules.evaluation.window_days,
            None,
            exclude,
            missing=rules.evaluation.missing_partitions,
            policy_field="evaluation.missing_partitions",
        )
        keys, week = window.keys, window.rows
        if window.missing:
            context.log.warning(
                "judging the week without partitions deleted from the snapshot store "
                "(policy skip): %s",
                window.missing,
            )
        if week.empty:
            raise Failure(f"no labelled rows for the week {keys[0]} .. {keys[-1]}")
        model = load_served(wf, registry, version)
        decider = model.task_of(wf)  # the champion decides at its own threshold
        settings = rules.bootstrap_settings()
        outputs = model.outputs(wf, week)
        y = week[label].to_numpy()
        production = decider.estimates(y, outputs, [metric], **settings)[metric]
        days = wf.partitions
        period = week[wf.entity.event_time].map(lambda t: days.key_at(t.to_pydatetime())).to_numpy()
        daily = {
            key: decider.compute(metric, y[period == key], outputs[period == key])
            for key in sorted(set(period))
        }
        floor = baseline["metrics"][metric]["value"] - rules.evaluation.weekly_drop_points / 100
        fixed = decider.estimates(
            eval_test_set[label].to_numpy(),
            model.outputs(wf, raw_rows(wf, eval_test_set)),
            [metric],
            **settings,
        )[metric]
        value = {
            "week": f"{keys[0]} .. {keys[-1]}",
            "labels_until": week_end,
            "champion_version": version,
            "production": {
                "value": production.value,
                "low": production.low,
                "high": production.high,
                "rows": int(len(week)),
            },
            "test_set": {"value": fixed.value, "low": fixed.low, "high": fixed.high},
            "baseline": baseline["metrics"][metric]["value"],
            "baseline_version": baseline["champion_version"],
            "previous_week": previous["production"]["value"] if previous else None,
            "first_day": keys[0],
            "daily_task_success": {k: v for k, v in daily.items() if v is not None},
            "drop_started": first_day_below(
                {k: v for k, v in daily.items() if v is not None}, floor
            ),
            # asset -> partitions of the week deleted from the store, skipped by the policy
            "missing_partitions": window.missing,
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
                "missing_partitions": MetadataValue.json(window.missing),
                "detail": MetadataValue.json(value),
            },
        )

    @asset_check(asset=wf.key(WEEKLY), name="weekly_task_success")
    def weekly_task_success(weekly_evaluation: dict, policy: PolicyResource) -> AssetCheckResult:
        """Task success may not drop more than the policy allows (5 points by default) against
        the baseline recorded at promotion, nor against last week."""
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
                "missing_partitions": MetadataValue.json(
                    weekly_evaluation.get("missing_partitions") or {}
                ),
            },
        )

    return [weekly_evaluation], [weekly_task_success]
