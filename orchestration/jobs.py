"""Jobs: named selections of a workflow's asset graph that schedules, sensors and the CLI
launch. Each workflow is its own code location, so job names repeat across workflows; every
run is tagged with its workflow (`afterlaunch/workflow`) so one instance tells them apart."""

from dataclasses import dataclass

from dagster import (
    AssetCheckKey,
    AssetSelection,
    JobDefinition,
    ScheduleDefinition,
    build_schedule_from_partitioned_job,
    define_asset_job,
)

from assets import names as n
from assets.alias_guard import ALIAS_CHECK
from assets.workflow import Workflow
from checks.policy import Policy

WORKFLOW_TAG = "afterlaunch/workflow"
# Checks of unpartitioned assets judged every production day without materializing them.
DAILY_CHECKS = ((n.CHAMPION, "deployment_history"), (n.EVALUATION, "verdict_current"))
AUDIT_ALIASES = "audit_aliases"


@dataclass(frozen=True)
class WorkflowJobs:
    jobs: dict[str, JobDefinition]
    schedules: list

    def __getitem__(self, name: str) -> JobDefinition:
        return self.jobs[name]


def build_jobs(wf: Workflow, policy: Policy) -> WorkflowJobs:
    """Every job and schedule of a workflow; crons come from its build-time policy."""
    tags = {WORKFLOW_TAG: wf.name}

    def sel(*assets: str) -> AssetSelection:
        return AssetSelection.assets(*(wf.key(a) for a in assets))

    alias_check = AssetSelection.checks(AssetCheckKey(wf.key(n.CHAMPION), ALIAS_CHECK))
    # Judged every production day too (three registry reads), not only when the sensor runs.
    daily = AssetSelection.checks(*(AssetCheckKey(wf.key(a), c) for a, c in DAILY_CHECKS))
    extra = {"daily_production": alias_check | daily}
    if wf.actions:  # what the workflow's agent did that day, with its checks
        extra["daily_production"] = extra["daily_production"] | sel(n.AGENT_ACTIONS)

    def job(name: str, assets: tuple[str, ...], description: str, config=None) -> JobDefinition:
        selection = sel(*assets) | extra[name] if name in extra else sel(*assets)
        return define_asset_job(
            name, selection=selection, description=description, config=config, tags=tags
        )

    def op(asset: str) -> str:
        return wf.op(asset)

    day = (n.RAW, n.LABELS, *((n.FEEDBACK,) if wf.feedback else ()), n.FEATURES)
    jobs = _jobs(job, op, day)
    # The check alone (no materialization): the alias watch sensor asks for it.
    jobs[AUDIT_ALIASES] = define_asset_job(
        AUDIT_ALIASES,
        selection=alias_check,
        description="Judge whether @champion and @previous name what the audit trail records.",
        tags=tags,
    )
    schedules = [
        build_schedule_from_partitioned_job(
            jobs["daily_production"],
            hour_of_day=policy.schedules.production_hour,
            minute_of_hour=0,
            name="daily_production_schedule",
            tags=tags,
        ),
        ScheduleDefinition(
            name="evaluate_weekly_schedule",
            job=jobs["evaluate_weekly"],
            cron_schedule=policy.schedules.evaluation_cron,
            execution_timezone="UTC",
            tags=tags,
        ),
        # The clock part of the hybrid cadence: a retraining whatever the monitors say
        # (sensors add retrainings on drift, performance and new labels).
        ScheduleDefinition(
            name="scheduled_retraining",
            job=jobs["retraining"],
            cron_schedule=policy.schedules.retraining_cron,
            execution_timezone="UTC",
            run_config={
                "ops": {op(n.CHALLENGER): {"config": {"change_summary": "scheduled retraining"}}}
            },
            tags={
                **tags,
                "afterlaunch/trigger": "schedule",
                "afterlaunch/reason": "scheduled retraining",
            },
        ),
    ]
    return WorkflowJobs(jobs, schedules)


def _jobs(job, op, day) -> dict[str, JobDefinition]:

    rescore = {"ops": {op(n.BASELINE): {"config": {"rescore": True}}}}
    specs = [
        (
            "daily_ingestion",
            (*day, n.PROFILES),
            "Extract one partition from the source, run the data checks, profile it, check "
            "drift, collect its labels and compute its features.",
            None,
        ),
        (
            "raw_ingestion",
            day,
            "Extract one partition, run the data checks, collect labels, compute features (no "
            "profile or drift: no reference yet).",
            None,
        ),
        (
            "daily_production",
            (*day, n.PROFILES, n.PREDICTIONS, n.COMPARISON, n.READINESS, n.INCIDENT_TIMELINE),
            "One partition in production: ingest and check the data, profile it, check drift, "
            "collect labels, compute features, score the rows (the champion, a rollout's canary, "
            "or what the serving flag says), check the outputs, judge a rollout's triggers, "
            "refresh the readiness report, check the champion's deployment history and the "
            "newest verdict, judge what the workflow's agent did (when it declares actions), "
            "and last the day's incident timeline.",
            None,
        ),
        (
            "readiness_refresh",
            (n.READINESS,),
            "Refresh one partition's readiness report alone, from what exists: the blocked-day "
            "sensor asks for it when a blocking check stopped daily_production before the "
            "report (which then says what is missing and why).",
            None,
        ),
        (
            "reference_refresh",
            (n.REFERENCE,),
            "Rebuild the reference profile from the reference window's clean partitions.",
            None,
        ),
        (
            "train_challenger",
            (n.TRAINING_SET, n.CHALLENGER, n.EVALUATION, n.CHAMPION, n.BASELINE),
            "Assemble the training window, train, register as @challenger, evaluate on the "
            "test set against the champion; the gate's yes (and, in high-risk mode, a person's) "
            "promotes the first model and admits later ones to a rollout.",
            None,
        ),
        (
            "retraining",
            (n.TRAINING_SET, n.CHALLENGER),
            "Assemble the training window, train, register as @challenger (the challenger "
            "sensor then launches the evaluation and the gate).",
            None,
        ),
        (
            "emergency_retraining",
            (n.TRAINING_SET, n.CHALLENGER),
            "Retrain now, by hand (UI or `afterlaunch retrain --reason TEXT`); the reason "
            "becomes the model's change summary.",
            {
                "ops": {
                    op(n.CHALLENGER): {
                        "config": {"change_summary": "EMERGENCY: replace this with the reason"}
                    }
                }
            },
        ),
        (
            "refresh_test_set",
            (n.EVAL_SET, n.BASELINE),
            "Draw a new test-set version from recent labelled partitions and re-record the "
            "champion's baseline on it (after the world changed under the model).",
            rescore,
        ),
        (
            "evaluate_challenger",
            (n.EVALUATION, n.CHAMPION, n.BASELINE),
            "Evaluate @challenger against @champion; a yes admits it to a rollout (or promotes "
            "it when rollouts are off).",
            None,
        ),
        (
            "draw_test_set",
            (n.EVAL_SET,),
            "Draw the fixed, versioned evaluation test set with its slices.",
            None,
        ),
        (
            "change_champion",
            (n.CHAMPION, n.BASELINE),
            "Promote a version whose gate said yes, or roll back; records the baseline.",
            None,
        ),
        (
            "rebaseline",
            (n.BASELINE,),
            "Re-record the champion's baseline on the current evaluation test set.",
            rescore,
        ),
        (
            "rollout_step",
            (n.ROLLOUT,),
            "Start a rollout of the gate-passed challenger (shadow), advance its canary a step, "
            "or roll it back; every move is recorded with its reason.",
            None,
        ),
        (
            "complete_rollout",
            (n.CHAMPION, n.BASELINE, n.ROLLOUT),
            "Promote the rolled-out challenger after its full schedule with the triggers quiet, "
            "record its baseline and mark the rollout promoted.",
            None,
        ),
        (
            "set_serving_flag",
            (n.FLAGS,),
            "Switch the model off (the workflow's fallback), pin a version, or switch it on; the "
            "next scoring run applies it (`afterlaunch flag`).",
            None,
        ),
        (
            "evaluate_weekly",
            (n.WEEKLY,),
            "The champion on the fixed test set and on last week's labelled production.",
            None,
        ),
    ]
    return {name: job(name, assets, text, config) for name, assets, text, config in specs}
