"""Undecodable text: cells of a text column the source could not give as UTF-8.

The source keeps such a column as the database's exact bytes (every value, so the column has
one type and the snapshot holds what was stored); this names the column and the rows whose
bytes are not UTF-8, as contract failures in the contract report's shape.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

CHECK = "not UTF-8 text (the raw bytes are kept in the snapshot)"


def _not_utf8(value: object) -> bool:
    if not isinstance(value, bytes):
        return False
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def _shown(value: object, width: int = 40) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def undecodable_text(
    df: pd.DataFrame, text_columns: Iterable[str], id_column: str, max_examples: int = 5
) -> list[dict]:
    """One failure per text column with cells that are not UTF-8: how many rows, and a few of
    them by id (or by row number without an id column) with the bytes found."""
    failures = []
    for column in text_columns:
        if column not in df or df[column].dtype != object:
            continue
        bad = df[column].map(_not_utf8).astype(bool)
        if not bad.any():
            continue
        ids = df.loc[bad, id_column] if id_column in df else df.index[bad].map(lambda i: f"row {i}")
        cells = df.loc[bad, column]
        examples = [f"{_shown(i)} ({_shown(v)})" for i, v in zip(ids, cells, strict=True)]
        failures.append(
            {
                "column": str(column),
                "check": CHECK,
                "failures": int(bad.sum()),
                "examples": ", ".join(examples[:max_examples]),
            }
        )
    return failures
