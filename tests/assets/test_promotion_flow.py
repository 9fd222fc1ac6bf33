"""The gate and the champion on a real home: train, evaluate, promote, reject, approve and roll
back through the project's jobs, with a real (SQLite) MLflow registry."""

from datetime import date, timedelta

import numpy as np
import pytest
import yaml

from assets.evaluation import raw_rows
from assets.models import load_served
from assets.names import (
    BASELINE,
    CHALLENGER,
    CHAMPION,
    EVAL_SET,
    EVALUATION,
    FLAGS,
    PREDICTIONS,
    RAW,
    REFERENCE,
    TRAINING_SET,
)
from orchestration.cli import main
from tests.assets.ticket_home import WF, key, ticket_home
from workflows.ticket_escalation.simulation.crm import CrmSimulator

START = date(2026, 1, 5)
DAYS = 24
END = START + timedelta(days=DAYS - 1)
STUMP = {"model_family": "gradient_boosting", "hyperparameters": {"max_iter": 1, "max_depth": 1}}
LOGISTIC = {"model_family": "logistic_regression", "hyperparameters": {"C": 1.0}}
BASE_POLICY = {
    "training": {"window_days": 10, "min_rows": 1000},
    "evaluation": {"eval_set_size": 700, "eval_set_min_size": 500, "bootstrap_resamples": 400},
    "gate": {
        "floors": {"roc_auc": 0.55, "task_success": 0.5, "log_loss": 0.7, "ece": 0.1},
        "min_slice_size": 20,
    },
    # The gate's own story: a passing challenger replaces the champion at once. The rollout
    # (shadow, canary) is covered by tests/orchestration/test_demo_loop.py.
    "rollout": {"enabled": False},
}


class World:
    def __init__(self, home):
        self.world = home
        self.home, self.instance, self.registry = home.home, home.instance, home.registry
        self.store = home.store

    def policy(self, training: dict, **gate) -> None:
        policy = {
            **BASE_POLICY,
            "training": {**BASE_POLICY["training"], **training},
            "gate": {**BASE_POLICY["gate"], **gate},
        }
        self.world.write_policy(yaml.safe_dump(policy))

    def run(self, job: str, partition: str | None = None, ops: dict | None = None):
        return self.world.run(job, partition, ops=ops)

    def latest(self, asset: str) -> dict:
        event = self.instance.get_latest_materialization_event(key(asset))
        return event.asset_materialization.metadata

    def trail(self, asset: str, *fields: str) -> list[tuple]:
        records = self.instance.fetch_materializations(key(asset), limit=20, ascending=True)
        return [
            tuple(r.asset_materialization.metadata[f].value for f in fields)
            for r in records.records
        ]

    def train(self, summary: str):
        outcome = self.run(
            "train_challenger",
            ops={
                TRAINING_SET: {"end_date": END.isoformat()},
                CHALLENGER: {"change_summary": summary, "actor": "tests"},
            },
        )
        assert outcome.success, (outcome.failed_steps, outcome.step_errors)
        assert WF.op(EVALUATION) not in outcome.skipped_steps, outcome
        return self.latest(EVALUATION)

    def change(self, **config):
        config.setdefault("actor", "tests")
        return self.run("change_champion", ops={CHAMPION: config})

    @property
    def aliases(self):
        return (
            self.registry.version_for_alias("champion"),
            self.registry.version_for_alias("previous"),
        )


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    with ticket_home(tmp_path_factory.mktemp("home")) as home:
        CrmSimulator(home.source_url, seed=17).write_days(START, END)
        for i in range(DAYS):
            assert home.run("raw_ingestion", (START + timedelta(days=i)).isoformat()).success
        draw = {EVAL_SET: {"version": "1", "end_date": END.isoformat()}}
        assert home.run("draw_test_set", ops=draw).success
        yield World(home)


def reasons(meta) -> str:
    return meta["reasons"].value


def test_gate_story(world):
    # 1. The first model (a weak stump) is promoted because it clears the floors.
    world.policy(STUMP)
    first = world.train("weak launch model")
    assert first["verdict"].value == "promote" and "no champion" in reasons(first).lower()
    assert world.aliases == ("1", None)
    store = world.store
    baseline = store.read(BASELINE, None)
    assert baseline["champion_version"] == "1" and baseline["test_set"]["version"] == "1"

    # 2. A clearly better challenger (logistic regression) is promoted; previous keeps v1.
    world.policy(LOGISTIC)
    better = world.train("logistic regression")
    assert better["verdict"].value == "promote", reasons(better)
    assert world.aliases == ("2", "1")

    # 3. The same recipe again: a challenger only as good as the champion is rejected.
    same = world.train("same recipe, same data")
    assert same["verdict"].value == "reject"
    assert "not better" in reasons(same) or "confidence" in reasons(same)
    assert world.aliases == ("2", "1")

    # 4. A worse challenger (the stump again) is rejected, with the failing criterion named.
    world.policy(STUMP)
    worse = world.train("a worse model")
    assert worse["verdict"].value == "reject" and "roc_auc" in reasons(worse)
    assert world.aliases == ("2", "1")

    # 5. A manual promotion of the rejected version is refused: the gate said no.
    refused = world.change(action="promote", version="4", reason="try anyway")
    assert not refused.success
    assert world.aliases == ("2", "1")

    # 6. Rollback restores exactly the previous version and its baseline.
    assert world.change(action="rollback", reason="incident drill").success
    assert world.aliases == ("1", "2")
    rows = raw_rows(WF, store.read(EVAL_SET, None))
    served = load_served(WF, world.registry, "1")  # version 1 with its own feature set
    behind_alias = world.registry.load_model("@champion")
    np.testing.assert_array_equal(
        WF.task.predict(behind_alias, served.features(rows)), served.outputs(WF, rows)
    )
    assert store.read(BASELINE, None)["champion_version"] == "1"

    # 7. High-risk mode: the gate's yes waits for a person; approval promotes.
    world.policy(LOGISTIC, require_approval=True)
    waiting = world.train("better model, high-risk mode")
    assert waiting["verdict"].value == "awaiting_approval", reasons(waiting)
    assert world.aliases == ("1", "2")  # nothing promoted without approval
    # A tag is not an approval: anyone with MLflow access can write one.
    world.registry.set_version_tags("5", {"approval.by": "mallory"})
    assert not world.change(action="promote", version="5", reason="forged").success
    approved = world.change(  # a promotion approver in the ticket policy
        action="approve", version="5", actor="support operations lead", reason="reviewed"
    )
    assert approved.success and world.aliases == ("5", "1")
    change = world.latest(CHAMPION)
    assert change["approved_by"].value == "support operations lead"
    assert change["previous_version"].value == "1"

    # The audit trail: one champion materialization per change, in order.
    assert world.trail(CHAMPION, "action", "version") == [
        ("promote", "1"),
        ("promote", "2"),
        ("rollback", "1"),
        ("promote", "5"),
    ]
    assert change["actor"].value == "support operations lead"


def test_test_set_is_pinned_and_a_new_version_needs_a_new_baseline(world):
    """Runs after the gate story (champion 5, test set v1)."""

    def draw(version: str, end: date):
        return world.run(
            "draw_test_set", ops={EVAL_SET: {"version": version, "end_date": end.isoformat()}}
        )

    # Other content under the same version: the pin check fails and evaluation refuses it.
    changed = draw("1", END - timedelta(days=1))
    assert not changed.success
    [pin] = [c for c in changed.checks if c.check == "eval_test_set_pinned"]
    assert not pin.passed and "without a version bump" in pin.description
    assert not world.run("evaluate_challenger").success

    # A new version is a scope change: the gate blocks until the baseline is re-recorded.
    assert draw("2", END - timedelta(days=1)).success
    world.policy(LOGISTIC)
    blocked = world.train("first challenger on the new test set")
    assert world.registry.version_for_alias("challenger") == "6"
    assert blocked["verdict"].value == "reject"
    assert "re-record the baseline" in reasons(blocked)

    assert world.run("rebaseline").success
    baseline = world.store.read(BASELINE, None)
    assert baseline["test_set"]["version"] == "2" and baseline["champion_version"] == "5"
    assert world.run("evaluate_challenger").success
    after = world.latest(EVALUATION)
    assert "re-record" not in reasons(after)
    assert after["test_set_version"].value == "2"


def test_the_command_line_drives_the_same_operations(world, capsys):
    """Runs after the stories above (champion 5, previous 1)."""
    home = ["--home", str(world.home.root), "--workflow", WF.name]
    assert world.aliases == ("5", "1")
    assert main(["rollback", *home, "--reason", "cli drill", "--actor", "on-call"]) == 0
    assert world.aliases == ("1", "5")
    assert "champion: summary: rollback: 5 -> 1 by on-call: cli drill" in capsys.readouterr().out
    # Version 5's verdict was made on test set v1; v2 is current: approving it again is refused.
    assert main(["approve", "5", *home, "--actor", "support operations lead"]) == 1
    assert world.aliases == ("1", "5")
    # A second rollback toggles back, expecting the champion it read (1).
    assert main(["rollback", *home, "--reason", "back to 5", "--expect-champion", "1"]) == 0
    assert world.aliases == ("5", "1")
    assert main(["promote", "4", *home]) == 1  # the gate rejected version 4
    assert world.aliases == ("5", "1")
    assert main(["reproduce", "2", *home]) == 0
    assert "version 2: reproduced exactly" in capsys.readouterr().out


def test_a_serving_flag_takes_effect_on_the_next_scoring_run(world, capsys):
    """Runs after the stories above (champion 5). One CLI command per flip; each flip is a
    materialization of serving_flags with who and why; the next scoring run applies it."""
    home = ["--home", str(world.home.root), "--workflow", WF.name]
    assert world.run("reference_refresh", ops={REFERENCE: {"end_date": END.isoformat()}}).success
    store = world.store

    def score(day: date):
        outcome = world.run("daily_production", day.isoformat())
        assert outcome.success, outcome.step_errors
        return store.read(PREDICTIONS, day.isoformat())

    champion = world.registry.version_for_alias("champion")
    before = score(END)
    assert set(before["model_version"]) == {champion} and set(before["arm"]) == {"champion"}

    assert main(["flag", "off", *home, "--reason", "odd suggestions", "--actor", "lead"]) == 0
    day = END - timedelta(days=1)
    off = score(day)
    assert set(off["model_version"]) == {"rules"} and set(off["arm"]) == {"flag_off"}
    priorities = store.read(RAW, day.isoformat()).set_index("ticket_id")["priority"]
    urgent = priorities.loc[off["ticket_id"]].to_numpy() == "urgent"
    assert (off["decision"].to_numpy() == urgent).all()  # the workflow's fallback decided

    assert main(["flag", "pin", "1", *home, "--reason", "known good", "--actor", "lead"]) == 0
    pinned = score(END - timedelta(days=2))
    assert set(pinned["model_version"]) == {"1"} and set(pinned["arm"]) == {"pinned"}

    assert main(["flag", "on", *home, "--reason", "all clear", "--actor", "lead"]) == 0
    back = score(END - timedelta(days=3))
    assert set(back["model_version"]) == {champion}
    capsys.readouterr()
    assert main(["flag", *home]) == 0
    assert "serving flag: on, set by lead" in capsys.readouterr().out
    assert world.trail(FLAGS, "state", "reason") == [
        ("off", "odd suggestions"),
        ("pin", "known good"),
        ("on", "all clear"),
    ]
