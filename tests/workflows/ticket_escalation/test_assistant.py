"""The simulated support assistant through a real gate on a real SQLite audit log: an ordinary
day, and each of its three incidents leaving the rows the agent checks are meant to find."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from resources.action_gate import ActionGate
from resources.audit_log import AuditLog
from workflows.ticket_escalation.simulation.assistant import (
    DAILY,
    OUTAGE_ERROR,
    REQUESTED_BY,
    SUPERVISORS,
    Assistant,
)
from workflows.ticket_escalation.simulation.incidents import parse_incidents
from workflows.ticket_escalation.workflow import WORKFLOW as WF

DAY = dt.date(2026, 2, 3)


def _served(n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    score = rng.random(n)
    return pd.DataFrame(
        {
            "ticket_id": [f"T20260202-{i:06d}" for i in range(n)],
            "score": score,
            "decision": score > 0.7,
            "model_version": "3",
        }
    )


def _day(tmp_path, incidents=()):
    log = AuditLog(f"sqlite:///{tmp_path / 'audit.sqlite'}")
    gate = ActionGate(log, WF.name, WF.actions, list(SUPERVISORS), now=lambda: None)
    made = Assistant(7, parse_incidents(incidents), gate, log, WF.name, WF.actions).work(
        DAY, _served()
    )
    rows = log.rows()
    requests: dict[str, list] = {}
    for row in rows:
        requests.setdefault(row.request_id, []).append(row)
    return made, rows, requests


def test_an_ordinary_day_asks_decides_and_executes_in_time_order(tmp_path):
    made, rows, requests = _day(tmp_path)
    assert made == sum(DAILY.values()) == len(requests)
    # The log reads as a day would: append order is time order, all within the day.
    times = [r.at for r in rows]
    assert times == sorted(times) and all(t.startswith("2026-02-03") for t in times)
    final = {rid: rs[-1].disposition for rid, rs in requests.items()}
    # Replies need a supervisor: most are approved and sent, a few denied or left to expire.
    replies = [rs for rs in requests.values() if rs[0].tool == "send_reply"]
    sent = [rs for rs in replies if rs[-1].disposition == "executed"]
    assert len(sent) >= len(replies) // 2
    for rs in sent:
        [approval] = [r for r in rs if r.disposition == "approved"]
        assert approval.actor in SUPERVISORS and approval.digest == rs[0].digest
    # Escalations run when their half-hour window closes, approved by the gate itself.
    for rs in requests.values():
        if rs[0].tool == "escalate_ticket" and rs[-1].disposition == "executed":
            window = next(r for r in rs if r.disposition == "approved")
            assert window.actor == "gate"
            opened = dt.datetime.fromisoformat(rs[0].at)
            assert dt.datetime.fromisoformat(rs[-1].at) - opened >= dt.timedelta(minutes=30)
    assert set(final.values()) <= {"executed", "denied", "cancelled", "expired"}
    assert not any(r.actor == REQUESTED_BY and r.disposition == "approved" for r in rows)
    assert AuditLog(f"sqlite:///{tmp_path / 'audit.sqlite'}").verify() == []


def test_the_loop_asks_the_same_reply_for_one_ticket_again_and_again(tmp_path):
    _, _, requests = _day(tmp_path, [{"kind": "agent_loop", "day": DAY, "repeats": 8}])
    replies = [rs[0] for rs in requests.values() if rs[0].tool == "send_reply"]
    by_pair = pd.Series([(r.context["entity_id"], r.digest) for r in replies]).value_counts()
    assert by_pair.iloc[0] == 8 and by_pair.iloc[1] == 1


@pytest.mark.parametrize("hours", [(13, 17)])
def test_the_outage_fails_the_crm_tools_only_in_its_hours(tmp_path, hours):
    spec = {"kind": "tool_outage", "day": DAY, "from_hour": hours[0], "to_hour": hours[1]}
    _, rows, _ = _day(tmp_path, [spec])
    failed = [r for r in rows if r.error == OUTAGE_ERROR]
    assert failed and {r.tool for r in failed} <= {"escalate_ticket", "issue_goodwill_credit"}
    assert all(hours[0] <= dt.datetime.fromisoformat(r.at).hour < hours[1] for r in failed)
    outside = [
        r
        for r in rows
        if r.disposition == "executed"
        and r.tool == "escalate_ticket"
        and not hours[0] <= dt.datetime.fromisoformat(r.at).hour < hours[1]
    ]
    assert outside and not any(r.error == OUTAGE_ERROR for r in outside)


def test_the_bypass_logs_one_sent_reply_that_never_asked(tmp_path):
    made, _, requests = _day(tmp_path, [{"kind": "unapproved_action", "day": DAY}])
    alone = [rs for rs in requests.values() if len(rs) == 1 and rs[0].disposition == "executed"]
    assert made == sum(DAILY.values()) + 1
    [[row]] = alone
    assert row.tool == "send_reply" and row.action_class == "irreversible"
