"""The closed loop end to end on a shortened scenario: real Dagster runs on a SQLite instance,
a real MLflow store, the project's own schedules and sensors ticked on simulated days, alerts
posted to a real local webhook. One run of the demo; several tests read what it recorded."""

import json
from datetime import UTC, datetime, time, timedelta

import numpy as np
import pandas as pd
import pytest
from dagster import DagsterInstance
from sklearn.dummy import DummyClassifier

from assets.evaluation import find_evaluation
from assets.models import FEATURE_HASH_TAG, FEATURE_SET_TAG
from assets.training_data import SPLIT
from orchestration.catalog import definitions
from orchestration.simulated_daemon import SimulatedDaemon
from resources.registry import ModelRegistry
from resources.snapshots import SnapshotStore, snapshot_root
from tests.support.demo_home import copied_home
from workflows.ticket_escalation.workflow import WORKFLOW as WF

INTENDED = {
    "volume_drop": "raw_volume",
    "covariate_shift": "drift",
    "schema_change": "raw_contract",
    # The support assistant's: each caught by the agent check meant for it.
    "agent_loop": "action_burst",
    "tool_outage": "tool_error_rate",
    "unapproved_action": "irreversible_approved",
}


@pytest.fixture(scope="module")
def demo(loop_demo):
    """The session's loop demo (`tests.support.loop_scenario`), shared with other files: a
    test that changes the home works on a copy."""
    return loop_demo.home, loop_demo.result, loop_demo.document, loop_demo.mp


@pytest.fixture
def own_copy(loop_demo, tmp_path):
    home = copied_home(loop_demo, tmp_path, WF)
    return home, loop_demo.result


def test_each_incident_is_caught_on_its_day_by_the_intended_check(demo):
    _, _, document, _ = demo
    found = {i["incident"]: i for i in document["summary"]["incidents"]}
    for kind, check in INTENDED.items():
        assert found[kind]["detected_day"] == found[kind]["day"], found[kind]
        assert check in found[kind]["detected_by"], found[kind]
    # Only the labels (the weekly evaluation, once a week of labels of the new world is in:
    # labels lag up to five days) or the agents' overrides reveal a concept drift; here the
    # launch is too recent for the overrides to have a band yet.
    drift = found["concept_drift"]
    assert drift["detected_by"] == ["weekly_task_success"]
    assert drift["day"] < drift["detected_day"] <= drift["day"] + 16


def test_the_upstream_rename_blocks_until_mapped_then_the_blocked_days_are_rebuilt(demo):
    home, _, document, _ = demo
    events = document["events"]
    # The rename persists from day 16 to the end; only the days before the mapping are blocked.
    blocked = {
        e["partition"]
        for e in events
        if e["kind"] == "check_failed" and e["check"] == "raw_contract" and e["level"] == "error"
    }
    assert blocked == {"2026-01-16", "2026-01-17"}
    [mapped] = [e for e in events if e["kind"] == "schema_mapped"]
    assert (mapped["day"], mapped["version"], mapped["effective_from"]) == (18, 2, "2026-01-16")
    assert mapped["rules"] == "msg_len -> message_length"
    [backfilled] = [e for e in events if e["kind"] == "schema_backfilled"]
    assert backfilled["partitions"] == backfilled["rebuilt"] == ["2026-01-16", "2026-01-17"]
    store = SnapshotStore(snapshot_root(home.root, WF.name))
    for day in ("2026-01-16", "2026-01-17", "2026-01-20"):
        assert "message_length" in store.read("raw", day).columns
    # The rebuilt days have what a clean day after the mapping has (features; predictions
    # whenever a model or the rules served that day).
    for asset in ("features", "predictions"):
        built = set(store.partitions(asset))
        assert "2026-01-20" not in built or {"2026-01-16", "2026-01-17"} <= built, asset
    assert {"2026-01-16", "2026-01-17"} <= set(store.partitions("features"))
    # What the source sent on a blocked day is kept beside the mapped rows.
    versions = store.versions("raw", "2026-01-16")
    assert len({v["content_hash"] for v in versions}) == 2
    assert "msg_len" in store.read("raw", "2026-01-16", versions[0]["content_hash"]).columns


def test_one_retraining_per_incident_not_per_tick(demo):
    _, _, document, _ = demo
    found = {i["incident"]: i for i in document["summary"]["incidents"]}
    assert found["covariate_shift"]["retrainings"] == 1  # three drifted days, one request
    assert found["concept_drift"]["retrainings"] == 1
    requested = [e for e in document["events"] if e["kind"] == "retraining_requested"]
    assert {e["trigger"] for e in requested} >= {"drift", "performance"}


def test_the_better_model_after_the_concept_drift_is_promoted(demo):
    _, _, document, _ = demo
    events = document["events"]
    [performance] = [
        e for e in events if e["kind"] == "retraining_requested" and e["trigger"] == "performance"
    ]
    registered = [
        e for e in events if e["kind"] == "model_registered" and e["trigger"] == "performance"
    ]
    assert len(registered) == 1
    version = registered[0]["version"]
    [evaluated] = [
        e for e in events if e["kind"] == "challenger_evaluated" and e["version"] == version
    ]
    assert evaluated["decision"] == "promote" and evaluated["test_set_version"] == "2"
    promoted = [e for e in events if e["kind"] == "promoted"]
    assert [e["version"] for e in promoted] == ["1", version]
    assert promoted[-1]["day"] >= performance["day"]
    # Not on the test set alone: shadow, the canary's schedule, then the proof on traffic.
    steps = [e for e in events if e["kind"] == "rollout_step" and e["version"] == version]
    assert [(e["action"], e["state"], e["fraction"]) for e in steps] == [
        ("start", "shadow", 0.0),
        ("advance", "canary", 0.5),
        ("advance", "canary", 1.0),
        ("complete", "promoted", 0.0),
    ]
    assert "on the same" in steps[-1]["reason"] and "lies above 0" in steps[-1]["reason"]
    assert steps[-1]["day"] == promoted[-1]["day"]


def _by_hand(events: list[dict]) -> tuple[dict, dict]:
    leaky, rekeyed = [
        e for e in events if e["kind"] == "model_registered" and e["trigger"] == "by hand"
    ]
    return leaky, rekeyed


def test_the_notebook_model_that_saw_the_test_set_is_rejected_at_the_gate_by_leakage(demo):
    home, _, document, _ = demo
    events = document["events"]
    leaky, _ = _by_hand(events)
    [verdict] = [
        e
        for e in events
        if e["kind"] == "challenger_evaluated" and e["version"] == leaky["version"]
    ]
    assert verdict["decision"] == "reject" and "leakage" in verdict["reasons"], verdict
    store = SnapshotStore(snapshot_root(home.root, WF.name))
    leakage = find_evaluation(store, leaky["version"])["provenance"]["leakage"]
    # Every test-set ticket was in the export it was fitted on, and the gate says how many.
    assert leakage["leaked_entities"] == leakage["test_entities"] > 0
    assert not [
        e for e in events if e["kind"] == "rollout_step" and e["version"] == leaky["version"]
    ]


def test_a_notebook_model_the_gate_cannot_see_through_passes_and_the_canary_rolls_it_back(demo):
    home, _, document, _ = demo
    events = document["events"]
    _, hand = _by_hand(events)
    [verdict] = [
        e for e in events if e["kind"] == "challenger_evaluated" and e["version"] == hand["version"]
    ]
    # Perfect on the test set it memorised under other ids, with complete lineage.
    assert verdict["decision"] == "promote", verdict
    store = SnapshotStore(snapshot_root(home.root, WF.name))
    evaluation = find_evaluation(store, hand["version"])
    assert evaluation["provenance"]["leakage"]["leaked_entities"] == 0
    assert evaluation["provenance"]["lineage"]["problems"] == []
    steps = [e for e in events if e["kind"] == "rollout_step" and e["version"] == hand["version"]]
    assert steps[0]["state"] == "shadow" and steps[-1]["state"] == "rolled_back"
    assert steps[-2]["state"] == "canary" and steps[-2]["fraction"] > 0  # it served a canary
    assert steps[-1]["actor"] == "rollout" and "roll back" in steps[-1]["reason"]
    # The canary served real tickets with the hand-registered version, recorded per row.
    served = pd.concat(store.read("predictions", d) for d in store.partitions("predictions"))
    canary = served[served["arm"] == "canary"]
    assert hand["version"] in set(canary["model_version"])
    assert hand["version"] not in {e["version"] for e in events if e["kind"] == "promoted"}
    assert document["summary"]["rollouts"][0]["outcome"] == "rolled_back"


def test_no_error_check_on_a_day_without_an_incident(demo):
    _, _, document, _ = demo
    assert document["summary"]["clean_day_errors"] == 0, document["summary"]


def test_every_error_alert_reached_the_webhook_and_predictions_name_their_version(demo):
    home, _, document, _ = demo
    received = [
        json.loads(line)
        for line in (home.reports / "webhook_received.jsonl").read_text().splitlines()
    ]
    sent = [e for e in document["events"] if e["kind"] == "alert_sent"]
    assert sent and all(e["attempts"] >= 1 for e in sent)
    texts = "\n".join(m["text"] for m in received)
    assert "ticket_escalation/raw.raw_volume" in texts
    assert "ticket_escalation/profiles.drift" in texts
    store = SnapshotStore(snapshot_root(home.root, WF.name))
    days = store.partitions("predictions")
    first, last = store.read("predictions", days[0]), store.read("predictions", days[-1])
    assert set(first["model_version"]) == {"1"}
    promoted = [e["version"] for e in document["events"] if e["kind"] == "promoted"]
    assert set(last["model_version"]) == {promoted[-1]}


def test_a_worse_model_registered_by_hand_is_evaluated_and_rejected(own_copy):
    home, result = own_copy
    registry = ModelRegistry(
        tracking_uri=home.mlflow_uri,
        artifact_root=home.mlflow_artifacts,
        model_name=WF.model_name,
        experiment_name=f"afterlaunch-{WF.name}",
    )
    store = SnapshotStore(snapshot_root(home.root, WF.name))
    training = store.read("training_set", None)
    features = WF.feature_sets.current_set
    columns, label = features.columns, WF.label.column
    # A model that ignores every feature: its ROC AUC is 0.5, far below the floor.
    worse = DummyClassifier(strategy="prior").fit(
        training.loc[training[SPLIT] == "train", columns],
        training.loc[training[SPLIT] == "train", label],
    )
    registered = registry.log_and_register(
        model=worse,
        input_example=training[columns].head(5),
        params={"model_family": "dummy"},
        metrics={"validation_rows": float(np.sum(training[SPLIT] == "validation"))},
        run_tags={},
        # Trained on the workflow's feature set, and says so: the evaluation computes it.
        version_tags={
            FEATURE_SET_TAG: features.version,
            FEATURE_HASH_TAG: features.definitions_hash,
        },
        artifacts={},
        run_name="registered by hand",
        description="a data scientist's shortcut",
        trusted_types=["sklearn.dummy.DummyClassifier"],
    )
    registry.move_alias("challenger", registered.version, actor="someone", reason="try this")
    champion_before = registry.version_for_alias("champion")
    after = datetime.combine(result.scenario.end + timedelta(days=1), time(9), tzinfo=UTC)
    instance = DagsterInstance.from_config(str(home.dagster_home))
    daemon = SimulatedDaemon(definitions(WF), instance, started=after, workflow=WF.name)
    report = daemon.tick(after)
    [run] = [r for r in report.runs if r.job == "evaluate_challenger"]
    verdict = run.materialized["challenger_evaluation"]
    assert verdict["challenger_version"] == registered.version
    assert verdict["verdict"] == "reject" and "floor:roc_auc" in verdict["summary"]
    assert registry.version_for_alias("champion") == champion_before


def test_status_answers_the_five_questions_each_from_its_assets(demo, capsys):
    from orchestration.cli import main

    home, result, document, _ = demo
    assert main(["status", "--json", "--home", str(home.root), "--workflow", WF.name]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["workflow"] == WF.name
    assert status["asset"] == f"{WF.name}/readiness_report"
    assert status["partition"] == result.scenario.end.isoformat()  # refreshed every day
    questions = status["questions"]
    assert len(questions) == 5
    for q in questions:
        assert q["answer"] and q["source"] and q["status"] in ("ok", "warn", "fail", "unknown")
    task, pipeline, adoption, business, currency = questions
    assert {
        f"{WF.name}/predictions",
        f"{WF.name}/labels",
        f"{WF.name}/baseline_metrics",
    } <= set(task["source"])
    # After the post-drift model's promotion the week's labelled task success is back near
    # the baseline re-recorded on test set v2, and the label-free estimate is close to it.
    assert abs(task["this_week"] - task["label_free_estimate"]) < 0.05
    assert pipeline["schema_errors_30d"]  # the schema change of day 16 is in the window
    assert adoption["adoption_this_week"] is not None
    assert adoption["source"] == [f"{WF.name}/feedback"]
    assert business["kpi"] == WF.feedback.kpi_name and business["kpi_pre_deployment"] > 0
    promoted = [e["version"] for e in document["events"] if e["kind"] == "promoted"]
    assert currency["served"] == [promoted[-1]] and currency["status"] == "ok"
    html = home.workflow_root(WF.name) / "reports" / "readiness.html"
    assert html.read_text().startswith("<!doctype html>")


def test_status_without_a_workflow_lists_every_shipped_workflow_on_one_screen(demo, capsys):
    from orchestration.catalog import DEFAULT_ENV
    from orchestration.cli import main

    home, result, _, mp = demo
    mp.delenv(DEFAULT_ENV, raising=False)
    assert main(["status", "--home", str(home.root)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("3 workflows")
    ticket = next(i for i, line in enumerate(out) if line.startswith(f"{WF.name}: "))
    assert f"on {result.scenario.end.isoformat()}" in out[ticket]
    assert [line.strip()[:2] for line in out[ticket + 1 : ticket + 11 : 2]] == [
        "1.",
        "2.",
        "3.",
        "4.",
        "5.",
    ]
    screen = "\n".join(out)
    assert "rainfall: no readiness report yet" in screen  # nothing ran for it here
    assert "reply_suggestions: no readiness report yet" in screen
    assert main(["status", "--home", str(home.root), "--json"]) == 0
    documents = json.loads(capsys.readouterr().out)["workflows"]
    assert {d["workflow"] for d in documents} == {WF.name, "rainfall", "reply_suggestions"}
    by_name = {d["workflow"]: d for d in documents}
    assert len(by_name[WF.name]["questions"]) == 5 and by_name["rainfall"]["partition"] is None


# --- `afterlaunch explain` and `afterlaunch diff`, each answer checked against its records ---


def _registry(home) -> ModelRegistry:
    return ModelRegistry(
        tracking_uri=home.mlflow_uri,
        artifact_root=home.mlflow_artifacts,
        model_name=WF.model_name,
        experiment_name=f"afterlaunch-{WF.name}",
    )


def _cli_json(capsys, *argv) -> tuple[int, dict | str]:
    from orchestration.cli import main

    code = main([*argv, "--workflow", WF.name])
    out = capsys.readouterr().out
    return code, (json.loads(out) if code == 0 and "--json" in argv else out)


def _served_rows(store: SnapshotStore) -> pd.DataFrame:
    return pd.concat(
        (
            store.read("predictions", d).assign(_partition=d)
            for d in store.partitions("predictions")
        ),
        ignore_index=True,
    )


def _check_against_records(home, store, doc, row, partition):
    """What every explain answer must agree with: the predictions row, the raw snapshot row,
    the check evaluations of that partition."""
    from orchestration.explain import partition_checks

    assert doc["partition"] == partition and doc["entity_id"] == row[WF.entity.id]
    served, out = doc["served"], doc["output"]
    assert served["arm"] == row["arm"] and served["model_version"] == row["model_version"]
    assert out["score"] == pytest.approx(row["score"], abs=1e-12)
    assert out["decision"] == bool(row["decision"])
    # The raw inputs are the stored snapshot's row, field by field.
    raw = store.read("raw", partition, doc["raw"]["snapshot"])
    [raw_row] = raw[raw[WF.entity.id].astype("str") == row[WF.entity.id]].to_dict("records")
    assert set(doc["raw"]["row"]) == set(raw_row)
    for column, value in raw_row.items():
        if isinstance(value, pd.Timestamp):
            value = value.isoformat()
        elif value is pd.NA or (isinstance(value, float) and np.isnan(value)):
            value = None
        assert doc["raw"]["row"][column] == value, column
    # The checks of that partition, as the Dagster event log holds them.
    instance = DagsterInstance.from_config(str(home.dagster_home))
    recorded = partition_checks(instance, WF, partition, ["raw", "features", "predictions"])
    assert [(c["check"], c["passed"]) for c in doc["checks"]] == [
        (c["check"], c["passed"]) for c in recorded
    ]
    assert {"raw_contract", "raw_volume", "prediction_drift"} <= {c["check"] for c in doc["checks"]}


def test_explain_answers_for_tickets_served_by_the_canary_arm_from_their_records(demo, capsys):
    from assets.models import load_served
    from resources.packages import installed_packages

    home, _, document, _ = demo
    store = SnapshotStore(snapshot_root(home.root, WF.name))
    registry = _registry(home)
    served = _served_rows(store)
    canary = served[served["arm"] == "canary"]
    assert len(canary), "no row was served by a canary arm"
    engine_trained = {
        e["version"]
        for e in document["events"]
        if e["kind"] == "model_registered" and e["trigger"] != "by hand"
    }
    moved_any = False
    # One ticket per version that served a canary: the hand-registered one and the retrained one.
    for version, rows in canary.groupby("model_version"):
        row = rows.iloc[len(rows) // 2].to_dict()
        partition = row["_partition"]
        code, doc = _cli_json(
            capsys,
            "explain",
            row[WF.entity.id],
            "--date",
            partition,
            "--json",
            "--home",
            str(home.root),
        )
        assert code == 0, doc
        _check_against_records(home, store, doc, row, partition)
        rollout = doc["served"]["rollout"]
        assert rollout["id"] == row["rollout_id"] and rollout["version"] == version
        assert rollout["state"] == "canary" and rollout["fraction"] > 0
        assert "canary arm" in doc["served"]["why"]
        steps = [
            e
            for e in document["events"]
            if e["kind"] == "rollout_step" and e["version"] == version and e["state"] == "canary"
        ]
        assert rollout["fraction"] in {e["fraction"] for e in steps}
        assert doc["output"]["champion_score"] == pytest.approx(row["champion_score"], abs=1e-12)
        assert doc["output"]["matches_stored"] is True
        # The features as this version's own feature set computes them from the raw row.
        model = load_served(WF, registry, version)
        raw = store.read("raw", partition, doc["raw"]["snapshot"])
        features = model.features(raw[raw[WF.entity.id].astype("str") == row[WF.entity.id]])
        assert doc["features"]["feature_set"] == model.feature_set.version
        assert list(doc["features"]["values"]) == model.feature_set.columns
        # The attribution: every feature once, largest first, each number re-derivable.
        attribution = doc["attribution"]["features"]
        assert sorted(a["feature"] for a in attribution) == sorted(model.feature_set.columns)
        changes = [abs(a["change"]) for a in attribution]
        assert changes == sorted(changes, reverse=True)
        top = attribution[0]
        moved = features.reset_index(drop=True).copy()
        moved[top["feature"]] = [top["reference"]]
        assert WF.task.predict(model.model, moved)[0] == pytest.approx(
            top["output_with_reference"], abs=1e-12
        )
        # The lineage is the registry's.
        tags = registry.version_tags(version)
        lineage = doc["lineage"]
        assert lineage["tags"] == {
            k: v for k, v in tags.items() if k.startswith(("lineage.", "code.", "feature_set."))
        }
        if "lineage.manifest_sha256" in tags:
            manifest = registry.load_artifact_json(version, "lineage.json")
            assert lineage["complete"] and lineage["training_window"] == manifest["training_window"]
            assert lineage["code"] == manifest["code"]
            assert lineage["packages"] == manifest.get("packages")
            if version in engine_trained:
                assert lineage["packages"] == installed_packages()  # trained in this process
            # Reference values from its own training rows while that snapshot is stored; a
            # lineage naming rows the store never held (a notebook's export) says so.
            stored = {e["content_hash"] for e in store.versions("training_set", None)}
            reference_from = doc["attribution"]["reference_from"]
            if manifest["training_set_sha256"] in stored:
                assert "training rows" in reference_from
            else:
                assert "evaluation test set" in reference_from
                assert (
                    f"{manifest['training_set_sha256'][:12]} is no longer stored" in reference_from
                )
            moved_any |= changes[0] > 0
        else:  # registered by hand from a notebook: it says so
            assert not lineage["complete"] and "registered by hand" in lineage["missing"]
            assert "evaluation test set" in doc["attribution"]["reference_from"]
    # A logistic model: any feature off its reference value moves the output.
    assert moved_any or not engine_trained & set(canary["model_version"])
    # And in words, for a person.
    code, text = _cli_json(
        capsys, "explain", row[WF.entity.id], "--date", partition, "--home", str(home.root)
    )
    assert code == 0 and "arm canary" in text and "what moved this output most" in text


def test_explain_answers_for_a_ticket_the_rules_served_while_the_model_was_off(demo, capsys):
    home, _, document, _ = demo
    store = SnapshotStore(snapshot_root(home.root, WF.name))
    [off] = [e for e in document["events"] if e["kind"] == "flag_changed" and e["state"] == "off"]
    served = _served_rows(store)
    rules = served[served["arm"] == "flag_off"]
    assert len(rules) and set(rules["model_version"]) == {"rules"}
    row = rules.iloc[0].to_dict()
    code, doc = _cli_json(capsys, "explain", row[WF.entity.id], "--json", "--home", str(home.root))
    assert code == 0, doc
    _check_against_records(home, store, doc, row, row["_partition"])
    assert doc["served"]["flag"]["state"] == "off"
    assert doc["served"]["flag"]["reason"] == off["reason"]
    assert doc["served"]["predictions_run"]["flag"] == "off"
    assert "switched off" in doc["served"]["why"]
    fallback = doc["fallback"]
    assert fallback["description"] == WF.fallback.description
    assert fallback["output_recomputed"] == pytest.approx(row["score"], abs=1e-12)
    assert fallback["matches_stored"] is True
    assert doc["attribution"] is None and doc["features"] is None
    code, text = _cli_json(capsys, "explain", row[WF.entity.id], "--home", str(home.root))
    assert code == 0 and WF.fallback.description in text and "no feature attribution" in text


@pytest.mark.bad_input
def test_explain_says_why_a_row_cannot_be_explained(demo, capsys):
    home, _, document, _ = demo
    store = SnapshotStore(snapshot_root(home.root, WF.name))
    code, text = _cli_json(capsys, "explain", "T-NEVER-SEEN", "--home", str(home.root))
    assert code == 1 and "was never scored" in text and "Traceback" not in text
    # A ticket of a partition an ERROR check blocked: in the raw snapshot, never scored. The
    # newest evaluation of each raw check per partition, read from the event log.
    from assets.check_history import evaluations
    from orchestration.catalog import definitions

    blocked = sorted(set(store.partitions("raw")) - set(store.partitions("predictions")))
    instance = DagsterInstance.from_config(str(home.dagster_home))
    keys = [
        k
        for k in definitions(WF).resolve_asset_graph().asset_check_keys
        if k.asset_key == WF.key("raw")
    ]
    newest = {}
    for e in evaluations(instance, keys):  # oldest first
        newest[(e.partition, e.check)] = e
    failed = {(p, c): e for (p, c), e in newest.items() if p in blocked and e.level == "error"}
    assert failed, blocked
    (day, check), _ = sorted(failed.items())[-1]
    ticket = str(store.read("raw", day)[WF.entity.id].iloc[0])
    code, text = _cli_json(capsys, "explain", ticket, "--home", str(home.root))
    assert code == 1 and "never scored" in text and f"raw.{check} ERROR on {day}" in text
    # A scored ticket whose raw snapshot is gone from the store.
    row = _served_rows(store).iloc[0].to_dict()
    folder = store.root / "raw" / row["_partition"]
    aside = folder.with_name(folder.name + ".aside")
    folder.rename(aside)
    try:
        code, text = _cli_json(capsys, "explain", row[WF.entity.id], "--home", str(home.root))
    finally:
        aside.rename(folder)
    assert code == 1 and "gone from the snapshot store" in text and "Traceback" not in text


def test_diff_shows_what_the_concept_drift_retraining_changed(demo, capsys):
    import difflib

    from assets.evaluation import find_evaluation

    home, _, document, _ = demo
    store = SnapshotStore(snapshot_root(home.root, WF.name))
    registry = _registry(home)
    [retrained] = [
        e["version"]
        for e in document["events"]
        if e["kind"] == "model_registered" and e["trigger"] == "performance"
    ]
    first = [e["version"] for e in document["events"] if e["kind"] == "promoted"][0]
    code, doc = _cli_json(capsys, "diff", first, retrained, "--json", "--home", str(home.root))
    assert code == 0, doc
    sections = {s["name"]: s for s in doc["sections"]}
    rows = {name: {r["field"]: r for r in s["rows"]} for name, s in sections.items()}
    a, b = (registry.load_artifact_json(v, "lineage.json") for v in (first, retrained))
    for key in ("first_day", "last_day", "labels_until"):
        row = rows["training data"][f"window {key}"]
        assert (row["a"], row["b"]) == (a["training_window"][key], b["training_window"][key])
    # The retraining saw a newer window, other rows and other data.
    assert "window labels_until" in sections["training data"]["changed"]
    assert rows["training data"]["training set sha256"]["b"] == b["training_set_sha256"]
    assert rows["training data"]["training set sha256"]["changed"]
    assert rows["training data"]["raw snapshot partitions"]["b"] == len(b["raw_snapshots"])
    assert rows["feature set"]["feature set version"]["b"] == b["feature_set"]["version"]
    assert sections["feature set"]["text_diff"] == list(
        difflib.unified_diff(
            a["feature_set"]["source"].splitlines(),
            b["feature_set"]["source"].splitlines(),
            fromfile=f"version {first} feature set v{a['feature_set']['version']}",
            tofile=f"version {retrained} feature set v{b['feature_set']['version']}",
            lineterm="",
        )
    )
    assert rows["model"]["family"]["b"] == b["model"]["family"]
    assert rows["code and packages"]["code git_commit"]["b"] == b["code"]["git_commit"]
    assert any("at the same version" in n for n in sections["code and packages"]["notes"])
    # Every gate metric with its interval, as the stored evaluations recorded them.
    for version, side_ in ((first, "a"), (retrained, "b")):
        evaluation = find_evaluation(store, version)
        for metric, e in evaluation["metrics"].items():
            shown = rows["gate"][f"metric {metric}"][side_]
            if e["value"] is not None:
                assert shown.startswith(f"{e['value']:.4f}"), (metric, shown)
    assert (
        rows["gate"]["judged against champion"]["b"]
        == find_evaluation(store, retrained)["champion_version"]
    )
    assert rows["slices"]  # judged against a champion: every slice has the gate's sentence
    tags = registry.version_tags(retrained)
    assert rows["registration"]["change summary"]["b"] == tags["change_summary"]
    assert rows["registration"]["trigger"]["b"] == "performance"
    assert "@challenger" in rows["registration"]["alias moves"]["b"]
    champions = [
        store.read("champion", None, e["content_hash"]) for e in store.versions("champion", None)
    ]
    if any(str(c["version"]) == retrained for c in champions):
        assert "promote" in rows["registration"]["champion changes"]["b"]
    else:
        assert rows["registration"]["champion changes"]["b"] is None
    # --launch: the first champion against today's.
    code, launch = _cli_json(capsys, "diff", "--launch", "--json", "--home", str(home.root))
    assert code == 0 and (launch["a"], launch["b"]) == (
        first,
        registry.version_for_alias("champion"),
    )
    # The hand-registered version has no lineage: every section says so instead of guessing.
    hand = next(
        e["version"]
        for e in document["events"]
        if e["kind"] == "model_registered" and e["trigger"] == "by hand"
    )
    code, text = _cli_json(capsys, "diff", first, hand, "--home", str(home.root))
    assert code == 0 and text.count(f"version {hand} records no lineage") >= 4
    code, text = _cli_json(capsys, "diff", first, "999", "--home", str(home.root))
    assert code == 1 and "not registered" in text
