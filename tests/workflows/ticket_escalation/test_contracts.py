"""The ticket workflow's contracts (raw tickets, labels) on the simulated CRM, through the
engine's generic ``validate_against``."""

import datetime as dt
from datetime import date

import numpy as np
import pandas as pd
import pytest

from checks.contract import validate_against
from workflows.ticket_escalation.contracts import LabelContract, RawTicketContract
from workflows.ticket_escalation.simulation.crm import generate_day
from workflows.ticket_escalation.simulation.incidents import Incident

DAY = date(2026, 2, 3)
RAW_CONTRACT = "raw_tickets/1"
LABEL_CONTRACT = "ticket_labels/1"


def tickets(*incidents: Incident) -> pd.DataFrame:
    return generate_day(DAY, seed=3, incidents=incidents)[0]


def validate_contract(df: pd.DataFrame):
    return validate_against(RawTicketContract, df)


def failures_by_column(df: pd.DataFrame) -> dict[str, dict]:
    """The failure row per column (the first one when a column breaks several rules)."""
    found: dict[str, dict] = {}
    for failure in validate_contract(df).failures:
        found.setdefault(failure["column"], failure)
        found[failure["column"]].setdefault("all_checks", []).append(failure["check"])
    return found


# --- raw tickets -------------------------------------------------------------------------------


def test_a_clean_simulated_day_meets_the_contract():
    report = validate_contract(tickets())
    assert report.passed and report.n_failures == 0
    assert report.contract == RawTicketContract.Config.name == RAW_CONTRACT
    assert RAW_CONTRACT in report.summary()


def test_duplicate_ticket_ids_are_counted_with_examples():
    df = tickets(Incident("duplicate_rows", DAY, {"fraction": 0.05}))
    found = failures_by_column(df)["ticket_id"]
    duplicated = df["ticket_id"][df["ticket_id"].duplicated(keep=False)]
    assert found["failures"] == len(duplicated)  # every row of a duplicated id is a failure
    assert found["examples"].split(", ")[0] in set(duplicated)


def test_unseen_category_names_the_value():
    df = tickets(Incident("unseen_category", DAY, {"column": "channel", "value": "whatsapp"}))
    found = failures_by_column(df)["channel"]
    assert "whatsapp" in found["examples"]
    assert found["failures"] == int((df["channel"] == "whatsapp").sum())


@pytest.mark.parametrize(
    ("params", "column", "check"),
    [
        ({"mode": "rename"}, "message_length", "column missing"),
        ({"mode": "rename"}, "msg_len", "unexpected column"),
        ({"mode": "drop", "column": "sentiment"}, "sentiment", "column missing"),
        ({"mode": "retype"}, "message_length", "dtype('int64')"),
    ],
)
def test_schema_changes_break_the_contract_by_name(params, column, check):
    found = failures_by_column(tickets(Incident("schema_change", DAY, params)))
    assert column in found
    assert any(check in c for c in found[column]["all_checks"])


def test_null_flood_on_a_nullable_column_breaks_the_null_rate_rule():
    df = tickets(Incident("null_flood", DAY, {"column": "sentiment", "fraction": 0.9}))
    report = validate_contract(df)
    assert not report.passed
    assert any("sentiment null rate" in f["check"] for f in report.failures)


def test_null_flood_on_a_required_column_is_counted():
    df = tickets(Incident("null_flood", DAY, {"column": "first_response_minutes"}))
    found = failures_by_column(df)["first_response_minutes"]
    assert found["failures"] == int(df["first_response_minutes"].isna().sum())


def test_out_of_range_values_are_reported():
    df = tickets()
    df.loc[df.index[:3], "sentiment"] = 4.0
    found = failures_by_column(df)["sentiment"]
    assert found["failures"] == 3 and "4.0" in found["examples"]


def test_an_empty_day_with_the_right_columns_meets_the_contract():
    # Volume and freshness judge an empty day; the contract judges shape only.
    assert validate_contract(tickets().iloc[:0]).passed


# --- labels ------------------------------------------------------------------------------------

LABEL_DAY = dt.date(2026, 2, 11)
SEED = 3


def labels(rows: list[tuple], start: str = "2026-02-11 00:00") -> pd.DataFrame:
    """(ticket_id, escalated) rows known one minute apart from ``start``."""
    return pd.DataFrame(
        {
            "ticket_id": pd.array([r[0] for r in rows], dtype="str"),
            "escalated": np.array([r[1] for r in rows], dtype="int64"),
            "known_at": pd.date_range(start, periods=len(rows), freq="min").astype(
                "datetime64[ns]"
            ),
        }
    )


def validate_labels(df: pd.DataFrame):
    return validate_against(LabelContract, df)


def known_on(day: dt.date, *incidents: Incident) -> pd.DataFrame:
    """The outcomes the simulated CRM delivers on ``day`` (from the days they can belong to)."""
    days = [day - dt.timedelta(days=k) for k in range(8, -1, -1)]
    outcomes = pd.concat([generate_day(d, SEED, incidents)[1] for d in days], ignore_index=True)
    start, end = pd.Timestamp(day), pd.Timestamp(day + dt.timedelta(days=1))
    today = outcomes[outcomes["known_at"].between(start, end, inclusive="left")]
    return today.sort_values(["known_at", "ticket_id"], kind="stable").reset_index(drop=True)


def test_clean_simulated_labels_meet_the_contract():
    today = known_on(LABEL_DAY)
    report = validate_labels(today)
    assert report.passed and report.n_rows == len(today) > 1000
    assert report.summary() == f"{len(today)} rows meet contract {LABEL_CONTRACT}"
    assert set(LabelContract.to_schema().columns) == {"ticket_id", "escalated", "known_at"}


def test_empty_labels_meet_the_contract():
    assert validate_labels(labels([])).passed


def test_invalid_values_are_counted_with_examples():
    df = labels([("a", 0), ("b", 2), ("c", -1), ("d", 2), ("e", 1)])
    report = validate_labels(df)
    assert not report.passed and LABEL_CONTRACT in report.summary()
    [failure] = report.failures
    assert failure["column"] == "escalated" and "isin" in failure["check"]
    assert failure["failures"] == 3 and failure["examples"] == "2, -1"


def test_nulls_and_retyped_columns_break_the_contract_by_name():
    df = labels([("a", 0), ("b", 1), ("c", 1)])
    df["ticket_id"] = df["ticket_id"].where(df.index != 1)  # a null id
    df["escalated"] = df["escalated"].astype("float64").where(df.index != 2)  # NULL -> float64
    df["known_at"] = df["known_at"].astype("str")
    found = {(f["column"], f["check"]): f for f in validate_labels(df).failures}
    assert found[("ticket_id", "not_nullable")]["examples"] == "null"
    assert ("escalated", "dtype('int64')") in found
    assert ("known_at", "dtype('datetime64[ns]')") in found


def test_a_missing_or_extra_label_column_is_named():
    df = labels([("a", 0)]).drop(columns=["known_at"]).assign(source="crm")
    found = {f["column"]: f["check"] for f in validate_labels(df).failures}
    assert found == {"known_at": "column missing", "source": "unexpected column"}


def test_a_simulated_bad_labels_day_breaks_the_label_contract_on_the_invalid_values():
    # The incident's default adds 10 labels of -1 or 2 (beside unknown and duplicate ones,
    # which only the label judgement can see: the contract reads one frame).
    today = known_on(LABEL_DAY, Incident("bad_labels", LABEL_DAY))
    validation = validate_labels(today)
    assert not validation.passed
    [failure] = validation.failures
    assert failure["column"] == "escalated" and failure["failures"] == 10
    assert failure["failures"] == int((~today["escalated"].isin([0, 1])).sum())
