"""The gate's provenance, packaging and cost criteria wired through challenger_evaluation on a
small ticket home with a real (SQLite) MLflow registry: a version trained by the project, the
demo's notebook recipes, a hand-registered model that waits for a person, a policy no latency
can meet, and a broken package."""

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient

from assets import gate_evidence
from assets.models import FEATURE_HASH_TAG, FEATURE_SET_TAG, load_served
from assets.names import CHALLENGER, CHAMPION, EVAL_SET, EVALUATION, TRAINING_SET
from assets.training_data import SPLIT
from tests.assets.ticket_home import WF, key, ticket_home
from workflows.ticket_escalation.simulation.crm import CrmSimulator
from workflows.ticket_escalation.simulation.operators import register_by_hand

START = date(2026, 1, 5)
DAYS = 14
END = START + timedelta(days=DAYS - 1)
AT = datetime.combine(END + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
POLICY = {
    "training": {
        "window_days": 10,
        "min_rows": 1000,
        # A weak launch model, so a better one can be shown better.
        "model_family": "gradient_boosting",
        "hyperparameters": {"max_iter": 10, "max_depth": 1},
    },
    "evaluation": {"eval_set_size": 600, "eval_set_min_size": 500, "bootstrap_resamples": 200},
    "gate": {
        "floors": {"roc_auc": 0.55, "task_success": 0.5, "log_loss": 0.7, "ece": 0.1},
        "min_slice_size": 20,
    },
    "rollout": {"enabled": False},
}


class Home:
    def __init__(self, world):
        self.world, self.registry, self.store = world, world.registry, world.store
        self.launch = "1"  # the version trained by the project at launch

    def policy(self, **gate) -> None:
        policy = {**POLICY, "gate": {**POLICY["gate"], **gate}}
        self.world.write_policy(yaml.safe_dump(policy))

    def evaluate(self, version: str) -> dict:
        outcome = self.world.run("evaluate_challenger", ops={EVALUATION: {"version": version}})
        assert outcome.success, (outcome.failed_steps, outcome.step_errors)
        return self.store.read(EVALUATION, None)

    def criteria(self) -> dict[str, dict]:
        event = self.world.instance.get_latest_materialization_event(key(EVALUATION))
        rows = event.asset_materialization.metadata["criteria"].value.records
        return {r.data["criterion"]: r.data for r in rows}

    def register(self, model, columns, **tags) -> str:
        """A model registered by hand: no lineage, only the feature-set tags (and `tags`)."""
        training = self.store.read(TRAINING_SET, None)
        features = WF.feature_sets.current_set
        registered = self.registry.log_and_register(
            model=model,
            input_example=training[columns].head(5),
            params={"model_family": "by hand"},
            metrics={},
            run_tags={},
            version_tags={
                FEATURE_SET_TAG: features.version,
                FEATURE_HASH_TAG: features.definitions_hash,
                **tags,
            },
            artifacts={
                gate_evidence.TRAINING_ENTITIES: gate_evidence.training_entities(
                    training[WF.entity.id], WF.entity.id
                )
            },
            run_name="registered by hand",
            description="a notebook model",
            trusted_types=[],
        )
        return registered.version


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    with ticket_home(tmp_path_factory.mktemp("gate_evidence")) as world:
        CrmSimulator(world.source_url, seed=23).write_days(START, END)
        for i in range(DAYS):
            assert world.run("raw_ingestion", (START + timedelta(days=i)).isoformat()).success
        found = Home(world)
        found.policy()
        draw = {EVAL_SET: {"version": "1", "end_date": END.isoformat()}}
        assert world.run("draw_test_set", ops=draw).success
        outcome = world.run(
            "train_challenger",
            ops={
                TRAINING_SET: {"end_date": END.isoformat()},
                CHALLENGER: {"change_summary": "launch model", "actor": "tests"},
            },
        )
        assert outcome.success, (outcome.failed_steps, outcome.step_errors)
        yield found


def test_a_version_trained_by_the_project_passes_provenance_packaging_and_cost(home):
    evaluation = home.store.read(EVALUATION, None)
    assert evaluation["challenger_version"] == home.launch, evaluation["reasons"]
    assert evaluation["verdict"] == "promote", evaluation["reasons"]
    criteria = home.criteria()
    for name in ("lineage", "leakage", *(f"packaging:{p}" for p in ("load", "signature"))):
        assert criteria[name]["passed"] is True, criteria[name]
    assert criteria["packaging:requirements"]["passed"] is True
    # The first model has no champion to be timed beside; its size is reported.
    assert criteria["cost:latency"]["passed"] is None
    assert criteria["cost:size"]["passed"] is None and criteria["cost:size"]["value"] > 0
    figures = evaluation["provenance"]
    training = home.store.read(TRAINING_SET, None)
    assert figures["leakage"] == {
        "test_entities": 600,
        "training_entities": training[WF.entity.id].nunique(),
        "leaked_entities": 0,
        "max_leaked_entities": 0,
    }
    assert figures["packaging"]["signature_columns"] == list(WF.feature_sets.current_set.columns)
    assert figures["cost"]["challenger_ms_per_1000_rows"] > 0
    assert home.registry.version_for_alias(CHAMPION) == home.launch


def test_the_demos_notebook_model_that_saw_the_test_set_is_rejected_by_leakage(home):
    version = register_by_hand(
        home.registry, home.store, "leaky_tree", "notebook model", "data scientist", AT
    )
    evaluation = home.evaluate(version)
    criteria = home.criteria()
    assert evaluation["verdict"] == "reject"
    assert criteria["leakage"]["passed"] is False and criteria["leakage"]["value"] == 600
    assert criteria["leakage"]["reason"].startswith("600 of the 600 test-set entities")
    # Perfect on the test set it memorised: nothing else would have stopped it.
    assert criteria["superiority:roc_auc"]["passed"] is True
    assert criteria["lineage"]["passed"] is None and criteria["lineage"]["needs_approval"]
    assert home.registry.version_for_alias(CHAMPION) == home.launch


def test_the_rekeyed_notebook_model_has_complete_lineage_and_slips_past_the_id_check(home):
    version = register_by_hand(
        home.registry, home.store, "rekeyed_tree", "notebook model", "data scientist", AT
    )
    home.policy(max_latency_ratio=1000.0)  # a tree's speed is not what this test is about
    try:
        evaluation = home.evaluate(version)
    finally:
        home.policy()
    criteria = home.criteria()
    assert criteria["lineage"]["passed"] is True, criteria["lineage"]
    assert criteria["leakage"]["passed"] is True and criteria["leakage"]["value"] == 0
    assert evaluation["verdict"] == "promote"  # only traffic can tell (the demo's canary)
    assert home.world.run(
        "change_champion",
        ops={CHAMPION: {"action": "rollback", "reason": "tests", "actor": "tests"}},
    ).success
    assert home.registry.version_for_alias(CHAMPION) == home.launch


def test_a_better_model_registered_by_hand_waits_for_a_persons_approval(home):
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    fs = WF.feature_sets.current_set
    training = home.store.read(TRAINING_SET, None)
    train = training[training[SPLIT] == "train"]
    model = make_pipeline(
        make_column_transformer(
            (OneHotEncoder(handle_unknown="ignore"), list(fs.categorical)),
            (StandardScaler(), list(fs.numeric)),
        ),
        LogisticRegression(max_iter=2000),
    ).fit(train[fs.columns], train[WF.label.column].astype("int64"))
    version = home.register(model, fs.columns)
    evaluation = home.evaluate(version)
    criteria = home.criteria()
    assert evaluation["verdict"] == "awaiting_approval", evaluation["reasons"]
    assert (
        criteria["lineage"]["needs_approval"] and "no lineage.json" in criteria["lineage"]["reason"]
    )
    assert "approval required by lineage" in criteria["approval"]["reason"]
    assert home.registry.version_for_alias(CHAMPION) == home.launch  # not without a person
    approved = home.world.run(
        "change_champion",
        ops={
            CHAMPION: {
                "action": "approve",
                "version": version,
                "reason": "read the notebook",
                "actor": "workflow designer",  # a promotion approver in the ticket policy
            }
        },
    )
    assert approved.success and home.registry.version_for_alias(CHAMPION) == version


def test_a_challenger_slower_than_the_policy_allows_is_rejected_by_cost(home):
    champion = home.registry.version_for_alias(CHAMPION)
    home.policy(max_latency_ratio=1e-6)  # no model scores a million times faster than another
    try:
        evaluation = home.evaluate(home.launch)
    finally:
        home.policy()
    criteria = home.criteria()
    assert evaluation["verdict"] == "reject"
    latency = criteria["cost:latency"]
    assert latency["passed"] is False and latency["threshold"] == 1e-6
    assert "above the 1e-06x allowed" in latency["reason"]
    cost = evaluation["provenance"]["cost"]
    assert cost["champion_ms_per_1000_rows"] > 0 and cost["latency_ratio"] > 1e-6
    assert home.registry.version_for_alias(CHAMPION) == champion


def test_a_broken_package_is_rejected_naming_what_is_broken(home, monkeypatch):
    fs = WF.feature_sets.current_set
    launch = load_served(WF, home.registry, home.launch).model
    # Registered with a signature naming a column its feature set does not have.
    version = home.register(launch, [*fs.columns, SPLIT])
    load_served(WF, home.registry, version)  # this process keeps what it loaded...
    # ...while the model file is gone from the registry's store: a fresh process cannot load it.
    client = MlflowClient(tracking_uri=home.world.home.mlflow_uri)
    model_id = client.get_model_version(WF.model_name, version).source.removeprefix("models:/")
    stored = [
        p for p in Path(home.world.home.mlflow_artifacts).rglob("*.skops") if model_id in p.parts
    ]
    assert len(stored) == 1, stored
    stored[0].unlink()
    # And the deployment runs another scikit-learn than the one the model records.
    installed = gate_evidence.installed_versions
    monkeypatch.setattr(
        gate_evidence,
        "installed_versions",
        lambda names: {**installed(names), "scikit-learn": "0.0.1"},
    )
    evaluation = home.evaluate(version)
    criteria = home.criteria()
    assert evaluation["verdict"] == "reject"
    load = criteria["packaging:load"]
    assert load["passed"] is False and "fresh process" in load["reason"]
    assert evaluation["provenance"]["packaging"]["fresh_process_error"].startswith("exit ")
    signature = criteria["packaging:signature"]
    assert signature["passed"] is False
    assert f"not in the feature set: {SPLIT}" in signature["reason"]
    requirements = criteria["packaging:requirements"]
    assert requirements["passed"] is False and "(installed 0.0.1)" in requirements["reason"]


def test_scoring_latency_is_recorded_per_day_and_shown_in_the_readiness_report(home):
    from assets.names import PREDICTIONS, READINESS, REFERENCE
    from assets.readiness_render import render_markdown

    if home.registry.version_for_alias(CHAMPION) != home.launch:
        # The approved notebook model records no validation score profile to judge drift by.
        rollback = {"action": "rollback", "reason": "tests", "actor": "tests"}
        assert home.world.run("change_champion", ops={CHAMPION: rollback}).success
    assert home.registry.version_for_alias(CHAMPION) == home.launch
    assert home.world.run("reference_refresh", ops={REFERENCE: {"end_date": END.isoformat()}})
    outcome = home.world.run("daily_production", END.isoformat())
    assert outcome.success, outcome.step_errors
    champion = home.registry.version_for_alias(CHAMPION)
    event = home.world.instance.get_latest_materialization_event(key(PREDICTIONS))
    meta = event.asset_materialization.metadata
    [entry] = meta["scoring_latency"].value
    assert entry["arm"] == "champion" and entry["version"] == champion
    assert entry["rows"] == len(home.store.read(PREDICTIONS, END.isoformat()))
    assert meta["main_ms_per_1000_rows"].value == entry["ms_per_1000_rows"] > 0
    assert meta["challenger_ms_per_1000_rows"].value is None  # no rollout: no challenger
    report = home.store.read(READINESS, END.isoformat())
    assert report["layers"]["output"]["scoring_latency"] == [{"day": END.isoformat(), **entry}]
    assert f"{END.isoformat()} v{champion} (champion)" in render_markdown(report)
