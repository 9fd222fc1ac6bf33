"""The registry path on an MLflow store backed by a real (throwaway) PostgreSQL database."""

from __future__ import annotations

import time

import numpy as np
import sqlalchemy as sa

from resources.registry import mask_uri
from tests.resources.test_registry import MODEL_NAME, register, registry_at, ticket_frame, train


def test_registry_on_postgres_registers_moves_and_reads_back(postgres_cluster, tmp_path):
    database = postgres_cluster.create_database("mlflow_registry_test")
    artifact_root = str(tmp_path / "artifacts")
    registry = registry_at(database.url, artifact_root)

    started = time.monotonic()
    registry.check_reachable()  # an empty database: MLflow creates its schema here
    print(f"MLflow schema migrations on Postgres: {time.monotonic() - started:.1f}s")

    first, second = train(c=1.0), train(c=0.05)
    one = register(registry, first, version_tags={"lineage.sha": "1" * 64, "owner": "team:ml"})
    two = register(registry, second, version_tags={"lineage.sha": "2" * 64, "owner": "team:ml"})
    assert (one.version, two.version) == ("1", "2")
    first_move = registry.move_alias("champion", "1", actor="alice", reason="launch")
    second_move = registry.move_alias("champion", "2", actor="bob", reason="better AUC")
    assert (first_move.from_version, first_move.to_version) == (None, "1")
    assert (second_move.from_version, second_move.to_version) == ("1", "2")

    # A new resource instance (as in another Dagster run) sees the same registry.
    fresh = registry_at(database.url, artifact_root)
    assert fresh.version_for_alias("champion") == "2"
    assert fresh.version_tags("1") == {"lineage.sha": "1" * 64, "owner": "team:ml"}
    assert fresh.version_tags("2") == {"lineage.sha": "2" * 64, "owner": "team:ml"}
    assert fresh.load_artifact_json("2", "lineage.json")["feature_set"] == {"version": "v1"}
    assert [(v["version"], v["status"], v["aliases"]) for v in fresh.versions()] == [
        ("1", "READY", []),
        ("2", "READY", ["champion"]),
    ]
    frame, _ = ticket_frame(rows=20, seed=5)
    champion = fresh.load_model("@champion")
    np.testing.assert_allclose(
        champion.predict_proba(frame), second.predict_proba(frame), rtol=1e-12
    )
    assert mask_uri(database.url) != database.url  # the URL holds a password to hide

    # The rows are in MLflow's own tables in that Postgres database.
    engine = sa.create_engine(database.url)
    try:
        with engine.connect() as conn:
            versions = conn.execute(
                sa.text(
                    "SELECT version, run_id, status, source FROM model_versions "
                    "WHERE name = :name ORDER BY version"
                ),
                {"name": MODEL_NAME},
            ).all()
            aliases = conn.execute(
                sa.text("SELECT alias, version FROM registered_model_aliases WHERE name = :name"),
                {"name": MODEL_NAME},
            ).all()
            tags = conn.execute(
                sa.text(
                    "SELECT version, key, value FROM model_version_tags "
                    "WHERE name = :name AND key = 'lineage.sha' ORDER BY version"
                ),
                {"name": MODEL_NAME},
            ).all()
    finally:
        engine.dispose()
    assert [(v.version, v.run_id, v.status) for v in versions] == [
        (1, one.run_id, "READY"),
        (2, two.run_id, "READY"),
    ]
    assert all(v.source.startswith("models:/m-") for v in versions)
    assert [tuple(a) for a in aliases] == [("champion", 2)]
    assert [tuple(t) for t in tags] == [(1, "lineage.sha", "1" * 64), (2, "lineage.sha", "2" * 64)]
