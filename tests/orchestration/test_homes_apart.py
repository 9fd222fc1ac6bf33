"""Homes stay apart: a copied home (a backup restore, a drill, a second demo) writes only into
itself, and a mistyped --home is refused instead of quietly becoming a new, empty home."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from contextlib import closing
from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml

from assets.names import CHALLENGER, EVAL_SET, TRAINING_SET
from orchestration.cli import main
from orchestration.home import ENV_VARS, HomeMissing, activate, registry_for, resolve_home
from orchestration.home_instance import EMBEDDED_INSTANCE, InstanceOutsideHome
from orchestration.home_relocate import RECORD
from tests.assets.ticket_home import WF, ticket_home
from workflows.ticket_escalation.simulation.crm import CrmSimulator

START = date(2026, 1, 5)
DAYS = 6
END = START + timedelta(days=DAYS - 1)
POLICY = {
    "training": {
        "window_days": 5,
        "min_rows": 1000,
        "model_family": "gradient_boosting",
        "hyperparameters": {"max_iter": 1, "max_depth": 1},
    },
    "evaluation": {"eval_set_size": 500, "eval_set_min_size": 300, "bootstrap_resamples": 100},
    "gate": {
        "floors": {"roc_auc": 0.5, "task_success": 0.4, "log_loss": 0.8, "ece": 0.2},
        "min_slice_size": 20,
    },
    "rollout": {"enabled": False},
}


@pytest.fixture(scope="module")
def original(tmp_path_factory):
    """A small home with a registered model behind @champion (version 1)."""
    root = tmp_path_factory.mktemp("apart")
    with ticket_home(root / "original", yaml.safe_dump(POLICY)) as world:
        CrmSimulator(world.source_url, seed=5, label_delay_days=1).write_days(START, END)
        for i in range(DAYS):
            assert world.run("raw_ingestion", (START + timedelta(days=i)).isoformat()).success
        assert world.run("draw_test_set", ops={EVAL_SET: {"end_date": END.isoformat()}}).success
        trained = world.run(
            "train_challenger",
            ops={
                TRAINING_SET: {"end_date": END.isoformat()},
                CHALLENGER: {"change_summary": "launch model", "actor": "tests"},
            },
        )
        assert trained.success, trained.step_errors
        assert world.registry.version_for_alias("champion") == "1"
        yield world.home, root


@pytest.fixture
def clean_env(monkeypatch):
    """A process environment as a new `afterlaunch` command starts with (restored after)."""
    for var in {*ENV_VARS, WF.source.url_env}:
        monkeypatch.setenv(var, "")
        monkeypatch.delenv(var)
    return monkeypatch


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _rows(database: Path, query: str) -> list[tuple]:
    with closing(sqlite3.connect(database)) as connection:
        return sorted(connection.execute(query).fetchall())


def fingerprint(root: Path) -> dict:
    """What a copy must never change in the home at `root`: its Dagster runs and events, its
    MLflow database (bytes, versions, aliases) and every artifact file."""
    dagster = root / "dagster"
    # Where the event log is now, or (the code before) under history/.
    [event_log] = [
        p for p in (dagster / "event_log.db", dagster / "history" / "event_log.db") if p.exists()
    ]
    mlflow_db = root / "mlflow" / "mlflow.db"
    artifacts = root / "mlflow" / "artifacts"
    return {
        "mlflow.db sha256": _sha256(mlflow_db),  # first: before anything reads the file
        "runs": _rows(dagster / "history" / "runs.db", "SELECT count(*) FROM runs"),
        "events": _rows(event_log, "SELECT count(*), count(DISTINCT run_id) FROM event_logs"),
        "versions": _rows(mlflow_db, "SELECT name, version, storage_location FROM model_versions"),
        "aliases": _rows(mlflow_db, "SELECT alias, version FROM registered_model_aliases"),
        "artifacts": sorted(
            (str(p.relative_to(artifacts)), _sha256(p)) for p in artifacts.rglob("*") if p.is_file()
        ),
    }


def test_a_copied_home_writes_only_into_itself_and_loads_its_models_without_the_original(
    original, clean_env
):
    home, root = original
    before = fingerprint(home.root)
    copy = root / "copy"
    shutil.copytree(home.root, copy)

    # Act on the copy as a person would: re-ingest a day, then train a second model.
    common = ["--home", str(copy), "--workflow", WF.name]
    assert main(["ingest", *common, "--raw-only", "--start", END.isoformat()]) == 0
    assert main(["train", *common, "--end", END.isoformat(), "--summary", "drill"]) == 0

    assert fingerprint(home.root) == before
    after_copy = fingerprint(copy)
    assert after_copy["events"][0][1] == before["events"][0][1] + 2  # the copy's two runs
    assert [str(v) for _, v, _ in after_copy["versions"]] == ["1", "2"]

    # Nothing in the copy names the original's folder any more.
    for path in (copy / "dagster" / "dagster.yaml", copy / "mlflow" / "mlflow.db", copy / RECORD):
        assert str(home.root).encode() not in path.read_bytes(), path
    assert json.loads((copy / RECORD).read_text()) == {"root": str(copy)}

    # The copy's models load from its own artifacts once the original is gone.
    away = root / "renamed-away"
    home.root.rename(away)
    try:
        registry = registry_for(resolve_home(copy), WF)
        for version in ("1", "2", "@champion"):
            assert registry.load_model(version) is not None, version
    finally:
        away.rename(home.root)


def test_activating_a_second_home_in_one_process_leaves_the_first_ones_settings(
    tmp_path, clean_env
):
    """Library callers (and tests) activate several homes in one process: the second must
    not keep the MLflow store or the source of the first."""
    first = activate(resolve_home(tmp_path / "first"), WF)
    second = activate(resolve_home(tmp_path / "second"), WF)
    assert str(first.root) not in second.mlflow_uri and str(second.root) in second.mlflow_uri
    assert str(second.root) in second.source_url_for(WF)
    clean_env.setenv("AFTERLAUNCH_MLFLOW_URI", "sqlite:////elsewhere/mlflow.db")  # a setting
    assert activate(first).mlflow_uri == "sqlite:////elsewhere/mlflow.db"


LEGACY = """\
# Embedded Dagster instance written by afterlaunch: SQLite storage under this folder.
# Production uses the repository's dagster.yaml (Postgres) instead.
telemetry:
  enabled: false
event_log_storage:
  module: dagster._core.storage.event_log
  class: ConsolidatedSqliteEventLogStorage
  config:
    base_dir: {history}
"""


def test_a_copy_of_a_home_written_before_is_upgraded_in_place(tmp_path, clean_env):
    """The copy of a home whose dagster.yaml named the original's event log by absolute path:
    the file is rewritten, the copy's own event log moves beside it, its MLflow store is made
    to name the copy, and the original folder is neither read nor created."""
    gone = tmp_path / "original"  # never created: only named by the copy's files
    copy = tmp_path / "copy"
    (copy / "dagster" / "history").mkdir(parents=True)
    history = json.dumps(str(gone / "dagster" / "history"))
    (copy / "dagster" / "dagster.yaml").write_text(LEGACY.format(history=history))
    (copy / "dagster" / "history" / "event_log.db").write_bytes(b"the copy's events")
    (copy / "mlflow").mkdir()
    with sqlite3.connect(copy / "mlflow" / "mlflow.db") as db:
        db.execute("CREATE TABLE experiments (artifact_location VARCHAR(256), name VARCHAR(50))")
        db.execute(
            "INSERT INTO experiments VALUES (?, ?), (?, ?)",
            (f"{gone.as_uri()}/mlflow/artifacts", "ours", "file:///srv/shared/artifacts", "not"),
        )

    activate(resolve_home(copy), create=False)  # a home from before the record: not refused

    assert (copy / "dagster" / "dagster.yaml").read_text() == EMBEDDED_INSTANCE
    assert (copy / "dagster" / "event_log.db").read_bytes() == b"the copy's events"
    assert not (copy / "dagster" / "history" / "event_log.db").exists()
    assert _rows(copy / "mlflow" / "mlflow.db", "SELECT * FROM experiments") == sorted(
        [
            (f"{copy.as_uri()}/mlflow/artifacts", "ours"),
            ("file:///srv/shared/artifacts", "not"),  # not under the old home: left alone
        ]
    )
    assert json.loads((copy / RECORD).read_text()) == {"root": str(copy)}
    assert not gone.exists()


@pytest.mark.bad_input
def test_a_dagster_yaml_pointing_outside_its_home_is_refused(tmp_path, clean_env):
    home = resolve_home(tmp_path / "home")
    (home.dagster_home).mkdir(parents=True)
    other = tmp_path / "other-home" / "dagster"
    text = (
        "event_log_storage:\n  module: dagster._core.storage.event_log\n"
        f"  class: ConsolidatedSqliteEventLogStorage\n  config:\n    base_dir: {other}\n"
    )
    (home.dagster_home / "dagster.yaml").write_text(text)
    with pytest.raises(InstanceOutsideHome) as refused:
        activate(home)
    said = str(refused.value)
    assert f"event_log_storage.config.base_dir to {other}, outside the home {home.root}" in said
    assert (home.dagster_home / "dagster.yaml").read_text() == text
    assert not other.exists()


@pytest.mark.bad_input
def test_a_mistyped_home_is_refused_and_nothing_is_created(tmp_path, clean_env):
    typo = tmp_path / "hmoe"
    for command in (["status"], ["ingest", "--start", "2026-01-05"], ["ui"], ["mlflow-ui"]):
        with pytest.raises(HomeMissing) as refused:
            main([*command, "--home", str(typo), "--workflow", WF.name])
        assert str(refused.value) == (
            f"{typo} is not an afterlaunch home (no such folder): check --home, or pass "
            "--create to make a new home there"
        )
    assert not typo.exists()

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(HomeMissing, match=f"{empty} is not an afterlaunch home .*--create"):
        main(["status", "--home", str(empty), "--workflow", WF.name])
    assert list(empty.iterdir()) == []

    # Asked for, the home is made (and a later command finds it without --create).
    assert main(["status", "--home", str(typo), "--workflow", WF.name, "--create"]) == 1
    assert (typo / RECORD).exists() and (typo / "dagster" / "dagster.yaml").exists()
    assert main(["status", "--home", str(typo), "--workflow", WF.name]) == 1
