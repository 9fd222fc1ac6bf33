"""Faults of the snapshot store, named with their asset, partition and path: a truncated or
damaged Parquet file, invalid JSON, and a partition folder deleted after it was written, told
apart from a partition that never existed (before the source began, not yet ingested)."""

import json
import shutil

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from resources.snapshots import (
    WRITTEN,
    PartitionsMissing,
    SnapshotCorrupt,
    SnapshotMissing,
    SnapshotStore,
    VersionedParquetIOManager,
    snapshot_root,
)

DAYS = [f"2026-03-0{d}" for d in range(1, 7)]
BEFORE = ["2026-02-27", "2026-02-28"]  # never written: the source had not begun


def frame(n=2000, shift=0):
    return pd.DataFrame({"id": [f"t{i}" for i in range(n)], "x": np.arange(n) + shift})


@pytest.fixture
def store(tmp_path):
    store = SnapshotStore(tmp_path / "snapshots")
    for i, day in enumerate(DAYS):
        store.write("raw", day, frame(shift=i))
    return store


@pytest.mark.bad_input
def test_a_truncated_parquet_names_its_asset_partition_and_path(store):
    ref = store.current("raw", DAYS[1])
    data = ref.path.read_bytes()
    ref.path.write_bytes(data[: len(data) // 2])
    with pytest.raises(SnapshotCorrupt) as err:
        store.read("raw", DAYS[1])
    message = str(err.value)
    assert f"raw partition {DAYS[1]}" in message and str(ref.path) in message
    assert "corrupt or truncated" in message
    assert isinstance(err.value, SnapshotMissing)  # what callers already catch still catches it
    with pytest.raises(SnapshotCorrupt, match=f"raw partition {DAYS[1]}"):
        store.read("raw", DAYS[1], ref.content_hash)  # the exact version, as reproduce reads


@pytest.mark.bad_input
def test_a_damaged_parquet_page_names_its_asset_partition_and_path(store):
    ref = store.current("raw", DAYS[2])
    data = bytearray(ref.path.read_bytes())
    data[100:400] = bytes(300)  # the footer intact, a data page zeroed
    ref.path.write_bytes(bytes(data))
    with pytest.raises(SnapshotCorrupt, match=f"raw partition {DAYS[2]}") as err:
        store.read("raw", DAYS[2])
    assert str(ref.path) in str(err.value)


@pytest.mark.bad_input
@pytest.mark.parametrize("damage", [b'{"a": [1, 2', b"\xff\xfe not text"])
def test_an_invalid_json_snapshot_names_its_asset_partition_and_path(tmp_path, damage):
    store = SnapshotStore(tmp_path)
    ref = store.write("reference_profile", None, {"a": [1, 2]})
    ref.path.write_bytes(damage)
    with pytest.raises(SnapshotCorrupt) as err:
        store.read("reference_profile", None)
    message = str(err.value)
    assert "reference_profile partition __all__" in message and str(ref.path) in message


@pytest.mark.bad_input
def test_a_deleted_partition_is_named_and_one_never_written_is_not(store):
    folder = store.root / "raw" / DAYS[2]
    shutil.rmtree(folder)
    keys = BEFORE + DAYS
    with pytest.raises(PartitionsMissing) as err:
        store.window("raw", keys)
    message = str(err.value)
    assert f"raw partition {DAYS[2]} ({folder})" in message
    assert "deleted from it" in message and "source" not in message
    assert not any(day in message for day in BEFORE)
    assert err.value.gaps == {"raw": {DAYS[2]: folder}}
    stored, gone = store.window("raw", keys, missing="skip")
    assert stored == [d for d in DAYS if d != DAYS[2]] and gone == {DAYS[2]: folder}
    # Reading it says it was deleted, not "materialize it first" as for one never written.
    with pytest.raises(PartitionsMissing, match=DAYS[2]):
        store.read("raw", DAYS[2])
    with pytest.raises(SnapshotMissing, match="materialize it first"):
        store.read("raw", BEFORE[0])
    store.write("raw", DAYS[2], frame(shift=2))  # re-materialized: whole again
    assert store.window("raw", keys) == (DAYS, {})


@pytest.mark.bad_input
def test_a_deleted_asset_folder_names_every_partition_it_held(store):
    shutil.rmtree(store.root / "raw")
    with pytest.raises(PartitionsMissing) as err:
        store.window("raw", DAYS, hint=", or skip them")
    assert f"raw partitions {', '.join(DAYS)} (" in str(err.value)
    assert str(err.value).endswith(", or skip them")


def test_a_home_from_before_the_record_gets_one_once_from_what_it_holds(store):
    record = store.root / WRITTEN / "raw.jsonl"
    shutil.rmtree(store.root / WRITTEN)  # a home written before the store kept its record
    assert store.window("raw", BEFORE + DAYS) == (DAYS, {})  # it keeps working
    backfilled = [json.loads(line) for line in record.read_text().splitlines()]
    assert [e["partition"] for e in backfilled] == DAYS and all(e["backfilled"] for e in backfilled)
    shutil.rmtree(store.root / "raw" / DAYS[4])
    with pytest.raises(PartitionsMissing, match=DAYS[4]):
        store.window("raw", DAYS)  # deleted after the backfill: named
    store.write("raw", "2026-03-07", frame())
    store.write("raw", DAYS[0], frame(shift=9))  # a new version of a recorded one: no new line
    entries = [json.loads(line) for line in record.read_text().splitlines()]
    assert [e["partition"] for e in entries] == [*DAYS, "2026-03-07"]
    assert "backfilled" not in entries[-1]


def test_the_first_write_of_a_home_from_before_the_record_backfills_before_it(store):
    shutil.rmtree(store.root / WRITTEN)
    store.write("raw", "2026-03-07", frame())
    entries = [json.loads(line) for line in (store.root / WRITTEN / "raw.jsonl").open()]
    assert [e["partition"] for e in entries] == [*DAYS, "2026-03-07"]
    assert [e.get("backfilled", False) for e in entries] == [True] * len(DAYS) + [False]


@pytest.mark.bad_input
def test_a_corrupt_record_is_named(store):
    record = store.root / WRITTEN / "raw.jsonl"
    record.write_text(record.read_text() + '{"partition": "2026-0\n')
    with pytest.raises(SnapshotCorrupt, match=f"line {len(DAYS) + 1}: {record}"):
        store.window("raw", DAYS)


# --- through the IO manager: what a downstream step sees -------------------------------------

DAILY = dg.DailyPartitionsDefinition(start_date="2026-03-01")


@dg.asset(key_prefix="ticket_escalation", name="raw", partitions_def=DAILY)
def ticket_raw() -> pd.DataFrame:
    return frame()


@dg.asset(key_prefix="ticket_escalation", name="features", partitions_def=DAILY)
def ticket_features(raw: pd.DataFrame) -> pd.DataFrame:
    return raw.assign(x2=raw["x"] * 2)


@pytest.mark.bad_input
def test_a_step_reading_a_truncated_snapshot_fails_naming_it(tmp_path):
    manager = VersionedParquetIOManager(home=str(tmp_path), workflow="ticket_escalation")
    resources = {"io_manager": manager}
    assert dg.materialize([ticket_raw], partition_key=DAYS[0], resources=resources).success
    path = SnapshotStore(snapshot_root(tmp_path, "ticket_escalation")).current("raw", DAYS[0]).path
    path.write_bytes(path.read_bytes()[:-200])
    result = dg.materialize(
        [ticket_features, ticket_raw.to_source_asset()],
        partition_key=DAYS[0],
        resources=resources,
        raise_on_error=False,
    )
    [failure] = result.get_step_failure_events()
    error = failure.step_failure_data.error
    while error.cause is not None and error.cls_name.startswith("Dagster"):
        error = error.cause
    assert error.cls_name == "SnapshotCorrupt"
    assert f"raw partition {DAYS[0]}" in error.message and str(path) in error.message
