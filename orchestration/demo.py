"""The demo: a simulated production run on embedded storage, from an empty home to a timeline.

Days before the reference window's end are ingested with the data checks only; the reference
profile is then built from their clean days; every later day runs the full daily ingestion
(snapshot, contract, volume, freshness, schema, profile, drift). The timeline records each
injected incident and every check that did not pass, so "was it caught, by what, when" is one
file to read.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections import defaultdict
from dataclasses import dataclass, field

from dagster import AssetKey, DagsterInstance

from orchestration.home import Home, activate
from orchestration.runner import RunOutcome, run_job
from orchestration.scenario import Scenario
from orchestration.simulation.crm import CrmSimulator

log = logging.getLogger("afterlaunch.demo")

DEMO_MARKER = ".afterlaunch-demo"


@dataclass
class DemoResult:
    scenario: Scenario
    runs: list[RunOutcome] = field(default_factory=list)
    timeline: list[dict] = field(default_factory=list)

    def errors_by_day(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = defaultdict(list)
        for run in self.runs:
            for check in run.checks:
                if check.level == "error" and check.partition is not None:
                    found[check.partition].append(check.check)
        return dict(found)


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


def run_demo(home: Home, scenario: Scenario) -> DemoResult:
    prepare_home(home)
    activate(home)
    started = time.monotonic()
    result = DemoResult(scenario)
    for incident in scenario.incidents:
        result.timeline.append(
            {
                "day": incident.day.isoformat(),
                "kind": "incident_injected",
                "incident": incident.kind,
                "params": incident.params,
            }
        )

    log.info(
        "simulating the CRM: %d days from %s (seed %d)",
        scenario.days,
        scenario.start,
        scenario.seed,
    )
    simulator = CrmSimulator(home.source_url, seed=scenario.seed)
    simulator.write_days(scenario.start, scenario.end, scenario.incidents)

    instance = DagsterInstance.get()
    for number in range(1, scenario.days + 1):
        key = scenario.day(number).isoformat()
        if number == scenario.reference_days + 1:
            launch = scenario.day(scenario.reference_days).isoformat()
            _build_reference(instance, result, launch)
            _draw_test_set(instance, result, launch)
            _train(instance, result, launch, "launch model: first training on the clean days")
        elif number > scenario.reference_days + 1 and (number - scenario.reference_days) % 7 == 1:
            _weekly(instance, result, scenario.day(number - 1).isoformat())
        job = "raw_ingestion" if number <= scenario.reference_days else "daily_ingestion"
        outcome = run_job(instance, job, key)
        result.runs.append(outcome)
        _record(result, outcome)
        failed = [c.check for c in outcome.checks if c.level != "ok"]
        log.info(
            "day %2d/%d %s %-15s %s",
            number,
            scenario.days,
            key,
            job,
            "all checks passed" if not failed else "not passed: " + ", ".join(failed),
        )

    _train(instance, result, scenario.end.isoformat(), "retraining at the end of the scenario")
    (home.reports / "timeline.json").write_text(json.dumps(result.timeline, indent=2))
    log.info(
        "demo finished in %.0f s; timeline: %s",
        time.monotonic() - started,
        home.reports / "timeline.json",
    )
    return result


def _build_reference(instance: DagsterInstance, result: DemoResult, end: str) -> None:
    config = {"ops": {"reference_profile": {"config": {"end_date": end}}}}
    outcome = run_job(instance, "reference_refresh", None, run_config=config)
    result.runs.append(outcome)
    if not outcome.success:
        raise RuntimeError(f"the reference profile could not be built (run {outcome.run_id})")
    result.timeline.append({"day": end, "kind": "reference_built", "run_id": outcome.run_id})
    log.info("reference profile built from the window ending %s", end)


def _draw_test_set(instance: DagsterInstance, result: DemoResult, end: str) -> None:
    config = {"ops": {"eval_test_set": {"config": {"version": "1", "end_date": end}}}}
    outcome = run_job(instance, "draw_test_set", None, run_config=config)
    result.runs.append(outcome)
    if not outcome.success:
        raise RuntimeError(f"the evaluation test set could not be drawn (run {outcome.run_id})")
    result.timeline.append({"day": end, "kind": "test_set_drawn", "version": "1"})


def _weekly(instance: DagsterInstance, result: DemoResult, week_end: str) -> None:
    config = {"ops": {"weekly_evaluation": {"config": {"week_end": week_end}}}}
    outcome = run_job(instance, "evaluate_weekly", None, run_config=config)
    result.runs.append(outcome)
    _record(result, outcome, day=week_end)
    log.info(
        "weekly evaluation up to %s: %s",
        week_end,
        "; ".join(c.description for c in outcome.checks) or "failed",
    )


def _train(instance: DagsterInstance, result: DemoResult, end: str, summary: str) -> None:
    config = {
        "ops": {
            "training_set": {"config": {"end_date": end}},
            "challenger_model": {"config": {"change_summary": summary}},
        }
    }
    outcome = run_job(instance, "train_challenger", None, run_config=config)
    result.runs.append(outcome)
    if not outcome.success:
        raise RuntimeError(f"training on the window ending {end} failed (run {outcome.run_id})")
    version = (
        instance.get_latest_materialization_event(AssetKey("challenger_model"))
        .asset_materialization.metadata["model_version"]
        .value
    )
    result.timeline.append(
        {
            "day": end,
            "kind": "challenger_registered",
            "version": version,
            "reason": summary,
            "run_id": outcome.run_id,
        }
    )
    log.info("trained on labels until %s: model version %s is @challenger", end, version)
    evaluation = instance.get_latest_materialization_event(AssetKey("challenger_evaluation"))
    meta = evaluation.asset_materialization.metadata
    result.timeline.append(
        {
            "day": end,
            "kind": "gate_decision",
            "version": version,
            "verdict": meta["verdict"].value,
            "summary": meta["summary"].value,
        }
    )
    log.info("gate on version %s: %s", version, meta["summary"].value)
    change = instance.get_latest_materialization_event(AssetKey("champion"))
    if change is not None and change.run_id == outcome.run_id:
        record = change.asset_materialization.metadata
        result.timeline.append(
            {
                "day": end,
                "kind": "champion_changed",
                "action": record["action"].value,
                "version": record["version"].value,
                "previous_version": record["previous_version"].value,
            }
        )
        log.info("champion is now version %s", record["version"].value)


def _record(result: DemoResult, outcome: RunOutcome, day: str | None = None) -> None:
    for check in outcome.checks:
        if check.level != "ok":
            result.timeline.append(
                {
                    "day": day or outcome.partition,
                    "kind": "check_failed",
                    "run_id": outcome.run_id,
                    **check.as_dict(),
                }
            )
    if outcome.failed_steps:
        result.timeline.append(
            {
                "day": outcome.partition,
                "kind": "step_failed",
                "run_id": outcome.run_id,
                "steps": outcome.failed_steps,
            }
        )


def summary_lines(result: DemoResult) -> list[str]:
    """Each injected incident and the checks that raised an ERROR on its day; then clean days."""
    errors = result.errors_by_day()
    lines = [f"{'day':<11} {'incident':<17} caught by (ERROR)"]
    incident_days = set()
    for incident in result.scenario.incidents:
        key = incident.day.isoformat()
        incident_days.add(key)
        caught = ", ".join(sorted(set(errors.get(key, [])))) or "-"
        if incident.kind == "concept_drift" and caught == "-":
            caught = "- (expected: only labels reveal it, later)"
        lines.append(f"{key:<11} {incident.kind:<17} {caught}")
    noisy = {day: checks for day, checks in errors.items() if day not in incident_days}
    for event in result.timeline:
        if event["kind"] == "challenger_registered":
            lines.append(
                f"{event['day']:<11} model version {event['version']} registered as "
                f"@challenger ({event['reason']})"
            )
        elif event["kind"] == "gate_decision":
            lines.append(f"{'':<11} gate: {event['verdict']} ({event['summary']})")
        elif event["kind"] == "champion_changed":
            lines.append(f"{'':<11} champion: {event['previous_version']} -> {event['version']}")
    clean = result.scenario.days - len(incident_days)
    lines.append(
        f"clean days with an ERROR: {len(noisy)} of {clean}" + (f" ({noisy})" if noisy else "")
    )
    return lines
