"""SqlTicketSource reads a day exactly as the source landed it."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa

from orchestration.simulation.crm import TICKET_COLUMNS, CrmSimulator, generate_day
from orchestration.simulation.incidents import parse_incidents
from resources.source import SourceBatchMissing, SqlTicketSource, mask_url

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
