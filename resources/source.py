"""Extract one day's CRM export from the source database, exactly as the source gives it.

Each day lands as its own table ``<table_prefix>YYYYMMDD``. ``extract_day`` does not coerce
columns to the expected types, so the downstream data contract sees a renamed, dropped or
retyped column. What it returns (pandas 3.1, SQLAlchemy 2.1):

* text columns: pandas' default string dtype ``str`` (``StringDtype(na_value=nan)``, missing
  values are NaN);
* integer columns: ``int64``, or ``float64`` when the column holds NULLs (pandas' usual rule);
* real columns: ``float64``;
* ``created_at``: parsed with ``pd.to_datetime(format="ISO8601", utc=True)`` and returned as
  naive-UTC ``datetime64[ns]`` (SQLite stores it as text; a Postgres ``timestamp`` arrives as a
  datetime). If the column is numeric or does not parse, it is left untouched.

Rows come back in the order the database returns ``SELECT *`` (insertion order for the
simulated source on SQLite and on a freshly written Postgres table).

``extract_labels`` reads the outcomes table (``crm_outcomes``): the rows whose ``known_at`` falls
on the day, compared as ISO text ``YYYY-MM-DDTHH:MM:SS`` (naive UTC, as the simulator stores it),
so it works alike on SQLite and Postgres. ``ticket_id`` and ``escalated`` come back as stored
(``str`` and ``int64`` normally; an invalid value such as 2 stays 2, NULLs make ``escalated``
``float64``); ``known_at`` is parsed into naive-UTC ``datetime64[ns]``, and a value that is no
timestamp becomes ``NaT`` (logged as a warning), left for the label contract to report.

``pd.read_sql`` cannot infer a dtype for a column without values: for an EMPTY table it returns
``object`` for every column, and an all-NULL column is ``object`` too. For such columns (and only
those) the dtype is taken from the table's declared column type via SQLAlchemy inspection:
Integer -> ``int64`` (``float64`` if the column has rows, all NULL), Float/Numeric -> ``float64``,
String/Text -> ``str``, DateTime/Date -> ``datetime64[ns]``, Boolean -> ``bool``/``object``;
anything else stays ``object``. So an empty batch written from a clean frame comes back with
the same dtypes as a clean day.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd
import sqlalchemy as sa
from pydantic import Field


class SourceBatchMissing(LookupError):
    """No batch (table) landed in the source for the requested day."""


LABEL_COLUMNS = ["ticket_id", "escalated", "known_at"]
# What agents did with each ticket's suggestion (the CRM's actions table).
ACTION_COLUMNS = [
    "ticket_id",
    "agent_id",
    "used",
    "suggested_escalation",
    "accepted",
    "handle_minutes",
    "recorded_at",
]
_ISO_SECONDS = "%Y-%m-%dT%H:%M:%S"


def mask_url(url: str) -> str:
    """The URL with its password replaced by ``***``, safe for logs and error messages."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except Exception:  # never echo an unparseable URL: it may hold a secret
        return "<unparseable database URL>"


class SqlTicketSource(dg.ConfigurableResource):
    """The CRM export in a SQL database: one table per day, ``<table_prefix>YYYYMMDD``."""

    url: str = Field(description="SQLAlchemy URL of the source database (may hold a password).")
    table_prefix: str = Field(
        default="crm_tickets_", description="Day tables are named <table_prefix>YYYYMMDD."
    )
    outcomes_table: str = Field(
        default="crm_outcomes",
        description="Table of ticket outcomes (ticket_id, escalated, known_at) read as labels.",
    )

    actions_table: str = Field(
        default="crm_agent_actions",
        description="Table of what agents did with each ticket (used, accepted, handle time); "
        "a CRM without it gives empty agent_actions partitions.",
    )

    def table_name(self, day: dt.date) -> str:
        return f"{self.table_prefix}{day:%Y%m%d}"

    @property
    def masked_url(self) -> str:
        return mask_url(self.url)

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
                df = pd.read_sql_query(query_for(declared), conn)
        finally:
            engine.dispose()
        return _restore_valueless_dtypes(df, declared)

    def extract_day(self, day: dt.date) -> pd.DataFrame:
        """The day's batch as stored (see the module docstring for the dtypes).

        Raises :class:`SourceBatchMissing` if no table landed for ``day``.
        """
        if isinstance(day, dt.datetime):
            day = day.date()
        name = self.table_name(day)
        missing = f"no batch landed for {day.isoformat()}: table {name} not found"
        # SELECT * without SQLAlchemy column types: values exactly as the driver gives.
        df = self._read(
            name, missing, lambda _: sa.select(sa.text("*")).select_from(sa.table(name))
        )
        if "created_at" in df.columns:
            df["created_at"] = _parse_created_at(df["created_at"])
        dg.get_dagster_logger().debug(
            "extracted %d rows x %d columns from %s", len(df), df.shape[1], name
        )
        return df

    def extract_labels(self, day: dt.date) -> pd.DataFrame:
        """The outcomes that became known on ``day``: ``known_at`` in [day 00:00, next day
        00:00) naive UTC, columns :data:`LABEL_COLUMNS`, ordered by ``known_at`` then
        ``ticket_id`` (see the module docstring for the dtypes). A day without labels gives an
        empty frame with the same dtypes.

        Raises :class:`SourceBatchMissing` if the outcomes table does not exist, and
        ``ValueError`` if it lacks one of the columns.
        """
        if isinstance(day, dt.datetime):
            day = day.date()
        start = dt.datetime.combine(day, dt.time())
        lo, hi = (t.strftime(_ISO_SECONDS) for t in (start, start + dt.timedelta(days=1)))
        name = self.outcomes_table

        def labels_query(declared: dict[str, Any]) -> sa.Select:
            absent = [c for c in LABEL_COLUMNS if c not in declared]
            if absent:
                raise ValueError(
                    f"outcomes table {name} in {self.masked_url} lacks column(s) {absent}"
                )
            known_at = sa.column("known_at")
            return (
                sa.select(*(sa.column(c) for c in LABEL_COLUMNS))
                .select_from(sa.table(name))
                .where(known_at >= lo, known_at < hi)
                .order_by(known_at, sa.column("ticket_id"))
            )

        missing = f"no labels for {day.isoformat()}: outcomes table {name} not found"
        df = self._read(name, missing, labels_query)
        df["known_at"] = _parse_known_at(df["known_at"], name)
        # Sorted again here: the database's text collation need not be byte order.
        df = df.sort_values(["known_at", "ticket_id"], kind="stable").reset_index(drop=True)
        dg.get_dagster_logger().debug(
            "extracted %d labels known on %s from %s", len(df), day.isoformat(), name
        )
        return df

    def extract_actions(self, day: dt.date) -> pd.DataFrame:
        """Agent actions recorded on ``day`` (``recorded_at`` in [day, next day)), one row per
        ticket, the latest record winning. No actions table: an empty frame (the CRM does not
        record them; adoption is then unknown, not zero)."""
        start = dt.datetime.combine(day, dt.time())
        lo, hi = (t.strftime(_ISO_SECONDS) for t in (start, start + dt.timedelta(days=1)))
        recorded_at = sa.column("recorded_at")
        query = (
            sa.select(*(sa.column(c) for c in ACTION_COLUMNS))
            .select_from(sa.table(self.actions_table))
            .where(recorded_at >= lo, recorded_at < hi)
        )
        try:
            df = self._read(self.actions_table, "no agent actions table", lambda _: query)
        except SourceBatchMissing as missing:
            dg.get_dagster_logger().warning("%s: agent actions unknown", missing)
            return pd.DataFrame({c: pd.Series(dtype="object") for c in ACTION_COLUMNS})
        df = df.drop_duplicates("ticket_id", keep="last").reset_index(drop=True)
        return df.astype(
            {
                "ticket_id": "str",
                "agent_id": "str",
                "used": "int64",
                "accepted": "int64",
                "handle_minutes": "float64",
                "suggested_escalation": "float64",
            }
        )

    def landed_batches(self) -> list[dt.date]:
        """Days with a landed table, ascending (exactly the days ``extract_day`` can read)."""
        pattern = re.compile(re.escape(self.table_prefix) + r"(\d{8})")
        engine = self._engine()
        try:
            with engine.connect() as conn:
                names = sa.inspect(conn).get_table_names()
        finally:
            engine.dispose()
        days = []
        for name in names:
            match = pattern.fullmatch(name)
            if match:
                try:
                    days.append(dt.datetime.strptime(match.group(1), "%Y%m%d").date())
                except ValueError:
                    continue  # e.g. crm_tickets_20261399 is not a day
        return sorted(days)


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


def _parse_created_at(s: pd.Series) -> pd.Series:
    """Naive-UTC ``datetime64[ns]`` if the values parse as timestamps, else ``s`` unchanged."""
    if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
        return s  # epoch numbers would "parse" into nonsense; leave a retyped column alone
    try:
        parsed = pd.to_datetime(s, format="ISO8601", utc=True)
        return parsed.dt.tz_localize(None).astype("datetime64[ns]")
    except (ValueError, TypeError, OverflowError):
        return s


def _parse_known_at(s: pd.Series, table: str) -> pd.Series:
    """Naive-UTC ``datetime64[ns]``; a value that is not a timestamp becomes NaT (logged)."""
    parsed = pd.to_datetime(s, format="ISO8601", utc=True, errors="coerce")
    bad = parsed.isna() & s.notna()
    if bad.any():
        dg.get_dagster_logger().warning(
            "%d known_at value(s) in %s are not timestamps (kept as NaT), e.g. %s",
            int(bad.sum()),
            table,
            ", ".join(map(repr, s[bad].head(3).tolist())),
        )
    return parsed.dt.tz_localize(None).astype("datetime64[ns]")
