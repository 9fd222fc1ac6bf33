"""A scenario: which days the simulated source produces and which incidents it injects."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import yaml

from orchestration.simulation.incidents import Incident, parse_incidents

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

    @property
    def end(self) -> date:
        return self.start + timedelta(days=self.days - 1)

    def day(self, number: int) -> date:
        return self.start + timedelta(days=number - 1)

    def incidents_on(self, day: date) -> list[Incident]:
        return [i for i in self.incidents if i.day == day]


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
    return Scenario(start, total, chosen_seed, reference_days, incidents, path.stem, policy)
