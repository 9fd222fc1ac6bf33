"""The approval gate between an agent and the tools it may call.

An agent asks before it acts; the gate answers allow, pending or deny from the tool's declared
class (checks/action_classes.py) and records every change as one appended row of the audit log
(resources/audit_log.py). The log is the only state: a request's disposition is folded from its
own rows each time, so a restarted gate, a second gate process or the CLI all see the same
request, and nothing about a request lives anywhere the log does not show.

Rules, in short: an undeclared tool is denied; rule `none` is approved by the gate at once;
rule `window` is pending until its cancel window closes, then approved by the gate; rule
`required` is pending until a person approves, and expires (denied: fail closed) at its
deadline. An approval is bound to the digest of the exact arguments, the requester never
approves their own request, and only the class's approvers (else the policy's) may say yes or
no. A decision is appended with a check the store runs inside its lock, so two people answering
at once leave exactly one decision.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any

from checks.action_classes import GATE, UNDECLARED, ActionClasses, arguments_digest
from resources.audit_log import AuditEntry, AuditLog, AuditRow

# Debug only: the audit log is the record, and a simulated day makes hundreds of decisions.
log = logging.getLogger("afterlaunch.action_gate")

PENDING, APPROVED, DENIED, CANCELLED, EXPIRED, EXECUTED = (
    "pending",
    "approved",
    "denied",
    "cancelled",
    "expired",
    "executed",
)
ALLOW, DENY = "allow", "deny"
WINDOW_CLOSED = "cancel window closed"
# The first row's reason starts with its rule, so that what happens at the deadline follows
# what was agreed when the request was made, not a class declaration edited since.
_RULE_PREFIX = "rule "


class GateRefused(RuntimeError):
    """A refused approve, deny, cancel or execution; the message says why."""


class UnknownRequest(GateRefused):
    """No request with this id in the workflow's audit log."""


@dataclass(frozen=True)
class ActionRequest:
    """What an agent asks to do, and on whose behalf."""

    tool: str
    arguments: dict
    agent_id: str
    agent_version: str
    context: dict  # entity id, score, serving version ... (recorded as is)
    requested_by: str  # the identity on whose behalf the agent asks

    def __post_init__(self) -> None:
        for name in ("tool", "agent_id", "agent_version", "requested_by"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"action request: {name} must be a non-empty string")
        for name in ("arguments", "context"):
            if not isinstance(getattr(self, name), Mapping):
                raise ValueError(f"action request: {name} must be a JSON object")
        if self.requested_by.strip() == GATE:
            raise ValueError(f"action request: requested_by cannot be {GATE!r} (the gate's name)")


@dataclass(frozen=True)
class GateAnswer:
    request_id: str
    answer: str  # allow | pending | deny
    state: str  # the request's latest disposition
    reason: str
    deadline: str | None
    digest: str
    tool: str
    approvers: tuple[str, ...]  # who may approve it
    # What a person deciding needs to see (the CLI's list, the API's GET).
    action_class: str = ""
    rule: str = ""
    requested_by: str = ""
    requested_at: str = ""
    arguments: dict = field(default_factory=dict)
    decided_by: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "answer": self.answer,
            "state": self.state,
            "reason": self.reason,
            "deadline": self.deadline,
            "digest": self.digest,
            "tool": self.tool,
            "approvers": list(self.approvers),
            "action_class": self.action_class,
            "rule": self.rule,
            "requested_by": self.requested_by,
            "requested_at": self.requested_at,
            "arguments": dict(self.arguments),
            "decided_by": self.decided_by,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> GateAnswer:
        # A newer server may send more fields than this client knows: keep the known ones.
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in doc.items() if k in known}
        values["approvers"] = tuple(values.get("approvers") or ())
        values["arguments"] = dict(values.get("arguments") or {})
        return cls(**values)


@dataclass(frozen=True)
class RequestState:
    """One request as its audit rows tell it (see :func:`fold`)."""

    request_id: str
    tool: str
    action_class: str
    rule: str  # none | window | required | undeclared
    arguments: dict
    digest: str
    context: dict
    agent_id: str
    agent_version: str
    requested_by: str  # "" when the gate decided at once (the first row is the gate's)
    requested_at: str
    deadline: str | None
    state: str  # the latest disposition
    reason: str  # the latest row's reason
    decided_by: str  # the latest row's actor
    decided_at: str
    rows: int

    def due(self, at: datetime) -> bool:
        """Pending and at or past its deadline: the closed window or the expiry is owed."""
        return (
            self.state == PENDING
            and self.deadline is not None
            and at >= datetime.fromisoformat(self.deadline)
        )


def fold(rows: Sequence[AuditRow]) -> RequestState:
    """The state of one request from its audit rows in seq order. Pure: no clock, no store."""
    if not rows:
        raise ValueError("fold needs at least the request's first row")
    first, last = rows[0], rows[-1]
    rule = UNDECLARED if first.action_class == UNDECLARED else "none"
    if first.reason.startswith(_RULE_PREFIX):
        rule = first.reason[len(_RULE_PREFIX) :].split(":", 1)[0]
    return RequestState(
        request_id=first.request_id,
        tool=first.tool,
        action_class=first.action_class,
        rule=rule,
        arguments=first.arguments,
        digest=first.digest,
        context=first.context,
        agent_id=first.agent_id,
        agent_version=first.agent_version,
        requested_by="" if first.actor == GATE else first.actor,
        requested_at=first.at,
        deadline=first.deadline,
        state=last.disposition,
        reason=last.reason,
        decided_by=last.actor,
        decided_at=last.at,
        rows=len(rows),
    )


def answer_for(state: str) -> str:
    """allow (approved or already executed), pending, or deny (denied, cancelled, expired)."""
    if state in (APPROVED, EXECUTED):
        return ALLOW
    return "pending" if state == PENDING else DENY


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError(f"gate time {at.isoformat()} has no timezone: pass an aware datetime")
    return at


class ActionGate:
    """The gate of one workflow's agent actions over its audit log."""

    def __init__(
        self,
        log: AuditLog,
        workflow: str,
        classes: ActionClasses,
        approvers: Sequence[str],
        now: Callable[[], datetime],
    ):
        self.log = log
        self.workflow = workflow
        self.classes = ActionClasses.of(classes)
        self.approvers = tuple(a.strip() for a in approvers if a.strip())
        self.now = now
        nobody = [
            c.tool
            for c in self.classes
            if (c.approval == "required" or c.required_above is not None)
            and not c.approvers
            and not self.approvers
        ]
        if nobody:
            raise ValueError(
                f"workflow {workflow}: nobody may approve {', '.join(nobody)} (a `required` "
                "approval, or one above a limit, with no approvers in the class and none in the "
                "policy's approvers.actions): every such request would expire; name approvers"
            )

    # --- who may ---------------------------------------------------------------------------
    def approvers_for(self, tool: str) -> tuple[str, ...]:
        cls = self.classes.get(tool)
        if cls is None:
            return ()
        return cls.approvers or self.approvers

    # --- the requests ----------------------------------------------------------------------
    def request(self, req: ActionRequest, at: datetime | None = None) -> GateAnswer:
        at = _aware(at or self.now())
        request_id = uuid.uuid4().hex
        cls = self.classes.get(req.tool)
        deadline = None
        if cls is None:
            declared = ", ".join(self.classes.tools) or "none"
            disposition, actor, action_class = DENIED, GATE, UNDECLARED
            reason = (
                f"tool {req.tool} is not declared for workflow {self.workflow} (declared: "
                f"{declared}); requested by {req.requested_by}"
            )
        else:
            rule = cls.rule_for(req.arguments)
            action_class = cls.reversibility.value
            if rule == "none":
                disposition, actor = APPROVED, GATE
                reason = f"rule none: no approval needed; requested by {req.requested_by}"
            elif rule == "window":
                disposition, actor = PENDING, req.requested_by
                deadline = (at + timedelta(minutes=cls.window_minutes)).isoformat()
                reason = f"rule window: executes when the cancel window closes at {deadline}"
            else:
                disposition, actor = PENDING, req.requested_by
                deadline = (at + timedelta(minutes=cls.deadline_minutes)).isoformat()
                reason = f"rule required: awaits a person's approval until {deadline}"
        entry = AuditEntry(
            at=at.isoformat(),
            workflow=self.workflow,
            request_id=request_id,
            agent_id=req.agent_id,
            agent_version=req.agent_version,
            tool=req.tool,
            action_class=action_class,
            arguments=dict(req.arguments),
            context=dict(req.context),
            disposition=disposition,
            actor=actor,
            reason=reason,
            deadline=deadline,
        )
        row = self.log.append(entry, check=_fresh(request_id))
        log.debug("%s %s requested by %s: %s", req.tool, request_id, req.requested_by, disposition)
        return self._answer(fold([row]))

    def status(self, request_id: str, at: datetime | None = None) -> GateAnswer:
        return self._answer(self._settled(request_id, _aware(at or self.now())))

    def approve(
        self,
        request_id: str,
        actor: str,
        digest: str,
        reason: str = "",
        at: datetime | None = None,
    ) -> GateAnswer:
        at = _aware(at or self.now())
        st = self._pending_or_refuse(request_id, at, "approved")
        actor = self._may_decide(st, actor, "approve")
        if digest != st.digest:
            raise GateRefused(
                f"request {request_id}: the approval's digest {digest[:12]}... is not the "
                f"digest {st.digest[:12]}... of the arguments requested: an approval is bound "
                "to the exact arguments (changed arguments need a new request)"
            )
        return self._decide(st, APPROVED, actor, reason or "approved", at)

    def deny(
        self, request_id: str, actor: str, reason: str, at: datetime | None = None
    ) -> GateAnswer:
        at = _aware(at or self.now())
        st = self._pending_or_refuse(request_id, at, "denied")
        _need_reason(reason, "deny")
        actor = self._may_decide(st, actor, "deny")
        return self._decide(st, DENIED, actor, reason, at)

    def cancel(
        self, request_id: str, actor: str, reason: str, at: datetime | None = None
    ) -> GateAnswer:
        at = _aware(at or self.now())
        st = self._pending_or_refuse(request_id, at, "cancelled")
        _need_reason(reason, "cancel")
        actor = actor.strip()
        cls = self.classes.get(st.tool)
        owner = cls.owner if cls is not None else ""
        allowed = {*self.approvers_for(st.tool), owner, st.requested_by} - {""}
        if actor not in allowed:
            raise GateRefused(
                f"{actor} may not cancel request {request_id} ({st.tool}): who may cancel: "
                f"{', '.join(sorted(allowed))}"
            )
        return self._decide(st, CANCELLED, actor, reason, at)

    def record_execution(
        self,
        request_id: str,
        arguments: Mapping[str, Any],
        output: Any = None,
        error: str | None = None,
        at: datetime | None = None,
    ) -> AuditRow:
        at = _aware(at or self.now())
        st = self._settled(request_id, at)
        _executable(st)
        if arguments_digest(arguments) != st.digest:
            raise GateRefused(
                f"request {request_id}: the arguments executed are not the ones approved "
                f"(digest {arguments_digest(arguments)[:12]}... vs {st.digest[:12]}...): "
                "changed arguments need a new approval"
            )

        def still_executable(history: list[AuditRow]) -> None:
            _executable(fold(history))

        row = self.log.append(
            self._entry(
                st,
                EXECUTED,
                st.agent_id,
                at,
                arguments=dict(arguments),
                output=output,
                error=error,
                reason="tool failed" if error else "",
            ),
            check=still_executable,
        )
        log.debug("%s %s executed%s", st.tool, request_id, " with an error" if error else "")
        return row

    def open_requests(self, at: datetime | None = None) -> list[GateAnswer]:
        """The pending requests, after the due ones are settled."""
        return [a for a in self.all_requests(at) if a.state == PENDING]

    def all_requests(self, at: datetime | None = None) -> list[GateAnswer]:
        """Every request's latest state (due ones settled first), oldest first."""
        at = _aware(at or self.now())
        self.expire_due(at)
        return [self._answer(st) for st in self._states()]

    def expire_due(self, at: datetime | None = None) -> list[str]:
        """Settle every pending request whose deadline has come: a `required` one expires
        (denied: fail closed), a `window` one is approved by the closed window. Returns the
        ids settled."""
        at = _aware(at or self.now())
        settled = []
        for st in self._states():
            if st.due(at):
                self._settle(st, at)
                settled.append(st.request_id)
        return settled

    # --- internals -------------------------------------------------------------------------
    def _states(self) -> list[RequestState]:
        by_request: dict[str, list[AuditRow]] = {}
        for row in self.log.rows(workflow=self.workflow):
            by_request.setdefault(row.request_id, []).append(row)
        return [fold(rows) for rows in by_request.values()]

    def _fold(self, request_id: str) -> RequestState:
        rows = self.log.request_rows(request_id)
        rows = [r for r in rows if r.workflow == self.workflow]
        if not rows:
            raise UnknownRequest(
                f"no request {request_id} in the audit log of workflow {self.workflow}"
            )
        return fold(rows)

    def _settled(self, request_id: str, at: datetime) -> RequestState:
        """The request's state at `at`, its due transition appended first if owed."""
        st = self._fold(request_id)
        if st.due(at):
            self._settle(st, at)
            st = self._fold(request_id)
        return st

    def _settle(self, st: RequestState, at: datetime) -> None:
        if st.rule == "window":
            disposition, reason = APPROVED, WINDOW_CLOSED
        else:
            disposition = EXPIRED
            reason = f"no decision by the deadline {st.deadline}: denied (fail closed)"
        try:
            self.log.append(
                self._entry(st, disposition, GATE, at, reason=reason),
                check=_still_pending(st.request_id),
            )
        except GateRefused:
            # Another caller settled or decided it between our read and the store's lock:
            # its row stands, and the caller re-reads it.
            log.debug("request %s was settled by another caller first", st.request_id)
            return
        log.debug("%s %s %s by the gate: %s", st.tool, st.request_id, disposition, reason)

    def _pending_or_refuse(self, request_id: str, at: datetime, verb: str) -> RequestState:
        st = self._settled(request_id, at)
        if st.state != PENDING:
            raise GateRefused(_not_pending(st, verb))
        return st

    def _may_decide(self, st: RequestState, actor: str, verb: str) -> str:
        actor = (actor or "").strip()
        if not actor:
            raise GateRefused(f"request {st.request_id}: who decides is missing (an actor)")
        if actor == st.requested_by:
            raise GateRefused(
                f"{actor} requested {st.request_id} ({st.tool}): the one who requested cannot "
                f"{verb} it"
            )
        who = self.approvers_for(st.tool)
        if actor not in who:
            raise GateRefused(
                f"{actor} may not {verb} {st.tool} (request {st.request_id}): who may approve: "
                f"{', '.join(who) or 'nobody is named'}"
            )
        return actor

    def _decide(
        self, st: RequestState, disposition: str, actor: str, reason: str, at: datetime
    ) -> GateAnswer:
        deadline = datetime.fromisoformat(st.deadline) if st.deadline else None

        def still_open(history: list[AuditRow]) -> None:
            now_state = fold(history)
            if now_state.state != PENDING:
                raise GateRefused(_not_pending(now_state, disposition))
            if deadline is not None and at >= deadline:
                raise GateRefused(f"request {st.request_id} is past its deadline {st.deadline}")

        row = self.log.append(self._entry(st, disposition, actor, at, reason=reason), still_open)
        log.debug("%s %s %s by %s", st.tool, st.request_id, disposition, actor)
        return self._answer(self._fold(row.request_id))

    def _entry(
        self,
        st: RequestState,
        disposition: str,
        actor: str,
        at: datetime,
        *,
        reason: str = "",
        arguments: dict | None = None,
        output: Any = None,
        error: str | None = None,
    ) -> AuditEntry:
        return AuditEntry(
            at=at.isoformat(),
            workflow=self.workflow,
            request_id=st.request_id,
            agent_id=st.agent_id,
            agent_version=st.agent_version,
            tool=st.tool,
            action_class=st.action_class,
            arguments=dict(st.arguments if arguments is None else arguments),
            context=dict(st.context),
            disposition=disposition,
            actor=actor,
            output=output,
            error=error,
            reason=reason,
        )

    def _answer(self, st: RequestState) -> GateAnswer:
        return GateAnswer(
            request_id=st.request_id,
            answer=answer_for(st.state),
            state=st.state,
            reason=st.reason,
            deadline=st.deadline,
            digest=st.digest,
            tool=st.tool,
            approvers=self.approvers_for(st.tool),
            action_class=st.action_class,
            rule=st.rule,
            requested_by=st.requested_by,
            requested_at=st.requested_at,
            arguments=dict(st.arguments),
            decided_by="" if st.state == PENDING else st.decided_by,
        )


def _fresh(request_id: str) -> Callable[[list[AuditRow]], None]:
    def check(history: list[AuditRow]) -> None:
        if history:
            raise GateRefused(f"request id {request_id} is already in the audit log")

    return check


def _still_pending(request_id: str) -> Callable[[list[AuditRow]], None]:
    def check(history: list[AuditRow]) -> None:
        if fold(history).state != PENDING:
            raise GateRefused(f"request {request_id} is no longer pending")

    return check


def _not_pending(st: RequestState, verb: str) -> str:
    by = f" by {st.decided_by}" if st.decided_by else ""
    done = f"request {st.request_id} ({st.tool}) was {st.state}{by} at {st.decided_at}"
    if verb == CANCELLED and st.state in (APPROVED, EXECUTED):
        # Past the window the action ran, or may be running: cancelling would only pretend.
        return f"{done}: too late to cancel, it executed or may have (undo it in the tool)"
    return f"{done}: it cannot be resumed or {verb} now (make a new request)"


def _executable(st: RequestState) -> None:
    if st.state == EXECUTED:
        raise GateRefused(
            f"request {st.request_id} ({st.tool}) was already executed at {st.decided_at}: "
            "executing twice is refused (make a new request)"
        )
    if st.state == PENDING:
        raise GateRefused(
            f"request {st.request_id} ({st.tool}) is not approved yet (pending until "
            f"{st.deadline}): it cannot be executed"
        )
    if st.state != APPROVED:
        raise GateRefused(
            f"request {st.request_id} ({st.tool}) was {st.state} by {st.decided_by}: it cannot "
            "be executed"
        )


def _need_reason(reason: str, verb: str) -> None:
    if not (reason or "").strip():
        raise GateRefused(f"to {verb} a request, say why (a reason)")


__all__ = [
    "ActionGate",
    "ActionRequest",
    "GateAnswer",
    "GateRefused",
    "RequestState",
    "UnknownRequest",
    "answer_for",
    "fold",
]
