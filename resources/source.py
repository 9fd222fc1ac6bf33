"""The source system: rows of a partition exactly as the source gives them, the labels that
became known in a window, and what people did with the outputs.

Two layouts of a SQL database (any SQLAlchemy URL), one protocol:

* :class:`DayTableSource`: one table per day, ``<table>YYYYMMDD`` (a landing-zone pattern, so
  one day's schema change is confined to that day); a weekly or monthly partition reads the
  days it spans;
* :class:`EventTimeSource`: one table, a partition being the rows whose event time falls in
  its window.

Nothing is coerced to the expected types, so the downstream contract sees a renamed, dropped or
retyped column. What comes back (pandas 3.1, SQLAlchemy 2.1): text as pandas' ``str`` dtype,
integers as ``int64`` (``float64`` with NULLs), reals as ``float64``; the event-time column
parsed as naive-UTC ``datetime64[ns]`` when it parses (a retyped column is left untouched).
``pd.read_sql`` cannot infer a dtype for a column without values (an empty table, an all-NULL
column): those get the dtype of the table's declared column type instead, so an empty batch
comes back with the same dtypes as a clean one.

Labels: the rows of ``labels_table`` whose known-at time falls in the window, columns (entity
id, label, known-at), ordered by known-at then id; a known-at value that is not a timestamp
becomes NaT (logged), left for the label contract to report. A source without a known-at
column (``known_after_days`` set: the label sits in the rows' own table) counts a label as
known that many days after its row's event time: the window is cut on the event time shifted
back by the lag, the known-at time is computed, and a row whose label is still NULL is not a
label yet. Window bounds compare as ISO text ``YYYY-MM-DDTHH:MM:SS`` against text columns
(naive UTC, as the simulators store it) and as datetimes against timestamp columns, so both
work alike on SQLite and Postgres.

Columns named in ``exclude`` (a label and its known-at time kept beside the rows) are never
read as rows: every other declared column is, so a new column still reaches the contract.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any, Protocol

import dagster as dg
import numpy as np
import pandas as pd
import sqlalchemy as sa
from pydantic import Field

from resources.masking import mask


class SourceBatchMissing(LookupError):
    """No batch (table, or no rows at all for an event-time window) landed for a partition."""


_ISO_SECONDS = "%Y-%m-%dT%H:%M:%S"


class Source(Protocol):
    """What the engine asks of a source; windows are [start, end) in naive UTC."""

    def extract(self, start: dt.datetime, end: dt.datetime) -> pd.DataFrame: ...

    def labels(self, start: dt.datetime, end: dt.datetime) -> pd.DataFrame: ...

    def feedback(self, start: dt.datetime, end: dt.datetime) -> pd.DataFrame: ...


def mask_url(url: str) -> str:
    """The URL with its secrets replaced by ``***`` (:func:`resources.masking.mask`), safe for
    logs and error messages; a value that is no URL at all is not echoed (it may be a secret)."""
    return mask(url, url) if "://" in url else "<unparseable database URL>"


class SqlSource(dg.ConfigurableResource):
    """Shared by both layouts: the connection, labels and feedback."""

    url: str = Field(description="SQLAlchemy URL of the source database (may hold a password).")
    table: str = Field(description="The rows' table (event_time) or day-table prefix.")
    entity_id: str = Field(description="The entity's id column.")
    event_time: str = Field(description="The entity's event-time column.")
    labels_table: str = Field(description="Table of (entity id, label, known-at).")
    label_column: str
    known_at_column: str = "known_at"
    feedback_table: str | None = Field(
        default=None, description="What people did with each output; None: not recorded."
    )
    feedback_columns: list[str] = Field(default_factory=list)
    feedback_time: str = "recorded_at"
    exclude: list[str] = Field(
        default_factory=list, description="Columns of the rows' table that are not raw input."
    )
    known_after_days: int | None = Field(
        default=None,
        description="No known-at column: a label is known this many days after its row's "
        "event time (the labels table is the rows' table).",
    )

    @property
    def masked_url(self) -> str:
        return mask_url(self.url)

    @property
    def label_columns(self) -> list[str]:
        return [self.entity_id, self.label_column, self.known_at_column]

    def _engine(self) -> sa.Engine:
        try:
            return sa.create_engine(self.url)
        except Exception as err:  # SQLAlchemy's message can quote the URL; don't chain it
            raise ValueError(
                f"cannot open source database {self.masked_url}: {type(err).__name__}"
            ) from None

    def _read(
        self, name: str, missing: str, query_for: Callable[[dict[str, Any]], sa.Select]
    ) -> pd.DataFrame:
        """Run the query built from the table's declared columns; a missing table raises
        SourceBatchMissing with `missing` and the masked URL. Valueless columns get their
        declared dtype."""
        engine = self._engine()
        try:
            with engine.connect() as conn:
                inspector = sa.inspect(conn)
                if not inspector.has_table(name):
                    raise SourceBatchMissing(f"{missing} in {self.masked_url}")
                declared = {c["name"]: c["type"] for c in inspector.get_columns(name)}
                query = query_for(declared)
                try:
                    df = pd.read_sql_query(query, conn)
                except Exception as err:
                    if not _undecodable(err):
                        raise
                    failed = err
                else:
                    failed = None
            if failed is not None:  # a fresh connection: the failed one may be mid-fetch
                df = self._read_keeping_bytes(engine, name, query, declared, failed)
        finally:
            engine.dispose()
        return _restore_valueless_dtypes(df, declared)

    def _read_keeping_bytes(
        self, engine: sa.Engine, name: str, query: sa.Select, declared: dict, err: Exception
    ) -> pd.DataFrame:
        """The query again with text fetched as bytes: valid UTF-8 is decoded as usual, and a
        column holding any value that is not keeps every value as the source's exact bytes,
        for the contract to name and the snapshot to keep."""
        with engine.connect() as conn:
            raw = conn.connection.dbapi_connection
            dialect = engine.dialect.name
            if dialect == "sqlite":
                raw.text_factory = bytes
            elif engine.dialect.driver == "psycopg2":
                import psycopg2.extensions as ext

                ext.register_type(ext.BYTES, raw)
                ext.register_type(ext.BYTESARRAY, raw)
            else:
                raise ValueError(
                    f"table {name} in {self.masked_url} holds text that is not UTF-8 and the "
                    f"{dialect} driver {engine.dialect.driver} cannot hand over its bytes: {err}"
                ) from err
            try:
                df = pd.read_sql_query(query, conn)
            finally:
                conn.invalidate()  # the connection's text handling was changed: never reuse it
        binary = {c for c, t in declared.items() if isinstance(t, sa.LargeBinary)}
        kept = _decode_text(df, binary)
        dg.get_dagster_logger().warning(
            "table %s holds text that is not UTF-8 in column(s) %s: kept as bytes",
            name,
            ", ".join(kept),
        )
        return df

    def _table_names(self) -> list[str]:
        engine = self._engine()
        try:
            with engine.connect() as conn:
                return sa.inspect(conn).get_table_names()
        finally:
            engine.dispose()

    def _row_columns(self, declared: dict[str, Any]) -> list[str]:
        """The declared columns read as rows: all but the excluded ones."""
        return [c for c in declared if c not in self.exclude]

    def _windowed(
        self,
        name: str,
        columns: list[str] | None,
        time_column: str,
        start,
        end,
        missing: str,
        not_null: tuple[str, ...] = (),
    ) -> pd.DataFrame:
        def query(declared: dict[str, Any]) -> sa.Select:
            wanted = columns if columns is not None else self._row_columns(declared)
            absent = [c for c in [*wanted, time_column] if c not in declared]
            if absent:
                raise ValueError(f"table {name} in {self.masked_url} lacks column(s) {absent}")
            column = sa.column(time_column)
            lo, hi = _bounds(declared[time_column], start, end)
            present = [sa.column(c).is_not(None) for c in not_null]
            return (
                sa.select(*(sa.column(c) for c in wanted))
                .select_from(sa.table(name))
                .where(column >= lo, column < hi, *present)
            )

        return self._read(name, missing, query)

    def labels(self, start: dt.datetime, end: dt.datetime) -> pd.DataFrame:
        """Labels that became known in [start, end), ordered by known-at then id.

        Raises :class:`SourceBatchMissing` if the labels table does not exist, and
        ``ValueError`` if it lacks one of the columns."""
        name, known_at = self.labels_table, self.known_at_column
        missing = f"no labels for {start:%Y-%m-%d}: labels table {name} not found"
        if self.known_after_days is not None:
            df = self._labels_after_event(start, end, missing)
        else:
            df = self._windowed(name, self.label_columns, known_at, start, end, missing)
            df[known_at] = _parse_time(df[known_at], name, coerce=True)
        # Sorted here: the database's text collation need not be byte order.
        df = df.sort_values([known_at, self.entity_id], kind="stable").reset_index(drop=True)
        dg.get_dagster_logger().debug(
            "%d labels known in [%s, %s) from %s", len(df), start, end, name
        )
        return df

    def _labels_after_event(self, start: dt.datetime, end: dt.datetime, missing: str):
        """Labels known `known_after_days` after their event: those of the rows whose event
        time lies in [start - lag, end - lag), with known-at = event time + lag. A NULL label
        is not known yet (the training counts shows such rows as unlabelled)."""
        lag = dt.timedelta(days=self.known_after_days)
        name, event_time = self.labels_table, self.event_time
        columns = [self.entity_id, self.label_column, event_time]
        df = self._windowed(
            name, columns, event_time, start - lag, end - lag, missing, (self.label_column,)
        )
        return self._known_after_event(df)

    def _known_after_event(self, df: pd.DataFrame) -> pd.DataFrame:
        """(id, label, event time) rows -> (id, label, known-at = event time + the lag)."""
        lag = dt.timedelta(days=self.known_after_days or 0)
        known = _parse_time(df[self.event_time], self.labels_table, coerce=True) + lag
        return pd.DataFrame(
            {
                self.entity_id: df[self.entity_id],
                self.label_column: df[self.label_column],
                self.known_at_column: known.astype("datetime64[ns]"),
            }
        )

    def newest_labels(self, n: int) -> pd.DataFrame:
        """The `n` newest labels (by known-at, or by event time without a known-at column),
        typed as :meth:`labels` returns them."""
        name = self.labels_table
        derived = self.known_after_days is not None
        order = self.event_time if derived else self.known_at_column
        columns = [self.entity_id, self.label_column, order]
        required = [order, *([self.label_column] if derived else [])]

        def query(declared: dict[str, Any]) -> sa.Select:
            absent = [c for c in columns if c not in declared]
            if absent:
                raise ValueError(f"table {name} in {self.masked_url} lacks column(s) {absent}")
            return (
                sa.select(*(sa.column(c) for c in columns))
                .select_from(sa.table(name))
                .where(*(sa.column(c).is_not(None) for c in required))
                .order_by(sa.column(order).desc())
                .limit(n)
            )

        df = self._read(name, f"labels table {name} not found", query)
        if derived:
            return self._known_after_event(df)
        df[order] = _parse_time(df[order], name, coerce=True)
        return df

    def feedback(self, start: dt.datetime, end: dt.datetime) -> pd.DataFrame:
        """What people did, recorded in [start, end): one row per entity, the latest record
        winning. No feedback table: an empty frame (then adoption is unknown, not zero)."""
        columns = [self.entity_id, *self.feedback_columns]
        if not self.feedback_table:
            return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})
        missing = "no feedback table"
        try:
            df = self._windowed(
                self.feedback_table, columns, self.feedback_time, start, end, missing
            )
        except SourceBatchMissing as err:
            dg.get_dagster_logger().warning("%s: feedback unknown", err)
            return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})
        df = df.drop_duplicates(self.entity_id, keep="last").reset_index(drop=True)
        df[self.entity_id] = df[self.entity_id].astype("str")
        return df

    def _parse_rows(self, df: pd.DataFrame) -> pd.DataFrame:
        if self.event_time in df.columns:
            df[self.event_time] = _parse_time(df[self.event_time], self.table, coerce=False)
        return df


class DayTableSource(SqlSource):
    """One table per day, ``<table>YYYYMMDD``."""

    def table_name(self, day: dt.date) -> str:
        return f"{self.table}{day:%Y%m%d}"

    def extract(self, start: dt.datetime, end: dt.datetime) -> pd.DataFrame:
        """The day tables of [start, end), as stored; several days are concatenated in day
        order. Raises :class:`SourceBatchMissing` if none of them landed."""
        days = [start.date() + dt.timedelta(days=i) for i in range((end - start).days)]
        frames, absent = [], []
        for day in days:
            name = self.table_name(day)
            # SELECT * without SQLAlchemy column types: values exactly as the driver gives.
            try:
                frames.append(
                    self._read(
                        name,
                        f"no batch landed for {day.isoformat()}: table {name} not found",
                        lambda declared, n=name: self._select_rows(n, declared),
                    )
                )
            except SourceBatchMissing:
                absent.append(name)
        if not frames:
            raise SourceBatchMissing(
                f"no batch landed for {start:%Y-%m-%d}"
                + (f" .. {days[-1]:%Y-%m-%d}" if len(days) > 1 else "")
                + f": table {', '.join(absent)} not found in {self.masked_url}"
            )
        df = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
        if absent and len(days) > 1:
            dg.get_dagster_logger().warning("day tables missing from the period: %s", absent)
        return self._parse_rows(df)

    def _select_rows(self, name: str, declared: dict[str, Any]) -> sa.Select:
        if not self.exclude:
            return sa.select(sa.text("*")).select_from(sa.table(name))
        columns = self._row_columns(declared)
        return sa.select(*(sa.column(c) for c in columns)).select_from(sa.table(name))

    def landed_days(self) -> list[dt.date]:
        """Days with a landed table, ascending."""
        pattern = re.compile(re.escape(self.table) + r"(\d{8})")
        days = []
        for name in self._table_names():
            match = pattern.fullmatch(name)
            if match:
                try:
                    days.append(dt.datetime.strptime(match.group(1), "%Y%m%d").date())
                except ValueError:
                    continue  # e.g. <table>20261399 is not a day
        return sorted(days)


class EventTimeSource(SqlSource):
    """One table; a partition is the rows whose event time falls in its window."""

    def extract(self, start: dt.datetime, end: dt.datetime) -> pd.DataFrame:
        """Rows with event time in [start, end), ordered by event time then id (a SELECT on
        one table has no order of its own). An empty window is an empty frame, not an error:
        the volume check says what an empty period means."""
        name = self.table
        missing = f"table {name} not found"
        df = self._windowed(name, None, self.event_time, start, end, missing)
        df = self._parse_rows(df)
        if len(df) and self.event_time in df:
            df = df.sort_values([self.event_time, self.entity_id], kind="stable")
        return df.reset_index(drop=True)

    def landed_days(self) -> list[dt.date]:
        """Days with at least one row, ascending."""
        engine = self._engine()
        try:
            with engine.connect() as conn:
                times = pd.read_sql_query(
                    sa.select(sa.column(self.event_time)).select_from(sa.table(self.table)), conn
                )[self.event_time]
        finally:
            engine.dispose()
        parsed = _parse_time(times, self.table, coerce=True).dropna()
        return sorted(set(parsed.dt.date))

    def newest(self, n: int) -> pd.DataFrame:
        """The newest `n` rows by event time, typed exactly as `extract` returns them (what a
        contract inferred from them will later be checked against)."""
        name = self.table

        def query(declared: dict[str, Any]) -> sa.Select:
            if self.event_time not in declared:
                raise ValueError(f"table {name} in {self.masked_url} lacks {self.event_time}")
            column = sa.column(self.event_time)
            return (
                sa.select(*(sa.column(c) for c in self._row_columns(declared)))
                .select_from(sa.table(name))
                .where(column.is_not(None))
                .order_by(column.desc())
                .limit(n)
            )

        df = self._parse_rows(self._read(name, f"table {name} not found", query))
        if len(df) and self.entity_id in df:
            df = df.sort_values([self.event_time, self.entity_id], kind="stable")
        return df.reset_index(drop=True)


def _bounds(sql_type: Any, start: dt.datetime, end: dt.datetime) -> tuple[Any, Any]:
    if isinstance(sql_type, sa.DateTime | sa.Date):
        return start, end
    return start.strftime(_ISO_SECONDS), end.strftime(_ISO_SECONDS)


def _undecodable(err: BaseException) -> bool:
    """True for a driver's failure to decode stored text as UTF-8 (SQLite raises
    OperationalError "Could not decode to UTF-8"; psycopg2 a UnicodeDecodeError)."""
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, UnicodeDecodeError) or "could not decode to utf-8" in str(seen).lower():
            return True
        seen = seen.__cause__ or getattr(seen, "orig", None)
    return False


def _decode_text(df: pd.DataFrame, binary: set[str]) -> list[str]:
    """In place: columns fetched as bytes become text where every value is UTF-8, as a
    normal read gives them; the others keep their bytes (all of them: a column is one type).
    Declared binary columns stay as they are. Returns the columns kept as bytes."""
    kept = []
    for col in df.columns:
        values = df[col]
        if col in binary or values.dtype != object:
            continue
        if not any(isinstance(v, bytes) for v in values):
            continue
        try:
            decoded = [v.decode("utf-8") if isinstance(v, bytes) else v for v in values]
        except UnicodeDecodeError:
            df[col] = [v.encode("utf-8") if isinstance(v, str) else v for v in values]
            kept.append(str(col))
            continue
        df[col] = pd.Series(decoded, index=df.index)
    return kept


def _restore_valueless_dtypes(df: pd.DataFrame, declared: dict[str, Any]) -> pd.DataFrame:
    """Give columns without a single value (empty table, or all NULL) their declared type."""
    out = df.copy()
    for col in out.columns:
        s = out[col]
        if s.notna().any() or col not in declared:
            continue
        dtype = _dtype_for(declared[col], has_rows=len(s) > 0)
        if dtype is not None:
            out[col] = pd.Series(np.full(len(s), np.nan), index=s.index).astype(dtype)
    return out


def _dtype_for(sql_type: Any, has_rows: bool) -> Any:
    if isinstance(sql_type, sa.Boolean):
        return object if has_rows else "bool"
    if isinstance(sql_type, sa.Integer):
        return "float64" if has_rows else "int64"
    if isinstance(sql_type, sa.Float | sa.Numeric):
        return "float64"
    if isinstance(sql_type, sa.DateTime | sa.Date):
        return "datetime64[ns]"
    if isinstance(sql_type, sa.String):
        return "str"
    return None


def _parse_time(s: pd.Series, table: str, coerce: bool) -> pd.Series:
    """Naive-UTC ``datetime64[ns]``. `coerce`: a value that is not a timestamp becomes NaT
    (logged); otherwise a column that does not parse, or is numeric, is returned unchanged
    (epoch numbers would "parse" into nonsense: leave a retyped column for the contract)."""
    if not coerce:
        if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
            return s
        try:
            parsed = pd.to_datetime(s, format="ISO8601", utc=True)
        except (ValueError, TypeError, OverflowError):
            return s
        return parsed.dt.tz_localize(None).astype("datetime64[ns]")
    parsed = pd.to_datetime(s, format="ISO8601", utc=True, errors="coerce")
    bad = parsed.isna() & s.notna()
    if bad.any():
        dg.get_dagster_logger().warning(
            "%d time value(s) in %s are not timestamps (kept as NaT), e.g. %s",
            int(bad.sum()),
            table,
            ", ".join(map(repr, s[bad].head(3).tolist())),
        )
    return parsed.dt.tz_localize(None).astype("datetime64[ns]")
