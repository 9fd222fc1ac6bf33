from datetime import datetime

import pandas as pd

from checks.freshness import judge_freshness, newest_event_time
from checks.policy import FreshnessRules

RULES = FreshnessRules()
END = datetime(2026, 3, 5)


def test_newest_row_minutes_before_midnight_is_fresh():
    assert judge_freshness(datetime(2026, 3, 4, 23, 50), END, RULES).severity == "ok"


def test_yesterday_resent_is_an_error():
    result = judge_freshness(datetime(2026, 3, 3, 23, 55), END, RULES)
    assert result.severity == "error"
    assert 24 < result.lag_hours < 24.2


def test_lag_between_thresholds_warns():
    assert judge_freshness(datetime(2026, 3, 4, 20, 0), END, RULES).severity == "warn"


def test_empty_or_retyped_partition_has_no_event_time_and_errors():
    empty = pd.DataFrame({"created_at": pd.Series([], dtype="datetime64[ns]")})
    assert newest_event_time(empty, "created_at") is None
    assert newest_event_time(pd.DataFrame({"created_at": ["yesterday"]}), "created_at") is None
    assert newest_event_time(pd.DataFrame({"created_at": [pd.NaT, pd.NaT]}), "created_at") is None
    assert judge_freshness(None, END, RULES).severity == "error"


def test_the_event_time_is_read_from_the_column_named():
    df = pd.DataFrame(
        {
            "ordered_at": pd.to_datetime(["2026-03-04 23:10", None, "2026-03-04 22:00"]),
            "created_at": pd.to_datetime(["2026-03-04 08:00"] * 3),
        }
    )
    assert newest_event_time(df, "ordered_at") == datetime(2026, 3, 4, 23, 10)
    assert newest_event_time(df, "created_at") == datetime(2026, 3, 4, 8, 0)
    assert newest_event_time(df, "shipped_at") is None  # a dropped column: no event time


def test_events_after_the_partition_end_are_an_error():
    assert judge_freshness(datetime(2026, 3, 5, 2, 0), END, RULES).severity == "error"
