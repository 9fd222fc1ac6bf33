"""Training end to end on a fresh home: raw rows and labels from a simulated source, a
challenger registered in a real (SQLite) MLflow store with its full lineage, then reproduced
from exactly the snapshots its lineage names."""

import json
import socket
from datetime import date, timedelta

import pytest
from dagster import DagsterInstance

from assets.names import CHALLENGER, EVAL_SET, LABELS, RAW, TRAINING_SET
from orchestration.cli import main
from orchestration.reproduce import reproduce
from orchestration.runner import failure_reason
from resources.code_version import current_code_version
from resources.snapshots import SnapshotMissing, content_hash
from tests.assets.ticket_home import WF, key, ticket_home
from workflows.ticket_escalation.simulation.crm import CrmSimulator
from workflows.ticket_escalation.simulation.incidents import Incident

START = date(2026, 1, 5)
DAYS = 22
END = START + timedelta(days=DAYS - 1)
BAD_LABEL_DAY = START + timedelta(days=15)
POLICY = "training: {window_days: 12, min_rows: 1000}\n"

LINEAGE_TAGS = {
    "lineage.training_window", "lineage.label_snapshots", "lineage.raw_snapshots",
    "lineage.training_set_sha256", "lineage.manifest_sha256", "feature_set.version",
    "feature_set.hash", "code.git_commit", "code.git_dirty", "model.family",
    "model.hyperparameters", "model.random_seed", "owner", "created_date",
    "last_reviewed_date", "change_summary",
}  # fmt: skip


def train(world, end: date, summary: str, instance=None):
    ops = {
        TRAINING_SET: {"end_date": end.isoformat()},
        CHALLENGER: {"change_summary": summary, "actor": "test-suite"},
    }
    return world.run("train_challenger", ops=ops, instance=instance)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    with ticket_home(tmp_path_factory.mktemp("home"), POLICY) as world:
        CrmSimulator(world.source_url, seed=21).write_days(
            START, END, [Incident("bad_labels", BAD_LABEL_DAY, {})]
        )
        ingested = {}
        for i in range(DAYS):
            day = (START + timedelta(days=i)).isoformat()
            ingested[day] = world.run("raw_ingestion", day)
        assert world.run("draw_test_set", ops={EVAL_SET: {"end_date": END.isoformat()}}).success
        first = train(world, END - timedelta(days=2), "first model")
        second = train(world, END, "retrained with two more days")
        yield world, ingested, first, second


def test_every_day_ingested_and_both_trainings_succeeded(trained):
    _, ingested, first, second = trained
    assert all(o.success for o in ingested.values())
    assert first.success and second.success, (first.step_errors, second.step_errors)


def test_bad_labels_are_reported_by_a_check_on_their_day(trained):
    _, ingested, _, _ = trained
    outcome = ingested[BAD_LABEL_DAY.isoformat()]
    [integrity] = [c for c in outcome.checks if c.check == "labels_integrity"]
    assert not integrity.passed and integrity.asset == LABELS
    clean_day = ingested[(BAD_LABEL_DAY - timedelta(days=1)).isoformat()]
    assert all(c.passed for c in clean_day.checks if c.check.startswith("labels"))


def test_registered_version_carries_its_full_lineage(trained):
    world, _, _, _ = trained
    registry = world.registry
    assert registry.version_for_alias("challenger") == "2"
    tags = registry.version_tags("2")
    assert LINEAGE_TAGS <= set(tags)
    store = world.store
    manifest = registry.load_artifact_json("2", "lineage.json")
    # Every recorded snapshot is the one stored for that partition, for raw rows and labels.
    for asset, recorded in [
        (RAW, manifest["raw_snapshots"]),
        (LABELS, manifest["label_snapshots"]),
    ]:
        assert recorded and all(
            store.current(asset, p).content_hash == h for p, h in recorded.items()
        )
    assert len(manifest["raw_snapshots"]) == 12
    for partition, digest in manifest["raw_snapshots"].items():
        assert f"{partition}={digest[:12]}" in tags["lineage.raw_snapshots"]
    assert tags["lineage.training_window"].endswith(f"labels known by {END.isoformat()}")
    fs = WF.feature_sets.current_set
    assert tags["feature_set.version"] == fs.version
    assert tags["feature_set.hash"] == fs.definitions_hash
    assert manifest["feature_set"]["source"] == fs.source_text  # readable after the code moves
    assert tags["code.git_commit"] == current_code_version().commit
    assert json.loads(tags["model.hyperparameters"]) == {"C": 1.0}
    assert tags["change_summary"] == "retrained with two more days"
    dropped = manifest["counts"]["labels_dropped"]
    assert sum(dropped.values()) > 0  # the bad labels were left out, and counted


def test_the_training_set_holds_the_feature_set_columns_label_and_split(trained):
    world, _, _, _ = trained
    training_set = world.store.read(TRAINING_SET, None)
    fs = WF.feature_sets.current_set
    assert list(training_set.columns) == [
        WF.entity.id,
        WF.entity.event_time,
        *fs.columns,
        WF.label.column,
        "split",
    ]
    assert set(training_set["split"]) == {"train", "validation"}


def test_alias_moves_are_recorded_in_the_dagster_event_log(trained):
    world, _, first, second = trained
    moves = []
    for run in (first, second):
        records = world.instance.get_records_for_run(run.run_id).records
        for record in records:
            event = record.event_log_entry.dagster_event
            if event and event.is_step_materialization:
                materialization = event.step_materialization_data.materialization
                if materialization.asset_key == key(CHALLENGER):
                    moves.append(materialization.metadata["alias_move"].value)
    assert [(m["from_version"], m["to_version"]) for m in moves] == [(None, "1"), ("1", "2")]
    assert all(m["actor"] == "test-suite" and m["alias"] == "challenger" for m in moves)
    assert moves[1]["reason"] == "retrained with two more days"


def test_reproduce_gives_the_same_predictions(trained):
    world, _, _, _ = trained
    result = reproduce(WF, "1", world.registry, world.store)
    assert result.identical and result.rows > 1000


def test_afterlaunch_reproduce_reproduces_exactly(trained, capsys):
    world, _, _, _ = trained
    assert main(["reproduce", "2", "--home", str(world.root), "--workflow", WF.name]) == 0
    assert "version 2: reproduced exactly" in capsys.readouterr().out


def test_reproduce_stops_at_a_changed_or_missing_snapshot_naming_it(trained):
    world, _, _, _ = trained
    store = world.store
    manifest = world.registry.load_artifact_json("2", "lineage.json")
    partition, digest = sorted(manifest["raw_snapshots"].items())[3]
    path = world.snapshots / RAW / partition / f"{digest}.parquet"
    original = path.read_bytes()
    try:
        frame = store.read(RAW, partition, digest)
        frame.iloc[1:].to_parquet(path, index=False)  # someone edited the snapshot
        assert content_hash(frame.iloc[1:]) != digest
        with pytest.raises(SnapshotMissing, match=f"of raw partition {partition} changed on disk"):
            reproduce(WF, "2", world.registry, store)
        path.unlink()
        with pytest.raises(SnapshotMissing, match=f"of raw partition {partition} is missing"):
            reproduce(WF, "2", world.registry, store)
    finally:
        path.write_bytes(original)
    assert reproduce(WF, "2", world.registry, store).identical  # whole again


def test_unreachable_registry_fails_the_asset_and_moves_no_alias(trained, monkeypatch):
    world, _, _, _ = trained
    registry = world.registry  # the home's own store, read before the URI is broken
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("AFTERLAUNCH_MLFLOW_URI", f"http://127.0.0.1:{port}")
    instance = DagsterInstance.from_config(str(world.home.dagster_home))
    outcome = train(world, END, "should not register", instance=instance)
    step = WF.op(CHALLENGER)
    assert not outcome.success and step in outcome.failed_steps
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
    world, _, _, _ = trained
    store = world.store
    manifest = world.registry.load_artifact_json("2", "lineage.json")
    test_set = store.read(EVAL_SET, None, manifest["eval_test_set_sha256"])
    eval_ids = set(test_set[WF.entity.id])
    training_ids = set(store.read(TRAINING_SET, None)[WF.entity.id])
    assert eval_ids and not (eval_ids & training_ids)
    assert manifest["counts"]["held_out_for_evaluation"] > 0
    # The test set holds raw rows (each model computes its own features), the label, slices.
    assert set(WF.contracts.raw_columns) <= set(test_set.columns)
    assert WF.label.column in test_set and "eval_set_version" in test_set
    assert {f"slice:{s.name}" for s in WF.slices} <= set(test_set.columns)
