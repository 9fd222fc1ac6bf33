"""Who may say yes to a promotion, and who is recorded as acting.

The real `change_champion` job and command line on one ticket home, as a story in file order:
the ticket policy lists `approvers.promotion: ["workflow designer", "support operations lead"]`.
The one who registered a version (its `registered_by` tag, or the actor the training asset
recorded on the @challenger move) cannot approve its promotion; nor can anyone outside the
list. A refusal names who may approve and writes nothing. With no `--actor`, the person is
`$AFTERLAUNCH_ACTOR`, recorded on the approval, the promotion, the rollback and the flag flip.

As in test_enforced_decisions, versions carry tags but no model, and the gate's verdicts are
written into the snapshot store in the shape `challenger_evaluation` records them.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest
from dagster import AssetMaterialization, MetadataValue
from mlflow import MlflowClient

from assets.evaluation import VERSION_COLUMN
from assets.evaluation import test_set_identity as identity_of
from assets.names import CHALLENGER, CHAMPION, EVAL_SET, EVALUATION
from assets.serving import current_flag
from orchestration.cli import main
from resources.approvals import ACTOR_ENV, ApprovalStore, approvals_path
from resources.clock import SIMULATED_NOW
from resources.storage import HomeStorage
from tests.assets.ticket_home import WF, key, ticket_home

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DESIGNER, LEAD = "workflow designer", "support operations lead"
# Version 2 was registered by hand by the operations lead; 3 was trained on the designer's run.
REGISTERED_BY = {"2": LEAD}
TRAINED_BY = {"3": DESIGNER}


class Home:
    def __init__(self, world):
        self.world, self.store, self.registry = world, world.store, world.registry
        self.storage = HomeStorage(home=str(world.root), workflow=WF.name)
        frame = pd.DataFrame({VERSION_COLUMN: ["1"] * 8, "ticket_id": range(8)})
        self.store.write(EVAL_SET, None, frame)
        self.test_set = identity_of(frame)

    def judge(self, version: str, verdict: str, against: str | None) -> None:
        self.store.write(
            EVALUATION,
            None,
            {
                "challenger_version": version,
                "champion_version": against,
                "verdict": verdict,
                "promote": verdict == "promote",
                "reasons": [f"the test says {verdict}"],
                "metrics": {"roc_auc": {"value": 0.8, "low": 0.75, "high": 0.85}},
                "champion_metrics": None,
                "test_set": self.test_set,
                "policy_version": "tests",
                "evaluated_at": NOW.isoformat(),
            },
        )

    def change(self, **config):
        config.setdefault("reason", "tests")
        return self.world.run("change_champion", ops={CHAMPION: config})

    def cli(self, *argv: str) -> int:
        return main([*argv, "--home", str(self.world.root), "--workflow", WF.name])

    @property
    def champion(self) -> str | None:
        return self.registry.version_for_alias("champion")

    @property
    def approvals(self) -> ApprovalStore:
        return ApprovalStore(approvals_path(self.storage.lock_path))

    def last_change(self) -> dict:
        event = self.world.instance.get_latest_materialization_event(key(CHAMPION))
        return {k: v.value for k, v in event.asset_materialization.metadata.items()}


def register(world) -> None:
    client = MlflowClient(tracking_uri=world.home.mlflow_uri)
    client.create_registered_model(WF.model_name)
    for number in range(1, 4):
        tags = {"feature_set.version": WF.feature_sets.current_set.version}
        if str(number) in REGISTERED_BY:
            tags["registered_by"] = REGISTERED_BY[str(number)]
        client.create_model_version(
            WF.model_name, source=str(world.root / "no-model" / str(number)), tags=tags
        )
    for version, actor in TRAINED_BY.items():
        # What the training asset records when it moves @challenger to the version it trained.
        move = {"alias": "challenger", "to_version": version, "actor": actor, "reason": "tests"}
        world.instance.report_runless_asset_event(
            AssetMaterialization(
                asset_key=key(CHALLENGER),
                metadata={
                    "model_version": version,
                    "trained_at": NOW.isoformat(),
                    "alias_move": MetadataValue.json(move),
                },
            )
        )


def errors(outcome) -> str:
    return " ".join(outcome.step_errors.values())


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """Version 1 is champion (the gate's yes, no champion before it)."""
    with pytest.MonkeyPatch.context() as mp, ticket_home(tmp_path_factory.mktemp("home")) as world:
        world.write_policy("rollout: {enabled: false}\n")
        register(world)
        mp.setenv(SIMULATED_NOW, NOW.isoformat())
        mp.delenv(ACTOR_ENV, raising=False)
        h = Home(world)
        h.judge("1", "promote", None)
        assert h.change(action="auto", actor="tests").success
        assert h.champion == "1"
        yield h


@pytest.mark.bad_input
def test_the_registrant_cannot_approve_and_is_told_who_may(home):
    """Champion 1; nothing changes."""
    home.judge("2", "awaiting_approval", against="1")
    refused = home.change(action="approve", version="2", actor=LEAD)
    assert not refused.success
    said = errors(refused)
    assert "version 2 not approved: support operations lead registered this version" in said
    assert "four eyes" in said and f"'{DESIGNER}' may approve it" in said
    assert home.cli("approve", "2", "--actor", "Support Operations  Lead") == 1  # same person
    assert home.approvals.all() == [] and "approval.by" not in home.registry.version_tags("2")
    assert home.champion == "1"


@pytest.mark.bad_input
def test_an_approver_outside_the_policy_list_is_refused_naming_the_list(home):
    """Champion 1; nothing changes."""
    refused = home.change(action="approve", version="2", actor="head of support")
    assert not refused.success
    said = errors(refused)
    assert "head of support is not a promotion approver in the policy" in said
    assert f"'{DESIGNER}' may approve it (approvers.promotion)" in said
    assert home.approvals.all() == [] and home.champion == "1"


def test_a_listed_approver_who_did_not_register_it_is_recorded_and_promotes(home):
    """Champion 1 -> 2."""
    assert home.cli("approve", "2", "--actor", DESIGNER, "--reason", "read the notebook") == 0
    assert home.champion == "2"
    [row] = home.approvals.all()
    assert (row.version, row.approver, row.reason) == ("2", DESIGNER, "read the notebook")
    assert home.last_change()["approved_by"] == DESIGNER


@pytest.mark.bad_input
def test_the_one_whose_run_trained_it_cannot_approve_it_through_the_environment(home, monkeypatch):
    """Champion 2 -> 3: the designer trained 3 (no tag says so; the event log does)."""
    home.judge("3", "awaiting_approval", against="2")
    monkeypatch.setenv(ACTOR_ENV, DESIGNER)
    assert home.cli("approve", "3") == 1
    assert [a.version for a in home.approvals.all()] == ["2"] and home.champion == "2"
    monkeypatch.setenv(ACTOR_ENV, LEAD)
    assert home.cli("approve", "3") == 0
    assert home.champion == "3"
    assert home.approvals.all()[-1].approver == LEAD
    change = home.last_change()
    assert (change["action"], change["actor"], change["approved_by"]) == ("promote", LEAD, LEAD)


def test_the_environment_names_who_rolls_back_and_flips_the_flag(home, monkeypatch):
    """Champion 3 -> 2; the flag off, then on again."""
    monkeypatch.setenv(ACTOR_ENV, "on-call engineer")
    assert home.cli("rollback", "--reason", "escalations missed") == 0
    change = home.last_change()
    assert (change["action"], change["version"], change["actor"]) == (
        "rollback",
        "2",
        "on-call engineer",
    )
    assert home.cli("flag", "off", "--reason", "odd suggestions") == 0
    assert current_flag(home.store)["actor"] == "on-call engineer"
    # A named --actor wins over the environment.
    assert home.cli("flag", "on", "--reason", "all clear", "--actor", "shift lead") == 0
    assert current_flag(home.store)["actor"] == "shift lead"
