"""raw_tickets as an asset: immutable versions, content hash as data version, metadata."""

from datetime import date

import pytest
from dagster import AssetKey, AssetRecordsFilter, DagsterInstance

from orchestration.home import ENV_VARS, activate, resolve_home
from orchestration.runner import failure_reason, run_job
from resources.snapshots import SnapshotStore, snapshot_root
from workflows.ticket_escalation.simulation.crm import CrmSimulator
from workflows.ticket_escalation.simulation.incidents import Incident

DAY = date(2026, 1, 6)
KEY = DAY.isoformat()


@pytest.fixture
def home(tmp_path, monkeypatch):
    for var in ENV_VARS:
        monkeypatch.setenv(var, "")  # recorded, so activate()'s changes are undone
        monkeypatch.delenv(var)
    return activate(resolve_home(tmp_path / "home"))


def materializations(instance: DagsterInstance):
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey("raw_tickets"), asset_partitions=[KEY]), limit=10
    ).records
    return [r.asset_materialization for r in reversed(records)]  # oldest first


def test_changed_source_day_is_a_new_version_beside_the_old(home):
    simulator = CrmSimulator(home.source_url, seed=3)
    instance = DagsterInstance.from_config(str(home.dagster_home))
    store = SnapshotStore(snapshot_root(home.root))

    simulator.write_day(DAY)
    run_job(instance, "raw_ingestion", KEY)
    run_job(instance, "raw_ingestion", KEY)  # unchanged source: same content, same version
    simulator.write_day(DAY, [Incident("volume_drop", DAY, {"fraction": 0.3})])  # upstream fix-up
    run_job(instance, "raw_ingestion", KEY)

    first, again, changed = materializations(instance)
    hashes = [m.metadata["content_hash"].value for m in (first, again, changed)]
    assert hashes[0] == hashes[1] != hashes[2]
    assert [m.tags["dagster/data_version"] for m in (first, again, changed)] == hashes
    assert changed.metadata["dagster/row_count"].value < first.metadata["dagster/row_count"].value

    files = sorted(
        p.name for p in (snapshot_root(home.root) / "raw_tickets" / KEY).glob("*.parquet")
    )
    assert files == sorted({f"{h}.parquet" for h in hashes})  # two files, none overwritten
    old = store.read("raw_tickets", KEY, hashes[0])
    assert len(old) == first.metadata["dagster/row_count"].value
    assert [v["content_hash"] for v in store.versions("raw_tickets", KEY)] == hashes


def test_snapshot_metadata_describes_what_was_seen(home):
    CrmSimulator(home.source_url, seed=3).write_day(DAY)
    instance = DagsterInstance.from_config(str(home.dagster_home))
    run_job(instance, "raw_ingestion", KEY)
    [meta] = [m.metadata for m in materializations(instance)]
    columns = {c.name: c.type for c in meta["dagster/column_schema"].schema.columns}
    assert columns["created_at"] == "datetime" and columns["message_length"] == "integer"
    newest = meta["newest_event_time"].value  # a timestamp within the partition's day
    assert (
        DAY.isoformat()
        in __import__("datetime")
        .datetime.fromtimestamp(newest, tz=__import__("datetime").UTC)
        .isoformat()
    )


def test_missing_source_batch_fails_the_run_with_the_day_named(home):
    CrmSimulator(home.source_url, seed=3).write_day(DAY)
    instance = DagsterInstance.from_config(str(home.dagster_home))
    outcome = run_job(instance, "raw_ingestion", "2026-01-07")
    assert not outcome.success and outcome.failed_steps == ["raw_tickets"]
    run = instance.get_run_by_id(outcome.run_id)
    failure = next(
        e
        for e in instance.all_logs(run.run_id)
        if e.dagster_event and e.dagster_event.is_step_failure
    )
    reason = failure_reason(failure.dagster_event.step_failure_data.error)
    assert "SourceBatchMissing: no batch landed for 2026-01-07" in reason
