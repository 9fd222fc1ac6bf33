"""Freshness of a partition: how far its newest event lies before the partition's end.

A daily feed's newest row is normally minutes before midnight. A feed that re-sends
yesterday's rows as today's batch, or stops delivering, shows up as a lag of a day or more.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from checks.policy import FreshnessRules


@dataclass(frozen=True)
class FreshnessResult:
    severity: str  # "ok" | "warn" | "error"
    newest_event: datetime | None
    lag_hours: float | None
    reason: str


def newest_event_time(df: pd.DataFrame, column: str) -> datetime | None:
    """The newest parsable event time, or None when there is none to read."""
    if column not in df or len(df) == 0:
        return None
    values = df[column]
    if not pd.api.types.is_datetime64_any_dtype(values):
        return None  # a retyped timestamp: the contract and schema checks name it
    newest = values.max()
    return None if pd.isna(newest) else newest.to_pydatetime()


def judge_freshness(
    newest_event: datetime | None, partition_end: datetime, rules: FreshnessRules
) -> FreshnessResult:
    if newest_event is None:
        return FreshnessResult(
            "error", None, None, "no readable event time in the partition (empty or retyped)"
        )
    lag = (partition_end - newest_event).total_seconds() / 3600.0
    if lag < 0:
        return FreshnessResult(
            "error",
            newest_event,
            lag,
            f"newest event {newest_event:%Y-%m-%d %H:%M} lies {-lag:.1f} h after the "
            "partition's end: rows belong to a later day",
        )
    if lag >= rules.error_lag_hours:
        severity = "error"
    elif lag >= rules.warn_lag_hours:
        severity = "warn"
    else:
        severity = "ok"
    return FreshnessResult(
        severity,
        newest_event,
        lag,
        f"newest event {newest_event:%Y-%m-%d %H:%M}, {lag:.1f} h before the partition's end "
        f"(warn at {rules.warn_lag_hours:g} h, error at {rules.error_lag_hours:g} h)",
    )
