"""The rainfall workflow through the engine: a short demo (fifteen months of history, three
monthly ticks) that trains, promotes and scores, and the demo's ticking per partition."""

from datetime import UTC, date, datetime

import pytest

from assets.names import PREDICTIONS, PROFILES
from assets.partitions import Partitioning
from orchestration.demo import partition_ticks
from orchestration.scenario import Scenario
from resources.registry import ModelRegistry
from resources.snapshots import SnapshotStore, snapshot_root
from tests.support.demo_home import demo_run
from workflows.rainfall.workflow import WORKFLOW as WF

# 1949-01-01 .. 1950-03-31 before launch (15 months: 13 labelled months hold the 180-row test
# set and a training set above the policy's 150 rows), then April-June 1950.
SCENARIO = """
start: "1949-01-01"
days: 547
reference_days: 455
incidents: []
"""


def test_a_monthly_workflow_ticks_once_per_partition_after_its_end():
    scenario = Scenario(start=date(1949, 1, 1), days=547, seed=7, reference_days=455)
    history, production = partition_ticks(Partitioning("monthly", "1949-01-01"), scenario)
    assert [t.key for t in history] == [f"1949-{m:02d}-01" for m in range(1, 13)] + [
        "1950-01-01",
        "1950-02-01",
        "1950-03-01",
    ]
    assert [(t.key, t.number, t.tick) for t in production] == [
        ("1950-04-01", 485, datetime(1950, 5, 1, 7, tzinfo=UTC)),
        ("1950-05-01", 516, datetime(1950, 6, 1, 7, tzinfo=UTC)),
        ("1950-06-01", 546, datetime(1950, 7, 1, 7, tzinfo=UTC)),
    ]  # day 547 (July 1st) starts a month the scenario does not finish: no tick


def test_a_daily_workflow_still_ticks_every_day():
    scenario = Scenario(start=date(2026, 1, 1), days=10, seed=7, reference_days=4)
    history, production = partition_ticks(Partitioning("daily", "2026-01-01"), scenario)
    assert [t.number for t in history] == [1, 2, 3, 4]
    assert [t.number for t in production] == [5, 6, 7, 8, 9, 10]
    assert production[0].tick == datetime(2026, 1, 6, 7, tzinfo=UTC)


def test_a_launch_before_the_first_partition_ends_is_refused():
    scenario = Scenario(start=date(1949, 1, 1), days=90, seed=7, reference_days=20)
    with pytest.raises(ValueError, match="no whole monthly partition ends by day 20"):
        partition_ticks(Partitioning("monthly", "1949-01-01"), scenario)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    with demo_run(tmp_path_factory.mktemp("rainfall"), WF, SCENARIO) as (home, result, doc, _):
        yield home, result, doc


def test_the_launch_model_is_trained_on_the_labelled_months_and_promoted(demo):
    home, _, document = demo
    kinds = [(e["kind"], e["day"]) for e in document["events"] if e["kind"] != "check_failed"]
    assert ("promoted", 455) in kinds
    registry = ModelRegistry(
        tracking_uri=home.mlflow_uri,
        artifact_root=home.mlflow_artifacts,
        model_name=WF.model_name,
        experiment_name=WF.experiment_name,
    )
    assert registry.version_for_alias("champion") == "1"
    window = registry.load_artifact_json("1", "lineage.json")["training_window"]
    # Launch at the end of March 1950: February's labels are all known (a 2-day lag), March's
    # month has not ended; whole months only.
    assert (window["first_day"], window["last_day"]) == ("1949-01-01", "1950-02-01")


def test_each_monthly_partition_is_scored_by_the_champion(demo):
    home, result, document = demo
    store = SnapshotStore(snapshot_root(home.root, WF.name))
    assert store.partitions(PREDICTIONS) == ["1950-04-01", "1950-05-01", "1950-06-01"]
    april = store.read(PREDICTIONS, "1950-04-01")
    assert len(april) == 30 and set(april["model_version"]) == {"1"}
    assert april["score"].between(0, 1).all()
    ticks = [c for c in document["costs"] if c["phase"] == "production"]
    assert [c["day"] for c in ticks] == [485, 516, 546]  # one tick a month


def test_drift_is_judged_per_month_and_on_merged_quarters(demo):
    home, _, document = demo
    store = SnapshotStore(snapshot_root(home.root, WF.name))
    assert store.partitions(PROFILES) == ["1950-04-01", "1950-05-01", "1950-06-01"]
    runs = [e for e in document["events"] if e["kind"] == "check_failed"]
    # A failed check on a month is dated by the month's last day.
    assert all(e["day"] in (485, 516, 546) for e in runs if e["check"] == "drift")
    from dagster import AssetCheckKey, DagsterInstance

    from assets.check_history import evaluations

    merged = [
        e
        for e in evaluations(
            DagsterInstance.get(), [AssetCheckKey(WF.key(PROFILES), "merged_drift")]
        )
        if e.partition == "1950-06-01"
    ]
    assert merged and merged[-1].description.startswith("3 partitions to 1950-06-01")
