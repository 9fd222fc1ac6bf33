"""Loading a registered model runs none of its code: skops only, with the project's allow-list.

Versions are written here as anyone with MLflow access could write them (``mlflow.sklearn``
with a pickle format, or skops with its own list of trusted types), each holding an object
that creates a marker file when it is deserialized. They are then read through the registry
and through the path the challenger evaluation takes (``assets.models.load_served``).
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from urllib.parse import urlsplit

import mlflow
import numpy as np
import pytest
import yaml
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from assets.model_family import CLASSIFIERS
from assets.models import load_served
from resources import model_format
from resources.registry import ModelRegistry, RegistryError, _fluent_uris
from tests.resources.test_registry import register, ticket_frame
from workflows.ticket_escalation.workflow import WORKFLOW as WF


class PickleTrap:
    """Unpickling it touches ``path``: code chosen by whoever wrote the file."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))

    def predict(self, frame):
        return np.zeros(len(frame))


class SkopsTrap:
    """skops rebuilds an object through its ``__setstate__``: this one touches ``path``."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __setstate__(self, state):
        Path(state["path"]).touch()
        self.__dict__.update(state)

    def predict(self, frame):
        return np.zeros(len(frame))


SKOPS_TRAP = f"{SkopsTrap.__module__}.{SkopsTrap.__qualname__}"


def served_model():
    """A model of the project's own gradient-boosting family (calibrated, binned trees)."""
    frame, labels = ticket_frame(rows=60)
    pipeline = CLASSIFIERS["gradient_boosting"].build(
        ["channel"], ["account_age_days"], {"max_iter": 15}, seed=3
    )
    return pipeline.fit(frame, labels)


@pytest.fixture(scope="module")
def served():
    return served_model()


@pytest.fixture(scope="module")
def registry(tmp_path_factory, served) -> ModelRegistry:
    root = tmp_path_factory.mktemp("safe-loading")
    registry = ModelRegistry(
        tracking_uri=f"sqlite:///{root / 'mlflow.db'}",
        artifact_root=str(root / "artifacts"),
        model_name=WF.model_name,
        experiment_name=WF.experiment_name,
    )
    # As the project's training registers it (the experiment is created on the way).
    trusted = list(model_format.TRUSTED_TYPES)
    assert register(registry, served, trusted_types=trusted).version == "1"
    registry.move_alias("champion", "1", actor="alice", reason="launch")
    return registry


def client_of(registry: ModelRegistry) -> MlflowClient:
    return MlflowClient(tracking_uri=registry.tracking_uri, registry_uri=registry.tracking_uri)


def write_version(registry: ModelRegistry, model, **log_model) -> str:
    """Log and register ``model`` straight through MLflow, as a notebook would."""
    client = client_of(registry)
    experiment = client.get_experiment_by_name(registry.experiment_name)
    with _fluent_uris(registry.tracking_uri, registry.tracking_uri):
        with mlflow.start_run(experiment_id=experiment.experiment_id) as run:
            # pip_requirements given: MLflow would otherwise load the model to infer them.
            info = mlflow.sklearn.log_model(model, name="model", pip_requirements=[], **log_model)
        # Inside: the registry resolves a models:/m-<id> source through the global tracking URI.
        created = client.create_model_version(
            registry.model_name, info.model_uri, run.info.run_id, model_id=info.model_id
        )
    return str(created.version)


def stored_folder(registry: ModelRegistry, version: str) -> Path:
    client = client_of(registry)
    return Path(urlsplit(client.get_model_version_download_uri(registry.model_name, version)).path)


@pytest.mark.bad_input
@pytest.mark.parametrize("serialization", ["cloudpickle", "pickle"])
def test_a_pickled_version_behind_challenger_is_refused_and_runs_no_code(
    registry, tmp_path, serialization
):
    marker = tmp_path / "code-ran"
    version = write_version(registry, PickleTrap(marker), serialization_format=serialization)
    assert not marker.exists()
    registry.move_alias("challenger", version, actor="mallory", reason="try this one")

    loads = {
        "registry @challenger": lambda: registry.load_model("@challenger"),
        "registry version": lambda: registry.load_model(version),
        "challenger evaluation": lambda: load_served(WF, registry, version),
    }
    for path, load in loads.items():
        with pytest.raises(RegistryError) as raised:
            load()
        message = str(raised.value)
        assert f"version {version}" in message, path
        assert f"{serialization!r} format" in message, path
        assert "only skops" in message, path
        assert not marker.exists(), f"{path} ran the model's code"

    # MLflow's own loader is gated for the process too.
    assert os.environ["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] == "false"
    with pytest.raises(MlflowException, match="MLFLOW_ALLOW_PICKLE_DESERIALIZATION"):
        mlflow.sklearn.load_model(str(stored_folder(registry, version)))
    assert not marker.exists()

    # The trap is real: unpickling the stored file does run its code.
    with (stored_folder(registry, version) / "model.pkl").open("rb") as handle:
        pickle.load(handle)
    assert marker.exists()


@pytest.mark.bad_input
def test_a_skops_version_trusting_a_foreign_type_in_its_mlmodel_is_refused(registry, tmp_path):
    marker = tmp_path / "code-ran"
    version = write_version(
        registry,
        SkopsTrap(marker),
        serialization_format="skops",
        skops_trusted_types=[SKOPS_TRAP],
    )
    marker.unlink()  # MLflow read the file back once while saving, with the list it was given
    mlmodel = yaml.safe_load((stored_folder(registry, version) / "MLmodel").read_text())
    assert mlmodel["flavors"]["sklearn"]["skops_trusted_types"] == [SKOPS_TRAP]
    registry.move_alias("challenger", version, actor="mallory", reason="trust me")

    for load in (
        lambda: registry.load_model("@challenger"),
        lambda: load_served(WF, registry, version),
    ):
        with pytest.raises(RegistryError) as raised:
            load()
        message = str(raised.value)
        assert f"version {version}" in message and SKOPS_TRAP in message
        assert "outside the project's skops allow-list" in message
        assert not marker.exists()


def test_the_projects_own_models_load_and_predict_identically(registry, served):
    frame, _ = ticket_frame(rows=30, seed=5)
    expected = served.predict_proba(frame)
    for ref in ("1", "@champion"):
        np.testing.assert_array_equal(registry.load_model(ref).predict_proba(frame), expected)
    mlmodel = yaml.safe_load((stored_folder(registry, "1") / "MLmodel").read_text())
    sklearn = mlmodel["flavors"]["sklearn"]
    assert sklearn["serialization_format"] == "skops"
    # What MLflow was told to trust while saving is what the model holds, all on the list.
    assert set(sklearn["skops_trusted_types"]) <= set(model_format.TRUSTED_TYPES)
    assert (
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"
        in (sklearn["skops_trusted_types"])
    )


@pytest.mark.bad_input
def test_registration_refuses_a_pickle_even_if_mlflows_defaults_change(registry, monkeypatch):
    before = registry.versions()
    real = mlflow.sklearn.log_model

    def pickling(*args, **kwargs):
        return real(*args, **{**kwargs, "serialization_format": "cloudpickle"})

    monkeypatch.setattr(mlflow.sklearn, "log_model", pickling)
    with pytest.raises(RegistryError, match=r"run [0-9a-f]{32} is stored in the 'cloudpickle'"):
        register(registry, served_model(), run_name="a pickle slipped in")
    monkeypatch.undo()

    assert registry.versions() == before
    client = client_of(registry)
    experiment = client.get_experiment_by_name(registry.experiment_name)
    [run] = client.search_runs(
        [experiment.experiment_id], "attributes.run_name = 'a pickle slipped in'"
    )
    assert run.info.status == "FAILED"


@pytest.mark.bad_input
def test_registration_refuses_a_type_outside_the_list_whatever_the_caller_trusts(
    registry, tmp_path
):
    before = registry.versions()
    client = client_of(registry)
    experiment = client.get_experiment_by_name(registry.experiment_name)
    runs_before = len(client.search_runs([experiment.experiment_id]))
    trap = SkopsTrap(tmp_path / "code-ran")

    with pytest.raises(
        RegistryError, match=f"outside the project's skops allow-list: {SKOPS_TRAP}"
    ):
        register(registry, trap, trusted_types=[SKOPS_TRAP])

    assert registry.versions() == before
    assert len(client.search_runs([experiment.experiment_id])) == runs_before  # nothing logged
