"""The Dagster daemon's schedule and sensor loop, on simulated time, in this process.

The real daemon ticks on the wall clock; the demo needs ninety days in minutes. This class
evaluates the project's own schedules and sensors (their real definitions, through
`evaluate_tick`) at a simulated instant and executes the runs they request, tagged exactly as
the daemon tags them (schedule or sensor name, run key), so the history reads the same in the
UI and a real daemon started later on the same instance skips the run keys already used.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from dagster import (
    DagsterInstance,
    Definitions,
    RunsFilter,
    build_schedule_context,
    build_sensor_context,
)
from dagster._core.storage.tags import RUN_KEY_TAG, SCHEDULE_NAME_TAG, SENSOR_NAME_TAG
from dagster._utils.schedules import cron_string_iterator

from orchestration.jobs import WORKFLOW_TAG
from orchestration.runner import RunOutcome, run_job
from resources.clock import SIMULATED_NOW

log = logging.getLogger("afterlaunch.daemon")

MAX_SENSOR_ROUNDS = 6  # a run one sensor requests may give another sensor something to do


@dataclass
class TickReport:
    at: datetime
    runs: list[RunOutcome] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # sensor -> why it did nothing


class SimulatedDaemon:
    def __init__(
        self,
        defs: Definitions,
        instance: DagsterInstance,
        started: datetime,
        on_run: Callable[[RunOutcome], None] | None = None,
        workflow: str | None = None,
    ):
        self.defs = defs
        self.workflow = workflow
        self.instance = instance
        self.last_tick = started
        self.cursors: dict[str, str | None] = {}
        self.on_run = on_run or (lambda outcome: None)
        # Resolved definitions (a partitioned job's schedule only gets its cron here).
        self.repository = defs.get_repository_def()

    def tick(self, now: datetime) -> TickReport:
        """Everything the daemon would have done between the last tick and `now`."""
        os.environ[SIMULATED_NOW] = now.isoformat()
        report = TickReport(now)
        for fired, schedule in self._due_schedules(now):
            os.environ[SIMULATED_NOW] = fired.isoformat()
            # Entered and left here: a context opens its own instance from the ref and sets a
            # process-wide context variable that only leaving it resets.
            with build_schedule_context(
                instance=self.instance, scheduled_execution_time=fired
            ) as context:
                result = schedule.evaluate_tick(context)
            for request in result.run_requests or []:
                tags = {**request.tags, SCHEDULE_NAME_TAG: schedule.name}
                self._launch(report, request, request.job_name or schedule.job_name, tags)
        os.environ[SIMULATED_NOW] = now.isoformat()
        for _ in range(MAX_SENSOR_ROUNDS):
            if not self._sensor_round(report):
                break
        self.last_tick = now
        return report

    def _due_schedules(self, now: datetime):
        due = []
        for schedule in self.repository.schedule_defs:
            for fired in cron_string_iterator(
                self.last_tick.timestamp() + 1, schedule.cron_schedule, schedule.execution_timezone
            ):
                if fired > now:
                    break
                due.append((fired, schedule))
        return sorted(due, key=lambda pair: pair[0])

    def _sensor_round(self, report: TickReport) -> bool:
        launched = False
        for sensor in self.repository.sensor_defs:
            with build_sensor_context(
                instance=self.instance,
                repository_def=self.repository,
                # evaluate_tick does not bind resources itself (the daemon does): give them.
                resources=self.repository.get_top_level_resources(),
                cursor=self.cursors.get(sensor.name),
                sensor_name=sensor.name,
            ) as context:
                result = sensor.evaluate_tick(context)
            self.cursors[sensor.name] = result.cursor
            if result.skip_message:
                report.skipped[sensor.name] = result.skip_message
            for request in result.run_requests or []:
                if request.run_key and self._used(sensor.name, request.run_key):
                    continue
                tags = {**request.tags, SENSOR_NAME_TAG: sensor.name}
                if request.run_key:
                    tags[RUN_KEY_TAG] = request.run_key
                job = request.job_name or sensor.job_name
                self._launch(report, request, job, tags)
                launched = True
        return launched

    def _used(self, sensor_name: str, run_key: str) -> bool:
        # The daemon's rule: a sensor never launches a second run with the same run key.
        # Sensor names repeat across workflows (one code location each): the workflow tag
        # scopes the key as the daemon's per-location origin does.
        tags = {RUN_KEY_TAG: run_key, SENSOR_NAME_TAG: sensor_name}
        if self.workflow:
            tags[WORKFLOW_TAG] = self.workflow
        runs = self.instance.get_runs(filters=RunsFilter(tags=tags), limit=1)
        return bool(runs)

    def _launch(self, report: TickReport, request, job: str, tags: dict) -> None:
        log.debug("launching %s %s (%s)", job, request.partition_key or "", tags)
        outcome = run_job(
            self.defs,
            self.instance,
            job,
            request.partition_key,
            run_config=dict(request.run_config or {}),
            tags=tags,
        )
        report.runs.append(outcome)
        self.on_run(outcome)
