"""The feature set: one function for training and scoring, so the two cannot drift apart; and
the features asset with its checks (on the ticket workflow's simulated source)."""

from datetime import date

import numpy as np
import pandas as pd
import pytest

from assets.labels import label_schema
from assets.models import ServedModel
from assets.names import FEATURES, RAW
from assets.serving import serve
from assets.training_data import assemble_labelled, train_model, training_frame
from tests.assets.ticket_home import ticket_home
from workflows.ticket_escalation.simulation.crm import CrmSimulator, generate_day
from workflows.ticket_escalation.workflow import WORKFLOW as WF

DAYS = [date(2026, 2, d) for d in range(2, 9)]


@pytest.fixture(scope="module")
def week():
    raw, outcomes = {}, []
    for day in DAYS:
        tickets, labels = generate_day(day, seed=5)
        raw[day.isoformat()] = tickets
        outcomes.append(labels)
    return raw, pd.concat(outcomes, ignore_index=True)


def test_training_and_scoring_see_identical_features_and_scores_for_the_same_rows(week):
    """No training-serving skew: the rows a model was trained on, scored through the serving
    path from their raw form, get exactly the features and scores training saw."""
    raw, labels = week
    fs = WF.feature_sets.current_set
    labelled, _ = assemble_labelled(
        raw,
        {k: WF.partitions.end_of(k) for k in raw},
        labels,
        label_schema(WF),
        WF.entity.event_time,
        None,
        0.2,
    )
    training_set = training_frame(WF, fs, labelled)
    model = train_model(WF, fs, training_set, "logistic_regression", {"C": 1.0}, seed=1)

    raw_day = raw[DAYS[-1].isoformat()]
    served = serve(
        WF, raw_day, main=ServedModel("1", model, fs), scored_at="2026-02-09T02:00:00+00:00"
    ).frame.set_index("ticket_id")
    trained = training_set.set_index("ticket_id").loc[
        served.index.intersection(training_set["ticket_id"])
    ]
    assert len(trained) > 1000
    serving_features = fs.features(raw_day).set_index("ticket_id").loc[trained.index]
    pd.testing.assert_frame_equal(serving_features[fs.columns], trained[fs.columns])
    trained_scores = WF.task.predict(model, trained[fs.columns])
    np.testing.assert_array_equal(served.loc[trained.index, "score"].to_numpy(), trained_scores)


def test_the_features_asset_computes_the_current_set_and_runs_its_checks(tmp_path):
    day = DAYS[0]
    with ticket_home(tmp_path / "home") as world:
        CrmSimulator(world.source_url, seed=5).write_day(day)
        outcome = world.run("raw_ingestion", day.isoformat())
        assert outcome.success, outcome.step_errors
        checks = {c.check: c for c in outcome.checks if c.asset == FEATURES}
        assert set(checks) == {"features_contract", "features_version_pinned"}
        assert all(c.passed for c in checks.values()), checks
        meta = outcome.materialized[FEATURES]
        fs = WF.feature_sets.current_set
        assert meta["feature_set_version"] == fs.version
        assert meta["feature_set_hash"] == fs.definitions_hash
        stored = world.store.read(FEATURES, day.isoformat())
        expected = fs.features(world.store.read(RAW, day.isoformat()))
        pd.testing.assert_frame_equal(stored, expected)
