from datetime import date, timedelta

import pytest

from checks.retraining import (
    drift_streak,
    drift_trigger,
    in_cooldown,
    label_trigger,
    next_test_set_version,
)
from checks.task_success_drop import first_day_below

D = date(2026, 3, 1)
KEYS = ["channel", "sentiment"]


def days(*columns_per_day):
    return {D + timedelta(days=i): set(cols) for i, cols in enumerate(columns_per_day)}


def test_streak_counts_consecutive_days_ending_on_the_newest():
    streak = drift_streak(days([], ["channel"], ["channel", "sentiment"]), KEYS, 2)
    assert streak == (D + timedelta(days=1), {"channel", "sentiment"})


def test_one_bad_day_is_not_a_new_world():
    assert drift_streak(days([], [], ["channel"]), KEYS, 2) is None


def test_a_streak_that_ended_asks_for_nothing():
    # Drift on days 0 and 1, a clean day 2: the world came back, no retraining now.
    assert drift_streak(days(["channel"], ["channel"], []), KEYS, 2) is None


def test_drift_on_columns_the_model_does_not_lean_on_is_ignored():
    assert drift_streak(days(["subject"], ["subject"]), KEYS, 2) is None


def test_a_gap_in_the_days_breaks_the_streak():
    judged = {D: {"channel"}, D + timedelta(days=2): {"channel"}}
    assert drift_streak(judged, KEYS, 2) is None


def test_a_streak_of_monthly_partitions_counts_partitions_not_days():
    """Two monthly partitions in a row with drift: a streak of two, which a count of calendar
    days (the month before is 30 days back, not one) would never see."""
    from assets.partitions import Partitioning

    months = Partitioning("monthly", start="2026-01-01")

    def previous(d):
        return date.fromisoformat(months.shift(d.isoformat(), -1))

    judged = {
        date(2026, 1, 1): set(),
        date(2026, 2, 1): {"channel"},
        date(2026, 3, 1): {"sentiment"},
    }
    assert drift_streak(judged, KEYS, 2) is None  # the daily rule
    streak = drift_streak(judged, KEYS, 2, previous)
    assert streak == (date(2026, 2, 1), {"channel", "sentiment"})
    trigger = drift_trigger(judged, KEYS, 2, previous)
    assert (
        trigger.key == "drift:2026-02-01" and "every partition since 2026-02-01" in trigger.reason
    )
    gap = {date(2026, 1, 1): {"channel"}, date(2026, 3, 1): {"channel"}}
    assert drift_streak(gap, KEYS, 2, previous) is None  # February was not judged


def test_the_same_incident_keeps_its_key_while_it_lasts():
    first = drift_trigger(days([], ["channel"], ["channel"]), KEYS, 2)
    later = drift_trigger(days([], ["channel"], ["channel"], ["sentiment"]), KEYS, 2)
    assert first.key == later.key == f"drift:{D + timedelta(days=1)}"


def test_cooldown():
    assert in_cooldown(D, D - timedelta(days=3), 7)
    assert not in_cooldown(D, D - timedelta(days=7), 7)
    assert not in_cooldown(D, None, 7)


def test_label_trigger_at_the_threshold_and_keyed_by_the_last_training():
    assert label_trigger(9_999, "2026-03-01", 10_000) is None
    trigger = label_trigger(10_000, "2026-03-01", 10_000)
    assert trigger.key == "labels:2026-03-01" and "10000" in trigger.reason


def test_next_test_set_version():
    assert next_test_set_version(None) == "1"
    assert next_test_set_version("3") == "4"
    with pytest.raises(ValueError, match="whole number"):
        next_test_set_version("2b")


def test_the_drop_starts_where_the_run_of_bad_days_reaching_today_starts():
    # 03-02 dipped and recovered (a few days' covariate shift); the drop that lasts began 03-04.
    daily = {
        "2026-03-03": 0.81,
        "2026-03-01": 0.82,
        "2026-03-02": 0.70,
        "2026-03-04": 0.60,
        "2026-03-05": 0.62,
    }
    assert first_day_below(daily, 0.75) == "2026-03-04"
    assert first_day_below({**daily, "2026-03-03": 0.74}, 0.75) == "2026-03-02"
    assert first_day_below(daily, 0.5) is None
    # Recovered by the newest day: no drop to retrain after.
    assert first_day_below({**daily, "2026-03-06": 0.8}, 0.75) is None


def test_a_streak_older_than_the_history_read_keeps_its_start_and_its_key():
    """Three hundred months of drift, read newest first in windows: a window of 200 would put
    the streak's start (the run key) at the window's edge, moving every month; reading
    further back finds the real start, so the long streak asks once."""
    from checks.retraining import drift_trigger_in_history

    months = [date(1959 + i // 12, i % 12 + 1, 1) for i in range(300)]
    history = {m: {"channel"} for m in months}
    reads = []

    def read(limit):
        reads.append(limit)
        newest = months[-limit:]
        return {m: history[m] for m in newest}, limit < len(months)

    def previous(d):
        return months[months.index(d) - 1] if d != months[0] else date(1958, 12, 1)

    trigger = drift_trigger_in_history(read, KEYS, 2, previous, limit=200)
    assert trigger.key == "drift:1959-01-01"
    assert reads == [200, 800]
    # A month later the same streak, the same key: no second retraining.
    months.append(date(1984, 1, 1))
    history[months[-1]] = {"sentiment"}
    assert drift_trigger_in_history(read, KEYS, 2, previous, limit=200).key == trigger.key
    # A streak inside the window is read once.
    history[months[150]] = set()
    reads.clear()
    assert drift_trigger_in_history(read, KEYS, 2, previous, limit=200).key == (
        f"drift:{months[151].isoformat()}"
    )
    assert reads == [200]
