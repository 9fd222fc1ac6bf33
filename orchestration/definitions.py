"""build_definitions: one workflow's Dagster code location (assets, checks, jobs, schedules,
sensors and the resources they use). `workspace.yaml` lists one location per workflow, all on
one instance; asset keys are prefixed with the workflow's name so their histories stay apart.

Paths and URLs come from the environment (EnvVar), resolved when a run starts:
AFTERLAUNCH_HOME (the deployment's home folder), the workflow's source URL variable
(AFTERLAUNCH_SOURCE_URL by default), AFTERLAUNCH_MLFLOW_URI and AFTERLAUNCH_MLFLOW_ARTIFACTS
(the MLflow tracking and registry store), AFTERLAUNCH_ALERT_WEBHOOK (a Slack-compatible
webhook; empty: log only), AFTERLAUNCH_AUDIT_URL (the agent actions' audit log, Postgres in
production; empty: a SQLite file in the workflow's folder of the home), AFTERLAUNCH_DAGSTER_URL
and AFTERLAUNCH_MLFLOW_URL (where people reach the two UIs; empty: no links). `afterlaunch`
commands set them from `--home` unless already set.
"""

from __future__ import annotations

from dagster import Definitions, EnvVar

from assets import (
    agent_actions,
    alias_guard,
    deployment,
    deployment_history,
    evaluation,
    features,
    flags,
    incident_timeline,
    ingestion,
    labels,
    predictions,
    profiles,
    readiness,
    rollout,
    training,
    weekly,
)
from assets.pipeline_task import is_pipeline
from assets.workflow import Workflow
from checks.policy import Policy, build_policy, read_layer
from orchestration import review_check
from orchestration.home import AUDIT_URL_ENV
from orchestration.jobs import build_jobs
from orchestration.sensors import build_sensors
from resources.alerts import AlertWebhook
from resources.audit_log import AuditLogResource
from resources.clock import ClockResource
from resources.links import DAGSTER_URL_ENV, MLFLOW_URL_ENV, UiLinks
from resources.policy import PolicyResource
from resources.registry import ModelRegistry
from resources.snapshots import VersionedParquetIOManager
from resources.source import DayTableSource, EventTimeSource
from resources.storage import HomeStorage

HOME = EnvVar("AFTERLAUNCH_HOME")


def workflow_policy(wf: Workflow) -> Policy:
    """The workflow's policy without the home's overrides: what the definitions are built with
    (crons, asset freshness windows), and a check that its file is valid for this workflow."""
    policy = build_policy(
        [wf.task.default_policy, read_layer(wf.policy_file)], label_lag_days=wf.label.max_lag_days
    )
    check_against(wf, policy)
    return policy


def check_against(wf: Workflow, policy: Policy) -> None:
    """Settings that name something of the workflow must name something it has."""
    if is_pipeline(wf.task):
        _check_stages(wf, policy)
        return
    unknown = sorted(set(policy.gate.metrics) - set(wf.task.metric_names))
    if unknown:
        raise ValueError(
            f"workflow {wf.name}: gate.metrics {unknown} are not metrics of its task "
            f"({wf.task.kind}: {', '.join(wf.task.metric_names)})"
        )
    if policy.training.model_family not in wf.model_families:
        raise ValueError(
            f"workflow {wf.name}: training.model_family {policy.training.model_family!r} is not "
            f"one of its model families ({', '.join(sorted(wf.model_families))})"
        )
    stages = {s.name for s in wf.stages}
    stray = sorted(set(policy.readiness.stages) - stages)
    if stray:
        raise ValueError(
            f"workflow {wf.name}: readiness.stages {stray} are not stages it declares "
            f"({', '.join(sorted(stages)) or 'none'})"
        )
    columns = {*wf.contracts.numeric_columns, *wf.contracts.categorical_columns}
    keys = policy.retraining.drift_key_columns or []
    missing = sorted(set(keys) - columns)
    if missing:
        raise ValueError(
            f"workflow {wf.name}: retraining.drift_key_columns {missing} are not profiled "
            "columns of its raw contract"
        )


def _check_stages(wf: Workflow, policy: Policy) -> None:
    """A pipeline's thresholds must name its stages and their metrics."""
    declared = {s.name: s for s in wf.task.stages}
    for stage, metrics in policy.pipeline.thresholds.items():
        if stage not in declared:
            raise ValueError(
                f"workflow {wf.name}: pipeline.thresholds names stage {stage!r}; its stages "
                f"are {', '.join(declared)}"
            )
        unknown = sorted(set(metrics) - set(declared[stage].metrics))
        if unknown:
            raise ValueError(
                f"workflow {wf.name}: pipeline.thresholds.{stage} names {unknown}, not metrics "
                f"of that stage ({', '.join(declared[stage].metrics)})"
            )


def source_resource(wf: Workflow):
    cls = DayTableSource if wf.source.layout == "day_tables" else EventTimeSource
    fb = wf.feedback
    return cls(
        url=EnvVar(wf.source.url_env),
        table=wf.source.table,
        entity_id=wf.entity.id,
        event_time=wf.entity.event_time,
        labels_table=wf.source.labels_table,
        label_column=wf.label.column,
        known_at_column=wf.label.known_at_column,
        feedback_table=wf.source.feedback_table if fb else None,
        feedback_columns=fb.columns if fb else [],
        feedback_time=fb.recorded_at if fb else "recorded_at",
        exclude=list(wf.source.exclude),
        # No known-at column: a label is known exactly the lag after its event.
        known_after_days=wf.label.max_lag_days if wf.label.known_at is None else None,
    )


def policy_resource(wf: Workflow, home) -> PolicyResource:
    """The workflow's policy layers over `home` (an EnvVar in a code location, a path in a
    command that checks a policy before anything runs)."""
    return PolicyResource(
        workflow=wf.name,
        home=home,
        workflow_file=str(wf.policy_file) if wf.policy_file else None,
        defaults=wf.task.default_policy,
        label_lag_days=wf.label.max_lag_days,
    )


def resources(wf: Workflow) -> dict:
    return {
        "io_manager": VersionedParquetIOManager(home=HOME, workflow=wf.name),
        "storage": HomeStorage(home=HOME, workflow=wf.name),
        "source": source_resource(wf),
        "registry": ModelRegistry(
            tracking_uri=EnvVar("AFTERLAUNCH_MLFLOW_URI"),
            artifact_root=EnvVar("AFTERLAUNCH_MLFLOW_ARTIFACTS"),
            model_name=wf.model_name,
            experiment_name=wf.experiment_name,
        ),
        "policy": policy_resource(wf, HOME),
        "clock": ClockResource(),
        "webhook": AlertWebhook(url=EnvVar("AFTERLAUNCH_ALERT_WEBHOOK")),
        "links": UiLinks(dagster_url=EnvVar(DAGSTER_URL_ENV), mlflow_url=EnvVar(MLFLOW_URL_ENV)),
        "audit": AuditLogResource(home=HOME, workflow=wf.name, url=EnvVar(AUDIT_URL_ENV)),
    }


def build_definitions(wf: Workflow) -> Definitions:
    policy = workflow_policy(wf)
    if is_pipeline(wf.task):
        from orchestration.pipeline_definitions import build_pipeline_definitions

        return build_pipeline_definitions(wf, policy, resources(wf))
    stages = [
        ingestion.build(wf, policy),
        labels.build(wf),
        profiles.build(wf),
        features.build(wf),
        training.build(wf),
        evaluation.build(wf),
        deployment.build(wf),
        flags.build(wf),
        rollout.build(wf),
        predictions.build(wf),
        weekly.build(wf),
        readiness.build(wf),
        review_check.build(wf),  # the champion's registry-review age, with the weekly evaluation
        alias_guard.build(wf),  # the aliases against the audit trail
        deployment_history.build(wf),  # the champion's history and the verdict's currency
        agent_actions.build(wf),  # what the agent did, when the workflow declares actions
        incident_timeline.build(wf),  # last in the daily job: the day's story
    ]
    jobs = build_jobs(wf, policy)
    return Definitions(
        assets=[a for built, _ in stages for a in built],
        asset_checks=[c for _, checks in stages for c in checks],
        jobs=list(jobs.jobs.values()),
        schedules=jobs.schedules,
        sensors=build_sensors(wf, jobs),
        resources=resources(wf),
    )
