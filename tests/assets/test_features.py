"""The feature set: one function for training and scoring, pinned to its version."""

import json
from datetime import date

import numpy as np
import pandas as pd
import pytest

from assets import feature_definitions
from assets.feature_definitions import FEATURE_COLUMNS, compute_features
from assets.feature_set import current_pin, definitions_hash, pin_current_version, read_lock
from assets.model_family import build_model
from assets.scoring import score_tickets
from assets.training_data import assemble_training_set, train_model
from checks.feature_contract import validate_features
from workflows.ticket_escalation.simulation.crm import generate_day

DAYS = [date(2026, 2, d) for d in range(2, 9)]


@pytest.fixture(scope="module")
def week():
    tickets, outcomes = {}, {}
    for day in DAYS:
        t, o = generate_day(day, seed=5)
        tickets[day.isoformat()], outcomes[day.isoformat()] = t, o
    return tickets, outcomes


def test_the_committed_feature_code_matches_its_pinned_hash():
    """Fails when a feature definition changes without a version bump: bump
    FEATURE_SET_VERSION in assets/feature_definitions.py and run `afterlaunch feature-lock`."""
    pin = current_pin()
    assert pin.ok, pin.reason()


def test_a_changed_definition_is_caught_and_a_comment_is_not():
    import inspect

    source = inspect.getsource(feature_definitions)
    assert definitions_hash(source + "\n# a comment\n") == definitions_hash(source)
    changed = source.replace('"subject_failure": subject', '"subject_failure": ~subject', 1)
    assert changed != source
    assert definitions_hash(changed) != definitions_hash(source)
    stale = current_pin({feature_definitions.FEATURE_SET_VERSION: definitions_hash(changed)})
    assert not stale.ok and "without a version bump" in stale.reason()
    assert "not pinned" in current_pin({}).reason()


def test_lock_refuses_to_repin_a_version_to_other_code(tmp_path):
    lock = tmp_path / "lock.json"
    lock.write_text(json.dumps({feature_definitions.FEATURE_SET_VERSION: "0" * 64}))
    with pytest.raises(ValueError, match="without a version bump"):
        pin_current_version(lock)
    fresh = tmp_path / "fresh.json"
    assert pin_current_version(fresh).ok and read_lock(fresh)


def test_features_meet_their_contract_and_bad_features_do_not(week):
    tickets, _ = week
    features = compute_features(tickets[DAYS[0].isoformat()])
    assert validate_features(features).passed
    broken = features.assign(hour_of_day=features["hour_of_day"] + 30)
    report = validate_features(broken)
    assert not report.passed and report.failures[0]["column"] == "hour_of_day"


def test_training_and_scoring_see_identical_features_and_scores_for_the_same_rows(week):
    """No training-serving skew: the rows a model was trained on, scored through the serving
    path from their raw form, get exactly the features and scores training saw."""
    tickets, outcomes = week
    features = {k: compute_features(v) for k, v in tickets.items()}
    labels = {k: v for k, v in outcomes.items()}
    training_set, _ = assemble_training_set(features, labels, validation_fraction=0.2)
    model = train_model(training_set, "logistic_regression", {"C": 1.0}, seed=1)

    raw_day = tickets[DAYS[-1].isoformat()]
    served = score_tickets(model, raw_day).set_index("ticket_id")
    trained = training_set.set_index("ticket_id").loc[
        served.index.intersection(training_set["ticket_id"])
    ]
    assert len(trained) > 1000
    serving_features = compute_features(raw_day).set_index("ticket_id").loc[trained.index]
    pd.testing.assert_frame_equal(serving_features[FEATURE_COLUMNS], trained[FEATURE_COLUMNS])
    trained_scores = model.predict_proba(trained[FEATURE_COLUMNS])[:, 1]
    np.testing.assert_array_equal(served.loc[trained.index, "score"].to_numpy(), trained_scores)


def test_missing_raw_column_is_named():
    tickets, _ = generate_day(DAYS[0], seed=5)
    with pytest.raises(KeyError, match="subject"):
        compute_features(tickets.drop(columns=["subject"]))


def test_unknown_model_family_is_named():
    with pytest.raises(ValueError, match="unknown model family 'xgboost'"):
        build_model("xgboost", {}, 0)
