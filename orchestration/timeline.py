"""The demo's timeline: what happened on which simulated day, and what it adds up to.

Events are plain dicts `{"day": int, "date": "YYYY-MM-DD", "kind": ..., ...}`. The summary
answers, per injected incident, when it was first detected and by which check, and how many
ERROR checks fired on days no incident explains. A check on a partition longer than a day (a
week, a month) is dated by the partition's last day: the first day it could have seen all of
the partition's rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from assets.partitions import Partitioning
from orchestration.runner import RunOutcome
from orchestration.scenario import Incident, Scenario

RETRAINING_JOBS = ("retraining", "emergency_retraining", "train_challenger")
# The weekly evaluation covers a week: an incident only labels reveal is judged on weeks that
# end the label lag and a week after its days.
WEEK = 7


@dataclass
class Timeline:
    scenario: Scenario
    label_lag_days: int = 0  # the workflow's label.max_lag_days
    partitions: Partitioning | None = None  # the workflow's (None: daily)
    events: list[dict] = field(default_factory=list)
    # Wall seconds per simulated day and how many runs it took: the loop's own cost.
    costs: list[dict] = field(default_factory=list)

    def _day(self, number: int) -> dict:
        return {"day": number, "date": self.scenario.day(number).isoformat()}

    def number_of(self, iso: str) -> int:
        return (date.fromisoformat(iso) - self.scenario.start).days + 1

    def partition_day(self, key: str) -> int:
        """The day number of a partition's last day (a daily partition's own day)."""
        if self.partitions is None:
            return self.number_of(key)
        return (self.partitions.end_of(key).date() - self.scenario.start).days

    @property
    def period_days(self) -> int:
        return self.partitions.period_days if self.partitions else 1

    def add(self, number: int, kind: str, **fields) -> dict:
        event = {**self._day(number), "kind": kind, **fields}
        self.events.append(event)
        return event

    def incidents(self) -> None:
        for incident in self.scenario.incidents:
            self.add(
                self.number_of(incident.day.isoformat()),
                "incident_injected",
                incident=incident.kind,
                last_date=incident.last_day.isoformat(),
                params=incident.params,
            )

    def record_run(self, outcome: RunOutcome, number: int) -> list[dict]:
        """Events a finished run gives; `number` is the simulated day it ran for."""
        added = []
        trigger = outcome.tags.get("afterlaunch/trigger")
        if outcome.job == "refresh_test_set" or (
            outcome.job in RETRAINING_JOBS and trigger and trigger != "performance"
        ):
            added.append(
                self.add(
                    number,
                    "retraining_requested",
                    trigger=trigger,
                    job=outcome.job,
                    reason=outcome.tags.get("afterlaunch/reason", trigger),
                    run_id=outcome.run_id,
                )
            )
        for check in outcome.checks:
            if check.level != "ok":
                day = self.partition_day(check.partition) if check.partition else number
                added.append(
                    self.add(
                        day,
                        "check_failed",
                        asset=check.asset,
                        check=check.check,
                        severity=check.severity,
                        level=check.level,
                        partition=check.partition,
                        description=check.description,
                    )
                )
        made = outcome.materialized
        if "challenger_model" in made:
            meta = made["challenger_model"]
            added.append(
                self.add(
                    number,
                    "model_registered",
                    version=meta["model_version"],
                    trigger=trigger or "manual",
                    labels_until=meta.get("labels_until"),
                )
            )
        if "challenger_evaluation" in made:
            meta = made["challenger_evaluation"]
            added.append(
                self.add(
                    number,
                    "challenger_evaluated",
                    version=meta["challenger_version"],
                    champion=meta["champion_version"],
                    decision=meta["verdict"],
                    reasons=meta["summary"],
                    test_set_version=meta["test_set_version"],
                )
            )
        if "champion" in made:
            meta = made["champion"]
            if meta["action"] == "rollback":
                added.append(
                    self.add(
                        number,
                        "rolled_back",
                        **{"from": meta["previous_version"]},
                        to=meta["version"],
                        reason=meta["reason"],
                    )
                )
            else:
                added.append(
                    self.add(
                        number,
                        "promoted",
                        version=meta["version"],
                        previous=meta["previous_version"],
                    )
                )
        if "rollout" in made:
            meta = made["rollout"]
            added.append(
                self.add(
                    number,
                    "rollout_step",
                    action=meta["action"],
                    state=meta["state"],
                    version=meta["version"],
                    fraction=meta["fraction"],
                    reason=meta["reason"],
                    actor=meta["actor"],
                )
            )
        if "serving_flags" in made:
            meta = made["serving_flags"]
            added.append(
                self.add(
                    number,
                    "flag_changed",
                    state=meta["state"],
                    version=meta["version"],
                    reason=meta["reason"],
                    actor=meta["actor"],
                )
            )
        if outcome.step_errors:  # a blocking check's stop is in check_failed already
            added.append(
                self.add(number, "step_failed", job=outcome.job, errors=outcome.step_errors)
            )
        return added

    def in_order(self) -> list[dict]:
        """By simulated day; within a day, in the order things happened."""
        return sorted(self.events, key=lambda e: e["day"])

    def of_kind(self, kind: str) -> list[dict]:
        return [e for e in self.events if e["kind"] == kind]

    def summary(self) -> dict:
        failures = self.of_kind("check_failed")
        incidents = []
        for incident in self.scenario.incidents:
            first = _first_detection(incident, failures, self.label_lag_days, self.period_days)
            incidents.append(
                {
                    "incident": incident.kind,
                    "date": incident.day.isoformat(),
                    "day": self.number_of(incident.day.isoformat()),
                    "detected_day": first[0] if first else None,
                    "detected_by": first[1] if first else [],
                    "retrainings": _retrainings_for(
                        incident, self.events, self.number_of, self.label_lag_days, self.period_days
                    ),
                }
            )
        stopped = {e["date"] for e in self.of_kind("rollout_step") if e["state"] == "rolled_back"}
        unexplained = [
            e
            for e in failures
            if e["level"] == "error"
            and not any(
                _explains(i, e, self.label_lag_days, self.period_days)
                for i in self.scenario.incidents
            )
            # a trigger that fired is explained by the rollback it caused (that is its job)
            and not (
                e["check"] == "rollout_triggers" and {e["date"], _next_day(e["date"])} & stopped
            )
        ]
        return {
            "incidents": incidents,
            "clean_day_errors": len(unexplained),
            "clean_day_error_checks": sorted({f"{e['date']} {e['check']}" for e in unexplained}),
            "retrainings_requested": len(self.of_kind("retraining_requested")),
            "models_registered": len(self.of_kind("model_registered")),
            "promotions": [e["version"] for e in self.of_kind("promoted")],
            "rejected": [
                e["version"]
                for e in self.of_kind("challenger_evaluated")
                if e["decision"] not in ("promote",)
            ],
            "alerts_sent": len(self.of_kind("alert_sent")),
            "rollouts": _rollouts(self.of_kind("rollout_step")),
            "flag_changes": len(self.of_kind("flag_changed")),
        }

    def as_json(self) -> dict:
        return {
            "scenario": {
                "name": self.scenario.name,
                "start": self.scenario.start.isoformat(),
                "days": self.scenario.days,
                "seed": self.scenario.seed,
                "reference_days": self.scenario.reference_days,
            },
            "events": self.in_order(),
            "summary": self.summary(),
            "costs": self.costs,
        }


def _next_day(iso: str) -> str:
    return (date.fromisoformat(iso) + timedelta(days=1)).isoformat()


def _rollouts(steps: list[dict]) -> list[dict]:
    """Per rolled-out version: the path it took (shadow, 1%, 5%, ...) and how it ended."""
    by_version: dict[str, dict] = {}
    for e in steps:
        item = by_version.setdefault(e["version"], {"version": e["version"], "path": []})
        item["path"].append(
            "shadow"
            if e["state"] == "shadow"
            else (f"{e['fraction']:.0%}" if e["state"] == "canary" else e["state"])
        )
        item["outcome"], item["day"], item["reason"] = e["state"], e["day"], e["reason"]
    return list(by_version.values())


def _judged_days(incident: Incident, lag: int, period: int = 1) -> tuple[date, date]:
    """The days whose checks can see the incident: its own days, and for a concept drift the
    weekly evaluations run while its labels arrive (labels are collected per partition, so a
    partition of `period` days later)."""
    if incident.label_only:
        return incident.day, incident.last_day + timedelta(days=lag + WEEK + period)
    return incident.day, incident.last_day


def _explains(incident: Incident, event: dict, lag: int, period: int = 1) -> bool:
    first, last = _judged_days(incident, lag, period)
    on = date.fromisoformat(event["date"])
    assets = getattr(incident, "assets", None)  # an incident only some assets' checks can see
    if assets is not None and event["asset"].split("/")[-1] not in assets:
        return False
    if incident.label_only:
        # The labels' weekly verdict, or the agents overriding the model (no label needed).
        return (
            event["check"] in ("weekly_task_success", "label_free_signals") and first <= on <= last
        )
    return first <= on <= last


def _first_detection(
    incident: Incident, failures: list[dict], lag: int, period: int = 1
) -> tuple[int, list[str]] | None:
    seen = [e for e in failures if _explains(incident, e, lag, period)]
    if not seen:
        return None
    day = min(e["day"] for e in seen)
    on_day = [e for e in seen if e["day"] == day]
    errors = [e for e in on_day if e["level"] == "error"]
    return day, sorted({e["check"] for e in (errors or on_day)})


def _retrainings_for(
    incident: Incident, events: list[dict], number_of, lag: int, period: int = 1
) -> int:
    """Retrainings the monitors requested because of this incident (not the schedule's)."""
    first, last = _judged_days(incident, lag, period)
    wanted = incident.expected_trigger
    if wanted is None:
        return 0
    horizon = number_of((last + timedelta(days=WEEK)).isoformat())
    return sum(
        1
        for e in events
        if e["kind"] == "retraining_requested"
        and e["trigger"] == wanted
        and number_of(first.isoformat()) <= e["day"] <= horizon
    )
