from datetime import datetime

import pandas as pd

from checks.event_window import judge_event_window
from checks.policy import EventTimeRules

RULES = EventTimeRules()
START = datetime(2026, 1, 6)


def day(times: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [f"T{i}" for i in range(len(times))],
            "at": pd.to_datetime(times).astype("datetime64[ns]"),
        }
    )


def test_rows_dated_years_back_are_an_error_naming_how_many_and_the_oldest():
    times = ["2026-01-06 10:00"] * 90 + ["2019-03-01 08:00"] * 5 + ["2021-07-04 12:00"] * 5
    result = judge_event_window(day(times), "at", "id", START, RULES)
    assert result.severity == "error" and result.early == 10
    assert result.oldest == datetime(2019, 3, 1, 8)
    assert result.examples[:2] == ("T90", "T91")
    assert "10 of 100 rows (10.0%)" in result.reason and "oldest 2019-03-01 08:00" in result.reason


def test_late_arrivals_within_the_tolerance_pass_and_older_ones_warn_when_few():
    late = ["2026-01-06 10:00"] * 999 + ["2026-01-05 03:00"]  # 21 h before the start
    assert judge_event_window(day(late), "at", "id", START, RULES).severity == "ok"
    strict = EventTimeRules(early_tolerance_hours=1)
    few = judge_event_window(day(late), "at", "id", START, strict)
    assert few.severity == "warn" and few.early == 1  # 0.1% of the rows: below the 1%


def test_a_retyped_or_missing_time_is_left_to_the_contract():
    df = day(["2026-01-06 10:00"]).assign(at="yesterday")
    assert judge_event_window(df, "at", "id", START, RULES).severity == "unjudged"
    assert judge_event_window(df.drop(columns="at"), "at", "id", START, RULES).early == 0


def test_null_times_and_an_empty_partition_are_not_early():
    df = day(["2026-01-06 10:00", "2026-01-06 11:00"])
    df.loc[1, "at"] = pd.NaT
    assert judge_event_window(df, "at", "id", START, RULES).severity == "ok"
    assert judge_event_window(day([]), "at", "id", START, RULES).severity == "ok"
