"""Event times before the partition: rows dated earlier than the window they landed in.

A batch may carry a few late arrivals from just before its window; rows older than the
policy's tolerance are misdated or replayed (a clock reset, an old export mixed in) and would
join labels, drift and training as if they happened in this partition. Rows after the window's
end are the freshness check's (it errs on them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd

from checks.policy import EventTimeRules


@dataclass(frozen=True)
class EventWindowResult:
    severity: str  # "ok" | "warn" | "error" | "unjudged"
    rows: int
    early: int  # rows before the partition's start minus the tolerance
    cutoff: datetime
    oldest: datetime | None
    examples: tuple[str, ...]  # ids of the oldest early rows
    reason: str


def judge_event_window(
    df: pd.DataFrame,
    time_column: str,
    id_column: str,
    partition_start: datetime,
    rules: EventTimeRules,
    max_examples: int = 5,
) -> EventWindowResult:
    """Count the rows whose event time lies before `partition_start` less the tolerance."""
    cutoff = partition_start - timedelta(hours=rules.early_tolerance_hours)
    rows = len(df)
    if time_column not in df or not pd.api.types.is_datetime64_any_dtype(df[time_column]):
        # A missing or retyped event time: the contract and the schema check name it.
        return EventWindowResult(
            "unjudged", rows, 0, cutoff, None, (), f"no readable {time_column} to judge"
        )
    times = df[time_column]
    early = times < cutoff  # NaT compares False: a null time is the contract's
    n = int(early.sum())
    if n == 0:
        return EventWindowResult(
            "ok",
            rows,
            0,
            cutoff,
            None,
            (),
            f"no row of {rows} dated before {cutoff:%Y-%m-%d %H:%M} (the partition's start "
            f"less {rules.early_tolerance_hours:g} h)",
        )
    oldest_first = df.loc[early].sort_values(time_column, kind="stable")
    oldest = oldest_first[time_column].iloc[0].to_pydatetime()
    examples = (
        tuple(oldest_first[id_column].astype("str").head(max_examples)) if id_column in df else ()
    )
    share = n / rows
    severity = "error" if share >= rules.error_fraction else "warn"
    named = f" (ids {', '.join(examples)})" if examples else ""
    return EventWindowResult(
        severity,
        rows,
        n,
        cutoff,
        oldest,
        examples,
        f"{n} of {rows} rows ({share:.1%}) dated before {cutoff:%Y-%m-%d %H:%M} (the "
        f"partition's start less {rules.early_tolerance_hours:g} h), the oldest "
        f"{oldest:%Y-%m-%d %H:%M}{named} (error at {rules.error_fraction:.0%} of the rows)",
    )
