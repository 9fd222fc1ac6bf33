"""The declaration of one monitored model: everything the engine needs to know about it.

A team adopts Afterlaunch by writing one `Workflow(...)` in `workflows/<name>/workflow.py`; the
engine's stage factories, jobs, sensors and CLI read every workflow-specific fact (columns,
label, lag, categories, slices, fallback, feedback) from it and from nowhere else.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import pandera.pandas as pa
from dagster import AssetKey

from assets.feature_sets import FeatureSet, FeatureSets
from assets.model_family import ModelFamily
from assets.names import ENGINE_COLUMNS
from assets.partitions import Partitioning
from assets.pipeline_task import StagedPipeline, is_pipeline
from checks.action_classes import ActionClass, ActionClasses
from checks.tasks import BinaryClassification, Regression

Task = BinaryClassification | Regression | StagedPipeline
NAME = re.compile(r"[a-z][a-z0-9_]*")
DERIVED_KNOWN_AT = "known_at"  # what the engine calls a known-at time it computed itself


@dataclass(frozen=True)
class Owners:
    """Who hears about what: data checks go to the data engineer, model checks to the model
    owner, the readiness report's business answers to the domain owner."""

    data_engineer: str
    model_owner: str
    domain_owner: str


@dataclass(frozen=True)
class Entity:
    """What one row is about (`id`, unique per partition) and when it happened (`event_time`)."""

    id: str
    event_time: str


@dataclass(frozen=True)
class Label:
    """The outcome: its column in the labels table, when it became known, and the longest it
    can take to arrive. `max_lag_days` drives the training cut-off, the integrity look-back,
    the weekly evaluation's timing, the readiness windows and the shortest allowed rollout.

    `known_at`: the labels table's known-at column; None when the source records no such time
    (the label sits in the rows' own table): a label then counts as known exactly
    `max_lag_days` after its row's event time, and the engine names that time `known_at`."""

    column: str
    max_lag_days: int
    known_at: str | None = "known_at"

    def __post_init__(self) -> None:
        if self.max_lag_days < 0:
            raise ValueError(f"label {self.column}: max_lag_days must be >= 0")

    @property
    def known_at_column(self) -> str:
        """The known-at column of the labels frame the source returns."""
        return self.known_at or DERIVED_KNOWN_AT


@dataclass(frozen=True)
class Source:
    """Where the rows come from. `layout`: `day_tables` (one table per day named
    `<table>YYYYMMDD`) or `event_time` (one table `table`, partitions cut on the entity's
    event time). `labels_table` holds (entity id, label, known_at); it may be `table` itself.
    `feedback_table`, optional, what people did with each output. The URL comes from the
    environment variable `url_env`. `exclude`: columns of `table` that are not raw input (a
    label and its known-at time kept beside the rows): every other column is read, so a new,
    unexpected column is still a schema change."""

    layout: str
    table: str
    labels_table: str
    feedback_table: str | None = None
    url_env: str = "AFTERLAUNCH_SOURCE_URL"
    # True when a row never changes after its event time (a measurement, a log line): the
    # point-in-time join then takes each row's event time as its snapshot time, so a label
    # known before the partition ended still joins it. False: a row may change until it is
    # exported, so only labels known after its partition's end may join it.
    rows_final_at_event_time: bool = False
    exclude: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.layout not in ("day_tables", "event_time"):
            raise ValueError(f"source layout {self.layout!r}: day_tables or event_time")
        object.__setattr__(self, "exclude", tuple(self.exclude))  # a list is fine; kept frozen


@dataclass(frozen=True)
class Contracts:
    """pandera models: the raw rows of a partition and the labels. Each feature set carries its
    own contract. The profiled columns are read from the raw contract: numeric columns, and
    text columns with a closed list of values (`isin`). A `unique` column is an identifier,
    not a measurement (a numeric id climbs every day): it is not profiled."""

    raw: type[pa.DataFrameModel]
    labels: type[pa.DataFrameModel]

    @property
    def raw_columns(self) -> dict[str, str]:
        return {n: str(c.dtype) for n, c in self.raw.to_schema().columns.items()}

    def _closed(self) -> dict[str, list]:
        found = {}
        for name, column in self.raw.to_schema().columns.items():
            for check in column.checks:
                allowed = check.statistics.get("allowed_values") if check.statistics else None
                if check.name == "isin" and allowed is not None:
                    found[name] = list(allowed)
        return found

    @property
    def categorical_columns(self) -> list[str]:
        return list(self._closed())

    def categories(self, column: str) -> list:
        return self._closed()[column]

    @property
    def numeric_columns(self) -> list[str]:
        schema = self.raw.to_schema().columns
        return [
            n
            for n, c in schema.items()
            if str(c.dtype).startswith(("int", "float")) and not c.unique
        ]


@dataclass(frozen=True)
class Slice:
    """A named kind of row a model is likely to get wrong: `rule(raw rows) -> boolean Series`.
    A rule that needs a threshold takes it from the rows themselves (extreme for this data)."""

    name: str
    description: str
    rule: Callable[[pd.DataFrame], pd.Series]


@dataclass(frozen=True)
class Fallback:
    """What serves when the model is switched off: `rule(raw rows) -> outputs` in the task's
    output space (a probability-like 0/1 for a classifier, a value for a regression)."""

    description: str
    rule: Callable[[pd.DataFrame], np.ndarray]


@dataclass(frozen=True)
class Feedback:
    """What people did with each output, read from the source's feedback table, recorded the
    period after scoring: whether the output was used, accepted or overridden, and by whom.
    `kpi`: a business measure in that table (e.g. handle minutes) with its direction."""

    actor: str
    used: str
    accepted: str
    recorded_at: str
    kpi: str | None = None
    kpi_name: str = ""
    kpi_lower_is_better: bool = True

    @property
    def columns(self) -> list[str]:
        return [self.actor, self.used, self.accepted, *([self.kpi] if self.kpi else [])]


@dataclass(frozen=True)
class Stage:
    """One stage of the workflow judged against its own threshold in the readiness report.
    `measure`: task_success | acceptance_rate | kpi_ratio (KPI against pre-deployment)."""

    name: str
    measure: str

    def __post_init__(self) -> None:
        if self.measure not in ("task_success", "acceptance_rate", "kpi_ratio"):
            raise ValueError(f"stage {self.name}: unknown measure {self.measure!r}")


class FeedbackRecorder(Protocol):
    def record(self, day: date, served: pd.DataFrame | None = None) -> None: ...


class Simulation(Protocol):
    """A workflow's simulated source and incidents, for the demo and the tests."""

    default_scenario: Path
    action_kinds: tuple[str, ...]

    def parse_incidents(self, items: list[dict]) -> list: ...

    def validate_action(self, item: dict) -> None: ...

    # `scale` (optional, default 1) multiplies the daily volume, keeping the shapes; a
    # simulation that cannot scale refuses any other value with a sentence.
    def write_source(
        self, source_url: str, seed: int, start: date, end: date, incidents, scale: float = 1.0
    ): ...

    def feedback(self, source_url: str, seed: int, incidents, launch: date) -> FeedbackRecorder: ...

    def act(self, action: dict, registry, store, at: datetime) -> str: ...

    # Optional, for a workflow that declares actions: its agent, acting through the gate
    # (`.work(day, served)` each production day). A simulation without it never acts.
    # def assistant(self, seed, incidents, gate, log, workflow) -> Assistant


@dataclass(frozen=True)
class Workflow:
    name: str
    owners: Owners
    source: Source
    entity: Entity
    label: Label
    contracts: Contracts
    feature_sets: FeatureSets | None  # None only for a staged pipeline (it has no features)
    task: Task
    model_families: Mapping[str, ModelFamily]
    partitions: Partitioning = field(default_factory=Partitioning)
    slices: Sequence[Slice] = ()
    fallback: Fallback | None = None
    feedback: Feedback | None = None
    stages: Sequence[Stage] = ()
    segments: Sequence[str] = ()
    # The tools its agent may call, each with its reversibility, approval rule and owner
    # (checks/action_classes.py); any other tool is denied.
    actions: Sequence[ActionClass] | ActionClasses = ()
    policy_file: Path | None = None
    simulation: Simulation | None = None
    description: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not NAME.fullmatch(self.name):
            raise ValueError(f"workflow name {self.name!r}: lower case letters, digits and _")
        missing = [
            c
            for c in (self.entity.id, self.entity.event_time, *self.segments)
            if c not in self.contracts.raw_columns
        ]
        if missing:
            raise ValueError(f"workflow {self.name}: columns {missing} are not in the raw contract")
        taken = sorted({self.entity.id, *self.segments} & ENGINE_COLUMNS)
        if taken:
            raise ValueError(
                f"workflow {self.name}: the id and segment columns {taken} are names the engine "
                "uses in its own frames (scores, monitoring): rename them at the source (a view "
                "will do)"
            )
        self._check_label_source()
        object.__setattr__(self, "actions", ActionClasses.of(self.actions))
        if is_pipeline(self.task):
            if self.model_families or self.feature_sets is not None:
                raise ValueError(
                    f"workflow {self.name}: a staged pipeline has no model families or feature "
                    "sets (its versions are configurations)"
                )
            return
        if not self.model_families:
            raise ValueError(f"workflow {self.name}: declare at least one model family")
        if self.feature_sets is None:
            raise ValueError(f"workflow {self.name}: declare its feature sets")

    def _check_label_source(self) -> None:
        """A label kept in the rows' own table must never be read as raw input (it would leak
        into the features), and a label without a known-at column needs the rows' event time."""
        source, label = self.source, self.label
        read = [c for c in source.exclude if c in self.contracts.raw_columns]
        if read:
            raise ValueError(
                f"workflow {self.name}: columns {read} are excluded from the source but are in "
                "the raw contract"
            )
        in_rows = source.labels_table == source.table
        kept = [label.column, *([label.known_at] if label.known_at else [])]
        leaking = [c for c in kept if c not in source.exclude]
        if in_rows and leaking:
            raise ValueError(
                f"workflow {self.name}: the labels live in the rows' table {source.table}: list "
                f"{leaking} in Source.exclude, or they would be read as raw input"
            )
        if label.known_at is None and not (in_rows and source.layout == "event_time"):
            raise ValueError(
                f"workflow {self.name}: a label without a known-at column is read from the rows' "
                "own table (layout event_time, labels_table = table)"
            )

    @property
    def model_name(self) -> str:
        """The registered model in MLflow: one per workflow."""
        return self.name.replace("_", "-")

    @property
    def experiment_name(self) -> str:
        """The MLflow experiment its training runs are logged to."""
        return f"afterlaunch-{self.name}"

    def team(self, role: str) -> str:
        """A Dagster asset owner for one of the owners' roles (`team:<name>`)."""
        return "team:" + getattr(self.owners, role).replace(" ", "-")

    def key(self, asset: str) -> AssetKey:
        return AssetKey([self.name, asset])

    def op(self, asset: str) -> str:
        """The node name Dagster gives a prefixed asset (run config is keyed by it)."""
        return f"{self.name}__{asset}"

    def feature_set(self, version: str) -> FeatureSet:
        return self.feature_sets.get(version)
