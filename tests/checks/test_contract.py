from datetime import date

import pandas as pd
import pytest

from checks.contract import CONTRACT_VERSION, validate_contract
from workflows.ticket_escalation.simulation.crm import generate_day
from workflows.ticket_escalation.simulation.incidents import Incident

DAY = date(2026, 2, 3)


def tickets(*incidents: Incident) -> pd.DataFrame:
    return generate_day(DAY, seed=3, incidents=incidents)[0]


def failures_by_column(df: pd.DataFrame) -> dict[str, dict]:
    """The failure row per column (the first one when a column breaks several rules)."""
    found: dict[str, dict] = {}
    for failure in validate_contract(df).failures:
        found.setdefault(failure["column"], failure)
        found[failure["column"]].setdefault("all_checks", []).append(failure["check"])
    return found


def test_a_clean_simulated_day_meets_the_contract():
    report = validate_contract(tickets())
    assert report.passed and report.n_failures == 0
    assert CONTRACT_VERSION in report.summary()


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
