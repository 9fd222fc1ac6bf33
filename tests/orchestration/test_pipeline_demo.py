"""The reply-suggestions demo end to end, on the real Dagster instance, MLflow store and prompt
registry of a fresh home: each incident caught by the stage check meant for it, the refined
prompt rejected by the slice guard, a prompt change through gate, shadow and canary, a
rollback that restores the prompt by alias, a re-deployment that ends the stale index, and the
review list filled."""

from __future__ import annotations

import json

import pytest

from assets import pipeline_release as release
from assets.pipeline_daily import STAGE_METRICS
from orchestration.cli import main
from orchestration.definitions import policy_resource
from orchestration.home import registry_for
from orchestration.pipeline_demo import run_pipeline_demo
from orchestration.scenario import load_scenario
from resources.prompts import PromptStore
from resources.sample_reviews import SampleReviews, reviews_path
from resources.snapshots import SnapshotStore, snapshot_root
from tests.support.demo_home import _fresh_env
from workflows.reply_suggestions.workflow import WORKFLOW as WF


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from orchestration.home import resolve_home

    root = tmp_path_factory.mktemp("reply-demo")
    with _fresh_env() as mp:
        home = resolve_home(root / "home")
        scenario = load_scenario(WF.simulation)
        result = run_pipeline_demo(home, scenario, WF, json_path=root / "timeline.json")
        store = SnapshotStore(snapshot_root(home.root, WF.name))
        yield home, result, store, mp


def _events(result, kind):
    return [e for e in result.timeline.in_order() if e["kind"] == kind]


def _failed(result, check: str) -> list[int]:
    """Day numbers on which the stage_metrics check failed."""
    return sorted(
        e["day"]
        for e in _events(result, "check_failed")
        if e["asset"].endswith(STAGE_METRICS) and e["check"] == check
    )


def test_every_incident_is_caught_on_its_day_by_the_check_meant_for_it(demo):
    _, result, _, _ = demo
    caught = {
        d["incident"]: (d["day"], d["caught_day"], d["intended_check"]) for d in result.detections
    }
    assert caught == {
        "ranking_regression": (10, 10, "stage_metrics.stage_ranking"),
        "provider_update": (14, 14, "stage_metrics.stage_generation"),
        "prompt_regression_edge": (17, 17, "pipeline_gate.gate_passed"),
        "kb_article_changed": (28, 28, "stage_metrics.stage_retrieval"),
    }
    assert result.unexplained == []
    # Each stage check fails on its incident's days only: the ranking regression (2 days), the
    # provider update (2 days); nothing else fires on the days between.
    assert _failed(result, "stage_ranking") == [10, 11]
    assert _failed(result, "stage_generation") == [14, 15]


def test_the_end_to_end_number_hides_the_ranking_regression(demo):
    _, result, store, _ = demo
    # Task success for the days the ranker was broken, judged once the verdicts are in:
    # within its bound, while the ranking stage's NDCG failed on those days.
    judged = {}
    for partition in store.partitions("task_success"):
        value = store.read("task_success", partition)
        champion = value["arms"].get("champion")
        if champion and champion["value"] is not None:
            judged[value["served_on"]] = (champion["value"], champion["n"])
    for day in ("2026-03-11", "2026-03-12"):
        success, n = judged[day]
        assert n > 100 and success > 0.52, (day, success)
    assert not [e for e in _events(result, "check_failed") if e["check"] == "stage_end_to_end"]


def test_the_refined_prompt_is_rejected_by_the_edge_case_slice_guard_and_never_served(demo):
    home, _, store, _ = demo
    gates = [
        store.read("pipeline_gate", None, v["content_hash"])
        for v in store.versions("pipeline_gate", None)
    ]
    refined = next(g for g in gates if g["challenger_version"] == "2")
    assert refined["verdict"] == "reject"
    failed = [c["criterion"] for c in refined["criteria"] if c["passed"] is False]
    assert failed == ["slice:edge_case:faithfulness"]  # better or equal overall: only the slice
    served_versions = {
        v
        for p in store.partitions("predictions")
        for v in store.read("predictions", p)["version"].unique()
    }
    assert "2" not in served_versions
    assert registry_for(home, WF).version_tags("2")[release.TAG + "gate"] == "reject"


def test_a_prompt_change_goes_through_shadow_and_canary_then_is_rolled_back_by_alias(demo):
    home, result, store, _ = demo
    steps = [(e["day"], e["action"], e["state"]) for e in _events(result, "rollout_step")]
    assert steps[:3] == [
        (19, "advance", "canary"),
        (20, "advance", "canary"),
        (21, "complete", "promoted"),
    ]
    # Shadow day: the challenger served every row beside the champion, nobody saw its replies.
    shadow = store.read("predictions", "2026-03-20")
    chall = shadow[shadow["arm"] == "challenger"]
    assert len(chall) == (shadow["arm"] == "champion").sum() and not chall["live"].any()
    # The 50% canary day: about half the tickets saw the challenger's reply.
    canary = store.read("predictions", "2026-03-21")
    share = canary.loc[canary["arm"] == "challenger", "live"].mean()
    assert 0.35 < share < 0.65
    # The rollback on day 24 put version 1 and its prompt back, by alias.
    [rollback] = _events(result, "rolled_back")
    assert (rollback["day"], rollback["from"], rollback["to"]) == (24, "3", "1")
    registry = registry_for(home, WF)
    prompts = PromptStore(registry.tracking_uri)
    history = store.read("pipeline_champions", None)["moves"]
    moves = [(m["from_version"], m["to_version"], m["prompt"]["to"]) for m in history]
    assert moves[:3] == [(None, "1", "1"), ("1", "3", "3"), ("3", "1", "1")]
    # After the last move (the re-deployment) the prompt alias names the champion's prompt.
    champion = registry.version_for_alias("champion")
    held = prompts.load(WF.task.component.prompt_name, release.PROMPT_ALIAS)
    assert held.ref.version == release.prompt_of(registry, champion)
    assert not [e for e in _events(result, "check_failed") if e["check"] == "prompt_alias"]


def test_the_redeployment_on_the_current_knowledge_base_ends_the_stale_index(demo):
    home, result, _, _ = demo
    stale_days = _failed(result, "stage_retrieval")
    # From the upstream change until the re-deployed version (registered day 30, shadow,
    # canary) is promoted at the end of day 32; quiet afterwards.
    assert stale_days == [28, 29, 30, 31, 32]
    registry = registry_for(home, WF)
    champion = registry.version_for_alias("champion")
    tags = registry.version_tags(champion)
    assert champion == "4" and tags[release.TAG + "context_as_of"] == "2026-03-30"
    assert tags[release.TAG + "prompt_version"] == "1"  # the same prompt, a fresh index


def test_the_daily_sample_fills_the_review_list_and_the_command_reads_it(demo, capsys):
    home, result, store, mp = demo
    days = len(store.partitions("hallucination_sample"))
    assert days == 30
    with SampleReviews(reviews_path(home.root, WF.name)) as reviews:
        counts = reviews.counts()
        first = reviews.pending(limit=1).iloc[0]
    assert counts["sampled"] == 30 * days and counts["reviewed"] == 0
    # A person's verdict through the command, counted.
    mp.setenv("AFTERLAUNCH_ACTOR", "desk lead")
    where = ["--home", str(home.root), "--workflow", WF.name]
    mark = ["mark", first["partition"], first["item_id"], "unsupported"]
    assert main(["review-samples", *mark, *where]) == 0
    capsys.readouterr()
    assert main(["review-samples", "counts", "--json", *where]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["reviewed"], out["unsupported"], out["pending"]) == (1, 1, 30 * days - 1)


def test_the_sampled_replies_warn_about_faithfulness_on_the_provider_update_days(demo):
    _, result, store, _ = demo
    warned = sorted(
        e["day"] for e in _events(result, "check_failed") if e["check"] == "sampled_faithfulness"
    )
    assert {14, 15} <= set(warned) and len(warned) <= 4  # a clean day's sample rarely dips
    provider = store.read("hallucination_sample", "2026-03-15")
    clean = store.read("hallucination_sample", "2026-03-13")
    assert provider["mean_faithfulness"] < 0.9 <= clean["mean_faithfulness"]
    assert provider["unsupported"] > clean["unsupported"]


def test_the_command_line_proposes_a_prompt_and_rolls_it_back_by_alias(demo, tmp_path, capsys):
    import shutil

    from orchestration.home import activate, resolve_home

    home, _, _, mp = demo
    shutil.copytree(home.root, tmp_path / "home")
    copy = activate(resolve_home(tmp_path / "home"), WF)
    where = ["--home", str(copy.root), "--workflow", WF.name]
    registry = registry_for(copy, WF)
    champion = registry.version_for_alias("champion")
    # A template without the question cannot serve: refused before anything is registered.
    bad = tmp_path / "bad.txt"
    bad.write_text("Answer kindly using {passages}.")
    before = len(registry.versions())
    assert (
        main(["propose", "--summary", "drop the question", "--prompt-file", str(bad), *where]) == 1
    )
    assert len(registry.versions()) == before
    # The clarified prompt again: registered with its change summary, gated, in shadow.
    template, _ = WF.simulation.prompt("clarified")
    good = tmp_path / "clarified.txt"
    good.write_text(template)
    capsys.readouterr()
    assert (
        main(["propose", "--summary", "clearer wording", "--prompt-file", str(good), *where]) == 0
    )
    out = capsys.readouterr().out
    assert "pipeline_gate: verdict: promote" in out and "rollout started in shadow" in out
    new = registry.version_for_alias("challenger")
    assert registry.version_tags(new)[release.TAG + "change_summary"] == "clearer wording"
    # Rolled back by hand: the champion and its prompt version go back to the one before.
    mp.setenv("AFTERLAUNCH_ACTOR", "support desk lead")
    assert main(["rollback", "--reason", "back to the launch version", "--to", "1", *where]) == 0
    assert registry.version_for_alias("champion") == "1" != champion
    held = PromptStore(registry.tracking_uri).load(WF.task.component.prompt_name, "champion")
    assert held.ref.version == release.prompt_of(registry, "1")


def test_the_readiness_report_names_the_stage_that_fell(demo):
    home, _, _, _ = demo
    folder = home.root / "workflows" / WF.name / "reports" / "readiness"
    broken = (folder / "2026-03-11.md").read_text()  # day 10: the ranking regression
    headline = broken.splitlines()[2]
    assert headline.startswith("**Stages:** ranking ndcg_at_k 0.") and "(>= 0.95)" in headline
    assert "| ranking | ndcg_at_k | champion |" in broken
    clean = (folder / "2026-03-13.md").read_text()
    assert clean.splitlines()[2] == "**Stages:** every stage within its bounds"
    # Every stage has its row, the end-to-end one from the verdicts included.
    stages = {
        line.split(" | ")[0].lstrip("| ") for line in clean.splitlines() if line.startswith("| ")
    }
    assert {s.name for s in WF.task.stages} <= stages


def test_status_shows_the_stage_view_and_model_commands_are_refused_by_name(demo, capsys):
    home, _, _, _ = demo
    where = ["--home", str(home.root), "--workflow", WF.name]
    capsys.readouterr()
    assert main(["status", *where]) == 0
    out = capsys.readouterr().out.splitlines()
    assert (
        out[0] == "reply_suggestions (staged pipeline) on 2026-04-07: every stage within its bounds"
    )
    assert any(line.split()[:2] == ["ranking", "ndcg_at_k"] for line in out[1:])
    # A command of the trained-model path says why it does not apply.
    with pytest.raises(SystemExit, match="no emergency_retraining job: it is a staged pipeline"):
        main(["retrain", "--reason", "try", *where])


def test_the_gate_leaves_out_a_day_whose_snapshot_breaks_its_contract(demo, tmp_path):
    import shutil

    from orchestration.home import activate, resolve_home

    home, _, _, _ = demo
    shutil.copytree(home.root, tmp_path / "home")
    copy = activate(resolve_home(tmp_path / "home"), WF)
    store = SnapshotStore(snapshot_root(copy.root, WF.name))
    newest = store.partitions("raw")[-1]
    broken = store.read("raw", newest)
    broken.loc[0, "language"] = "es"  # outside the contract's closed list
    store.write("raw", newest, broken)
    where = ["--home", str(copy.root), "--workflow", WF.name]
    assert main(["propose", "--summary", "re-deploy", *where]) == 0
    gate = store.read("pipeline_gate", None)
    eval_days = policy_resource(WF, str(copy.root)).load().pipeline.gate.eval_days
    assert newest not in gate["days"] and len(gate["days"]) == eval_days
    assert [s.split(":")[0] for s in gate["skipped_days"]] == [newest]
    assert "breaks its contract" in gate["skipped_days"][0]
