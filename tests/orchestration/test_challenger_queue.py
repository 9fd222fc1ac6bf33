"""The challenger queue through the rollout sensor, on a real home: a real Dagster instance,
a real (SQLite) MLflow registry holding the versions and the aliases, and the records the
evaluation and rollout runs would write (the snapshot store). The sensor is ticked with
`evaluate_tick`; each run it asks for is checked against its job's config schema and its
effect written as that run would write it, so the queue is followed step by step."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from dagster import (
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    build_sensor_context,
    validate_run_config,
)
from mlflow import MlflowClient

from assets.challenger_queue import ChallengerQueue, QueueCorrupt, lines, queue_path
from assets.names import EVALUATION, ROLLOUT
from checks.rollout import advance, end, start
from orchestration.catalog import definitions
from orchestration.cli import main
from orchestration.home import ENV_VARS, activate, resolve_home
from resources.clock import ClockResource
from resources.policy import PolicyResource
from resources.snapshots import SnapshotStore, snapshot_root
from resources.storage import HomeStorage, workflow_root
from tests.orchestration.registry_template import make_template, registry_in
from workflows.ticket_escalation.workflow import WORKFLOW as WF

defs = definitions(WF)
REPO = defs.get_repository_def()
rollout_sensor = {s.name: s for s in REPO.sensor_defs}["rollout_sensor"]
DAY = date(2026, 3, 2)
TEST_SET = {"version": "1", "sha256": "ab" * 32}


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return make_template(tmp_path_factory.mktemp("queue-registry"))


class Deployment:
    """A home with champion 1, and the records the runs would leave, written by hand."""

    def __init__(self, home, template):
        self.home = home
        self.instance = DagsterInstance.from_config(str(home.dagster_home))
        self.registry = registry_in(home, template)
        self.set_champion("1")
        self.store = SnapshotStore(snapshot_root(home.root, WF.name))
        self.queue = ChallengerQueue(queue_path(workflow_root(home.root, WF.name)))
        self.policy = PolicyResource(
            workflow=WF.name,
            home=str(home.root),
            workflow_file=str(WF.policy_file),
            defaults=WF.task.default_policy,
            label_lag_days=WF.label.max_lag_days,
        )

    def set_champion(self, version: str) -> None:
        client = MlflowClient(tracking_uri=self.home.mlflow_uri)
        old = self.registry.version_for_alias("champion")
        if old is not None:
            client.set_registered_model_alias(WF.model_name, "previous", old)
        client.set_registered_model_alias(WF.model_name, "champion", version)

    def evaluated(
        self, version: str, day: date, verdict: str = "promote", reasons=(), judged_against=None
    ):
        """What challenger_evaluation stores: the verdict against the champion of now (or the
        one it read when it started, `judged_against`)."""
        self.store.write(
            EVALUATION,
            None,
            {
                "challenger_version": version,
                "champion_version": judged_against or self.registry.version_for_alias("champion"),
                "verdict": verdict,
                "promote": verdict == "promote",
                "reasons": list(reasons) or [f"{verdict} on the test set"],
                "test_set": TEST_SET,
                "evaluated_at": _at(day, 6).isoformat(),
            },
        )

    def rollout_started(self, version: str, day: date) -> dict:
        record = start(
            version=version,
            champion_version=self.registry.version_for_alias("champion"),
            baseline_task_success=0.8,
            rules=self.policy.load().rollout,
            today=day,
            actor="rollout",
            reason="gate passed",
            policy_version="test",
        )
        self.store.write(ROLLOUT, None, record)
        return record

    def rollout_moved(self, record: dict) -> dict:
        self.store.write(ROLLOUT, None, record)
        return record

    def tick(self, day: date):
        resources = {
            "policy": self.policy,
            "clock": ClockResource(fixed_now=_at(day, 9).isoformat()),
            "storage": HomeStorage(home=str(self.home.root), workflow=WF.name),
            "registry": self.registry,
        }
        with build_sensor_context(
            instance=self.instance,
            repository_def=REPO,
            resources=resources,
            sensor_name=rollout_sensor.name,
        ) as context:
            result = rollout_sensor.evaluate_tick(context)
        for request in result.run_requests or []:
            # The run the sensor asks for must be one its job accepts (raises otherwise).
            validate_run_config(REPO.get_job(request.job_name), request.run_config)
        return result

    def states(self) -> list[tuple[str, str]]:
        return [(e.version, e.state) for e in self.queue.entries()]


@pytest.fixture
def deployment(tmp_path, monkeypatch, template):
    for var in ENV_VARS:
        monkeypatch.setenv(var, "")
        monkeypatch.delenv(var)
    return Deployment(activate(resolve_home(tmp_path / "home"), WF), template)


def second_challenger_waits_behind_a_canary(d: Deployment) -> dict:
    """Version 2 in canary; version 3 passes the gate meanwhile and is queued."""
    d.evaluated("2", DAY)
    [request] = d.tick(DAY).run_requests  # no queue: the rollout sensor starts 2 as before
    assert request.run_key == "rollout-start:2" and d.states() == []
    record = d.rollout_started("2", DAY)
    record = d.rollout_moved(advance(record, DAY + timedelta(days=2), "rollout", "schedule"))

    d.evaluated("3", DAY + timedelta(days=3))
    waiting = d.tick(DAY + timedelta(days=3))
    assert not waiting.run_requests  # the canary of 2 goes on: day 2 of its first step
    [entry] = d.queue.entries()
    assert (entry.version, entry.state) == ("3", "queued")
    queued = entry.events[0]
    assert queued["behind"] == f"rollout {record['id']}"
    assert (queued["verdict"], queued["judged_against"]) == ("promote", "1")
    assert queued["at"] == _at(DAY + timedelta(days=3), 9).isoformat()
    # The next tick records nothing twice.
    d.tick(DAY + timedelta(days=4))
    assert len(d.queue.events()) == 1
    return record


def reevaluation_requested(d: Deployment, day: date, champion: str):
    result = d.tick(day)
    [request] = result.run_requests
    assert request.job_name == "evaluate_challenger"
    assert request.run_config["ops"][WF.op(EVALUATION)]["config"] == {"version": "3"}
    assert request.tags["afterlaunch/trigger"] == "challenger_queue"
    assert d.states() == [("3", "reevaluating")]
    assert d.queue.entries()[0].last["against"] == champion
    # Until the evaluation is recorded, the queue waits and says so.
    still = d.tick(day)
    assert not still.run_requests and "being re-evaluated against champion" in still.skip_message
    return request


def test_a_queued_challenger_is_reevaluated_against_the_new_champion_and_rolled_out(
    deployment, capsys
):
    d = deployment
    record = second_challenger_waits_behind_a_canary(d)

    # The canary of 2 completes: 2 is promoted. 3's verdict was against 1: it is re-judged.
    finished = DAY + timedelta(days=16)
    d.set_champion("2")
    d.rollout_moved(end(_at_last(record), "promoted", finished, "rollout", "schedule done"))
    reevaluation_requested(d, finished, champion="2")

    d.evaluated("3", finished)  # the run the queue asked for: 3 against champion 2, passes
    [start_request] = d.tick(finished).run_requests
    assert start_request.job_name == "rollout_step"
    config = start_request.run_config["ops"][WF.op(ROLLOUT)]["config"]
    assert (config["action"], config["version"]) == ("start", "3")
    assert d.states() == [("3", "starting")]

    second = d.rollout_started("3", finished)
    d.tick(finished + timedelta(days=1))
    [entry] = d.queue.entries()
    assert (entry.state, entry.last["rollout"]) == ("rolled_out", second["id"])
    assert second["champion_version"] == "2"
    assert [e["event"] for e in entry.events] == [
        "queued",
        "reevaluating",
        "starting",
        "rolled_out",
    ]
    shown = "\n".join(lines(d.queue.entries()))
    assert "version 3: rolled_out" in shown and f"behind rollout {record['id']}" in shown
    # The same, by the command line.
    assert main(["queue", "--home", str(d.home.root), "--workflow", WF.name]) == 0
    printed = capsys.readouterr().out
    assert "version 3: rolled_out" in printed and "reevaluating" in printed


def test_a_queued_challenger_that_fails_against_the_champion_of_then_is_rejected(deployment):
    d = deployment
    record = second_challenger_waits_behind_a_canary(d)

    # 2's canary is rolled back: champion 1 stays, and 3 is judged again all the same.
    stopped = DAY + timedelta(days=5)
    d.rollout_moved(end(record, "rolled_back", stopped, "rollout", "task success fell"))
    reevaluation_requested(d, stopped, champion="1")

    d.evaluated("3", stopped, verdict="reject", reasons=["roc_auc not better with confidence"])
    after = d.tick(stopped)
    assert not after.run_requests, "a rejected challenger is not rolled out"
    [entry] = d.queue.entries()
    assert (entry.state, entry.last["verdict"]) == ("rejected", "reject")
    assert "roc_auc not better" in entry.last["said"]
    # Closed for good: later ticks neither re-queue it nor start anything.
    later = d.tick(stopped + timedelta(days=1))
    assert not later.run_requests and "verdict reject" in later.skip_message
    assert [e["event"] for e in d.queue.events()] == ["queued", "reevaluating", "rejected"]


def test_a_champion_changed_during_the_reevaluation_asks_for_another(deployment):
    d = deployment
    record = second_challenger_waits_behind_a_canary(d)
    finished = DAY + timedelta(days=16)
    d.set_champion("2")
    d.rollout_moved(end(_at_last(record), "promoted", finished, "rollout", "schedule done"))
    reevaluation_requested(d, finished, champion="2")
    d.set_champion("1")  # someone rolled back by hand before the evaluation came back
    d.evaluated("3", finished, judged_against="2")
    [again] = d.tick(finished + timedelta(days=1)).run_requests
    assert again.job_name == "evaluate_challenger" and again.run_key.endswith(":2")
    assert d.queue.entries()[0].last["against"] == "1"
    d.evaluated("3", finished + timedelta(days=1), verdict="reject")
    d.tick(finished + timedelta(days=1))
    assert d.states() == [("3", "rejected")]
    # The verdict against champion 2, gone, is never queued or acted on afterwards.
    later = d.tick(finished + timedelta(days=2))
    assert not later.run_requests and d.states() == [("3", "rejected")]


def test_a_challenger_queued_behind_a_queued_one_waits_for_its_turn(deployment):
    d = deployment
    record = second_challenger_waits_behind_a_canary(d)
    stopped = DAY + timedelta(days=5)
    d.rollout_moved(end(record, "rolled_back", stopped, "rollout", "task success fell"))
    reevaluation_requested(d, stopped, champion="1")
    # Meanwhile version 2 is re-trained and passes again (before 3's re-evaluation is back).
    d.evaluated("2", stopped + timedelta(days=1))
    d.tick(stopped + timedelta(days=1))
    assert d.states() == [("3", "reevaluating"), ("2", "queued")]
    assert d.queue.entries()[1].events[0]["behind"] == "queued version 3"


def test_a_challenger_that_passes_after_the_rollout_ended_is_started_as_before(deployment):
    d = deployment
    record = second_challenger_waits_behind_a_canary(d)
    stopped = DAY + timedelta(days=5)
    d.rollout_moved(end(record, "rolled_back", stopped, "rollout", "task success fell"))
    reevaluation_requested(d, stopped, champion="1")
    d.evaluated("3", stopped)
    d.tick(stopped)
    d.rollout_started("3", stopped)
    third = d.rollout_moved(end(d.store.read(ROLLOUT, None), "rolled_back", stopped, "r", "x"))
    # Judged on the day 3's rollout ended, but against the champion serving now, nothing
    # running or waiting: the rollout sensor starts it itself; the queue has nothing to add.
    d.evaluated("2", stopped)
    [request] = d.tick(stopped + timedelta(days=1)).run_requests
    assert request.run_key.startswith("rollout-start:") and third["state"] == "rolled_back"
    assert d.states() == [("3", "rolled_out")]


def test_a_failed_run_closes_the_entry_as_failed_instead_of_waiting_forever(deployment):
    d = deployment
    record = second_challenger_waits_behind_a_canary(d)
    stopped = DAY + timedelta(days=5)
    d.rollout_moved(end(record, "rolled_back", stopped, "rollout", "task success fell"))
    request = reevaluation_requested(d, stopped, champion="1")
    d.instance.add_run(
        DagsterRun(
            job_name=request.job_name,
            run_id="f" * 32,
            status=DagsterRunStatus.FAILURE,
            tags={"dagster/run_key": request.run_key},
        )
    )
    after = d.tick(stopped + timedelta(days=1))
    assert not after.run_requests and "failed" in after.skip_message
    [entry] = d.queue.entries()
    assert entry.state == "failed" and "f" * 32 in entry.last["said"]


@pytest.mark.bad_input
def test_a_corrupt_queue_file_is_refused_by_line(deployment):
    d = deployment
    d.queue.path.parent.mkdir(parents=True, exist_ok=True)
    d.queue.path.write_text('{"entry": "v3", "event": "queued", "version": "3"}\n{not json\n')
    with pytest.raises(QueueCorrupt, match="line 2"):
        d.queue.entries()
    d.queue.path.write_text('{"entry": "v3", "event": "starting", "version": "3", "at": "x"}\n')
    with pytest.raises(QueueCorrupt, match="before it was queued"):
        d.queue.entries()


def _at_last(record: dict) -> dict:
    """The record at the last canary step (the steps between are the canary's own tests)."""
    return {**record, "state": "canary", "step": len(record["schedule"]) - 1, "fraction": 1.0}


def _at(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=UTC)
