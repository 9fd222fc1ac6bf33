"""A scenario: which days the simulated source produces and which incidents it injects."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import yaml

from orchestration.simulation.incidents import Incident, parse_incidents
from orchestration.simulation.operators import ACTION_KINDS, RECIPES

DEFAULT_SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "default.yaml"


@dataclass(frozen=True)
class Scenario:
    start: date
    days: int
    seed: int
    reference_days: int
    incidents: list[Incident] = field(default_factory=list)
    name: str = "custom"
    # Policy overrides for this scenario's deployment (written to <home>/policy.yaml).
    policy: dict = field(default_factory=dict)
    # What people do on given days (orchestration/simulation/operators.py): dicts with
    # `kind`, `day` (a number) and the action's own keys.
    actions: list[dict] = field(default_factory=list)

    @property
    def end(self) -> date:
        return self.start + timedelta(days=self.days - 1)

    def day(self, number: int) -> date:
        return self.start + timedelta(days=number - 1)

    def incidents_on(self, day: date) -> list[Incident]:
        return [i for i in self.incidents if i.day == day]

    def actions_on(self, number: int) -> list[dict]:
        return [a for a in self.actions if a["day"] == number]


def load_scenario(
    path: str | Path | None = None, days: int | None = None, seed: int | None = None
) -> Scenario:
    path = Path(path) if path else DEFAULT_SCENARIO
    if not path.is_file():
        raise FileNotFoundError(f"scenario file not found: {path}")
    spec = yaml.safe_load(path.read_text()) or {}
    start = date.fromisoformat(str(spec.get("start", "2026-01-01")))
    total = int(days or spec.get("days", 90))
    reference_days = int(spec.get("reference_days", 60))
    if reference_days >= total:
        raise ValueError(
            f"scenario {path.name}: reference_days ({reference_days}) must be below days ({total})"
        )
    raw = []
    for item in spec.get("incidents", []) or []:
        item = dict(item)
        if isinstance(item.get("day"), int):  # a day number, 1 = start
            item["day"] = (start + timedelta(days=item["day"] - 1)).isoformat()
        raw.append(item)
    incidents = [i for i in parse_incidents(raw) if i.day <= start + timedelta(days=total - 1)]
    policy = spec.get("policy") or {}
    if not isinstance(policy, dict):
        raise ValueError(f"scenario {path.name}: policy must be a mapping of overrides")
    chosen_seed = int(seed if seed is not None else spec.get("seed", 7))
    actions = [_action(path.name, a, start) for a in spec.get("actions", []) or []]
    actions = [a for a in actions if a["day"] <= total]
    return Scenario(
        start, total, chosen_seed, reference_days, incidents, path.stem, policy, actions
    )


def _action(name: str, item: dict, start: date) -> dict:
    item = dict(item)
    if item.get("kind") not in ACTION_KINDS:
        raise ValueError(f"scenario {name}: action kind {item.get('kind')!r} not in {ACTION_KINDS}")
    day = item.get("day")
    if not isinstance(day, int):  # an ISO date
        day = (date.fromisoformat(str(day)) - start).days + 1
    if day < 1:
        raise ValueError(f"scenario {name}: action {item['kind']} on day {day}, before the start")
    if item["kind"] == "flag" and item.get("state") not in ("on", "off", "pin"):
        raise ValueError(f"scenario {name}: a flag action needs state on, off or pin")
    if item["kind"] == "hand_registered_model" and item.get("recipe") not in RECIPES:
        raise ValueError(f"scenario {name}: hand_registered_model needs a recipe in {RECIPES}")
    return {**item, "day": day}
