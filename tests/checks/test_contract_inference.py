"""The inference behind `afterlaunch init`, on DataFrames typed as the engine's source reads
them: each rule, and each refusal, with the numbers it was inferred from."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest
from pandera.typing import Series

from assets.workflow import Contracts
from checks import contract_inference as ci


def frame(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "order_id": pd.Series([f"O-{i:05d}" for i in range(n)], dtype="str"),
            "created_at": pd.date_range("2026-01-01", periods=n, freq="h").astype("datetime64[ns]"),
            "channel": pd.Series(rng.choice(["web", "app", "store"], n), dtype="str"),
            "note": pd.Series([f"free text {i}" for i in range(n)], dtype="str"),
            "amount": rng.uniform(10.0, 20.0, n),
            "items": rng.integers(1, 9, n),
            "delta": rng.uniform(-5.0, 5.0, n),
        }
    )


def rules_by_name(df: pd.DataFrame, declared=None) -> dict[str, ci.ColumnRule]:
    return {r.name: r for r in ci.infer_columns(df, "order_id", "created_at", declared)}


def test_each_column_gets_the_dtype_the_source_reads_and_nullability_only_from_nulls():
    df = frame()
    df.loc[[3, 7], "amount"] = np.nan
    rules = rules_by_name(df)
    assert [r.name for r in rules.values()] == list(df.columns)
    assert rules["order_id"].dtype == "str" and rules["order_id"].unique
    assert rules["created_at"].dtype == "timestamp"
    assert rules["items"].dtype == "int" and not rules["items"].nullable
    assert rules["amount"].dtype == "float" and rules["amount"].nullable
    assert "2 NULLs in 200 rows" in rules["amount"].review
    assert not any(r.nullable for n, r in rules.items() if n != "amount")


def test_an_integer_column_made_float_by_nulls_stays_an_integer_column_coerced():
    df = frame().assign(items=lambda d: d["items"].astype("float64"))
    df.loc[0, "items"] = np.nan
    rule = rules_by_name(df, {"items": "integer"})["items"]
    assert (rule.dtype, rule.nullable, rule.coerce) == ("int", True, True)
    assert isinstance(rule.ge, int) and isinstance(rule.le, int)
    assert rules_by_name(df, {"items": "real"})["items"].dtype == "float"


def test_low_cardinality_text_is_a_closed_list_and_free_text_is_not():
    rules = rules_by_name(frame())
    assert rules["channel"].isin == ("app", "store", "web")
    assert rules["channel"].review[-1].startswith("closed list: 3 values in 200 rows")
    assert (
        rules["note"].isin is None and "free text: 200 distinct values" in rules["note"].review[-1]
    )
    assert ci.segments(list(rules.values())) == ["channel"]


def test_a_category_seen_fewer_than_five_times_keeps_the_list_open_and_says_which():
    values = pd.Series(["a"] * 50 + ["b"] * 50 + ["typo"] * 2, dtype="str")
    isin, why = ci.closed_categories(values)
    assert isin is None
    assert "'typo' seen only 2 time(s)" in why
    isin, _ = ci.closed_categories(pd.Series(["a"] * 50 + ["b"] * 5, dtype="str"))
    assert isin == ("a", "b")
    many = pd.Series([f"v{i % 21}" for i in range(21 * 10)], dtype="str")
    assert ci.closed_categories(many)[0] is None  # 21 distinct: more than 20


def test_numeric_bounds_widen_the_range_by_half_each_side_clipped_at_zero_when_never_negative():
    ge, le, why = ci.numeric_bounds(pd.Series([10.0, 20.0]), integer=False)
    assert (ge, le) == (5.0, 25.0)
    ge, le, why = ci.numeric_bounds(pd.Series([1.0, 21.0]), integer=False)
    assert (ge, le) == (0.0, 31.0) and "clipped at 0" in why
    ge, le, _ = ci.numeric_bounds(pd.Series([-4.0, 6.0]), integer=False)
    assert (ge, le) == (-9.0, 11.0)
    ge, le, _ = ci.numeric_bounds(pd.Series([1, 8]), integer=True)
    assert (ge, le) == (0, 12) and isinstance(ge, int) and isinstance(le, int)
    ge, le, why = ci.numeric_bounds(pd.Series([3.0, 3.0]), integer=False)
    assert ge < 3.0 < le and "constant" in why


def test_the_inferred_bounds_hold_the_sample_with_half_its_range_to_spare():
    rules = rules_by_name(frame())
    amount = rules["amount"]
    assert 4.5 <= amount.ge <= 5.5 and 24.5 <= amount.le <= 25.5  # a ~10 range from 10 to 20
    assert rules["delta"].ge < -5.0 and rules["delta"].ge > -11.0  # negative: not clipped


def test_a_unique_column_is_an_identifier_and_is_not_profiled():
    class Raw(pa.DataFrameModel):
        row_id: Series[int] = pa.Field(unique=True)
        amount: Series[float]

    class Labels(pa.DataFrameModel):
        row_id: Series[int]

    assert Contracts(raw=Raw, labels=Labels).numeric_columns == ["amount"]


@pytest.mark.parametrize(
    "values, kind",
    [
        ([0, 1] * 50, "binary"),
        ([True, False] * 50, "binary"),
        (list(np.linspace(0, 9, 40)), "regression"),
    ],
)
def test_the_task_is_inferred_from_the_label_values(values, kind):
    assert ci.infer_task(pd.Series(values), "y").kind == kind


@pytest.mark.parametrize(
    "values, asked, says",
    [
        ([1, 2] * 20, None, "a binary label is 0/1"),
        ([1, 1, 1], None, "has one class (1)"),
        ([0] * 30, "binary", "has one class (0)"),
        ([0, 1, 2, 3, 4] * 10, None, "say what it is with --task"),
        (["yes", "no"] * 10, None, "label y is text"),
        (["1.5", "2.5"] * 10, "regression", "is not numeric"),
        ([None, None], None, "has no values"),
    ],
)
def test_a_label_the_task_cannot_read_is_refused_with_what_it_holds(values, asked, says):
    with pytest.raises(ci.InferenceRefused) as err:
        ci.infer_task(pd.Series(values), "y", asked)
    assert says in str(err.value)


def test_the_binary_review_states_the_positive_share():
    choice = ci.infer_task(pd.Series([0, 0, 0, 1]), "y")
    assert choice.review == "0/1 in 4 labels, 25% positive"


def test_the_tolerance_is_a_quarter_of_the_label_sd_to_two_digits():
    label = pd.Series(np.random.default_rng(1).normal(100.0, 40.0, 5000))
    tolerance, why = ci.regression_tolerance(label)
    assert tolerance == float(f"{0.25 * label.std():.2g}")
    assert 9.0 <= tolerance <= 11.0 and "0.25 x the label's standard deviation" in why


def test_the_label_lag_is_the_rounded_up_99th_percentile_not_the_stray_maximum():
    rng = np.random.default_rng(2)
    events = pd.Series(pd.date_range("2026-01-01", periods=2000, freq="h"))
    delay = pd.Series(pd.to_timedelta(rng.uniform(1.0, 2.5, 2000), unit="D"))
    delay.iloc[:5] = pd.Timedelta(days=30)  # a quarter of a percent arrives a month late
    lag = ci.label_lag(events, events + delay)
    assert lag.days == 3
    assert "99% of 2,000 labels were known within" in lag.review and "max 30" in lag.review


def test_the_label_lag_is_at_least_a_day_and_ignores_labels_known_before_their_event():
    events = pd.Series(pd.date_range("2026-01-01", periods=100, freq="h"))
    known = events + pd.Timedelta(hours=2)
    known.iloc[:3] = events.iloc[:3] - pd.Timedelta(hours=1)
    lag = ci.label_lag(events, known)
    assert lag.days == 1 and "3 known before their event were left out" in lag.review
    with pytest.raises(ci.InferenceRefused, match="no label in the sample was known at or after"):
        ci.label_lag(events, events - pd.Timedelta(hours=1))


def test_labels_known_before_their_partition_ended_are_counted():
    events = pd.Series(pd.to_datetime(["2026-01-05 01:00", "2026-01-05 23:00"]))
    ends = pd.Series(pd.to_datetime(["2026-01-06", "2026-01-06"]))
    known = events + pd.Timedelta(hours=12)  # the first label is known before midnight
    assert ci.share_known_before_snapshot(events, known, ends) == 0.5


def test_slices_are_the_category_values_between_ten_and_fifty_percent_rarest_first():
    n = 1000
    df = pd.DataFrame(
        {
            "plan": ["basic"] * 600 + ["pro"] * 250 + ["enterprise"] * 120 + ["trial"] * 30,
            "region": ["north"] * 450 + ["south"] * 350 + ["east"] * 200,
            "size": range(n),
        }
    )
    rules = [
        ci.ColumnRule("plan", "str", isin=("basic", "enterprise", "pro", "trial")),
        ci.ColumnRule("region", "str", isin=("east", "north", "south")),
        ci.ColumnRule("size", "int"),
    ]
    found = [(s.column, s.value) for s in ci.large_categories(df, rules)]
    # basic (60%) is the bulk and trial (3%) too small; at most two per column.
    assert found == [
        ("plan", "enterprise"),
        ("region", "east"),
        ("plan", "pro"),
        ("region", "south"),
    ]


def test_an_id_repeated_inside_one_partition_is_refused_naming_it_but_not_across_partitions():
    df = pd.DataFrame({"order_id": ["a", "b", "a", "c"]})
    across = pd.Series(["2026-01-01", "2026-01-01", "2026-01-02", "2026-01-02"])
    ci.duplicated_ids(df, "order_id", across)
    within = pd.Series(["2026-01-01"] * 4)
    with pytest.raises(ci.InferenceRefused, match="'a' appears 2 times in partition 2026-01-01"):
        ci.duplicated_ids(df, "order_id", within)


@pytest.mark.parametrize(
    "values, says",
    [([1767225600, 1767229200], "is numeric"), (["yesterday", "today"], "not ISO timestamps")],
)
def test_a_time_column_that_is_not_a_time_is_refused(values, says):
    with pytest.raises(ci.InferenceRefused, match=says):
        ci.check_event_time(pd.DataFrame({"t": values}), "t")
    ci.check_event_time(pd.DataFrame({"t": pd.to_datetime(["2026-01-01"])}), "t")
