"""A scenario: which days a workflow's simulated source produces, which incidents it injects
and what people do. The incident kinds and the workflow's own action kinds come from the
workflow's simulation; `flag` (the serving switch) and `schema_map` (a schema mapping recorded,
then the days it unblocks re-ingested: orchestration/schema.py) are the engine's."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Protocol

import yaml

ENGINE_ACTIONS = ("flag", "schema_map")


class Incident(Protocol):
    """What the engine reads of a workflow's simulated incident."""

    kind: str
    day: date
    last_day: date
    params: dict
    label_only: bool  # only labels (or people's feedback) can reveal it
    expected_trigger: str | None  # the retraining trigger it should cause, if any
    # Optional: the assets whose checks may detect it (an agent's tool calls, not the data);
    # None or absent: any check on its days.


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
    # What people do on given days (the engine's flag, or the workflow's own kinds): dicts with
    # `kind`, `day` (a number) and the action's own keys.
    actions: list[dict] = field(default_factory=list)
    # Multiplies the simulated source's daily volume; the simulator keeps its shapes.
    scale: float = 1.0

    @property
    def end(self) -> date:
        return self.start + timedelta(days=self.days - 1)

    def day(self, number: int) -> date:
        return self.start + timedelta(days=number - 1)

    def incidents_on(self, day: date) -> list[Incident]:
        return [i for i in self.incidents if i.day == day]

    def actions_between(self, after: int, until: int) -> list[dict]:
        """Actions on the day numbers after `after` up to `until`: one partition's days."""
        return [a for a in self.actions if after < a["day"] <= until]


def load_scenario(
    simulation,
    path: str | Path | None = None,
    days: int | None = None,
    seed: int | None = None,
) -> Scenario:
    """`simulation`: the workflow's (its incident parser, its action kinds, its default)."""
    path = Path(path) if path else simulation.default_scenario
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
    incidents = [
        i for i in simulation.parse_incidents(raw) if i.day <= start + timedelta(days=total - 1)
    ]
    policy = spec.get("policy") or {}
    if not isinstance(policy, dict):
        raise ValueError(f"scenario {path.name}: policy must be a mapping of overrides")
    chosen_seed = int(seed if seed is not None else spec.get("seed", 7))
    actions = [_action(path.name, a, start, simulation) for a in spec.get("actions", []) or []]
    actions = [a for a in actions if a["day"] <= total]
    scale = spec.get("scale", 1)
    if isinstance(scale, bool) or not isinstance(scale, int | float) or not scale > 0:
        raise ValueError(f"scenario {path.name}: scale must be a number above 0, got {scale!r}")
    return Scenario(
        start, total, chosen_seed, reference_days, incidents, path.stem, policy, actions, scale
    )


def _action(name: str, item: dict, start: date, simulation) -> dict:
    item = dict(item)
    kinds = (*ENGINE_ACTIONS, *simulation.action_kinds)
    if item.get("kind") not in kinds:
        raise ValueError(f"scenario {name}: action kind {item.get('kind')!r} not in {kinds}")
    day = item.get("day")
    if not isinstance(day, int):  # an ISO date
        day = (date.fromisoformat(str(day)) - start).days + 1
    if day < 1:
        raise ValueError(f"scenario {name}: action {item['kind']} on day {day}, before the start")
    if item["kind"] == "flag" and item.get("state") not in ("on", "off", "pin"):
        raise ValueError(f"scenario {name}: a flag action needs state on, off or pin")
    if item["kind"] == "schema_map":
        _schema_map(name, item)
    if item["kind"] in simulation.action_kinds:
        try:
            simulation.validate_action(item)
        except ValueError as err:
            raise ValueError(f"scenario {name}: {err}") from None
    return {**item, "day": day}


def _schema_map(name: str, item: dict) -> None:
    """`{kind: schema_map, day, rename: {CONTRACT: UPSTREAM}, retype: {COLUMN: TYPE}, reason,
    actor?, backfill?}`: the same rules `afterlaunch schema map` takes, refused here by shape
    (the contract judges them when the action runs)."""
    unknown = sorted(set(item) - {"kind", "day", "rename", "retype", "reason", "actor", "backfill"})
    if unknown:
        raise ValueError(f"scenario {name}: schema_map does not take {unknown}")
    for key in ("rename", "retype"):
        rules = item.get(key, {})
        if not isinstance(rules, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in rules.items()
        ):
            raise ValueError(f"scenario {name}: schema_map {key} must map column names to text")
    if not (item.get("rename") or item.get("retype")):
        raise ValueError(f"scenario {name}: schema_map needs a rename or a retype rule")
    if not isinstance(item.get("reason"), str) or not item["reason"].strip():
        raise ValueError(f"scenario {name}: schema_map needs a reason")
    if not isinstance(item.get("backfill", True), bool):
        raise ValueError(f"scenario {name}: schema_map backfill must be true or false")
