from datetime import date

import numpy as np
import pandas as pd
import pytest

from assets.feature_definitions import FEATURE_COLUMNS, compute_features
from assets.training_data import (
    LABEL,
    SPLIT,
    assemble_training_set,
    train_model,
    validation_metrics,
)
from workflows.ticket_escalation.simulation.crm import generate_day

DAYS = [date(2026, 3, d) for d in range(2, 6)]


@pytest.fixture(scope="module")
def parts():
    features, labels = {}, {}
    for day in DAYS:
        tickets, outcomes = generate_day(day, seed=9)
        features[day.isoformat()] = compute_features(tickets)
        labels[day.isoformat()] = outcomes
    return features, labels


def test_validation_rows_are_all_newer_than_training_rows(parts):
    df, counts = assemble_training_set(*parts, validation_fraction=0.25)
    train, validation = df[df[SPLIT] == "train"], df[df[SPLIT] == "validation"]
    assert train["created_at"].max() <= validation["created_at"].min()
    assert len(validation) == len(df) - int(np.floor(len(df) * 0.75))
    assert counts["labelled_rows"] == len(df) == counts["feature_rows"]


def test_duplicate_unknown_and_invalid_labels_are_left_out_and_counted(parts):
    features, labels = parts
    first = labels[DAYS[0].isoformat()]
    bad = pd.concat(
        [
            first.head(3),  # delivered twice
            first.head(2).assign(ticket_id=["T-never-1", "T-never-2"]),  # unknown tickets
            first.iloc[10:11].assign(escalated=2),  # invalid value (and a duplicate)
        ],
        ignore_index=True,
    )
    noisy = {**labels, "2026-03-09": bad}
    df, counts = assemble_training_set(features, noisy, validation_fraction=0.2)
    clean, _ = assemble_training_set(features, labels, validation_fraction=0.2)
    pd.testing.assert_frame_equal(df, clean)  # the noise changed nothing it should not
    assert sum(counts["labels_dropped"].values()) >= 6


def test_only_labelled_tickets_are_kept(parts):
    features, labels = parts
    partial = {k: v.iloc[::2] for k, v in labels.items()}
    df, counts = assemble_training_set(features, partial, validation_fraction=0.2)
    assert counts["unlabelled_rows"] == counts["feature_rows"] - len(df) > 0
    assert df[LABEL].isin([0, 1]).all()


def test_training_is_deterministic_and_learns_something(parts):
    df, _ = assemble_training_set(*parts, validation_fraction=0.2)
    a = train_model(df, "logistic_regression", {"C": 1.0}, seed=3)
    b = train_model(df, "logistic_regression", {"C": 1.0}, seed=3)
    rows = df[FEATURE_COLUMNS]
    np.testing.assert_array_equal(a.predict_proba(rows), b.predict_proba(rows))
    metrics = validation_metrics(a, df)
    # The simulator's outcome is a logistic function of these features: well above chance.
    assert metrics["validation_roc_auc"] > 0.7
    assert 0 < metrics["validation_brier"] < metrics["validation_positive_rate"]


def test_one_class_training_split_is_refused(parts):
    df, _ = assemble_training_set(*parts, validation_fraction=0.2)
    with pytest.raises(ValueError, match="one class"):
        train_model(df.assign(escalated=0), "logistic_regression", {}, seed=0)
