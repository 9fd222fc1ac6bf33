"""What `afterlaunch init` was asked for, and the one way it refuses."""

from __future__ import annotations

import keyword
from dataclasses import dataclass
from pathlib import Path

from assets.names import ENGINE_COLUMNS
from assets.partitions import CADENCES
from assets.workflow import NAME

DEFAULT_SAMPLE_ROWS = 50_000
DEFAULT_LABEL_LAG_DAYS = 1


class InitRefused(SystemExit):
    """One sentence saying what is wrong; nothing has been written."""


@dataclass(frozen=True)
class InitRequest:
    name: str
    source_url: str
    table: str
    id: str
    time: str
    label: str
    into: Path
    workspace: Path
    label_table: str | None = None
    label_time: str | None = None
    task: str | None = None  # binary | regression | None: inferred
    partitions: str = "daily"
    start: str | None = None
    data_engineer: str = "data engineer"
    model_owner: str = "model owner"
    domain_owner: str = "domain owner"
    label_lag_days: int | None = None  # only without a label time
    sample_rows: int = DEFAULT_SAMPLE_ROWS

    @property
    def url_env(self) -> str:
        return f"AFTERLAUNCH_{self.name.upper()}_SOURCE_URL"

    @property
    def labels_table(self) -> str:
        return self.label_table or self.table

    @property
    def labels_in_rows(self) -> bool:
        """The label (and its known-at time) sit in the rows' own table."""
        return self.labels_table == self.table

    @property
    def lag_given(self) -> int:
        return DEFAULT_LABEL_LAG_DAYS if self.label_lag_days is None else self.label_lag_days

    @property
    def folder(self) -> Path:
        return self.into / self.name

    def check(self) -> None:
        """The options on their own, before the database is opened."""
        if not NAME.fullmatch(self.name) or keyword.iskeyword(self.name):
            raise InitRefused(
                f"{self.name!r} is not a workflow name: lower case letters, digits and _, "
                "starting with a letter (it becomes the Python package workflows.<name>)"
            )
        if self.partitions not in CADENCES:
            raise InitRefused(f"--partitions {self.partitions}: one of {', '.join(CADENCES)}")
        if self.task not in (None, "binary", "regression"):
            raise InitRefused(f"--task {self.task}: binary or regression")
        if self.label_table and not self.label_time:
            raise InitRefused(
                f"--label-table {self.label_table} needs --label-time: the column saying when "
                "each label became known"
            )
        if self.sample_rows < 100:
            raise InitRefused(f"--sample-rows {self.sample_rows}: at least 100 rows to infer from")
        if self.label_lag_days is not None and self.label_lag_days < 1:
            # Known at the event itself, a label precedes its row's snapshot (the partition's
            # end) and the engine's leak guard would keep every one out of training.
            raise InitRefused(f"--label-lag-days {self.label_lag_days}: at least 1 day")
        if len({self.id, self.time, self.label}) < 3:
            raise InitRefused("--id, --time and --label must name three different columns")
        if self.id in ENGINE_COLUMNS:
            raise InitRefused(
                f"--id {self.id}: the engine uses that name in its own frames (scores, "
                "monitoring); expose the id under another name, e.g. in a view"
            )
