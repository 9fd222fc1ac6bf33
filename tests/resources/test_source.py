"""SqlTicketSource reads a day exactly as the source landed it."""

from __future__ import annotations

import datetime as dt
from functools import cache

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa

from resources.source import SourceBatchMissing, SqlTicketSource, mask_url
from workflows.ticket_escalation.simulation.crm import CrmSimulator, generate_day
from workflows.ticket_escalation.simulation.incidents import parse_incidents
from workflows.ticket_escalation.simulation.vocabulary import TICKET_COLUMNS

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


def dtypes(df: pd.DataFrame) -> dict[str, str]:
    return {c: str(d) for c, d in df.dtypes.items()}


@pytest.fixture(scope="module")
def url(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("source") / "source.db"
    url = f"sqlite:///{path}"
    with CrmSimulator(url, seed=SEED) as sim:
        sim.write_days(CLEAN, RESEND, INCIDENTS)
    return url


@pytest.fixture(scope="module")
def source(url) -> SqlTicketSource:
    return SqlTicketSource(url=url)


def test_clean_day_round_trips_exactly(source):
    df = source.extract_day(CLEAN)
    assert dtypes(df) == CLEAN_DTYPES
    assert isinstance(df["ticket_id"].dtype, pd.StringDtype)
    pd.testing.assert_frame_equal(df, generate_day(CLEAN, SEED)[0])  # values and row order


def test_retyped_column_comes_back_as_text(source):
    df = source.extract_day(RETYPE)
    assert dtypes(df) == {**CLEAN_DTYPES, "message_length": "str"}
    assert df["message_length"].str.fullmatch(r"\d+ chars").all()


def test_renamed_and_dropped_columns_come_back_as_landed(source):
    renamed = source.extract_day(RENAME)
    assert "message_length" not in renamed and str(renamed["msg_len"].dtype) == "int64"
    assert list(renamed.columns) == [c.replace("message_length", "msg_len") for c in TICKET_COLUMNS]
    dropped = source.extract_day(DROP)
    assert list(dropped.columns) == [c for c in TICKET_COLUMNS if c != "sentiment"]


def test_empty_batch_keeps_columns_and_dtypes(source):
    df = source.extract_day(EMPTY)
    assert len(df) == 0
    assert list(df.columns) == TICKET_COLUMNS
    assert dtypes(df) == CLEAN_DTYPES


def test_null_columns(source):
    df = source.extract_day(NULLS)
    # an all-NULL text column keeps its declared type instead of pandas' object
    assert str(df["subject"].dtype) == "str" and df["subject"].isna().all()
    # an integer column with NULLs is float64, as pandas always does: not coerced back
    assert str(df["prior_tickets_90d"].dtype) == "float64"
    assert df["prior_tickets_90d"].isna().mean() == pytest.approx(0.2, abs=0.001)


def test_resent_batch_is_yesterdays_rows(source):
    pd.testing.assert_frame_equal(source.extract_day(RESEND), source.extract_day(NULLS))


def test_missing_batch_raises_naming_the_date_and_table(source):
    with pytest.raises(SourceBatchMissing) as err:
        source.extract_day(dt.date(2026, 4, 1))
    message = str(err.value)
    assert "2026-04-01" in message and "crm_tickets_20260401" in message
    assert isinstance(err.value, LookupError)


def test_landed_batches_lists_day_tables_only(source, url):
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS crm_tickets_backup (x INTEGER)")
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS crm_tickets_20261399 (x INTEGER)")
    engine.dispose()
    assert source.landed_batches() == [CLEAN + dt.timedelta(days=i) for i in range(7)]
    assert SqlTicketSource(url=url, table_prefix="other_").landed_batches() == []


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
    source = SqlTicketSource(url=url, table_prefix="t_")
    iso = source.extract_day(dt.date(2026, 1, 1))["created_at"]
    assert str(iso.dtype) == "datetime64[ns]"
    assert iso.tolist() == [pd.Timestamp("2026-01-01 08:00"), pd.Timestamp("2026-01-01 09:30:15.5")]
    offset = source.extract_day(dt.date(2026, 1, 2))["created_at"]
    assert offset.iloc[0] == pd.Timestamp("2026-01-02 06:00") and pd.isna(offset.iloc[1])
    garbage = source.extract_day(dt.date(2026, 1, 3))["created_at"]
    assert str(garbage.dtype) == "str" and garbage.iloc[0] == "yesterday"
    numbers = source.extract_day(dt.date(2026, 1, 4))["created_at"]
    assert str(numbers.dtype) == "int64"


def test_password_never_appears_in_errors(tmp_path, monkeypatch):
    secret_url = "postgresql+psycopg2://crm_reader:s3cr3t-pw@db.internal:5432/crm"
    assert mask_url(secret_url) == "postgresql+psycopg2://crm_reader:***@db.internal:5432/crm"
    assert "s3cr3t" not in mask_url("not a url s3cr3t")
    source = SqlTicketSource(url=secret_url)
    assert "s3cr3t" not in source.masked_url

    # the missing-batch error names the source by its masked URL
    local = sa.create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    monkeypatch.setattr(SqlTicketSource, "_engine", lambda self: local)
    with pytest.raises(SourceBatchMissing) as err:
        source.extract_day(dt.date(2026, 3, 5))
    assert "s3cr3t" not in str(err.value)
    assert "crm_reader:***@db.internal" in str(err.value)


def test_password_not_leaked_when_the_database_is_unreachable():
    source = SqlTicketSource(url="postgresql+psycopg2://crm_reader:s3cr3t-pw@127.0.0.1:9/crm")
    with pytest.raises(Exception) as err:  # noqa: B017 - any driver error; only its text matters
        source.extract_day(dt.date(2026, 3, 5))
    assert "s3cr3t" not in str(err.value) and "s3cr3t" not in repr(err.value)


def test_works_as_a_dagster_resource(url):
    @dg.asset
    def raw_tickets(source: SqlTicketSource) -> int:
        return len(source.extract_day(CLEAN))

    result = dg.materialize([raw_tickets], resources={"source": SqlTicketSource(url=url)})
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
    labels = SqlTicketSource(url=label_url).extract_labels(day)
    assert dtypes(labels) == LABEL_DTYPES
    assert len(labels) > 250
    pd.testing.assert_frame_equal(labels, expected_labels(day))


def test_bad_labels_come_back_as_stored(label_url):
    labels = SqlTicketSource(url=label_url).extract_labels(BAD_DAY)
    assert sorted(set(labels["escalated"])) == [-1, 0, 1, 2]  # not coerced
    assert int((~labels["escalated"].isin([0, 1])).sum()) == 10
    assert int(labels["ticket_id"].str.fullmatch(r"T20260308-9\d{5}").sum()) == 20
    assert int(labels["ticket_id"].duplicated().sum()) == 10  # the invalid second labels


@pytest.mark.parametrize("day", [LABEL_DAYS[0], dt.date(2025, 1, 1)])
def test_a_day_without_labels_is_an_empty_frame_with_the_dtypes(label_url, day):
    labels = SqlTicketSource(url=label_url).extract_labels(day)  # tickets are labelled >= 2 days on
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
    labels = SqlTicketSource(url=url).extract_labels(dt.datetime(2026, 3, 4, 15, 30))  # its date
    assert labels["ticket_id"].tolist() == ["c", "a", "b", "d"]
    assert labels["known_at"].tolist() == [
        pd.Timestamp(t)
        for t in ("2026-03-04", "2026-03-04 12:00", "2026-03-04 12:00", "2026-03-04 23:59:59")
    ]
    assert dtypes(labels) == LABEL_DTYPES


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
    source = SqlTicketSource(url=url)
    odd = source.extract_labels(dt.date(2026, 3, 4))
    # NULLs make escalated float64 (pandas' rule); a known_at that is no timestamp is NaT
    assert dtypes(odd) == {**LABEL_DTYPES, "escalated": "float64"}
    assert odd["ticket_id"].tolist()[:2] == ["a", "b"] and pd.isna(odd["ticket_id"].iloc[2])
    escalated = odd["escalated"]
    assert escalated.iloc[0] == 2 and pd.isna(escalated.iloc[1]) and escalated.iloc[2] == 1
    assert odd["ticket_id"].iloc[3] == "c" and pd.isna(odd["known_at"].iloc[3])  # NaT last
    invalid = source.extract_labels(dt.date(2026, 3, 5))
    assert dtypes(invalid) == LABEL_DTYPES and invalid["escalated"].tolist() == [-1]
    all_null = source.extract_labels(dt.date(2026, 3, 6))
    assert str(all_null["escalated"].dtype) == "float64" and all_null["escalated"].isna().all()


def test_missing_outcomes_table_raises_naming_the_table_and_the_masked_url(tmp_path, monkeypatch):
    secret_url = "postgresql+psycopg2://crm_reader:s3cr3t-pw@db.internal:5432/crm"
    local = sa.create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    monkeypatch.setattr(SqlTicketSource, "_engine", lambda self: local)
    with pytest.raises(SourceBatchMissing) as err:
        SqlTicketSource(url=secret_url).extract_labels(dt.date(2026, 3, 5))
    message = str(err.value)
    assert "crm_outcomes" in message and "2026-03-05" in message
    assert "crm_reader:***@db.internal" in message and "s3cr3t" not in message
    with pytest.raises(SourceBatchMissing, match="outcomes table labels_v2 not found"):
        SqlTicketSource(url=secret_url, outcomes_table="labels_v2").extract_labels(
            dt.date(2026, 3, 5)
        )


def test_outcomes_table_without_a_label_column_is_a_clear_error(tmp_path):
    url = f"sqlite:///{tmp_path / 'renamed.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE crm_outcomes (ticket_id TEXT, label INTEGER, known_at TEXT)"
        )
    engine.dispose()
    with pytest.raises(ValueError, match=r"crm_outcomes .* lacks column\(s\) \['escalated'\]"):
        SqlTicketSource(url=url).extract_labels(dt.date(2026, 3, 5))


def test_labels_from_postgres_match_sqlite(postgres_cluster, label_url):
    pg = postgres_cluster.create_database("labels_source")
    write_label_days(pg.url)
    with CrmSimulator(pg.url, seed=SEED) as sim:  # re-landing the bad day changes nothing
        sim.write_day(BAD_DAY, LABEL_INCIDENTS)
    from_pg, from_sqlite = SqlTicketSource(url=pg.url), SqlTicketSource(url=label_url)
    for day in (LABEL_DAYS[0], LABEL_DAYS[4], BAD_DAY, LABEL_DAYS[-1]):
        pd.testing.assert_frame_equal(from_pg.extract_labels(day), from_sqlite.extract_labels(day))
