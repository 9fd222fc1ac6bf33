"""The blocked-day sensor on a real Dagster instance: a daily_production run that stopped
before readiness_report asks for that partition's report alone, once; a report written since
the run, or another workflow's run, asks for nothing."""

from datetime import date

from dagster import AssetMaterialization, DagsterRunStatus, build_sensor_context
from dagster._core.storage.dagster_run import DagsterRun
from dagster._core.utils import make_new_run_id

from orchestration.catalog import definitions
from orchestration.jobs import WORKFLOW_TAG
from tests.orchestration.test_sensors import resources
from workflows.ticket_escalation.workflow import WORKFLOW as WF

defs = definitions(WF)
REPOSITORY = defs.get_repository_def()
SENSOR = next(s for s in REPOSITORY.sensor_defs if s.name == "blocked_day_readiness_sensor")
DAY = date(2026, 3, 2)


def _stopped_run(instance, partition: str, workflow: str = WF.name) -> str:
    run_id = make_new_run_id()
    instance.add_run(
        DagsterRun(
            job_name="daily_production",
            run_id=run_id,
            status=DagsterRunStatus.FAILURE,
            tags={WORKFLOW_TAG: workflow, "dagster/partition": partition},
        )
    )
    return run_id


def _tick(instance, home):
    with build_sensor_context(
        instance=instance,
        repository_def=REPOSITORY,
        resources=resources(home, DAY),
        sensor_name=SENSOR.name,
    ) as context:
        return SENSOR.evaluate_tick(context)


def test_a_stopped_day_asks_for_its_report_alone_until_one_is_written(home, instance):
    assert _tick(instance, home).skip_message  # nothing stopped yet
    stopped = _stopped_run(instance, "2026-03-01")
    _stopped_run(instance, "2026-03-01", workflow="rainfall")  # another location's run
    [request] = _tick(instance, home).run_requests
    assert request.partition_key == "2026-03-01"
    assert request.run_key == f"readiness-after:{stopped}"  # one request per stopped run
    assert request.tags["afterlaunch/trigger"] == "blocked_day"
    assert request.tags[WORKFLOW_TAG] == WF.name
    assert {t.job_name for t in SENSOR.targets} == {"readiness_refresh"}
    job = defs.resolve_job_def("readiness_refresh")
    assert {k.to_user_string() for k in job.asset_layer.executable_asset_keys} == {
        f"{WF.name}/readiness_report"
    }
    # The degraded report written after the run: nothing more to ask.
    instance.report_runless_asset_event(
        AssetMaterialization(WF.key("readiness_report"), partition="2026-03-01")
    )
    assert not _tick(instance, home).run_requests


def test_a_report_older_than_the_stopped_run_does_not_count(home, instance):
    instance.report_runless_asset_event(
        AssetMaterialization(WF.key("readiness_report"), partition="2026-03-01")
    )
    stopped = _stopped_run(instance, "2026-03-01")  # a re-run that stopped after it
    [request] = _tick(instance, home).run_requests
    assert request.run_key == f"readiness-after:{stopped}"
