"""A registry for tests that need versions and aliases but no model: versions 1-3 of the
ticket workflow's registered model, created once per module and copied into each home."""

from __future__ import annotations

import shutil
from pathlib import Path

from mlflow import MlflowClient

from resources.registry import ModelRegistry
from workflows.ticket_escalation.workflow import WORKFLOW as WF


def make_template(folder: Path, versions: int = 3) -> Path:
    db = folder / "mlflow.db"
    client = MlflowClient(tracking_uri=f"sqlite:///{db}", registry_uri=f"sqlite:///{db}")
    client.create_registered_model(WF.model_name)
    for number in range(1, versions + 1):
        made = client.create_model_version(WF.model_name, source=str(folder / f"m{number}"))
        assert (made.version, made.status) == (number, "READY")
    return db


def registry_in(home, template: Path) -> ModelRegistry:
    """The home's registry, holding the template's versions (no alias set)."""
    shutil.copy(template, home.mlflow_uri.removeprefix("sqlite:///"))
    return ModelRegistry(
        tracking_uri=home.mlflow_uri,
        artifact_root=home.mlflow_artifacts,
        model_name=WF.model_name,
        experiment_name=WF.experiment_name,
    )
