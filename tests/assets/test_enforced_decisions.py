"""Decisions are enforced: a promotion acts only on a verdict made against the champion serving
now, on the test set stored now, within the policy's age; promote and rollback swap only the
champion they expected; an approval counts only if Afterlaunch recorded it, for a verdict that
asked for one.

The tests run the real `change_champion` job (and the command line) on one ticket home, as a
story in file order. Its registered versions carry tags but no model (the champion asset never
loads one); the gate's verdicts are written into the snapshot store in the shape
`challenger_evaluation` records them, so each test sets exactly the verdict it needs.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from mlflow import MlflowClient

from assets.evaluation import VERSION_COLUMN
from assets.evaluation import test_set_identity as identity_of
from assets.names import CHAMPION, EVAL_SET, EVALUATION
from assets.promotion import champion_history
from checks.verdicts import verdict_problem
from orchestration.cli import main
from resources.approvals import (
    Approval,
    ApprovalStore,
    ApprovalStoreError,
    acting_person,
    approvals_path,
)
from resources.clock import SIMULATED_NOW
from resources.storage import HomeStorage
from tests.assets.ticket_home import WF, key, ticket_home

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
VERSIONS = 5
POLICY = "rollout: {enabled: false}\n"  # a passing verdict promotes at once


def register_versions(world) -> None:
    """Versions 1..VERSIONS of the ticket model, READY, tagged with the current feature set.
    The champion asset reads their tags and moves aliases; it never loads a model, so none is
    logged (milliseconds instead of seconds)."""
    client = MlflowClient(tracking_uri=world.home.mlflow_uri)
    client.create_registered_model(WF.model_name)
    tags = {"feature_set.version": WF.feature_sets.current_set.version}
    for number in range(1, VERSIONS + 1):
        made = client.create_model_version(
            WF.model_name, source=str(world.root / "no-model" / str(number)), tags=tags
        )
        assert (str(made.version), made.status) == (str(number), "READY")


class Home:
    def __init__(self, world):
        self.world = world
        self.store = world.store
        self.registry = world.registry
        self.storage = HomeStorage(home=str(world.root), workflow=WF.name)
        self.test_set = self.draw_test_set("1")

    def draw_test_set(self, version: str, rows: int = 8) -> dict:
        """Store a test set (what `eval_test_set` would) and return its identity."""
        frame = pd.DataFrame({VERSION_COLUMN: [version] * rows, "ticket_id": range(rows)})
        self.store.write(EVAL_SET, None, frame)
        return identity_of(frame)

    def judge(
        self,
        version: str,
        verdict: str = "promote",
        *,
        against: str | None = None,
        test_set: dict | None = None,
        at: datetime = NOW,
    ) -> dict:
        """Record a gate verdict on `version`, as `challenger_evaluation` records one."""
        value = {
            "challenger_version": version,
            "champion_version": against,
            "verdict": verdict,
            "promote": verdict == "promote",
            "reasons": [f"the test says {verdict}"],
            "metrics": {"roc_auc": {"value": 0.8, "low": 0.75, "high": 0.85}},
            "champion_metrics": None,
            "test_set": test_set or self.test_set,
            "policy_version": "tests",
            "evaluated_at": at.isoformat(),
        }
        self.store.write(EVALUATION, None, value)
        return value

    def change(self, **config):
        config.setdefault("actor", "tests")
        config.setdefault("reason", "tests")
        return self.world.run("change_champion", ops={CHAMPION: config})

    def cli(self, *argv: str) -> int:
        return main([*argv, "--home", str(self.world.root), "--workflow", WF.name])

    @property
    def aliases(self) -> tuple[str | None, str | None]:
        return (
            self.registry.version_for_alias("champion"),
            self.registry.version_for_alias("previous"),
        )

    def changes(self) -> list[tuple]:
        records = self.world.instance.fetch_materializations(key(CHAMPION), limit=50)
        return sorted(
            (r.timestamp, r.asset_materialization.metadata["action"].value) for r in records.records
        )

    @property
    def approvals(self) -> ApprovalStore:
        return ApprovalStore(approvals_path(self.storage.lock_path))


def errors(outcome) -> str:
    return " ".join(outcome.step_errors.values())


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """One home for the module's story (tests run in file order, one file per worker): version
    1 is champion, promoted by the gate with no champion before it. Each test says the state it
    starts from; only the tests that must change the champion change it."""
    with pytest.MonkeyPatch.context() as mp, ticket_home(tmp_path_factory.mktemp("home")) as world:
        world.write_policy(POLICY)
        register_versions(world)
        mp.setenv(SIMULATED_NOW, NOW.isoformat())
        h = Home(world)
        h.judge("1")
        first = h.change(action="auto")
        assert first.success, first.step_errors
        assert h.aliases == ("1", None)
        yield h


# ------------------------------------------------------------------ approvals


@pytest.mark.bad_input
def test_approving_a_rejected_verdict_is_refused_and_nothing_is_recorded(home):
    """Champion 1; nothing changes."""
    home.judge("2", "reject", against="1")
    assert home.cli("approve", "2", "--actor", "support operations lead") == 1
    assert home.aliases == ("1", None)
    assert "approval.by" not in home.registry.version_tags("2")
    assert home.approvals.all() == []
    # A verdict that promotes asks for no approval either; a stale one cannot take one.
    home.judge("2", "promote", against="1")
    promoted = home.change(action="approve", version="2")
    assert not promoted.success
    assert "its gate verdict is promote" in errors(promoted)
    home.judge("2", "awaiting_approval", against="1", at=NOW - timedelta(days=45))
    stale = home.change(action="approve", version="2")
    assert not stale.success and "made 45.0 days ago" in errors(stale)
    assert home.approvals.all() == [] and home.aliases == ("1", None)


@pytest.mark.bad_input
def test_a_forged_approval_tag_does_not_promote(home):
    """Champion 1; nothing changes."""
    home.judge("2", "awaiting_approval", against="1")
    home.registry.set_version_tags("2", {"approval.by": "mallory", "approval.at": NOW.isoformat()})
    forged = home.change(action="promote", version="2")
    assert not forged.success
    assert "no approval of this verdict recorded" in errors(forged)
    assert home.change(action="auto").success  # says the same in the log, promotes nothing
    assert home.aliases == ("1", None)


def test_a_recorded_approval_of_the_verdict_lets_it_through(home):
    """Champion 1 -> 2."""
    verdict = home.judge("2", "awaiting_approval", against="1")
    # An approval of another evaluation of the same version does not count...
    home.approvals.record(approval("2", "carol", {**verdict, "evaluated_at": "2026-02-01T00:00"}))
    assert not home.change(action="promote", version="2").success
    # ...one of exactly this verdict does, and names its approver on the change.
    home.approvals.record(approval("2", "head of support", verdict))
    promoted = home.change(action="promote", version="2")
    assert promoted.success, promoted.step_errors
    assert home.aliases == ("2", "1")
    assert promoted.materialized[CHAMPION]["approved_by"] == "head of support"


def test_the_approve_command_records_the_approval_then_promotes(home):
    """Champion 2 -> 3."""
    home.judge("3", "awaiting_approval", against="2")
    # A promotion approver in the ticket policy (approvers.promotion).
    lead = "support operations lead"
    assert home.cli("approve", "3", "--actor", lead, "--reason", "reviewed") == 0
    assert home.aliases == ("3", "2")
    row = home.approvals.all()[-1]
    assert (row.version, row.approver, row.reason) == ("3", lead, "reviewed")
    assert (row.champion_version, row.verdict_at) == ("2", NOW.isoformat())
    assert (row.test_set_version, row.test_set_sha256) == ("1", home.test_set["sha256"])
    assert row.approved_at == NOW.isoformat()  # by the workflow's clock


# ------------------------------------------------------------------ stale verdicts


@pytest.mark.bad_input
def test_a_verdict_no_longer_current_is_refused_naming_what_changed(home):
    """Champion 3 (2 before it) -> 4."""
    # Judged against the former champion (2): the champion is 3 now.
    home.judge("4", against="2")
    former = home.change(action="promote", version="4")
    assert not former.success
    assert "judged against champion 2 but the champion is 3" in errors(former)
    # Judged against 3, but on test set v1; v2 has been drawn since.
    old_set = home.test_set
    home.test_set = home.draw_test_set("2")
    home.judge("4", against="3", test_set=old_set)
    redrawn = home.change(action="promote", version="4")
    assert not redrawn.success
    assert f"on test set v1/sha {old_set['sha256'][:12]}" in errors(redrawn)
    assert "the current test set is v2" in errors(redrawn)
    # Right champion, right test set, but 31 days old (the policy allows 30).
    home.judge("4", against="3", at=NOW - timedelta(days=31))
    old = home.change(action="promote", version="4")
    assert not old.success
    assert "made 31.0 days ago, the policy allows 30" in errors(old)
    assert home.aliases == ("3", "2")
    # The same verdict made within the age goes through: the refusals were about staleness.
    home.judge("4", against="3", at=NOW - timedelta(days=29))
    fresh = home.change(action="promote", version="4")
    assert fresh.success, fresh.step_errors
    assert home.aliases == ("4", "3")


@pytest.mark.bad_input
def test_a_version_whose_canary_was_rolled_back_is_not_promoted_on_its_verdict():
    """Pure: the rollback on traffic came after the verdict, and outranks it."""
    evaluation = {
        "challenger_version": "3",
        "champion_version": "2",
        "test_set": {"version": "1", "sha256": "a" * 64},
        "evaluated_at": NOW.isoformat(),
    }
    rollout = {
        "id": "v3-2026-03-02",
        "version": "3",
        "champion_version": "2",
        "state": "rolled_back",
        "started": "2026-03-02",
        "ended": "2026-03-06",
        "events": [{"reason": "task success below the floor"}],
    }
    now = NOW + timedelta(days=5)
    kwargs = {"champion": "2", "test_set": evaluation["test_set"], "now": now, "max_age_days": 30}
    assert verdict_problem(evaluation, **kwargs) is None
    problem = verdict_problem(evaluation, rollouts=[rollout], **kwargs)
    assert "rollout v3-2026-03-02 was rolled back on 2026-03-06" in problem
    # A rollout still running ages the verdict only until it started: a 40-day canary is fine.
    running = {**rollout, "state": "canary", "ended": None}
    later = {**kwargs, "now": NOW + timedelta(days=40)}
    assert verdict_problem(evaluation, rollouts=[running], **later) is None
    assert "made 40.0 days ago" in verdict_problem(evaluation, **later)


# ------------------------------------------------------------------ compare-and-swap


@pytest.mark.bad_input
def test_a_promotion_expecting_another_champion_is_refused(home):
    """Champion 4; nothing changes."""
    home.judge("5", against="4", test_set=home.test_set)
    refused = home.change(action="promote", version="5", expected_champion="3")
    assert not refused.success
    assert "expected @champion=3 but it is 4" in errors(refused)
    assert home.aliases == ("4", "3")


@pytest.mark.bad_input
def test_two_rollbacks_expecting_the_same_champion_only_the_first_succeeds(home):
    """Champion 4 (3 before it) -> 3."""
    first = home.change(action="rollback", reason="on-call A", expected_champion="4")
    assert first.success, first.step_errors
    assert home.aliases == ("3", "4")
    # B decided on the same state (champion 4): its rollback would undo A's. Refused.
    second = home.change(action="rollback", reason="on-call B", expected_champion="4")
    assert not second.success
    assert "expected @champion=4 but it is 3" in errors(second)
    # The same through the command line, with the champion pinned by --expect-champion.
    assert home.cli("rollback", "--reason", "on-call C", "--expect-champion", "4") == 1
    assert home.aliases == ("3", "4")
    actions = [e["action"] for e in champion_history(home.registry)]
    assert actions == ["promote"] * 4 + ["rollback"]
    assert [a for _, a in home.changes()] == actions


# ------------------------------------------------------------------ the store


def approval(version: str, approver: str, evaluation: dict) -> Approval:
    return Approval(
        version=version,
        approver=approver,
        approved_at=NOW.isoformat(),
        reason="reviewed",
        champion_version=evaluation["champion_version"],
        test_set_version=evaluation["test_set"]["version"],
        test_set_sha256=evaluation["test_set"]["sha256"],
        verdict=evaluation["verdict"],
        verdict_at=evaluation["evaluated_at"],
    )


@pytest.mark.bad_input
def test_the_approval_store_is_append_only_and_a_malformed_one_is_named(tmp_path):
    verdict = {
        "champion_version": None,
        "test_set": {"version": "1", "sha256": "b" * 64},
        "verdict": "awaiting_approval",
        "evaluated_at": NOW.isoformat(),
    }
    store = ApprovalStore(tmp_path / "approvals.sqlite")
    store.record(approval("1", "carol", verdict))
    with sqlite3.connect(store.path) as conn:
        for statement in ("UPDATE approvals SET approver = 'mallory'", "DELETE FROM approvals"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                conn.execute(statement)
    assert [a.approver for a in store.all()] == ["carol"]
    found = store.for_evaluation({**verdict, "challenger_version": "1"})
    assert found is not None and found.champion_version is None
    broken = ApprovalStore(tmp_path / "broken.sqlite")
    broken.path.write_bytes(b"not a database at all, just bytes" * 4)
    with pytest.raises(ApprovalStoreError, match=r"broken\.sqlite is not a valid approvals"):
        broken.all()
    with pytest.raises(ApprovalStoreError, match="needs an approver and a reason"):
        store.record(approval("1", " ", verdict))
    assert acting_person(" dana ") == "dana" and acting_person(None)  # the identity seam
