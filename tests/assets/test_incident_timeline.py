"""The incident timeline and the champion's deployment history, materialized through Dagster
on a copy of a finished 34-day demo home (real SQLite instance, real MLflow store)."""

import os

import pandas as pd
import pytest
from dagster import AssetCheckKey, AssetSelection, DagsterInstance, materialize

from assets.champion_repair import change_metadata
from assets.names import CHAMPION, EVALUATION, FLAGS, INCIDENT_TIMELINE
from assets.promotion import ChampionChange
from orchestration.definitions import build_definitions
from orchestration.runner import run_job
from resources.snapshots import SnapshotStore
from resources.storage import workflow_root
from tests.support.demo_home import copied_home
from workflows.ticket_escalation.workflow import WORKFLOW as wf

# The lead's demo run leaves it here; a copy is changed, never the original.
LAST_DAY = "2026-02-03"
AT = "2026-01-20T07:00:00+00:00"


@pytest.fixture(scope="module")
def demo(loop_demo, tmp_path_factory):
    """A copy of the session's loop demo home: materializing the timeline writes to it."""
    saved = dict(os.environ)
    os.environ.pop("AFTERLAUNCH_NOW", None)
    home = copied_home(loop_demo, tmp_path_factory.mktemp("timeline"), wf)
    defs = build_definitions(wf)
    instance = DagsterInstance.get()
    try:
        yield home, defs, instance
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _timeline(demo, partition: str) -> tuple[pd.DataFrame, str]:
    home, defs, instance = demo
    key = wf.key(INCIDENT_TIMELINE)
    result = materialize(
        [a for a in defs.assets if key in a.keys],
        instance=instance,
        partition_key=partition,
        resources=defs.resources,
    )
    (event,) = result.asset_materializations_for_node(wf.op(INCIDENT_TIMELINE))
    stored = SnapshotStore(workflow_root(home.root, wf.name) / "snapshots").read(
        INCIDENT_TIMELINE, partition
    )
    return stored, event.metadata["timeline"].value


def _check(demo, asset: str, name: str):
    _, defs, instance = demo
    key = AssetCheckKey(wf.key(asset), name)
    result = materialize(
        [*defs.assets, *defs.asset_checks],
        selection=AssetSelection.checks(key),
        instance=instance,
        resources=defs.resources,
    )
    (evaluation,) = result.get_asset_check_evaluations()
    return evaluation


def test_the_drift_days_and_the_retraining_they_caused_are_rows(demo):
    rows, text = _timeline(demo, "2026-01-15")
    drift = rows[(rows["kind"] == "check_failed") & rows["what"].str.contains("profiles.drift")]
    assert list(drift["date"]) == ["2026-01-13", "2026-01-14", "2026-01-15"]
    assert drift["what"].str.contains("first_response_minutes").all()
    assert drift["link"].str.endswith("?view=checks&checkDetail=drift").all()
    # Nothing after the partition's end is in its story.
    assert rows["date"].max() == "2026-01-15"
    (request,) = rows[
        (rows["kind"] == "retraining_requested") & (rows["actor"] == "drift")
    ].itertuples()
    assert request.why.startswith(
        "retraining requested because drift failed 2 days in a row (through 2026-01-14)"
    )
    assert request.link.endswith(f"/runs/{request.run_id}")
    registered = rows[(rows["kind"] == "registered") & (rows["run_id"] == request.run_id)]
    assert list(registered["version"]) == ["4"]
    # The day's rows come first in the Markdown, each linked; then the 14 days before.
    today, before = text.split("### the 14 days before")
    assert "profiles.drift [2026-01-15]" in today and "profiles.drift [2026-01-13]" in before
    assert f"]({request.link})" in before or f"]({request.link})" in today


def test_the_last_day_tells_the_canary_rollback_and_the_promotions_with_actors(demo):
    rows, text = _timeline(demo, LAST_DAY)
    (rollback,) = rows[rows["kind"] == "canary_rollback"].itertuples()
    assert (rollback.version, rollback.actor) == ("3", "rollout")
    assert "below the floor" in rollback.why
    promotions = rows[rows["kind"] == "promotion"]
    assert list(zip(promotions["version"], promotions["actor"], strict=True)) == [
        ("1", "root"),
        ("5", "rollout"),
    ]
    # Version 6 was judged against 1; 5 has been champion since: shown stale.
    (six,) = rows[(rows["kind"] == "verdict") & (rows["version"] == "6")].itertuples()
    assert six.stale == "stale (judged against v1, champion then v5)"
    assert "stale (judged against v1, champion then v5)" in text


def test_deployment_history_on_champion_lists_every_change_and_the_stale_rejection(demo):
    evaluation = _check(demo, CHAMPION, "deployment_history")
    assert evaluation.passed  # no promotion acted on a stale verdict
    history = evaluation.metadata["history"].value
    lines = [line for line in history.splitlines() if line.startswith("| 20")]
    kinds = [(line.split(" | ")[1], line.split(" | ")[2]) for line in lines]
    assert kinds == [
        ("promotion", "1"),
        ("rejected", "2"),
        ("rejected", "4"),
        ("canary_rollback", "3"),
        ("rejected", "6"),
        ("promotion", "5"),
    ]
    promotion_5 = lines[-1]
    assert "| rollout |" in promotion_5 and "/runs/" in promotion_5
    rejected_6 = next(line for line in lines if "| rejected | 6 |" in line)
    assert rejected_6.endswith("stale (judged against v1, champion then v5) |")


def test_verdict_current_warns_while_the_newest_verdict_is_against_a_former_champion(demo):
    evaluation = _check(demo, EVALUATION, "verdict_current")
    assert not evaluation.passed and evaluation.severity.value == "WARN"
    assert "stale (judged against v1, champion then v5)" in evaluation.description
    assert evaluation.metadata["champion_now"].value == "5"


def test_the_daily_job_runs_the_timeline_and_the_checks_without_the_days_data(demo):
    _, defs, _ = demo
    nodes = set(defs.resolve_job_def("daily_production").graph.node_dict)
    assert wf.op(INCIDENT_TIMELINE) in nodes
    assert f"{wf.op(CHAMPION)}_deployment_history" in nodes
    assert f"{wf.op(EVALUATION)}_verdict_current" in nodes
    # No upstream asset: a contract that blocks the day cannot skip the day's story.
    assert not defs.resolve_asset_graph().get(wf.key(INCIDENT_TIMELINE)).parent_keys


def test_a_champion_change_summary_carries_its_simulated_date():
    change = ChampionChange("rollback", "1", "5", "drill", "on-call", None, None, AT)
    assert change_metadata(change)["summary"].endswith("drill (on 2026-01-20)")
    assert change_metadata(change)["at"] == AT


def test_a_flag_flip_is_dated_by_the_simulated_clock_in_its_summary_and_the_timeline(demo):
    # Last in the module: it adds a flip to the copied home.
    _, defs, instance = demo
    os.environ["AFTERLAUNCH_NOW"] = "2026-02-04T12:00:00+00:00"
    try:
        config = {"state": "off", "reason": "drill", "actor": "on-call"}
        result = run_job(
            defs,
            instance,
            "set_serving_flag",
            run_config={"ops": {wf.op(FLAGS): {"config": config}}},
        )
    finally:
        os.environ.pop("AFTERLAUNCH_NOW")
    assert result.success, result.step_errors
    assert result.materialized[FLAGS]["summary"].endswith("drill (on 2026-02-04)")
    rows, _ = _timeline(demo, "2026-02-04")
    (flip,) = rows[(rows["kind"] == "flag_flip") & (rows["date"] == "2026-02-04")].itertuples()
    assert (flip.actor, flip.why, flip.run_id) == ("on-call", "drill", result.run_id)
