"""The raw asset: immutable versions, content hash as data version, metadata (on the ticket
workflow's simulated source)."""

from datetime import UTC, date, datetime

import pytest
from dagster import AssetRecordsFilter, DagsterInstance

from assets.names import RAW
from orchestration.runner import failure_reason
from tests.assets.ticket_home import WF, key, ticket_home
from workflows.ticket_escalation.simulation.crm import CrmSimulator
from workflows.ticket_escalation.simulation.incidents import Incident

DAY = date(2026, 1, 6)
KEY = DAY.isoformat()


@pytest.fixture
def world(tmp_path):
    with ticket_home(tmp_path / "home") as world:
        yield world


def materializations(instance: DagsterInstance):
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=key(RAW), asset_partitions=[KEY]), limit=10
    ).records
    return [r.asset_materialization for r in reversed(records)]  # oldest first


def test_changed_source_day_is_a_new_version_beside_the_old(world):
    simulator = CrmSimulator(world.source_url, seed=3)

    simulator.write_day(DAY)
    world.run("raw_ingestion", KEY)
    world.run("raw_ingestion", KEY)  # unchanged source: same content, same version
    simulator.write_day(DAY, [Incident("volume_drop", DAY, {"fraction": 0.3})])  # upstream fix-up
    world.run("raw_ingestion", KEY)

    first, again, changed = materializations(world.instance)
    hashes = [m.metadata["content_hash"].value for m in (first, again, changed)]
    assert hashes[0] == hashes[1] != hashes[2]
    assert [m.tags["dagster/data_version"] for m in (first, again, changed)] == hashes
    assert changed.metadata["dagster/row_count"].value < first.metadata["dagster/row_count"].value

    # Stored in the workflow's folder of the home, under the asset's name without the prefix.
    folder = world.root / "workflows" / WF.name / "snapshots" / RAW / KEY
    assert folder == world.snapshots / RAW / KEY
    files = sorted(p.name for p in folder.glob("*.parquet"))
    assert files == sorted({f"{h}.parquet" for h in hashes})  # two files, none overwritten
    old = world.store.read(RAW, KEY, hashes[0])
    assert len(old) == first.metadata["dagster/row_count"].value
    assert [v["content_hash"] for v in world.store.versions(RAW, KEY)] == hashes


def test_snapshot_metadata_describes_what_was_seen(world):
    CrmSimulator(world.source_url, seed=3).write_day(DAY)
    world.run("raw_ingestion", KEY)
    [meta] = [m.metadata for m in materializations(world.instance)]
    columns = {c.name: c.type for c in meta["dagster/column_schema"].schema.columns}
    assert columns["created_at"] == "datetime" and columns["message_length"] == "integer"
    newest = meta["newest_event_time"].value  # a timestamp within the partition's day
    assert datetime.fromtimestamp(newest, tz=UTC).date() == DAY


def test_missing_source_batch_fails_the_run_with_the_day_named(world):
    CrmSimulator(world.source_url, seed=3).write_day(DAY)
    outcome = world.run("raw_ingestion", "2026-01-07")
    assert not outcome.success and outcome.failed_steps == [WF.op(RAW)]
    failure = next(
        e
        for e in world.instance.all_logs(outcome.run_id)
        if e.dagster_event and e.dagster_event.is_step_failure
    )
    reason = failure_reason(failure.dagster_event.step_failure_data.error)
    assert "SourceBatchMissing: no batch landed for 2026-01-07" in reason
    assert outcome.step_errors[WF.op(RAW)] == reason
