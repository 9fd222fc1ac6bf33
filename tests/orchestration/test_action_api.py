"""The approval gate over real HTTP (uvicorn on a free localhost port) and through the CLI, on
one ticket-escalation home: what one side writes, the other sees."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from checks.action_classes import ActionClass, ActionClasses, Reversibility, arguments_digest
from orchestration.action_api import ACTOR_HEADER, running_server
from orchestration.approvals_cli import gate_for
from orchestration.cli import main
from resources.action_client import ActionClient
from resources.action_gate import ActionGate, GateRefused, UnknownRequest
from resources.audit_log import AuditLog
from resources.clock import SIMULATED_NOW
from workflows.ticket_escalation.workflow import WORKFLOW as WF

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SUPERVISORS = ("shift supervisor ana", "shift supervisor ben")
REPLY = {"ticket_id": "T-1042", "text": "We have escalated your ticket."}


def at(minutes: float, monkeypatch) -> None:
    """Move the home's clock (the gate's now) to T0 + minutes."""
    monkeypatch.setenv(SIMULATED_NOW, (T0 + timedelta(minutes=minutes)).isoformat())


@pytest.fixture
def served(home, monkeypatch):
    monkeypatch.delenv("AFTERLAUNCH_AUDIT_URL", raising=False)
    monkeypatch.delenv("AFTERLAUNCH_ACTOR", raising=False)
    at(0, monkeypatch)
    gate = gate_for(home, WF)
    with running_server(gate) as url:
        yield home, gate, url
    gate.log.close()


def client(url, requested_by="assistant operator carla"):
    return ActionClient(url, "support-assistant", "prompt-v4", requested_by)


def cli(home, *argv):
    return main([*argv, "--home", str(home.root), "--workflow", WF.name])


def cli_refusal(home, *argv) -> str:
    with pytest.raises(SystemExit) as refused:
        cli(home, *argv)
    assert refused.value.code not in (0, None)
    return str(refused.value.code)


def post(url, path, body=None, headers=None, raw=None):
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    req = urllib.request.Request(
        url + path, data=data, method="POST", headers={"Content-Type": "application/json"}
    )
    for name, value in (headers or {}).items():
        req.add_header(name, value)
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def get(url, path):
    try:
        with urllib.request.urlopen(url + path, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def rows(gate, request_id):
    return [(r.disposition, r.actor) for r in gate.log.request_rows(request_id)]


def test_health_and_malformed_bodies(served):
    _, gate, url = served
    assert get(url, "/v1/health") == (
        200,
        {"status": "ok", "workflow": WF.name, "head_seq": 0, "head_hash": "0" * 64},
    )
    status, doc = post(url, "/v1/requests", {"arguments": {}})
    assert (status, doc["error"]) == (422, "field 'tool' is missing")
    base = {"tool": "send_reply", "agent_id": "a", "agent_version": "1", "requested_by": "x"}
    status, doc = post(url, "/v1/requests", {**base, "arguments": [1, 2]})
    assert status == 422 and "'arguments' must be a JSON object" in doc["error"]
    assert post(url, "/v1/requests", raw=b"{not json")[0] == 422
    anonymous = {k: v for k, v in base.items() if k != "requested_by"}
    status, doc = post(url, "/v1/requests", {**anonymous, "arguments": REPLY})
    assert status == 400 and ACTOR_HEADER in doc["error"]
    status, doc = post(url, "/v1/requests", {**anonymous, "arguments": REPLY},
                       headers={ACTOR_HEADER: "carla"})  # fmt: skip
    assert (status, doc["answer"], doc["requested_by"]) == (200, "pending", "carla")
    assert get(url, "/v1/requests/nope")[0] == 404
    status, doc = post(url, f"/v1/requests/{doc['request_id']}/approve", {"digest": doc["digest"]})
    assert status == 400 and "who is acting is missing" in doc["error"]
    assert len(gate.log.rows()) == 1


def test_undeclared_tool_denied_and_logged(served, capsys):
    home, gate, url = served
    answer = client(url).request("refund_order", {"order": "O-1", "amount": 900})
    assert (answer.answer, answer.action_class) == ("deny", "undeclared")
    assert "refund_order" in answer.reason and "send_reply" in answer.reason
    assert rows(gate, answer.request_id) == [("denied", "gate")]
    capsys.readouterr()
    assert cli(home, "approvals", "list", "--all", "--json") == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert (listed["tool"], listed["state"]) == ("refund_order", "denied")
    with pytest.raises(GateRefused, match="cannot be executed"):
        client(url).record(answer.request_id, {"order": "O-1", "amount": 900})


def test_fail_closed_at_the_deadline(served, monkeypatch):
    home, gate, url = served
    agent = client(url)
    over_http = agent.request("send_reply", REPLY, {"entity_id": "T-1042", "score": 0.93})
    over_cli = agent.request("send_reply", REPLY)
    assert over_http.answer == "pending" and over_http.rule == "required"
    at(119, monkeypatch)
    assert agent.status(over_http.request_id).answer == "pending"
    at(120, monkeypatch)  # send_reply waits 120 minutes for a person
    answer = agent.status(over_http.request_id)
    assert (answer.answer, answer.state) == ("deny", "expired")
    with pytest.raises(GateRefused, match="cannot be resumed"):
        agent.approve(over_http.request_id, SUPERVISORS[0], over_http.digest, "late")
    refusal = cli_refusal(
        home, "approvals", "approve", over_cli.request_id, "--actor", SUPERVISORS[0]
    )
    assert "expired by gate" in refusal and "cannot be resumed" in refusal
    for request_id in (over_http.request_id, over_cli.request_id):
        assert rows(gate, request_id) == [
            ("pending", "assistant operator carla"),
            ("expired", "gate"),
        ]
    with pytest.raises(GateRefused, match="cannot be executed"):
        agent.record(over_http.request_id, REPLY)


def test_the_approval_is_bound_to_the_arguments(served, capsys):
    home, gate, url = served
    agent = client(url)
    one, two = agent.request("send_reply", REPLY), agent.request("send_reply", REPLY)
    changed = arguments_digest({**REPLY, "text": "Your refund of 900 is on its way."})
    with pytest.raises(GateRefused, match="bound to the exact arguments"):
        agent.approve(one.request_id, SUPERVISORS[0], changed)
    refusal = cli_refusal(
        home, "approvals", "approve", two.request_id, "--digest", changed, "--actor", SUPERVISORS[1]
    )
    assert "changed arguments need a new request" in refusal
    assert cli(home, "approvals", "approve", two.request_id, "--actor", SUPERVISORS[1]) == 0
    assert f"{two.request_id} send_reply: approved by {SUPERVISORS[1]}" in capsys.readouterr().out
    assert agent.approve(one.request_id, SUPERVISORS[0], one.digest).answer == "allow"
    with pytest.raises(GateRefused, match="changed arguments need a new approval"):
        agent.record(one.request_id, {**REPLY, "text": "Your refund of 900 is on its way."})
    executed = agent.record(one.request_id, REPLY, output={"message_id": "M-1"})
    assert executed["disposition"] == "executed"
    with pytest.raises(GateRefused, match="executing twice is refused"):
        agent.record(one.request_id, REPLY)


def test_no_self_approval(served):
    home, gate, url = served
    agent = client(url, requested_by=SUPERVISORS[0])
    one, two = agent.request("send_reply", REPLY), agent.request("send_reply", REPLY)
    with pytest.raises(GateRefused, match="the one who requested cannot approve it"):
        agent.approve(one.request_id, SUPERVISORS[0], one.digest)
    refusal = cli_refusal(home, "approvals", "approve", two.request_id, "--actor", SUPERVISORS[0])
    assert "the one who requested cannot approve it" in refusal
    assert [len(gate.log.request_rows(a.request_id)) for a in (one, two)] == [1, 1]


def test_an_approver_outside_the_policy_is_told_who_may(served):
    home, gate, url = served
    agent = client(url)
    answer = agent.request("send_reply", REPLY)
    who = "who may approve: shift supervisor ana, shift supervisor ben, support operations lead"
    with pytest.raises(GateRefused, match=who):
        agent.approve(answer.request_id, "night intern", answer.digest)
    refusal = cli_refusal(
        home, "approvals", "approve", answer.request_id, "--actor", "night intern"
    )
    assert who in refusal
    assert rows(gate, answer.request_id) == [("pending", "assistant operator carla")]


def test_cancel_within_the_window_not_after(served, monkeypatch):
    home, gate, url = served
    agent = client(url)
    escalate = {"ticket_id": "T-7"}
    by_http, by_cli, late = (agent.request("escalate_ticket", escalate) for _ in range(3))
    assert by_http.rule == "window"
    at(29, monkeypatch)
    assert agent.cancel(by_http.request_id, "assistant operator carla", "wrong ticket").answer == (
        "deny"
    )
    assert (
        cli(
            home,
            "approvals",
            "cancel",
            by_cli.request_id,
            "--reason",
            "not urgent",
            "--actor",
            "support operations lead",
        )  # fmt: skip
        == 0
    )
    with pytest.raises(GateRefused, match="cannot be executed"):
        agent.record(by_cli.request_id, escalate)
    at(30, monkeypatch)  # the 30-minute window closed: it executes, a cancel comes too late
    with pytest.raises(GateRefused, match="too late to cancel"):
        agent.cancel(late.request_id, "assistant operator carla", "changed my mind")
    refusal = cli_refusal(home, "approvals", "cancel", late.request_id, "--reason", "stop",
                          "--actor", SUPERVISORS[0])  # fmt: skip
    assert "it executed or may have" in refusal
    assert agent.status(late.request_id).answer == "allow"
    assert agent.record(late.request_id, escalate)["disposition"] == "executed"
    assert rows(gate, by_cli.request_id)[-1] == ("cancelled", "support operations lead")
    assert rows(gate, late.request_id)[1] == ("approved", "gate")


def test_no_resume_after_a_decision(served):
    home, gate, url = served
    agent = client(url)
    denied, cancelled = agent.request("send_reply", REPLY), agent.request("send_reply", REPLY)
    assert (
        cli(
            home,
            "approvals",
            "deny",
            denied.request_id,
            "--reason",
            "tone",
            "--actor",
            SUPERVISORS[1],
        )  # fmt: skip
        == 0
    )
    agent.cancel(cancelled.request_id, "assistant operator carla", "customer called")
    for answer in (denied, cancelled):
        with pytest.raises(GateRefused, match="cannot be resumed"):
            agent.approve(answer.request_id, SUPERVISORS[0], answer.digest)
    refusal = cli_refusal(home, "approvals", "deny", denied.request_id, "--reason", "again",
                          "--actor", SUPERVISORS[0])  # fmt: skip
    assert "denied by shift supervisor ben" in refusal
    with pytest.raises(UnknownRequest):
        agent.status("0" * 32)


def at_once(fn, actors) -> list:
    """Run fn(actor) for every actor in its own thread, released together; their results."""
    barrier = threading.Barrier(len(actors))
    results: list = []

    def run(actor):
        barrier.wait()
        results.append(fn(actor))

    threads = [threading.Thread(target=run, args=(a,)) for a in actors]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_two_approvers_at_once_leave_one_decision(served):
    _, gate, url = served
    agent = client(url)
    for _ in range(20):
        answer = agent.request("send_reply", REPLY)
        path = f"/v1/requests/{answer.request_id}/approve"
        statuses = at_once(
            lambda actor, path=path, digest=answer.digest: post(
                url, path, {"actor": actor, "digest": digest}
            )[0],
            SUPERVISORS,
        )
        assert sorted(statuses) == [200, 409]
        assert [d for d, _ in rows(gate, answer.request_id)] == ["pending", "approved"]
    assert gate.log.verify() == []


def test_list_shows_what_a_person_decides_on(served, capsys):
    home, _, url = served
    answer = client(url).request("issue_goodwill_credit", {"customer": "C-9", "amount": 80})
    capsys.readouterr()
    assert cli(home, "approvals", "list") == 0
    out = capsys.readouterr().out
    for expected in (
        answer.request_id,
        "issue_goodwill_credit  difficult/required  PENDING",
        "requested by assistant operator carla",
        f"digest {answer.digest}",
        '"amount": 80',
        "may approve: shift supervisor ana, shift supervisor ben, support operations lead",
    ):
        assert expected in out


def test_audit_verify_names_an_edited_row(served, capsys):
    home, gate, url = served
    agent = client(url)
    answer = agent.request("send_reply", REPLY)
    agent.approve(answer.request_id, SUPERVISORS[0], answer.digest)
    agent.record(answer.request_id, REPLY, output={"message_id": "M-1"})
    capsys.readouterr()
    assert cli(home, "audit", "verify") == 0
    assert "audit log intact: 3 rows, head seq 3 hash" in capsys.readouterr().out
    db = Path(home.workflow_root(WF.name)) / "audit.sqlite"
    with sqlite3.connect(db) as conn:  # what someone with database access could do
        conn.execute("DROP TRIGGER agent_audit_no_update")
        conn.execute("UPDATE agent_audit SET actor = 'shift supervisor ben' WHERE seq = 2")
    assert cli(home, "audit", "verify") == 1
    out = capsys.readouterr().out
    assert "EDITED (seq 2)" in out and "NOT intact" in out


def test_act_runs_the_tool_only_on_allow(tmp_path):
    classes = ActionClasses.of(
        [
            ActionClass("lookup", Reversibility.REVERSIBLE, owner="ops", approval="none"),
            ActionClass("send", Reversibility.IRREVERSIBLE, owner="ops", approvers=("ana",)),
        ]
    )
    log = AuditLog(f"sqlite:///{tmp_path / 'audit.sqlite'}")
    gate = ActionGate(log, "toy", classes, (), lambda: datetime.now(UTC))
    calls: list[dict] = []

    def crm(arguments):
        calls.append(arguments)
        if arguments.get("fail"):
            raise ConnectionError("CRM answered 503")
        return {"ok": True}

    with running_server(gate) as url:
        agent = ActionClient(url, "agent", "v1", "carla")
        answer, output = agent.act("lookup", {"id": 1}, {"score": 0.5}, execute=crm)
        assert (answer.answer, output) == ("allow", {"ok": True})
        with pytest.raises(ConnectionError, match="503"):
            agent.act("lookup", {"id": 2, "fail": True}, None, execute=crm)
        denied, output = agent.act("wipe", {"id": 3}, None, execute=crm)
        assert (denied.answer, output) == ("deny", None)
        waited, output = agent.act("send", {"id": 4}, None, execute=crm, wait_s=0.3, poll_s=0.1)
        assert (waited.answer, output) == ("pending", None)
        assert calls == [{"id": 1}, {"id": 2, "fail": True}]
    executed = [r for r in log.rows() if r.disposition == "executed"]
    assert [(r.output, r.error) for r in executed] == [
        ({"ok": True}, None),
        (None, "ConnectionError: CRM answered 503"),
    ]
    log.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_actions_serve_command(served):
    home, _, _ = served
    port = _free_port()
    cmd = [sys.executable, "-m", "orchestration.cli", "actions", "serve", "--port", str(port),
           "--home", str(home.root), "--workflow", WF.name]  # fmt: skip
    proc = subprocess.Popen(cmd, env=os.environ.copy(), stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                assert get(f"http://127.0.0.1:{port}", "/v1/health")[1]["workflow"] == WF.name
                break
            except urllib.error.URLError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(proc.stderr.read().decode()) from None
                time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(20)
