"""Two workflows in one home, on one Dagster instance and one MLflow store: the ticket
classifier and the toy regression never see each other's snapshots, aliases, locks, alerts or
check history."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta

import pytest
from dagster import AssetCheckKey, DagsterInstance

from assets.check_history import evaluations
from assets.names import EVAL_SET, PROFILES, RAW, REFERENCE
from orchestration.catalog import definitions
from orchestration.home import Home, activate
from orchestration.runner import run_job
from orchestration.simulated_daemon import SimulatedDaemon
from resources.alerts import AlertOutbox, outbox_path
from resources.clock import SIMULATED_NOW
from resources.registry import ModelRegistry
from tests.engine import toy
from workflows.ticket_escalation.workflow import WORKFLOW as TICKETS

TICKET_DAYS = 10
VOLUME_DROP_DAY = 9


def registry(home: Home, wf) -> ModelRegistry:
    return ModelRegistry(
        tracking_uri=home.mlflow_uri,
        artifact_root=home.mlflow_artifacts,
        model_name=wf.model_name,
        experiment_name=f"afterlaunch-{wf.name}",
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    with toy.fresh_env():
        yield from _world(tmp_path_factory)


def _world(tmp_path_factory):
    root = tmp_path_factory.mktemp("two-workflows")
    regression = toy.workflow(root / "toy-code")
    home = activate(Home(root / "home"), TICKETS)
    activate(home, regression)
    instance = DagsterInstance.get()
    # The ticket CRM, with a volume drop on day 9.
    sim = TICKETS.simulation
    start = date(2026, 1, 1)
    incidents = sim.parse_incidents(
        [{"kind": "volume_drop", "day": (start + timedelta(days=VOLUME_DROP_DAY - 1)).isoformat()}]
    )
    sim.write_source(home.source_url_for(TICKETS), 7, start, start + timedelta(days=20), incidents)
    toy.write_source(home.source_url_for(regression), toy.accounts(11, shift_week=10))

    def at(moment: datetime) -> datetime:
        os.environ[SIMULATED_NOW] = moment.replace(tzinfo=UTC).isoformat()
        return moment.replace(tzinfo=UTC)

    def run(wf, job, partition=None, ops=None):
        config = {"ops": {wf.op(a): {"config": c} for a, c in (ops or {}).items()}}
        outcome = run_job(definitions(wf), instance, job, partition, run_config=config)
        assert outcome.success or outcome.checks, outcome.step_errors
        return outcome

    for number in range(1, TICKET_DAYS + 1):
        day = start + timedelta(days=number - 1)
        at(datetime.combine(day + timedelta(days=1), datetime.min.time()) + timedelta(hours=2))
        run(TICKETS, "raw_ingestion", day.isoformat())
    for number in range(1, 9):
        at(toy.START + timedelta(weeks=number, hours=2))
        run(regression, "raw_ingestion", toy.week(number))
    at(toy.START + timedelta(weeks=8, hours=5))
    run(regression, "reference_refresh", ops={REFERENCE: {"end_date": toy.week(8)}})
    run(regression, "draw_test_set", ops={EVAL_SET: {"version": "1", "end_date": toy.week(8)}})
    launched = run(regression, "train_challenger", ops={"training_set": {"end_date": toy.week(8)}})
    for number in (9, 10):
        at(toy.START + timedelta(weeks=number, hours=2))
        run(regression, "daily_production", toy.week(number))
    # Each workflow's daemon loop ticks once (no schedule is due within the minute).
    now = at(toy.START + timedelta(weeks=10, hours=3))
    for wf in (TICKETS, regression):
        SimulatedDaemon(
            definitions(wf), instance, started=now - timedelta(minutes=1), workflow=wf.name
        ).tick(now)
    yield {
        "home": home,
        "toy": regression,
        "instance": instance,
        "launched": launched,
    }


def test_snapshots_live_in_each_workflows_own_folder(world):
    home = world["home"]
    ticket_raw = home.workflow_root("ticket_escalation") / "snapshots" / RAW
    toy_raw = home.workflow_root("toy_revenue") / "snapshots" / RAW
    ticket_days = sorted(p.name for p in ticket_raw.iterdir())
    toy_weeks = sorted(p.name for p in toy_raw.iterdir())
    assert len(ticket_days) == TICKET_DAYS and ticket_days[0] == "2026-01-01"
    assert toy_weeks == [toy.week(n) for n in range(1, 11)]
    # The same asset name and the same partition key (Jan 5 is a ticket day and the toy's
    # first week): two snapshots, each its own workflow's rows.
    from resources.snapshots import SnapshotStore, snapshot_root

    same = toy.week(1)
    tickets = SnapshotStore(snapshot_root(home.root, "ticket_escalation")).read(RAW, same)
    accounts = SnapshotStore(snapshot_root(home.root, "toy_revenue")).read(RAW, same)
    assert "ticket_id" in tickets and "account_id" not in tickets
    assert "account_id" in accounts and "ticket_id" not in accounts
    assert not (home.root / "snapshots").exists()


def test_each_workflow_has_its_own_registered_model_aliases_and_lock(world):
    home, wf = world["home"], world["toy"]
    assert world["launched"].success, world["launched"].step_errors
    assert registry(home, wf).version_for_alias("champion") == "1"
    assert registry(home, TICKETS).version_for_alias("champion") is None
    assert registry(home, TICKETS).versions() == []
    assert (home.workflow_root("toy_revenue") / "registry.lock").exists()
    assert not (home.workflow_root("ticket_escalation") / "registry.lock").exists()


def test_alerts_reach_each_workflows_own_outbox_and_owners(world):
    home = world["home"]
    ticket = AlertOutbox(outbox_path(home.root, "ticket_escalation")).pending()
    ticket += AlertOutbox(outbox_path(home.root, "ticket_escalation")).delivered_since("")
    regression = AlertOutbox(outbox_path(home.root, "toy_revenue")).delivered_since("")
    regression += AlertOutbox(outbox_path(home.root, "toy_revenue")).pending()
    assert ticket and regression
    assert {a.payload["asset"].split("/")[0] for a in ticket} == {"ticket_escalation"}
    assert {a.payload["asset"].split("/")[0] for a in regression} == {"toy_revenue"}
    assert any(a.payload["check"] == "raw_volume" for a in ticket)
    assert any(a.payload["check"] == "drift" for a in regression)
    assert {a.owner for a in ticket} <= {"data engineer", "workflow designer", "ml platform"}
    assert {a.owner for a in regression} <= {"toy data engineer", "toy model owner", "ml platform"}


def test_check_history_is_kept_per_workflow(world):
    instance = world["instance"]
    ticket_volume = evaluations(instance, [AssetCheckKey(TICKETS.key(RAW), "raw_volume")])
    toy_volume = evaluations(instance, [AssetCheckKey(world["toy"].key(RAW), "raw_volume")])
    assert {e.partition for e in ticket_volume} == {
        (date(2026, 1, 1) + timedelta(days=i)).isoformat() for i in range(TICKET_DAYS)
    }
    assert {e.partition for e in toy_volume} == {toy.week(n) for n in range(1, 11)}
    drift = evaluations(instance, [AssetCheckKey(TICKETS.key(PROFILES), "drift")])
    assert drift == []  # the toy's drift errors are not the ticket workflow's


def test_status_puts_every_workflow_and_its_five_answers_on_one_screen(world):
    from orchestration.status import latest, overview_lines

    home, regression = world["home"], world["toy"]
    lines = overview_lines(home, [TICKETS, regression])
    text = "\n".join(lines)
    # The tickets were only ingested: no report, said so, not an empty block.
    assert f"{TICKETS.name}: no readiness report yet" in text
    report = latest(home, regression).report
    assert report["day"] == toy.week(10)
    header = next(i for i, line in enumerate(lines) if line.startswith(f"{regression.name}: "))
    assert report["overall"].upper() in lines[header]
    answers = lines[header + 1 : header + 11]
    for i, q in enumerate(report["questions"], start=1):
        assert answers[2 * (i - 1)].strip().startswith(f"{i}. [{q['status'].upper()}")
        assert q["question"] in answers[2 * (i - 1)]
        assert answers[2 * i - 1].strip() and len(answers[2 * i - 1].strip()) <= 72
    assert len(lines) < 40  # one screen
