"""The demo of a staged-pipeline workflow: simulated production, day by day, with the stage
checks meant to catch each incident.

1. The simulated source (tickets, knowledge base, the world's serving-side incidents) is
   written for every day of the scenario.
2. The days before launch are ingested and checked.
3. Launch: the first pipeline version registered (its prompt in the prompt registry), judged
   on the history's thresholds, promoted; the text reference recorded.
4. After every later day the project's schedule and alert sensor tick on simulated time: the
   day is served, every stage measured and checked, the review sample drawn, the rollout
   moved. People's verdicts on what they were shown arrive one to three days later.
5. People act on given days: a prompt change proposed (the gate, then shadow and canary), a
   rollback. An incident of a kind the simulation proposes (a refined prompt) is registered
   as a challenger on its day.

The detection table names, for each incident, the check meant to catch it and the day it did.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from datetime import time as clock_time
from pathlib import Path

import yaml
from dagster import DagsterInstance

from assets.names import PREDICTIONS
from assets.pipeline_daily import TEXT_REFERENCE
from assets.pipeline_versions import CHALLENGER, ROLLBACK
from assets.workflow import Workflow
from orchestration.catalog import definitions
from orchestration.definitions import policy_resource
from orchestration.demo import (
    _at,
    _Runner,
    after_tick,
    partition_ticks,
    prepare_home,
    record_demo_clock,
)
from orchestration.home import Home, activate
from orchestration.runner import RunOutcome
from orchestration.scenario import Scenario
from orchestration.simulated_daemon import SimulatedDaemon
from orchestration.timeline import Timeline
from orchestration.webhook_receiver import WebhookReceiver
from resources.alerts import AlertOutbox, outbox_path
from resources.clock import SIMULATED_NOW
from resources.policy import home_policy_file
from resources.snapshots import SnapshotStore, snapshot_root

log = logging.getLogger("afterlaunch.demo")


@dataclass
class PipelineDemoResult:
    scenario: Scenario
    timeline: Timeline
    seconds: float
    detections: list[dict] = field(default_factory=list)
    unexplained: list[str] = field(default_factory=list)


def run_pipeline_demo(
    home: Home, scenario: Scenario, wf: Workflow, json_path: str | Path | None = None
) -> PipelineDemoResult:
    sim = wf.simulation
    if sim is None:
        raise SystemExit(f"workflow {wf.name} has no simulation: the demo cannot run it")
    prepare_home(home)
    activate(home, wf)
    if scenario.policy:
        target = home_policy_file(home.root, wf.name)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(yaml.safe_dump(scenario.policy))
        try:
            policy_resource(wf, str(home.root)).load()
        except ValueError as err:
            raise SystemExit(f"scenario {scenario.name}: its policy is refused: {err}") from None
    defs = definitions(wf)
    source_url = home.source_url_for(wf)
    started = time.monotonic()
    timeline = Timeline(scenario, label_lag_days=wf.label.max_lag_days, partitions=wf.partitions)
    for incident in scenario.incidents:
        timeline.add(
            timeline.number_of(incident.day.isoformat()),
            "incident_injected",
            incident=incident.kind,
            params=incident.params,
        )
    log.info("simulating the %s source: %d days from %s", wf.name, scenario.days, scenario.start)
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
            if own_webhook:
                os.environ["AFTERLAUNCH_ALERT_WEBHOOK"] = receiver.url
            run = _Runner(wf, defs, instance)
            history, production = partition_ticks(wf.partitions, scenario)
            people = sim.feedback(
                source_url, scenario.seed, scenario.incidents, scenario.day(scenario.reference_days)
            )
            for part in history:
                os.environ[SIMULATED_NOW] = _at(part.tick.date(), clock_time(2)).isoformat()
                outcome = run("raw_ingestion", part.key)
                timeline.record_run(outcome, part.number)
            _launch(run, timeline, history[-1])
            _production(run, home, scenario, timeline, people, production)
    finally:
        reached = os.environ.pop(SIMULATED_NOW, None)
        if reached:
            record_demo_clock(home, wf.name, reached)
        if own_webhook:
            os.environ["AFTERLAUNCH_ALERT_WEBHOOK"] = ""
    result = PipelineDemoResult(scenario, timeline, time.monotonic() - started)
    proposed = tuple(getattr(sim, "proposed_incidents", ()))
    result.detections = detections(
        timeline, scenario, dict(getattr(sim, "intended_checks", {})), proposed
    )
    result.unexplained = unexplained_errors(timeline, scenario, proposed)
    document = {
        "scenario": {
            "name": scenario.name,
            "start": scenario.start.isoformat(),
            "days": scenario.days,
            "seed": scenario.seed,
        },
        "events": timeline.in_order(),
        "costs": timeline.costs,
    }
    document["summary"] = {
        "detections": result.detections,
        "unexplained_errors": result.unexplained,
        "wall_seconds": round(result.seconds, 1),
    }
    for path in {home.reports / "timeline.json", *([Path(json_path)] if json_path else [])}:
        path.write_text(json.dumps(document, indent=2, default=str))
    log.info("demo finished in %.0f s", result.seconds)
    return result


def _launch(run: _Runner, timeline: Timeline, last) -> None:
    os.environ[SIMULATED_NOW] = _at(last.tick.date(), clock_time(5)).isoformat()
    op = run.wf.op
    config = {
        "ops": {
            op(CHALLENGER): {"config": {"change_summary": "launch: the first pipeline version"}},
            op(TEXT_REFERENCE): {"config": {"end_date": last.key}},
        }
    }
    outcome = run("launch", None, run_config=config, tags={"afterlaunch/trigger": "launch"})
    _record(timeline, outcome, last.number)
    if not outcome.success:
        raise RuntimeError(f"launch failed (run {outcome.run_id}): {outcome.step_errors}")
    timeline.add(last.number, "launched", reference_end=last.key)
    log.info("launched on %s: first pipeline version promoted, text reference recorded", last.key)


def _production(run, home: Home, scenario: Scenario, timeline: Timeline, people, ticks) -> None:
    wf = run.wf
    sim = wf.simulation
    store = SnapshotStore(snapshot_root(home.root, wf.name))
    current = {"day": ticks[0].number if ticks else 0}

    def on_run(outcome: RunOutcome) -> None:
        _record(timeline, outcome, current["day"])
        if outcome.job == "daily_production" and outcome.partition:
            served = (
                store.read(PREDICTIONS, outcome.partition)
                if PREDICTIONS in outcome.materialized
                else None
            )
            people.record(date.fromisoformat(outcome.partition), served)

    launched = datetime.combine(wf.partitions.start_of(ticks[0].key), clock_time(6), tzinfo=UTC)
    daemon = SimulatedDaemon(
        run.defs, run.instance, started=launched, on_run=on_run, workflow=wf.name
    )
    outbox = AlertOutbox(outbox_path(home.root, wf.name))
    proposals = {
        timeline.number_of(i.day.isoformat()): i
        for i in scenario.incidents
        if i.kind in getattr(sim, "proposed_incidents", ())
    }
    previous = (wf.partitions.start_of(ticks[0].key).date() - scenario.start).days
    for part in ticks:
        number, now = part.number, part.tick
        current["day"] = number
        began = time.monotonic()
        for day in range(previous + 1, number + 1):
            if day in proposals:
                incident = proposals[day]
                template, summary = sim.proposal(incident)
                _propose(run, timeline, day, template, summary, "prompt engineer")
        for action in scenario.actions_between(previous, number):
            _act(run, timeline, action)
        previous = number
        report = daemon.tick(now)
        after_tick(timeline, outbox, number, now, report, began)


def _propose(run, timeline: Timeline, number: int, template: str, summary: str, actor: str):
    os.environ[SIMULATED_NOW] = _at(timeline.scenario.day(number), clock_time(12)).isoformat()
    config = {"change_summary": summary, "prompt_template": template, "actor": actor}
    outcome = run(
        "propose_challenger", None, run_config={"ops": {run.wf.op(CHALLENGER): {"config": config}}}
    )
    _record(timeline, outcome, number)
    if not outcome.success:
        raise RuntimeError(f"proposal on day {number} failed (run {outcome.run_id})")


def _act(run, timeline: Timeline, action: dict) -> None:
    number = action["day"]
    kind = action["kind"]
    actor = action.get("actor", "reply suggestions owner")
    if kind == "propose_prompt":
        template, summary = run.wf.simulation.prompt(action["prompt"])
        _propose(run, timeline, number, template, action.get("summary") or summary, actor)
        return
    if kind == "redeploy":  # the champion's configuration and prompt, on today's context
        _propose(run, timeline, number, "", action["summary"], actor)
        return
    if kind == "rollback":
        os.environ[SIMULATED_NOW] = _at(timeline.scenario.day(number), clock_time(12)).isoformat()
        config = {"reason": action["reason"], "actor": actor}
        outcome = run(
            "pipeline_rollback", None, run_config={"ops": {run.wf.op(ROLLBACK): {"config": config}}}
        )
        _record(timeline, outcome, number)
        if not outcome.success:
            raise RuntimeError(f"rollback on day {number} failed (run {outcome.run_id})")
        return
    raise ValueError(f"day {number}: the pipeline demo has no action {kind!r}")


def _record(timeline: Timeline, outcome: RunOutcome, number: int) -> None:
    """The run's failed checks (the engine's timeline) and the pipeline's own events."""
    timeline.record_run(outcome, number)
    made = outcome.materialized
    if CHALLENGER in made:
        meta = made[CHALLENGER]
        event = timeline.add(
            number, "model_registered", version=meta["version"], reason=meta["change_summary"]
        )
        log.info("day %d: version %s registered: %s", number, meta["version"], event["reason"])
    if "pipeline_gate" in made:
        meta = made["pipeline_gate"]
        timeline.add(
            number,
            "challenger_evaluated",
            verdict=meta["verdict"],
            action=meta["action"],
            failing=meta["failing_thresholds"],
        )
        log.info("day %d: gate %s: %s", number, meta["verdict"], meta["action"])
    if "rollout_step" in made and made["rollout_step"].get("move") not in ("none", "wait"):
        meta = made["rollout_step"]
        timeline.add(
            number, "rollout_step", action=meta["move"], state=meta["state"], reason=meta["reason"]
        )
        log.info(
            "day %d: rollout %s -> %s (%s)", number, meta["move"], meta["state"], meta["reason"]
        )
    if ROLLBACK in made:
        meta = made[ROLLBACK]
        timeline.add(
            number,
            "rolled_back",
            **{"from": meta["from_version"]},
            to=meta["to_version"],
            prompt=meta["prompt"],
            reason=meta["reason"],
        )
        log.info(
            "day %d: rolled back %s -> %s (prompt %s)",
            number,
            meta["from_version"],
            meta["to_version"],
            meta["prompt"],
        )


def _window(incident, scenario: Scenario, proposed: tuple[str, ...]) -> tuple[date, date]:
    """The days an incident acts on: a proposed challenger its own day (the gate), a lasting
    change until the scenario ends."""
    if incident.kind in proposed:
        return incident.day, incident.day
    last = getattr(incident, "last_day", None) or scenario.end
    return incident.day, last


def detections(
    timeline: Timeline, scenario: Scenario, intended: dict, proposed: tuple[str, ...] = ()
) -> list[dict]:
    """Per incident: the check meant to catch it, the first day it failed within the
    incident's days, and the first check of any kind that did."""
    failures = timeline.of_kind("check_failed")
    out = []
    for incident in scenario.incidents:
        first, last = _window(incident, scenario, proposed)
        seen = [e for e in failures if first <= date.fromisoformat(e["date"]) <= last]
        meant = intended.get(incident.kind)
        by_meant = [e for e in seen if f"{e['asset'].split('/')[-1]}.{e['check']}" == meant]
        first_any = min((e["day"] for e in seen), default=None)
        out.append(
            {
                "incident": incident.kind,
                "day": timeline.number_of(incident.day.isoformat()),
                "intended_check": meant,
                "caught_day": min((e["day"] for e in by_meant), default=None),
                "first_day": first_any,
                "first_checks": sorted(
                    {
                        f"{e['asset'].split('/')[-1]}.{e['check']}"
                        for e in seen
                        if e["day"] == first_any
                    }
                ),
            }
        )
    return out


def unexplained_errors(
    timeline: Timeline, scenario: Scenario, proposed: tuple[str, ...] = ()
) -> list[str]:
    """ERROR checks on days no incident acts on."""
    windows = [_window(i, scenario, proposed) for i in scenario.incidents]
    return sorted(
        {
            f"{e['date']} {e['asset'].split('/')[-1]}.{e['check']}"
            for e in timeline.of_kind("check_failed")
            if e["level"] == "error"
            and not any(a <= date.fromisoformat(e["date"]) <= b for a, b in windows)
        }
    )


def summary_lines(result: PipelineDemoResult) -> list[str]:
    lines = ["", "timeline"]
    shown = (
        "incident_injected",
        "model_registered",
        "challenger_evaluated",
        "rollout_step",
        "rolled_back",
    )
    for e in result.timeline.in_order():
        if e["kind"] in shown:
            detail = {k: v for k, v in e.items() if k not in ("day", "date", "kind")}
            lines.append(f"  day {e['day']:>2} {e['date']}  {e['kind']}: {detail}")
    lines += ["", f"{'incident':<24} {'day':>3}  {'meant to be caught by':<36} caught"]
    for d in result.detections:
        caught = f"day {d['caught_day']}" if d["caught_day"] else "NOT CAUGHT"
        lines.append(
            f"{d['incident']:<24} {d['day']:>3}  {d['intended_check'] or '-':<36} {caught}"
        )
    lines.append(
        f"ERROR checks no incident explains: {len(result.unexplained)}"
        + (f" ({result.unexplained[:8]})" if result.unexplained else "")
    )
    lines.append(f"wall time: {result.seconds:.0f} s")
    return lines
