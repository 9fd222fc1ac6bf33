"""The code location of a workflow whose task is a staged pipeline: the engine's raw ingestion
and its checks, then the pipeline's day (pipeline_daily) and versions (pipeline_versions).

Jobs: ``raw_ingestion`` (a day's snapshot and data checks), ``daily_production`` (scheduled:
the day served, every stage measured and checked, the review sample, text drift, the
rollout's move), ``launch`` (first version, gate, text reference), ``propose_challenger``
(a new version and its gate) and ``pipeline_rollback``.
"""

from __future__ import annotations

from dagster import (
    AssetSelection,
    Definitions,
    build_schedule_from_partitioned_job,
    define_asset_job,
)

from assets import ingestion, pipeline_daily, pipeline_report, pipeline_versions
from assets.names import PREDICTIONS, RAW
from assets.workflow import Workflow
from checks.policy import Policy
from orchestration.jobs import WORKFLOW_TAG
from orchestration.sensors import build_alert_sensor

DAILY = (
    RAW,
    pipeline_daily.CONTEXT,
    PREDICTIONS,
    pipeline_daily.STAGE_METRICS,
    pipeline_daily.TASK_SUCCESS,
    pipeline_daily.SAMPLE,
    pipeline_daily.TEXT_DRIFT,
    pipeline_daily.ROLLOUT_STEP,
    pipeline_report.REPORT,
)


def build_pipeline_definitions(wf: Workflow, policy: Policy, resources: dict) -> Definitions:
    stages = [
        ingestion.build(wf, policy),
        pipeline_daily.build(wf),
        pipeline_versions.build(wf),
        pipeline_report.build(wf),
    ]
    tags = {WORKFLOW_TAG: wf.name}

    def sel(*names: str) -> AssetSelection:
        return AssetSelection.assets(*(wf.key(a) for a in names))

    specs = {
        "raw_ingestion": ((RAW,), "Extract one partition and run the data checks."),
        "daily_production": (
            DAILY,
            "One day: snapshot, serve (champion, and the challenger during a rollout), a "
            "metric and check per stage, the review sample, text drift, the rollout's move.",
        ),
        "launch": (
            (pipeline_versions.CHALLENGER, pipeline_versions.GATE, pipeline_daily.TEXT_REFERENCE),
            "Register the first pipeline version, judge it, record the text reference.",
        ),
        "propose_challenger": (
            (pipeline_versions.CHALLENGER, pipeline_versions.GATE),
            "Register a new pipeline version (a prompt change, a re-deployment) and gate it.",
        ),
        "pipeline_rollback": (
            (pipeline_versions.ROLLBACK,),
            "Put the previous champion (and its prompt version) back.",
        ),
    }
    jobs = {
        name: define_asset_job(name, selection=sel(*assets), description=doc, tags=tags)
        for name, (assets, doc) in specs.items()
    }
    schedule = build_schedule_from_partitioned_job(
        jobs["daily_production"],
        hour_of_day=policy.schedules.production_hour,
        minute_of_hour=0,
        name="daily_production_schedule",
        tags=tags,
    )
    return Definitions(
        assets=[a for built, _ in stages for a in built],
        asset_checks=[c for _, checks in stages for c in checks],
        jobs=list(jobs.values()),
        schedules=[schedule],
        sensors=[build_alert_sensor(wf)],
        resources=resources,
    )
