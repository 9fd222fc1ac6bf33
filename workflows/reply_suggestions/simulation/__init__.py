"""The reply-suggestions workflow's simulated support desk.

* :mod:`.knowledge_base`: the 40 articles, their facts and their upstream changes
  (``base_articles``, ``articles_on``, ``changed_articles``, ``kb_history``, ``kb_version``);
* :mod:`.incidents`: the injected failures (``Incident``, ``parse_incidents``);
* :mod:`.tickets`: a day's questions with their known relevant articles (``generate_tickets``);
* :mod:`.verdicts`: the agents' verdicts on the served suggestions (``verdicts``);
* :mod:`.source`: all of it in a SQL database (``write_days``, ``write_verdicts`` and readers).

* :mod:`.world_table`: the seed and incidents recorded in the source (``simulated_world``),
  which serving reads to apply the incidents that act outside the deployment.

Import graph: ``knowledge_base <- incidents <- tickets <- source``, ``verdicts <- source``,
``incidents <- world_table``.

:class:`ReplySimulation` is what the engine's demo calls (``assets.workflow.Simulation``): it
parses the incidents, lands the desk's days (tickets, KB, world table) and records the agents'
verdicts on the engine's served suggestions. :data:`PROMPTS` are the prompt changes a scenario
may propose (``propose_prompt``); the engine registers and rolls them out itself.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pandas as pd

from workflows.reply_suggestions.simulation import source as _source
from workflows.reply_suggestions.simulation.incidents import Incident, parse_incidents
from workflows.reply_suggestions.simulation.world_table import write_world

log = logging.getLogger(__name__)

DEFAULT_SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "default.yaml"
# The scenario actions of this workflow; the engine runs both itself (a prompt challenger
# through gate, shadow and canary; a rollback by alias), so `act` is never called for them.
# A prompt change proposed; the champion re-deployed on today's knowledge base (a fresh
# index); a rollback by alias.
ACTION_KINDS: tuple[str, ...] = ("propose_prompt", "redeploy", "rollback")
# The stage thresholds were measured on ~150 tickets a day (evaluation.STAGE_THRESHOLDS).
ROWS_PER_DAY = 150

# A rewording of the default prompt with the same placeholders and the same instructions the
# simulated model follows (the "Question:" line, "at most 2 sentences"): the world serves it
# exactly as the default, so promoting and rolling it back changes the version, not the replies.
CLARIFIED_TEMPLATE = (
    "Write a reply to the customer's support question below that the agent can send. Rely only "
    "on the numbered passages, cite every fact with the number of its passage like [1], keep "
    "the answer to at most 2 sentences, and say that you could not find the answer when the "
    "passages do not hold it.\n\n"
    "Question: {question}\n"
)


@functools.cache
def _prompts() -> dict[str, tuple[str, str]]:
    # world imports this package (its incidents and tickets), so its REFINED_PROMPT is read
    # on first use rather than at import.
    from workflows.reply_suggestions.world import REFINED_PROMPT

    return {
        "refined": (
            REFINED_PROMPT.template,
            "answer every part of the question and reassure the customer when the passages "
            "are brief",
        ),
        "clarified": (CLARIFIED_TEMPLATE, "clearer wording of the same instructions"),
    }


def __getattr__(name: str) -> Any:
    # PROMPTS: name -> (template, change summary), built on first access (see _prompts).
    if name == "PROMPTS":
        return _prompts()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _text(item: Mapping[str, Any], key: str, kind: str) -> None:
    value = item.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{kind} needs a non-empty text {key!r}, got {value!r}")


class ReplyFeedback:
    """The support agents: :meth:`record` writes their verdicts on a day's shown suggestions."""

    def __init__(self, source_url: str, seed: int, incidents: Iterable[Incident], launch: dt.date):
        self.source_url, self.seed, self.launch = source_url, seed, launch
        self.incidents = tuple(incidents)

    def __repr__(self) -> str:
        return f"ReplyFeedback(seed={self.seed}, launch={self.launch})"

    def record(self, day: dt.date, served: pd.DataFrame | None = None) -> int:
        """Write the verdicts on ``day``'s suggestions the agents saw: the rows of ``served``
        (the engine's frame: the component's columns plus ``arm``, ``version`` and ``live``)
        whose ``live`` is True. Returns the number of verdicts written (0 when ``served`` is
        None or the day is before launch)."""
        from workflows.reply_suggestions import evaluation, world

        if served is None or day < self.launch:
            return 0
        if "live" not in served.columns:
            raise ValueError("served lacks the engine's 'live' column (which arm the agent saw)")
        live = served.loc[served["live"].astype(bool)].reset_index(drop=True)
        tickets = _source.read_tickets(self.source_url, day)
        kb_now = world.kb_frame(_source.read_kb(self.source_url, day))
        arrays = evaluation.stage_metrics(live, tickets, kb_now)
        verdicts = evaluation.agent_verdicts(live, tickets, arrays, self.seed, day)
        written = _source.write_verdicts(self.source_url, day, verdicts)
        log.info("agents' verdicts for %s: %d of %d rows were live", day, written, len(served))
        return written


class ReplySimulation:
    """The simulated support desk, its incidents and its people's prompt actions.

    Stateless apart from ``rows_per_day`` (the scenario format has no field for it: a
    workflow that wants another volume builds ``ReplySimulation(rows_per_day=...)``)."""

    default_scenario: Path = DEFAULT_SCENARIO
    action_kinds: tuple[str, ...] = ACTION_KINDS

    def __init__(self, rows_per_day: int = ROWS_PER_DAY):
        if isinstance(rows_per_day, bool) or not isinstance(rows_per_day, int) or rows_per_day < 1:
            raise ValueError(f"rows_per_day must be an int >= 1, got {rows_per_day!r}")
        self.rows_per_day = rows_per_day

    def __repr__(self) -> str:
        return f"ReplySimulation(rows_per_day={self.rows_per_day})"

    def parse_incidents(self, items: Iterable[Mapping[str, Any]] | None) -> list[Incident]:
        """Incidents from scenario entries ``{"kind", "day": "YYYY-MM-DD", **params}`` (the
        scenario loader turns day numbers into dates first)."""
        return parse_incidents(items)

    def validate_action(self, item: Mapping[str, Any]) -> None:
        """Refuse, with a sentence that says why, an action this workflow cannot run:
        ``propose_prompt`` needs ``prompt`` (a name of :data:`PROMPTS`) and ``summary``;
        ``rollback`` needs ``reason``."""
        if not isinstance(item, Mapping):
            raise ValueError(f"an action must be a mapping, got {item!r}")
        kind = item.get("kind")
        if kind not in self.action_kinds:
            raise ValueError(
                f"action kind {kind!r} is not one of the reply_suggestions workflow's actions "
                f"({', '.join(self.action_kinds)})"
            )
        if kind == "propose_prompt":
            prompts = _prompts()
            if item.get("prompt") not in prompts:
                raise ValueError(
                    f"propose_prompt needs a prompt, one of {', '.join(prompts)}; "
                    f"got {item.get('prompt')!r}"
                )
            _text(item, "summary", kind)
        elif kind == "redeploy":
            _text(item, "summary", kind)
        else:
            _text(item, "reason", kind)

    def write_source(
        self,
        source_url: str,
        seed: int,
        start: dt.date,
        end: dt.date,
        incidents: Iterable[Incident],
        scale: float = 1.0,
    ) -> dict[dt.date, int]:
        """Land every day from ``start`` to ``end`` (tickets and KB versions) and record the
        world (seed and incidents) serving reads; return the ticket rows per day. ``scale``
        multiplies ``rows_per_day``."""
        if isinstance(scale, bool) or not isinstance(scale, int | float) or not scale > 0:
            raise ValueError(f"scale must be a number above 0, got {scale!r}")
        incidents = tuple(incidents)
        written = _source.write_days(
            source_url,
            seed,
            start,
            end,
            incidents,
            rows_per_day=max(1, round(self.rows_per_day * scale)),
        )
        write_world(source_url, seed, incidents)
        return written

    def feedback(
        self, source_url: str, seed: int, incidents: Iterable[Incident], launch: dt.date
    ) -> ReplyFeedback:
        """The agents: ``.record(day, served)`` writes their verdicts on the live rows."""
        return ReplyFeedback(source_url, seed, incidents, launch)

    # The stage check meant to catch each incident kind (the demo's detection table).
    intended_checks: Mapping[str, str] = MappingProxyType(
        {
            "ranking_regression": "stage_metrics.stage_ranking",
            "provider_update": "stage_metrics.stage_generation",
            "kb_article_changed": "stage_metrics.stage_retrieval",
            "prompt_regression_edge": "pipeline_gate.gate_passed",
        }
    )
    # Incidents that are a challenger someone registers on their day (not the world changing).
    proposed_incidents: tuple[str, ...] = ("prompt_regression_edge",)

    def proposal(self, incident: Incident) -> tuple[str, str]:
        """The prompt (template, change summary) an incident of a proposed kind registers."""
        if incident.kind != "prompt_regression_edge":
            raise ValueError(f"incident {incident.kind!r} registers no challenger")
        return _prompts()["refined"]

    def prompt(self, name: str) -> tuple[str, str]:
        """A named prompt change (template, change summary) of :data:`PROMPTS`."""
        prompts = _prompts()
        if name not in prompts:
            raise ValueError(f"no prompt {name!r}; known: {', '.join(prompts)}")
        return prompts[name]

    def act(self, action: Mapping[str, Any], registry: Any, store: Any, at: dt.datetime) -> str:
        raise NotImplementedError(
            f"the engine runs the reply_suggestions workflow's {action.get('kind')!r} actions "
            "itself (a prompt challenger, a rollback by alias); the simulation has none of its own"
        )


__all__ = [
    "ACTION_KINDS",
    "CLARIFIED_TEMPLATE",
    "DEFAULT_SCENARIO",
    "Incident",
    "PROMPTS",
    "ROWS_PER_DAY",
    "ReplyFeedback",
    "ReplySimulation",
]
