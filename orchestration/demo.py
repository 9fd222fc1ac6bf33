"""The demo: simulated production, partition by partition, from an empty home to a readable
timeline.

1. The workflow's simulated source writes every day of the scenario to the source database.
2. The partitions that end before launch are ingested and checked (the history a team has at
   launch).
3. Launch: the reference profile, the evaluation test set and the first model, promoted on
   the gate's floors.
4. At the end of every later partition (a day, a week or a month: the workflow's partitions),
   the project's own schedules and sensors are ticked on simulated time (`SimulatedDaemon`):
   the production schedule ingests, checks and scores the partition; the evaluation schedule
   judges the champion; sensors retrain on drift, a performance drop or new labels, evaluate
   each new challenger, and route alerts to a local webhook.

Day numbers (1 = the scenario's start) name every event, whatever the partitions: a tick is
numbered by the last day of the partition it closes.

The engine's part is generic; what is simulated (the source, the incidents, people's feedback
and actions) is the workflow's `simulation`.

Everything lands in the home's Dagster instance and MLflow store, so `afterlaunch ui --home`
shows the same history afterwards.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path

import yaml
from dagster import DagsterInstance

from assets.names import CHALLENGER, EVAL_SET, FLAGS, PREDICTIONS, REFERENCE, TRAINING_SET
from assets.partitions import Partitioning
from assets.workflow import Workflow
from orchestration.catalog import definitions
from orchestration.definitions import policy_resource
from orchestration.home import AUDIT_URL_ENV, Home, activate, registry_for
from orchestration.runner import RunOutcome, run_job
from orchestration.scenario import Scenario
from orchestration.simulated_daemon import SimulatedDaemon
from orchestration.timeline import Timeline
from orchestration.webhook_receiver import WebhookReceiver
from resources.alerts import AlertOutbox, outbox_path
from resources.clock import SIMULATED_NOW
from resources.policy import home_policy_file
from resources.snapshots import SnapshotStore, snapshot_root

log = logging.getLogger("afterlaunch.demo")

DEMO_MARKER = ".afterlaunch-demo"
TICK_TIME = clock_time(7, 0)  # the daemon's look after a partition ends: after 02:00 and 06:00


@dataclass
class DemoResult:
    scenario: Scenario
    timeline: Timeline
    seconds: float = 0.0
    agents: dict | None = None  # what the workflow's agent did, when it declares actions


def prepare_home(home: Home) -> None:
    """A demo starts empty. Only a previous demo's home is replaced; anything else is refused,
    so the demo never deletes a real deployment's state."""
    if home.root.exists() and any(home.root.iterdir()):
        if not (home.root / DEMO_MARKER).exists():
            raise SystemExit(
                f"{home.root} already holds data that the demo did not create; "
                "choose an empty folder with --home"
            )
        log.info("replacing the previous demo home %s", home.root)
        shutil.rmtree(home.root)
    home.root.mkdir(parents=True, exist_ok=True)
    (home.root / DEMO_MARKER).write_text("created by `afterlaunch demo`; safe to delete\n")


def _at(day, moment: clock_time) -> datetime:
    return datetime.combine(day, moment, tzinfo=UTC)


@dataclass(frozen=True)
class PartitionTick:
    """One partition of the scenario: its key, the day number of its last day, and the
    instant the demo looks after it ends (its end plus `at`)."""

    key: str
    number: int
    tick: datetime


def partition_ticks(
    parts: Partitioning, scenario: Scenario, at: clock_time = TICK_TIME
) -> tuple[list[PartitionTick], list[PartitionTick]]:
    """The scenario's whole partitions, split at launch: those ending by the end of day
    `reference_days` (the history) and the later ones (production, one tick each). A partition
    the scenario ends inside is left out: it has not ended, nothing would run it."""
    first = datetime.combine(scenario.start, clock_time())
    end = datetime.combine(scenario.end + timedelta(days=1), clock_time())
    launch = datetime.combine(scenario.day(scenario.reference_days + 1), clock_time())
    history, production = [], []
    for key in parts.keys_between(first, end - timedelta(seconds=1)):
        start, stop = parts.window(key)
        if start < first or stop > end:
            continue
        number = (stop.date() - scenario.start).days  # the day number of its last day
        tick = PartitionTick(key, number, _at(stop.date(), at))
        (history if stop <= launch else production).append(tick)
    if not history:
        raise ValueError(
            f"scenario {scenario.name}: no whole {parts.cadence} partition ends by day "
            f"{scenario.reference_days}, so there is nothing to launch on"
        )
    return history, production


def run_demo(
    home: Home, scenario: Scenario, wf: Workflow, json_path: str | Path | None = None
) -> DemoResult:
    if wf.simulation is None:
        raise SystemExit(f"workflow {wf.name} has no simulation: the demo cannot run it")
    prepare_home(home)
    activate(home, wf)
    if scenario.policy:
        target = home_policy_file(home.root, wf.name)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(yaml.safe_dump(scenario.policy))
        try:  # refused now, with its sentence, rather than as every run's failure later
            policy_resource(wf, str(home.root)).load()
        except ValueError as err:
            raise SystemExit(f"scenario {scenario.name}: its policy is refused: {err}") from None
    sim = wf.simulation
    defs = definitions(wf)
    source_url = home.source_url_for(wf)
    started = time.monotonic()
    timeline = Timeline(scenario, label_lag_days=wf.label.max_lag_days, partitions=wf.partitions)
    timeline.incidents()
    log.info(
        "simulating the %s source: %d days from %s (seed %d)",
        wf.name,
        scenario.days,
        scenario.start,
        scenario.seed,
    )
    # A scale other than 1 is asked of the simulation only then (not every one can scale).
    scaled = {"scale": scenario.scale} if scenario.scale != 1 else {}
    sim.write_source(
        source_url, scenario.seed, scenario.start, scenario.end, scenario.incidents, **scaled
    )
    instance = DagsterInstance.get()
    own_webhook = not os.environ.get("AFTERLAUNCH_ALERT_WEBHOOK")
    receiver = WebhookReceiver(home.reports / "webhook_received.jsonl")
    try:
        with receiver:
            if own_webhook:  # a real HTTP channel on localhost stands in for the team's chat
                os.environ["AFTERLAUNCH_ALERT_WEBHOOK"] = receiver.url
            people = sim.feedback(
                source_url,
                scenario.seed,
                scenario.incidents,
                scenario.day(scenario.reference_days),
            )
            run = _Runner(wf, defs, instance)
            history, production = partition_ticks(wf.partitions, scenario)
            _history(run, scenario, timeline, people, history)
            people.record(date.fromisoformat(history[-1].key))  # the launch partition's rows
            _launch(run, scenario, timeline, history[-1])
            _production(run, home, scenario, timeline, people, production)
    finally:
        reached = os.environ.pop(SIMULATED_NOW, None)
        if reached:
            record_demo_clock(home, wf.name, reached)
        if own_webhook:
            os.environ["AFTERLAUNCH_ALERT_WEBHOOK"] = ""
    result = DemoResult(scenario, timeline, time.monotonic() - started)
    document = timeline.as_json()
    document["summary"]["wall_seconds"] = round(result.seconds, 1)
    if wf.actions:
        document["summary"]["agent_actions"] = result.agents = _agent_summary(home, wf)
    for path in {home.reports / "timeline.json", *([Path(json_path)] if json_path else [])}:
        path.write_text(json.dumps(document, indent=2, default=str))
    log.info(
        "demo finished in %.0f s; timeline: %s", result.seconds, home.reports / "timeline.json"
    )
    return result


DEMO_CLOCK = "demo_clock.json"


def record_demo_clock(home: Home, workflow: str, now: str) -> None:
    """Where each workflow's simulated time stopped: `afterlaunch ui` shows that day as today."""
    path = home.reports / DEMO_CLOCK
    clocks = json.loads(path.read_text()) if path.exists() else {}
    clocks[workflow] = now
    path.write_text(json.dumps(clocks, indent=2, sort_keys=True))


def demo_clock(home: Home) -> datetime | None:
    """The latest simulated moment any demo on this home reached (None: not a demo home)."""
    path = home.reports / DEMO_CLOCK
    if not path.exists():
        return None
    return max(datetime.fromisoformat(v) for v in json.loads(path.read_text()).values())


@dataclass(frozen=True)
class _Runner:
    """One workflow's jobs on the demo's instance."""

    wf: Workflow
    defs: object
    instance: DagsterInstance

    def __call__(self, job: str, partition: str | None = None, **kwargs) -> RunOutcome:
        return run_job(self.defs, self.instance, job, partition, **kwargs)


def _history(
    run: _Runner, scenario: Scenario, timeline: Timeline, people, ticks: list[PartitionTick]
) -> None:
    """The partitions before launch: snapshot and check them (no reference, no model yet).
    People work each partition's rows in the next one, without a model: the KPI's
    pre-deployment baseline."""
    for i, part in enumerate(ticks):
        if i:
            people.record(date.fromisoformat(ticks[i - 1].key))
        os.environ[SIMULATED_NOW] = _at(part.tick.date(), clock_time(2)).isoformat()
        began = time.monotonic()
        outcome = run("raw_ingestion", part.key)
        timeline.costs.append(
            {
                "day": part.number,
                "phase": "history",
                "seconds": time.monotonic() - began,
                "runs": 1,
            }
        )
        timeline.record_run(outcome, part.number)
        _progress(scenario, part.number, [outcome])


def _launch(run: _Runner, scenario: Scenario, timeline: Timeline, last: PartitionTick) -> None:
    """On the morning after the last history partition ends: the reference, the test set and
    the first model, each up to that partition."""
    number = last.number
    launch = last.key
    op = run.wf.op
    os.environ[SIMULATED_NOW] = _at(last.tick.date(), clock_time(5)).isoformat()
    steps = [
        ("reference_refresh", {"ops": {op(REFERENCE): {"config": {"end_date": launch}}}}),
        (
            "draw_test_set",
            {"ops": {op(EVAL_SET): {"config": {"version": "1", "end_date": launch}}}},
        ),
        (
            "train_challenger",
            {
                "ops": {
                    op(TRAINING_SET): {"config": {"end_date": launch}},
                    op(CHALLENGER): {"config": {"change_summary": "launch model: first training"}},
                }
            },
        ),
    ]
    for job, config in steps:
        outcome = run(job, None, run_config=config, tags={"afterlaunch/trigger": "launch"})
        timeline.record_run(outcome, number)
        if not outcome.success:
            raise RuntimeError(f"launch step {job} failed (run {outcome.run_id})")
    timeline.add(number, "launched", reference_end=launch)
    log.info("launched on %s: reference profile, test set v1, first model promoted", launch)


def _production(
    run: _Runner,
    home: Home,
    scenario: Scenario,
    timeline: Timeline,
    people,
    ticks: list[PartitionTick],
) -> None:
    """One daemon tick after each production partition ends; a person's action runs before
    the tick of the partition its day falls in."""
    if not ticks:
        return
    current = {"day": ticks[0].number}
    wf = run.wf
    store = SnapshotStore(snapshot_root(home.root, wf.name))

    assistant = _assistant(home, wf, scenario)

    def on_run(outcome: RunOutcome) -> None:
        _on_run(timeline, outcome, current["day"])
        if outcome.job == "daily_production" and outcome.partition:
            # People work the scored rows the next day, with the outputs served.
            served = (
                store.read(PREDICTIONS, outcome.partition)
                if PREDICTIONS in outcome.materialized
                else None
            )
            people.record(date.fromisoformat(outcome.partition), served)
            if assistant is not None and served is not None:
                # The assistant acts on them the next day too, through the approval gate.
                next_day = wf.partitions.end_of(outcome.partition).date()
                made = assistant.work(next_day, served)
                log.debug("day after %s: %d agent requests", outcome.partition, made)

    launched = datetime.combine(wf.partitions.start_of(ticks[0].key), clock_time(6), tzinfo=UTC)
    daemon = SimulatedDaemon(
        run.defs,
        run.instance,
        started=launched,
        on_run=on_run,
        workflow=wf.name,
    )
    outbox = AlertOutbox(outbox_path(home.root, wf.name))
    # Day number of the day before the first production partition: actions after it are
    # production's.
    previous = (wf.partitions.start_of(ticks[0].key).date() - scenario.start).days
    for part in ticks:
        number, now = part.number, part.tick
        current["day"] = number
        began = time.monotonic()
        for action in scenario.actions_between(previous, number):
            _act(run, home, action, action["day"], timeline)
        previous = number
        report = daemon.tick(now)
        after_tick(timeline, outbox, number, now, report, began)


def after_tick(timeline: Timeline, outbox: AlertOutbox, number: int, now, report, began) -> None:
    """A production tick's cost, the alerts it delivered and the day's progress line."""
    timeline.costs.append(
        {
            "day": number,
            "phase": "production",
            "seconds": time.monotonic() - began,
            "runs": len(report.runs),
        }
    )
    for alert in outbox.delivered_since(now.isoformat()):
        timeline.add(
            number,
            "alert_sent",
            owner=alert.owner,
            delivery=alert.delivery,
            severity=alert.severity,
            check=f"{alert.payload['asset']}.{alert.payload['check']}",
            partition=alert.payload["partition"],
            attempts=alert.attempts,
        )
    _progress(timeline.scenario, number, report.runs)


def _assistant(home: Home, wf: Workflow, scenario: Scenario):
    """The workflow's simulated agent on this home's gate, or None (no actions declared, or a
    simulation without an agent)."""
    if not wf.actions or not hasattr(wf.simulation, "assistant"):
        return None
    from orchestration.approvals_cli import gate_for

    gate = gate_for(home, wf)
    return wf.simulation.assistant(scenario.seed, scenario.incidents, gate, gate.log, wf)


def _agent_summary(home: Home, wf: Workflow) -> dict:
    """Requests by how they ended (each one's last row), and whether the audit chain
    verifies. Read only: nothing is settled or appended here."""
    from resources.audit_log import AuditLog, audit_url

    with AuditLog(audit_url(home.root, wf.name, os.environ.get(AUDIT_URL_ENV, ""))) as log:
        rows = log.rows()
        findings = log.verify()
    last = {row.request_id: row.disposition for row in rows}
    ended: dict[str, int] = {}
    for disposition in last.values():
        ended[disposition] = ended.get(disposition, 0) + 1
    return {
        "requests": len(last),
        "ended": dict(sorted(ended.items())),
        "audit_rows": len(rows),
        "chain_intact": not findings,
    }


def _act(run: _Runner, home: Home, action: dict, number: int, timeline: Timeline) -> None:
    """A person's action, at noon of its day (before that day is scored)."""
    at = _at(timeline.scenario.day(number), clock_time(12))
    os.environ[SIMULATED_NOW] = at.isoformat()
    actor = action.get("actor", "data scientist")
    reason = action.get("reason", action["kind"])
    if action["kind"] == "schema_map":
        _schema_map(run, home, action, number, timeline)
        return
    if action["kind"] == "flag":
        config = {"state": action["state"], "reason": reason, "actor": actor}
        if action.get("version"):
            config["version"] = str(action["version"])
        outcome = run(
            "set_serving_flag", None, run_config={"ops": {run.wf.op(FLAGS): {"config": config}}}
        )
        for event in timeline.record_run(outcome, number):
            log.info("day %d: %s", number, _describe(event))
        if not outcome.success:
            raise RuntimeError(f"flag action on day {number} failed (run {outcome.run_id})")
        return
    wf = run.wf
    registry = registry_for(home, wf)
    store = SnapshotStore(snapshot_root(home.root, wf.name))
    version = wf.simulation.act({**action, "reason": reason, "actor": actor}, registry, store, at)
    event = timeline.add(
        number, "model_registered", version=version, trigger="by hand", reason=reason
    )
    log.info("day %d: %s", number, _describe(event))


def _schema_map(run: _Runner, home: Home, action: dict, number: int, timeline: Timeline) -> None:
    """A data engineer maps upstream's rename back to the contract (what `afterlaunch schema
    map` records) and re-ingests the days it blocked (`afterlaunch schema backfill`)."""
    from orchestration.schema import backfill, record_mapping

    mapping = record_mapping(
        home.root,
        run.wf,
        run.instance,
        dict(action.get("rename") or {}),
        dict(action.get("retype") or {}),
        action["reason"],
        action.get("actor", "data engineer"),
    )
    event = timeline.add(
        number,
        "schema_mapped",
        version=mapping.version,
        rules=mapping.describe(),
        effective_from=mapping.effective_from,
        actor=mapping.actor,
        reason=mapping.reason,
    )
    log.info("day %d: %s", number, _describe(event))
    if not action.get("backfill", True):
        return
    _, outcomes = backfill(home.root, run.wf, run.instance, run)
    for outcome in outcomes:
        timeline.record_run(outcome, number)
    timeline.add(
        number,
        "schema_backfilled",
        version=mapping.version,
        partitions=[o.partition for o in outcomes],
        rebuilt=[o.partition for o in outcomes if o.success],
    )


def _on_run(timeline: Timeline, outcome: RunOutcome, number: int) -> None:
    for event in timeline.record_run(outcome, number):
        if event["kind"] in (
            "retraining_requested",
            "challenger_evaluated",
            "promoted",
            "rolled_back",
            "rollout_step",
            "flag_changed",
        ):
            log.info("day %d: %s", number, _describe(event))


def _progress(scenario: Scenario, number: int, runs: list[RunOutcome]) -> None:
    failed = sorted({c.check for r in runs for c in r.checks if c.level != "ok"})
    jobs = ", ".join(sorted({r.job for r in runs})) or "no runs"
    log.info(
        "day %2d/%d %s %-40s %s",
        number,
        scenario.days,
        scenario.day(number).isoformat(),
        jobs[:40],
        "all checks passed" if not failed else "not passed: " + ", ".join(failed),
    )


def _describe(event: dict) -> str:
    kind = event["kind"]
    if kind == "incident_injected":
        return f"incident {event['incident']} injected"
    if kind == "check_failed":
        return f"{event['level'].upper()} {event['asset']}.{event['check']}"
    if kind == "retraining_requested":
        return f"retraining requested ({event['trigger']}): {event['reason']}"
    if kind == "model_registered":
        return f"model version {event['version']} registered as @challenger"
    if kind == "challenger_evaluated":
        return f"version {event['version']} evaluated: {event['decision']} ({event['reasons']})"
    if kind == "promoted":
        return f"version {event['version']} promoted (was {event['previous']})"
    if kind == "rolled_back":
        return f"rolled back {event['from']} -> {event['to']}: {event['reason']}"
    if kind == "rollout_step":
        where = f" at {event['fraction']:.0%}" if event["state"] == "canary" else ""
        move = f"{event['action']} -> {event['state']}{where}"
        return f"rollout of {event['version']}: {move} ({event['reason']})"
    if kind == "flag_changed":
        pinned = f" {event['version']}" if event["state"] == "pin" else ""
        return f"serving flag {event['state']}{pinned} by {event['actor']}: {event['reason']}"
    if kind == "schema_mapped":
        return (
            f"schema v{event['version']} recorded by {event['actor']} from "
            f"{event['effective_from']}: {event['rules']} ({event['reason']})"
        )
    if kind == "schema_backfilled":
        return (
            f"re-ingested through schema v{event['version']}: "
            f"{', '.join(event['partitions']) or 'nothing blocked'}"
        )
    if kind == "alert_sent":
        return f"alert to {event['owner']} ({event['delivery']}): {event['check']}"
    return kind


# A long replay can hold hundreds of them: the summary names the first few, the JSON all.
SHOWN_CHECKS = 12
READABLE = (
    "incident_injected",
    "retraining_requested",
    "model_registered",
    "challenger_evaluated",
    "promoted",
    "rolled_back",
    "rollout_step",
    "flag_changed",
    "schema_mapped",
    "schema_backfilled",
)


def summary_lines(result: DemoResult) -> list[str]:
    """The readable timeline: incidents, and what the loop did about them."""
    timeline = result.timeline
    summary = timeline.summary()
    lines = ["", "timeline"]
    for event in timeline.in_order():
        if event["kind"] in READABLE:
            lines.append(f"  day {event['day']:>2} {event['date']}  {_describe(event)}")
    lines += ["", f"{'incident':<17} {'day':>3}  first detected by"]
    for item in summary["incidents"]:
        caught = (
            f"day {item['detected_day']}: {', '.join(item['detected_by'])}"
            if item["detected_day"]
            else "not detected"
        )
        lines.append(f"{item['incident']:<17} {item['day']:>3}  {caught}")
    lines.append(
        f"alerts sent: {summary['alerts_sent']}; retrainings requested: "
        f"{summary['retrainings_requested']}; promoted: {summary['promotions']}; rejected: "
        f"{summary['rejected']}"
    )
    for item in summary["rollouts"]:
        lines.append(
            f"rollout of version {item['version']}: {' -> '.join(item['path'])} "
            f"(day {item['day']}: {item['reason']})"
        )
    checks = summary["clean_day_error_checks"]
    shown = checks[:SHOWN_CHECKS] + (
        [f"... {len(checks) - SHOWN_CHECKS} more"] if len(checks) > SHOWN_CHECKS else []
    )
    lines.append(
        f"ERROR checks no incident explains: {summary['clean_day_errors']}"
        + (f" ({shown})" if summary["clean_day_errors"] else "")
    )
    if result.agents:
        a = result.agents
        ended = ", ".join(f"{n} {state}" for state, n in a["ended"].items())
        lines.append(
            f"agent requests: {a['requests']} ({ended}); audit log: {a['audit_rows']} rows, "
            + ("chain intact" if a["chain_intact"] else "CHAIN BROKEN")
        )
    lines.append(f"wall time: {result.seconds:.0f} s")
    return lines
