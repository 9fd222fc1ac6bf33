"""The MLflow trace mirror of the audit log, on a real MLflow SQLite store: one trace per
request with AGENT and TOOL spans under GenAI attribute names, searchable, written once."""

from __future__ import annotations

import pytest
from mlflow import MlflowClient

from resources.audit_log import AuditEntry, AuditLog, audit_url
from resources.trace_mirror import REQUEST_TAG, TraceMirrorError, mirror_rows
from tests.resources.test_audit_log import entry

EXPERIMENT = "ticket_escalation-agent-actions"


@pytest.fixture
def store(tmp_path):
    with AuditLog(audit_url(tmp_path / "home", "ticket_escalation")) as log:
        yield log, f"sqlite:///{tmp_path / 'mlflow.db'}", str(tmp_path / "artifacts")


def decide(log: AuditLog, n: int, *dispositions: str, **changes) -> None:
    for minute, disposition in enumerate(dispositions):
        log.append(
            entry(
                n,
                at=f"2026-03-01T1{n}:{minute * 7:02d}:00+00:00",
                disposition=disposition,
                actor="dana" if disposition in ("approved", "denied") else "assistant",
                **changes,
            )
        )


def traces(tracking_uri: str, filter_string: str = "") -> list:
    client = MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    return list(
        client.search_traces(locations=[experiment.experiment_id], filter_string=filter_string)
    )


def test_each_request_becomes_one_searchable_trace_with_its_rows_as_tool_spans(store):
    log, tracking_uri, artifacts = store
    decide(log, 1, "pending", "approved", "executed")
    decide(log, 2, "pending", "denied")
    decide(log, 3, "executed", tool="escalate", action_class="reversible")
    log.append(AuditEntry(**{**entry(4).__dict__, "disposition": "executed", "error": "CRM 503"}))

    assert mirror_rows(log.rows(), tracking_uri, EXPERIMENT, artifact_location=artifacts) == 4

    [trace] = traces(tracking_uri, f"tags.`{REQUEST_TAG}` = 'req-1'")
    spans = {s.name: s for s in trace.data.spans}
    root = spans["assistant send_reply"]
    assert root.span_type == "AGENT" and root.parent_id is None
    assert root.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert root.attributes["gen_ai.agent.id"] == "assistant"
    assert root.attributes["gen_ai.tool.call.id"] == "req-1"
    tools = [s for s in trace.data.spans if s.parent_id == root.span_id]
    assert [s.name for s in tools] == ["pending", "approved", "executed"]
    rows = log.request_rows("req-1")
    for span, row in zip(tools, rows, strict=True):
        assert span.span_type == "TOOL"
        assert span.attributes["gen_ai.operation.name"] == "execute_tool"
        assert span.attributes["gen_ai.tool.name"] == "send_reply"
        assert span.attributes["gen_ai.tool.call.id"] == "req-1"
        assert span.attributes["gen_ai.agent.name"] == "assistant"
        assert span.attributes["afterlaunch.audit.seq"] == row.seq
        assert span.attributes["afterlaunch.audit.hash"] == row.hash
        assert span.attributes["afterlaunch.disposition"] == row.disposition
        assert span.attributes["afterlaunch.action_class"] == "irreversible"
        assert span.attributes["afterlaunch.actor"] == row.actor
        assert span.inputs == row.arguments
    # Span times are the rows' times: the pending span lasts until the approval.
    assert rows[0].at == "2026-03-01T11:00:00.000000+00:00"
    assert tools[0].start_time_ns == 1772362800 * 10**9
    assert tools[0].end_time_ns == tools[1].start_time_ns == tools[0].start_time_ns + 7 * 60e9
    assert trace.info.tags["afterlaunch.audit.last_seq"] == str(rows[-1].seq)

    assert len(traces(tracking_uri, "tags.`afterlaunch.tool` = 'escalate'")) == 1
    assert len(traces(tracking_uri, "span.name = 'denied'")) == 1
    assert len(traces(tracking_uri, "name = 'assistant send_reply'")) == 3
    [failed] = traces(tracking_uri, f"tags.`{REQUEST_TAG}` = 'req-4'")
    assert failed.info.state == "ERROR"
    [failed_span] = [s for s in failed.data.spans if s.name == "executed"]
    assert failed_span.status.status_code == "ERROR"
    assert failed_span.status.description == "CRM 503"


def test_mirroring_again_writes_only_rows_not_mirrored_yet(store):
    log, tracking_uri, artifacts = store
    decide(log, 1, "pending")
    decide(log, 2, "executed")
    assert mirror_rows(log.rows(), tracking_uri, EXPERIMENT, artifact_location=artifacts) == 2
    assert mirror_rows(log.rows(), tracking_uri, EXPERIMENT, artifact_location=artifacts) == 0
    assert len(traces(tracking_uri)) == 2

    log.append(entry(1, at="2026-03-01T11:20:00+00:00", disposition="approved", actor="dana"))
    assert mirror_rows(log.rows(), tracking_uri, EXPERIMENT, artifact_location=artifacts) == 1
    later = traces(tracking_uri, f"tags.`{REQUEST_TAG}` = 'req-1'")
    assert len(later) == 2
    spans_by_trace = sorted([s.name for s in t.data.spans if s.span_type == "TOOL"] for t in later)
    assert spans_by_trace == [["approved"], ["pending"]]
    assert mirror_rows([], tracking_uri, EXPERIMENT) == 0


@pytest.mark.bad_input
def test_a_store_that_cannot_take_traces_is_a_clear_error(store, tmp_path):
    log, _, _ = store
    decide(log, 1, "pending")
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"not a database" * 200)
    with pytest.raises(TraceMirrorError, match="cannot mirror audit rows into MLflow traces"):
        mirror_rows(log.rows(), f"sqlite:///{broken}", EXPERIMENT)
