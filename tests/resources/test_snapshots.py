"""The snapshot store (immutable, content-addressed values) and the IO manager that keeps each
workflow's assets in that workflow's folder of the home."""

import dagster as dg
import pandas as pd
import pytest

from resources.snapshots import (
    UNPARTITIONED,
    SnapshotMissing,
    SnapshotStore,
    VersionedParquetIOManager,
    content_hash,
    snapshot_root,
)
from resources.storage import HomeStorage


def frame(n=3, shift=0):
    return pd.DataFrame({"id": [f"t{i}" for i in range(n)], "x": [i + shift for i in range(n)]})


def test_hash_depends_on_content_names_and_types_not_on_index():
    assert content_hash(frame()) == content_hash(frame().set_axis([7, 8, 9]))
    assert content_hash(frame()) != content_hash(frame(shift=1))
    assert content_hash(frame()) != content_hash(frame().rename(columns={"x": "y"}))
    assert content_hash(frame()) != content_hash(frame().astype({"x": "float64"}))


def test_new_content_is_stored_beside_the_old_never_over_it(tmp_path):
    store = SnapshotStore(tmp_path)
    first = store.write("raw", "2026-03-01", frame())
    second = store.write("raw", "2026-03-01", frame(shift=5))
    assert first.path.exists() and second.path.exists() and first.path != second.path
    pd.testing.assert_frame_equal(store.read("raw", "2026-03-01"), frame(shift=5))
    pd.testing.assert_frame_equal(store.read("raw", "2026-03-01", first.content_hash), frame())
    hashes = [v["content_hash"] for v in store.versions("raw", "2026-03-01")]
    assert hashes == [first.content_hash, second.content_hash]


def test_same_content_is_not_written_twice(tmp_path):
    store = SnapshotStore(tmp_path)
    a = store.write("raw", "2026-03-01", frame())
    mtime = a.path.stat().st_mtime_ns
    b = store.write("raw", "2026-03-01", frame())
    assert a.path == b.path and a.path.stat().st_mtime_ns == mtime


def test_changed_or_missing_file_is_a_clear_error(tmp_path):
    store = SnapshotStore(tmp_path)
    ref = store.write("raw", "2026-03-01", frame())
    frame(shift=9).to_parquet(ref.path, index=False)  # someone edited the snapshot
    with pytest.raises(SnapshotMissing, match="changed on disk"):
        store.read("raw", "2026-03-01")
    ref.path.unlink()
    with pytest.raises(SnapshotMissing, match="2026-03-01"):
        store.read("raw", "2026-03-01")
    with pytest.raises(SnapshotMissing, match="materialize it first"):
        store.read("raw", "2026-03-02")


def test_json_values_round_trip(tmp_path):
    store = SnapshotStore(tmp_path)
    store.write("reference_profile", None, {"a": [1, 2], "b": "x"})
    assert store.read("reference_profile", None) == {"a": [1, 2], "b": "x"}


# --- the IO manager: one workflow's assets in that workflow's folder --------------------------

DAILY = dg.DailyPartitionsDefinition(start_date="2026-03-01")


@dg.asset(key_prefix="ticket_escalation", name="raw", partitions_def=DAILY)
def ticket_raw(context: dg.AssetExecutionContext) -> pd.DataFrame:
    return frame(shift=int(context.partition_key[-2:]))


@dg.asset(key_prefix="ticket_escalation", name="features", partitions_def=DAILY)
def ticket_features(raw: pd.DataFrame) -> pd.DataFrame:
    return raw.assign(x2=raw["x"] * 2)


@dg.asset(key_prefix="ticket_escalation", name="reference_profile", deps=[ticket_raw])
def ticket_reference() -> dict:
    return {"rows": 3}


@dg.asset(key_prefix="invoice_matching", name="raw")
def invoice_raw() -> pd.DataFrame:
    return frame()


def test_io_manager_stores_a_workflows_assets_under_its_own_folder(tmp_path):
    manager = VersionedParquetIOManager(home=str(tmp_path), workflow="ticket_escalation")
    assert ticket_features.key == dg.AssetKey(["ticket_escalation", "features"])
    result = dg.materialize(
        [ticket_raw, ticket_features],
        partition_key="2026-03-02",
        resources={"io_manager": manager},
    )
    assert result.success
    root = snapshot_root(tmp_path, "ticket_escalation")
    assert root == tmp_path / "workflows" / "ticket_escalation" / "snapshots"
    # No prefix folder; beside the assets, the store's record of what it wrote (_written).
    assert sorted(p.name for p in root.iterdir()) == ["_written", "features", "raw"]
    assert HomeStorage(home=str(tmp_path), workflow="ticket_escalation").snapshots.root == root
    store = SnapshotStore(root)
    pd.testing.assert_frame_equal(store.read("raw", "2026-03-02"), frame(shift=2))
    pd.testing.assert_frame_equal(
        store.read("features", "2026-03-02"), frame(shift=2).assign(x2=[4, 6, 8])
    )
    [raw_event] = result.asset_materializations_for_node("ticket_escalation__raw")
    assert raw_event.metadata["content_hash"].value == content_hash(frame(shift=2))
    assert raw_event.metadata["path"].value == str(store.current("raw", "2026-03-02").path)

    unpartitioned = dg.materialize(
        [ticket_raw, ticket_reference],
        selection=[ticket_reference],
        resources={"io_manager": manager},
    )
    assert unpartitioned.success
    assert store.read("reference_profile", None) == {"rows": 3}
    assert (root / "reference_profile" / UNPARTITIONED / "CURRENT").exists()


def test_io_manager_refuses_an_asset_of_another_workflow(tmp_path):
    manager = VersionedParquetIOManager(home=str(tmp_path), workflow="ticket_escalation")
    result = dg.materialize([invoice_raw], resources={"io_manager": manager}, raise_on_error=False)
    assert not result.success
    [failure] = result.get_step_failure_events()
    message = str(failure.step_failure_data.error)
    assert "invoice_matching/raw is not one of workflow ticket_escalation's" in message
    assert not (tmp_path / "workflows").exists()  # nothing written anywhere

    # Its own manager keeps it in its own folder: the two workflows never share a file.
    own = VersionedParquetIOManager(home=str(tmp_path), workflow="invoice_matching")
    assert dg.materialize([invoice_raw], resources={"io_manager": own}).success
    assert SnapshotStore(snapshot_root(tmp_path, "invoice_matching")).partitions("raw") == [
        UNPARTITIONED
    ]
    assert not snapshot_root(tmp_path, "ticket_escalation").exists()
