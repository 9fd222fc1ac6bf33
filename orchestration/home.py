"""The home folder: one place for a deployment's local state.

<home>/afterlaunch-home.json   where the home was last activated (to notice a copy or a move)
<home>/dagster/      DAGSTER_HOME (SQLite instance unless a dagster.yaml there says otherwise)
<home>/mlflow/       the MLflow store (one registered model per workflow)
<home>/source.db     a simulated source (when the workflow's source URL variable is not set)
<home>/reports/      the demo's timeline
<home>/workflows/<name>/
    snapshots/       immutable asset values, by content hash
    reports/         the readiness report
    alerts/          the alert outbox (every alert raised, delivered or pending)
    registry.lock    serializes promotions and rollbacks of this workflow's model
    policy.yaml      optional policy overrides for this workflow
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from orchestration.home_instance import INSTANCE_YAML, ensure_instance, legacy_root
from orchestration.home_relocate import RECORD, follow_move, record_root, recorded_root
from resources.links import DAGSTER_URL_ENV, DEFAULT_DAGSTER_URL, DEFAULT_MLFLOW_URL, MLFLOW_URL_ENV

DEFAULT_HOME = ".afterlaunch"
DEFAULT_SOURCE_ENV = "AFTERLAUNCH_SOURCE_URL"

# What activate() sets: the whole environment a run of the definitions reads.
ENV_VARS = (
    "DAGSTER_HOME",
    "AFTERLAUNCH_HOME",
    "AFTERLAUNCH_SOURCE_URL",
    "AFTERLAUNCH_MLFLOW_URI",
    "AFTERLAUNCH_MLFLOW_ARTIFACTS",
    "AFTERLAUNCH_ALERT_WEBHOOK",
    "AFTERLAUNCH_DAGSTER_URL",
    "AFTERLAUNCH_MLFLOW_URL",
    "AFTERLAUNCH_AUDIT_URL",
)
AUDIT_URL_ENV = "AFTERLAUNCH_AUDIT_URL"

# The values activate() derived from the home it last activated (not a person's settings):
# activating another home in the same process derives its own instead of keeping the first's.
_DERIVED: dict[str, str] = {}
_DERIVED_FROM: list[Path] = []


class HomeMissing(SystemExit):
    """The folder is not an afterlaunch home and nobody asked to make one: a mistyped --home
    would otherwise start an empty home and act on it."""

    def __init__(self, root: Path):
        self.root = root
        why = "no such folder" if not root.exists() else f"no {RECORD} or dagster/{INSTANCE_YAML}"
        super().__init__(
            f"{root} is not an afterlaunch home ({why}): check --home, or pass --create to make "
            "a new home there"
        )


class SourceUrlMissing(SystemExit):
    """A workflow's source URL variable is not set (a SystemExit: a command stops with the
    sentence; `afterlaunch ui` only warns, since Dagster reads the variable when a run starts)."""

    def __init__(self, workflow: str, variable: str):
        self.workflow, self.variable = workflow, variable
        super().__init__(
            f"workflow {workflow} reads its source from ${variable}, which is not set: export "
            f"{variable}=<SQLAlchemy URL of its database> (kept out of files: it may hold a "
            "password)"
        )


@dataclass(frozen=True)
class Home:
    root: Path

    @property
    def dagster_home(self) -> Path:
        return self.root / "dagster"

    @property
    def source_db(self) -> Path:
        return self.root / "source.db"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def mlflow_uri(self) -> str:
        return (
            os.environ.get("AFTERLAUNCH_MLFLOW_URI")
            or f"sqlite:///{self.root / 'mlflow' / 'mlflow.db'}"
        )

    @property
    def mlflow_artifacts(self) -> str:
        return os.environ.get("AFTERLAUNCH_MLFLOW_ARTIFACTS") or str(
            self.root / "mlflow" / "artifacts"
        )

    @property
    def source_url(self) -> str:
        return os.environ.get(DEFAULT_SOURCE_ENV) or f"sqlite:///{self.source_db}"

    def workflow_root(self, name: str) -> Path:
        return self.root / "workflows" / name

    def source_url_for(self, wf) -> str:
        """The workflow's source URL: its variable if set; else, for a workflow whose simulator
        writes its source (or one on the default variable), a SQLite file in the home. A real
        source without its variable is refused (:class:`SourceUrlMissing`): an empty file
        in its place would only fail later, with a less helpful sentence."""
        if wf.source.url_env == DEFAULT_SOURCE_ENV:
            return self.source_url
        url = os.environ.get(wf.source.url_env)
        if url:
            return url
        if getattr(wf, "simulation", None) is None:
            raise SourceUrlMissing(wf.name, wf.source.url_env)
        return f"sqlite:///{self.workflow_root(wf.name) / 'source.db'}"


def resolve_home(home: str | os.PathLike | None = None) -> Home:
    """--home DIR, else $AFTERLAUNCH_HOME, else ./.afterlaunch; always absolute."""
    chosen = home or os.environ.get("AFTERLAUNCH_HOME") or DEFAULT_HOME
    return Home(Path(chosen).expanduser().resolve())


def is_home(root: Path) -> bool:
    """A folder activate() has made a home: its record, or (a home from before the record)
    its Dagster instance file."""
    return (root / RECORD).is_file() or (root / "dagster" / INSTANCE_YAML).is_file()


def activate(home: Home, wf=None, *, create: bool = True) -> Home:
    """Create the home's folders and point this process (and Dagster) at them; with a
    workflow, its source URL variable too. With create=False (the CLI without --create) a
    folder that is not yet a home is refused (:class:`HomeMissing`) before anything is
    written. A home activated from another folder than it was last (a copy, a restore, a move)
    first makes its MLflow store name its own folder (orchestration/home_relocate.py)."""
    if not create and not is_home(home.root):
        raise HomeMissing(home.root)
    if _DERIVED_FROM != [home.root]:
        for var, value in _DERIVED.items():
            if os.environ.get(var) == value:
                del os.environ[var]
        _DERIVED.clear()
        _DERIVED_FROM[:] = [home.root]
    previous = recorded_root(home.root) or legacy_root(home.dagster_home)
    home.dagster_home.mkdir(parents=True, exist_ok=True)
    home.reports.mkdir(parents=True, exist_ok=True)
    ensure_instance(home.dagster_home, home.root)
    if previous is not None and previous != home.root:
        follow_move(home.root, previous)
    if previous != home.root or not (home.root / RECORD).exists():
        record_root(home.root)
    values = {
        "DAGSTER_HOME": str(home.dagster_home),
        "AFTERLAUNCH_HOME": str(home.root),
        "AFTERLAUNCH_SOURCE_URL": home.source_url,
        "AFTERLAUNCH_MLFLOW_URI": home.mlflow_uri,
        "AFTERLAUNCH_MLFLOW_ARTIFACTS": home.mlflow_artifacts,
    }
    if wf is not None:
        home.workflow_root(wf.name).mkdir(parents=True, exist_ok=True)
        values[wf.source.url_env] = home.source_url_for(wf)
    for var, value in values.items():
        if var in ("DAGSTER_HOME", "AFTERLAUNCH_HOME") or var not in os.environ:
            _DERIVED[var] = value  # from the home, not a setting kept from the environment
        os.environ[var] = value
    # Empty: alerts go to the log and the outbox only. A deployment sets a webhook URL.
    os.environ.setdefault("AFTERLAUNCH_ALERT_WEBHOOK", "")
    # Empty: the agent audit log is a SQLite file in the workflow's folder of the home; a
    # deployment names its Postgres database.
    os.environ.setdefault(AUDIT_URL_ENV, "")
    # Where `afterlaunch ui` and `afterlaunch mlflow-ui` serve by default; a deployment sets
    # the URLs its people reach the two UIs at.
    os.environ.setdefault(DAGSTER_URL_ENV, DEFAULT_DAGSTER_URL)
    os.environ.setdefault(MLFLOW_URL_ENV, DEFAULT_MLFLOW_URL)
    if "://" not in home.mlflow_artifacts:
        Path(home.mlflow_artifacts).mkdir(parents=True, exist_ok=True)
    return home


def registry_for(home: Home, wf):
    """The workflow's registered model in the home's MLflow store (for commands that act
    outside a run)."""
    from resources.registry import ModelRegistry

    return ModelRegistry(
        tracking_uri=home.mlflow_uri,
        artifact_root=home.mlflow_artifacts,
        model_name=wf.model_name,
        experiment_name=wf.experiment_name,
    )
