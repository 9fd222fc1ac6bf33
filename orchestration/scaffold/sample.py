"""The bounded sample `afterlaunch init` infers from.

Read through the engine's own source class (`resources.source.EventTimeSource`), configured as
the generated workflow will configure it, so every dtype in the sample is the one later
partitions arrive with, and the label columns of the rows' table are left out exactly as they
will be. The newest `--sample-rows` rows by event time; the newest labels likewise.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa

from assets.workflow import DERIVED_KNOWN_AT
from orchestration.scaffold.request import InitRefused, InitRequest
from resources.masking import mask
from resources.source import EventTimeSource, SourceBatchMissing, mask_url

log = logging.getLogger("afterlaunch")
_SHOWN_NAMES = 8  # tables or columns named in a refusal


@dataclass(frozen=True)
class Sample:
    rows: pd.DataFrame  # newest rows, as extract returns them (label columns excluded)
    labels: pd.DataFrame  # newest labels: (id, label, known-at), as labels returns them
    declared: dict[str, str]  # the rows' table: column -> integer | real | text | ...
    label_declared: dict[str, str]  # the labels table, likewise
    excluded: tuple[str, ...]  # columns of the rows' table that are not raw input


def declared_kind(sql_type) -> str:
    """A column's declared type, in the words the inference uses."""
    if isinstance(sql_type, sa.Boolean):
        return "boolean"
    if isinstance(sql_type, sa.Integer):
        return "integer"
    if isinstance(sql_type, sa.Float | sa.Numeric):
        return "real"
    if isinstance(sql_type, sa.DateTime | sa.Date):
        return "datetime"
    if isinstance(sql_type, sa.String):
        return "text"
    return "other"


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:_SHOWN_NAMES])
    more = f" and {len(names) - _SHOWN_NAMES} more" if len(names) > _SHOWN_NAMES else ""
    return (shown + more) or "none"


def _scrubbed(error: Exception, url: str) -> str:
    """The first line of a driver error, masked, with the URL's secrets (if any) blanked."""
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return mask(text, url)


def excluded_columns(request: InitRequest) -> tuple[str, ...]:
    """The rows' table's columns that are not raw input: a label kept beside the rows (and
    its known-at time) would leak the outcome into the features."""
    if not request.labels_in_rows:
        return ()
    return (request.label, *([request.label_time] if request.label_time else []))


def source_for(request: InitRequest) -> EventTimeSource:
    """The source exactly as the generated workflow's definitions will build it."""
    return EventTimeSource(
        url=request.source_url,
        table=request.table,
        entity_id=request.id,
        event_time=request.time,
        labels_table=request.labels_table,
        label_column=request.label,
        known_at_column=request.label_time or DERIVED_KNOWN_AT,
        exclude=list(excluded_columns(request)),
        known_after_days=None if request.label_time else request.lag_given,
    )


def _inspect(url: str, wanted: set[str]) -> tuple[list[str], dict[str, dict[str, str]]]:
    """The database's tables (and views), and the declared kinds of the columns of those in
    `wanted` that exist (a production database may hold thousands of tables: only the rows'
    and the labels' are described)."""
    masked = mask_url(url)
    try:
        engine = sa.create_engine(url)
    except Exception as err:  # SQLAlchemy's message can quote the URL: name the type only
        raise InitRefused(f"cannot open {masked}: {type(err).__name__}") from None
    try:
        with engine.connect() as conn:
            inspector = sa.inspect(conn)
            names = sorted({*inspector.get_table_names(), *inspector.get_view_names()})
            columns = {}
            for name in sorted(wanted.intersection(names)):
                columns[name] = {
                    c["name"]: declared_kind(c["type"]) for c in inspector.get_columns(name)
                }
            return names, columns
    except sa.exc.SQLAlchemyError as err:
        raise InitRefused(f"cannot read {masked}: {_scrubbed(err, url)}") from None
    finally:
        engine.dispose()


def _need(table: str, column: str | None, option: str, columns: dict[str, str]) -> None:
    if column is not None and column not in columns:
        raise InitRefused(
            f"{option} {column} is not a column of table {table} (its columns: "
            f"{_names(list(columns))})"
        )


def read_sample(request: InitRequest) -> Sample:
    """The sample, or a refusal naming what is missing."""
    names, columns = _inspect(request.source_url, {request.table, request.labels_table})
    masked = mask_url(request.source_url)
    for table, option in ((request.table, "--table"), (request.labels_table, "--label-table")):
        if table not in columns:
            raise InitRefused(
                f"{option} {table} is not a table of {masked} (its tables: {_names(names)})"
            )
    rows_columns = columns[request.table]
    _need(request.table, request.id, "--id", rows_columns)
    _need(request.table, request.time, "--time", rows_columns)
    label_columns = columns[request.labels_table]
    _need(request.labels_table, request.label, "--label", label_columns)
    _need(request.labels_table, request.label_time, "--label-time", label_columns)
    if not request.labels_in_rows:
        _need(request.labels_table, request.id, "--id", label_columns)
    source = source_for(request)
    try:
        rows = source.newest(request.sample_rows)
        labels = source.newest_labels(request.sample_rows)
    except (SourceBatchMissing, ValueError) as err:
        raise InitRefused(str(err)) from None
    except sa.exc.SQLAlchemyError as err:
        raise InitRefused(f"cannot read {masked}: {_scrubbed(err, request.source_url)}") from None
    if rows.empty:
        raise InitRefused(f"table {request.table} has no rows with a {request.time}")
    log.info(
        "read %d rows and %d labels from %s in %s",
        len(rows),
        len(labels),
        request.table,
        masked,
    )
    return Sample(rows, labels, rows_columns, label_columns, excluded_columns(request))
