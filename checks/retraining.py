"""When to retrain: plain decisions on what the checks recorded, no Dagster here.

Each trigger answers with a `Trigger` (retrain, and the key that names the incident so a
repeated evaluation of the same incident asks once) or None. The sensors in
`orchestration/sensors.py` only fetch the facts and turn a Trigger into a run request.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(frozen=True)
class Trigger:
    key: str  # names the incident: the same incident always gives the same key
    reason: str


def _day_before(day: date) -> date:
    return day - timedelta(days=1)


def drift_streak(
    error_columns_by_day: Mapping[date, set[str]],
    key_columns: list[str],
    days: int,
    previous: Callable[[date], date] = _day_before,
) -> tuple[date, set[str]] | None:
    """The streak of consecutive partitions (`previous` gives the start of the one before;
    daily by default), ending on the newest judged one, on which some key column had ERROR
    drift; its first partition and the columns, if it is at least `days` long."""
    if not error_columns_by_day:
        return None
    keys = set(key_columns)
    day = first = max(error_columns_by_day)
    columns, length = set(), 0
    while day in error_columns_by_day and error_columns_by_day[day] & keys:
        columns |= error_columns_by_day[day] & keys
        length += 1
        first, day = day, previous(day)
    if length < days:
        return None
    return first, columns


def in_cooldown(today: date, last_training: date | None, cooldown_days: int) -> bool:
    return last_training is not None and (today - last_training).days < cooldown_days


def drift_trigger(
    error_columns_by_day: Mapping[date, set[str]],
    key_columns: list[str],
    days: int,
    previous: Callable[[date], date] = _day_before,
) -> Trigger | None:
    streak = drift_streak(error_columns_by_day, key_columns, days, previous)
    if streak is None:
        return None
    start, columns = streak
    return Trigger(
        key=f"drift:{start.isoformat()}",
        reason=f"ERROR drift on {', '.join(sorted(columns))} every partition since {start} "
        f"({days}+ in a row)",
    )


def drift_trigger_in_history(
    read: Callable[[int], tuple[Mapping[date, set[str]], bool]],
    key_columns: list[str],
    days: int,
    previous: Callable[[date], date] = _day_before,
    limit: int = 200,
) -> Trigger | None:
    """The drift trigger over a history read newest first: `read(limit)` gives the ERROR
    columns of the newest `limit` judged partitions and whether older ones were left out. A
    streak reaching back to the oldest partition read may be older still: read further, or
    its start (the trigger's run key) would move with the window and ask again each time."""
    while True:
        judged, truncated = read(limit)
        trigger = drift_trigger(judged, key_columns, days, previous)
        if trigger is None or not truncated or trigger.key != f"drift:{min(judged).isoformat()}":
            return trigger
        limit *= 4


def label_trigger(new_rows: int, since: str, min_rows: int) -> Trigger | None:
    if new_rows < min_rows:
        return None
    return Trigger(
        key=f"labels:{since}",
        reason=f"{new_rows} newly labelled rows since the last training's labels ({since}); "
        f"{min_rows} ask for a retraining",
    )


def next_test_set_version(current: str | None) -> str:
    """Versions are integers as text; a refresh takes the next one."""
    if current is None:
        return "1"
    if not current.isdigit():
        raise ValueError(f"test set version {current!r} is not a whole number: bump it by hand")
    return str(int(current) + 1)
