"""Labels: the judgement of odd labels and the labels left for training, on the ticket
workflow's label columns (its contract is tested with the workflow)."""

from __future__ import annotations

import datetime as dt
from functools import cache

import numpy as np
import pandas as pd
import pytest

from checks.labels import DROP_REASONS, LabelSchema, clean_labels, judge_labels
from checks.tasks import BinaryClassification, Regression
from workflows.ticket_escalation.simulation.crm import generate_day
from workflows.ticket_escalation.simulation.incidents import Incident

DAY = dt.date(2026, 2, 11)
SEED = 3
TASK = BinaryClassification(0.5)
SCHEMA = LabelSchema(
    id="ticket_id",
    label="escalated",
    valid=TASK.valid_labels,
    valid_text="0 or 1",
    known_at="known_at",
)


def labels(rows: list[tuple], start: str = "2026-02-11 00:00") -> pd.DataFrame:
    """(ticket_id, escalated) rows known one minute apart from ``start``."""
    return pd.DataFrame(
        {
            "ticket_id": pd.array([r[0] for r in rows], dtype="str"),
            "escalated": np.array([r[1] for r in rows], dtype="int64"),
            "known_at": pd.date_range(start, periods=len(rows), freq="min").astype(
                "datetime64[ns]"
            ),
        }
    )


def many(n: int, prefix: str = "T") -> pd.DataFrame:
    return labels([(f"{prefix}{i:05d}", i % 2) for i in range(n)])


def ids(df: pd.DataFrame) -> set[str]:
    return set(df["ticket_id"].dropna())


@cache
def simulated(*incidents: Incident) -> tuple[pd.DataFrame, set[str], set[str]]:
    """The labels known on DAY as the source delivers them, the tickets of the days they can
    belong to, and the tickets labelled before DAY."""
    days = [DAY - dt.timedelta(days=k) for k in range(8, -1, -1)]
    generated = [generate_day(d, SEED, incidents) for d in days]
    outcomes = pd.concat([o for _, o in generated], ignore_index=True)
    start, end = pd.Timestamp(DAY), pd.Timestamp(DAY + dt.timedelta(days=1))
    today = outcomes[outcomes["known_at"].between(start, end, inclusive="left")]
    today = today.sort_values(["known_at", "ticket_id"], kind="stable").reset_index(drop=True)
    known = set().union(*(ids(t) for t, _ in generated))
    earlier = ids(outcomes[outcomes["known_at"] < start])
    return today, known, earlier


# --- judging -----------------------------------------------------------------------------------


def test_clean_labels_are_ok():
    df = many(200)
    report = judge_labels(df, ids(df), earlier_labelled_ids={"X1", "X2"}, schema=SCHEMA)
    assert report.severity == "ok" and report.n_labels == 200 and report.n_suspect == 0
    assert report.reason == "200 labels, none invalid, for an unknown row or duplicated"
    assert [r["labels"] for r in report.records()] == [0, 0, 0, 0]


def test_each_problem_is_counted_with_examples():
    df = labels(
        [
            ("a", 0),
            ("ghost-1", 1),
            ("b", 1),
            ("a", 0),  # a second label of a within the partition
            ("old-1", 0),
            ("c", 2),
            ("ghost-2", 0),
            ("old-2", 1),
            ("d", -1),
            ("a", 1),  # a third
        ]
    )
    known = {"a", "b", "c", "d", "old-1", "old-2"}
    report = judge_labels(
        df, known, earlier_labelled_ids={"old-1", "old-2", "never-here"}, schema=SCHEMA
    )
    assert report.n_labels == 10
    assert report.unknown.count == 2 and report.unknown.examples == ("ghost-1", "ghost-2")
    assert report.duplicate_within.count == 2 and report.duplicate_within.examples == ("a",)
    assert report.duplicate_earlier.count == 2
    assert report.duplicate_earlier.examples == ("old-1", "old-2")
    assert report.invalid.count == 2
    assert report.invalid.examples == ("c (escalated=2)", "d (escalated=-1)")
    assert report.n_suspect == 6 and report.severity == "error"
    assert report.reason == (
        "10 labels: 2 with escalated not 0 or 1, 2 for unknown rows, 2 extra copies within the "
        "partition, 2 for rows labelled in an earlier partition; 6 (60.0%) unknown or "
        "duplicate, error above 1.0%"
    )


def test_examples_are_at_most_five_distinct():
    df = labels([(f"ghost-{i % 7}", 0) for i in range(30)])
    report = judge_labels(df, set(), set(), SCHEMA)
    assert report.unknown.count == 30
    assert report.unknown.examples == tuple(f"ghost-{i}" for i in range(5))
    assert report.duplicate_within.count == 23 and len(report.duplicate_within.examples) == 5


@pytest.mark.parametrize(
    ("n_unknown", "n_earlier", "severity"),
    [
        (0, 0, "ok"),
        (1, 0, "warn"),  # reported, not dropped silently
        (5, 5, "warn"),  # 10 of 1000: not above 1%
        (11, 0, "error"),
        (6, 5, "error"),  # unknown and duplicates add up
    ],
)
def test_unknown_and_duplicates_warn_then_error_above_the_fraction(n_unknown, n_earlier, severity):
    df = many(1000)
    known = ids(df) - {f"T{i:05d}" for i in range(n_unknown)}
    earlier = {f"T{i:05d}" for i in range(500, 500 + n_earlier)}
    report = judge_labels(df, known, earlier, SCHEMA)
    assert report.n_suspect == n_unknown + n_earlier
    assert report.severity == severity


def test_max_bad_fraction_is_a_parameter():
    df = many(100)
    known = ids(df) - {"T00000", "T00001", "T00002"}
    assert judge_labels(df, known, set(), SCHEMA).severity == "error"  # 3% > 1%
    assert judge_labels(df, known, set(), SCHEMA, max_bad_fraction=0.05).severity == "warn"
    assert (
        judge_labels(many(10), ids(many(10)), set(), SCHEMA, max_bad_fraction=0.0).severity == "ok"
    )
    with pytest.raises(ValueError, match="max_bad_fraction"):
        judge_labels(df, known, set(), SCHEMA, max_bad_fraction=1.5)


def test_a_single_invalid_value_is_an_error():
    df = pd.concat([many(1000), labels([("T00001", 2)], start="2026-02-11 20:00")])
    report = judge_labels(df, ids(df), set(), SCHEMA, max_bad_fraction=0.5)
    assert report.invalid.count == 1 and report.severity == "error"


def test_null_values_and_ids_are_invalid_and_unknown():
    df = labels([("a", 0), ("b", 1), ("c", 0)])
    df["escalated"] = df["escalated"].astype("float64").where(df.index != 1)  # as extracted
    df["ticket_id"] = df["ticket_id"].where(df.index != 2)
    report = judge_labels(df, {"a", "b", "c"}, set(), SCHEMA)
    assert report.invalid.count == 1 and report.invalid.examples == ("b (escalated=null)",)
    assert report.unknown.count == 1 and report.unknown.examples == ("null",)
    assert report.duplicate_within.count == 0  # a null id duplicates nothing


def test_text_and_fractional_escalated_values_are_invalid():
    df = labels([("a", 0), ("b", 1), ("c", 1), ("d", 0)])
    df["escalated"] = pd.Series([0, "1", 0.5, 1.0], dtype=object)
    report = judge_labels(df, {"a", "b", "c", "d"}, set(), SCHEMA)
    assert report.invalid.examples == ("b (escalated=1)", "c (escalated=0.5)")


def test_within_duplicates_keep_the_earliest_known_as_the_original():
    df = labels([("a", 0), ("b", 1), ("a", 1)]).iloc[::-1]  # newest first
    report = judge_labels(df, {"a", "b"}, set(), SCHEMA)
    assert report.duplicate_within.count == 1
    kept, dropped = clean_labels(df, {"a", "b"}, set(), SCHEMA)
    assert kept.set_index("ticket_id").loc["a", "escalated"] == 0  # the one known first
    assert dropped["duplicate_within"] == 1


def test_no_labels_and_missing_columns():
    empty = judge_labels(labels([]), {"a"}, set(), SCHEMA)
    assert empty.severity == "ok" and empty.reason == "no labels arrived"
    assert all(r["share"] == 0.0 for r in empty.records())
    broken = judge_labels(labels([("a", 0)]).drop(columns=["escalated"]), {"a"}, set(), SCHEMA)
    assert broken.severity == "error" and broken.missing_columns == ("escalated",)
    assert "without column(s) escalated" in broken.reason


def test_records_make_a_metadata_table():
    df = labels([("a", 0), ("ghost", 1), ("a", 0)])
    records = judge_labels(df, {"a"}, set(), SCHEMA).records()
    assert [r["problem"] for r in records] == list(
        ("invalid", "unknown", "duplicate_within", "duplicate_earlier")
    )
    assert all(set(r) == {"problem", "labels", "share", "examples", "meaning"} for r in records)
    unknown = records[1]
    assert unknown["labels"] == 1 and unknown["share"] == pytest.approx(0.3333)
    assert unknown["examples"] == "ghost" and isinstance(unknown["labels"], int)


# --- cleaning ----------------------------------------------------------------------------------


def test_clean_labels_drop_each_label_for_its_first_reason():
    df = labels(
        [
            ("a", 0),
            ("ghost", 1),
            ("ghost", 1),
            ("old", 1),
            ("b", 2),  # invalid, and b's only label: b stays unlabelled
            ("a", 1),  # a later copy of a
            ("ghost", 3),  # invalid first, unknown second
            ("c", 1),
        ]
    )
    kept, dropped = clean_labels(
        df, {"a", "b", "c", "old"}, earlier_labelled_ids={"old"}, schema=SCHEMA
    )
    assert dropped == {"invalid": 2, "unknown": 2, "duplicate_earlier": 1, "duplicate_within": 1}
    assert tuple(dropped) == DROP_REASONS
    assert kept["ticket_id"].tolist() == ["a", "c"] and kept["escalated"].tolist() == [0, 1]
    assert kept.index.tolist() == [0, 1] and list(kept.columns) == list(df.columns)
    assert len(kept) + sum(dropped.values()) == len(df)


def test_an_invalid_label_does_not_hide_a_valid_one():
    df = labels([("a", 2), ("a", 1)])  # the corrupt copy arrived first
    kept, dropped = clean_labels(df, {"a"}, set(), SCHEMA)
    assert kept["escalated"].tolist() == [1]
    assert dropped == {"invalid": 1, "unknown": 0, "duplicate_earlier": 0, "duplicate_within": 0}


def test_clean_labels_keep_the_dtypes_they_were_given():
    # The label is not cast: what a label's type is belongs to the workflow's task (a float
    # column made so by a null keeps its 0.0/1.0, which the task accepts).
    df = labels([("a", 0), ("b", 1), ("c", 1)])
    df["escalated"] = df["escalated"].astype("float64").where(df.index != 1)
    kept, dropped = clean_labels(df, {"a", "b", "c"}, set(), SCHEMA)
    assert dropped["invalid"] == 1 and kept["ticket_id"].tolist() == ["a", "c"]
    assert kept["escalated"].tolist() == [0.0, 1.0]
    assert {c: str(d) for c, d in kept.dtypes.items()} == {
        "ticket_id": "str",
        "escalated": "float64",
        "known_at": "datetime64[ns]",
    }
    empty, none = clean_labels(labels([]), set(), set(), SCHEMA)
    assert len(empty) == 0 and str(empty["escalated"].dtype) == "int64"
    assert sum(none.values()) == 0


def test_clean_labels_need_the_label_columns():
    with pytest.raises(ValueError, match=r"lack column\(s\) \['escalated'\]"):
        clean_labels(labels([("a", 0)]).drop(columns=["escalated"]), {"a"}, set(), SCHEMA)


def test_clean_labels_ignore_the_index():
    df = labels([("a", 0), ("a", 1), ("b", 1)])
    df.index = [5, 5, 7]  # e.g. partitions concatenated without ignore_index
    kept, dropped = clean_labels(df, {"a", "b"}, set(), SCHEMA)
    assert kept["ticket_id"].tolist() == ["a", "b"] and dropped["duplicate_within"] == 1


# --- on the simulated source -------------------------------------------------------------------


def test_a_simulated_clean_day_is_ok():
    today, known, earlier = simulated()
    report = judge_labels(today, known, earlier, SCHEMA)
    assert report.severity == "ok", report.reason
    kept, dropped = clean_labels(today, known, earlier, SCHEMA)
    pd.testing.assert_frame_equal(kept, today)
    assert sum(dropped.values()) == 0


def test_a_simulated_bad_labels_day_is_an_error_with_exact_counts():
    today, known, earlier = simulated(Incident("bad_labels", DAY))
    clean_today, _, _ = simulated()
    report = judge_labels(today, known, earlier, SCHEMA)
    assert report.n_labels == len(clean_today) + 50
    assert (report.unknown.count, report.duplicate_earlier.count) == (20, 20)
    assert (report.invalid.count, report.duplicate_within.count) == (10, 10)
    assert report.severity == "error"
    assert all(e.startswith("T20260211-9") for e in report.unknown.examples)
    kept, dropped = clean_labels(today, known, earlier, SCHEMA)
    assert dropped == {"invalid": 10, "unknown": 20, "duplicate_earlier": 20, "duplicate_within": 0}
    pd.testing.assert_frame_equal(kept, clean_today)  # exactly the clean labels are left


def test_a_few_bad_labels_are_a_warning():
    today, known, earlier = simulated(
        Incident("bad_labels", DAY, {"unknown": 3, "duplicate": 3, "invalid": 0})
    )
    report = judge_labels(today, known, earlier, SCHEMA)
    assert report.severity == "warn" and report.n_suspect == 6


# --- the schema: any workflow's columns and label rule ------------------------------------------


def test_the_schema_names_the_columns_and_the_rule_in_the_report():
    # A regression workflow: orders with a delivery time in hours; a valid label is a finite
    # number, so a negative one is valid here and a text or a null is not.
    schema = LabelSchema(
        id="order_id",
        label="hours",
        valid=Regression(tolerance=2.0).valid_labels,
        valid_text="a finite number",
        known_at="delivered_at",
    )
    df = pd.DataFrame(
        {
            "order_id": ["o1", "o2", "o3", "o4", "o2"],
            "hours": pd.Series([3.5, -1.0, None, "x", 7.0], dtype=object),
            "delivered_at": pd.to_datetime(
                ["2026-02-11 01:00", "2026-02-11 02:00", "2026-02-11 03:00"]
                + ["2026-02-11 04:00", "2026-02-11 00:30"]
            ),
        }
    )
    report = judge_labels(df, {"o1", "o2", "o3", "o4"}, set(), schema)
    assert report.invalid.examples == ("o3 (hours=null)", "o4 (hours=x)")
    # the o2 known at 00:30 is the original, the one at 02:00 its copy
    assert report.duplicate_within.count == 1
    assert "2 with hours not a finite number" in report.reason
    assert report.meanings["invalid"] == "hours is not a finite number (or missing)"
    assert report.meanings["unknown"] == "order_id is not a row we received (or missing)"
    assert schema.columns == ["order_id", "hours", "delivered_at"]
    kept, dropped = clean_labels(df, {"o1", "o2", "o3", "o4"}, set(), schema)
    assert kept["order_id"].tolist() == ["o1", "o2"] and kept["hours"].tolist() == [3.5, 7.0]
    assert dropped == {"invalid": 2, "unknown": 0, "duplicate_earlier": 0, "duplicate_within": 1}
