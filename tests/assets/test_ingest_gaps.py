"""The gaps at ingest, closed, on the ticket workflow's simulated source: a volume spike, ids
already delivered, rows dated years back, an ERROR day that must not build what is downstream
(in the run and from the CLI) and text that is not UTF-8. One home; each day its own fault."""

from __future__ import annotations

import contextlib
import dataclasses
import io
from datetime import date, datetime

import pandas as pd
import pytest
import sqlalchemy as sa
from dagster import AssetCheckKey

from assets.check_history import evaluations
from assets.names import FEATURES, RAW
from orchestration.cli import EXIT_BLOCKED, main
from resources.snapshots import content_hash
from resources.source import DayTableSource
from tests.assets.ticket_home import WF, ticket_home
from workflows.ticket_escalation.simulation.crm import CrmSimulator, table_name

CLEAN = date(2026, 1, 5)  # a Monday: the history of the spike day, and the day re-sent
RESENT = date(2026, 1, 6)  # its own tickets and all of the 5th's again
BACKDATED = date(2026, 1, 7)  # one row in ten dated 2019
EMPTY, FUTURE = date(2026, 1, 8), date(2026, 1, 9)  # ingested through the CLI
UNDECODABLE = date(2026, 1, 10)  # one subject in Latin-1, not UTF-8
SPIKE = date(2026, 1, 12)  # a Monday: ten times the 5th's volume
LATIN1 = b"Caf\xe9 au lait: refund"


def land(url: str, day: date, tickets: pd.DataFrame) -> None:
    """Replace the day's table with `tickets` (the day's outcomes stay as the CRM wrote them)."""
    engine = sa.create_engine(url)
    try:
        tickets.to_sql(table_name(day), engine, if_exists="replace", index=False)
    finally:
        engine.dispose()


def set_subject(url: str, day: date, ticket: str, value: bytes) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(
                f"UPDATE {table_name(day)} SET subject = CAST(x'{value.hex()}' AS TEXT) "
                "WHERE ticket_id = ?",
                (ticket,),
            )
    finally:
        engine.dispose()


def cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(list(argv))
    return code, out.getvalue()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    with ticket_home(tmp_path_factory.mktemp("gaps") / "home") as world:
        crm = CrmSimulator(world.source_url, seed=3)
        for day in (CLEAN, RESENT, BACKDATED, EMPTY, FUTURE, UNDECODABLE, SPIKE):
            crm.write_day(day)
        clean, _ = crm.generate(CLEAN)
        resent, _ = crm.generate(RESENT)
        land(world.source_url, RESENT, pd.concat([resent, clean], ignore_index=True))
        backdated, _ = crm.generate(BACKDATED)
        old = backdated.index[::10]
        backdated.loc[old, "created_at"] -= pd.Timedelta(days=365 * 7)
        land(world.source_url, BACKDATED, backdated)
        land(world.source_url, EMPTY, clean.iloc[:0])
        future, _ = crm.generate(FUTURE)
        future.loc[future.index[-5:], "created_at"] += pd.Timedelta(days=3)
        land(world.source_url, FUTURE, future)
        undecodable, _ = crm.generate(UNDECODABLE)
        bad_id = undecodable["ticket_id"].iloc[2]
        set_subject(world.source_url, UNDECODABLE, bad_id, LATIN1)
        spike, _ = crm.generate(SPIKE)
        land(
            world.source_url,
            SPIKE,
            pd.concat([spike.assign(ticket_id=spike.ticket_id + f"-{k}") for k in range(10)]),
        )
        home = ["--home", str(world.root), "--workflow", WF.name, "--raw-only"]
        clean_cli = cli("ingest", *home, "--start", CLEAN.isoformat())  # the history first
        outcomes = {
            day: world.run("raw_ingestion", day.isoformat())
            for day in (RESENT, BACKDATED, UNDECODABLE, SPIKE)
        }
        ingested = cli("ingest", *home, "--start", EMPTY.isoformat(), "--end", FUTURE.isoformat())
        yield world, outcomes, {"bad_id": bad_id, "cli": ingested, "clean_cli": clean_cli}


def check(outcome, name: str):
    [found] = [c for c in outcome.checks if c.check == name]
    return found


def blocked(outcome) -> bool:
    """The ERROR stopped what is downstream: the raw snapshot and the labels (not downstream
    of raw) are built, the features are not, and no step failed by error."""
    return (
        not outcome.success
        and {RAW, "labels"} <= set(outcome.materialized)
        and FEATURES not in outcome.materialized
        and not outcome.step_errors
    )


def test_a_clean_day_passes_every_check_builds_its_features_and_exits_0(world):
    home, _, found = world
    assert found["clean_cli"] == (0, "")  # nothing failed: nothing to print
    assert CLEAN.isoformat() in home.store.partitions(FEATURES)
    for name in ("raw_repeated_ids", "raw_event_window", "raw_volume"):
        assert _evaluations(home, name, CLEAN), name  # evaluated, and passed (nothing printed)


@pytest.mark.bad_input
def test_a_tenfold_volume_spike_is_an_error_that_blocks_the_features(world):
    home, outcomes, _ = world
    volume = check(outcomes[SPIKE], "raw_volume")
    assert volume.level == "error" and "times the median" in volume.description
    assert blocked(outcomes[SPIKE])
    assert len(home.store.read(RAW, SPIKE.isoformat())) > 10_000  # the snapshot is kept
    [evaluation] = _evaluations(home, "raw_volume", SPIKE)
    assert evaluation["rise"] > 9 and evaluation["policy.error_rise"] == 3.0


@pytest.mark.bad_input
def test_a_later_run_of_the_features_alone_is_refused_naming_the_error(world):
    """Blocking holds within a run; a run asking for the features alone (from the UI, say)
    meets the recorded ERROR instead."""
    home, _, _ = world
    job = home.defs.resolve_implicit_job_def_def_for_assets([WF.key(FEATURES)])
    result = job.get_subset(asset_selection={WF.key(FEATURES)}).execute_in_process(
        instance=home.instance, partition_key=SPIKE.isoformat(), raise_on_error=False
    )
    assert not result.success
    [failure] = result.get_step_failure_events()
    message = failure.step_failure_data.error.message
    assert f"{WF.name}/{RAW} {SPIKE} failed its ERROR check(s) when last ingested" in message
    assert "raw_volume:" in message and "times the median" in message
    assert SPIKE.isoformat() not in home.store.partitions(FEATURES)


@pytest.mark.bad_input
def test_yesterdays_rows_sent_again_are_named_with_how_many_and_examples(world):
    home, outcomes, _ = world
    repeated = check(outcomes[RESENT], "raw_repeated_ids")
    clean_rows = len(home.store.read(RAW, CLEAN.isoformat()))
    assert repeated.level == "error"
    assert f"{clean_rows} of {len(home.store.read(RAW, RESENT.isoformat()))} rows" in (
        repeated.description
    )
    assert f"{clean_rows} in {CLEAN.isoformat()}" in repeated.description
    assert "T20260105-000001" in repeated.description  # an example, by id
    [evaluation] = _evaluations(home, "raw_repeated_ids", RESENT)
    assert evaluation["repeated_rows"] == clean_rows
    assert evaluation["by_partition"] == {CLEAN.isoformat(): clean_rows}
    assert blocked(outcomes[RESENT])


@pytest.mark.bad_input
def test_rows_dated_years_back_are_named_with_how_many_and_the_oldest(world):
    home, outcomes, _ = world
    early = check(outcomes[BACKDATED], "raw_event_window")
    snapshot = home.store.read(RAW, BACKDATED.isoformat())
    old = snapshot[snapshot["created_at"] < datetime(2026, 1, 1)]
    assert early.level == "error" and len(old) == -(-len(snapshot) // 10)
    assert f"{len(old)} of {len(snapshot)} rows" in early.description
    assert f"the oldest {old['created_at'].min():%Y-%m-%d %H:%M}" in early.description
    assert old["created_at"].min().year == 2019
    assert blocked(outcomes[BACKDATED])


@pytest.mark.bad_input
def test_an_error_day_exits_non_zero_from_the_cli_naming_the_checks_it_stopped_on(world):
    home, _, found = world
    code, printed = found["cli"]
    assert code == EXIT_BLOCKED, printed
    lines = printed.splitlines()
    for day in (EMPTY, FUTURE):
        [verdict] = [line for line in lines if line.startswith(f"{day} BLOCKED")]
        assert "ERROR raw_freshness" in verdict and verdict.endswith(f"not built: {FEATURES}")
    assert any(f"{FUTURE} raw_freshness" in line and "after the" in line for line in lines)
    # The raw snapshots are kept; nothing downstream was built from them.
    assert {EMPTY.isoformat(), FUTURE.isoformat()} <= set(home.store.partitions(RAW))
    assert not {EMPTY.isoformat(), FUTURE.isoformat()} & set(home.store.partitions(FEATURES))


@pytest.mark.bad_input
def test_text_that_is_not_utf8_keeps_its_bytes_and_fails_the_contract_naming_the_rows(world):
    home, outcomes, found = world
    outcome = outcomes[UNDECODABLE]
    contract = check(outcome, "raw_contract")
    assert contract.level == "error" and "subject: not UTF-8 text" in contract.description
    assert blocked(outcome) and not outcome.step_errors
    snapshot = home.store.read(RAW, UNDECODABLE.isoformat())  # stored, and its hash verifies
    row = snapshot.index[snapshot["ticket_id"] == found["bad_id"]][0]
    assert snapshot.loc[row, "subject"] == LATIN1  # exactly the stored bytes
    others = snapshot["subject"].drop(index=row)
    assert all(isinstance(v, bytes) and v.decode("utf-8") for v in others)
    [evaluation] = _evaluations(home, "raw_contract", UNDECODABLE)
    [failure] = [r for r in _records(evaluation["failure_report"]) if "UTF-8" in r["check"]]
    assert failure["column"] == "subject" and failure["failures"] == 1
    assert found["bad_id"] in failure["examples"] and "Caf\\xe9" in failure["examples"]


def _source(url: str) -> DayTableSource:
    return DayTableSource(
        url=url,
        table="crm_tickets_",
        entity_id="ticket_id",
        event_time="created_at",
        labels_table="crm_outcomes",
        label_column="escalated",
    )


def test_only_the_undecodable_column_differs_from_a_clean_read(tmp_path):
    """The bytes-keeping read gives every other column exactly as the usual read does."""
    url = f"sqlite:///{tmp_path / 'crm.sqlite'}"
    crm = CrmSimulator(url, seed=5)
    crm.write_day(UNDECODABLE)
    window = (datetime(2026, 1, 10), datetime(2026, 1, 11))
    clean = _source(url).extract(*window)
    set_subject(url, UNDECODABLE, clean["ticket_id"].iloc[0], LATIN1)
    kept = _source(url).extract(*window)
    others = [c for c in clean.columns if c != "subject"]
    assert content_hash(kept[others]) == content_hash(clean[others])
    assert kept["subject"].iloc[0] == LATIN1
    assert list(kept["subject"].iloc[1:]) == [s.encode() for s in clean["subject"].iloc[1:]]


@pytest.mark.bad_input
def test_a_sql_ascii_postgres_database_hands_over_its_bytes(postgres_cluster):
    conn = postgres_cluster.connect()
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(
                "CREATE DATABASE ingest_ascii ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' "
                "TEMPLATE template0"
            )
    finally:
        conn.close()
    url = dataclasses.replace(postgres_cluster, dbname="ingest_ascii").url
    engine = sa.create_engine(url)
    try:
        with engine.begin() as db:
            db.exec_driver_sql(
                f"CREATE TABLE {table_name(UNDECODABLE)} "
                "(ticket_id TEXT, created_at TIMESTAMP, subject TEXT)"
            )
            db.exec_driver_sql(
                f"INSERT INTO {table_name(UNDECODABLE)} VALUES "
                "('T1', '2026-01-10 08:00', 'fine'), "
                f"('T2', '2026-01-10 09:00', convert_from('\\x{LATIN1.hex()}', 'SQL_ASCII'))"
            )
    finally:
        engine.dispose()
    got = _source(url).extract(datetime(2026, 1, 10), datetime(2026, 1, 11))
    assert list(got["subject"]) == [b"fine", LATIN1]
    assert str(got["ticket_id"].dtype) == "str"  # valid text stays text


def _evaluations(home, name: str, day: date) -> list[dict]:
    found = evaluations(home.instance, [AssetCheckKey(WF.key(RAW), name)])
    return [e.metadata for e in found if e.partition == day.isoformat()]


def _records(table) -> list[dict]:
    return [dict(r.data) for r in table.records]
