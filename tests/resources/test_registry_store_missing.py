"""A lost SQLite registry store is refused, naming it; a brand-new one is still created.

SQLAlchemy and MLflow create a missing SQLite file with an empty schema on first connection, so
a deleted ``mlflow.db`` used to come back empty and every version "not found". The artifact
root tells a lost store from a new one: it holds the runs and logged models of the old store.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from resources.registry import ModelRegistry, RegistryError, StoreMissing, mask_uri
from tests.resources.test_registry import FAST_S, register, registry_at, ticket_frame, train


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> tuple[ModelRegistry, Path]:
    """A brand-new home (no store file, an empty artifact folder, as `activate` leaves it):
    read before anything is registered, as the sensors do, then one version registered."""
    root = tmp_path_factory.mktemp("home") / "mlflow"
    (root / "artifacts").mkdir(parents=True)
    db = root / "mlflow.db"
    registry = registry_at(f"sqlite:///{db}", str(root / "artifacts"))

    assert registry.version_for_alias("champion") is None  # nothing registered yet: no error
    assert registry.model_tags() == {} and registry.versions() == []
    assert db.is_file()  # the new store was created on first use
    assert register(registry, train()).version == "1"
    registry.move_alias("champion", "1", actor="alice", reason="launch")
    return registry, db


def test_a_brand_new_home_is_created_on_first_use_and_reads_as_empty(home):
    registry, _ = home  # the fixture read and registered on a brand-new home
    assert [v["version"] for v in registry.versions()] == ["1"]
    assert registry.version_for_alias("champion") == "1"


@pytest.mark.bad_input
def test_a_deleted_store_fails_fast_naming_it_and_nothing_is_recreated(home):
    registry, db = home
    backup = db.with_name("mlflow.db.backup")
    db.rename(backup)
    try:
        calls = {
            "alias": lambda: registry.version_for_alias("champion"),
            "versions": registry.versions,
            "load": lambda: registry.load_model("@champion"),
            "reachable": registry.check_reachable,
            "tags": lambda: registry.version_tags("1"),
            "move": lambda: registry.move_alias("champion", "1", actor="bob", reason="again"),
            "register": lambda: register(registry, train(c=0.3)),
        }
        for name, call in calls.items():
            started = time.monotonic()
            with pytest.raises(StoreMissing) as raised:
                call()
            assert time.monotonic() - started < FAST_S, name
            assert isinstance(raised.value, RegistryError)
            assert str(raised.value) == (
                f"the MLflow store at {mask_uri(registry.tracking_uri)} is missing but "
                f"{registry.artifact_root} holds artifacts of 1 run and 1 logged model: "
                "restore it from backup; nothing was recreated"
            ), name
            assert not db.exists(), f"{name} recreated the store"
    finally:
        backup.rename(db)

    # Restored from the backup: everything is there again.
    assert registry.version_for_alias("champion") == "1"
    frame, _ = ticket_frame(rows=5)
    assert registry.load_model("@champion").predict_proba(frame).shape == (5, 2)


@pytest.mark.bad_input
def test_an_emptied_store_is_refused_too_and_left_as_it_is(home):
    registry, db = home
    backup = db.with_name("mlflow.db.backup")
    shutil.copy(db, backup)
    db.write_bytes(b"")  # a failed copy, or a truncation: MLflow would migrate it afresh
    try:
        with pytest.raises(StoreMissing, match="holds no tables but .* 1 run and 1 logged model"):
            registry.version_for_alias("champion")
        assert db.stat().st_size == 0
    finally:  # restored in place: MLflow's pooled connections keep the file they opened
        db.write_bytes(backup.read_bytes())
        backup.unlink()
    assert registry.version_for_alias("champion") == "1"


def test_an_artifact_folder_without_runs_does_not_block_a_new_store(tmp_path):
    artifacts = tmp_path / "artifacts"
    (artifacts / "notes").mkdir(parents=True)  # not MLflow's: no run, no logged model
    (artifacts / "README.txt").write_text("artifacts of the ticket workflow")
    db = tmp_path / "mlflow.db"
    registry_at(f"sqlite:///{db}", str(artifacts))._probe_databases(timeout_s=5)
    assert db.is_file()  # created (empty) by the probe; MLflow adds the schema next
