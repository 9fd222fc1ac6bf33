"""Every code location of the workspace loads as the webserver and daemon would load it."""

import importlib
from pathlib import Path

import pytest
import yaml
from dagster import Definitions

from assets.pipeline_task import is_pipeline
from orchestration.catalog import load, workflow_names
from orchestration.definitions import workflow_policy
from orchestration.jobs import WORKFLOW_TAG

WORKSPACE = Path(__file__).resolve().parents[2] / "workspace.yaml"


def locations() -> list[tuple[str, str]]:
    """(location name, module name) of each `python_module` entry of workspace.yaml."""
    spec = yaml.safe_load(WORKSPACE.read_text())
    return [
        (entry["python_module"]["location_name"], entry["python_module"]["module_name"])
        for entry in spec["load_from"]
    ]


def location_defs(module: str) -> Definitions:
    return importlib.import_module(module).defs


def test_the_workspace_lists_one_location_per_workflow():
    assert sorted(name for name, _ in locations()) == workflow_names()
    assert ("ticket_escalation", "workflows.ticket_escalation.definitions") in locations()
    assert ("rainfall", "workflows.rainfall.definitions") in locations()


def test_the_engine_default_crons_hold_where_a_workflow_does_not_set_them():
    crons = workflow_policy(load("ticket_escalation")).schedules
    assert (crons.retraining_cron, crons.evaluation_cron) == ("0 3 1 * *", "0 6 * * 1")
    rain = workflow_policy(load("rainfall")).schedules
    assert (rain.retraining_cron, rain.evaluation_cron) == ("0 3 1 1 *", "0 6 1 * *")


@pytest.mark.parametrize(("name", "module"), locations())
def test_definitions_are_loadable_with_unique_names(name, module):
    # Catches what resolving one job at a time does not, e.g. a job named like an asset.
    Definitions.validate_loadable(location_defs(module))


def model_locations() -> list[tuple[str, str]]:
    return [(n, m) for n, m in locations() if not is_pipeline(load(n).task)]


@pytest.mark.parametrize(("name", "module"), model_locations())
def test_every_job_schedule_and_sensor_resolves_to_a_job_of_the_location(name, module):
    defs = location_defs(module)
    repository = defs.get_repository_def()
    jobs = {job.name: job for job in defs.resolve_all_job_defs()}
    names = set(jobs)
    assert {"daily_production", "retraining", "emergency_retraining", "refresh_test_set"} <= names
    # One instance holds every workflow's runs: each of the location's jobs says whose it is.
    for job_name in {"daily_production", "retraining", "refresh_test_set", "evaluate_challenger"}:
        assert jobs[job_name].tags[WORKFLOW_TAG] == name
    schedules = {s.name: s for s in repository.schedule_defs}
    assert {s.job_name for s in schedules.values()} <= names
    assert schedules["daily_production_schedule"].job_name == "daily_production"
    # The crons are the workflow's policy (the rainfall evaluates monthly, retrains yearly).
    crons = workflow_policy(load(name)).schedules
    assert schedules["scheduled_retraining"].cron_schedule == crons.retraining_cron
    assert schedules["evaluate_weekly_schedule"].cron_schedule == crons.evaluation_cron
    sensors = {s.name: s for s in repository.sensor_defs}
    assert set(sensors) == {
        "drift_retraining_sensor",
        "label_retraining_sensor",
        "performance_retraining_sensor",
        "challenger_sensor",
        "rollout_sensor",
        "alert_sensor",
        "champion_repair_sensor",
        "blocked_day_readiness_sensor",
        "alias_watch_sensor",
    }
    for sensor in sensors.values():
        assert {t.job_name for t in sensor.targets} <= names
    # Every asset key is under the workflow's prefix: another workflow's history stays apart.
    wf = load(name)
    keys = repository.asset_graph.get_all_asset_keys()
    assert keys and all(key.path[0] == wf.name for key in keys)
    assert wf.key("raw") in keys and wf.key("readiness_report") in keys


def test_a_pipeline_workflows_location_has_its_own_jobs_and_the_alert_sensor():
    pipelines = [(n, m) for n, m in locations() if is_pipeline(load(n).task)]
    assert pipelines == [("reply_suggestions", "workflows.reply_suggestions.definitions")]
    [(name, module)] = pipelines
    defs = location_defs(module)
    repository = defs.get_repository_def()
    jobs = {job.name: job for job in defs.resolve_all_job_defs()}
    own = {"raw_ingestion", "daily_production", "launch", "propose_challenger", "pipeline_rollback"}
    assert own <= set(jobs)
    assert all(jobs[j].tags[WORKFLOW_TAG] == name for j in own)
    assert {s.name for s in repository.sensor_defs} == {"alert_sensor"}
    schedules = {s.name: s for s in repository.schedule_defs}
    assert schedules["daily_production_schedule"].job_name == "daily_production"
    wf = load(name)
    keys = repository.asset_graph.get_all_asset_keys()
    assert all(key.path[0] == wf.name for key in keys)
    assert {wf.key("raw"), wf.key("stage_metrics"), wf.key("pipeline_gate")} <= keys
    # One check per stage the replay can judge, and the end-to-end one on the verdicts.
    checks = {k.name for k in repository.asset_graph.asset_check_keys}
    assert {f"stage_{s.name}" for s in wf.task.stages} <= checks


def test_the_daily_schedule_asks_for_yesterdays_partition():
    from datetime import UTC, datetime

    from dagster import DagsterInstance, build_schedule_context

    defs = location_defs("workflows.ticket_escalation.definitions")
    schedule = next(
        s for s in defs.get_repository_def().schedule_defs if s.name == "daily_production_schedule"
    )
    with build_schedule_context(
        instance=DagsterInstance.ephemeral(),
        scheduled_execution_time=datetime(2026, 3, 10, 2, tzinfo=UTC),
    ) as context:
        [request] = schedule.evaluate_tick(context).run_requests
    assert request.partition_key == "2026-03-09"
