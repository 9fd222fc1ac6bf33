"""The audit log of agent tool calls: the system of record of what agents asked to do, who
decided, and what happened.

One table, `agent_audit`, in the deployment's database: a SQLite file in the workflow's folder
of the home by default, Postgres in production (`$AFTERLAUNCH_AUDIT_URL`). Rows are appended,
never changed: triggers refuse UPDATE and DELETE (and TRUNCATE on Postgres), and every row
carries the hash of the one before it (checks/audit_chain.py), so that someone who goes around
the triggers with database access still leaves a trace that `verify()` names.

Appends are serialized across threads, processes and hosts (two approvers answering one
request at once): SQLite by `BEGIN IMMEDIATE` (one writer at a time, others wait up to 30 s),
Postgres by a transaction-scoped advisory lock. Inside that one transaction the caller's
`check` sees the request's history and may refuse, so two decisions on one request cannot both
be written.

Times (`at`, `deadline`) are stored in UTC with microseconds (`2026-03-01T10:00:00.000000+00:00`)
so that text order is time order and `rows(since=..., until=...)` filters in SQL.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from dagster import ConfigurableResource
from pydantic import Field

from checks.action_classes import (
    ACTION_CLASS_VALUES,
    DISPOSITIONS,
    arguments_digest,
    canonical_json,
)
from checks.audit_chain import COLUMNS, GENESIS, ChainFinding, row_hash, verify_chain
from resources.masking import mask

log = logging.getLogger(__name__)

TABLE = "agent_audit"
AUDIT_FILE = "audit.sqlite"
# The advisory lock every appender takes on Postgres ("agentaud" in ASCII): one chain per table.
_PG_LOCK_KEY = 0x6167656E74617564 & 0x7FFFFFFFFFFFFFFF
_BEGIN_OPTION = "afterlaunch_sqlite_begin"
_BUSY_TIMEOUT_S = 30

_TABLE = sa.Table(
    TABLE,
    sa.MetaData(),
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    *(sa.Column(c, sa.Text) for c in COLUMNS if c != "seq"),
)

# Every column but seq is text; only these may be empty.
_TEXT_COLUMNS = ", ".join(
    f"{c} TEXT" + ("" if c in ("output", "error", "deadline") else " NOT NULL")
    for c in COLUMNS
    if c != "seq"
)
_SQLITE_SCHEMA = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} (seq INTEGER PRIMARY KEY, {_TEXT_COLUMNS})",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_request ON {TABLE} (request_id)",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_at ON {TABLE} (at)",
    f"CREATE TRIGGER IF NOT EXISTS {TABLE}_no_update BEFORE UPDATE ON {TABLE} "
    f"BEGIN SELECT RAISE(ABORT, '{TABLE} is append-only'); END",
    f"CREATE TRIGGER IF NOT EXISTS {TABLE}_no_delete BEFORE DELETE ON {TABLE} "
    f"BEGIN SELECT RAISE(ABORT, '{TABLE} is append-only'); END",
)
_PG_SCHEMA = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} (seq BIGINT PRIMARY KEY, {_TEXT_COLUMNS})",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_request ON {TABLE} (request_id)",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_at ON {TABLE} (at)",
    f"""CREATE OR REPLACE FUNCTION {TABLE}_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION '{TABLE} is append-only: % refused', TG_OP; END $$""",
)
_PG_TRIGGERS = {
    f"{TABLE}_no_change": f"CREATE TRIGGER {TABLE}_no_change BEFORE UPDATE OR DELETE ON {TABLE} "
    f"FOR EACH ROW EXECUTE FUNCTION {TABLE}_refuse()",
    f"{TABLE}_no_truncate": f"CREATE TRIGGER {TABLE}_no_truncate BEFORE TRUNCATE ON {TABLE} "
    f"FOR EACH STATEMENT EXECUTE FUNCTION {TABLE}_refuse()",
}


class AuditLogError(RuntimeError):
    """The audit log cannot be read or written as it must be."""


@dataclass(frozen=True)
class AuditEntry:
    """What a caller appends: one tool call, or one decision about it (no seq, no hashes)."""

    at: str
    workflow: str
    request_id: str  # the approval reference: every row of one request shares it
    agent_id: str
    agent_version: str  # the model or prompt version that decided
    tool: str
    action_class: str  # reversible | difficult | irreversible | undeclared
    arguments: dict
    context: dict  # entity id, score, serving version...
    disposition: str  # see DISPOSITIONS
    actor: str  # who wrote this row: the agent, the approver, or "gate"
    output: Any = None
    error: str | None = None
    reason: str = ""
    deadline: str | None = None  # when a pending request expires or its cancel window closes


@dataclass(frozen=True)
class AuditRow:
    """One stored row: every column, with input, context and output parsed back."""

    seq: int
    at: str
    workflow: str
    request_id: str
    agent_id: str
    agent_version: str
    tool: str
    action_class: str
    input: dict
    digest: str
    output: Any
    error: str | None
    context: dict
    disposition: str
    actor: str
    reason: str
    deadline: str | None
    prev_hash: str
    hash: str = field(repr=False)

    @property
    def arguments(self) -> dict:
        """The tool's arguments (the parsed `input` column)."""
        return self.input


def utc_text(value: str, what: str) -> str:
    """`value`, an aware ISO-8601 time, as the stored UTC text; a ValueError naming `what`
    otherwise."""
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"audit entry {what} {value!r} is not an ISO-8601 time") from exc
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"audit entry {what} {value!r} has no timezone (it must be aware)")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def entry_columns(entry: AuditEntry) -> dict[str, Any]:
    """The stored columns of `entry` (all but seq, prev_hash and hash), validated."""
    if entry.disposition not in DISPOSITIONS:
        raise ValueError(
            f"audit entry disposition {entry.disposition!r} is not one of {', '.join(DISPOSITIONS)}"
        )
    if entry.action_class not in ACTION_CLASS_VALUES:
        raise ValueError(
            f"audit entry action_class {entry.action_class!r} is not one of "
            f"{', '.join(ACTION_CLASS_VALUES)}"
        )
    for name in ("workflow", "request_id", "agent_id", "tool", "actor"):
        value = getattr(entry, name)
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"audit entry {name} must be a non-empty string, not {value!r}")
    for name in ("agent_version", "reason"):
        if not isinstance(getattr(entry, name), str):
            raise ValueError(f"audit entry {name} must be a string")
    if entry.error is not None and not isinstance(entry.error, str):
        raise ValueError(f"audit entry error must be text or None, not {entry.error!r}")
    for name in ("arguments", "context"):
        if not isinstance(getattr(entry, name), Mapping):
            raise ValueError(f"audit entry {name} must be a dict, not {getattr(entry, name)!r}")
    return {
        "at": utc_text(entry.at, "at"),
        "workflow": entry.workflow,
        "request_id": entry.request_id,
        "agent_id": entry.agent_id,
        "agent_version": entry.agent_version,
        "tool": entry.tool,
        "action_class": entry.action_class,
        "input": _json(dict(entry.arguments), "arguments"),
        "digest": arguments_digest(entry.arguments),
        "output": None if entry.output is None else _json(entry.output, "output"),
        "error": entry.error,
        "context": _json(dict(entry.context), "context"),
        "disposition": entry.disposition,
        "actor": entry.actor,
        "reason": entry.reason,
        "deadline": None if entry.deadline is None else utc_text(entry.deadline, "deadline"),
    }


def _json(value: Any, what: str) -> str:
    try:
        return canonical_json(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"audit entry {what} is not JSON-serializable: {exc}") from exc


def parse_row(columns: Mapping[str, Any]) -> AuditRow:
    """An AuditRow from the stored columns."""
    try:
        parsed = {
            "input": json.loads(columns["input"]),
            "context": json.loads(columns["context"]),
            "output": None if columns["output"] is None else json.loads(columns["output"]),
        }
    except (TypeError, ValueError) as exc:
        raise AuditLogError(
            f"audit row {columns.get('seq')} holds malformed JSON ({exc}): run `verify()`; the "
            "row was changed outside the store"
        ) from exc
    return AuditRow(**{**{c: columns[c] for c in COLUMNS}, **parsed, "seq": int(columns["seq"])})


class AuditLog:
    """The `agent_audit` table behind one SQLAlchemy URL (one engine, created on first use)."""

    def __init__(self, url: str):
        if not url:
            raise AuditLogError("the audit log needs a database URL (sqlite:///... or postgres)")
        self.url = url
        self._engine: sa.Engine | None = None
        self._ready = False
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ public API

    def append(
        self, entry: AuditEntry, check: Callable[[list[AuditRow]], None] | None = None
    ) -> AuditRow:
        """Append `entry` as the next row of the chain and return it as stored.

        `check(history)`, given the rows of `entry.request_id` so far, runs inside the write
        transaction: it may raise to refuse, and its exception propagates unchanged with
        nothing written."""
        columns = entry_columns(entry)
        engine = self._ready_engine()
        try:
            with self._write(engine) as conn:
                head = conn.execute(
                    sa.select(_TABLE.c.seq, _TABLE.c.hash).order_by(_TABLE.c.seq.desc()).limit(1)
                ).first()
                if check is not None:
                    history = [
                        parse_row(r._mapping)
                        for r in conn.execute(
                            sa.select(_TABLE)
                            .where(_TABLE.c.request_id == entry.request_id)
                            .order_by(_TABLE.c.seq)
                        )
                    ]
                    check(history)
                seq, prev_hash = (int(head.seq) + 1, head.hash) if head else (1, GENESIS)
                row = {"seq": seq, **columns, "prev_hash": prev_hash}
                row["hash"] = row_hash(prev_hash, row)
                conn.execute(_TABLE.insert().values(**row))
        except sa.exc.SQLAlchemyError as exc:
            raise self._failure("append to", exc) from None
        return parse_row(row)

    def rows(
        self,
        *,
        since: str | None = None,
        until: str | None = None,
        request_id: str | None = None,
        workflow: str | None = None,
    ) -> list[AuditRow]:
        """Rows by seq, filtered: `since` <= at < `until` (aware ISO times), one request, one
        workflow."""
        query = sa.select(_TABLE).order_by(_TABLE.c.seq)
        if since is not None:
            query = query.where(_TABLE.c.at >= utc_text(since, "since"))
        if until is not None:
            query = query.where(_TABLE.c.at < utc_text(until, "until"))
        if request_id is not None:
            query = query.where(_TABLE.c.request_id == request_id)
        if workflow is not None:
            query = query.where(_TABLE.c.workflow == workflow)
        return [parse_row(r) for r in self._read(query)]

    def request_rows(self, request_id: str) -> list[AuditRow]:
        """Every row of one request, by seq."""
        return self.rows(request_id=request_id)

    def head(self) -> tuple[int, str]:
        """(last seq, its hash); (0, GENESIS) when the log is empty."""
        found = self._read(
            sa.select(_TABLE.c.seq, _TABLE.c.hash).order_by(_TABLE.c.seq.desc()).limit(1)
        )
        return (int(found[0]["seq"]), found[0]["hash"]) if found else (0, GENESIS)

    def verify(self, anchors: Iterable[tuple[int, str]] = ()) -> list[ChainFinding]:
        """Every sign of tampering in the stored chain (checks/audit_chain.py); [] if intact.
        Reads the raw columns, so a row whose JSON was broken is still judged by its hash."""
        stored = self._read(sa.select(_TABLE).order_by(_TABLE.c.seq))
        return verify_chain([{**r, "seq": int(r["seq"])} for r in stored], anchors=anchors)

    def close(self) -> None:
        """Dispose of the engine (a later call creates a new one)."""
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None
                self._ready = False

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def masked_url(self) -> str:
        return mask(self.url, self.url)

    @property
    def dialect(self) -> str:
        return sa.engine.make_url(self.url).get_backend_name()

    # ------------------------------------------------------------------ internals

    def _ready_engine(self) -> sa.Engine:
        with self._lock:
            if self._engine is None:
                self._engine = self._create_engine()
            if not self._ready:
                self._create_schema(self._engine)
                self._ready = True
            return self._engine

    def _create_engine(self) -> sa.Engine:
        try:
            url = sa.engine.make_url(self.url)
        except sa.exc.ArgumentError as exc:
            raise AuditLogError(f"the audit log URL {self.masked_url} is not a URL") from exc
        backend = url.get_backend_name()
        if backend == "sqlite":
            if not url.database or url.database == ":memory:":
                raise AuditLogError(
                    f"the audit log {self.masked_url} must be a SQLite file (an in-memory log "
                    "is lost with its process)"
                )
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
            engine = sa.create_engine(
                url, connect_args={"timeout": _BUSY_TIMEOUT_S, "check_same_thread": False}
            )
            sa.event.listen(engine, "connect", _sqlite_connect)
            sa.event.listen(engine, "begin", _sqlite_begin)
            return engine
        if backend == "postgresql":
            return sa.create_engine(url, pool_pre_ping=True)
        raise AuditLogError(
            f"the audit log {self.masked_url} is on {backend}: only SQLite and Postgres are "
            "supported"
        )

    def _write(self, engine: sa.Engine):
        """A transaction that holds the append lock until it commits or rolls back."""
        return _WriteTransaction(engine)

    def _create_schema(self, engine: sa.Engine) -> None:
        try:
            with self._write(engine) as conn:
                present = sa.inspect(conn).has_table(TABLE)
                if present:
                    self._check_columns(conn)
                statements = _SQLITE_SCHEMA if engine.dialect.name == "sqlite" else _PG_SCHEMA
                for statement in statements:
                    conn.execute(sa.text(statement))  # text() escapes the `%` for psycopg2
                if engine.dialect.name == "postgresql":
                    existing = set(
                        conn.execute(
                            sa.text(
                                "SELECT tgname FROM pg_trigger WHERE tgrelid = CAST(:t AS regclass)"
                            ),
                            {"t": TABLE},
                        ).scalars()
                    )
                    for name, statement in _PG_TRIGGERS.items():
                        if name not in existing:
                            conn.execute(sa.text(statement))
        except sa.exc.SQLAlchemyError as exc:
            raise self._failure("open", exc) from None

    def _check_columns(self, conn: sa.Connection) -> None:
        present = {c["name"] for c in sa.inspect(conn).get_columns(TABLE)}
        missing = [c for c in COLUMNS if c not in present]
        if missing:
            raise AuditLogError(
                f"the audit log {self.masked_url} has a {TABLE} table without the columns "
                f"{', '.join(missing)}: restore it from a backup; it is never re-created empty "
                "over recorded rows"
            )

    def _read(self, query) -> list[dict]:
        engine = self._ready_engine()
        try:
            with engine.connect() as conn:
                return [dict(r._mapping) for r in conn.execute(query)]
        except sa.exc.SQLAlchemyError as exc:
            raise self._failure("read", exc) from None

    def _failure(self, what: str, exc: Exception) -> AuditLogError:
        # Not chained: a driver's exception may quote the URL with its password.
        cause = mask(f"{type(exc).__name__}: {getattr(exc, 'orig', None) or exc}", self.url)
        if "locked" in cause or "busy" in cause:
            return AuditLogError(f"the audit log {self.masked_url} is busy ({cause}): retry")
        log.error("cannot %s the audit log %s: %s", what, self.masked_url, cause)
        return AuditLogError(
            f"cannot {what} the audit log {self.masked_url} ({cause}): check that it is a "
            f"reachable {TABLE} database; a damaged file is restored from a backup, never "
            "re-created empty over recorded rows"
        )


class _WriteTransaction:
    """`with _WriteTransaction(engine) as conn:` one transaction holding the append lock:
    SQLite's write lock taken at BEGIN (IMMEDIATE), or Postgres's advisory lock."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine
        self.conn: sa.Connection | None = None
        self.transaction = None

    def __enter__(self) -> sa.Connection:
        self.conn = self.engine.connect()
        try:
            if self.engine.dialect.name == "sqlite":
                self.conn.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
            self.transaction = self.conn.begin()
            if self.engine.dialect.name == "postgresql":
                self.conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
        except BaseException:
            self.conn.close()
            raise
        return self.conn

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self.transaction.commit()
            else:
                self.transaction.rollback()
        finally:
            self.conn.close()


def _sqlite_connect(dbapi_connection, _record) -> None:
    # The driver's own transaction handling is off so that `begin` below decides the BEGIN.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        # WAL lets readers run beside the one writer; synchronous=NORMAL in WAL mode can lose
        # the last commits on a power cut (never on a process crash) and never corrupts the
        # file: acceptable for thousands of appends a simulated day, and the chain plus the
        # anchors show such a loss as a truncation.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_S * 1000}")
    finally:
        cursor.close()


def _sqlite_begin(conn: sa.Connection) -> None:
    mode = conn.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")


def audit_url(home_root: str | Path, workflow: str, configured: str = "") -> str:
    """`configured` (from $AFTERLAUNCH_AUDIT_URL) when set, else the workflow's SQLite file in
    the home."""
    if configured.strip():
        return configured.strip()
    return f"sqlite:///{Path(home_root) / 'workflows' / workflow / AUDIT_FILE}"


class AuditLogResource(ConfigurableResource):
    """The audit log of one workflow: its SQLite file in the home, or the configured URL."""

    home: str = Field(description="the deployment's home folder")
    workflow: str = Field(description="the workflow whose agents' actions are logged")
    url: str = Field(default="", description="database URL; from AFTERLAUNCH_AUDIT_URL")

    def log(self) -> AuditLog:
        """A new AuditLog (one engine: keep it for the run, close it when done)."""
        return AuditLog(audit_url(self.home, self.workflow, self.url))
