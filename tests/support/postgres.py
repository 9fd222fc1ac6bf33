"""Throwaway PostgreSQL clusters for tests.

Starts a private PostgreSQL server from the locally installed server binaries (no Docker):
a fresh ``initdb`` data directory in a temp dir, listening on 127.0.0.1 on a free port, with
its unix socket inside the temp dir. The cluster is stopped (``pg_ctl stop -m immediate``) and
its directory deleted on exit, even if the code using it failed.

``initdb`` refuses to run as root, so when we are root (as in CI) every server command runs as
the ``postgres`` OS user via ``runuser``, and the temp dir is handed to that user.

Public API:

* ``PostgresCluster``: connection details (host, port, user, password, dbname, ``url``).
* ``throwaway_postgres()``: context manager yielding a ``PostgresCluster``.
* ``find_postgres_bindir()``: locate the server binaries or raise ``PostgresUnavailableError``.
* ``postgres_cluster``: session-scoped pytest fixture. It FAILS (never skips) when PostgreSQL
  is unavailable, because CI must prove the Postgres-backed instance works.
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg2
import pytest
from psycopg2 import sql

LOCALHOST = "127.0.0.1"
SERVER_OS_USER = "postgres"  # the OS user that runs the server when we are root
ENV_PREFIX = "AFTERLAUNCH_PG_"  # names read by the repo-root dagster.yaml
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_COMMAND_TIMEOUT_S = 60


class PostgresUnavailableError(RuntimeError):
    """The PostgreSQL server binaries (or the OS user to run them) cannot be found."""


@dataclass(frozen=True)
class PostgresCluster:
    """Connection details of a running throwaway cluster (a role with CREATEDB, and its db)."""

    host: str
    port: int
    user: str
    password: str = dataclasses.field(repr=False)
    dbname: str

    @property
    def url(self) -> str:
        """SQLAlchemy URL pinned to psycopg2 (SQLAlchemy 2.1 would otherwise pick psycopg3)."""
        return (
            f"postgresql+psycopg2://{quote(self.user, safe='')}:{quote(self.password, safe='')}"
            f"@{self.host}:{self.port}/{quote(self.dbname, safe='')}"
        )

    def env(self, prefix: str = ENV_PREFIX) -> dict[str, str]:
        """The ``AFTERLAUNCH_PG_*`` variables that the repo-root dagster.yaml reads."""
        return {
            f"{prefix}USER": self.user,
            f"{prefix}PASSWORD": self.password,
            f"{prefix}HOST": self.host,
            f"{prefix}PORT": str(self.port),
            f"{prefix}DB": self.dbname,
        }

    def connect(self) -> psycopg2.extensions.connection:
        return psycopg2.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=self.dbname,
            connect_timeout=10,
        )

    def create_database(self, dbname: str) -> PostgresCluster:
        """Create another (empty) database owned by this role, for per-test isolation."""
        if not _IDENTIFIER.match(dbname):
            raise ValueError(f"not a plain lower-case SQL identifier: {dbname!r}")
        conn = self.connect()
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
        finally:
            conn.close()
        return dataclasses.replace(self, dbname=dbname)


def _has_server_binaries(bindir: Path) -> bool:
    return all(os.access(bindir / name, os.X_OK) for name in ("initdb", "pg_ctl", "postgres"))


def _version_key(bindir: Path) -> tuple[int, ...]:
    # /usr/lib/postgresql/<version>/bin
    return tuple(int(part) for part in re.findall(r"\d+", bindir.parent.name)) or (0,)


def find_postgres_bindir() -> Path:
    """Directory holding initdb/pg_ctl/postgres: ``pg_config --bindir``, else the newest
    ``/usr/lib/postgresql/*/bin``. Raises ``PostgresUnavailableError`` if neither works."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"],
                check=True,
                capture_output=True,
                text=True,
                timeout=_COMMAND_TIMEOUT_S,
            ).stdout.strip()
            if out:
                candidates.append(Path(out))
    candidates += sorted(
        (Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin")), key=_version_key, reverse=True
    )
    for bindir in candidates:
        if _has_server_binaries(bindir):
            return bindir
    searched = ", ".join(str(c) for c in candidates) or "(no candidates)"
    raise PostgresUnavailableError(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found. Searched: "
        f"`pg_config --bindir` and /usr/lib/postgresql/*/bin -> {searched}. "
        "Install the PostgreSQL server package (e.g. apt-get install postgresql)."
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOCALHOST, 0))
        return s.getsockname()[1]


class _Runner:
    """Runs server commands, as the ``postgres`` OS user when we are root."""

    def __init__(self) -> None:
        self.workdir: Path | None = None
        self.as_root = os.geteuid() == 0
        self.uid = self.gid = -1
        if self.as_root:
            try:
                entry = pwd.getpwnam(SERVER_OS_USER)
            except KeyError as exc:
                raise PostgresUnavailableError(
                    f"running as root, but there is no {SERVER_OS_USER!r} OS user to run "
                    "initdb/pg_ctl as (initdb refuses to run as root)"
                ) from exc
            if shutil.which("runuser") is None:
                raise PostgresUnavailableError("running as root, but `runuser` is not installed")
            self.uid, self.gid = entry.pw_uid, entry.pw_gid

    def give(self, path: Path) -> None:
        """Hand a path we created over to the server user (no-op when not root)."""
        if self.as_root:
            os.chown(path, self.uid, self.gid)

    def run(self, argv: Sequence[str | os.PathLike[str]]) -> subprocess.CompletedProcess[str]:
        cmd = [os.fspath(a) for a in argv]
        if self.as_root:
            cmd = ["runuser", "-u", SERVER_OS_USER, "--", *cmd]
        env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
        return subprocess.run(
            cmd,
            cwd=self.workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=_COMMAND_TIMEOUT_S,
            check=False,
        )


def _must(result: subprocess.CompletedProcess[str], what: str, log: Path | None = None) -> None:
    if result.returncode == 0:
        return
    detail = f"{result.stdout}\n{result.stderr}".strip()
    if log is not None and log.exists():
        detail += "\n--- server log ---\n" + log.read_text(errors="replace")[-4000:]
    raise RuntimeError(f"{what} failed (exit {result.returncode}):\n{detail}")


@contextlib.contextmanager
def throwaway_postgres(
    bindir: Path | None = None,
    *,
    user: str = "afterlaunch",
    dbname: str = "afterlaunch",
    start_attempts: int = 3,
) -> Iterator[PostgresCluster]:
    """Start a private PostgreSQL cluster; yield its connection details; always tear it down."""
    for name in (user, dbname):
        if not _IDENTIFIER.match(name):
            raise ValueError(f"not a plain lower-case SQL identifier: {name!r}")
    bindir = bindir or find_postgres_bindir()
    runner = _Runner()  # raises PostgresUnavailableError before we create anything

    # mkdtemp under the system temp dir (/tmp is world-traversable, unlike pytest's
    # /tmp/pytest-of-root); the dir itself is 0700 and handed to the server user.
    base = Path(tempfile.mkdtemp(prefix="afterlaunch-pg-"))
    data_dir, socket_dir, log_file = base / "data", base / "socket", base / "server.log"
    runner.workdir = base
    started = False
    try:
        runner.give(base)
        socket_dir.mkdir(mode=0o700)
        runner.give(socket_dir)

        admin_password = secrets.token_urlsafe(24)
        pwfile = base / "admin.pw"
        pwfile.write_text(admin_password + "\n")
        pwfile.chmod(0o600)
        runner.give(pwfile)
        _must(
            runner.run(
                [
                    bindir / "initdb",
                    "--pgdata",
                    data_dir,
                    "--username",
                    "postgres",
                    "--pwfile",
                    pwfile,
                    "--auth-local",
                    "trust",
                    "--auth-host",
                    "scram-sha-256",
                    "--encoding",
                    "UTF8",
                    "--locale",
                    "C",
                    "--no-sync",
                ]
            ),
            "initdb",
        )
        pwfile.unlink()

        port = 0
        for attempt in range(1, start_attempts + 1):
            port = _free_port()
            options = (
                f"-F -c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                f"-c listen_addresses={LOCALHOST} -p {port} -k {socket_dir}"
            )
            result = runner.run(
                [bindir / "pg_ctl", "-D", data_dir, "-l", log_file, "-o", options]
                + ["-w", "-t", "30", "start"]
            )
            if result.returncode == 0:
                started = True
                break
            if attempt == start_attempts:  # e.g. the port was taken between pick and bind
                _must(result, f"pg_ctl start (port {port})", log_file)

        password = secrets.token_urlsafe(24)
        admin = psycopg2.connect(
            host=LOCALHOST,
            port=port,
            user="postgres",
            password=admin_password,
            dbname="postgres",
            connect_timeout=10,
        )
        try:
            admin.autocommit = True
            with admin.cursor() as cur:
                cur.execute(
                    sql.SQL("CREATE ROLE {} LOGIN CREATEDB PASSWORD %s").format(
                        sql.Identifier(user)
                    ),
                    (password,),
                )
                cur.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(dbname), sql.Identifier(user)
                    )
                )
        finally:
            admin.close()

        yield PostgresCluster(
            host=LOCALHOST, port=port, user=user, password=password, dbname=dbname
        )
    finally:
        try:
            if started:
                runner.run([bindir / "pg_ctl", "-D", data_dir, "-m", "immediate", "-w", "stop"])
        finally:
            shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """A throwaway PostgreSQL cluster shared by the test session.

    Tests that need an empty database of their own should call
    ``postgres_cluster.create_database("some_name")``.
    """
    problem: PostgresUnavailableError | None = None
    try:
        bindir = find_postgres_bindir()
        _Runner()  # when root: is there a `postgres` OS user and `runuser`?
    except PostgresUnavailableError as exc:
        problem = exc
    if problem is not None:  # fail, never skip: CI must prove that Postgres works
        pytest.fail(f"PostgreSQL is required for this test: {problem}", pytrace=False)
    with throwaway_postgres(bindir) as cluster:
        yield cluster
