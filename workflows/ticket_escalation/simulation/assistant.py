"""The support assistant acting, not only suggesting: its tool calls through the approval gate,
and the shift supervisors answering them with a person's delays.

Each working day the assistant takes up yesterday's scored tickets: it escalates some of those
the model flagged (reversible: a 30-minute cancel window), drafts and asks to send replies
(irreversible: a supervisor must say yes within two hours, or the reply is never sent), and
offers goodwill credits (difficult to undo: above 50 a supervisor says yes first, below it a
cancel window). Supervisors approve most requests after a few minutes, deny some, cancel a few
escalations and credits, and now and then nobody answers in time.

Everything happens in simulated time: every request, decision and execution is one call on the
gate at its own instant, all of a day's calls in time order, so the audit log reads as a real
day would. The behaviour is a pure function of (seed, day, the served tickets, the incidents).

Incidents (``Incident`` kinds of this workflow, on their day):

* ``agent_loop``: the assistant gets stuck on one ticket and asks to send the same reply again
  and again; busy supervisors approve most of them;
* ``tool_outage``: the CRM's API answers 503 for an afternoon: escalations and credits fail;
* ``unapproved_action``: a runtime release skips the gate and sends one reply directly,
  logging the call but no approval.
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
from collections.abc import Iterator

import numpy as np
import pandas as pd

AGENT_ID = "support-assistant"
REQUESTED_BY = "support assistant"
SUPERVISORS = ("shift supervisor ana", "shift supervisor ben")
# Requests per working day, by tool (the assistant's pilot queue, not every ticket).
DAILY = {"escalate_ticket": 16, "send_reply": 12, "issue_goodwill_credit": 5}
DAY_START, DAY_END = dt.time(8, 0), dt.time(17, 30)
# What supervisors do with a request that needs a yes: approve, deny, or not answer in time.
P_APPROVE, P_DENY = 0.88, 0.09
P_CANCEL = 0.06  # a window request someone stops before it executes
P_TOOL_ERROR = 0.01  # the CRM's ordinary timeouts
REPLIES = (
    "Thanks for your patience: we have passed your case to a specialist.",
    "We have reset the sync job; please try again and tell us if it persists.",
    "Your invoice has been corrected; the new copy is attached.",
    "We are sorry for the trouble: your plan's limit has been raised for this month.",
)
OUTAGE_ERROR = "CRM API 503 Service Unavailable"
TIMEOUT_ERROR = "CRM API timeout after 10 s"
CRM_TOOLS = ("escalate_ticket", "issue_goodwill_credit")


class Assistant:
    """``work(day, served)``: the day's tool calls through ``gate``. ``log`` is the audit log
    the gate writes to: only the ``unapproved_action`` incident writes to it directly (that is
    the incident)."""

    def __init__(self, seed: int, incidents, gate, log, workflow: str, classes):
        self.seed, self.gate, self.log, self.workflow = seed, gate, log, workflow
        self.incidents, self.classes = tuple(incidents), classes

    def _on(self, kind: str, day: dt.date):
        return next((i for i in self.incidents if i.kind == kind and i.active_on(day)), None)

    def work(self, day: dt.date, served: pd.DataFrame | None) -> int:
        """Every request of ``day`` through the gate, in time order; how many were made."""
        if served is None or not len(served):
            return 0
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, day.toordinal(), 1818]))
        plans = list(self._plans(day, served, rng))
        loop = self._on("agent_loop", day)
        if loop is not None:
            plans += self._loop(day, served, loop.params, rng)
        queue: list[tuple[dt.datetime, int, Iterator]] = []
        order = itertools.count()
        for at, steps in plans:
            heapq.heappush(queue, (at, next(order), steps))
        while queue:  # each request's next step at its own instant, all requests interleaved
            _, _, steps = heapq.heappop(queue)
            following = next(steps, None)
            if following is not None:
                heapq.heappush(queue, (following, next(order), steps))
        made = len(plans)
        if self._on("unapproved_action", day) is not None:
            self._bypass(day, served, rng)
            made += 1
        self.gate.expire_due(at=dt.datetime.combine(day, dt.time(23, 59), tzinfo=dt.UTC))
        return made

    # ------------------------------------------------------------------ what the day holds

    def _plans(self, day, served, rng) -> Iterator[tuple[dt.datetime, Iterator]]:
        flagged = served[served["decision"].astype(bool)]
        others = served[~served["decision"].astype(bool)]
        outage = self._on("tool_outage", day)
        for tool, count in DAILY.items():
            pool = flagged if tool == "escalate_ticket" and len(flagged) else others
            if not len(pool):
                pool = served
            picks = pool.iloc[rng.choice(len(pool), size=min(count, len(pool)), replace=False)]
            for _, row in picks.iterrows():
                at = _moment(day, rng)
                arguments = self._arguments(tool, row, rng)
                yield at, self._request(tool, arguments, row, at, rng, outage)

    def _loop(self, day, served, params, rng) -> list[tuple[dt.datetime, Iterator]]:
        """One ticket, one reply, asked for again every few minutes."""
        row = served.iloc[int(rng.integers(len(served)))]
        arguments = self._arguments("send_reply", row, rng)
        first = dt.datetime.combine(day, dt.time(10, 5), tzinfo=dt.UTC)
        gap = dt.timedelta(minutes=params["minutes"] / max(params["repeats"] - 1, 1))
        return [
            (first + k * gap, self._request("send_reply", arguments, row, first + k * gap, rng))
            for k in range(params["repeats"])
        ]

    def _arguments(self, tool: str, row, rng) -> dict:
        ticket = str(row["ticket_id"])
        if tool == "escalate_ticket":
            return {"ticket_id": ticket, "queue": "escalations"}
        if tool == "send_reply":
            return {"ticket_id": ticket, "text": REPLIES[int(rng.integers(len(REPLIES)))]}
        amount = int(rng.choice([10, 15, 20, 25, 30, 40, 50, 60, 75, 100]))
        return {"ticket_id": ticket, "amount": amount, "currency": "EUR"}

    def _context(self, row) -> dict:
        return {
            "entity_id": str(row["ticket_id"]),
            "score": round(float(row["score"]), 4),
            "serving_version": str(row["model_version"]),
        }

    # ------------------------------------------------------------------ one request's life

    def _request(self, tool, arguments, row, at, rng, outage=None) -> Iterator[dt.datetime]:
        """A generator: makes the request when first advanced, then yields the instant of
        each next step (a decision, the window's close, the execution)."""
        from resources.action_gate import ActionRequest

        # Drawn now, so a request's fate does not depend on how the day's steps interleave.
        fate = rng.random()
        delay = dt.timedelta(minutes=float(np.clip(rng.lognormal(np.log(12), 0.6), 1, 110)))
        supervisor = SUPERVISORS[int(rng.integers(len(SUPERVISORS)))]
        fails = rng.random() < P_TOOL_ERROR

        def life():
            answer = self.gate.request(
                ActionRequest(
                    tool=tool,
                    arguments=arguments,
                    agent_id=AGENT_ID,
                    agent_version=str(row["model_version"]),
                    context=self._context(row),
                    requested_by=REQUESTED_BY,
                ),
                at=at,
            )
            rid = answer.request_id
            if answer.answer == "deny":
                return
            now = at
            if answer.answer == "pending":
                deadline = dt.datetime.fromisoformat(answer.deadline)
                window = answer.state == "pending" and self._rule(tool, arguments) == "window"
                if window:
                    if fate < P_CANCEL and now + delay < deadline:
                        now = now + delay
                        yield now
                        self.gate.cancel(rid, supervisor, "not needed: handled by phone", at=now)
                        return
                    now = deadline + dt.timedelta(seconds=5)
                    yield now
                elif fate < P_APPROVE and now + delay < deadline:
                    now = now + delay
                    yield now
                    self.gate.approve(rid, supervisor, answer.digest, "reads well", at=now)
                    now = now + dt.timedelta(seconds=40)
                    yield now
                elif fate < P_APPROVE + P_DENY and now + delay < deadline:
                    now = now + delay
                    yield now
                    self.gate.deny(rid, supervisor, "wrong tone for this customer", at=now)
                    return
                else:  # nobody answered: the gate expires it at its deadline
                    yield deadline + dt.timedelta(seconds=1)
                    self.gate.status(rid, at=deadline + dt.timedelta(seconds=1))
                    return
            status = self.gate.status(rid, at=now)
            if status.answer != "allow":
                return
            self.gate.record_execution(rid, arguments, **self._outcome(tool, now, outage, fails))

        return life()

    def _rule(self, tool: str, arguments: dict) -> str:
        return self.classes.get(tool).rule_for(arguments)

    def _outcome(self, tool, at, outage, fails) -> dict:
        if outage is not None and tool in outage.params["tools"]:
            start, end = outage.params["from_hour"], outage.params["to_hour"]
            if start <= at.hour < end:
                return {"output": None, "error": OUTAGE_ERROR, "at": at}
        if fails:
            return {"output": None, "error": TIMEOUT_ERROR, "at": at}
        receipt = {"escalate_ticket": "queued", "send_reply": "sent"}.get(tool, "credited")
        return {"output": {"status": receipt}, "error": None, "at": at}

    def _bypass(self, day, served, rng) -> None:
        """The incident: a reply sent without asking, its call logged, no approval anywhere."""
        from uuid import uuid4

        from resources.audit_log import AuditEntry

        row = served.iloc[int(rng.integers(len(served)))]
        at = dt.datetime.combine(day, dt.time(15, 12), tzinfo=dt.UTC)
        self.log.append(
            AuditEntry(
                at=at.isoformat(),
                workflow=self.workflow,
                request_id=uuid4().hex,
                agent_id=AGENT_ID,
                agent_version=f"{row['model_version']} (runtime 2.3.1)",
                tool="send_reply",
                action_class="irreversible",
                arguments=self._arguments("send_reply", row, rng),
                context=self._context(row),
                disposition="executed",
                actor=REQUESTED_BY,
                output={"status": "sent"},
                reason="sent by the runtime directly",
            )
        )


def _moment(day: dt.date, rng) -> dt.datetime:
    start = dt.datetime.combine(day, DAY_START, tzinfo=dt.UTC)
    span = (dt.datetime.combine(day, DAY_END) - dt.datetime.combine(day, DAY_START)).total_seconds()
    return start + dt.timedelta(seconds=int(rng.integers(int(span))))
