"""The approval gate's rules, in process, on a real SQLite audit log."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from checks.action_classes import ActionClass, ActionClasses, Reversibility, arguments_digest
from resources.action_gate import (
    ActionGate,
    ActionRequest,
    GateRefused,
    UnknownRequest,
    fold,
)
from resources.audit_log import AuditLog

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
POLICY_APPROVERS = ("supervisor ana", "supervisor ben")
CLASSES = ActionClasses.of(
    [
        ActionClass("read_account", Reversibility.REVERSIBLE, owner="ops lead", approval="none"),
        ActionClass(
            "escalate", Reversibility.REVERSIBLE, owner="ops lead", approval="window",
            window_minutes=30,
        ),
        ActionClass(
            "send_reply", Reversibility.IRREVERSIBLE, owner="ops lead", approval="required",
            deadline_minutes=60,
        ),
        ActionClass(
            "credit", Reversibility.DIFFICULT, owner="ops lead", approval="window",
            window_minutes=60, deadline_minutes=240, required_above=("amount", 50),
        ),
        ActionClass(
            "close_account", Reversibility.IRREVERSIBLE, owner="ops lead", approval="required",
            approvers=("account manager",),
        ),
    ]
)  # fmt: skip


class Clock:
    def __init__(self) -> None:
        self.at = T0

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def audit(tmp_path):
    log = AuditLog(f"sqlite:///{tmp_path / 'audit.sqlite'}")
    yield log
    log.close()


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def gate(audit, clock):
    return ActionGate(audit, "toy", CLASSES, POLICY_APPROVERS, clock)


def ask(gate, tool, arguments=None, requested_by="agent owner carla"):
    return gate.request(
        ActionRequest(
            tool=tool,
            arguments={"ticket_id": "T1"} if arguments is None else arguments,
            agent_id="triage-agent",
            agent_version="v3",
            context={"entity_id": "T1", "score": 0.91, "serving_version": "4"},
            requested_by=requested_by,
        )
    )


def dispositions(audit, request_id):
    return [(r.disposition, r.actor) for r in audit.request_rows(request_id)]


def test_undeclared_tool_is_denied_and_logged(gate, audit):
    answer = ask(gate, "delete_customer")
    assert (answer.answer, answer.state) == ("deny", "denied")
    (row,) = audit.request_rows(answer.request_id)
    assert (row.action_class, row.actor, row.disposition) == ("undeclared", "gate", "denied")
    assert "delete_customer" in row.reason and "send_reply" in row.reason
    assert row.context["score"] == 0.91 and row.agent_version == "v3"
    with pytest.raises(GateRefused, match="cannot be executed"):
        gate.record_execution(answer.request_id, {"ticket_id": "T1"})


def test_rule_none_allows_at_once_and_executes_once(gate, audit):
    answer = ask(gate, "read_account")
    assert (answer.answer, answer.state) == ("allow", "approved")
    row = gate.record_execution(answer.request_id, {"ticket_id": "T1"}, output={"plan": "pro"})
    assert (row.disposition, row.output) == ("executed", {"plan": "pro"})
    with pytest.raises(GateRefused, match="executing twice is refused"):
        gate.record_execution(answer.request_id, {"ticket_id": "T1"})
    assert dispositions(audit, answer.request_id) == [
        ("approved", "gate"),
        ("executed", "triage-agent"),
    ]
    assert gate.status(answer.request_id).answer == "allow"


def test_window_executes_when_it_closes(gate, audit, clock):
    answer = ask(gate, "escalate")
    assert (answer.answer, answer.rule) == ("pending", "window")
    assert datetime.fromisoformat(answer.deadline) == T0 + timedelta(minutes=30)
    clock.at = T0 + timedelta(minutes=29)
    with pytest.raises(GateRefused, match="not approved yet"):
        gate.record_execution(answer.request_id, {"ticket_id": "T1"})
    assert gate.status(answer.request_id).answer == "pending"
    clock.at = T0 + timedelta(minutes=30)
    row = gate.record_execution(answer.request_id, {"ticket_id": "T1"})
    assert row.disposition == "executed"
    rows = audit.request_rows(answer.request_id)
    assert [(r.disposition, r.actor, r.reason) for r in rows[1:2]] == [
        ("approved", "gate", "cancel window closed")
    ]


def test_cancel_within_the_window_and_not_after(gate, audit, clock):
    by_owner = ask(gate, "escalate")
    by_requester = ask(gate, "escalate")
    stranger = ask(gate, "escalate")
    late = ask(gate, "escalate")
    clock.at = T0 + timedelta(minutes=10)
    assert gate.cancel(by_owner.request_id, "ops lead", "wrong queue").answer == "deny"
    assert gate.cancel(by_requester.request_id, "agent owner carla", "oops").state == "cancelled"
    with pytest.raises(GateRefused, match="who may cancel: .*ops lead"):
        gate.cancel(stranger.request_id, "someone else", "no")
    clock.at = T0 + timedelta(minutes=31)
    with pytest.raises(GateRefused, match="too late to cancel, it executed or may have"):
        gate.cancel(late.request_id, "supervisor ana", "changed my mind")
    assert dispositions(audit, late.request_id)[-1] == ("approved", "gate")
    with pytest.raises(GateRefused, match="cannot be executed"):
        gate.record_execution(by_owner.request_id, {"ticket_id": "T1"})


def test_required_needs_a_person_and_binds_the_arguments(gate, audit, clock):
    answer = ask(gate, "send_reply", {"ticket_id": "T1", "text": "We are on it."})
    assert (answer.answer, answer.approvers) == ("pending", POLICY_APPROVERS)
    assert answer.digest == arguments_digest({"ticket_id": "T1", "text": "We are on it."})
    with pytest.raises(GateRefused, match="not approved yet"):
        gate.record_execution(answer.request_id, {"ticket_id": "T1", "text": "We are on it."})
    changed = arguments_digest({"ticket_id": "T1", "text": "Refund granted."})
    with pytest.raises(GateRefused, match="bound to the exact arguments"):
        gate.approve(answer.request_id, "supervisor ana", changed)
    clock.at = T0 + timedelta(minutes=5)
    approved = gate.approve(answer.request_id, "supervisor ana", answer.digest, "fine")
    assert (approved.answer, approved.decided_by) == ("allow", "supervisor ana")
    with pytest.raises(GateRefused, match="changed arguments need a new approval"):
        gate.record_execution(answer.request_id, {"ticket_id": "T1", "text": "Refund granted."})
    gate.record_execution(answer.request_id, {"text": "We are on it.", "ticket_id": "T1"})
    assert dispositions(audit, answer.request_id) == [
        ("pending", "agent owner carla"),
        ("approved", "supervisor ana"),
        ("executed", "triage-agent"),
    ]


def test_required_fails_closed_at_its_deadline(gate, audit, clock):
    polled = ask(gate, "send_reply")
    unpolled = ask(gate, "send_reply")
    clock.at = T0 + timedelta(minutes=60)
    answer = gate.status(polled.request_id)
    assert (answer.answer, answer.state) == ("deny", "expired")
    with pytest.raises(GateRefused, match="cannot be resumed"):
        gate.approve(polled.request_id, "supervisor ana", polled.digest)
    # Nobody looked before the deadline: the approval itself writes the expiry, then refuses.
    with pytest.raises(GateRefused, match="expired by gate"):
        gate.approve(unpolled.request_id, "supervisor ana", unpolled.digest)
    for request_id in (polled.request_id, unpolled.request_id):
        assert dispositions(audit, request_id) == [
            ("pending", "agent owner carla"),
            ("expired", "gate"),
        ]
    with pytest.raises(GateRefused, match="cannot be executed"):
        gate.record_execution(polled.request_id, {"ticket_id": "T1"})


def test_the_requester_cannot_approve(gate, audit):
    answer = ask(gate, "send_reply", requested_by="supervisor ana")
    with pytest.raises(GateRefused, match="the one who requested cannot approve it"):
        gate.approve(answer.request_id, "supervisor ana", answer.digest)
    with pytest.raises(GateRefused, match="the one who requested cannot deny it"):
        gate.deny(answer.request_id, "supervisor ana", "no")
    assert len(audit.request_rows(answer.request_id)) == 1
    assert gate.approve(answer.request_id, "supervisor ben", answer.digest).answer == "allow"


def test_only_the_named_approvers_decide(gate, audit):
    answer = ask(gate, "send_reply")
    with pytest.raises(GateRefused, match="who may approve: supervisor ana, supervisor ben"):
        gate.approve(answer.request_id, "ops intern", answer.digest)
    with pytest.raises(GateRefused, match="who may approve: supervisor ana, supervisor ben"):
        gate.deny(answer.request_id, "ops intern", "no")
    own = ask(gate, "close_account")
    assert own.approvers == ("account manager",)
    with pytest.raises(GateRefused, match="who may approve: account manager"):
        gate.approve(own.request_id, "supervisor ana", own.digest)
    assert gate.approve(own.request_id, "account manager", own.digest).answer == "allow"
    assert len(audit.request_rows(answer.request_id)) == 1


def test_no_resume_after_a_decision(gate, audit):
    denied = ask(gate, "send_reply")
    gate.deny(denied.request_id, "supervisor ben", "tone is wrong")
    cancelled = ask(gate, "send_reply")
    gate.cancel(cancelled.request_id, "agent owner carla", "customer called")
    approved = ask(gate, "send_reply")
    gate.approve(approved.request_id, "supervisor ana", approved.digest)
    for answer in (denied, cancelled):
        with pytest.raises(GateRefused, match="cannot be resumed"):
            gate.approve(answer.request_id, "supervisor ana", answer.digest)
    with pytest.raises(GateRefused, match="cannot be resumed or denied"):
        gate.deny(approved.request_id, "supervisor ben", "second thoughts")
    assert [len(audit.request_rows(a.request_id)) for a in (denied, cancelled, approved)] == [
        2,
        2,
        2,
    ]
    with pytest.raises(GateRefused, match="say why"):
        gate.deny(ask(gate, "send_reply").request_id, "supervisor ben", " ")


def test_required_above_a_limit(gate):
    assert ask(gate, "credit", {"amount": 20}).rule == "window"
    big = ask(gate, "credit", {"amount": 80})
    assert big.rule == "required"
    assert datetime.fromisoformat(big.deadline) == T0 + timedelta(minutes=240)
    assert ask(gate, "credit", {"amount": "lots"}).rule == "required"


def test_unknown_request(gate):
    with pytest.raises(UnknownRequest, match="no request nope"):
        gate.status("nope")


def test_a_gate_nobody_may_approve_refuses_to_start(audit, clock):
    with pytest.raises(ValueError, match="nobody may approve send_reply"):
        ActionGate(audit, "toy", CLASSES, (), clock)
    window_only = ActionClasses.of([c for c in CLASSES if c.tool in ("escalate", "read_account")])
    ActionGate(audit, "toy", window_only, (), clock)


def test_open_requests_settle_the_due_ones(gate, clock):
    reply = ask(gate, "send_reply")
    escalation = ask(gate, "escalate")
    ask(gate, "read_account")
    assert {a.request_id for a in gate.open_requests()} == {
        reply.request_id,
        escalation.request_id,
    }
    clock.at = T0 + timedelta(minutes=45)
    assert [a.request_id for a in gate.open_requests()] == [reply.request_id]
    assert gate.expire_due(T0 + timedelta(minutes=61)) == [reply.request_id]
    assert gate.open_requests() == []
    states = {a.tool: a.state for a in gate.all_requests()}
    assert states == {"send_reply": "expired", "escalate": "approved", "read_account": "approved"}


def test_a_tool_failure_is_an_executed_row_with_its_error(gate):
    answer = ask(gate, "read_account")
    row = gate.record_execution(answer.request_id, {"ticket_id": "T1"}, error="CRM 503")
    assert (row.disposition, row.error, row.output) == ("executed", "CRM 503", None)


def decide_at_once(gate, request_id, digest) -> list[str]:
    barrier = threading.Barrier(len(POLICY_APPROVERS))
    outcomes: list[str] = []

    def decide(actor: str) -> None:
        barrier.wait()
        try:
            gate.approve(request_id, actor, digest)
            outcomes.append("approved")
        except GateRefused:
            outcomes.append("refused")

    threads = [threading.Thread(target=decide, args=(a,)) for a in POLICY_APPROVERS]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


def test_two_approvers_at_once_leave_one_decision(gate, audit):
    for _ in range(10):
        answer = ask(gate, "send_reply")
        outcomes = decide_at_once(gate, answer.request_id, answer.digest)
        assert sorted(outcomes) == ["approved", "refused"]
        assert [r.disposition for r in audit.request_rows(answer.request_id)] == [
            "pending",
            "approved",
        ]
    assert audit.verify() == []


def test_fold_reads_the_rule_from_the_first_row(gate, audit):
    answer = ask(gate, "escalate")
    st = fold(audit.request_rows(answer.request_id))
    assert (st.rule, st.requested_by, st.state, st.rows) == (
        "window",
        "agent owner carla",
        "pending",
        1,
    )
    assert st.due(T0 + timedelta(minutes=30)) and not st.due(T0 + timedelta(minutes=29))
