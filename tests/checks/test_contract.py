"""The engine's generic contract validation (`validate_against`, `summarise_failures`) on a
small contract defined here; the ticket workflow's own contracts are tested with the workflow."""

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest
from pandera.typing import Series

from checks.contract import ContractReport, summarise_failures, validate_against

KINDS = ["a", "b", "c"]


class Toy(pa.DataFrameModel):
    """One row per order."""

    order_id: Series[str] = pa.Field(unique=True)
    kind: Series[str] = pa.Field(isin=KINDS)
    amount: Series[float] = pa.Field(ge=0)
    note: Series[float] = pa.Field(nullable=True)

    @pa.dataframe_check(error="at most half the notes missing")
    def notes_mostly_present(cls, df: pd.DataFrame) -> bool:
        if "note" not in df or len(df) == 0:
            return True
        return bool(df["note"].isna().mean() <= 0.5)

    class Config:
        name = "toy_orders/3"
        strict = True
        coerce = False


def orders(n: int = 6) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "order_id": pd.array([f"o{i}" for i in range(n)], dtype="str"),
            "kind": pd.array([KINDS[i % 3] for i in range(n)], dtype="str"),
            "amount": np.arange(n, dtype="float64"),
            "note": np.full(n, 0.5),
        }
    )


def by_column(report: ContractReport) -> dict[str, dict]:
    return {f["column"]: f for f in report.failures}


def test_a_frame_that_meets_the_contract_passes_under_the_contracts_name():
    report = validate_against(Toy, orders())
    assert report == ContractReport(
        passed=True, n_rows=6, n_failures=0, failures=[], contract="toy_orders/3"
    )
    assert report.summary() == "6 rows meet contract toy_orders/3"


def test_every_broken_rule_is_reported_in_one_run_with_counts_and_examples():
    df = orders()
    df.loc[[0, 1, 2], "kind"] = ["z", "z", "y"]  # two values outside the set, one twice
    df.loc[4, "amount"] = -1.0
    df.loc[5, "order_id"] = "o4"  # o4 now twice: both rows fail unique
    report = validate_against(Toy, df)
    assert not report.passed and report.n_rows == 6 and report.contract == "toy_orders/3"
    found = by_column(report)
    assert set(found) == {"kind", "amount", "order_id"}  # lazy: not only the first rule
    assert found["kind"]["failures"] == 3 and found["kind"]["examples"] == "z, y"
    assert "isin" in found["kind"]["check"]
    assert found["amount"]["failures"] == 1 and found["amount"]["examples"] == "-1.0"
    assert found["order_id"]["failures"] == 2 and found["order_id"]["examples"] == "o4"
    assert report.n_failures == 3 + 1 + 2
    # The biggest failure first, and the summary names the contract and each (column, check).
    assert report.failures[0]["column"] == "kind"
    assert report.summary().startswith("6 failures of contract toy_orders/3: kind: ")


def test_missing_and_unexpected_columns_are_named_as_the_column():
    df = orders().drop(columns=["amount"]).assign(channel="web")
    found = {(f["column"], f["check"]) for f in validate_against(Toy, df).failures}
    assert found == {("amount", "column missing"), ("channel", "unexpected column")}


def test_a_table_rule_is_reported_on_the_table_and_a_null_reads_null():
    df = orders()
    df["note"] = [None, None, None, None, 0.1, 0.2]  # 4 of 6 missing: above half
    df["amount"] = df["amount"].where(df.index != 3)  # a null where none is allowed
    found = by_column(validate_against(Toy, df))
    assert found["(table)"]["check"] == "at most half the notes missing"
    assert found["amount"]["check"] == "not_nullable" and found["amount"]["examples"] == "null"


def test_a_retyped_column_is_a_dtype_failure_not_coerced():
    df = orders().assign(amount=lambda d: d["amount"].astype("int64"))
    [failure] = validate_against(Toy, df).failures
    assert failure["column"] == "amount" and "float64" in failure["check"]


def test_examples_are_distinct_and_at_most_max_examples():
    df = orders(30)
    df["kind"] = [f"k{i % 8}" for i in range(30)]  # 8 unknown values, each several times
    [failure] = validate_against(Toy, df, max_examples=3).failures
    assert failure["failures"] == 30
    assert failure["examples"] == "k0, k1, k2"


def test_the_summary_lists_six_broken_rules_and_counts_the_rest():
    report = ContractReport(
        passed=False,
        n_rows=10,
        n_failures=8,
        failures=[{"column": f"c{i}", "check": "x", "failures": 1} for i in range(8)],
        contract="toy_orders/3",
    )
    text = report.summary()
    assert text.startswith("8 failures of contract toy_orders/3: c0: x, ")
    assert "c5: x" in text and "c6" not in text and text.endswith(" and 2 more")


def test_summarise_failures_groups_pandera_failure_cases():
    cases = pd.DataFrame(
        {
            "schema_context": ["Column", "Column", "Column", "DataFrameSchema"],
            "column": ["kind", "kind", "amount", None],
            "check": ["isin", "isin", "greater_than_or_equal_to(0)", "column_in_dataframe"],
            "failure_case": ["z", "z", float("nan"), "amount"],
        }
    )
    rows = summarise_failures(cases)
    assert rows == [
        {"column": "kind", "check": "isin", "failures": 2, "examples": "z"},
        {"column": "amount", "check": "column missing", "failures": 1, "examples": "amount"},
        {
            "column": "amount",
            "check": "greater_than_or_equal_to(0)",
            "failures": 1,
            "examples": "null",
        },
    ]


@pytest.mark.parametrize("rows", [0, 1])
def test_an_empty_or_one_row_frame_is_judged_on_shape(rows):
    assert validate_against(Toy, orders(rows)).passed
