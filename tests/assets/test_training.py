"""Training end to end on a fresh home: labels and features from a simulated source, a
challenger registered in a real (SQLite) MLflow store with its full lineage, then reproduced."""

import json
import socket
from datetime import date, timedelta

import pytest
from dagster import AssetKey, DagsterInstance

from assets.feature_set import current_pin
from orchestration.home import ENV_VARS, activate, resolve_home
from orchestration.reproduce import reproduce
from orchestration.runner import failure_reason, run_job
from resources.code_version import current_code_version
from resources.registry import ModelRegistry
from resources.snapshots import SnapshotMissing, SnapshotStore, content_hash, snapshot_root
from workflows.ticket_escalation.simulation.crm import CrmSimulator
from workflows.ticket_escalation.simulation.incidents import Incident

START = date(2026, 1, 5)
DAYS = 22
END = START + timedelta(days=DAYS - 1)
BAD_LABEL_DAY = START + timedelta(days=15)
POLICY = """
training: {window_days: 12, min_rows: 1000}
labels: {max_delay_days: 5}
"""

LINEAGE_TAGS = {
    "lineage.training_window", "lineage.feature_snapshots", "lineage.label_snapshots",
    "lineage.raw_snapshots", "lineage.training_set_sha256", "lineage.manifest_sha256",
    "feature_set.version", "feature_set.hash", "code.git_commit", "code.git_dirty",
    "model.family", "model.hyperparameters", "model.random_seed", "owner", "created_date",
    "last_reviewed_date", "change_summary",
}  # fmt: skip


def train(instance, end: date, summary: str):
    config = {
        "ops": {
            "training_set": {"config": {"end_date": end.isoformat()}},
            "challenger_model": {"config": {"change_summary": summary, "actor": "test-suite"}},
        }
    }
    return run_job(instance, "train_challenger", None, run_config=config)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as mp:
        for var in ENV_VARS:  # recorded, so activate()'s changes are undone afterwards
            mp.setenv(var, "")
            mp.delenv(var)
        (root / "policy.yaml").write_text(POLICY)
        home = activate(resolve_home(root))
        CrmSimulator(home.source_url, seed=21).write_days(
            START, END, [Incident("bad_labels", BAD_LABEL_DAY, {})]
        )
        instance = DagsterInstance.from_config(str(home.dagster_home))
        ingested = {}
        for i in range(DAYS):
            key = (START + timedelta(days=i)).isoformat()
            ingested[key] = run_job(instance, "raw_ingestion", key)
        draw = {"ops": {"eval_test_set": {"config": {"end_date": END.isoformat()}}}}
        assert run_job(instance, "draw_test_set", None, run_config=draw).success
        first = train(instance, END - timedelta(days=2), "first model")
        second = train(instance, END, "retrained with two more days")
        registry = ModelRegistry(tracking_uri=home.mlflow_uri, artifact_root=home.mlflow_artifacts)
        yield home, instance, ingested, first, second, registry


def test_every_day_ingested_and_both_trainings_succeeded(trained):
    _, _, ingested, first, second, _ = trained
    assert all(o.success for o in ingested.values())
    assert first.success and second.success


def test_bad_labels_are_reported_by_a_check_on_their_day(trained):
    _, _, ingested, _, _, _ = trained
    outcome = ingested[BAD_LABEL_DAY.isoformat()]
    [integrity] = [c for c in outcome.checks if c.check == "ticket_labels_integrity"]
    assert not integrity.passed
    clean_day = ingested[(BAD_LABEL_DAY - timedelta(days=1)).isoformat()]
    assert all(c.passed for c in clean_day.checks if c.check.startswith("ticket_labels"))


def test_registered_version_carries_its_full_lineage(trained):
    home, _, _, _, _, registry = trained
    assert registry.version_for_alias("challenger") == "2"
    tags = registry.version_tags("2")
    assert LINEAGE_TAGS <= set(tags)
    store = SnapshotStore(snapshot_root(home.root))
    manifest = registry.load_artifact_json("2", "lineage.json")
    # Every recorded snapshot is the one stored for that partition, for features, labels, raw.
    for asset, recorded in [
        ("ticket_features", manifest["feature_snapshots"]),
        ("ticket_labels", manifest["label_snapshots"]),
        ("raw_tickets", manifest["raw_snapshots"]),
    ]:
        assert recorded and all(
            store.current(asset, p).content_hash == h for p, h in recorded.items()
        )
    assert len(manifest["feature_snapshots"]) == 12
    for partition, digest in manifest["feature_snapshots"].items():
        assert f"{partition}={digest[:12]}" in tags["lineage.feature_snapshots"]
    assert tags["lineage.training_window"].endswith(f"labels known by {END.isoformat()}")
    assert tags["feature_set.hash"] == current_pin().definitions_hash
    assert tags["code.git_commit"] == current_code_version().commit
    assert json.loads(tags["model.hyperparameters"]) == {"C": 1.0}
    assert tags["change_summary"] == "retrained with two more days"
    dropped = manifest["counts"]["labels_dropped"]
    assert sum(dropped.values()) > 0  # the bad labels were left out, and counted


def test_alias_moves_are_recorded_in_the_dagster_event_log(trained):
    _, instance, _, first, second, _ = trained
    moves = []
    for run in (first, second):
        records = instance.get_records_for_run(run.run_id).records
        for record in records:
            event = record.event_log_entry.dagster_event
            if event and event.is_step_materialization:
                materialization = event.step_materialization_data.materialization
                if materialization.asset_key == AssetKey("challenger_model"):
                    moves.append(materialization.metadata["alias_move"].value)
    assert [(m["from_version"], m["to_version"]) for m in moves] == [(None, "1"), ("1", "2")]
    assert all(m["actor"] == "test-suite" and m["alias"] == "challenger" for m in moves)
    assert moves[1]["reason"] == "retrained with two more days"


def test_reproduce_gives_the_same_predictions(trained):
    home, _, _, _, _, registry = trained
    result = reproduce("1", registry, SnapshotStore(snapshot_root(home.root)))
    assert result.identical and result.rows > 1000 and result.feature_code_matches


def test_reproduce_stops_at_a_changed_or_missing_snapshot_naming_it(trained):
    home, _, _, _, _, registry = trained
    store = SnapshotStore(snapshot_root(home.root))
    manifest = registry.load_artifact_json("2", "lineage.json")
    partition, digest = sorted(manifest["feature_snapshots"].items())[3]
    path = snapshot_root(home.root) / "ticket_features" / partition / f"{digest}.parquet"
    original = path.read_bytes()
    try:
        frame = store.read("ticket_features", partition, digest)
        frame.iloc[1:].to_parquet(path, index=False)  # someone edited the snapshot
        assert content_hash(frame.iloc[1:]) != digest
        with pytest.raises(SnapshotMissing, match=f"partition {partition} changed on disk"):
            reproduce("2", registry, store)
        path.unlink()
        with pytest.raises(SnapshotMissing, match=f"partition {partition} is missing"):
            reproduce("2", registry, store)
    finally:
        path.write_bytes(original)


def test_unreachable_registry_fails_the_asset_and_moves_no_alias(trained, monkeypatch):
    home, _, _, _, _, registry = trained
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("AFTERLAUNCH_MLFLOW_URI", f"http://127.0.0.1:{port}")
    instance = DagsterInstance.from_config(str(home.dagster_home))
    outcome = train(instance, END, "should not register")
    assert not outcome.success and "challenger_model" in outcome.failed_steps
    [failure] = [
        r.event_log_entry.dagster_event
        for r in instance.get_records_for_run(outcome.run_id).records
        if r.event_log_entry.dagster_event and r.event_log_entry.dagster_event.is_step_failure
    ]
    reason = failure_reason(failure.step_failure_data.error)
    assert "RegistryError" in reason and f"127.0.0.1:{port}" in reason
    assert registry.version_for_alias("challenger") == "2"
    assert len(registry.versions()) == 2


def test_training_never_sees_the_evaluation_test_set(trained):
    home, _, _, _, _, registry = trained
    store = SnapshotStore(snapshot_root(home.root))
    manifest = registry.load_artifact_json("2", "lineage.json")
    eval_ids = set(store.read("eval_test_set", None, manifest["eval_test_set_sha256"])["ticket_id"])
    training_ids = set(store.read("training_set", None)["ticket_id"])
    assert eval_ids and not (eval_ids & training_ids)
    assert manifest["counts"]["held_out_for_evaluation"] > 0
