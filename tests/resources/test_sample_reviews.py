"""The hallucination review list: samples added once and never edited, verdicts appended (the
latest counts), and the figures a person reads."""

from __future__ import annotations

import math
import sqlite3
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from resources.sample_reviews import (
    VERDICTS,
    SampleReviews,
    agrees,
    reviews_path,
)

T0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


def items(*rows: tuple[str, float], version: str | None = "3") -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "item_id": [r[0] for r in rows],
            "question": [f"question of {r[0]}" for r in rows],
            "output": [f"reply to {r[0]}" for r in rows],
            "context": [["passage one", "passage two"] for _ in rows],
            "faithfulness": [r[1] for r in rows],
        }
    )
    if version is not None:
        frame["version"] = version
    return frame


@pytest.fixture
def store(tmp_path):
    with SampleReviews(tmp_path / "wf" / "sample_reviews.sqlite") as reviews:
        yield reviews


def test_reviews_path_is_the_workflows_folder_of_the_home(tmp_path):
    assert reviews_path(tmp_path, "reply_suggestions") == (
        tmp_path / "workflows" / "reply_suggestions" / "sample_reviews.sqlite"
    )


def test_adding_the_same_samples_twice_adds_them_once(store):
    day = items(("a", 1.0), ("b", 0.5), ("c", math.nan))
    assert store.add_samples("2026-03-01", day, T0) == 3
    assert store.add_samples("2026-03-01", day, T0 + timedelta(hours=1)) == 0
    # One new item beside the two known: only it is added.
    assert store.add_samples("2026-03-01", items(("a", 1.0), ("d", 0.25)), T0) == 1
    # The same item id on another day is another sample.
    assert store.add_samples("2026-03-02", items(("a", 1.0)), T0) == 1
    stored = store.samples()
    assert list(zip(stored["partition"], stored["item_id"], strict=True)) == [
        ("2026-03-01", "a"),
        ("2026-03-01", "b"),
        ("2026-03-01", "c"),
        ("2026-03-01", "d"),
        ("2026-03-02", "a"),
    ]
    first = stored.iloc[0]
    assert first["context"] == "passage one\n\npassage two"
    assert first["version"] == "3"
    assert first["sampled_at"] == "2026-03-02T06:00:00.000000+00:00"
    assert math.isnan(stored.iloc[2]["faithfulness"])
    assert stored["verdict"].isna().all() and (stored["verdicts"] == 0).all()


def test_a_sample_with_other_content_is_refused_and_nothing_of_the_batch_is_added(store):
    store.add_samples("2026-03-01", items(("a", 1.0)), T0)
    with pytest.raises(ValueError, match="2026-03-01/a is already in the review list .* never"):
        store.add_samples("2026-03-01", items(("z", 1.0), ("a", 0.5)), T0)
    assert list(store.samples()["item_id"]) == ["a"]
    # Another version that produced it is other content too.
    with pytest.raises(ValueError, match="2026-03-01/a"):
        store.add_samples("2026-03-01", items(("a", 1.0), version="4"), T0)


@pytest.mark.bad_input
@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (items(("a", 1.0)).drop(columns="context"), "lack the columns context"),
        (items(("a", 1.5)), r"faithfulness 1.5 lies outside \[0, 1\]"),
        (items(("a", 1.0)).assign(output=[7]), "output must be text, not int"),
        (items(("", 1.0)), "empty item_id"),
    ],
)
def test_malformed_items_are_refused_by_name(store, frame, message):
    with pytest.raises(ValueError, match=message):
        store.add_samples("2026-03-01", frame, T0)


@pytest.mark.bad_input
def test_a_naive_sampling_time_is_refused(store):
    with pytest.raises(ValueError, match="has no timezone"):
        store.add_samples("2026-03-01", items(("a", 1.0)), datetime(2026, 3, 2))


def test_pending_lists_the_unreviewed_oldest_partition_first(store):
    store.add_samples("2026-03-02", items(("x", 1.0)), T0)
    store.add_samples("2026-03-01", items(("a", 1.0), ("b", 0.5)), T0)
    assert list(store.pending()["item_id"]) == ["a", "b", "x"]
    store.record("2026-03-01", "a", "supported", "ana", T0)
    assert list(store.pending()["item_id"]) == ["b", "x"]
    assert list(store.pending(limit=1)["item_id"]) == ["b"]


@pytest.mark.bad_input
def test_an_unknown_sample_or_verdict_is_refused_with_the_sentence(store):
    store.add_samples("2026-03-01", items(("a", 1.0)), T0)
    with pytest.raises(ValueError, match="verdict 'wrong' is not one of supported, unsupported"):
        store.record("2026-03-01", "a", "wrong", "ana", T0)
    with pytest.raises(ValueError, match="no sample 'nope' of partition '2026-03-01'"):
        store.record("2026-03-01", "nope", "supported", "ana", T0)
    with pytest.raises(ValueError, match="reviewer's name"):
        store.record("2026-03-01", "a", "supported", " ", T0)
    assert store.verdict_history("2026-03-01", "a").empty


def test_a_later_verdict_supersedes_and_both_are_kept(store):
    store.add_samples("2026-03-01", items(("a", 1.0)), T0)
    # The same instant for both (a simulated clock): recording order decides.
    store.record("2026-03-01", "a", "supported", "ana", T0)
    store.record("2026-03-01", "a", "unsupported", "ben", T0, note="the price is not in it")
    row = store.samples().iloc[0]
    assert (row["verdict"], row["reviewer"], row["note"], row["verdicts"]) == (
        "unsupported",
        "ben",
        "the price is not in it",
        2,
    )
    assert list(store.verdict_history("2026-03-01", "a")["verdict"]) == [
        "supported",
        "unsupported",
    ]
    assert store.counts()["unsupported"] == 1 and store.counts()["supported"] == 0


def test_the_tables_refuse_update_and_delete(store):
    store.add_samples("2026-03-01", items(("a", 1.0)), T0)
    store.record("2026-03-01", "a", "supported", "ana", T0)
    with sqlite3.connect(store.path) as raw:
        for statement in (
            "UPDATE review_verdicts SET verdict = 'unsupported'",
            "DELETE FROM review_verdicts",
            "UPDATE review_samples SET faithfulness = 0.1",
            "DELETE FROM review_samples",
        ):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                raw.execute(statement)
    assert store.samples().iloc[0]["verdict"] == "supported"


def test_counts_and_agreement_figures(store):
    # Day 1: a (1.0), b (0.5), c (unscored), d (0.0); day 2: e (1.0), f (0.75).
    store.add_samples("2026-03-01", items(("a", 1.0), ("b", 0.5), ("c", math.nan), ("d", 0)), T0)
    store.add_samples("2026-03-02", items(("e", 1.0), ("f", 0.75)), T0)
    store.record("2026-03-01", "a", "supported", "ana", T0)  # agrees (1.0 <-> supported)
    store.record("2026-03-01", "b", "supported", "ana", T0)  # disagrees (0.5 is not 1)
    store.record("2026-03-01", "c", "unsupported", "ana", T0)  # no score: not compared
    store.record("2026-03-01", "d", "supported", "ana", T0)
    store.record("2026-03-01", "d", "unsupported", "ana", T0)  # latest: agrees (0 < 1)
    store.record("2026-03-02", "e", "unsure", "ana", T0)  # unsure: not compared
    assert store.counts() == {
        "sampled": 6,
        "reviewed": 5,
        "pending": 1,
        "supported": 2,
        "unsupported": 2,
        "unsure": 1,
        "scored": 5,
        # (1 + 0.5 + 0 + 1 + 0.75) / 5, the unscored one left out
        "mean_faithfulness": pytest.approx(0.65),
        "compared": 3,  # a, b, d
        "agreement": pytest.approx(2 / 3),  # a and d
    }
    day2 = store.counts(since="2026-03-02")
    assert (day2["sampled"], day2["reviewed"], day2["pending"]) == (2, 1, 1)
    assert day2["mean_faithfulness"] == pytest.approx(0.875)
    assert (day2["compared"], day2["agreement"]) == (0, None)


def test_counts_of_an_empty_list(store):
    counts = store.counts()
    assert counts["sampled"] == 0 and counts["mean_faithfulness"] is None
    assert counts["agreement"] is None


def test_agrees_reads_faithfulness_one_as_supported():
    assert agrees("supported", 1.0) and agrees("unsupported", 0.9)
    assert not agrees("supported", 0.99) and not agrees("unsupported", 1.0)
    assert agrees("unsure", 1.0) is None and agrees("supported", math.nan) is None
    assert VERDICTS == ("supported", "unsupported", "unsure")


def test_the_list_survives_a_new_store_on_the_same_file(tmp_path):
    path = tmp_path / "sample_reviews.sqlite"
    with SampleReviews(path) as first:
        first.add_samples("2026-03-01", items(("a", 1.0)), T0)
        first.record("2026-03-01", "a", "unsure", "ana", T0)
    with SampleReviews(path) as second:
        assert second.add_samples("2026-03-01", items(("a", 1.0)), T0) == 0
        assert second.counts()["unsure"] == 1
