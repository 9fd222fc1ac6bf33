"""A model is served with its own features. Feature set v2 changes one definition; a v2 model
is trained and promoted; rolling back to the v1 model serves it exactly as it scored before v2
existed. A model whose feature set is gone from the code is refused, with its version named,
at serving, promotion and rollback."""

from __future__ import annotations

import os
from datetime import timedelta

import numpy as np
import pytest
from dagster import DagsterInstance

from assets.names import CHAMPION, EVAL_SET, PREDICTIONS, REFERENCE
from orchestration.catalog import definitions
from orchestration.home import Home, activate
from orchestration.runner import run_job
from resources.clock import SIMULATED_NOW
from resources.registry import ModelRegistry
from resources.snapshots import SnapshotStore, snapshot_root
from tests.engine import toy

POLICY = {**toy.POLICY, "training": {**toy.POLICY["training"], "hyperparameters": {"alpha": 1.0}}}
# Promotion straight from the gate: this test is about features, not the rollout.
POLICY["rollout"] = {**POLICY["rollout"], "enabled": False}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    with toy.fresh_env():
        yield from _world(tmp_path_factory)


def _world(tmp_path_factory):
    root = tmp_path_factory.mktemp("feature-rollback")
    code = {
        "v1": toy.workflow(root / "v1", ("1",), "1", POLICY),
        "v1+v2": toy.workflow(root / "v1v2", ("1", "2"), "2", POLICY),
        "v2 only": toy.workflow(root / "v2", ("2",), "2", POLICY),
    }
    home = activate(Home(root / "home"), code["v1"])
    toy.write_source(home.source_url_for(code["v1"]), toy.accounts(11))
    instance = DagsterInstance.get()

    def run(version, job, partition=None, ops=None):
        wf = code[version]
        config = {"ops": {wf.op(a): {"config": c} for a, c in (ops or {}).items()}}
        return run_job(definitions(wf), instance, job, partition, run_config=config)

    def at(weeks, hours):
        os.environ[SIMULATED_NOW] = (
            toy.START + timedelta(weeks=weeks, hours=hours)
        ).isoformat() + "+00:00"

    for number in range(1, 9):
        at(number, 2)
        assert run("v1", "raw_ingestion", toy.week(number)).success
    launch = toy.week(8)
    at(8, 5)
    assert run("v1", "reference_refresh", ops={REFERENCE: {"end_date": launch}}).success
    assert run("v1", "draw_test_set", ops={EVAL_SET: {"version": "1", "end_date": launch}}).success
    first = run("v1", "train_challenger", ops={"training_set": {"end_date": launch}})
    assert first.success, first.step_errors
    at(9, 2)
    assert run("v1", "daily_production", toy.week(9)).success
    store = SnapshotStore(snapshot_root(home.root, "toy_revenue"))
    before = store.read(PREDICTIONS, toy.week(9))
    # The code moves on: v2 beside v1, current v2. A v2 model is trained and promoted.
    at(10, 5)
    second = run("v1+v2", "train_challenger", ops={"training_set": {"end_date": toy.week(9)}})
    registry = ModelRegistry(
        tracking_uri=home.mlflow_uri,
        artifact_root=home.mlflow_artifacts,
        model_name="toy-revenue",
        experiment_name="afterlaunch-toy_revenue",
    )
    yield {
        "run": run,
        "at": at,
        "store": store,
        "before": before,
        "second": second,
        "registry": registry,
    }


def test_the_v2_model_records_its_feature_set_and_is_promoted(world):
    second = world["second"]
    assert second.success, second.step_errors
    registry = world["registry"]
    assert registry.version_tags("1")["feature_set.version"] == "1"
    assert registry.version_tags("2")["feature_set.version"] == "2"
    assert registry.version_for_alias("champion") == "2", second.materialized.get(
        "challenger_evaluation"
    )


def test_rolling_back_serves_the_v1_model_exactly_as_before_v2_existed(world):
    run, at, store = world["run"], world["at"], world["store"]
    at(10, 8)
    served_v2 = run("v1+v2", "daily_production", toy.week(10))
    assert served_v2.success, served_v2.step_errors
    assert set(store.read(PREDICTIONS, toy.week(10))["model_version"]) == {"2"}
    rolled = run("v1+v2", "change_champion", ops={CHAMPION: {"action": "rollback", "reason": "v2"}})
    assert rolled.success, rolled.step_errors
    assert world["registry"].version_for_alias("champion") == "1"
    again = run("v1+v2", "daily_production", toy.week(9))
    assert again.success, again.step_errors
    after = store.read(PREDICTIONS, toy.week(9))
    before = world["before"]
    assert set(after["model_version"]) == {"1"}
    assert np.array_equal(after["score"].to_numpy(), before["score"].to_numpy())
    # v2's features differ from v1's on the same rows: had the rollback served the v1 model
    # with the current feature set, its scores would have moved.
    from tests.engine.toy_features import v1, v2

    rows = store.read("raw", toy.week(9))
    assert not np.allclose(v1(rows)["usage"], v2(rows)["usage"])


def test_a_model_whose_feature_set_is_gone_is_refused_naming_it(world):
    run, at = world["run"], world["at"]
    # The code drops v1 while version 1 is champion: serving it is refused...
    at(11, 2)
    scoring = run("v2 only", "daily_production", toy.week(11))
    errors = " ".join(scoring.step_errors.values())
    assert not scoring.success
    assert "model version 1" in errors and "feature set v1" in errors
    # ...a rollback to version 2 is allowed (its features are in the code)...
    forward = run(
        "v2 only",
        "change_champion",
        ops={CHAMPION: {"action": "rollback", "to_version": "2", "reason": "v1 is gone"}},
    )
    assert forward.success, forward.step_errors
    # ...but neither a rollback nor a promotion back to version 1 (the promotion is refused
    # first for its verdict, judged against no champion at launch: it is stale now).
    back = run("v2 only", "change_champion", ops={CHAMPION: {"action": "rollback", "reason": "x"}})
    assert not back.success
    assert "version 1 cannot be served" in " ".join(back.step_errors.values())
    promote = run(
        "v2 only",
        "change_champion",
        ops={CHAMPION: {"action": "promote", "version": "1", "reason": "x"}},
    )
    assert not promote.success
    assert "judged against champion none" in " ".join(promote.step_errors.values())
    assert world["registry"].version_for_alias("champion") == "2"
