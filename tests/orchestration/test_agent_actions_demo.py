"""The support assistant in the shortened loop demo: its tool calls through the approval gate,
the audit log they leave (verified, and broken by an edit), the agent view and its alerts."""

import sqlite3

import pytest
from dagster import DagsterInstance
from mlflow import MlflowClient

from assets.agent_actions import TRACE_EXPERIMENT
from orchestration.cli import main
from resources.audit_log import AuditLog, audit_url
from resources.snapshots import SnapshotStore, snapshot_root
from tests.support.demo_home import copied_home
from workflows.ticket_escalation.simulation.assistant import REQUESTED_BY, SUPERVISORS
from workflows.ticket_escalation.workflow import WORKFLOW as WF


@pytest.fixture(scope="module")
def log(loop_demo):
    return AuditLog(audit_url(loop_demo.home.root, WF.name))


def _verify(home) -> int:
    return main(["audit", "verify", "--home", str(home.root), "--workflow", WF.name])


def test_the_demo_audit_log_verifies(loop_demo, log, capsys):
    assert _verify(loop_demo.home) == 0
    out = capsys.readouterr().out
    assert f"{len(log.rows())} rows" in out and "intact" in out


def test_an_edited_row_is_named_by_verify(loop_demo, tmp_path, capsys):
    home = copied_home(loop_demo, tmp_path, WF)
    path = audit_url(home.root, WF.name).removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:  # what anyone with the file could do
        [(seq,)] = conn.execute(
            "SELECT seq FROM agent_audit WHERE tool = 'issue_goodwill_credit' "
            "AND disposition = 'executed' ORDER BY seq LIMIT 1"
        ).fetchall()
        for (trigger,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'"):
            conn.execute(f"DROP TRIGGER {trigger}")
        conn.execute(
            "UPDATE agent_audit SET input = replace(input, '\"amount\":', '\"amount\":9') "
            "WHERE seq = ?",
            (seq,),
        )
    capsys.readouterr()
    assert _verify(home) == 1
    out = capsys.readouterr().out
    assert f"EDITED (seq {seq})" in out and "NOT intact" in out


def test_every_sent_reply_but_the_incident_had_a_supervisor_s_yes(log):
    rows = log.rows()
    by_request: dict[str, list] = {}
    for row in rows:
        by_request.setdefault(row.request_id, []).append(row)
    sent = [
        r
        for r in by_request.values()
        if r[-1].tool == "send_reply" and r[-1].disposition == "executed"
    ]
    unapproved = [
        r
        for r in sent
        if not any(x.disposition == "approved" and x.actor in SUPERVISORS for x in r)
    ]
    # The incident of day 25: one reply sent by a runtime that skipped the gate.
    assert len(unapproved) == 1 and len(unapproved[0]) == 1
    assert unapproved[0][0].at.startswith("2026-01-25")
    assert len(sent) > 50
    # Nobody approved their own request; the gate alone expired the unanswered ones.
    assert not any(
        x.actor == REQUESTED_BY for r in rows for x in [r] if x.disposition == "approved"
    )
    expired = [r for r in rows if r.disposition == "expired"]
    assert expired and {r.actor for r in expired} == {"gate"}


def test_the_agent_checks_fire_on_their_days_and_the_owner_hears_at_once(loop_demo):
    events = loop_demo.document["events"]
    failed = {
        (e["date"], e["check"])
        for e in events
        if e["kind"] == "check_failed"
        and e["asset"].endswith("agent_actions")
        and e["level"] == "error"
    }
    assert failed >= {
        ("2026-01-21", "action_burst"),
        ("2026-01-23", "tool_error_rate"),
        ("2026-01-25", "irreversible_approved"),
    }
    # No other day's agent check errs (the supervisors' ordinary days are quiet).
    assert {d for d, _ in failed} == {"2026-01-21", "2026-01-23", "2026-01-25"}
    alerts = [
        e
        for e in events
        if e["kind"] == "alert_sent" and e["check"].endswith("irreversible_approved")
    ]
    assert alerts and alerts[0]["owner"] == WF.owners.domain_owner
    assert alerts[0]["delivery"] == "immediate"


def test_the_agent_view_is_in_the_readiness_report_and_traces_in_mlflow(loop_demo, log):
    store = SnapshotStore(snapshot_root(loop_demo.home.root, WF.name))
    report = store.read("readiness_report", "2026-01-23")
    view = {r["tool"]: r for r in report["agent_actions"]}
    assert set(view) == set(WF.actions.tools)
    acted = store.read("agent_actions", "2026-01-23")
    assert acted["view"] == report["agent_actions"]
    # The chain head is recorded as Dagster metadata every day (verify's anchors).
    instance = DagsterInstance.get()
    [record] = instance.fetch_materializations(WF.key("agent_actions"), limit=1).records
    meta = record.asset_materialization.metadata
    assert meta["audit.head_seq"].value > 0
    # The mirror: people search the requests in MLflow's trace view, by request id.
    client = MlflowClient(tracking_uri=loop_demo.home.mlflow_uri)
    experiment = client.get_experiment_by_name(TRACE_EXPERIMENT.format(workflow=WF.name))
    some = next(r for r in log.rows() if r.tool == "send_reply")
    traces = client.search_traces(
        locations=[experiment.experiment_id],
        filter_string=f"tags.`afterlaunch.request_id` = '{some.request_id}'",
    )
    assert len(traces) >= 1
    spans = [s for t in traces for s in t.data.spans]
    assert {s.attributes.get("gen_ai.tool.name") for s in spans} >= {"send_reply"}
