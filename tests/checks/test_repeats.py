import pandas as pd

from checks.policy import RepeatRules
from checks.repeats import judge_repeats

RULES = RepeatRules()


def ids(prefix: str, n: int, start: int = 0) -> pd.Series:
    return pd.Series([f"{prefix}-{i:05d}" for i in range(start, start + n)], dtype="str")


def test_yesterdays_rows_sent_again_are_an_error_naming_how_many_and_where():
    today = pd.concat([ids("D6", 2000), ids("D5", 254)], ignore_index=True)
    earlier = {"2026-01-05": ids("D5", 2100), "2026-01-04": ids("D4", 1900)}
    result = judge_repeats(today, earlier, RULES)
    assert result.severity == "error" and result.repeated == 254
    assert result.by_partition == {"2026-01-05": 254}
    assert result.examples == ("D5-00000", "D5-00001", "D5-00002", "D5-00003", "D5-00004")
    assert "254 of 2254 rows (11.3%)" in result.reason and "254 in 2026-01-05" in result.reason


def test_a_few_repeats_warn_and_none_pass():
    today = pd.concat([ids("D6", 2000), ids("D5", 3)], ignore_index=True)
    earlier = {"2026-01-05": ids("D5", 2100)}
    assert judge_repeats(today, earlier, RULES).severity == "warn"  # 3 of 2003: 0.15%
    assert judge_repeats(today, earlier, RepeatRules(error_fraction=0.001)).severity == "error"
    clean = judge_repeats(ids("D6", 2000), earlier, RULES)
    assert clean.severity == "ok" and clean.repeated == 0 and "none of 2000 ids" in clean.reason


def test_numeric_ids_match_their_text_and_nulls_are_not_repeats():
    today = pd.Series([1, 2, None, 4], dtype="float64").astype("Int64")
    earlier = {"2026-01-05": pd.Series(["2", "3"], dtype="str")}
    result = judge_repeats(today, earlier, RULES)
    assert result.repeated == 1 and result.examples == ("2",)


def test_no_earlier_partition_or_a_look_back_of_zero_judges_nothing():
    assert judge_repeats(ids("D1", 10), {}, RULES).severity == "no_history"
    off = judge_repeats(ids("D1", 10), {"x": ids("D1", 10)}, RepeatRules(lookback_days=0))
    assert off.severity == "off" and off.repeated == 0


def test_twenty_thousand_rows_against_a_week_of_them():
    # About 0.05 s (text compared as Python strings; pandas' arrow-backed text took 2 s).
    earlier = {f"2026-01-{d:02d}": ids(f"D{d}", 20_000) for d in range(1, 8)}
    today = pd.concat([ids("D8", 19_000), ids("D7", 1000)], ignore_index=True)
    result = judge_repeats(today, earlier, RULES)
    assert result.repeated == 1000 and result.by_partition == {"2026-01-07": 1000}
