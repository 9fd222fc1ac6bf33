"""Small helpers that turn judgement results into Dagster metadata a person reads in the UI."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from dagster import AssetCheckSeverity, MetadataValue, TableColumn, TableRecord, TableSchema

SEVERITY = {"warn": AssetCheckSeverity.WARN, "error": AssetCheckSeverity.ERROR}


def passed(severity: str) -> bool:
    """'ok' and 'no judgement yet' pass; 'warn' and 'error' fail with that severity."""
    return severity not in SEVERITY


def check_severity(severity: str) -> AssetCheckSeverity:
    return SEVERITY.get(severity, AssetCheckSeverity.WARN)


def _cell(value: Any) -> str | int | float | bool | None:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def table(records: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None):
    """A metadata table; column types are inferred from the first non-null value."""
    columns = list(columns or (records[0].keys() if records else []))
    kinds = {}
    for name in columns:
        sample = next((r.get(name) for r in records if r.get(name) is not None), None)
        if isinstance(sample, bool):
            kinds[name] = "bool"
        elif isinstance(sample, int):
            kinds[name] = "int"
        elif isinstance(sample, float):
            kinds[name] = "float"
        else:
            kinds[name] = "string"
    schema = TableSchema(columns=[TableColumn(name, kinds[name]) for name in columns])
    # Every record must carry every column (Dagster requires it); a missing value is None.
    rows = [TableRecord({name: _cell(r.get(name)) for name in columns}) for r in records]
    return MetadataValue.table(records=rows, schema=schema)


def round_sig(value: Any, digits: int = 3) -> Any:
    """A float to `digits` significant digits, for a table a person reads (other values as
    they are); the unrounded numbers stay in the check's numeric metadata."""
    if isinstance(value, float) and math.isfinite(value):
        return float(f"{value:.{digits}g}")
    return value


def column_schema(logical: Mapping[str, str]) -> TableSchema:
    return TableSchema(columns=[TableColumn(name, kind) for name, kind in logical.items()])
