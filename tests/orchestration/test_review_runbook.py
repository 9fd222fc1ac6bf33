"""Registry reviews and the runbook on a real home: a real (SQLite) MLflow registry whose
champion and previous versions were set by the project's own promote, the review store, the
champion_review check as the weekly job runs it, and the runbook generated from it all."""

from __future__ import annotations

import shlex
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from dagster import AssetCheckKey, DagsterInstance

from assets.check_history import Evaluation
from assets.names import WEEKLY
from assets.promotion import promote
from orchestration.alerts import route
from orchestration.catalog import definitions
from orchestration.cli import build_parser, main
from orchestration.home import ENV_VARS, activate, resolve_home
from orchestration.review import REVIEW_TAG, champion_review, review_store
from orchestration.runbook import generate
from resources.clock import SIMULATED_NOW
from resources.policy import PolicyResource
from resources.storage import workflow_root
from tests.orchestration.registry_template import make_template, registry_in
from workflows.ticket_escalation.workflow import WORKFLOW as WF

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return make_template(tmp_path_factory.mktemp("review-registry"))


@pytest.fixture
def home(tmp_path, monkeypatch, template):
    """Champion 2, previous 1: promoted by `assets.promotion.promote`, so the alias history
    is the real one."""
    for var in (*ENV_VARS, SIMULATED_NOW):
        monkeypatch.setenv(var, "")
        monkeypatch.delenv(var)
    home = activate(resolve_home(tmp_path / "home"), WF)
    registry = registry_in(home, template)
    lock = workflow_root(home.root, WF.name) / "registry.lock"
    promote(registry, "1", actor="ana", reason="launch", lock_path=lock, at=T0)
    promote(
        registry, "2", actor="rollout", reason="rollout v2 completed", lock_path=lock,
        at=T0 + timedelta(days=20),
    )  # fmt: skip
    return Deployed(home, registry)


class Deployed:
    def __init__(self, home, registry):
        self.home, self.registry = home, registry
        self.root, self.dagster_home = home.root, home.dagster_home


def cli(home, *argv: str) -> int:
    return main([*argv, "--home", str(home.root), "--workflow", WF.name])


def test_a_review_is_recorded_append_only_and_mirrored_on_the_tag(home, monkeypatch, capsys):
    monkeypatch.setenv(SIMULATED_NOW, (T0 + timedelta(days=30)).isoformat())
    assert cli(home, "review", "2", "--note", "slices and calibration fine", "--actor", "ana") == 0
    monkeypatch.setenv(SIMULATED_NOW, (T0 + timedelta(days=60)).isoformat())
    assert cli(home, "review", "2", "--note", "checked again after drift", "--actor", "bo") == 0
    printed = capsys.readouterr().out
    assert "checked again after drift" in printed and "slices and calibration fine" in printed

    store = review_store(home.root, WF.name)
    reviews = store.all("2")
    assert [(r.reviewer, r.reviewed_at[:10], r.note) for r in reviews] == [
        ("ana", "2026-04-01", "slices and calibration fine"),
        ("bo", "2026-05-01", "checked again after drift"),
    ]
    assert home.registry.version_tags("2")[REVIEW_TAG] == "2026-05-01"
    # Append-only: the table refuses an edit and a delete.
    with sqlite3.connect(store.path) as conn:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute("UPDATE reviews SET note = 'nothing to see'")
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute("DELETE FROM reviews")
    assert len(store.all()) == 2


@pytest.mark.bad_input
def test_a_review_without_a_note_or_of_an_unknown_version_is_refused(home):
    with pytest.raises(SystemExit, match="needs a --note"):
        cli(home, "review", "2", "--note", "  ")
    with pytest.raises(SystemExit, match="cannot review version 9"):
        cli(home, "review", "9", "--note", "looked")
    assert review_store(home.root, WF.name).all() == []


def test_an_old_review_raises_a_warn_routed_to_the_model_owner(home):
    store = review_store(home.root, WF.name)
    # Never reviewed: counted from its promotion (T0 + 20 days).
    assert champion_review(home.registry, store, T0 + timedelta(days=100), 90).passed
    stale = champion_review(home.registry, store, T0 + timedelta(days=111), 90)
    assert not stale.passed and "never reviewed since it became champion" in stale.description

    # The check as the weekly job runs it: part of evaluate_weekly, WARN, to the model owner.
    defs = definitions(WF)
    key = AssetCheckKey(WF.key(WEEKLY), "champion_review")
    weekly = defs.get_repository_def().get_job("evaluate_weekly")
    assert key in weekly.asset_layer.asset_graph.asset_check_keys
    policy = PolicyResource(
        workflow=WF.name,
        home=str(home.root),
        workflow_file=str(WF.policy_file),
        defaults=WF.task.default_policy,
        label_lag_days=WF.label.max_lag_days,
    ).load()
    failed = Evaluation(
        id=1,
        asset=WF.key(WEEKLY).to_user_string(),
        check="champion_review",
        partition=None,
        passed=False,
        severity="WARN",
        description=stale.description,
        metadata={},
        run_id="r",
    )
    assert route(failed, policy.alerts, WF) == (WF.owners.model_owner, "digest")


def test_the_champion_review_check_runs_in_the_weekly_job(home, monkeypatch):
    from dagster import AssetSelection, define_asset_job

    from orchestration.runner import run_job

    monkeypatch.setenv(SIMULATED_NOW, (T0 + timedelta(days=120)).isoformat())
    defs = definitions(WF)
    key = AssetCheckKey(WF.key(WEEKLY), "champion_review")
    only = define_asset_job("review_only", selection=AssetSelection.checks(key))
    from dagster import Definitions

    defs = Definitions.merge(defs, Definitions(jobs=[only]))
    instance = DagsterInstance.from_config(str(home.dagster_home))
    outcome = run_job(defs, instance, "review_only", None)
    [result] = [c for c in outcome.checks if c.check == "champion_review"]
    assert not result.passed and result.level == "warn"
    assert "over the policy's 90" in result.description


def test_the_runbook_names_the_real_versions_and_every_command_parses(home, tmp_path):
    text = generate(home.home, WF, home_arg=str(home.root), now=T0 + timedelta(days=21))
    assert "**Champion: version 2**" in text and "**Previous: version 1**" in text
    assert WF.owners.model_owner in text and WF.owners.data_engineer in text
    assert "| promote | 2 | 1 | rollout |" in text  # the alias-move history, newest last
    assert "`ticket_escalation/weekly_evaluation.champion_review`" in text
    commands = [line for line in text.splitlines() if line.startswith("afterlaunch ")]
    assert len(commands) >= 10
    parser = build_parser()
    parsed = [parser.parse_args(shlex.split(line)[1:]) for line in commands]
    rollback = next(p for p in parsed if p.command == "rollback" and p.to is None)
    assert (rollback.expect_champion, rollback.home, rollback.workflow) == (
        "2",
        str(home.root),
        WF.name,
    )
    assert any(p.command == "flag" and p.state == "pin" and p.version == "1" for p in parsed)

    out = tmp_path / "runbook.md"
    assert cli(home, "runbook", "--output", str(out)) == 0
    assert "**Champion: version 2**" in out.read_text()
