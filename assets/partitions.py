"""The daily partitioning every dated asset shares (UTC days)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from dagster import DailyPartitionsDefinition

# The first day the deployment holds data for. Part of the asset graph's definition, so it is
# code, not configuration: changing it changes which partitions exist.
FIRST_DAY = "2026-01-01"

DAILY = DailyPartitionsDefinition(start_date=FIRST_DAY, timezone="UTC")


def day_of(partition_key: str) -> date:
    return date.fromisoformat(partition_key)


def key_of(day: date) -> str:
    return day.isoformat()


def day_end(partition_key: str) -> datetime:
    """The partition's end as naive UTC, the form event times are stored in."""
    return datetime.combine(day_of(partition_key) + timedelta(days=1), datetime.min.time())


def utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
