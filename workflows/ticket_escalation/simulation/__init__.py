"""The ticket-escalation workflow's simulated world, as the engine's demo calls it.

:class:`TicketSimulation` is the only thing the engine needs: it parses this workflow's
incidents, lands the simulated CRM's days in a source database, records what the support agents
do with the served suggestions, and runs this workflow's own scenario actions (a model
registered by hand). The modules behind it:

* :mod:`.vocabulary`: table names, exported columns, category values and shares;
* :mod:`.incidents`: the injected failures (``Incident``, ``parse_incidents``);
* :mod:`.crm`: the deterministic CRM (``generate_day``, ``CrmSimulator``);
* :mod:`.agents`: the agents working the tickets (``AgentSimulator``);
* :mod:`.operators`: what people do by hand (``register_by_hand``);
* :mod:`.assistant`: the support assistant's tool calls through the approval gate, and the
  supervisors answering them (``Assistant``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workflows.ticket_escalation.simulation import incidents as _incidents
from workflows.ticket_escalation.simulation.agents import AgentSimulator
from workflows.ticket_escalation.simulation.crm import CrmSimulator
from workflows.ticket_escalation.simulation.incidents import Incident

if TYPE_CHECKING:
    from resources.registry import ModelRegistry
    from resources.snapshots import SnapshotStore

DEFAULT_SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "default.yaml"
# The scenario actions this workflow runs itself (the engine runs its own, such as `flag`).
ACTION_KINDS: tuple[str, ...] = ("hand_registered_model",)
DEFAULT_ACTOR = "data scientist"

__all__ = ["ACTION_KINDS", "DEFAULT_SCENARIO", "Incident", "TicketSimulation"]


class TicketSimulation:
    """The simulated support-ticket CRM, its incidents, its agents and its people's actions.

    Stateless: every method is a pure function of its arguments (and the source database it
    writes), so one instance serves any number of demos.
    """

    default_scenario: Path = DEFAULT_SCENARIO
    action_kinds: tuple[str, ...] = ACTION_KINDS

    def __repr__(self) -> str:
        return "TicketSimulation()"

    def parse_incidents(self, items: Iterable[Mapping[str, Any]] | None) -> list[Incident]:
        """Incidents from scenario entries ``{"kind": ..., "day": "YYYY-MM-DD", **params}``;
        ``ValueError`` naming the entry for an unknown kind or a bad param."""
        return _incidents.parse_incidents(items)

    def validate_action(self, item: Mapping[str, Any]) -> None:
        """Refuse, with a sentence that says why, an action this workflow cannot run."""
        from workflows.ticket_escalation.simulation.operators import RECIPES

        if not isinstance(item, Mapping):
            raise ValueError(f"an action must be a mapping, got {item!r}")
        kind = item.get("kind")
        if kind not in self.action_kinds:
            raise ValueError(
                f"action kind {kind!r} is not one of the ticket_escalation workflow's actions "
                f"({', '.join(self.action_kinds)})"
            )
        recipe = item.get("recipe")
        if recipe not in RECIPES:
            raise ValueError(f"{kind} needs a recipe, one of {', '.join(RECIPES)}; got {recipe!r}")
        for key in ("reason", "actor"):
            if key in item and (not isinstance(item[key], str) or not item[key].strip()):
                raise ValueError(f"{kind}: {key} must be a non-empty text, got {item[key]!r}")

    def write_source(
        self,
        source_url: str,
        seed: int,
        start: date,
        end: date,
        incidents: Iterable[Incident],
        scale: float = 1.0,
    ) -> None:
        """Land every day from ``start`` to ``end`` (inclusive) in the source database;
        ``scale`` multiplies the daily volume (about 2,000 tickets a day at 1)."""
        with CrmSimulator(source_url, seed=seed, scale=scale) as crm:
            crm.write_days(start, end, incidents)

    def feedback(
        self, source_url: str, seed: int, incidents: Iterable[Incident], launch: date
    ) -> AgentSimulator:
        """The agents: ``.record(day, served)`` writes what they did with ``day``'s tickets
        (``served`` is that day's predictions, ``ticket_id`` and ``escalate``, or None)."""
        return AgentSimulator(source_url, seed, incidents, launch=launch)

    def assistant(self, seed: int, incidents: Iterable[Incident], gate, log, workflow) -> Any:
        """The support assistant: ``.work(day, served)`` makes the day's tool calls through
        ``gate`` (an ``ActionGate``) on ``served`` (yesterday's scored tickets)."""
        from workflows.ticket_escalation.simulation.assistant import Assistant

        return Assistant(seed, incidents, gate, log, workflow.name, workflow.actions)

    def act(
        self,
        action: Mapping[str, Any],
        registry: ModelRegistry,
        store: SnapshotStore,
        at: datetime,
    ) -> str:
        """Run one of this workflow's actions at ``at``; return the model version it registered."""
        from workflows.ticket_escalation.simulation.operators import register_by_hand

        self.validate_action(action)
        reason = action.get("reason", action["kind"])
        actor = action.get("actor", DEFAULT_ACTOR)
        return register_by_hand(registry, store, action["recipe"], reason, actor, at)
