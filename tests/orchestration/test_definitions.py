"""The Definitions object loads as the webserver and daemon would load it."""

from dagster import Definitions

from orchestration.definitions import defs


def test_definitions_are_loadable_with_unique_names():
    # Catches what resolving one job at a time does not, e.g. a job named like an asset.
    Definitions.validate_loadable(defs)


def test_every_job_schedule_and_sensor_resolves_to_a_job_of_the_project():
    repository = defs.get_repository_def()
    names = {job.name for job in defs.resolve_all_job_defs()}
    assert {"daily_production", "retraining", "emergency_retraining", "refresh_test_set"} <= names
    schedules = {s.name: s for s in repository.schedule_defs}
    assert {s.job_name for s in schedules.values()} <= names
    assert schedules["daily_production_schedule"].job_name == "daily_production"
    assert schedules["monthly_retraining_schedule"].cron_schedule == "0 3 1 * *"
    assert schedules["evaluate_weekly_schedule"].cron_schedule == "0 6 * * 1"
    sensors = {s.name: s for s in repository.sensor_defs}
    assert set(sensors) == {
        "drift_retraining_sensor",
        "label_retraining_sensor",
        "performance_retraining_sensor",
        "challenger_sensor",
        "rollout_sensor",
        "alert_sensor",
    }
    for sensor in sensors.values():
        assert {t.job_name for t in sensor.targets} <= names


def test_the_daily_schedule_asks_for_yesterdays_partition():
    from datetime import UTC, datetime

    from dagster import DagsterInstance, build_schedule_context

    schedule = next(
        s for s in defs.get_repository_def().schedule_defs if s.name == "daily_production_schedule"
    )
    with build_schedule_context(
        instance=DagsterInstance.ephemeral(),
        scheduled_execution_time=datetime(2026, 3, 10, 2, tzinfo=UTC),
    ) as context:
        [request] = schedule.evaluate_tick(context).run_requests
    assert request.partition_key == "2026-03-09"
