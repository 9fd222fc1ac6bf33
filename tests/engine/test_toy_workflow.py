"""The engine on a workflow it was not written for: a regression on weekly partitions, with
other id, time and label names and a 15-day label lag, from one event-time table. Ingest,
contract, drift, features, training, gate, promotion, rollback, weekly evaluation, a rollout
step and the readiness report all run on it, on a real instance and a real MLflow store."""

from __future__ import annotations

import os
from datetime import datetime, timedelta

import numpy as np
import pytest
from dagster import DagsterInstance

from assets.models import load_served
from assets.names import CHAMPION, EVAL_SET, PREDICTIONS, READINESS, REFERENCE, ROLLOUT
from orchestration.catalog import definitions
from orchestration.home import Home, activate
from orchestration.runner import run_job
from resources.clock import SIMULATED_NOW
from resources.policy import home_policy_file
from resources.registry import ModelRegistry
from resources.snapshots import SnapshotStore, snapshot_root
from tests.engine import toy

WEEKS = 12
SHIFT_WEEK = 11


def at(moment: datetime) -> None:
    os.environ[SIMULATED_NOW] = moment.isoformat() + "+00:00"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    with toy.fresh_env():
        yield from _world(tmp_path_factory)


def _world(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy-home")
    wf = toy.workflow(root / "code")
    home = activate(Home(root / "home"), wf)
    toy.write_source(home.source_url_for(wf), toy.accounts(WEEKS + 1, shift_week=SHIFT_WEEK))
    defs = definitions(wf)
    instance = DagsterInstance.get()
    runs = {}

    def run(job, partition=None, ops=None, key=None):
        config = {"ops": {wf.op(a): {"config": c} for a, c in (ops or {}).items()}}
        outcome = run_job(defs, instance, job, partition, run_config=config)
        runs[key or (job, partition)] = outcome
        return outcome

    for number in range(1, 9):
        at(toy.START + timedelta(weeks=number, hours=2))
        run("raw_ingestion", toy.week(number))
    launch = toy.week(8)
    at(toy.START + timedelta(weeks=8, hours=5))
    run("reference_refresh", ops={REFERENCE: {"end_date": launch}})
    run("draw_test_set", ops={EVAL_SET: {"version": "1", "end_date": launch}})
    run("train_challenger", ops={"training_set": {"end_date": launch}}, key="launch")
    for number in range(9, WEEKS + 1):
        at(toy.START + timedelta(weeks=number, hours=2))
        run("daily_production", toy.week(number))
    at(toy.START + timedelta(weeks=WEEKS, hours=6))
    run("evaluate_weekly", key="weekly")
    # A second model, no longer over-shrunk, on the newer window (the home's policy overrides
    # the workflow's): the gate judges it against the champion; its yes admits it to a rollout.
    policy = home_policy_file(home.root, wf.name)
    policy.parent.mkdir(parents=True, exist_ok=True)
    policy.write_text("training: {hyperparameters: {alpha: 1.0}}\n")
    run("retraining", key="retraining")
    run("evaluate_challenger", key="evaluate")
    run("rollout_step", ops={ROLLOUT: {"action": "start", "reason": "gate passed"}}, key="start")
    at(toy.START + timedelta(weeks=WEEKS + 1, hours=2))
    run("daily_production", toy.week(WEEKS + 1), key="shadow")
    registry = ModelRegistry(
        tracking_uri=home.mlflow_uri,
        artifact_root=home.mlflow_artifacts,
        model_name=wf.model_name,
        experiment_name=f"afterlaunch-{wf.name}",
    )
    yield {
        "wf": wf,
        "home": home,
        "runs": runs,
        "run": run,
        "registry": registry,
        "store": SnapshotStore(snapshot_root(home.root, wf.name)),
        "instance": instance,
    }


def checks_of(outcome) -> dict[str, str]:
    return {c.check: c.level for c in outcome.checks}


def test_weekly_partitions_are_ingested_and_checked_under_the_workflow_prefix(world):
    outcome = world["runs"][("raw_ingestion", toy.week(3))]
    assert outcome.success
    assert checks_of(outcome)["raw_contract"] == "ok"
    assert checks_of(outcome)["raw_volume"] == "ok"
    assert checks_of(outcome)["raw_freshness"] == "ok"
    store = world["store"]
    assert store.partitions("raw")[:2] == [toy.week(1), toy.week(2)]
    assert len(store.read("raw", toy.week(3))) == toy.ROWS_PER_WEEK
    keys = world["instance"].get_asset_keys()
    assert any(k.path == ["toy_revenue", "raw"] for k in keys)
    assert not any(k.path == ["raw"] for k in keys)


def test_a_broken_contract_names_the_column_and_blocks_features(world, tmp_path):
    from checks.contract import validate_against

    raw = world["store"].read("raw", toy.week(2))
    broken = raw.assign(seats=-raw["seats"])
    report = validate_against(toy.AccountContract, broken)
    assert not report.passed
    assert report.failures[0]["column"] == "seats"


def test_the_first_model_is_trained_judged_and_promoted_on_the_task_metrics(world):
    launch = world["runs"]["launch"]
    assert launch.success, launch.step_errors
    evaluation = launch.materialized["challenger_evaluation"]
    assert evaluation["verdict"] == "promote", evaluation["reasons"]
    assert world["registry"].version_for_alias("champion") == "1"
    record = world["store"].read("challenger_evaluation", None)
    assert set(record["metrics"]) == {"task_success", "mae", "rmse"}
    assert 0 < record["metrics"]["mae"]["value"] < 30
    tags = world["registry"].version_tags("1")
    assert tags["feature_set.version"] == "1"
    # The 15-day lag: labels known by the end of week 8 (Mar 2) can judge only weeks that
    # ended 15 days before (by Feb 15): week 5 (ends Feb 9) is the newest, week 6 ends Feb 16;
    # a 28-day window is four whole weeks.
    window = world["registry"].load_artifact_json("1", "lineage.json")["training_window"]
    assert (window["first_day"], window["last_day"]) == (toy.week(2), toy.week(5))
    assert window["labels_until"] == toy.week(8)


def test_production_weeks_are_scored_and_the_injected_shift_is_caught_on_its_week(world):
    clean = world["runs"][("daily_production", toy.week(9))]
    shifted = world["runs"][("daily_production", toy.week(SHIFT_WEEK))]
    assert clean.success and shifted.success
    assert checks_of(clean)["drift"] == "ok"
    assert checks_of(shifted)["drift"] == "error"
    predictions = world["store"].read(PREDICTIONS, toy.week(9))
    assert len(predictions) == toy.ROWS_PER_WEEK
    assert set(predictions["model_version"]) == {"1"}
    assert np.isfinite(predictions["score"]).all()
    assert "plan" in predictions  # the workflow's segment rides along


def test_the_weekly_evaluation_judges_task_success_within_tolerance(world):
    weekly = world["runs"]["weekly"]
    assert weekly.success, weekly.step_errors
    value = world["store"].read("weekly_evaluation", None)
    assert value["champion_version"] == "1"
    assert 0.0 <= value["production"]["value"] <= 1.0
    assert value["production"]["rows"] > 0


def test_a_better_challenger_passes_the_gate_and_starts_its_rollout(world):
    retraining = world["runs"]["retraining"]
    assert retraining.success, retraining.step_errors
    evaluation = world["runs"]["evaluate"]
    assert evaluation.success, evaluation.step_errors
    record = world["store"].read("challenger_evaluation", None)
    assert record["challenger_version"] == "2" and record["champion_version"] == "1"
    assert record["verdict"] == "promote", record["reasons"]
    start = world["runs"]["start"]
    assert start.success, start.step_errors
    rollout = world["store"].read(ROLLOUT, None)
    assert rollout["state"] == "shadow" and rollout["version"] == "2"
    # In shadow the challenger scores every row and serves none.
    shadow = world["store"].read(PREDICTIONS, toy.week(WEEKS + 1))
    assert set(shadow["model_version"]) == {"1"}
    assert shadow["challenger_score"].notna().all()


def test_the_readiness_report_answers_for_a_regression_without_a_label_free_estimate(world):
    report = world["store"].read(READINESS, toy.week(WEEKS))
    q1 = report["questions"][0]
    assert q1["label_free_estimate"] is None
    assert "no label-free estimate for this task" in q1["answer"]
    # Labels of the report's week are not in yet (15-day lag): nothing judges it, honestly.
    assert q1["status"] == "unknown" or q1["this_week"] is not None
    assert report["questions"][4]["served"] == ["1"]


def test_promotion_and_rollback_move_the_champion_and_back(world):
    run = world["run"]
    promoted = run(
        "change_champion",
        ops={CHAMPION: {"action": "promote", "version": "2", "reason": "test"}},
        key="promote",
    )
    assert promoted.success, promoted.step_errors
    registry = world["registry"]
    assert registry.version_for_alias("champion") == "2"
    rolled = run(
        "change_champion",
        ops={CHAMPION: {"action": "rollback", "reason": "test rollback"}},
        key="rollback",
    )
    assert rolled.success, rolled.step_errors
    assert registry.version_for_alias("champion") == "1"
    wf = world["wf"]
    rows = world["store"].read("raw", toy.week(9))
    again = load_served(wf, registry, "1").outputs(wf, rows)
    first = world["store"].read(PREDICTIONS, toy.week(9))["champion_score"].to_numpy()
    assert np.array_equal(again, first)
