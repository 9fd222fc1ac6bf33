"""The MLflow model registry as a Dagster resource: the champion/challenger store.

One :class:`ModelRegistry` talks to one MLflow tracking store and one model registry (the same
URI unless ``registry_uri`` is given): an embedded SQLite file (``sqlite:////abs/mlflow.db``), a
Postgres database (``postgresql+psycopg2://...``) or an MLflow server (``http(s)://...``).

What it does, and the MLflow 3.17 facts it relies on:

* ``log_and_register`` logs ONE run (params, metrics, run tags, JSON artifacts such as
  ``lineage.json``, and the sklearn model with a signature inferred from ``predict_proba`` for a
  classifier, ``predict`` otherwise), then
  creates a registered model version whose ``source`` is the logged model's ``models:/m-<id>``
  URI (MLflow 3 LoggedModel), so ``models:/NAME/VERSION`` and ``models:/NAME@ALIAS`` both load.
  It never moves an alias: promotion is a separate, recorded decision.
* Stages are deprecated; the registry is driven by aliases (``@challenger``, ``@champion``).
  MLflow keeps no alias history, so :meth:`ModelRegistry.move_alias` returns an
  :class:`AliasMove` record that the caller stores (Dagster metadata).
* MLflow silently truncates run tags (> 8000 chars) and params (> 6000 chars); version tags are
  limited to 100 000 chars. Every limit is checked up front, before anything is logged, and a
  :class:`RegistryError` names the offending key.
* An unreachable store fails fast: database URIs are probed with one short connection before
  MLflow's own engine (which retries for ~100 s); HTTP calls in :meth:`check_reachable` run with
  no retries and a short timeout. ``log_and_register`` and ``move_alias`` call it first.
* A lost store is not recreated: SQLAlchemy and MLflow create a missing SQLite file (and an
  empty schema) on first connection, so a deleted ``mlflow.db`` used to come back empty and
  every version "not found". The probe refuses a missing SQLite file when the artifact root
  holds runs or logged models (:class:`StoreMissing`); a brand-new store (no file, no
  artifacts) is still created on first use.
* Models are stored and loaded as skops only (see :mod:`resources.model_format`):
  ``load_model`` downloads the version's MLmodel file first, refuses any other format naming
  the version and the format, then loads the skops file with the project's allow-list, never
  the one the MLmodel file carries. ``log_and_register`` refuses a model holding a type outside
  that list before logging, and checks after logging that the stored model is skops and
  loads back with the same outputs. MLflow's pickle gate is set off for the process on import.
* Every failure surfaces as :class:`RegistryError`, naming the password-masked URI and what
  failed. Nothing is swallowed and no method falls back to a default.

The fluent MLflow API (needed to log a model) reads a process-global tracking URI. It is set
only inside the methods that need it, under a lock, and the previous global state is restored.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import tempfile
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import dagster as dg
import mlflow
import mlflow.sklearn
import numpy as np
import pandas as pd
import sqlalchemy as sa
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.environment_variables import (
    MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR,
    MLFLOW_HTTP_REQUEST_MAX_RETRIES,
    MLFLOW_HTTP_REQUEST_TIMEOUT,
    MLFLOW_REGISTRY_URI,
    MLFLOW_TRACKING_URI,
)
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
from mlflow.tracking._model_registry import utils as _registry_utils
from mlflow.tracking._tracking_service import utils as _tracking_utils
from mlflow.utils.validation import (
    MAX_ENTITY_KEY_LENGTH,
    MAX_MODEL_REGISTRY_TAG_KEY_LENGTH,
    MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH,
    MAX_PARAM_VAL_LENGTH,
    MAX_TAG_VAL_LENGTH,
)
from pydantic import Field

from resources import model_format
from resources.masking import mask, secrets_in

# Before any model is loaded in this process: MLflow's loaders deserialize pickles (and skops
# with the artifact's own trusted types) while this is true, its default.
model_format.forbid_pickle_loading()

READY = "READY"
MODEL_ARTIFACT_NAME = "model"
CONFIGURATION_FOLDER = "configuration"  # a staged pipeline's registered settings
CHECK_TIMEOUT_S = 5  # per probe / HTTP request in check_reachable
AWAIT_READY_S = 300  # how long log_and_register waits for a version to become READY
_DATABASE_SCHEMES = {"sqlite", "postgresql", "postgres", "mysql", "mssql"}
# What a model logged here needs at load time (listed explicitly: MLflow's own inference runs
# the model in a subprocess, takes ~6 s and picks up whatever the test runner imported).
_MODEL_REQUIREMENTS = ("mlflow", "scikit-learn", "skops", "numpy", "scipy", "pandas")
_ARTIFACT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*\.json$")
_VERSION = re.compile(r"^[1-9][0-9]*$")
_RUN_ID = re.compile(r"^[0-9a-f]{32}$")  # a run's folder in an artifact root
_LOGGED_MODELS = "models"  # MLflow 3 keeps logged models under <artifact root>/models/m-<id>

# The fluent API reads process-global URIs (and _scoped_env sets process-global environment
# variables): one user at a time in this process.
_FLUENT_LOCK = threading.RLock()
# Downloads draw a tqdm bar on stderr by default: noise in Dagster's captured logs.
_QUIET_DOWNLOADS = {MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR.name: "false"}


class RegistryError(RuntimeError):
    """A registry operation failed. The message names the (password-masked) URI and the step."""


class StoreMissing(RegistryError):
    """A SQLite store file is gone while its artifact root shows it held runs: it must be
    restored, not recreated empty."""


@dataclass(frozen=True)
class RegisteredVersion:
    name: str
    version: str
    run_id: str
    model_uri: str  # models:/NAME/VERSION


@dataclass(frozen=True)
class AliasMove:
    """One move of an alias, as recorded by the project (MLflow keeps no alias history)."""

    model: str
    alias: str
    from_version: str | None  # None when the alias was free
    to_version: str
    actor: str
    reason: str
    at: str  # ISO 8601, UTC

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def mask_uri(uri: str) -> str:
    """The URI with its secrets replaced by ``***`` (see :func:`resources.masking.mask`)."""
    return mask(uri, uri)


def _secrets_in(uri: str) -> list[str]:
    return secrets_in(uri)


def _is_database_uri(uri: str) -> bool:
    scheme = uri.split("://", 1)[0].split("+", 1)[0].lower() if "://" in uri else ""
    return scheme in _DATABASE_SCHEMES


def _iso_utc_from_millis(millis: int | None) -> str | None:
    if millis is None:
        return None
    return datetime.fromtimestamp(millis / 1000, tz=UTC).isoformat()


def _restore_env(previous: Mapping[str, str | None]) -> None:
    for name, value in previous.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@contextmanager
def _scoped_env(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of the block; restore them afterwards.
    os.environ is process-global: threads take turns (else one thread restores the value
    another scoped, and it stays set for good)."""
    with _FLUENT_LOCK:
        previous = {name: os.environ.get(name) for name in values}
        os.environ.update(values)
        try:
            yield
        finally:
            _restore_env(previous)


@contextmanager
def _fluent_uris(tracking_uri: str, registry_uri: str) -> Iterator[None]:
    """Point the fluent MLflow API at our store for the block, then restore the global state."""
    with _FLUENT_LOCK:
        previous_tracking = _tracking_utils._tracking_uri
        previous_registry = _registry_utils._registry_uri
        previous_env = {
            var.name: os.environ.get(var.name) for var in (MLFLOW_TRACKING_URI, MLFLOW_REGISTRY_URI)
        }
        mlflow.set_tracking_uri(tracking_uri)
        mlflow.set_registry_uri(registry_uri)
        try:
            yield
        finally:
            mlflow.set_tracking_uri(previous_tracking)
            mlflow.set_registry_uri(previous_registry)
            _restore_env(previous_env)  # set_*_uri(None) does not restore these


def _model_requirements() -> list[str]:
    pins = []
    for package in _MODEL_REQUIREMENTS:
        try:
            pins.append(f"{package}=={importlib_metadata.version(package)}")
        except importlib_metadata.PackageNotFoundError:
            continue  # not installed here, so the model cannot depend on it
    return pins


def _same_outputs(expected: Any, got: Any, predict_fn: str) -> None:
    """A model read back from its skops file must answer as the trained one did."""
    left, right = np.asarray(expected), np.asarray(got)
    if left.shape == right.shape:
        if left.dtype.kind in "fc" and right.dtype.kind in "fc":
            if np.allclose(left, right, rtol=1e-12, atol=0, equal_nan=True):
                return
        elif np.array_equal(left, right):
            return
    raise RuntimeError(
        f"the stored model's {predict_fn} differs from the trained model's on the input "
        "example once read back from its skops file; nothing was registered"
    )


def _check_tags(kind: str, tags: Mapping[str, Any], key_limit: int, value_limit: int) -> None:
    for key, value in tags.items():
        if not isinstance(key, str) or not key:
            raise ValueError(f"{kind} key {key!r} must be a non-empty string")
        if not isinstance(value, str):
            raise ValueError(
                f"{kind} {key!r} must be a string, got {type(value).__name__}: {value!r:.80}"
            )
        if len(key) > key_limit:
            raise ValueError(f"{kind} key {key[:80]!r}... is {len(key)} chars (limit {key_limit})")
        if len(value) > value_limit:
            raise ValueError(
                f"{kind} {key!r} has a {len(value)}-char value; MLflow's limit is {value_limit} "
                "(it would truncate or reject it): shorten it or log it as a JSON artifact"
            )


def _checked_inputs(
    params: dict[str, str], run_tags: dict, version_tags: dict, artifacts: dict[str, dict]
) -> dict[str, str]:
    """Refuse params, tags and artifact names MLflow would refuse half-way; the artifacts as
    the JSON text that is logged."""
    _check_tags("param", params, MAX_ENTITY_KEY_LENGTH, MAX_PARAM_VAL_LENGTH)
    _check_tags("run tag", run_tags, MAX_ENTITY_KEY_LENGTH, MAX_TAG_VAL_LENGTH)
    _check_tags(
        "version tag",
        version_tags,
        MAX_MODEL_REGISTRY_TAG_KEY_LENGTH,
        MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH,
    )
    texts = {}
    for name, content in artifacts.items():
        if not _ARTIFACT_NAME.match(name):
            raise ValueError(f"artifact name {name!r} must be a plain file name *.json")
        texts[name] = json.dumps(content, indent=2, sort_keys=True, allow_nan=False)
    return texts


class ModelRegistry(dg.ConfigurableResource):
    """The MLflow model registry (aliases, not stages) plus the tracking store behind it."""

    tracking_uri: str = Field(
        description="MLflow tracking URI: sqlite:////abs/mlflow.db, postgresql+psycopg2://..., "
        "or http(s)://server. May hold a password; it is masked in every message."
    )
    artifact_root: str = Field(
        description="Artifact location of the experiment this resource creates: a local folder "
        "(made absolute) or a URI such as s3://bucket/path."
    )
    registry_uri: str | None = Field(
        default=None, description="Model registry URI; defaults to tracking_uri."
    )
    model_name: str = Field(description="Registered model name (one per workflow).")
    experiment_name: str = Field(default="afterlaunch", description="MLflow experiment name.")

    # ------------------------------------------------------------------ plumbing

    @property
    def _registry_uri(self) -> str:
        return self.registry_uri or self.tracking_uri

    @property
    def _where(self) -> str:
        tracking, registry = mask_uri(self.tracking_uri), mask_uri(self._registry_uri)
        if tracking == registry:
            return f"MLflow store {tracking}"
        return f"MLflow tracking store {tracking} / registry {registry}"

    def _error(self, what: str, cause: BaseException | str | None = None) -> RegistryError:
        message = f"{what} failed on {self._where}"
        if cause is not None:
            detail = (
                str(cause)
                if isinstance(cause, str)
                else f"{type(cause).__name__}: {cause}".strip().rstrip(":")
            )
            for secret in _secrets_in(self.tracking_uri) + _secrets_in(self._registry_uri):
                detail = detail.replace(secret, "***")
            message += f": {detail}"
        return RegistryError(message)

    @contextmanager
    def _failing_as(self, what: str) -> Iterator[None]:
        """Turn any exception of the block into a RegistryError naming ``what``."""
        try:
            yield
        except RegistryError:
            raise
        except Exception as exc:
            raise self._error(what, exc) from exc

    def _probe_databases(self, timeout_s: int) -> None:
        """One short connection per database URI, before MLflow's engine (which retries ~100 s)
        and its first-use schema migrations. Every client passes here first, so this is also
        where a lost SQLite store (missing, or emptied) is refused before MLflow recreates it."""
        for uri in dict.fromkeys((self.tracking_uri, self._registry_uri)):
            if not _is_database_uri(uri):
                continue
            url = sa.make_url(uri)
            on_disk = False
            connect_args: dict[str, Any] = {}
            if url.get_backend_name() == "postgresql" and "connect_timeout" not in url.query:
                connect_args["connect_timeout"] = timeout_s
            if url.get_backend_name() == "sqlite":
                database = url.database or ""
                if database and database != ":memory:":
                    if not Path(database).is_absolute():
                        raise ValueError(
                            f"SQLite path {database!r} is relative (use sqlite:////abs/path.db)"
                        )
                    if not Path(database).exists():
                        self._refuse_a_lost_store(uri, "is missing")
                    Path(database).parent.mkdir(parents=True, exist_ok=True)  # as MLflow does
                    on_disk = True
            engine = sa.create_engine(url, connect_args=connect_args, poolclass=sa.pool.NullPool)
            try:
                with engine.connect() as conn:
                    tables = sa.inspect(conn).get_table_names()
            finally:
                engine.dispose()
            if on_disk and not tables:  # new (just created above), or truncated
                self._refuse_a_lost_store(uri, "holds no tables")

    def _refuse_a_lost_store(self, uri: str, state: str) -> None:
        """The SQLite file of ``uri`` is missing or empty: fine for a brand-new store, refused
        when the artifact root holds runs or logged models (the store existed and was lost)."""
        root = mask_uri(self.artifact_root)
        try:
            repository = get_artifact_repository(self._artifact_location())
            names = [e.path.rsplit("/", 1)[-1] for e in repository.list_artifacts() if e.is_dir]
            runs = sum(1 for name in names if _RUN_ID.match(name))
            models = sum(
                1
                for entry in repository.list_artifacts(_LOGGED_MODELS)
                if entry.is_dir and entry.path.rsplit("/", 1)[-1].startswith("m-")
            )
        except Exception as exc:
            raise self._error(
                f"looking in {root} for artifacts of the missing store {mask_uri(uri)} "
                "(to tell a new store from a lost one)",
                exc,
            ) from exc
        if runs or models:
            raise StoreMissing(
                f"the MLflow store at {mask_uri(uri)} {state} but {root} holds artifacts of "
                f"{runs} run{'' if runs == 1 else 's'} and {models} logged "
                f"model{'' if models == 1 else 's'}: restore it from backup; nothing was "
                "recreated"
            )

    def _client(self) -> MlflowClient:
        self._probe_databases(CHECK_TIMEOUT_S)
        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self._registry_uri)

    @property
    def artifact_location(self) -> str:
        """Where this registry's experiments keep artifacts (a URI)."""
        return self._artifact_location()

    def _artifact_location(self) -> str:
        if "://" in self.artifact_root:
            return self.artifact_root
        return Path(self.artifact_root).expanduser().resolve().as_uri()

    def _experiment_id(self, client: MlflowClient) -> str:
        experiment = client.get_experiment_by_name(self.experiment_name)
        if experiment is None:
            try:
                return client.create_experiment(
                    self.experiment_name, artifact_location=self._artifact_location()
                )
            except MlflowException as exc:  # created concurrently by another process
                experiment = client.get_experiment_by_name(self.experiment_name)
                if experiment is None:
                    raise exc from None
        if experiment.lifecycle_stage != "active":
            raise RuntimeError(
                f"experiment {self.experiment_name!r} is {experiment.lifecycle_stage}: "
                "restore it in the MLflow UI or choose another experiment_name"
            )
        return experiment.experiment_id

    def _version_str(self, version: str | int) -> str:
        text = str(version).strip()
        if not _VERSION.match(text):
            raise self._error(
                f"reading {self.model_name!r} version {version!r}",
                "a version is a positive integer such as '3'",
            )
        return text

    def _get_version(self, client: MlflowClient, version: str) -> ModelVersion:
        return client.get_model_version(self.model_name, version)

    def _ensure_registered_model(self, client: MlflowClient) -> None:
        try:
            client.create_registered_model(self.model_name)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise

    def _quoted_name(self) -> str:
        if "'" in self.model_name:
            raise ValueError(f"model_name {self.model_name!r} must not contain a quote")
        return self.model_name

    # ------------------------------------------------------------------ API

    def check_reachable(self) -> None:
        """Fail fast (seconds, not minutes) with a RegistryError if the store is unreachable or
        broken: one probe connection per database URI, then a tracking and a registry query
        with HTTP retries off and a short timeout. Creates the schema of an empty database."""
        scoped = {
            MLFLOW_HTTP_REQUEST_MAX_RETRIES.name: "0",
            MLFLOW_HTTP_REQUEST_TIMEOUT.name: str(CHECK_TIMEOUT_S),
        }
        with self._failing_as("reaching the registry"), _scoped_env(scoped):
            client = self._client()
            client.search_experiments(max_results=1)
            client.search_registered_models(max_results=1)

    def log_and_register(
        self,
        *,
        model: Any,
        input_example: pd.DataFrame,
        params: dict,
        metrics: dict,
        run_tags: dict[str, str],
        version_tags: dict[str, str],
        artifacts: dict[str, dict],
        run_name: str,
        description: str = "",
        trusted_types: list[str] | None = None,
    ) -> RegisteredVersion:
        """Log one run (params, metrics, run tags, the sklearn model in skops format with the
        signature inferred on ``input_example``, each JSON artifact) and register it as a new
        READY version tagged with ``version_tags``. Does NOT move any alias. Raises
        RegistryError on any failure; the run is then marked FAILED and no version is returned.

        Only what the project can load back is registered: a model holding a type outside the
        project's skops allow-list (``resources.model_format.TRUSTED_TYPES``) is refused before
        anything is logged, and the stored model must be skops and give the same outputs on
        ``input_example`` once loaded back. ``trusted_types`` (what the caller expects the model
        to hold beyond skops's defaults) widens nothing: a type outside the project's list is
        refused even when listed there."""
        what = f"logging and registering a new version of {self.model_name!r}"
        with self._failing_as(f"{what} (checking the inputs)"):
            str_params = {str(k): str(v) for k, v in params.items()}
            texts = _checked_inputs(str_params, run_tags, version_tags, artifacts)
            float_metrics = {}
            for key, value in metrics.items():
                if isinstance(value, bool | str | bytes):
                    raise ValueError(f"metric {key!r} must be a number, got {value!r:.80}")
                float_metrics[str(key)] = float(value)  # numpy scalars too
            if not isinstance(input_example, pd.DataFrame) or input_example.empty:
                raise ValueError("input_example must be a non-empty DataFrame")
        self.check_reachable()

        client = self._client()
        with self._failing_as(f"{what} (preparing the experiment)"):
            experiment_id = self._experiment_id(client)
        # A classifier is served by its probabilities, a regressor by its predictions.
        predict_fn = "predict_proba" if hasattr(model, "predict_proba") else "predict"
        with self._failing_as(f"{what} (computing the signature with {predict_fn})"):
            outputs = getattr(model, predict_fn)(input_example)
            signature = infer_signature(input_example, outputs)
        with self._failing_as(f"{what} (checking its types against the skops allow-list)"):
            needed = model_format.types_to_trust(model, "the model")

        run_id: str | None = None
        with self._failing_as(what), _fluent_uris(self.tracking_uri, self._registry_uri):
            with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=run_tags):
                run_id = mlflow.active_run().info.run_id
                mlflow.log_params(str_params)
                mlflow.log_metrics(float_metrics)
                # No input_example: MLflow would validate it by loading the model through its
                # own loader, which the pickle gate refuses; the check below loads it our way.
                info = mlflow.sklearn.log_model(
                    model,
                    name=MODEL_ARTIFACT_NAME,
                    signature=signature,
                    serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_SKOPS,
                    skops_trusted_types=needed or None,  # for MLflow's own check while saving
                    pip_requirements=_model_requirements(),
                    pyfunc_predict_fn=predict_fn,
                )
                # Read back as load_model will: a change of MLflow's defaults (a pickle) or a
                # type skops saved differently is refused here, before any version exists.
                stored = client.get_logged_model(info.model_id).artifact_location
                try:
                    reloaded = self._stored_model(stored, f"the model logged by run {run_id}")
                except model_format.UnsafeModel as exc:
                    raise self._error(what, str(exc)) from None
                _same_outputs(outputs, getattr(reloaded, predict_fn)(input_example), predict_fn)
                for name, text in texts.items():
                    client.log_text(run_id, text, name)
                self._ensure_registered_model(client)
                created = client.create_model_version(
                    name=self.model_name,
                    source=info.model_uri,
                    run_id=run_id,
                    tags=version_tags,
                    description=description or None,
                    await_creation_for=AWAIT_READY_S,
                    model_id=info.model_id,
                )
                current = self._get_version(client, str(created.version))
                if current.status != READY:
                    raise RuntimeError(
                        f"version {created.version} is {current.status}, not {READY} "
                        f"({current.status_message or 'no status message'}); it was not "
                        "returned and no alias points at it"
                    )
        version = str(current.version)
        return RegisteredVersion(
            name=self.model_name,
            version=version,
            run_id=run_id,
            model_uri=f"models:/{self.model_name}/{version}",
        )

    def register_configuration(
        self,
        *,
        artifacts: dict[str, dict],
        params: dict,
        run_tags: dict[str, str],
        version_tags: dict[str, str],
        run_name: str,
        description: str = "",
    ) -> RegisteredVersion:
        """Log one run whose model is a configuration, not a fitted estimator (a staged
        pipeline: its settings, prompt and the context it was deployed on): each JSON artifact
        is logged under ``configuration/`` and the folder is registered as a new READY version.
        Nothing in it is code, so nothing is unpickled when it is read back
        (:meth:`load_configuration`). Does NOT move any alias."""
        what = f"registering a new configuration of {self.model_name!r}"
        with self._failing_as(f"{what} (checking the inputs)"):
            str_params = {str(k): str(v)[:MAX_PARAM_VAL_LENGTH] for k, v in params.items()}
            texts = _checked_inputs(str_params, run_tags, version_tags, artifacts)
            if not texts:
                raise ValueError("a configuration needs at least one artifact")
        self.check_reachable()
        client = self._client()
        with self._failing_as(f"{what} (preparing the experiment)"):
            experiment_id = self._experiment_id(client)
        with self._failing_as(what), _fluent_uris(self.tracking_uri, self._registry_uri):
            with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=run_tags):
                run_id = mlflow.active_run().info.run_id
                mlflow.log_params(str_params)
                for name, text in texts.items():
                    client.log_text(run_id, text, f"{CONFIGURATION_FOLDER}/{name}")
                self._ensure_registered_model(client)
                created = client.create_model_version(
                    name=self.model_name,
                    source=f"runs:/{run_id}/{CONFIGURATION_FOLDER}",
                    run_id=run_id,
                    tags=version_tags,
                    description=description or None,
                    await_creation_for=AWAIT_READY_S,
                )
                current = self._get_version(client, str(created.version))
                if current.status != READY:
                    raise RuntimeError(
                        f"version {created.version} is {current.status}, not {READY}"
                    )
        version = str(current.version)
        return RegisteredVersion(
            name=self.model_name,
            version=version,
            run_id=run_id,
            model_uri=f"models:/{self.model_name}/{version}",
        )

    def load_configuration(self, version: str, name: str) -> dict:
        """One JSON artifact of a configuration version (:meth:`register_configuration`)."""
        return self.load_artifact_json(version, f"{CONFIGURATION_FOLDER}/{name}")

    def move_alias(
        self,
        alias: str,
        version: str,
        *,
        actor: str,
        reason: str,
        at: datetime | None = None,
    ) -> AliasMove:
        """Point ``alias`` at ``version`` (which must exist and be READY) and return the move,
        with the previous holder read first. ``at`` (timezone-aware; default: now) lets callers
        stamp the move with the project clock. Read-then-set is not atomic across processes:
        serialize promotions (one Dagster job at a time) if that matters."""
        version = self._version_str(version)
        what = f"moving alias @{alias} of {self.model_name!r} to version {version}"
        if not str(actor).strip() or not str(reason).strip():
            raise self._error(what, "an alias move needs a non-empty actor and reason")
        if at is not None and at.tzinfo is None:
            raise self._error(what, f"`at` must be timezone-aware, got {at.isoformat()}")
        self.check_reachable()
        with self._failing_as(what):
            client = self._client()
            target = self._get_version(client, version)
            if target.status != READY:
                raise RuntimeError(f"version {version} is {target.status}, not {READY}")
            previous = client.get_registered_model(self.model_name).aliases.get(alias)
            client.set_registered_model_alias(self.model_name, alias, version)
        moment = (at or datetime.now(UTC)).astimezone(UTC)
        return AliasMove(
            model=self.model_name,
            alias=alias,
            from_version=None if previous is None else str(previous),
            to_version=version,
            actor=actor,
            reason=reason,
            at=moment.isoformat(),
        )

    def version_for_alias(self, alias: str) -> str | None:
        """The version the alias points at; None if the alias is free (or nothing is
        registered yet under ``model_name``)."""
        with self._failing_as(f"reading alias @{alias} of {self.model_name!r}"):
            client = self._client()
            try:
                registered = client.get_registered_model(self.model_name)
            except MlflowException as exc:
                if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                    return None
                raise
            holder = registered.aliases.get(alias)
            return None if holder is None else str(holder)

    def delete_alias(self, alias: str) -> str | None:
        """Free ``alias``; return the version it pointed at (None if it was already free).
        Used to undo an alias move that has to be rolled back."""
        with self._failing_as(f"deleting alias @{alias} of {self.model_name!r}"):
            holder = self.version_for_alias(alias)
            if holder is not None:
                self._client().delete_registered_model_alias(self.model_name, alias)
            return holder

    def model_tags(self) -> dict[str, str]:
        """The registered model's own tags (not a version's); {} if nothing is registered."""
        with self._failing_as(f"reading tags of registered model {self.model_name!r}"):
            try:
                return dict(self._client().get_registered_model(self.model_name).tags)
            except MlflowException as exc:
                if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                    return {}
                raise

    def set_model_tag(self, key: str, value: str) -> None:
        """Set (add or overwrite) one tag of the registered model itself, checked against
        MLflow's limits first. The model exists once a version has been registered."""
        with self._failing_as(f"setting tag {key!r} of registered model {self.model_name!r}"):
            _check_tags(
                "registered model tag",
                {key: value},
                MAX_MODEL_REGISTRY_TAG_KEY_LENGTH,
                MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH,
            )
            self._client().set_registered_model_tag(self.model_name, key, value)

    def version_tags(self, version: str) -> dict[str, str]:
        """A version's tags: its lineage."""
        version = self._version_str(version)
        with self._failing_as(f"reading tags of {self.model_name!r} version {version}"):
            return dict(self._get_version(self._client(), version).tags)

    def set_version_tags(self, version: str, tags: dict[str, str]) -> None:
        """Set (add or overwrite) tags on an existing version, one tag at a time."""
        version = self._version_str(version)
        what = f"setting tags on {self.model_name!r} version {version}"
        with self._failing_as(what):
            _check_tags(
                "version tag",
                tags,
                MAX_MODEL_REGISTRY_TAG_KEY_LENGTH,
                MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH,
            )
            client = self._client()
            self._get_version(client, version)  # a clear error for a missing version
            for key, value in tags.items():
                client.set_model_version_tag(self.model_name, version, key, value)

    def load_model(self, version_or_alias: str) -> Any:
        """The sklearn model of a version ("3") or of an alias ("@champion"), read from its
        skops file with the project's allow-list. A version stored in any other format is
        refused, naming it and the format, before any of its model bytes are read."""
        text = str(version_or_alias).strip()
        alias = text[1:] if text.startswith("@") and len(text) > 1 else None
        version = None if alias else self._version_str(text)
        uri = f"models:/{self.model_name}" + (f"@{alias}" if alias else f"/{version}")
        with self._failing_as(f"loading {uri}"):
            client = self._client()
            if alias:
                version = str(client.get_model_version_by_alias(self.model_name, alias).version)
            what = f"{self.model_name!r} version {version}" + (f" (@{alias})" if alias else "")
            location = client.get_model_version_download_uri(self.model_name, version)
            try:
                return self._stored_model(location, what)
            except model_format.UnsafeModel as exc:
                raise self._error(f"loading {uri}", str(exc)) from None

    def _stored_model(self, location: str, what: str) -> Any:
        """The model in the MLflow model folder at ``location``: its MLmodel file is downloaded
        and read first, and only a skops file named there is downloaded and loaded after it."""
        repository = get_artifact_repository(
            location, tracking_uri=self.tracking_uri, registry_uri=self._registry_uri
        )
        with (
            tempfile.TemporaryDirectory(prefix="afterlaunch-model-") as tmp,
            _scoped_env(_QUIET_DOWNLOADS),
        ):
            return model_format.load_from_repository(repository, tmp, what)

    def load_artifact_json(self, version: str, name: str) -> dict:
        """A JSON artifact (e.g. "lineage.json") of the run that produced ``version``."""
        version = self._version_str(version)
        with self._failing_as(f"reading {name} of {self.model_name!r} version {version}"):
            client = self._client()
            run_id = self._get_version(client, version).run_id
            if not run_id:
                raise RuntimeError(f"version {version} has no run to read artifacts from")
            with (
                tempfile.TemporaryDirectory(prefix="afterlaunch-artifact-") as tmp,
                _scoped_env(_QUIET_DOWNLOADS),
            ):
                path = client.download_artifacts(run_id, name, dst_path=tmp)
                content = json.loads(Path(path).read_text(encoding="utf-8"))
            if not isinstance(content, dict):
                raise ValueError(f"{name} holds a {type(content).__name__}, not a JSON object")
            return content

    def run_artifact_names(self, version: str) -> list[str]:
        """The top-level artifact names of the run that produced ``version`` (e.g.
        "lineage.json"): what it recorded, without downloading any of it."""
        version = self._version_str(version)
        with self._failing_as(f"listing run artifacts of {self.model_name!r} version {version}"):
            client = self._client()
            run_id = self._get_version(client, version).run_id
            if not run_id:
                raise RuntimeError(f"version {version} has no run to read artifacts from")
            return sorted(a.path.rsplit("/", 1)[-1] for a in client.list_artifacts(run_id))

    def download_model_folder(self, version: str, dst: str | os.PathLike) -> Path:
        """The version's model folder (MLmodel, requirements.txt, the model file) copied into
        ``dst`` as files; nothing in it is loaded (the packaging check reads and measures it)."""
        version = self._version_str(version)
        with self._failing_as(f"downloading the model of {self.model_name!r} version {version}"):
            location = self._client().get_model_version_download_uri(self.model_name, version)
            repository = get_artifact_repository(
                location, tracking_uri=self.tracking_uri, registry_uri=self._registry_uri
            )
            with _scoped_env(_QUIET_DOWNLOADS):
                return Path(repository.download_artifacts("", dst_path=str(dst)))

    def versions(self) -> list[dict]:
        """Every version, oldest first: version, aliases, status, created (ISO UTC), run_id."""
        with self._failing_as(f"listing versions of {self.model_name!r}"):
            client = self._client()
            found: list[ModelVersion] = []
            token: str | None = None
            while True:
                page = client.search_model_versions(
                    filter_string=f"name = '{self._quoted_name()}'", page_token=token
                )
                found.extend(page)
                token = page.token
                if not token:
                    break
            # search_model_versions leaves `aliases` empty on SQL stores: ask the model.
            aliases: dict[str, list[str]] = {}
            if found:
                for alias, holder in client.get_registered_model(self.model_name).aliases.items():
                    aliases.setdefault(str(holder), []).append(alias)
        return [
            {
                "version": str(mv.version),
                "aliases": sorted(aliases.get(str(mv.version), [])),
                "status": mv.status,
                "created": _iso_utc_from_millis(mv.creation_timestamp),
                "run_id": mv.run_id,
            }
            for mv in sorted(found, key=lambda mv: int(mv.version))
        ]
