"""The lock that serializes changes of a workflow's serving aliases (promote, rollback, repair,
alias revert), on one host or on many.

Two implementations behind one context manager, :func:`change_lock`:

* **Embedded home** (no Postgres URL): an exclusive ``fcntl.flock`` on ``lock_path`` (the
  ``registry.lock`` file in the workflow's folder of the home), polled until the timeout. It
  works across threads and processes of one machine; flock is not reliable on network
  filesystems, so it does not serialize hosts.
* **Postgres deployment**: a transaction-scoped advisory lock, ``pg_advisory_xact_lock(key)``,
  taken on a connection held for the whole critical section. Transaction-scoped, not
  session-scoped: it ends with the transaction whatever happens (commit, rollback, a killed
  process whose connection the server then drops), so a lock can never outlive its holder or
  leak into a pooled connection. ``lock_timeout`` bounds the wait; while held, the holding
  session's ``application_name`` names the holder, so a second taker's error says who it is.

**Which database.** The lock lives in the database that holds what it guards: the MLflow
registry's own store, ``registry_uri`` or else ``tracking_uri`` of the workflow's
``ModelRegistry`` (``$AFTERLAUNCH_MLFLOW_URI`` in a deployment, see orchestration/home.py
ENV_VARS), when that is a ``postgresql`` URL. Every process that can move an alias must reach
that database already, so no new setting is needed and no deployment can serialize against a
different database than its neighbour. ``$AFTERLAUNCH_AUDIT_URL`` was not chosen: it is the
agents' audit log, optional, and may be unset in a deployment whose registry is on Postgres.
A registry behind an MLflow server (``http(s)://``) or in SQLite keeps the file lock (one host).

**Which key.** One lock per workflow (the ``scope``, its name): 64 bits of a BLAKE2b hash of
the scope, so workflows sharing one registry database never wait for each other, as their lock
files never did.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

log = logging.getLogger(__name__)

_POLL_S = 0.01
_CONNECT_TIMEOUT_S = 10
_NAME_MAX = 63  # Postgres truncates application_name to NAMEDATALEN - 1 bytes
_LOCK_NOT_AVAILABLE = "55P03"  # SQLSTATE lock_not_available (lock_timeout expired)
_KEY_PREFIX = b"afterlaunch.change_lock:"

_HOLDER_SQL = sa.text(
    "SELECT a.pid, a.application_name, a.client_addr, a.xact_start"
    " FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
    " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1"
    " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    " AND l.classid::bigint = :hi AND l.objid::bigint = :lo"
)


class ChangeLockBusy(RuntimeError):
    """The lock was not free within the timeout; the message names the lock and its holder."""


class ChangeLockLost(RuntimeError):
    """The connection holding the Postgres lock failed before the critical section ended: the
    lock was released early, so another change may have run beside this one."""


def postgres_url(uri: str | None) -> str | None:
    """``uri`` when it is a Postgres SQLAlchemy URL (the advisory lock applies), else None."""
    if not uri or not uri.strip():
        return None
    try:
        url = sa.make_url(uri.strip())
    except sa.exc.ArgumentError:
        return None  # not a database URL at all (an http(s) MLflow server): the file lock
    return uri.strip() if url.get_backend_name() == "postgresql" else None


def lock_key(scope: str) -> int:
    """The advisory lock key of ``scope``: a signed 64-bit integer, the same on every host."""
    if not str(scope).strip():
        raise ValueError("a change lock needs a non-empty scope (the workflow's name)")
    digest = hashlib.blake2b(_KEY_PREFIX + str(scope).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@contextmanager
def change_lock(
    lock_path: str | Path,
    pg_url: str | None,
    holder: str,
    timeout_s: float,
    *,
    scope: str,
) -> Iterator[None]:
    """Hold the change lock of ``scope`` for the block: the advisory xact lock on ``pg_url``
    when it is a Postgres URL, else the flock on ``lock_path``. Raises :class:`ChangeLockBusy`
    naming the lock, the timeout and the holder when it is not free within ``timeout_s``."""
    url = postgres_url(pg_url)
    if url is None:
        with _file_lock(Path(lock_path), timeout_s, holder=holder):
            yield
    else:
        with _advisory_lock(url, lock_key(scope), timeout_s, holder=holder, scope=scope):
            yield


def lock_held(lock_path: str | Path, pg_url: str | None, *, scope: str) -> bool:
    """True while someone holds the change lock of ``scope`` (read without taking it)."""
    url = postgres_url(pg_url)
    if url is None:
        return _file_held(Path(lock_path))
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            return _holder(conn, lock_key(scope)) is not None
    finally:
        engine.dispose()


# ---------------------------------------------------------------------- embedded: flock


@contextmanager
def _file_lock(lock_path: Path, timeout_s: float, *, holder: str) -> Iterator[None]:
    """An exclusive flock on ``lock_path`` (created if missing), polled until ``timeout_s``.
    flock belongs to the open file, so threads of one process exclude each other too."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    held_by = lock_path.read_text(encoding="utf-8").strip() or "unknown"
                    raise ChangeLockBusy(
                        f"could not lock {lock_path} within {timeout_s:g} s: another promotion "
                        f"or rollback holds it ({held_by}); retry when it has finished"
                    ) from None
                time.sleep(_POLL_S)
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()}, {holder}, since {_now()}\n".encode(), 0)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _file_held(lock_path: Path) -> bool:
    if not lock_path.exists():
        return False
    fd = os.open(lock_path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


# ---------------------------------------------------------------------- Postgres: advisory


@contextmanager
def _advisory_lock(
    url: str, key: int, timeout_s: float, *, holder: str, scope: str
) -> Iterator[None]:
    engine = _engine(url)
    where = f"the change lock of {scope!r} (advisory key {key}) on {_masked(url)}"
    try:
        with engine.connect() as conn:
            # lock_timeout 0 would mean "wait forever": the shortest wait is 1 ms.
            wait = f"{max(1, round(timeout_s * 1000))}ms"
            conn.execute(sa.text("SELECT set_config('lock_timeout', :w, true)"), {"w": wait})
            try:
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
            except sa.exc.OperationalError as exc:
                if getattr(exc.orig, "pgcode", None) != _LOCK_NOT_AVAILABLE:
                    raise
                conn.rollback()
                held_by = _describe(_holder(conn, key))
                raise ChangeLockBusy(
                    f"could not take {where} within {timeout_s:g} s: another promotion or "
                    f"rollback holds it ({held_by}); retry when it has finished"
                ) from None
            label = f"afterlaunch {holder}, pid {os.getpid()} on {socket.gethostname()}"
            conn.execute(
                sa.text("SELECT set_config('application_name', :n, true)"),
                {"n": label.encode()[:_NAME_MAX].decode(errors="ignore")},
            )
            log.debug("took %s for %s", where, holder)
            yield
            try:
                conn.commit()  # ends the transaction: the lock is released here
            except sa.exc.DBAPIError as exc:
                raise ChangeLockLost(
                    f"the connection holding {where} for {holder} failed before the change "
                    f"ended ({exc.orig}): the lock was released early, so another change may "
                    "have run beside it; check the aliases against their history"
                ) from exc
    finally:
        engine.dispose()


def _engine(url: str) -> sa.Engine:
    # One short-lived connection per critical section: nothing pooled outlives it.
    connect_args = {}
    if "connect_timeout" not in sa.make_url(url).query:
        connect_args["connect_timeout"] = _CONNECT_TIMEOUT_S
    return sa.create_engine(url, poolclass=sa.pool.NullPool, connect_args=connect_args)


def _holder(conn: sa.Connection, key: int) -> sa.Row | None:
    unsigned = key & 0xFFFFFFFFFFFFFFFF
    row = conn.execute(_HOLDER_SQL, {"hi": unsigned >> 32, "lo": unsigned & 0xFFFFFFFF}).first()
    conn.rollback()  # a read outside any critical section: end its transaction at once
    return row


def _describe(row: sa.Row | None) -> str:
    if row is None:
        return "released just now"
    since = row.xact_start.isoformat(timespec="seconds") if row.xact_start else "unknown"
    name = row.application_name or "no application name"
    return f"{name}; server pid {row.pid} from {row.client_addr or 'local socket'}, since {since}"


def _masked(url: str) -> str:
    return sa.make_url(url).render_as_string(hide_password=True)


def _now() -> str:
    # Only labels the lock file for a human; never used in a decision.
    return datetime.now(UTC).isoformat(timespec="seconds")
