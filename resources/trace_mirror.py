"""Mirror audit rows into MLflow traces, so people can search agent actions in the MLflow UI.

The mirror is never the record: MLflow's tracing store is mutable (tags overwrite, traces can
be deleted). The audit log (resources/audit_log.py) is the record; a trace carries each row's
seq and hash so that anyone can check it against the log.

One trace per request (the rows sharing a request id, in seq order): a root span of type AGENT
named `<agent_id> <tool>` and one TOOL span per audit row named after its disposition, with the
OpenTelemetry GenAI semantic-convention attribute names where they apply. A TOOL span starts at
its row's time and ends at the next row's (the pending span lasts as long as the approval took).

Idempotent: each trace is tagged with its request id and the seqs it holds; rows already
mirrored are skipped. Rows of a request that arrive after its first mirror (the approval of a
pending request, its execution) go into a new trace of that request holding only the new rows.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import mlflow
from mlflow import MlflowClient
from mlflow.entities import SpanStatus, SpanType

from resources.audit_log import AuditRow
from resources.masking import mask

# The one place the project scopes MLflow's process-global state, under its lock.
from resources.registry import _fluent_uris, _scoped_env

log = logging.getLogger(__name__)

REQUEST_TAG = "afterlaunch.request_id"
FIRST_SEQ_TAG = "afterlaunch.audit.first_seq"
LAST_SEQ_TAG = "afterlaunch.audit.last_seq"
BATCH_TAG = "afterlaunch.mirror_batch"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Export each trace as it ends (not on a background thread), so a failure is seen here.
_SYNC_EXPORT = {"MLFLOW_ENABLE_ASYNC_TRACE_LOGGING": "false"}


class TraceMirrorError(RuntimeError):
    """Audit rows could not be mirrored into MLflow traces (the audit log is unaffected)."""


def mirror_rows(
    rows: list[AuditRow],
    tracking_uri: str,
    experiment_name: str,
    *,
    artifact_location: str | None = None,
) -> int:
    """Write one MLflow trace per request of `rows` not mirrored yet; return how many.

    `artifact_location` is used only when the experiment does not exist yet (MLflow would
    otherwise put it under the working directory)."""
    by_request: dict[str, list[AuditRow]] = {}
    for row in sorted(rows, key=lambda r: r.seq):
        by_request.setdefault(row.request_id, []).append(row)
    if not by_request:
        return 0
    where = mask(tracking_uri, tracking_uri)
    batch = uuid.uuid4().hex
    try:
        with _scoped_env(_SYNC_EXPORT), _fluent_uris(tracking_uri, tracking_uri):
            mlflow.tracing.reset()  # rebuild the exporter: synchronous, to this store
            try:
                client = MlflowClient(tracking_uri=tracking_uri)
                experiment_id = _experiment(client, experiment_name, artifact_location)
                written = 0
                for request_id, request_rows in by_request.items():
                    mirrored = _last_mirrored_seq(client, experiment_id, request_id)
                    new = [r for r in request_rows if r.seq > mirrored]
                    if new:
                        _write_trace(client, experiment_id, new, batch)
                        written += 1
                stored = _count_batch(client, experiment_id, batch) if written else 0
            finally:
                mlflow.tracing.reset()  # the next user builds its own exporter
    except TraceMirrorError:
        raise
    except Exception as exc:
        # Not chained: MLflow's message may quote the store URI with its password.
        raise TraceMirrorError(
            f"cannot mirror audit rows into MLflow traces at {where} (experiment "
            f"{experiment_name}): " + mask(f"{type(exc).__name__}: {exc}", tracking_uri)
        ) from None
    if stored != written:
        raise TraceMirrorError(
            f"mirrored {written} audit requests into MLflow traces at {where} but the store "
            f"holds {stored} of them: MLflow dropped a trace on export (see its log)"
        )
    log.info("mirrored %d audit requests into MLflow traces at %s", written, where)
    return written


def _experiment(client: MlflowClient, name: str, artifact_location: str | None) -> str:
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    return client.create_experiment(name, artifact_location=artifact_location)


def _last_mirrored_seq(client: MlflowClient, experiment_id: str, request_id: str) -> int:
    """The highest seq of `request_id` already in a complete trace (0 if none)."""
    traces = _search(client, experiment_id, f"tags.`{REQUEST_TAG}` = {_quoted(request_id)}")
    seqs = [int(t.info.tags[LAST_SEQ_TAG]) for t in traces if LAST_SEQ_TAG in t.info.tags]
    return max(seqs, default=0)


def _count_batch(client: MlflowClient, experiment_id: str, batch: str) -> int:
    return len(_search(client, experiment_id, f"tags.`{BATCH_TAG}` = '{batch}'"))


def _search(client: MlflowClient, experiment_id: str, filter_string: str) -> list:
    found, token = [], None
    while True:
        page = client.search_traces(
            locations=[experiment_id],
            filter_string=filter_string,
            include_spans=False,
            max_results=500,
            page_token=token,
        )
        found += list(page)
        token = page.token
        if not token:
            return found


def _quoted(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _write_trace(
    client: MlflowClient, experiment_id: str, rows: list[AuditRow], batch: str
) -> None:
    first, last = rows[0], rows[-1]
    root = client.start_trace(
        name=f"{first.agent_id} {first.tool}",
        span_type=SpanType.AGENT,
        inputs={"tool": first.tool, "arguments": first.arguments, "context": first.context},
        attributes={
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.id": first.agent_id,
            "gen_ai.agent.name": first.agent_id,
            "gen_ai.agent.version": first.agent_version,
            "gen_ai.tool.name": first.tool,
            "gen_ai.tool.call.id": first.request_id,
            "afterlaunch.workflow": first.workflow,
            "afterlaunch.action_class": first.action_class,
            "afterlaunch.disposition": last.disposition,
        },
        tags={
            REQUEST_TAG: first.request_id,
            "afterlaunch.workflow": first.workflow,
            "afterlaunch.tool": first.tool,
            "afterlaunch.agent_id": first.agent_id,
            "afterlaunch.action_class": first.action_class,
            FIRST_SEQ_TAG: str(first.seq),
            BATCH_TAG: batch,
        },
        experiment_id=experiment_id,
        start_time_ns=_ns(first.at),
    )
    trace_id = root.trace_id
    try:
        ends = [_ns(r.at) for r in rows[1:]] + [_ns(last.at)]
        for row, end in zip(rows, ends, strict=True):
            _write_row_span(client, trace_id, root.span_id, row, end)
        # Written last: a trace cut short by a failure carries no last seq, so it is not
        # taken for a mirror of these rows and the next call writes them again.
        client.set_trace_tag(trace_id, LAST_SEQ_TAG, str(last.seq))
        client.set_trace_tag(trace_id, "afterlaunch.disposition", last.disposition)
    except BaseException:
        client.end_trace(trace_id, status="ERROR", end_time_ns=_ns(last.at))
        raise
    client.end_trace(
        trace_id,
        outputs={"disposition": last.disposition, "output": last.output, "error": last.error},
        status="ERROR" if any(r.error for r in rows) else "OK",
        end_time_ns=_ns(last.at),
    )


def _write_row_span(
    client: MlflowClient, trace_id: str, parent_id: str, row: AuditRow, end_ns: int
) -> None:
    span = client.start_span(
        name=row.disposition,
        trace_id=trace_id,
        parent_id=parent_id,
        span_type=SpanType.TOOL,
        inputs=row.arguments,
        attributes=_row_attributes(row),
        start_time_ns=_ns(row.at),
    )
    status = SpanStatus("ERROR", row.error) if row.error else SpanStatus("OK")
    client.end_span(
        trace_id,
        span.span_id,
        outputs=None if row.output is None and row.error is None else _outputs(row),
        status=status,
        end_time_ns=max(end_ns, _ns(row.at)),
    )


def _row_attributes(row: AuditRow) -> dict[str, Any]:
    attributes = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.agent.id": row.agent_id,
        "gen_ai.agent.name": row.agent_id,
        "gen_ai.agent.version": row.agent_version,
        "gen_ai.tool.name": row.tool,
        "gen_ai.tool.call.id": row.request_id,
        "afterlaunch.audit.seq": row.seq,
        "afterlaunch.audit.hash": row.hash,
        "afterlaunch.audit.digest": row.digest,
        "afterlaunch.disposition": row.disposition,
        "afterlaunch.action_class": row.action_class,
        "afterlaunch.actor": row.actor,
        "afterlaunch.reason": row.reason,
        "afterlaunch.context": json.dumps(row.context, sort_keys=True),
    }
    if row.deadline:
        attributes["afterlaunch.deadline"] = row.deadline
    if row.error:
        attributes["error.type"] = row.error
    return attributes


def _outputs(row: AuditRow) -> dict[str, Any]:
    return {"output": row.output, "error": row.error}


def _ns(at: str) -> int:
    """Nanoseconds since the epoch of an aware ISO time, exactly (no float rounding)."""
    return (datetime.fromisoformat(at) - _EPOCH) // timedelta(microseconds=1) * 1000
