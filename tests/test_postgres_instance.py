"""The repo-root dagster.yaml yields a working Postgres-backed Dagster instance.

The file is copied verbatim into a fresh DAGSTER_HOME and pointed (via the AFTERLAUNCH_PG_*
environment variables) at a throwaway PostgreSQL cluster. Two small workflow-shaped code
locations share that instance, as the deployment's workflows do: each has its assets keyed
`<workflow>/<name>`, a partitioned *blocking* asset check, a job, and the project's snapshot IO
manager, and runs through the project's runner. For the first workflow, 2026-01-05 passes the
check and 2026-01-06 fails it (so its downstream asset is blocked); the second materializes
assets of the same names for 2026-01-05. Everything is then read back through a NEW instance
object, the two workflows' histories apart, and the Dagster tables are inspected directly with
SQLAlchemy.
"""

import shutil
import warnings
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
import yaml
from dagster._core.event_api import PartitionKeyFilter
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

from orchestration.runner import run_job
from resources.snapshots import SnapshotStore, VersionedParquetIOManager, snapshot_root
from tests.support.postgres import PostgresCluster

REPO_ROOT = Path(__file__).resolve().parents[1]
GOOD, BAD = "2026-01-05", "2026-01-06"
ORDERS, RETURNS = "shop_orders", "shop_returns"  # two workflows, one instance
ROWS = {ORDERS: {GOOD: 3, BAD: 0}, RETURNS: {GOOD: 2}}
JOB = "daily_ingestion"

DAILY = dg.DailyPartitionsDefinition(start_date="2026-01-01")


def build_location(workflow: str, home: Path) -> dg.Definitions:
    """One workflow's code location: the same asset names as any other, under its prefix, its
    values in its own folder of the home."""
    rows_by_partition = ROWS[workflow]

    @dg.asset(key_prefix=workflow, name="daily_orders", partitions_def=DAILY)
    def orders(context: dg.AssetExecutionContext) -> dg.Output[list[dict]]:
        n = rows_by_partition[context.partition_key]
        rows = [{"order_id": i, "day": context.partition_key} for i in range(n)]
        return dg.Output(rows, metadata={"row_count": n})

    with warnings.catch_warnings():
        # partitions_def on an asset check is a preview feature in dagster 1.13.
        warnings.simplefilter("ignore", dg.PreviewWarning)

        @dg.asset_check(
            asset=orders, name="daily_orders_not_empty", partitions_def=DAILY, blocking=True
        )
        def not_empty(context: dg.AssetCheckExecutionContext, daily_orders: list[dict]):
            # the parameter named after the asset (the last part of its key) is its value
            return dg.AssetCheckResult(
                passed=len(daily_orders) > 0,
                metadata={
                    "row_count": len(daily_orders),
                    "checked_partition": context.partition_key,
                },
            )

    @dg.asset(
        key_prefix=workflow,
        name="daily_order_summary",
        partitions_def=DAILY,
        ins={"rows": dg.AssetIn(key=orders.key)},
    )
    def summary(rows: list[dict]) -> dg.Output[dict]:
        return dg.Output({"orders": len(rows)}, metadata={"orders": len(rows)})

    return dg.Definitions(
        assets=[orders, summary],
        asset_checks=[not_empty],
        jobs=[dg.define_asset_job(JOB, selection=dg.AssetSelection.assets(orders, summary))],
        resources={"io_manager": VersionedParquetIOManager(home=str(home), workflow=workflow)},
    )


def key(workflow: str, name: str) -> dg.AssetKey:
    return dg.AssetKey([workflow, name])


def check_key(workflow: str) -> dg.AssetCheckKey:
    return dg.AssetCheckKey(key(workflow, "daily_orders"), "daily_orders_not_empty")


@pytest.fixture
def dagster_db(postgres_cluster: PostgresCluster) -> PostgresCluster:
    """An empty database of its own on the session's throwaway cluster."""
    return postgres_cluster.create_database("dagster_instance_test")


@pytest.fixture
def dagster_home(
    dagster_db: PostgresCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A fresh DAGSTER_HOME holding a verbatim copy of the repo-root dagster.yaml, with the
    AFTERLAUNCH_PG_* variables it reads pointing at ``dagster_db``."""
    for name, value in dagster_db.env().items():
        monkeypatch.setenv(name, value)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


def test_repo_dagster_yaml_runs_on_postgres(
    dagster_home: Path, dagster_db: PostgresCluster, tmp_path: Path
) -> None:
    config_text = (REPO_ROOT / "dagster.yaml").read_text()
    assert (dagster_home / "dagster.yaml").read_text() == config_text
    pg_db = yaml.safe_load(config_text)["storage"]["postgres"]["postgres_db"]
    assert pg_db.pop("scheme") == "postgresql+psycopg2"
    assert pg_db == {  # every connection setting comes from the environment
        "username": {"env": "AFTERLAUNCH_PG_USER"},
        "password": {"env": "AFTERLAUNCH_PG_PASSWORD"},
        "hostname": {"env": "AFTERLAUNCH_PG_HOST"},
        "port": {"env": "AFTERLAUNCH_PG_PORT"},
        "db_name": {"env": "AFTERLAUNCH_PG_DB"},
    }

    home = tmp_path / "home"
    locations = {wf: build_location(wf, home) for wf in (ORDERS, RETURNS)}
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
        assert instance.is_persistent
        assert not instance.telemetry_enabled

        good = run_job(locations[ORDERS], instance, JOB, GOOD)
        assert good.success
        assert set(good.materialized) == {"daily_orders", "daily_order_summary"}  # no prefix
        assert good.materialized["daily_orders"]["row_count"] == 3
        [good_check] = good.checks
        assert (good_check.asset, good_check.check, good_check.passed) == (
            "daily_orders",
            "daily_orders_not_empty",
            True,
        )

        # Failing blocking check (ERROR severity): the check step fails, so the run fails and
        # the downstream asset is not executed; daily_orders itself was already materialized.
        bad = run_job(locations[ORDERS], instance, JOB, BAD)
        assert not bad.success
        [bad_check] = bad.checks
        assert (bad_check.passed, bad_check.partition, bad_check.level) == (False, BAD, "error")
        assert set(bad.materialized) == {"daily_orders"}
        assert bad.step_errors == {}  # stopped by the check, not by an error

        other = run_job(locations[RETURNS], instance, JOB, GOOD)
        assert other.success and other.materialized["daily_orders"]["row_count"] == 2
        run_ids = {(ORDERS, GOOD): good.run_id, (ORDERS, BAD): bad.run_id}
        run_ids[(RETURNS, GOOD)] = other.run_id

    # A NEW instance object from the same config reads everything back from Postgres.
    with dg.DagsterInstance.from_config(str(dagster_home)) as fresh:
        assert isinstance(fresh.event_log_storage, PostgresEventLogStorage)

        # Materializations of every partition, with their metadata, under each workflow's key.
        for (workflow, partition), run_id in run_ids.items():
            records = fresh.fetch_materializations(
                dg.AssetRecordsFilter(
                    asset_key=key(workflow, "daily_orders"), asset_partitions=[partition]
                ),
                limit=10,
            ).records
            assert len(records) == 1
            record = records[0]
            assert record.run_id == run_id
            assert record.partition_key == partition
            materialization = record.asset_materialization
            assert materialization is not None
            assert materialization.metadata["row_count"].value == ROWS[workflow][partition]
            # the value itself is in the workflow's own snapshot folder
            stored = SnapshotStore(snapshot_root(home, workflow)).read("daily_orders", partition)
            assert len(stored) == ROWS[workflow][partition]

        orders, summary = key(ORDERS, "daily_orders"), key(ORDERS, "daily_order_summary")
        latest = fresh.get_latest_materialization_event(orders)
        assert latest is not None and latest.asset_materialization is not None
        assert latest.asset_materialization.partition == BAD

        latest_summary = fresh.get_latest_materialization_event(summary)
        assert latest_summary is not None and latest_summary.asset_materialization is not None
        assert latest_summary.asset_materialization.partition == GOOD  # BAD was blocked
        assert fresh.get_materialized_partitions(summary) == {GOOD}
        assert fresh.get_materialized_partitions(orders) == {GOOD, BAD}
        # The other workflow's assets of the same names have their own history.
        assert fresh.get_materialized_partitions(key(RETURNS, "daily_orders")) == {GOOD}
        assert fresh.get_materialized_partitions(key(RETURNS, "daily_order_summary")) == {GOOD}

        # Asset-check evaluations: one per partition, attributed to that partition.
        history = fresh.event_log_storage.get_asset_check_execution_history(
            check_key(ORDERS), limit=10
        )
        by_partition = {r.partition: r for r in history}
        assert set(by_partition) == {GOOD, BAD}
        expected_status = {
            GOOD: AssetCheckExecutionRecordStatus.SUCCEEDED,
            BAD: AssetCheckExecutionRecordStatus.FAILED,
        }
        for partition, record in by_partition.items():
            assert record.status == expected_status[partition]
            assert record.run_id == run_ids[(ORDERS, partition)]
            evaluation = record.evaluation
            assert evaluation is not None
            assert evaluation.passed is (partition == GOOD)
            assert evaluation.blocking is True
            assert evaluation.severity == dg.AssetCheckSeverity.ERROR
            assert evaluation.partition == partition
            assert evaluation.metadata["row_count"].value == ROWS[ORDERS][partition]
            assert evaluation.metadata["checked_partition"].value == partition
        [returns_check] = fresh.event_log_storage.get_asset_check_execution_history(
            check_key(RETURNS), limit=10
        )
        assert (returns_check.partition, returns_check.run_id) == (GOOD, other.run_id)

        latest_check = fresh.get_latest_asset_check_evaluation_record(check_key(ORDERS))
        assert latest_check is not None
        assert (latest_check.partition, latest_check.status) == (BAD, expected_status[BAD])
        latest_good = fresh.event_log_storage.get_latest_asset_check_execution_by_key(
            [check_key(ORDERS)], partition_filter=PartitionKeyFilter(key=GOOD)
        )[check_key(ORDERS)]
        assert latest_good.run_id == run_ids[(ORDERS, GOOD)]

        # Run records.
        good_run = fresh.get_run_record_by_id(good.run_id)
        bad_run = fresh.get_run_record_by_id(bad.run_id)
        assert good_run is not None and bad_run is not None
        assert good_run.dagster_run.status == dg.DagsterRunStatus.SUCCESS
        assert good_run.dagster_run.tags["dagster/partition"] == GOOD
        assert bad_run.dagster_run.status == dg.DagsterRunStatus.FAILURE
        assert bad_run.dagster_run.tags["dagster/partition"] == BAD
        assert {r.dagster_run.run_id for r in fresh.get_run_records()} == set(run_ids.values())

    # Dagster's own tables, straight from the cluster.
    engine = sa.create_engine(dagster_db.url)
    try:
        tables = set(sa.inspect(engine).get_table_names())
        assert {"runs", "event_logs", "asset_check_executions", "jobs", "job_ticks"} <= tables
        with engine.connect() as conn:

            def count(query: str, **params: object) -> int:
                return conn.execute(sa.text(query), params).scalar_one()

            assert count("SELECT count(*) FROM runs") == 3
            for run_id in run_ids.values():
                assert count("SELECT count(*) FROM event_logs WHERE run_id = :r", r=run_id) > 0
            materializations = conn.execute(
                sa.text(
                    "SELECT asset_key, count(*) FROM event_logs"
                    " WHERE dagster_event_type = 'ASSET_MATERIALIZATION'"
                    " AND partition IS NOT NULL GROUP BY asset_key"
                )
            ).all()
            assert dict(materializations) == {
                key(ORDERS, "daily_orders").to_string(): 2,
                key(ORDERS, "daily_order_summary").to_string(): 1,
                key(RETURNS, "daily_orders").to_string(): 1,
                key(RETURNS, "daily_order_summary").to_string(): 1,
            }
            checks = conn.execute(
                sa.text(
                    "SELECT asset_key, count(*) FROM asset_check_executions"
                    " WHERE check_name = :c AND execution_status IN ('SUCCEEDED', 'FAILED')"
                    " GROUP BY asset_key"
                ),
                {"c": "daily_orders_not_empty"},
            ).all()
            assert dict(checks) == {
                key(ORDERS, "daily_orders").to_string(): 2,
                key(RETURNS, "daily_orders").to_string(): 1,
            }
    finally:
        engine.dispose()
