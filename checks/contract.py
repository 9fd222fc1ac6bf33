"""The data contract for raw tickets: a pandera model a reviewer can read in one screen.

It is validated lazily so one run reports every broken rule (column, check, number of failures,
a few example values) instead of stopping at the first.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

CONTRACT_VERSION = "raw_tickets/1"

CHANNELS = ["email", "chat", "phone", "web_form", "social"]
PRODUCTS = ["billing", "mobile_app", "web_app", "api", "integrations", "hardware"]
REGIONS = ["NA", "EMEA", "APAC", "LATAM"]
PLAN_TIERS = ["free", "basic", "pro", "enterprise"]
PRIORITIES = ["low", "normal", "high", "urgent"]

# The sentiment service fails now and then (about 2% of rows); far more is an outage.
MAX_SENTIMENT_NULL_RATE = 0.10


class RawTicketContract(pa.DataFrameModel):
    """One row per support ticket, as exported by the CRM for one day."""

    ticket_id: Series[str] = pa.Field(unique=True)
    created_at: Series[pd.Timestamp]
    customer_id: Series[str]
    channel: Series[str] = pa.Field(isin=CHANNELS)
    product: Series[str] = pa.Field(isin=PRODUCTS)
    region: Series[str] = pa.Field(isin=REGIONS)
    plan_tier: Series[str] = pa.Field(isin=PLAN_TIERS)
    priority: Series[str] = pa.Field(isin=PRIORITIES)
    account_age_days: Series[int] = pa.Field(ge=0, le=365 * 50)
    prior_tickets_90d: Series[int] = pa.Field(ge=0, le=10_000)
    message_length: Series[int] = pa.Field(ge=1, le=200_000)
    first_response_minutes: Series[float] = pa.Field(ge=0, le=60 * 24 * 30)
    sentiment: Series[float] = pa.Field(ge=-1, le=1, nullable=True)
    subject: Series[str]

    @pa.dataframe_check(error=f"sentiment null rate above {MAX_SENTIMENT_NULL_RATE:.0%}")
    def sentiment_mostly_present(cls, df: pd.DataFrame) -> bool:
        if "sentiment" not in df or len(df) == 0:
            return True  # a missing column is reported by the column rule itself
        return bool(df["sentiment"].isna().mean() <= MAX_SENTIMENT_NULL_RATE)

    class Config:
        name = CONTRACT_VERSION
        strict = True  # an unexpected column is a schema change, not noise
        coerce = False  # coercion would hide a retyped column


CONTRACT_COLUMNS: dict[str, str] = {
    name: str(col.dtype) for name, col in RawTicketContract.to_schema().columns.items()
}
NUMERIC_COLUMNS = [
    "account_age_days",
    "prior_tickets_90d",
    "message_length",
    "first_response_minutes",
    "sentiment",
]
CATEGORICAL_COLUMNS = ["channel", "product", "region", "plan_tier", "priority"]


@dataclass
class ContractReport:
    passed: bool
    n_rows: int
    n_failures: int
    failures: list[dict] = field(default_factory=list)  # one row per (column, check)
    contract: str = CONTRACT_VERSION

    def summary(self) -> str:
        if self.passed:
            return f"{self.n_rows} rows meet contract {self.contract}"
        broken = ", ".join(f"{f['column']}: {f['check']}" for f in self.failures[:6])
        more = "" if len(self.failures) <= 6 else f" and {len(self.failures) - 6} more"
        return f"{self.n_failures} failures of contract {self.contract}: {broken}{more}"


def validate_against(
    model: type[pa.DataFrameModel], df: pd.DataFrame, max_examples: int = 5
) -> ContractReport:
    """Validate `df` lazily against a contract model; summarise pandera's failure cases per
    (column, check). The report is named after the model's `Config.name`."""
    contract = model.Config.name
    try:
        model.validate(df, lazy=True)
    except pa.errors.SchemaErrors as err:
        return ContractReport(
            passed=False,
            n_rows=len(df),
            n_failures=len(err.failure_cases),
            failures=summarise_failures(err.failure_cases, max_examples),
            contract=contract,
        )
    return ContractReport(passed=True, n_rows=len(df), n_failures=0, contract=contract)


def validate_contract(df: pd.DataFrame, max_examples: int = 5) -> ContractReport:
    """The raw-ticket contract."""
    return validate_against(RawTicketContract, df, max_examples)


_TABLE_CHECKS = {
    "column_in_dataframe": "column missing",
    "column_in_schema": "unexpected column",
}


def _readable(value: object) -> str:
    # pandas 3 keeps NaN through astype(str); a null failure case should read as "null".
    return "null" if value is None or (isinstance(value, float) and value != value) else str(value)


def summarise_failures(cases: pd.DataFrame, max_examples: int = 5) -> list[dict]:
    """pandera's failure cases, one row per (column, check) with a count and a few examples."""
    cases = cases.assign(
        column=cases["column"].astype(str),
        check=cases["check"].astype(str),
        failure_case=[_readable(v) for v in cases["failure_case"]],
    )
    # Table-level schema failures name the column in failure_case: show it as the column.
    for pandera_check, readable in _TABLE_CHECKS.items():
        hit = (cases["schema_context"] == "DataFrameSchema") & (cases["check"] == pandera_check)
        cases.loc[hit, "column"] = cases.loc[hit, "failure_case"]
        cases.loc[hit, "check"] = readable
    table_rule = (cases["schema_context"] == "DataFrameSchema") & ~cases["check"].isin(
        list(_TABLE_CHECKS.values())
    )
    cases.loc[table_rule, "column"] = "(table)"
    rows = []
    for (column, check), group in cases.groupby(["column", "check"], sort=True):
        examples = list(dict.fromkeys(group["failure_case"]))[:max_examples]
        rows.append(
            {
                "column": column,
                "check": check,
                "failures": int(len(group)),
                "examples": ", ".join(examples),
            }
        )
    return sorted(rows, key=lambda r: -r["failures"])
