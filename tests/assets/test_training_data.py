"""Labelled rows for training: the point-in-time label join, the time-ordered split, the left-out
labels counted, and training on the result."""

from datetime import date, datetime

import numpy as np
import pandas as pd
import pytest

from assets.labels import label_schema
from assets.model_family import CLASSIFIERS, family
from assets.training_data import (
    SPLIT,
    assemble_labelled,
    train_model,
    training_frame,
    window_keys,
)
from checks.labels import LabelSchema
from workflows.ticket_escalation.simulation.crm import generate_day
from workflows.ticket_escalation.workflow import WORKFLOW as WF

DAYS = [date(2026, 3, d) for d in range(2, 6)]
SCHEMA = label_schema(WF)
LABEL = WF.label.column
EVENT_TIME = WF.entity.event_time


@pytest.fixture(scope="module")
def parts():
    """Four days of raw rows and every label of their rows (known 2-4 days later)."""
    raw, labels = {}, []
    for day in DAYS:
        tickets, outcomes = generate_day(day, seed=9)
        raw[day.isoformat()] = tickets
        labels.append(outcomes)
    return raw, pd.concat(labels, ignore_index=True)


def assemble(raw, labels, validation_fraction=0.0, cutoff=None, exclude=frozenset()):
    snapshot_at = {k: WF.partitions.end_of(k) for k in raw}
    return assemble_labelled(
        raw, snapshot_at, labels, SCHEMA, EVENT_TIME, cutoff, validation_fraction, exclude
    )


def test_validation_rows_are_all_newer_than_training_rows(parts):
    df, counts = assemble(*parts, validation_fraction=0.25)
    train, validation = df[df[SPLIT] == "train"], df[df[SPLIT] == "validation"]
    assert train[EVENT_TIME].max() <= validation[EVENT_TIME].min()
    assert len(validation) == len(df) - int(np.floor(len(df) * 0.75))
    assert counts["labelled_rows"] == len(df) == counts["rows"]
    assert counts["labels_known_before_snapshot"] == counts["labels_known_after_cutoff"] == 0


def test_duplicate_unknown_and_invalid_labels_are_left_out_and_counted(parts):
    raw, labels = parts
    first = labels.head(500)
    bad = pd.concat(
        [
            first.head(3),  # delivered twice
            first.head(2).assign(ticket_id=["T-never-1", "T-never-2"]),  # unknown rows
            first.iloc[10:11].assign(escalated=2),  # invalid value (and a duplicate)
        ],
        ignore_index=True,
    )
    df, counts = assemble(raw, pd.concat([labels, bad], ignore_index=True), 0.2)
    clean, _ = assemble(raw, labels, 0.2)
    pd.testing.assert_frame_equal(df, clean)  # the noise changed nothing it should not
    assert sum(counts["labels_dropped"].values()) >= 6


def test_only_labelled_rows_are_kept(parts):
    raw, labels = parts
    df, counts = assemble(raw, labels.iloc[::2], validation_fraction=0.2)
    assert counts["unlabelled_rows"] == counts["rows"] - len(df) > 0
    assert df[LABEL].isin([0, 1]).all()


def test_the_evaluation_entities_never_enter(parts):
    raw, labels = parts
    held_out = frozenset(raw[DAYS[1].isoformat()]["ticket_id"].head(50))
    df, counts = assemble(raw, labels, 0.2, exclude=held_out)
    assert counts["held_out_for_evaluation"] == 50
    assert not set(df["ticket_id"]) & held_out


# --- the point-in-time rule -------------------------------------------------------------------

# A toy entity that is snapshotted while open and again after it closed: the later snapshot
# carries its outcome in its values (status "closed"), which a model must never learn from.
TOY = LabelSchema(
    id="account",
    label="churned",
    valid=lambda s: s.isin([0, 1]),
    valid_text="0 or 1",
    known_at="decided_at",
)
SNAPSHOT_AT = {
    "d1": datetime(2026, 3, 2),  # the end of each partition
    "d2": datetime(2026, 3, 3),
    "d3": datetime(2026, 3, 4),
}
CUTOFF = datetime(2026, 3, 6)


def _rows(key: str, accounts: list[str], statuses: list[str]) -> pd.DataFrame:
    day = SNAPSHOT_AT[key] - pd.Timedelta(hours=12)
    return pd.DataFrame(
        {
            "account": accounts,
            "seen_at": [day + pd.Timedelta(minutes=i) for i in range(len(accounts))],
            "status": statuses,
        }
    )


@pytest.fixture
def toy():
    raw = {
        "d1": _rows("d1", ["A", "B"], ["open", "open"]),
        "d2": _rows("d2", ["C"], ["open"]),
        # A again, after its label became known (2026-03-02 18:00): its row now says closed.
        "d3": _rows("d3", ["A", "D"], ["closed", "open"]),
    }
    labels = pd.DataFrame(
        {
            "account": ["A", "B", "C", "D"],
            "churned": [1, 0, 1, 0],
            "decided_at": [
                datetime(2026, 3, 2, 18),  # after A's d1 snapshot, before its d3 snapshot
                datetime(2026, 3, 4, 9),
                datetime(2026, 3, 5, 9),
                datetime(2026, 3, 7, 9),  # after the cut-off: did not exist at training time
            ],
        }
    )
    return raw, labels


def test_a_label_joins_only_the_snapshots_taken_before_it_was_known(toy):
    raw, labels = toy
    rows, counts = assemble_labelled(raw, SNAPSHOT_AT, labels, TOY, "seen_at", CUTOFF)

    assert list(zip(rows["account"], rows["status"], strict=True)) == [
        ("A", "open"),  # the d1 snapshot, taken before A's outcome was known
        ("B", "open"),
        ("C", "open"),
    ]  # not A's closed d3 snapshot, not D (labelled after the cut-off)
    assert counts["labels_known_before_snapshot"] == 1
    assert counts["labels_known_after_cutoff"] == 1
    assert counts["rows"] == 5 and counts["labelled_rows"] == 3
    assert "decided_at" not in rows  # when the label became known is no model input


def test_the_join_on_the_id_alone_would_have_leaked_the_outcome(toy):
    """What the old code did: the label joined on the entity id only. The test above fails if
    the point-in-time rule is removed, because this join differs from it exactly there."""
    raw, labels = toy
    rows, _ = assemble_labelled(raw, SNAPSHOT_AT, labels, TOY, "seen_at", CUTOFF)
    leaking = pd.concat(raw.values(), ignore_index=True).merge(labels, on="account")

    closed = leaking[(leaking["account"] == "A") & (leaking["status"] == "closed")]
    assert len(closed) == 1 and closed["churned"].item() == 1  # the outcome in its own inputs
    assert "D" in set(leaking["account"])  # a label from after the cut-off
    assert len(leaking) == 5 != len(rows)
    assert not ((rows["account"] == "A") & (rows["status"] == "closed")).any()


def test_a_cut_off_of_none_keeps_every_later_label(toy):
    raw, labels = toy
    rows, counts = assemble_labelled(raw, SNAPSHOT_AT, labels, TOY, "seen_at", None)
    assert list(rows["account"]) == ["A", "B", "C", "D"]
    assert counts["labels_known_after_cutoff"] == 0 and counts["labels_known_before_snapshot"] == 1


def test_the_window_leaves_the_label_lag_before_the_cut_off():
    keys, label_keys, cutoff = window_keys(WF, "2026-03-20", window_days=7)
    assert cutoff == datetime(2026, 3, 21)
    # The last row partition ended max_lag_days before the cut-off: its labels all arrived.
    assert keys[-1] == "2026-03-15" and len(keys) == 7
    assert label_keys[0] == keys[0] and label_keys[-1] == "2026-03-20"


# --- training on it ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def training_set(parts):
    labelled, _ = assemble(*parts, validation_fraction=0.2)
    return training_frame(WF, WF.feature_sets.current_set, labelled)


def test_the_training_set_holds_keys_features_label_and_split(training_set):
    fs = WF.feature_sets.current_set
    assert list(training_set.columns) == [
        WF.entity.id,
        WF.entity.event_time,
        *fs.columns,
        LABEL,
        SPLIT,
    ]


def test_training_is_deterministic_and_learns_something(training_set):
    fs = WF.feature_sets.current_set
    a = train_model(WF, fs, training_set, "logistic_regression", {"C": 1.0}, seed=3)
    b = train_model(WF, fs, training_set, "logistic_regression", {"C": 1.0}, seed=3)
    rows = training_set[fs.columns]
    np.testing.assert_array_equal(WF.task.predict(a, rows), WF.task.predict(b, rows))
    assert [name for name, _ in a.steps] == ["encode", "model"]
    validation = training_set[training_set[SPLIT] == "validation"]
    y, p = validation[LABEL].to_numpy(), WF.task.predict(a, validation[fs.columns])
    # The simulator's outcome is a logistic function of these features: well above chance.
    assert WF.task.compute("roc_auc", y, p) > 0.7
    brier = float(np.mean((p - y) ** 2))
    assert 0 < brier < y.mean()


def test_one_class_training_split_is_refused(training_set):
    fs = WF.feature_sets.current_set
    with pytest.raises(ValueError, match="a classifier needs both classes"):
        train_model(WF, fs, training_set.assign(escalated=0), "logistic_regression", {}, seed=0)


def test_unknown_model_family_is_named():
    with pytest.raises(ValueError, match="unknown model family 'xgboost'"):
        family(CLASSIFIERS, "xgboost")


def test_rows_final_at_their_event_join_a_label_known_before_their_partition_ended():
    """A month of measurements snapshotted at the month's end: a label known the next day is
    known before that snapshot. By default it is left out (the row could have changed); a
    source whose rows never change after their event joins it, and still only labels known
    after the row's own event time and by the cut-off."""
    month_end = datetime(2026, 4, 1)
    raw = {
        "m": pd.DataFrame(
            {
                "account": ["A", "B", "C"],
                "seen_at": [datetime(2026, 3, d, 23) for d in (3, 10, 30)],
                "status": ["x", "y", "z"],
            }
        )
    }
    labels = pd.DataFrame(
        {
            "account": ["A", "B", "C"],
            "churned": [1, 0, 1],
            "decided_at": [
                datetime(2026, 3, 5),  # two days after A's event, weeks before the month ended
                datetime(2026, 3, 10, 12),  # before B's own event: never joins
                datetime(2026, 4, 3),  # after the cut-off
            ],
        }
    )
    cutoff = datetime(2026, 4, 2)
    default, counts = assemble_labelled(raw, {"m": month_end}, labels, TOY, "seen_at", cutoff)
    assert default.empty and counts["labels_known_before_snapshot"] == 2
    final, counts = assemble_labelled(
        raw, {"m": month_end}, labels, TOY, "seen_at", cutoff, final_at_event_time=True
    )
    assert list(final["account"]) == ["A"]
    assert counts["labels_known_before_snapshot"] == 1  # B's, known before B's own event
    assert counts["labels_known_after_cutoff"] == 1
