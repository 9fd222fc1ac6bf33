"""Validating a frame against a workflow's pandera contract, and the readable report.

Validation is lazy so one run reports every broken rule (column, check, number of failures,
a few example values) instead of stopping at the first.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import pandera.pandas as pa


@dataclass
class ContractReport:
    passed: bool
    n_rows: int
    n_failures: int
    failures: list[dict] = field(default_factory=list)  # one row per (column, check)
    contract: str = ""

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
