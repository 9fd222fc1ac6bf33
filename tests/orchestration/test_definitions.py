"""The Definitions object loads as the webserver and daemon would load it."""

from dagster import Definitions

from orchestration.definitions import defs


def test_definitions_are_loadable_with_unique_names():
    # Catches what resolving one job at a time does not, e.g. a job named like an asset.
    Definitions.validate_loadable(defs)


def test_every_job_and_schedule_resolves():
    names = {job.name for job in defs.resolve_all_job_defs()}
    assert {"daily_ingestion", "train_challenger", "change_champion", "evaluate_weekly"} <= names
    [schedule] = list(defs.schedules)
    assert schedule.job_name == "evaluate_weekly"
