"""The change lock across processes: the Postgres advisory lock against a real throwaway
cluster (processes started with 'spawn', as on separate hosts they share nothing but the
database), and the embedded file lock."""

from __future__ import annotations

import fcntl
import json
import multiprocessing
import os
import signal
import time
from pathlib import Path

import pytest

from resources.change_lock import (
    ChangeLockBusy,
    change_lock,
    lock_held,
    lock_key,
    postgres_url,
)

SCOPE = "ticket_escalation"
ROUNDS = 4  # critical sections per process
HOLD_S = 0.05  # the sleep inside each critical section: a window for the other to overlap


@pytest.fixture(scope="module")
def pg_url(request) -> str:
    cluster = request.getfixturevalue("postgres_cluster")
    return cluster.create_database("change_lock_test").url


@pytest.fixture
def ctx():
    return multiprocessing.get_context("spawn")


# ------------------------------------------------------------------ child processes


def _racer(url: str, lock_path: str, record: str, counter: str, who: str, start) -> None:
    """Take the lock ROUNDS times; inside, a read-modify-write of the counter (a lost update
    shows as a repeated number) and the section's start/end times appended to the record."""
    start.wait(30)
    for _ in range(ROUNDS):
        with change_lock(lock_path, url, f"race by {who}", 30, scope=SCOPE):
            began = time.time()
            seen = int(Path(counter).read_text())
            time.sleep(HOLD_S)
            Path(counter).write_text(str(seen + 1))
            line = {"who": who, "seen": seen, "began": began, "ended": time.time()}
            with open(record, "a", encoding="utf-8") as out:
                out.write(json.dumps(line) + "\n")


def _holder(url: str, lock_path: str, holder: str, taken, release) -> None:
    with change_lock(lock_path, url, holder, 10, scope=SCOPE):
        taken.set()
        release.wait(30)


def _start_holder(ctx, url: str, lock_path: Path, holder: str):
    taken, release = ctx.Event(), ctx.Event()
    child = ctx.Process(target=_holder, args=(url, str(lock_path), holder, taken, release))
    child.start()
    assert taken.wait(30), "the child never took the lock"
    return child, release


# ------------------------------------------------------------------ Postgres


def test_critical_sections_never_overlap_across_processes(ctx, pg_url, tmp_path):
    record, counter = tmp_path / "record.jsonl", tmp_path / "counter"
    counter.write_text("0")
    start = ctx.Event()
    racers = [
        ctx.Process(
            target=_racer,
            args=(pg_url, str(tmp_path / "registry.lock"), str(record), str(counter), who, start),
        )
        for who in ("a", "b")
    ]
    for racer in racers:
        racer.start()
    time.sleep(0.5)  # let both import and reach the start line (not asserted: only a head start)
    start.set()
    for racer in racers:
        racer.join(60)
        assert racer.exitcode == 0

    sections = [json.loads(line) for line in record.read_text().splitlines()]
    # Nothing lost: every section saw every earlier section's write.
    assert sorted(s["seen"] for s in sections) == list(range(2 * ROUNDS))
    assert counter.read_text() == str(2 * ROUNDS)
    assert {s["who"] for s in sections} == {"a", "b"}
    # Never overlapping: in time order, each section ends before the next one begins.
    sections.sort(key=lambda s: s["began"])
    for section, after in zip(sections, sections[1:], strict=False):
        assert section["ended"] <= after["began"], (section, after)


def test_a_second_taker_times_out_naming_the_holder(ctx, pg_url, tmp_path):
    child, release = _start_holder(ctx, pg_url, tmp_path / "registry.lock", "promote by alice")
    try:
        assert lock_held(tmp_path / "registry.lock", pg_url, scope=SCOPE)
        with pytest.raises(ChangeLockBusy) as caught:
            with change_lock(
                tmp_path / "registry.lock", pg_url, "promote by bob", 0.2, scope=SCOPE
            ):
                pytest.fail("the lock was taken twice")
        said = str(caught.value)
        assert f"change lock of {SCOPE!r}" in said
        assert "within 0.2 s" in said
        assert f"promote by alice, pid {child.pid}" in said
        assert "***" in said and "change_lock_test" in said  # password masked, database named
        # Another workflow's lock is another key: not held.
        with change_lock(tmp_path / "x.lock", pg_url, "promote by bob", 0.2, scope="rainfall"):
            pass
    finally:
        release.set()
        child.join(30)
    assert child.exitcode == 0
    assert not lock_held(tmp_path / "registry.lock", pg_url, scope=SCOPE)


def test_the_lock_ends_with_its_transaction(pg_url, tmp_path):
    lock = tmp_path / "registry.lock"
    with change_lock(lock, pg_url, "promote by alice", 1, scope=SCOPE):
        assert lock_held(lock, pg_url, scope=SCOPE)
    assert not lock_held(lock, pg_url, scope=SCOPE)
    with pytest.raises(RuntimeError, match="failed inside"):
        with change_lock(lock, pg_url, "promote by alice", 1, scope=SCOPE):
            raise RuntimeError("failed inside")
    assert not lock_held(lock, pg_url, scope=SCOPE)  # rolled back: released too
    assert not lock.exists()  # the Postgres path never touches the file


def test_a_killed_holder_releases_the_lock(ctx, pg_url, tmp_path):
    lock = tmp_path / "registry.lock"
    child, _release = _start_holder(ctx, pg_url, lock, "rollback by nightly")
    with pytest.raises(ChangeLockBusy, match="rollback by nightly"):
        with change_lock(lock, pg_url, "promote by bob", 0.2, scope=SCOPE):
            pass
    os.kill(child.pid, signal.SIGKILL)
    child.join(30)
    assert child.exitcode == -signal.SIGKILL
    # The server ends the dead client's session, and its transaction with it.
    with change_lock(lock, pg_url, "promote by bob", 10, scope=SCOPE):
        assert lock_held(lock, pg_url, scope=SCOPE)


def test_promotion_takes_the_lock_on_a_postgres_registry(ctx, pg_url, tmp_path):
    """The call sites: a registry whose store is Postgres locks there (no MLflow call is
    needed to take or test the lock, so none is made). Imported here: spawned children
    re-import this module, and MLflow and Dagster would cost each of them seconds."""
    from assets import promotion
    from assets.promotion import PromotionError, change_in_progress
    from resources.registry import ModelRegistry

    lock = tmp_path / "workflows" / SCOPE / "registry.lock"
    registry = ModelRegistry(
        tracking_uri=pg_url, artifact_root=str(tmp_path / "artifacts"), model_name="m"
    )
    assert promotion.lock_url(registry) == pg_url
    child, release = _start_holder(ctx, pg_url, lock, "promote by alice")
    try:
        assert change_in_progress(lock, registry)
        assert not change_in_progress(lock)  # no registry, no $AFTERLAUNCH_MLFLOW_URI: file
        with pytest.raises(PromotionError, match="promote by alice"):
            with promotion._exclusive(lock, 0.2, holder="repair", registry=registry):
                pass
    finally:
        release.set()
        child.join(30)
    assert not change_in_progress(lock, registry)


# ------------------------------------------------------------------ embedded and helpers


def test_the_file_lock_without_a_postgres_url(tmp_path):
    lock = tmp_path / "registry.lock"
    with open(lock, "w") as held:
        held.write("pid 4242, promote by nightly, since 2026-03-02T09:00:00+00:00\n")
        held.flush()
        fcntl.flock(held, fcntl.LOCK_EX)
        assert lock_held(lock, None, scope=SCOPE)
        with pytest.raises(ChangeLockBusy, match=rf"could not lock {lock} within 0.1 s.*4242"):
            with change_lock(lock, "sqlite:////tmp/mlflow.db", "promote by bob", 0.1, scope=SCOPE):
                pass
    assert not lock_held(lock, None, scope=SCOPE)
    with change_lock(lock, None, "promote by bob", 0.1, scope=SCOPE):
        assert lock_held(lock, None, scope=SCOPE)
        assert f"pid {os.getpid()}, promote by bob" in lock.read_text()


def test_which_urls_take_the_advisory_lock():
    pg = "postgresql+psycopg2://u:p@db.internal/mlflow"
    assert postgres_url(pg) == pg
    assert postgres_url(" postgresql://u@h/db ") == "postgresql://u@h/db"
    for other in (None, "", "sqlite:////srv/mlflow.db", "http://mlflow:5000", "file:///x"):
        assert postgres_url(other) is None


def test_lock_keys_are_stable_signed_64_bit_and_per_workflow():
    key = lock_key(SCOPE)
    assert key == lock_key(SCOPE)
    assert -(2**63) <= key < 2**63
    assert key != lock_key("rainfall")
    with pytest.raises(ValueError, match="non-empty scope"):
        lock_key(" ")
