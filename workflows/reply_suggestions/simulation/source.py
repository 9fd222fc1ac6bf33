"""The simulated support desk as a SQL source (any SQLAlchemy URL).

Tables:

* ``reply_tickets_YYYYMMDD``: one per day, the day's tickets (:mod:`.tickets`);
* ``kb_articles``: every article version the desk has published up to the newest written day,
  with ``valid_from`` (ISO date text; ``facts`` and ``keywords`` as JSON text);
* ``reply_verdicts``: the agents' verdicts, written by :func:`write_verdicts` per serving day
  (``decided_at`` as ISO text ``YYYY-MM-DDTHH:MM:SS``, naive UTC, which compares as text).

Writing a day replaces that day's table and upserts the article versions valid by then, in one
transaction, so re-writing a day is a no-op; so is re-writing a day's verdicts.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from typing import Any

import pandas as pd
import sqlalchemy as sa

from workflows.reply_suggestions.simulation.incidents import Incident
from workflows.reply_suggestions.simulation.knowledge_base import Article, kb_history
from workflows.reply_suggestions.simulation.tickets import (
    DEFAULT_ROWS_PER_DAY,
    TICKET_COLUMNS,
    generate_tickets,
    table_name,
)
from workflows.reply_suggestions.simulation.verdicts import VERDICT_COLUMNS, VERDICTS

log = logging.getLogger(__name__)

KB_TABLE = "kb_articles"
VERDICTS_TABLE = "reply_verdicts"
_ISO_SECONDS = "%Y-%m-%dT%H:%M:%S"

_METADATA = sa.MetaData()
KB_ARTICLES = sa.Table(
    KB_TABLE,
    _METADATA,
    sa.Column("article_id", sa.Text, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("valid_from", sa.Text, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("category", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("facts", sa.Text, nullable=False),
    sa.Column("keywords", sa.Text, nullable=False),
)
REPLY_VERDICTS = sa.Table(
    VERDICTS_TABLE,
    _METADATA,
    sa.Column("ticket_id", sa.Text, primary_key=True),
    sa.Column("verdict", sa.Text, nullable=False),
    sa.Column("decided_at", sa.Text, nullable=False, index=True),
    sa.Column("served_on", sa.Text, nullable=False, index=True),
)


def _engine(url: str) -> sa.Engine:
    engine = sa.create_engine(url)
    if engine.dialect.name == "sqlite":
        # Python's sqlite3 driver commits DDL on the spot; SQLAlchemy's documented recipe makes
        # a replaced day table part of the transaction, so a failed write leaves the old one.
        @sa.event.listens_for(engine, "connect")
        def _no_driver_transactions(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None

        @sa.event.listens_for(engine, "begin")
        def _begin(conn: sa.Connection) -> None:
            conn.exec_driver_sql("BEGIN")

    return engine


def _days(start: dt.date, end: dt.date) -> list[dt.date]:
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


def _upsert_articles(conn: sa.Connection, articles: list[Article]) -> None:
    keys = [(a.article_id, a.version) for a in articles]
    conn.execute(
        sa.delete(KB_ARTICLES).where(
            sa.tuple_(KB_ARTICLES.c.article_id, KB_ARTICLES.c.version).in_(keys)
        )
    )
    conn.execute(sa.insert(KB_ARTICLES), [a.as_row() for a in articles])


def write_days(
    url: str,
    seed: int,
    start: dt.date,
    end: dt.date,
    incidents: Iterable[Incident] = (),
    *,
    rows_per_day: int = DEFAULT_ROWS_PER_DAY,
) -> dict[dt.date, int]:
    """Land every day from ``start`` to ``end`` inclusive; return the ticket rows per day."""
    incidents = tuple(incidents)
    written: dict[dt.date, int] = {}
    engine = _engine(url)
    try:
        for day in _days(start, end):
            tickets = generate_tickets(day, seed, incidents, rows_per_day=rows_per_day)
            with engine.begin() as conn:
                _METADATA.create_all(conn, checkfirst=True)
                tickets.to_sql(table_name(day), conn, if_exists="replace", index=False)
                _upsert_articles(conn, kb_history(incidents, until=day))
            written[day] = len(tickets)
            log.debug("landed %d reply tickets for %s", len(tickets), day)
    finally:
        engine.dispose()
    return written


def write_verdicts(url: str, day: dt.date, frame: pd.DataFrame) -> int:
    """Store the verdicts on ``day``'s served suggestions (replacing those of an earlier call
    for the same day); return the number of rows. ``frame`` has :data:`VERDICT_COLUMNS`."""
    missing = [c for c in VERDICT_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"verdict frame lacks column(s) {missing}")
    bad = sorted(set(frame["verdict"]) - set(VERDICTS))
    if bad:
        raise ValueError(f"unknown verdict value(s) {bad}; expected one of {list(VERDICTS)}")
    decided = pd.to_datetime(frame["decided_at"])
    rows = [
        {"ticket_id": str(t), "verdict": str(v), "decided_at": d.strftime(_ISO_SECONDS)}
        | {"served_on": day.isoformat()}
        for t, v, d in zip(frame["ticket_id"], frame["verdict"], decided, strict=True)
    ]
    engine = _engine(url)
    try:
        with engine.begin() as conn:
            _METADATA.create_all(conn, checkfirst=True)
            conn.execute(
                sa.delete(REPLY_VERDICTS).where(REPLY_VERDICTS.c.served_on == day.isoformat())
            )
            if rows:
                conn.execute(sa.insert(REPLY_VERDICTS), rows)
    finally:
        engine.dispose()
    return len(rows)


def read_tickets(url: str, day: dt.date) -> pd.DataFrame:
    """A landed day's tickets with the dtypes :func:`.tickets.generate_tickets` gives."""
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            frame = pd.read_sql_table(table_name(day), conn)
    finally:
        engine.dispose()
    out = frame[TICKET_COLUMNS].copy()
    for column in ("ticket_id", "category", "language", "question", "relevant_articles"):
        out[column] = out[column].astype("str")
    out["created_at"] = pd.to_datetime(out["created_at"]).astype("datetime64[ns]")
    out["edge_case"] = out["edge_case"].astype(bool)
    return out


def read_kb(url: str, as_of: dt.date | None = None) -> list[Article]:
    """The article versions in the source, in id then version order; with ``as_of``, only the
    newest version of each article valid on that day (the KB an index built then would hold)."""
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            query = sa.select(KB_ARTICLES).order_by(KB_ARTICLES.c.article_id, KB_ARTICLES.c.version)
            if as_of is not None:
                query = query.where(KB_ARTICLES.c.valid_from <= as_of.isoformat())
            rows = conn.execute(query).mappings().all()
    finally:
        engine.dispose()
    articles = [Article.from_row(r) for r in rows]
    if as_of is None:
        return articles
    latest = {a.article_id: a for a in articles}  # ascending versions: the last one wins
    return list(latest.values())


def read_verdicts(url: str, known_by: dt.datetime | None = None) -> pd.DataFrame:
    """Verdicts decided by ``known_by`` (all, if None): ticket_id, verdict, decided_at
    (datetime64[ns]), served_on (ISO date text), ordered by decided_at then ticket_id."""
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table(VERDICTS_TABLE):
                rows: list[Any] = []
            else:
                query = sa.select(REPLY_VERDICTS).order_by(
                    REPLY_VERDICTS.c.decided_at, REPLY_VERDICTS.c.ticket_id
                )
                if known_by is not None:
                    query = query.where(
                        REPLY_VERDICTS.c.decided_at <= known_by.strftime(_ISO_SECONDS)
                    )
                rows = conn.execute(query).mappings().all()
    finally:
        engine.dispose()
    return pd.DataFrame(
        {
            "ticket_id": pd.array([r["ticket_id"] for r in rows], dtype="str"),
            "verdict": pd.array([r["verdict"] for r in rows], dtype="str"),
            "decided_at": pd.to_datetime(
                [r["decided_at"] for r in rows], format=_ISO_SECONDS
            ).astype("datetime64[ns]"),
            "served_on": pd.array([r["served_on"] for r in rows], dtype="str"),
        },
        columns=[*VERDICT_COLUMNS, "served_on"],
    )
