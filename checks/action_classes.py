"""What an agent may do: each tool declared with its reversibility, its approval rule and its
owner. Plain data and plain functions (no Dagster, no workflow names): the gate
(resources/action_gate.py) and the agent checks (checks/agent_actions.py) read them.

Reversibility is the question a person asks before saying yes: can this be undone, and for how
long? The approval rule follows from it:

* `none`: executed at once (a read, a reversible change nobody needs to look at);
* `window`: executed when a cancel window closes unless someone cancels it first (a reversible
  change a person may still stop: escalating a ticket);
* `required`: pending until a person approves, denied when nobody answers by the deadline (fail
  closed: an irreversible message to a customer).

`required_above` turns a `window` or `none` rule into `required` when a numeric argument passes
a limit (a goodwill credit above 50 needs a yes; a small one only a cancel window).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Reversibility(StrEnum):
    REVERSIBLE = "reversible"
    DIFFICULT = "difficult"
    IRREVERSIBLE = "irreversible"


# What the audit log records as the class of a tool nobody declared (always denied).
UNDECLARED = "undeclared"
ACTION_CLASS_VALUES = tuple(r.value for r in Reversibility) + (UNDECLARED,)
# A request's rows in the audit log, one per change of its state.
DISPOSITIONS = ("pending", "approved", "denied", "cancelled", "expired", "executed")
GATE = "gate"  # the actor of the rows the gate writes on its own (never a person)
APPROVAL_RULES = ("none", "window", "required")


@dataclass(frozen=True)
class ActionClass:
    """One tool an agent may call. `owner` hears about its failures; `approvers` may say yes
    to it (empty: the policy's action approvers)."""

    tool: str
    reversibility: Reversibility
    owner: str
    approval: str = "required"
    window_minutes: float = 0.0  # the cancel window of a `window` rule
    deadline_minutes: float = 60.0  # how long a `required` request waits for a person
    required_above: tuple[str, float] | None = None  # (argument, limit)
    approvers: tuple[str, ...] = ()
    description: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "reversibility", Reversibility(self.reversibility))
        object.__setattr__(self, "approvers", tuple(self.approvers))
        if self.approval not in APPROVAL_RULES:
            raise ValueError(
                f"action {self.tool}: approval must be one of {', '.join(APPROVAL_RULES)}, "
                f"not {self.approval!r}"
            )
        if self.reversibility is Reversibility.IRREVERSIBLE and self.approval != "required":
            raise ValueError(
                f"action {self.tool} is irreversible: its approval must be `required` (a "
                "cancel window cannot undo what has already been done)"
            )
        if self.approval == "window" and self.window_minutes <= 0:
            raise ValueError(f"action {self.tool}: a `window` rule needs window_minutes > 0")
        if self.deadline_minutes <= 0:
            raise ValueError(f"action {self.tool}: deadline_minutes must be > 0")
        if self.required_above is not None:
            name, limit = self.required_above
            object.__setattr__(self, "required_above", (str(name), float(limit)))

    def rule_for(self, arguments: Mapping[str, Any]) -> str:
        """The approval rule that applies to these arguments."""
        if self.required_above is not None:
            name, limit = self.required_above
            value = arguments.get(name)
            if not isinstance(value, int | float) or isinstance(value, bool):
                # An amount the rule cannot read is not waved through as small.
                return "required"
            if value > limit:
                return "required"
        return self.approval


@dataclass(frozen=True)
class ActionClasses:
    """A workflow's declared tools, by name."""

    classes: tuple[ActionClass, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        object.__setattr__(self, "classes", tuple(self.classes))
        names = [c.tool for c in self.classes]
        doubled = sorted({n for n in names if names.count(n) > 1})
        if doubled:
            raise ValueError(f"actions declared twice: {', '.join(doubled)}")

    @classmethod
    def of(cls, items: Iterable[ActionClass]) -> ActionClasses:
        return cls(tuple(items))

    def get(self, tool: str) -> ActionClass | None:
        return next((c for c in self.classes if c.tool == tool), None)

    @property
    def tools(self) -> list[str]:
        return [c.tool for c in self.classes]

    def __bool__(self) -> bool:
        return bool(self.classes)

    def __iter__(self):
        return iter(self.classes)


def canonical_json(value: Any) -> str:
    """One spelling of a JSON value: sorted keys, no spaces, UTF-8 kept. Two equal argument
    sets give the same text, so the same digest."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def arguments_digest(arguments: Mapping[str, Any]) -> str:
    """The SHA-256 of the exact arguments: an approval is bound to it."""
    return hashlib.sha256(canonical_json(dict(arguments)).encode()).hexdigest()
