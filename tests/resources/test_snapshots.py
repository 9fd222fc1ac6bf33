import pandas as pd
import pytest

from resources.snapshots import SnapshotMissing, SnapshotStore, content_hash


def frame(n=3, shift=0):
    return pd.DataFrame({"id": [f"t{i}" for i in range(n)], "x": [i + shift for i in range(n)]})


def test_hash_depends_on_content_names_and_types_not_on_index():
    assert content_hash(frame()) == content_hash(frame().set_axis([7, 8, 9]))
    assert content_hash(frame()) != content_hash(frame(shift=1))
    assert content_hash(frame()) != content_hash(frame().rename(columns={"x": "y"}))
    assert content_hash(frame()) != content_hash(frame().astype({"x": "float64"}))


def test_new_content_is_stored_beside_the_old_never_over_it(tmp_path):
    store = SnapshotStore(tmp_path)
    first = store.write("raw_tickets", "2026-03-01", frame())
    second = store.write("raw_tickets", "2026-03-01", frame(shift=5))
    assert first.path.exists() and second.path.exists() and first.path != second.path
    pd.testing.assert_frame_equal(store.read("raw_tickets", "2026-03-01"), frame(shift=5))
    pd.testing.assert_frame_equal(
        store.read("raw_tickets", "2026-03-01", first.content_hash), frame()
    )
    hashes = [v["content_hash"] for v in store.versions("raw_tickets", "2026-03-01")]
    assert hashes == [first.content_hash, second.content_hash]


def test_same_content_is_not_written_twice(tmp_path):
    store = SnapshotStore(tmp_path)
    a = store.write("raw_tickets", "2026-03-01", frame())
    mtime = a.path.stat().st_mtime_ns
    b = store.write("raw_tickets", "2026-03-01", frame())
    assert a.path == b.path and a.path.stat().st_mtime_ns == mtime


def test_changed_or_missing_file_is_a_clear_error(tmp_path):
    store = SnapshotStore(tmp_path)
    ref = store.write("raw_tickets", "2026-03-01", frame())
    frame(shift=9).to_parquet(ref.path, index=False)  # someone edited the snapshot
    with pytest.raises(SnapshotMissing, match="changed on disk"):
        store.read("raw_tickets", "2026-03-01")
    ref.path.unlink()
    with pytest.raises(SnapshotMissing, match="2026-03-01"):
        store.read("raw_tickets", "2026-03-01")
    with pytest.raises(SnapshotMissing, match="materialize it first"):
        store.read("raw_tickets", "2026-03-02")


def test_json_values_round_trip(tmp_path):
    store = SnapshotStore(tmp_path)
    store.write("reference_profile", None, {"a": [1, 2], "b": "x"})
    assert store.read("reference_profile", None) == {"a": [1, 2], "b": "x"}
