"""The repo-root dagster.yaml yields a working Postgres-backed Dagster instance.

The file is copied verbatim into a fresh DAGSTER_HOME and pointed (via the AFTERLAUNCH_PG_*
environment variables) at a throwaway PostgreSQL cluster. Two partitions of a daily asset with
a partitioned *blocking* asset check are materialized: 2026-01-05 passes the check, 2026-01-06
fails it (so its downstream asset is blocked). Everything is then read back through a NEW
instance object, and the Dagster tables are inspected directly with SQLAlchemy.
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

from tests.support.postgres import PostgresCluster

REPO_ROOT = Path(__file__).resolve().parents[1]
GOOD, BAD = "2026-01-05", "2026-01-06"
ROWS_BY_PARTITION = {GOOD: 3, BAD: 0}

DAILY = dg.DailyPartitionsDefinition(start_date="2026-01-01")

with warnings.catch_warnings():
    # partitions_def on an asset check is a preview feature in dagster 1.13.
    warnings.simplefilter("ignore", dg.PreviewWarning)

    @dg.asset(partitions_def=DAILY)
    def daily_orders(context: dg.AssetExecutionContext) -> dg.Output[list[dict]]:
        n = ROWS_BY_PARTITION[context.partition_key]
        rows = [{"order_id": i, "day": context.partition_key} for i in range(n)]
        return dg.Output(rows, metadata={"row_count": n})

    @dg.asset_check(asset=daily_orders, partitions_def=DAILY, blocking=True)
    def daily_orders_not_empty(
        context: dg.AssetCheckExecutionContext, daily_orders: list[dict]
    ) -> dg.AssetCheckResult:
        return dg.AssetCheckResult(
            passed=len(daily_orders) > 0,
            metadata={"row_count": len(daily_orders), "checked_partition": context.partition_key},
        )

    @dg.asset(partitions_def=DAILY)
    def daily_order_summary(daily_orders: list[dict]) -> dg.Output[dict]:
        return dg.Output({"orders": len(daily_orders)}, metadata={"orders": len(daily_orders)})


ASSETS = [daily_orders, daily_orders_not_empty, daily_order_summary]
CHECK_KEY = dg.AssetCheckKey(daily_orders.key, "daily_orders_not_empty")


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


def _materialize(
    instance: dg.DagsterInstance, partition_key: str, io_dir: Path
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        ASSETS,
        partition_key=partition_key,
        instance=instance,
        resources={"io_manager": dg.FilesystemIOManager(base_dir=str(io_dir))},
        raise_on_error=False,
    )


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

    io_dir = tmp_path / "io"
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
        assert instance.is_persistent
        assert not instance.telemetry_enabled

        good = _materialize(instance, GOOD, io_dir)
        assert good.success
        assert good.dagster_run.tags["dagster/partition"] == GOOD

        # Failing blocking check (ERROR severity): the check step fails, so the run fails and
        # the downstream asset is not executed; daily_orders itself was already materialized.
        bad = _materialize(instance, BAD, io_dir)
        assert not bad.success
        [bad_eval] = bad.get_asset_check_evaluations()
        assert (bad_eval.passed, bad_eval.partition, bad_eval.blocking) == (False, BAD, True)
        assert [m.partition for m in bad.asset_materializations_for_node("daily_orders")] == [BAD]
        assert bad.asset_materializations_for_node("daily_order_summary") == []
        run_ids = {GOOD: good.run_id, BAD: bad.run_id}

    # A NEW instance object from the same config reads everything back from Postgres.
    with dg.DagsterInstance.from_config(str(dagster_home)) as fresh:
        assert isinstance(fresh.event_log_storage, PostgresEventLogStorage)

        # Materializations of both partitions, with their metadata.
        for partition, expected_rows in ROWS_BY_PARTITION.items():
            records = fresh.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=daily_orders.key, asset_partitions=[partition]),
                limit=10,
            ).records
            assert len(records) == 1
            record = records[0]
            assert record.run_id == run_ids[partition]
            assert record.partition_key == partition
            materialization = record.asset_materialization
            assert materialization is not None
            assert materialization.metadata["row_count"].value == expected_rows

        latest = fresh.get_latest_materialization_event(daily_orders.key)
        assert latest is not None and latest.asset_materialization is not None
        assert latest.asset_materialization.partition == BAD

        summary = fresh.get_latest_materialization_event(daily_order_summary.key)
        assert summary is not None and summary.asset_materialization is not None
        assert summary.asset_materialization.partition == GOOD  # BAD was blocked
        assert fresh.get_materialized_partitions(daily_order_summary.key) == {GOOD}
        assert fresh.get_materialized_partitions(daily_orders.key) == {GOOD, BAD}

        # Asset-check evaluations: one per partition, attributed to that partition.
        history = fresh.event_log_storage.get_asset_check_execution_history(CHECK_KEY, limit=10)
        by_partition = {r.partition: r for r in history}
        assert set(by_partition) == {GOOD, BAD}
        expected_status = {
            GOOD: AssetCheckExecutionRecordStatus.SUCCEEDED,
            BAD: AssetCheckExecutionRecordStatus.FAILED,
        }
        for partition, record in by_partition.items():
            assert record.status == expected_status[partition]
            assert record.run_id == run_ids[partition]
            evaluation = record.evaluation
            assert evaluation is not None
            assert evaluation.passed is (partition == GOOD)
            assert evaluation.blocking is True
            assert evaluation.severity == dg.AssetCheckSeverity.ERROR
            assert evaluation.partition == partition
            assert evaluation.metadata["row_count"].value == ROWS_BY_PARTITION[partition]
            assert evaluation.metadata["checked_partition"].value == partition

        latest_check = fresh.get_latest_asset_check_evaluation_record(CHECK_KEY)
        assert latest_check is not None
        assert (latest_check.partition, latest_check.status) == (BAD, expected_status[BAD])
        latest_good = fresh.event_log_storage.get_latest_asset_check_execution_by_key(
            [CHECK_KEY], partition_filter=PartitionKeyFilter(key=GOOD)
        )[CHECK_KEY]
        assert latest_good.run_id == run_ids[GOOD]

        # Run records.
        good_run = fresh.get_run_record_by_id(run_ids[GOOD])
        bad_run = fresh.get_run_record_by_id(run_ids[BAD])
        assert good_run is not None and bad_run is not None
        assert good_run.dagster_run.status == dg.DagsterRunStatus.SUCCESS
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

            assert count("SELECT count(*) FROM runs") == 2
            for run_id in run_ids.values():
                assert count("SELECT count(*) FROM event_logs WHERE run_id = :r", r=run_id) > 0
            assert (
                count(
                    "SELECT count(*) FROM event_logs"
                    " WHERE dagster_event_type = 'ASSET_MATERIALIZATION' AND partition IS NOT NULL"
                )
                == 3  # daily_orders x 2 partitions + daily_order_summary x 1
            )
            assert (
                count(
                    "SELECT count(*) FROM asset_check_executions"
                    " WHERE check_name = :c AND execution_status IN ('SUCCEEDED', 'FAILED')",
                    c=CHECK_KEY.name,
                )
                == 2
            )
    finally:
        engine.dispose()
