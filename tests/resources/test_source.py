"""The SQL sources read a partition exactly as the source landed it.

DayTableSource (one table per day, the ticket workflow's layout) is tested on the simulated CRM;
EventTimeSource (one table, rows filtered by their event time) on tables the tests write.
"""

from __future__ import annotations

import datetime as dt
from functools import cache

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa

from assets.partitions import Partitioning
from orchestration.definitions import source_resource
from resources.source import (
    DayTableSource,
    EventTimeSource,
    SourceBatchMissing,
    SqlSource,
    mask_url,
)
from workflows.ticket_escalation.simulation.crm import CrmSimulator, generate_day
from workflows.ticket_escalation.simulation.incidents import parse_incidents
from workflows.ticket_escalation.simulation.vocabulary import TICKET_COLUMNS
from workflows.ticket_escalation.workflow import WORKFLOW

SEED = 11
CLEAN, RETYPE, RENAME, DROP, EMPTY, NULLS, RESEND = (
    dt.date(2026, 3, 2) + dt.timedelta(days=i) for i in range(7)
)
INCIDENTS = parse_incidents(
    [
        {"kind": "schema_change", "day": RETYPE, "mode": "retype"},
        {"kind": "schema_change", "day": RENAME, "mode": "rename"},
        {"kind": "schema_change", "day": DROP, "mode": "drop", "column": "sentiment"},
        {"kind": "stale_feed", "day": EMPTY, "mode": "empty"},
        {"kind": "null_flood", "day": NULLS, "column": "subject", "fraction": 1.0},
        {"kind": "null_flood", "day": NULLS, "column": "prior_tickets_90d", "fraction": 0.2},
        {"kind": "stale_feed", "day": RESEND, "mode": "resend"},
    ]
)
CLEAN_DTYPES = {
    "ticket_id": "str",
    "created_at": "datetime64[ns]",
    "customer_id": "str",
    "channel": "str",
    "product": "str",
    "region": "str",
    "plan_tier": "str",
    "priority": "str",
    "account_age_days": "int64",
    "prior_tickets_90d": "int64",
    "message_length": "int64",
    "first_response_minutes": "float64",
    "sentiment": "float64",
    "subject": "str",
}


# How the ticket workflow configures its source (orchestration.definitions.source_resource).
TICKET_SOURCE = {
    "table": "crm_tickets_",
    "entity_id": "ticket_id",
    "event_time": "created_at",
    "labels_table": "crm_outcomes",
    "label_column": "escalated",
    "known_at_column": "known_at",
    "feedback_table": "crm_agent_actions",
    "feedback_columns": ["agent_id", "used", "accepted", "handle_minutes"],
    "feedback_time": "recorded_at",
}


def ticket_source(url: str, **overrides) -> DayTableSource:
    return DayTableSource(url=url, **{**TICKET_SOURCE, **overrides})


def day_window(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[midnight, next midnight) of a daily partition, naive UTC."""
    start = dt.datetime.combine(day, dt.time())
    return start, start + dt.timedelta(days=1)


def dtypes(df: pd.DataFrame) -> dict[str, str]:
    return {c: str(d) for c, d in df.dtypes.items()}


def test_the_ticket_workflow_builds_this_source():
    built = source_resource(WORKFLOW)
    assert type(built) is DayTableSource
    assert {k: getattr(built, k) for k in TICKET_SOURCE} == TICKET_SOURCE


@pytest.fixture(scope="module")
def url(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("source") / "source.db"
    url = f"sqlite:///{path}"
    with CrmSimulator(url, seed=SEED) as sim:
        sim.write_days(CLEAN, RESEND, INCIDENTS)
    return url


@pytest.fixture(scope="module")
def source(url) -> DayTableSource:
    return ticket_source(url)


def test_clean_day_round_trips_exactly(source):
    df = source.extract(*day_window(CLEAN))
    assert dtypes(df) == CLEAN_DTYPES
    assert isinstance(df["ticket_id"].dtype, pd.StringDtype)
    pd.testing.assert_frame_equal(df, generate_day(CLEAN, SEED)[0])  # values and row order


def test_retyped_column_comes_back_as_text(source):
    df = source.extract(*day_window(RETYPE))
    assert dtypes(df) == {**CLEAN_DTYPES, "message_length": "str"}
    assert df["message_length"].str.fullmatch(r"\d+ chars").all()


def test_renamed_and_dropped_columns_come_back_as_landed(source):
    renamed = source.extract(*day_window(RENAME))
    assert "message_length" not in renamed and str(renamed["msg_len"].dtype) == "int64"
    assert list(renamed.columns) == [c.replace("message_length", "msg_len") for c in TICKET_COLUMNS]
    dropped = source.extract(*day_window(DROP))
    assert list(dropped.columns) == [c for c in TICKET_COLUMNS if c != "sentiment"]


def test_empty_batch_keeps_columns_and_dtypes(source):
    df = source.extract(*day_window(EMPTY))
    assert len(df) == 0
    assert list(df.columns) == TICKET_COLUMNS
    assert dtypes(df) == CLEAN_DTYPES


def test_null_columns(source):
    df = source.extract(*day_window(NULLS))
    # an all-NULL text column keeps its declared type instead of pandas' object
    assert str(df["subject"].dtype) == "str" and df["subject"].isna().all()
    # an integer column with NULLs is float64, as pandas always does: not coerced back
    assert str(df["prior_tickets_90d"].dtype) == "float64"
    assert df["prior_tickets_90d"].isna().mean() == pytest.approx(0.2, abs=0.001)


def test_resent_batch_is_yesterdays_rows(source):
    pd.testing.assert_frame_equal(
        source.extract(*day_window(RESEND)), source.extract(*day_window(NULLS))
    )


def test_missing_batch_raises_naming_the_date_and_table(source):
    with pytest.raises(SourceBatchMissing) as err:
        source.extract(*day_window(dt.date(2026, 4, 1)))
    message = str(err.value)
    assert "2026-04-01" in message and "crm_tickets_20260401" in message
    assert isinstance(err.value, LookupError)


def test_landed_days_lists_day_tables_only(source, url):
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS crm_tickets_backup (x INTEGER)")
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS crm_tickets_20261399 (x INTEGER)")
    engine.dispose()
    assert source.landed_days() == [CLEAN + dt.timedelta(days=i) for i in range(7)]
    assert ticket_source(url, table="other_").landed_days() == []
    assert source.table_name(CLEAN) == "crm_tickets_20260302"


def test_created_at_parsing(tmp_path):
    url = f"sqlite:///{tmp_path / 'odd.db'}"
    engine = sa.create_engine(url)
    frames = {
        "t_20260101": pd.DataFrame(
            {"created_at": ["2026-01-01T08:00:00", "2026-01-01 09:30:15.5"]}
        ),
        "t_20260102": pd.DataFrame({"created_at": ["2026-01-02T08:00:00+02:00", None]}),
        "t_20260103": pd.DataFrame({"created_at": ["yesterday", "2026-01-03"]}),
        "t_20260104": pd.DataFrame({"created_at": [1767225600, 1767225601]}),
    }
    for name, frame in frames.items():
        frame.to_sql(name, engine, index=False)
    engine.dispose()
    source = ticket_source(url, table="t_")
    iso = source.extract(*day_window(dt.date(2026, 1, 1)))["created_at"]
    assert str(iso.dtype) == "datetime64[ns]"
    assert iso.tolist() == [pd.Timestamp("2026-01-01 08:00"), pd.Timestamp("2026-01-01 09:30:15.5")]
    offset = source.extract(*day_window(dt.date(2026, 1, 2)))["created_at"]
    assert offset.iloc[0] == pd.Timestamp("2026-01-02 06:00") and pd.isna(offset.iloc[1])
    garbage = source.extract(*day_window(dt.date(2026, 1, 3)))["created_at"]
    assert str(garbage.dtype) == "str" and garbage.iloc[0] == "yesterday"
    numbers = source.extract(*day_window(dt.date(2026, 1, 4)))["created_at"]
    assert str(numbers.dtype) == "int64"


def test_password_never_appears_in_errors(tmp_path, monkeypatch):
    secret_url = "postgresql+psycopg2://crm_reader:s3cr3t-pw@db.internal:5432/crm"
    assert mask_url(secret_url) == "postgresql+psycopg2://crm_reader:***@db.internal:5432/crm"
    assert "s3cr3t" not in mask_url("not a url s3cr3t")
    source = ticket_source(secret_url)
    assert "s3cr3t" not in source.masked_url

    # the missing-batch error names the source by its masked URL
    local = sa.create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    monkeypatch.setattr(SqlSource, "_engine", lambda self: local)
    with pytest.raises(SourceBatchMissing) as err:
        source.extract(*day_window(dt.date(2026, 3, 5)))
    assert "s3cr3t" not in str(err.value)
    assert "crm_reader:***@db.internal" in str(err.value)


def test_password_not_leaked_when_the_database_is_unreachable():
    source = ticket_source("postgresql+psycopg2://crm_reader:s3cr3t-pw@127.0.0.1:9/crm")
    with pytest.raises(Exception) as err:  # noqa: B017 - any driver error; only its text matters
        source.extract(*day_window(dt.date(2026, 3, 5)))
    assert "s3cr3t" not in str(err.value) and "s3cr3t" not in repr(err.value)


def test_works_as_a_dagster_resource(url):
    @dg.asset
    def raw_tickets(source: DayTableSource) -> int:
        return len(source.extract(*day_window(CLEAN)))

    result = dg.materialize([raw_tickets], resources={"source": ticket_source(url)})
    assert result.success
    assert result.output_for_node("raw_tickets") == len(generate_day(CLEAN, SEED)[0])


# --- labels ------------------------------------------------------------------------------------

LABEL_DAYS = [dt.date(2026, 3, 1) + dt.timedelta(days=i) for i in range(10)]  # .. 2026-03-10
BAD_DAY = LABEL_DAYS[7]  # its bad labels' tickets (up to 5 days back) all landed
LABEL_INCIDENTS = parse_incidents(
    [
        {"kind": "bad_labels", "day": BAD_DAY},
        {"kind": "volume_drop", "day": LABEL_DAYS[3], "fraction": 0.5},  # fewer labels later
    ]
)
LABEL_DTYPES = {"ticket_id": "str", "escalated": "int64", "known_at": "datetime64[ns]"}


def write_label_days(url: str) -> None:
    with CrmSimulator(url, seed=SEED) as sim:
        sim.write_days(LABEL_DAYS[0], LABEL_DAYS[-1], LABEL_INCIDENTS)


@cache
def written_outcomes() -> pd.DataFrame:
    return pd.concat(
        [generate_day(d, SEED, LABEL_INCIDENTS)[1] for d in LABEL_DAYS], ignore_index=True
    )


def expected_labels(day: dt.date) -> pd.DataFrame:
    """What the simulator wrote, known on ``day``, ordered by known_at then ticket_id."""
    everything = written_outcomes()
    start, end = pd.Timestamp(day), pd.Timestamp(day + dt.timedelta(days=1))
    known = everything[everything["known_at"].between(start, end, inclusive="left")]
    return known.sort_values(["known_at", "ticket_id"], kind="stable").reset_index(drop=True)


@pytest.fixture(scope="module")
def label_url(tmp_path_factory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('labels') / 'source.db'}"
    write_label_days(url)
    return url


@pytest.mark.parametrize("day", LABEL_DAYS[2:] + [LABEL_DAYS[-1] + dt.timedelta(days=1)])
def test_labels_are_the_outcomes_known_on_the_day(label_url, day):
    labels = ticket_source(label_url).labels(*day_window(day))
    assert dtypes(labels) == LABEL_DTYPES
    assert len(labels) > 250
    pd.testing.assert_frame_equal(labels, expected_labels(day))


def test_bad_labels_come_back_as_stored(label_url):
    labels = ticket_source(label_url).labels(*day_window(BAD_DAY))
    assert sorted(set(labels["escalated"])) == [-1, 0, 1, 2]  # not coerced
    assert int((~labels["escalated"].isin([0, 1])).sum()) == 10
    assert int(labels["ticket_id"].str.fullmatch(r"T20260308-9\d{5}").sum()) == 20
    assert int(labels["ticket_id"].duplicated().sum()) == 10  # the invalid second labels


@pytest.mark.parametrize("day", [LABEL_DAYS[0], dt.date(2025, 1, 1)])
def test_a_day_without_labels_is_an_empty_frame_with_the_dtypes(label_url, day):
    labels = ticket_source(label_url).labels(*day_window(day))  # tickets are labelled >= 2 days on
    assert len(labels) == 0 and dtypes(labels) == LABEL_DTYPES


def test_label_day_bounds_and_order(tmp_path):
    url = f"sqlite:///{tmp_path / 'bounds.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE crm_outcomes (ticket_id TEXT, escalated INTEGER, known_at TEXT)"
        )
        conn.exec_driver_sql(
            "INSERT INTO crm_outcomes VALUES "
            "('a-late', 1, '2026-03-03T23:59:59'), ('b', 0, '2026-03-04T12:00:00'), "
            "('a', 1, '2026-03-04T12:00:00'), ('c', 0, '2026-03-04T00:00:00'), "
            "('d', 0, '2026-03-04T23:59:59'), ('e-next', 1, '2026-03-05T00:00:00')"
        )
    engine.dispose()
    labels = ticket_source(url).labels(*day_window(dt.date(2026, 3, 4)))
    assert labels["ticket_id"].tolist() == ["c", "a", "b", "d"]
    assert labels["known_at"].tolist() == [
        pd.Timestamp(t)
        for t in ("2026-03-04", "2026-03-04 12:00", "2026-03-04 12:00", "2026-03-04 23:59:59")
    ]
    assert dtypes(labels) == LABEL_DTYPES
    # any window, not only a day: [start, end) to the second
    noon = dt.datetime(2026, 3, 4, 12)
    within = ticket_source(url).labels(noon, dt.datetime(2026, 3, 4, 23, 59, 59))
    assert within["ticket_id"].tolist() == ["a", "b"]


def test_labels_are_not_coerced(tmp_path):
    url = f"sqlite:///{tmp_path / 'odd.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE crm_outcomes (ticket_id TEXT, escalated INTEGER, known_at TEXT)"
        )
        conn.exec_driver_sql(
            "INSERT INTO crm_outcomes VALUES "
            "('a', 2, '2026-03-04T01:00:00'), ('b', NULL, '2026-03-04T02:00:00'), "
            "(NULL, 1, '2026-03-04T03:00:00'), ('c', 0, '2026-03-04Tnoon'), "
            "('d', -1, '2026-03-05T01:00:00'), ('e', NULL, '2026-03-06T01:00:00')"
        )
    engine.dispose()
    source = ticket_source(url)
    odd = source.labels(*day_window(dt.date(2026, 3, 4)))
    # NULLs make escalated float64 (pandas' rule); a known_at that is no timestamp is NaT
    assert dtypes(odd) == {**LABEL_DTYPES, "escalated": "float64"}
    assert odd["ticket_id"].tolist()[:2] == ["a", "b"] and pd.isna(odd["ticket_id"].iloc[2])
    escalated = odd["escalated"]
    assert escalated.iloc[0] == 2 and pd.isna(escalated.iloc[1]) and escalated.iloc[2] == 1
    assert odd["ticket_id"].iloc[3] == "c" and pd.isna(odd["known_at"].iloc[3])  # NaT last
    invalid = source.labels(*day_window(dt.date(2026, 3, 5)))
    assert dtypes(invalid) == LABEL_DTYPES and invalid["escalated"].tolist() == [-1]
    all_null = source.labels(*day_window(dt.date(2026, 3, 6)))
    assert str(all_null["escalated"].dtype) == "float64" and all_null["escalated"].isna().all()


def test_missing_outcomes_table_raises_naming_the_table_and_the_masked_url(tmp_path, monkeypatch):
    secret_url = "postgresql+psycopg2://crm_reader:s3cr3t-pw@db.internal:5432/crm"
    local = sa.create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    monkeypatch.setattr(SqlSource, "_engine", lambda self: local)
    with pytest.raises(SourceBatchMissing) as err:
        ticket_source(secret_url).labels(*day_window(dt.date(2026, 3, 5)))
    message = str(err.value)
    assert "crm_outcomes" in message and "2026-03-05" in message
    assert "crm_reader:***@db.internal" in message and "s3cr3t" not in message
    with pytest.raises(SourceBatchMissing, match="labels table labels_v2 not found"):
        ticket_source(secret_url, labels_table="labels_v2").labels(*day_window(dt.date(2026, 3, 5)))


def test_outcomes_table_without_a_label_column_is_a_clear_error(tmp_path):
    url = f"sqlite:///{tmp_path / 'renamed.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE crm_outcomes (ticket_id TEXT, label INTEGER, known_at TEXT)"
        )
    engine.dispose()
    with pytest.raises(ValueError, match=r"crm_outcomes .* lacks column\(s\) \['escalated'\]"):
        ticket_source(url).labels(*day_window(dt.date(2026, 3, 5)))


def test_labels_from_postgres_match_sqlite(postgres_cluster, label_url):
    pg = postgres_cluster.create_database("labels_source")
    write_label_days(pg.url)
    with CrmSimulator(pg.url, seed=SEED) as sim:  # re-landing the bad day changes nothing
        sim.write_day(BAD_DAY, LABEL_INCIDENTS)
    from_pg, from_sqlite = ticket_source(pg.url), ticket_source(label_url)
    for day in (LABEL_DAYS[0], LABEL_DAYS[4], BAD_DAY, LABEL_DAYS[-1]):
        window = day_window(day)
        pd.testing.assert_frame_equal(from_pg.labels(*window), from_sqlite.labels(*window))


# --- a weekly partition of day tables -----------------------------------------------------------

WEEKLY = Partitioning("weekly", start="2026-03-02")  # weeks start on Monday


def test_a_weekly_partition_reads_its_seven_day_tables_in_day_order(label_url):
    start, end = WEEKLY.window("2026-03-02")
    assert (start, end) == (dt.datetime(2026, 3, 2), dt.datetime(2026, 3, 9))
    week = ticket_source(label_url).extract(start, end)
    days = [start.date() + dt.timedelta(days=i) for i in range(7)]
    expected = pd.concat(
        [generate_day(day, SEED, LABEL_INCIDENTS)[0] for day in days], ignore_index=True
    )
    assert dtypes(week) == CLEAN_DTYPES
    pd.testing.assert_frame_equal(week, expected)  # values, and the days in order
    assert week["created_at"].is_monotonic_increasing
    assert week["created_at"].dt.normalize().drop_duplicates().tolist() == [
        pd.Timestamp(day) for day in days
    ]


def test_a_weekly_partition_with_some_days_landed_reads_those(label_url):
    start, end = WEEKLY.window("2026-03-09")  # only 03-09 and 03-10 landed
    week = ticket_source(label_url).extract(start, end)
    expected = pd.concat(
        [generate_day(day, SEED, LABEL_INCIDENTS)[0] for day in LABEL_DAYS[-2:]],
        ignore_index=True,
    )
    pd.testing.assert_frame_equal(week, expected)


def test_a_weekly_partition_without_any_day_table_is_missing(label_url):
    start, end = WEEKLY.window("2026-04-06")
    with pytest.raises(SourceBatchMissing) as err:
        ticket_source(label_url).extract(start, end)
    message = str(err.value)
    assert "2026-04-06 .. 2026-04-12" in message
    assert all(f"crm_tickets_202604{d:02d}" in message for d in range(6, 13))
    assert "crm_tickets_20260413" not in message  # the window's end is not part of it
    assert mask_url(label_url) in message


# --- one table, partitioned by event time ------------------------------------------------------

EVENTS = pd.DataFrame(
    {
        "event_id": ["e05", "e01", "e04", "e02", "e03", "e06", "e07", "e00"],
        "occurred_at": [
            dt.datetime(2026, 3, 3, 9, 0),
            dt.datetime(2026, 3, 2, 0, 0),  # the window's start: in
            dt.datetime(2026, 3, 3, 9, 0),  # a tie with e05: ordered by id
            dt.datetime(2026, 3, 2, 0, 0, 1),
            dt.datetime(2026, 3, 2, 23, 59, 59, 500000),
            dt.datetime(2026, 3, 8, 23, 59, 59),  # the window's last second: in
            dt.datetime(2026, 3, 9, 0, 0),  # the window's end: out
            dt.datetime(2026, 3, 1, 23, 59, 59),  # before the window: out
        ],
        "amount": [5.0, 1.0, 4.0, 2.0, 3.0, 6.0, 7.0, 0.0],
        "quantity": [5, 1, 4, 2, 3, 6, 7, 0],
        "kind": ["b", "a", "b", "a", "a", "c", "c", "a"],
    }
)
EVENT_DTYPES = {
    "event_id": "str",
    "occurred_at": "datetime64[ns]",
    "amount": "float64",
    "quantity": "int64",
    "kind": "str",
}
LABELS = pd.DataFrame(
    {
        "event_id": ["e02", "e01", "e03", "e00", "e05"],
        "fraud": [0, 1, 0, 0, 1],
        "known_at": [
            dt.datetime(2026, 3, 6, 8),
            dt.datetime(2026, 3, 6, 8),  # a tie with e02: ordered by id
            dt.datetime(2026, 3, 5),
            dt.datetime(2026, 3, 4, 23, 59, 59),  # before the window: out
            dt.datetime(2026, 3, 12),  # the window's end: out
        ],
    }
)


def write_event_tables(url: str, time_as: str) -> None:
    """The events and their labels, the times declared DATETIME or stored as ISO text."""
    engine = sa.create_engine(url)
    metadata = sa.MetaData()
    time_type = sa.DateTime() if time_as == "datetime" else sa.Text()

    def as_stored(values: pd.Series) -> list:
        if time_as == "datetime":
            return [v.to_pydatetime() for v in values]
        return [v.isoformat() for v in values]  # 2026-03-02T23:59:59.500000

    events = sa.Table(
        "payments",
        metadata,
        sa.Column("event_id", sa.Text),
        sa.Column("occurred_at", time_type),
        sa.Column("amount", sa.Float),
        sa.Column("quantity", sa.Integer),
        sa.Column("kind", sa.String(8)),
    )
    labels = sa.Table(
        "payment_labels",
        metadata,
        sa.Column("event_id", sa.Text),
        sa.Column("fraud", sa.Integer),
        sa.Column("known_at", time_type),
    )
    with engine.begin() as conn:
        metadata.create_all(conn)
        conn.execute(
            sa.insert(events),
            EVENTS.assign(occurred_at=as_stored(EVENTS["occurred_at"])).to_dict("records"),
        )
        conn.execute(
            sa.insert(labels),
            LABELS.assign(known_at=as_stored(LABELS["known_at"])).to_dict("records"),
        )
    engine.dispose()


def event_source(url: str, **overrides) -> EventTimeSource:
    settings = {
        "table": "payments",
        "entity_id": "event_id",
        "event_time": "occurred_at",
        "labels_table": "payment_labels",
        "label_column": "fraud",
        **overrides,
    }
    return EventTimeSource(url=url, **settings)


@pytest.fixture(params=["datetime", "iso_text"])
def events_url(request, tmp_path) -> str:
    url = f"sqlite:///{tmp_path / f'events_{request.param}.db'}"
    write_event_tables(url, request.param)
    return url


def test_event_time_table_is_declared_as_the_test_says(events_url):
    engine = sa.create_engine(events_url)
    declared = {c["name"]: c["type"] for c in sa.inspect(engine).get_columns("payments")}
    engine.dispose()
    stored_as_text = "iso_text" in events_url
    assert isinstance(declared["occurred_at"], sa.Text) is stored_as_text
    assert isinstance(declared["occurred_at"], sa.DateTime) is not stored_as_text


def test_event_time_partition_is_the_rows_of_its_window_in_order(events_url):
    start, end = WEEKLY.window("2026-03-02")
    rows = event_source(events_url).extract(start, end)
    assert dtypes(rows) == EVENT_DTYPES
    assert rows["event_id"].tolist() == ["e01", "e02", "e03", "e04", "e05", "e06"]
    inside = EVENTS[(EVENTS["occurred_at"] >= start) & (EVENTS["occurred_at"] < end)]
    expected = inside.sort_values(["occurred_at", "event_id"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(rows, expected.astype(EVENT_DTYPES))
    # A daily window of the same table: its one day, to the microsecond.
    day = event_source(events_url).extract(*day_window(dt.date(2026, 3, 2)))
    assert day["event_id"].tolist() == ["e01", "e02", "e03"]
    assert day["occurred_at"].iloc[-1] == pd.Timestamp("2026-03-02 23:59:59.5")
    assert event_source(events_url).landed_days() == [dt.date(2026, 3, d) for d in (1, 2, 3, 8, 9)]


def test_event_time_empty_window_is_an_empty_frame_with_the_tables_dtypes(events_url):
    empty = event_source(events_url).extract(dt.datetime(2026, 4, 6), dt.datetime(2026, 4, 13))
    assert len(empty) == 0
    assert list(empty.columns) == list(EVENTS.columns)
    assert dtypes(empty) == EVENT_DTYPES
    # the same dtypes as a window with rows: an empty period does not look like a schema change
    full = event_source(events_url).extract(*WEEKLY.window("2026-03-02"))
    assert dtypes(empty) == dtypes(full)


def test_event_time_labels_are_those_known_in_the_window(events_url):
    start, end = dt.datetime(2026, 3, 5), dt.datetime(2026, 3, 12)
    labels = event_source(events_url).labels(start, end)
    assert dtypes(labels) == {"event_id": "str", "fraud": "int64", "known_at": "datetime64[ns]"}
    assert labels["event_id"].tolist() == ["e03", "e01", "e02"]
    assert labels["known_at"].tolist() == [
        pd.Timestamp("2026-03-05"),
        pd.Timestamp("2026-03-06 08:00"),
        pd.Timestamp("2026-03-06 08:00"),
    ]
    assert labels["fraud"].tolist() == [0, 1, 0]
    none = event_source(events_url).labels(dt.datetime(2026, 1, 1), dt.datetime(2026, 1, 8))
    assert len(none) == 0 and dtypes(none) == dtypes(labels)


def test_event_time_missing_table_names_it_with_the_url_masked(tmp_path, monkeypatch):
    secret_url = "postgresql+psycopg2://pay_reader:s3cr3t-pw@db.internal:5432/payments"
    local = sa.create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    monkeypatch.setattr(SqlSource, "_engine", lambda self: local)
    source = event_source(secret_url, table="payments_v2")
    with pytest.raises(SourceBatchMissing) as err:
        source.extract(*WEEKLY.window("2026-03-02"))
    message = str(err.value)
    assert "payments_v2" in message
    assert "pay_reader:***@db.internal" in message and "s3cr3t" not in message
    with pytest.raises(SourceBatchMissing, match="labels table payment_labels not found") as err:
        source.labels(*WEEKLY.window("2026-03-02"))
    assert "s3cr3t" not in str(err.value)


def test_event_time_source_on_postgres_matches_sqlite(postgres_cluster, tmp_path):
    pg = postgres_cluster.create_database("event_time_source")
    write_event_tables(pg.url, "datetime")
    lite = f"sqlite:///{tmp_path / 'events.db'}"
    write_event_tables(lite, "datetime")
    for start, end in [
        WEEKLY.window("2026-03-02"),
        (dt.datetime(2026, 4, 6), dt.datetime(2026, 4, 13)),
    ]:
        from_pg, from_lite = event_source(pg.url), event_source(lite)
        pd.testing.assert_frame_equal(from_pg.extract(start, end), from_lite.extract(start, end))
        pd.testing.assert_frame_equal(from_pg.labels(start, end), from_lite.labels(start, end))
