"""The production path end to end: the repository's dagster.yaml (Postgres instance), a source
system in PostgreSQL, and the ticket workflow's own raw_ingestion job with its four checks."""

import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest
from dagster import (
    AssetCheckKey,
    AssetKey,
    AssetRecordsFilter,
    DagsterInstance,
    build_resources,
)
from dagster._core.event_api import PartitionKeyFilter
from dagster_postgres import PostgresEventLogStorage

from orchestration.catalog import definitions
from orchestration.definitions import source_resource
from orchestration.home import activate, resolve_home
from orchestration.jobs import WORKFLOW_TAG
from orchestration.runner import run_job
from resources.snapshots import SnapshotStore, snapshot_root
from tests.support.postgres import PostgresCluster
from workflows.ticket_escalation.simulation.crm import CrmSimulator
from workflows.ticket_escalation.simulation.incidents import Incident
from workflows.ticket_escalation.workflow import WORKFLOW

REPO_ROOT = Path(__file__).resolve().parents[1]
START = date(2026, 2, 2)
DAYS = [START + timedelta(days=i) for i in range(9)]
DROP_DAY = DAYS[-1]  # same weekday as DAYS[1]: one week of history to judge it by


@pytest.fixture
def postgres_home(postgres_cluster: PostgresCluster, tmp_path, monkeypatch):
    instance_db = postgres_cluster.create_database("production_path_dagster")
    source_db = postgres_cluster.create_database("production_path_crm")
    variables = {
        **instance_db.env(),
        "AFTERLAUNCH_SOURCE_URL": source_db.url,
        "AFTERLAUNCH_HOME": str(tmp_path / "home"),
        "DAGSTER_HOME": "",
        "AFTERLAUNCH_MLFLOW_URI": "",
        "AFTERLAUNCH_MLFLOW_ARTIFACTS": "",
    }
    for name, value in variables.items():
        monkeypatch.setenv(name, value)  # recorded, so activate()'s changes are undone
        if not value:
            monkeypatch.delenv(name)
    home = resolve_home(tmp_path / "home")
    home.dagster_home.mkdir(parents=True)
    shutil.copyfile(REPO_ROOT / "dagster.yaml", home.dagster_home / "dagster.yaml")
    activate(home, WORKFLOW)  # keeps the copied Postgres dagster.yaml, points DAGSTER_HOME at it
    return home, source_db


def test_raw_ingestion_on_postgres_instance_from_postgres_source(postgres_home):
    home, source_db = postgres_home
    drop = Incident("volume_drop", DROP_DAY, {"fraction": 0.5})
    written = CrmSimulator(source_db.url, seed=5).write_days(DAYS[0], DAYS[-1], [drop])

    # The workflow's source, as its definitions build it, reads the Postgres source system
    # (the URL from the environment activate() set), not a SQLite file.
    window = WORKFLOW.partitions.window(DAYS[0].isoformat())
    with build_resources({"source": source_resource(WORKFLOW)}) as resources:
        assert resources.source.url == source_db.url
        assert len(resources.source.extract(*window)) == written[DAYS[0]]

    instance = DagsterInstance.get()
    assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
    defs = definitions(WORKFLOW)
    outcomes = {day: run_job(defs, instance, "raw_ingestion", day.isoformat()) for day in DAYS}
    # The drop is an ERROR of a blocking check: that run stops there (by the check, no error).
    assert all(o.success for day, o in outcomes.items() if day != DROP_DAY)
    assert not outcomes[DROP_DAY].success and outcomes[DROP_DAY].step_errors == {}
    assert all(
        o.materialized["raw"]["dagster/row_count"] == written[d] for d, o in outcomes.items()
    )

    # Read back through a new instance object: row counts and check results per partition.
    fresh = DagsterInstance.from_config(str(home.dagster_home))
    raw = AssetKey(["ticket_escalation", "raw"])
    store = SnapshotStore(snapshot_root(home.root, WORKFLOW.name))
    for day in DAYS:
        [record] = fresh.fetch_materializations(
            AssetRecordsFilter(asset_key=raw, asset_partitions=[day.isoformat()]), limit=5
        ).records
        assert record.asset_materialization.metadata["dagster/row_count"].value == written[day]
        run = fresh.get_run_by_id(record.run_id)
        assert run.tags[WORKFLOW_TAG] == "ticket_escalation"
        assert len(store.read("raw", day.isoformat())) == written[day]  # the workflow's folder

    volume = AssetCheckKey(raw, "raw_volume")
    contract = AssetCheckKey(raw, "raw_contract")

    def latest(check: AssetCheckKey, day: date):
        found = fresh.event_log_storage.get_latest_asset_check_execution_by_key(
            [check], partition_filter=PartitionKeyFilter(key=day.isoformat())
        )
        return found[check].evaluation

    dropped = latest(volume, DROP_DAY)
    assert dropped.passed is False and dropped.severity.value == "ERROR"
    assert dropped.metadata["expected_rows"].value == written[DAYS[1]]
    assert latest(volume, DAYS[-2]).passed  # the week before it was fine
    assert all(latest(contract, day).passed for day in DAYS)
