"""Schema change: a partition's columns and types against the previous partition and the contract.

Types are compared as logical types (integer, float, string, datetime, boolean) so that a
storage detail such as ``string[pyarrow]`` versus ``str`` is not reported as a change.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd


def logical_type(dtype: object) -> str:
    text = str(dtype).lower()
    if text.startswith(("int", "uint")):
        return "integer"
    if text.startswith("float"):
        return "float"
    if text.startswith("bool"):
        return "boolean"
    if text.startswith("datetime") or "timestamp" in text:
        return "datetime"
    if text.startswith(("str", "string", "object", "category", "large_string")):
        return "string"
    return text


def schema_of(df: pd.DataFrame) -> dict[str, str]:
    return {str(name): logical_type(dtype) for name, dtype in df.dtypes.items()}


@dataclass
class SchemaDiff:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    renamed: list[tuple[str, str]] = field(default_factory=list)  # (old, new), a guess
    retyped: list[tuple[str, str, str]] = field(default_factory=list)  # (column, old, new)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed or self.renamed or self.retyped)

    def describe(self) -> list[str]:
        lines = [f"renamed? {old} -> {new}" for old, new in self.renamed]
        lines += [f"removed {c}" for c in self.removed]
        lines += [f"added {c}" for c in self.added]
        lines += [f"retyped {c}: {old} -> {new}" for c, old, new in self.retyped]
        return lines


def diff_schemas(current: Mapping[str, str], baseline: Mapping[str, str]) -> SchemaDiff:
    """Columns added, removed, retyped; a removed and an added column of the same type whose
    names look alike (or the only such pair) are listed as a likely rename."""
    added = [c for c in current if c not in baseline]
    removed = [c for c in baseline if c not in current]
    retyped = [
        (c, baseline[c], current[c]) for c in current if c in baseline and current[c] != baseline[c]
    ]
    renamed: list[tuple[str, str]] = []
    for old in list(removed):
        same_type = [c for c in added if current[c] == baseline[old]]
        if not same_type:
            continue
        close = difflib.get_close_matches(old, same_type, n=1, cutoff=0.4)
        if close or (len(same_type) == 1 and len(removed) == 1):
            new = close[0] if close else same_type[0]
            renamed.append((old, new))
            removed.remove(old)
            added.remove(new)
    return SchemaDiff(added=added, removed=removed, renamed=renamed, retyped=retyped)


@dataclass
class SchemaReport:
    severity: str  # "ok" | "warn" | "error"
    vs_contract: SchemaDiff
    vs_previous: SchemaDiff | None
    reason: str


def judge_schema(
    current: Mapping[str, str],
    previous: Mapping[str, str] | None,
    contract: Mapping[str, str],
) -> SchemaReport:
    """ERROR when the partition breaks the contract's schema; WARN when it merely differs from
    the previous partition (a change the contract allows, still worth a look)."""
    vs_contract = diff_schemas(current, contract)
    vs_previous = diff_schemas(current, previous) if previous is not None else None
    if vs_contract.changed:
        return SchemaReport(
            "error",
            vs_contract,
            vs_previous,
            "schema breaks the contract: " + "; ".join(vs_contract.describe()),
        )
    if vs_previous is not None and vs_previous.changed:
        return SchemaReport(
            "warn",
            vs_contract,
            vs_previous,
            "schema differs from the previous partition: " + "; ".join(vs_previous.describe()),
        )
    since = "the previous partition and " if previous is not None else ""
    return SchemaReport("ok", vs_contract, vs_previous, f"schema matches {since}the contract")
