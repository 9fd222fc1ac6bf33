"""The agent audit log on a real SQLite file and a real (throwaway) Postgres database:
round trip, append-only triggers, refusals that write nothing, appends from two processes, and
tampering (around the triggers, as someone with database access could) named by `verify()`."""

from __future__ import annotations

import itertools
import multiprocessing
import sqlite3

import pytest
import sqlalchemy as sa

from checks.action_classes import arguments_digest
from checks.audit_chain import GENESIS
from resources.audit_log import (
    AuditEntry,
    AuditLog,
    AuditLogError,
    AuditLogResource,
    audit_url,
)

_DATABASES = itertools.count(1)


@pytest.fixture(params=["sqlite", "postgres"])
def url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return audit_url(tmp_path / "home", "ticket_escalation")
    cluster = request.getfixturevalue("postgres_cluster")
    return cluster.create_database(f"audit_log_test_{next(_DATABASES)}").url


@pytest.fixture
def log(url):
    with AuditLog(url) as audit:
        yield audit


def entry(n: int = 1, **overrides) -> AuditEntry:
    values = {
        "at": f"2026-03-01T10:{n % 60:02d}:00+01:00",
        "workflow": "ticket_escalation",
        "request_id": f"req-{n}",
        "agent_id": "assistant",
        "agent_version": "prompt@3",
        "tool": "send_reply",
        "action_class": "irreversible",
        "arguments": {"ticket_id": f"t-{n}", "text": "Sorry for the wait"},
        "context": {"entity_id": f"t-{n}", "score": 0.91, "serving_version": "4"},
        "disposition": "pending",
        "actor": "assistant",
        "deadline": "2026-03-01T11:00:00+01:00",
    }
    return AuditEntry(**{**values, **overrides})


def raw(url: str, *statements: str) -> list:
    """Run SQL straight on the database, around the store (and its triggers' refusals
    surface as the driver's errors)."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            results = [conn.exec_driver_sql(s) for s in statements]
            return [r.all() if r.returns_rows else None for r in results]
    finally:
        engine.dispose()


def tamper(url: str, *statements: str) -> None:
    """What someone with database access could do: switch off the triggers, then change rows."""
    if url.startswith("sqlite"):
        off = ["DROP TRIGGER agent_audit_no_update", "DROP TRIGGER agent_audit_no_delete"]
    else:
        off = ["ALTER TABLE agent_audit DISABLE TRIGGER agent_audit_no_change"]
    raw(url, *off, *statements)


def fill(log: AuditLog, count: int) -> list:
    return [log.append(entry(n)) for n in range(1, count + 1)]


def test_rows_round_trip_with_their_chain(log):
    first = log.append(entry(1))
    decided = log.append(entry(1, disposition="approved", actor="dana", reason="checked"))
    other = log.append(
        entry(2, tool="escalate", action_class="reversible", disposition="executed", deadline=None)
    )
    done = log.append(entry(1, disposition="executed", output={"sent": True}, error=None))

    assert [r.seq for r in log.rows()] == [1, 2, 3, 4]
    assert first.prev_hash == GENESIS and decided.prev_hash == first.hash
    assert log.head() == (4, done.hash)
    stored = log.rows()[0]
    assert stored == first
    assert stored.at == "2026-03-01T09:01:00.000000+00:00"  # stored in UTC
    assert stored.deadline == "2026-03-01T10:00:00.000000+00:00"
    assert stored.arguments == {"ticket_id": "t-1", "text": "Sorry for the wait"}
    assert stored.digest == arguments_digest(stored.arguments)
    assert stored.context == {"entity_id": "t-1", "score": 0.91, "serving_version": "4"}
    assert log.rows()[3].output == {"sent": True}
    assert [r.seq for r in log.request_rows("req-1")] == [1, 2, 4]
    assert [r.actor for r in log.request_rows("req-1")] == ["assistant", "dana", "assistant"]
    assert log.request_rows("req-2") == [other]
    assert [r.seq for r in log.rows(since="2026-03-01T09:02:00+00:00")] == [3]
    assert [r.seq for r in log.rows(until="2026-03-01T10:02:00+01:00")] == [1, 2, 4]
    assert log.rows(workflow="another") == []
    assert log.verify() == []

    with AuditLog(log.url) as again:  # another process opening the same store
        assert again.head() == (4, done.hash)
        assert again.append(entry(5)).seq == 5


def test_an_empty_log_has_the_genesis_head(log):
    assert log.head() == (0, GENESIS)
    assert log.rows() == [] and log.verify() == []


@pytest.mark.bad_input
@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"disposition": "done"}, "'done'"),
        ({"action_class": "harmless"}, "'harmless'"),
        ({"at": "2026-03-01T10:00:00"}, "no timezone"),
        ({"at": "yesterday"}, "'yesterday'"),
        ({"deadline": "soon"}, "'soon'"),
        ({"tool": ""}, "tool"),
        ({"arguments": {"when": object()}}, "arguments"),
    ],
)
def test_a_bad_entry_is_refused_by_name_and_nothing_is_written(tmp_path, change, named):
    with AuditLog(audit_url(tmp_path, "w")) as log:
        with pytest.raises(ValueError, match=named):
            log.append(entry(1, **change))
        assert log.head() == (0, GENESIS)


def test_the_database_refuses_updates_and_deletes(log, url):
    fill(log, 3)
    before = log.rows()
    statements = [
        "UPDATE agent_audit SET disposition = 'approved' WHERE seq = 2",
        "DELETE FROM agent_audit WHERE seq = 3",
    ]
    if url.startswith("postgresql"):
        statements.append("TRUNCATE agent_audit")
    for statement in statements:
        with pytest.raises(sa.exc.DatabaseError, match="append-only"):
            raw(url, statement)
    assert log.rows() == before
    # Opening the store again does not duplicate or weaken its triggers.
    with AuditLog(url) as again:
        again.append(entry(4))
    with pytest.raises(sa.exc.DatabaseError, match="append-only"):
        raw(url, "DELETE FROM agent_audit")


class Refused(Exception):
    pass


def test_a_refusing_check_writes_nothing_and_its_error_propagates(log):
    log.append(entry(1))
    log.append(entry(2))
    log.append(entry(1, disposition="approved", actor="dana"))
    seen = []
    refusal = Refused("already decided by dana")

    def check(history):
        seen.append([(r.seq, r.disposition) for r in history])
        if any(r.disposition == "approved" for r in history):
            raise refusal

    with pytest.raises(Refused) as caught:
        log.append(entry(1, disposition="denied", actor="erik"), check=check)
    assert caught.value is refusal
    assert seen == [[(1, "pending"), (3, "approved")]]  # that request's rows only
    assert log.head()[0] == 3
    assert log.append(entry(2, disposition="approved", actor="erik"), check=check).seq == 4


def _append_many(url: str, worker: int, count: int) -> None:
    """One process's appends (run in a forked child: its own engine)."""
    with AuditLog(url) as log:
        for n in range(count):
            log.append(
                entry(n, request_id=f"req-{worker}-{n % 7}", actor=f"worker-{worker}"),
                check=lambda history: None,
            )

        def undecided(history):
            if any(r.disposition in ("approved", "denied") for r in history):
                raise Refused(f"already decided: {history[-1].actor}")

        # Both processes answer the same request: exactly one decision may be written.
        try:
            log.append(
                entry(0, request_id="shared", disposition="approved", actor=f"worker-{worker}"),
                check=undecided,
            )
        except Refused:
            pass


def test_appends_from_two_processes_leave_one_contiguous_valid_chain(log, url):
    log.append(entry(0, request_id="shared"))
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_append_many, args=(url, w, 200)) for w in (1, 2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [w.exitcode for w in workers] == [0, 0]

    rows = log.rows()
    assert [r.seq for r in rows] == list(range(1, 403))
    assert {r.actor for r in rows} == {"assistant", "worker-1", "worker-2"}
    assert log.verify() == []
    decisions = [r for r in log.request_rows("shared") if r.disposition == "approved"]
    assert len(decisions) == 1


def test_an_edited_row_is_named(log, url):
    fill(log, 5)
    tamper(url, "UPDATE agent_audit SET disposition = 'approved' WHERE seq = 3")
    findings = log.verify()
    assert [(f.kind, f.seq) for f in findings] == [("edited", 3)]
    assert "req-3" in findings[0].detail and "send_reply" in findings[0].detail


def test_a_deleted_row_is_named(log, url):
    fill(log, 5)
    tamper(url, "DELETE FROM agent_audit WHERE seq = 2")
    findings = log.verify()
    assert [(f.kind, f.seq) for f in findings] == [("deleted", 2)]
    assert "row 2 is missing" in findings[0].detail


def test_swapped_rows_are_named_as_reordered(log, url):
    fill(log, 5)
    tamper(
        url,
        "UPDATE agent_audit SET seq = -1 WHERE seq = 2",
        "UPDATE agent_audit SET seq = 2 WHERE seq = 4",
        "UPDATE agent_audit SET seq = 4 WHERE seq = -1",
    )
    findings = log.verify()
    assert [(f.kind, f.seq) for f in findings] == [("reordered", 2), ("reordered", 4)]
    assert "req-4" in findings[0].detail and "chain puts it at seq 4" in findings[0].detail


def test_deleted_newest_rows_are_named_against_an_anchor(log, url):
    rows = fill(log, 6)
    anchor = log.head()
    assert anchor == (6, rows[-1].hash)
    tamper(url, "DELETE FROM agent_audit WHERE seq > 4")
    assert log.verify() == []  # what remains chains perfectly
    findings = log.verify(anchors=[anchor])
    assert [(f.kind, f.seq) for f in findings] == [("truncated", 6)]


def test_a_row_with_broken_json_is_named_and_reading_it_says_so(log, url):
    fill(log, 3)
    tamper(url, "UPDATE agent_audit SET input = '{not json' WHERE seq = 2")
    assert [(f.kind, f.seq) for f in log.verify()] == [("edited", 2)]
    with pytest.raises(AuditLogError, match="audit row 2 holds malformed JSON"):
        log.rows()


@pytest.mark.bad_input
def test_a_file_that_is_not_an_audit_database_is_refused_and_kept(tmp_path):
    path = tmp_path / "audit.sqlite"
    path.write_bytes(b"these are not the rows you are looking for" * 100)
    with AuditLog(f"sqlite:///{path}") as log:
        with pytest.raises(AuditLogError, match="restored from a backup"):
            log.append(entry(1))
    assert path.read_bytes().startswith(b"these are not")


@pytest.mark.bad_input
def test_a_table_without_its_columns_is_refused_not_recreated(tmp_path):
    path = tmp_path / "audit.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE agent_audit (seq INTEGER PRIMARY KEY, at TEXT)")
        conn.execute("INSERT INTO agent_audit VALUES (1, 'then')")
    with AuditLog(f"sqlite:///{path}") as log:
        with pytest.raises(AuditLogError, match="without the columns workflow, request_id"):
            log.rows()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT * FROM agent_audit").fetchall() == [(1, "then")]


@pytest.mark.bad_input
def test_an_unreachable_postgres_is_named_without_its_password():
    log = AuditLog("postgresql+psycopg2://afterlaunch:s3cr3t-pw@127.0.0.1:1/audit")
    with pytest.raises(AuditLogError) as caught:
        log.head()
    assert "s3cr3t-pw" not in str(caught.value) and "127.0.0.1:1" in str(caught.value)
    assert caught.value.__cause__ is None


def test_the_url_is_the_configured_one_or_the_workflows_file_in_the_home(tmp_path):
    assert audit_url(tmp_path, "shop") == f"sqlite:///{tmp_path}/workflows/shop/audit.sqlite"
    assert audit_url(tmp_path, "shop", "postgresql+psycopg2://h/db") == (
        "postgresql+psycopg2://h/db"
    )
    resource = AuditLogResource(home=str(tmp_path), workflow="shop")
    with resource.log() as log:
        log.append(entry(1))
    assert (tmp_path / "workflows" / "shop" / "audit.sqlite").exists()
