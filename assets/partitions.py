"""A workflow's time partitions (daily, weekly or monthly, UTC) and the arithmetic on their keys.

Event times are stored as naive UTC; every helper here speaks naive UTC datetimes too, so a
partition's window compares directly with an event-time column.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cached_property

from dagster import (
    DailyPartitionsDefinition,
    MonthlyPartitionsDefinition,
    TimeWindowPartitionsDefinition,
    WeeklyPartitionsDefinition,
)

from resources.clock import calendar_end

CADENCES = ("daily", "weekly", "monthly")
# Nominal length of one period: how a policy's day counts become partition counts.
PERIOD_DAYS = {"daily": 1, "weekly": 7, "monthly": 30}


def utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


@dataclass(frozen=True)
class Partitioning:
    """`cadence`: daily, weekly (weeks start on Monday) or monthly; `start`: the first day the
    deployment holds data for. Part of the asset graph, so it is code, not configuration."""

    cadence: str = "daily"
    start: str = "2026-01-01"

    def __post_init__(self) -> None:
        if self.cadence not in CADENCES:
            raise ValueError(f"partition cadence {self.cadence!r}: one of {', '.join(CADENCES)}")
        date.fromisoformat(self.start)

    @cached_property
    def definition(self) -> TimeWindowPartitionsDefinition:
        end = calendar_end()  # read when the code location loads, not at import
        if self.cadence == "daily":
            return DailyPartitionsDefinition(start_date=self.start, end_date=end, timezone="UTC")
        if self.cadence == "weekly":
            return WeeklyPartitionsDefinition(
                start_date=self.start, end_date=end, day_offset=1, timezone="UTC"
            )
        return MonthlyPartitionsDefinition(start_date=self.start, end_date=end, timezone="UTC")

    @property
    def period_days(self) -> int:
        return PERIOD_DAYS[self.cadence]

    def window(self, key: str) -> tuple[datetime, datetime]:
        """[start, end) of a partition, naive UTC."""
        w = self.definition.time_window_for_partition_key(key)
        return naive(w.start), naive(w.end)

    def start_of(self, key: str) -> datetime:
        return self.window(key)[0]

    def end_of(self, key: str) -> datetime:
        return self.window(key)[1]

    def key_at(self, moment: datetime) -> str:
        """The key of the partition holding `moment` (it need not have ended yet)."""
        moment = naive(moment)
        if self.cadence == "daily":
            return moment.date().isoformat()
        if self.cadence == "weekly":
            day = moment.date()
            return (day - timedelta(days=day.weekday())).isoformat()
        return moment.date().replace(day=1).isoformat()

    def shift(self, key: str, periods: int) -> str:
        """The key `periods` partitions after (negative: before) `key`."""
        day = date.fromisoformat(key)
        if self.cadence == "monthly":
            month = day.year * 12 + day.month - 1 + periods
            return date(month // 12, month % 12 + 1, 1).isoformat()
        return (day + timedelta(days=periods * self.period_days)).isoformat()

    def previous(self, key: str, n: int) -> list[str]:
        """The n keys before `key`, newest first."""
        return [self.shift(key, -i) for i in range(1, n + 1)]

    def keys_between(self, first: datetime, last: datetime) -> list[str]:
        """Keys of the partitions whose window overlaps [first, last], oldest first."""
        key, end = self.key_at(first), self.key_at(last)
        keys = []
        while key <= end:
            keys.append(key)
            key = self.shift(key, 1)
        return keys

    def seasonal_history(self, key: str, n: int) -> list[str]:
        """Earlier partitions comparable with `key` for volume: the same weekday for daily
        partitions (weekly seasonality), the previous ones otherwise. Newest first."""
        step = 7 if self.cadence == "daily" else 1
        return [self.shift(key, -step * i) for i in range(1, n + 1)]

    def periods_for_days(self, days: int) -> int:
        """How many partitions cover `days` days (at least one)."""
        return max(1, -(-days // self.period_days))
