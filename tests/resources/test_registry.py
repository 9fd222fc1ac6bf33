"""ModelRegistry on an embedded MLflow store: a SQLite file and an artifact folder in tmp_path.

Every test gets its own store, copied from one migrated template (MLflow's first-use migrations
take seconds; a copy takes milliseconds).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from resources.registry import (
    AliasMove,
    ModelRegistry,
    RegisteredVersion,
    RegistryError,
    mask_uri,
)

FAST_S = 10  # "fails fast": well under MLflow's default retries (minutes)
# What the ticket workflow's definitions configure (one registered model per workflow).
MODEL_NAME = "ticket-escalation"
EXPERIMENT = "afterlaunch-ticket_escalation"


def registry_at(tracking_uri: str, artifact_root: str, **overrides) -> ModelRegistry:
    """The ticket workflow's registry on the given store."""
    settings = {"model_name": MODEL_NAME, "experiment_name": EXPERIMENT, **overrides}
    return ModelRegistry(tracking_uri=tracking_uri, artifact_root=artifact_root, **settings)


def ticket_frame(rows: int = 40, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "channel": rng.choice(["email", "phone", "chat"], size=rows),
            "account_age_days": rng.integers(1, 900, size=rows).astype(float),
        }
    )
    labels = ((frame["channel"] == "phone") | (frame["account_age_days"] < 120)).to_numpy(int)
    return frame, labels


def train(c: float = 1.0):
    frame, labels = ticket_frame()
    model = make_pipeline(
        make_column_transformer(
            (OneHotEncoder(handle_unknown="ignore"), ["channel"]),
            (StandardScaler(), ["account_age_days"]),
        ),
        LogisticRegression(C=c),
    )
    return model.fit(frame, labels)


class ExplodingModel:
    """Looks like a classifier until asked for probabilities."""

    def predict(self, frame):
        return np.zeros(len(frame))

    def predict_proba(self, frame):
        raise ValueError("feature 'account_age_days' has an unexpected dtype")


def register(registry: ModelRegistry, model, **overrides) -> RegisteredVersion:
    frame, _ = ticket_frame()
    arguments = dict(
        model=model,
        input_example=frame.head(5),
        params={"model_family": "logistic_regression", "seed": 7, "hp.C": 1.0},
        metrics={"val_auc": 0.91, "val_log_loss": 0.33},
        run_tags={"lineage.training_set_sha256": "ab" * 32, "dagster.run_id": "run-1"},
        version_tags={"lineage.training_set_sha256": "ab" * 32, "owner": "team:ml"},
        artifacts={"lineage.json": {"feature_set": {"version": "v1"}, "days": ["2026-03-02"]}},
        run_name="challenger 2026-03-02",
        description="first model",
    )
    arguments.update(overrides)
    return registry.log_and_register(**arguments)


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def migrated_template(tmp_path_factory) -> Path:
    """An empty MLflow SQLite store with its schema created once for the module."""
    db = tmp_path_factory.mktemp("template") / "mlflow.db"
    registry_at(f"sqlite:///{db}", str(db.parent)).check_reachable()
    return db


@pytest.fixture
def registry(tmp_path, migrated_template) -> ModelRegistry:
    db = tmp_path / "mlflow" / "mlflow.db"
    db.parent.mkdir()
    shutil.copy(migrated_template, db)
    return registry_at(f"sqlite:///{db}", str(tmp_path / "mlflow" / "artifacts"))


def test_log_and_register_returns_a_ready_version_with_its_lineage(registry):
    model = train()
    frame, _ = ticket_frame()
    tracking_before, registry_before = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    env_before = os.environ.get("MLFLOW_TRACKING_URI")

    registered = register(registry, model)

    assert registered == RegisteredVersion(
        name=MODEL_NAME,
        version="1",
        run_id=registered.run_id,
        model_uri=f"models:/{MODEL_NAME}/1",
    )
    [listed] = registry.versions()
    assert listed["version"] == "1" and listed["status"] == "READY"
    assert listed["run_id"] == registered.run_id and listed["aliases"] == []
    assert listed["created"].endswith("+00:00")
    assert registry.version_tags("1") == {
        "lineage.training_set_sha256": "ab" * 32,
        "owner": "team:ml",
    }
    client = MlflowClient(tracking_uri=registry.tracking_uri)
    run = client.get_run(registered.run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "challenger 2026-03-02"
    assert run.data.params == {"model_family": "logistic_regression", "seed": "7", "hp.C": "1.0"}
    assert run.data.metrics == {"val_auc": 0.91, "val_log_loss": 0.33}
    assert run.data.tags["dagster.run_id"] == "run-1"
    assert client.get_experiment(run.info.experiment_id).name == EXPERIMENT
    version = client.get_model_version(MODEL_NAME, "1")
    assert version.source.startswith("models:/m-")  # MLflow 3: the LoggedModel, not runs:/
    assert version.description == "first model"
    # Artifacts live under the configured root, not ./mlruns.
    artifact_root = Path(registry.artifact_root)
    assert run.info.artifact_uri.startswith(artifact_root.as_uri())
    assert (artifact_root / "models").is_dir()
    assert registry.load_artifact_json("1", "lineage.json") == {
        "feature_set": {"version": "v1"},
        "days": ["2026-03-02"],
    }
    loaded = registry.load_model("1")
    np.testing.assert_allclose(loaded.predict_proba(frame), model.predict_proba(frame), rtol=1e-12)
    # No alias was moved by registering.
    assert registry.version_for_alias("challenger") is None
    # The fluent API's global URIs were only borrowed.
    assert mlflow.get_tracking_uri() == tracking_before
    assert mlflow.get_registry_uri() == registry_before
    assert os.environ.get("MLFLOW_TRACKING_URI") == env_before


def test_move_alias_records_every_move_and_the_alias_loads(registry):
    first, second = train(c=1.0), train(c=0.05)
    frame, _ = ticket_frame(rows=25, seed=3)
    assert register(registry, first).version == "1"
    assert register(registry, second, description="").version == "2"
    assert registry.version_for_alias("challenger") is None

    move = registry.move_alias("challenger", "1", actor="alice", reason="first challenger")
    assert isinstance(move, AliasMove)
    assert (move.model, move.alias, move.from_version, move.to_version) == (
        MODEL_NAME,
        "challenger",
        None,
        "1",
    )
    assert move.actor == "alice" and move.reason == "first challenger"
    assert move.at.endswith("+00:00")
    assert registry.version_for_alias("challenger") == "1"

    move = registry.move_alias("challenger", "2", actor="bob", reason="retrained")
    assert (move.from_version, move.to_version) == ("1", "2")
    assert move.as_dict() == {
        "model": MODEL_NAME,
        "alias": "challenger",
        "from_version": "1",
        "to_version": "2",
        "actor": "bob",
        "reason": "retrained",
        "at": move.at,
    }
    assert registry.version_for_alias("challenger") == "2"
    assert [v["aliases"] for v in registry.versions()] == [[], ["challenger"]]
    by_alias = registry.load_model("@challenger")
    np.testing.assert_allclose(
        by_alias.predict_proba(frame), second.predict_proba(frame), rtol=1e-12
    )
    assert not np.allclose(by_alias.predict_proba(frame), first.predict_proba(frame))

    with pytest.raises(RegistryError, match=r"version 99") as raised:
        registry.move_alias("challenger", "99", actor="bob", reason="typo")
    assert mask_uri(registry.tracking_uri) in str(raised.value)
    assert registry.version_for_alias("challenger") == "2"
    with pytest.raises(RegistryError, match="positive integer"):
        registry.move_alias("challenger", "latest", actor="bob", reason="typo")
    with pytest.raises(RegistryError, match="actor and reason"):
        registry.move_alias("challenger", "1", actor="", reason="who?")
    assert registry.version_for_alias("challenger") == "2"
    with pytest.raises(RegistryError, match="@champion"):
        registry.load_model("@champion")  # free alias: a clear error, not None


def test_unreachable_tracking_server_fails_fast_and_registers_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # MLflow must not fall back to ./mlruns either
    port = closed_port()
    uri = f"http://registry-user:s3cret-pw@127.0.0.1:{port}"
    registry = registry_at(uri, str(tmp_path / "artifacts"))

    started = time.monotonic()
    with pytest.raises(RegistryError) as raised:
        registry.check_reachable()
    assert time.monotonic() - started < FAST_S
    message = str(raised.value)
    assert f"http://registry-user:***@127.0.0.1:{port}" in message
    assert "s3cret-pw" not in message

    started = time.monotonic()
    with pytest.raises(RegistryError, match=rf"127\.0\.0\.1:{port}"):
        register(registry, train())
    assert time.monotonic() - started < FAST_S
    assert list(tmp_path.iterdir()) == []  # no artifacts, no ./mlruns
    # The scoped HTTP settings were restored.
    assert "MLFLOW_HTTP_REQUEST_MAX_RETRIES" not in os.environ
    assert "MLFLOW_HTTP_REQUEST_TIMEOUT" not in os.environ


def test_unreachable_or_broken_database_fails_fast(tmp_path):
    port = closed_port()
    postgres = registry_at(
        f"postgresql+psycopg2://mlflow:pg-secret@127.0.0.1:{port}/mlflow",
        str(tmp_path / "artifacts"),
    )
    started = time.monotonic()
    with pytest.raises(RegistryError) as raised:
        postgres.check_reachable()
    assert time.monotonic() - started < FAST_S  # MLflow alone retries for ~100 s
    assert f"mlflow:***@127.0.0.1:{port}/mlflow" in str(raised.value)
    assert "pg-secret" not in str(raised.value)

    not_a_db = tmp_path / "mlflow.db"
    not_a_db.write_bytes(b"this is not an SQLite file" * 100)
    broken = registry_at(f"sqlite:///{not_a_db}", str(tmp_path))
    started = time.monotonic()
    with pytest.raises(RegistryError, match="not a database"):
        broken.version_for_alias("champion")
    assert time.monotonic() - started < FAST_S

    with pytest.raises(RegistryError, match="relative"):
        registry_at("sqlite:///mlflow.db", ".").check_reachable()


def test_a_model_that_cannot_predict_registers_nothing_and_moves_no_alias(registry):
    assert register(registry, train()).version == "1"
    registry.move_alias("challenger", "1", actor="alice", reason="baseline")

    with pytest.raises(RegistryError, match="predict_proba.*unexpected dtype"):
        register(registry, ExplodingModel())

    assert [v["version"] for v in registry.versions()] == ["1"]
    assert registry.version_for_alias("challenger") == "1"


def test_a_failure_while_logging_marks_the_run_failed_and_registers_nothing(
    tmp_path, migrated_template
):
    db = tmp_path / "mlflow.db"
    shutil.copy(migrated_template, db)
    blocked = tmp_path / "artifacts"
    blocked.write_text("a file where the artifact folder should be")  # unwritable, even as root
    registry = registry_at(f"sqlite:///{db}", str(blocked))

    with pytest.raises(RegistryError, match="logging and registering") as raised:
        register(registry, train())
    assert mask_uri(registry.tracking_uri) in str(raised.value)

    assert registry.versions() == []
    assert registry.version_for_alias("challenger") is None
    client = MlflowClient(tracking_uri=registry.tracking_uri)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    [run] = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FAILED"


def test_a_version_that_does_not_become_ready_is_not_returned(registry, monkeypatch):
    real = MlflowClient.get_model_version

    def failed_registration(self, name, version):
        found = real(self, name, version)
        found._status = "FAILED_REGISTRATION"
        found._status_message = "artifact copy failed"
        return found

    monkeypatch.setattr(MlflowClient, "get_model_version", failed_registration)
    with pytest.raises(RegistryError, match="FAILED_REGISTRATION.*artifact copy failed"):
        register(registry, train())
    with pytest.raises(RegistryError, match="FAILED_REGISTRATION"):
        registry.move_alias("challenger", "1", actor="alice", reason="not ready")
    monkeypatch.undo()

    assert registry.version_for_alias("challenger") is None
    client = MlflowClient(tracking_uri=registry.tracking_uri)
    [run] = client.search_runs([client.get_experiment_by_name(EXPERIMENT).experiment_id])
    assert run.info.status == "FAILED"


def test_too_long_tag_values_are_refused_by_name_before_anything_is_logged(registry):
    with pytest.raises(RegistryError, match=r"version tag 'lineage\.manifest'.*100000"):
        register(registry, train(), version_tags={"lineage.manifest": "x" * 100_001})
    with pytest.raises(RegistryError, match=r"run tag 'lineage\.days'.*8000"):
        register(registry, train(), run_tags={"lineage.days": "2026-03-02," * 800})
    with pytest.raises(RegistryError, match=r"param 'hp\.grid'.*6000"):
        register(registry, train(), params={"hp.grid": "1" * 6001})
    with pytest.raises(RegistryError, match=r"version tag 'owner' must be a string"):
        register(registry, train(), version_tags={"owner": None})

    client = MlflowClient(tracking_uri=registry.tracking_uri)
    assert client.get_experiment_by_name(EXPERIMENT) is None  # nothing was logged
    assert registry.versions() == []

    register(registry, train())
    with pytest.raises(RegistryError, match=r"version tag 'note'.*100000"):
        registry.set_version_tags("1", {"note": "y" * 100_001})
    registry.set_version_tags("1", {"note": "reviewed", "owner": "team:risk"})
    assert registry.version_tags("1") == {
        "lineage.training_set_sha256": "ab" * 32,
        "owner": "team:risk",
        "note": "reviewed",
    }


def test_missing_artifacts_and_versions_are_named(registry):
    register(registry, train())
    with pytest.raises(RegistryError, match="missing.json"):
        registry.load_artifact_json("1", "missing.json")
    with pytest.raises(RegistryError, match="version 7"):
        registry.version_tags("7")
    with pytest.raises(RegistryError, match="plain file name"):
        register(registry, train(), artifacts={"../escape.json": {}})
    assert [v["version"] for v in registry.versions()] == ["1"]


def test_mask_uri_hides_passwords():
    assert mask_uri("postgresql+psycopg2://u:p%40ss@db:5432/mlflow") == (
        "postgresql+psycopg2://u:***@db:5432/mlflow"
    )
    assert (
        mask_uri("https://host/path?user=a&password=b") == "https://host/path?user=a&password=***"
    )
    assert mask_uri("sqlite:////tmp/mlflow.db") == "sqlite:////tmp/mlflow.db"
    assert mask_uri("http://127.0.0.1:5000") == "http://127.0.0.1:5000"


def test_model_tags_and_alias_deletion(registry):
    assert registry.model_tags() == {}  # nothing registered yet: empty, not an error
    register(registry, train())
    registry.set_model_tag("champion_history", '[{"version": "1"}]')
    registry.set_model_tag("champion_history", "[]")  # overwrite
    assert registry.model_tags() == {"champion_history": "[]"}
    with pytest.raises(RegistryError, match=r"registered model tag 'big'.*100000"):
        registry.set_model_tag("big", "z" * 100_001)
    assert registry.model_tags() == {"champion_history": "[]"}

    registry.move_alias("champion", "1", actor="alice", reason="launch")
    assert registry.delete_alias("champion") == "1"
    assert registry.version_for_alias("champion") is None
    assert registry.delete_alias("champion") is None  # already free: no error


def test_concurrent_calls_from_threads_leave_the_environment_as_it_was(registry):
    """check_reachable scopes MLFLOW_HTTP_* in os.environ (process-global): threads calling it
    at once must not leave one thread's scoped value behind."""
    register(registry, train())
    errors = []

    def reader():
        try:
            for _ in range(15):
                registry.check_reachable()
        except Exception as exc:  # collected: the assertion below reports it
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert "MLFLOW_HTTP_REQUEST_MAX_RETRIES" not in os.environ
    assert "MLFLOW_HTTP_REQUEST_TIMEOUT" not in os.environ


def test_model_name_is_required_and_the_ticket_workflow_uses_these_names():
    with pytest.raises(ValueError, match="model_name"):
        ModelRegistry(tracking_uri="sqlite:////tmp/unused.db", artifact_root="/tmp")
    from orchestration.definitions import resources
    from workflows.ticket_escalation.workflow import WORKFLOW

    configured = resources(WORKFLOW)["registry"]
    assert (configured.model_name, configured.experiment_name) == (MODEL_NAME, EXPERIMENT)


def test_two_workflows_on_one_store_keep_their_models_apart(registry):
    other = registry_at(
        registry.tracking_uri,
        registry.artifact_root,
        model_name="invoice-matching",
        experiment_name="afterlaunch-invoice_matching",
    )
    register(registry, train(c=1.0))
    register(registry, train(c=0.5))
    mine = train(c=0.05)
    assert register(other, mine).version == "1"  # its own numbering
    registry.move_alias("champion", "2", actor="alice", reason="ticket launch")
    other.move_alias("champion", "1", actor="bob", reason="invoice launch")

    assert [v["version"] for v in registry.versions()] == ["1", "2"]
    assert [(v["version"], v["aliases"]) for v in other.versions()] == [("1", ["champion"])]
    assert registry.version_for_alias("champion") == "2"
    frame, _ = ticket_frame(rows=10, seed=4)
    np.testing.assert_allclose(
        other.load_model("@champion").predict_proba(frame), mine.predict_proba(frame), rtol=1e-12
    )
    client = MlflowClient(tracking_uri=registry.tracking_uri)
    assert {m.name for m in client.search_registered_models()} == {
        MODEL_NAME,
        "invoice-matching",
    }
    for name, experiment in [
        (MODEL_NAME, EXPERIMENT),
        ("invoice-matching", "afterlaunch-invoice_matching"),
    ]:
        runs = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
        versions = client.search_model_versions(f"name = '{name}'")
        assert {r.info.run_id for r in runs} == {v.run_id for v in versions}
