"""agent_actions: what the workflow's agent did in one partition, for the workflow's owner.

Read from the audit log (the system of record, resources/audit_log.py), never from the MLflow
mirror: per action type the volume, success rate, error patterns, approval latency, denials and
cancels, and the agent checks of checks/agent_actions.py. The chain is verified every partition
and its head recorded here, so a row deleted from the end later is still found
(`afterlaunch audit verify` reads these anchors). The partition's rows are then mirrored into
MLflow traces, where people search them; a mirror failure is reported, never the record's.

Built only for a workflow that declares actions.
"""

import json
from datetime import timedelta

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    Output,
    asset,
    asset_check,
)

from assets.metadata import table
from assets.names import AGENT_ACTIONS
from assets.partitions import utc
from assets.workflow import Workflow
from checks import agent_actions as judge
from resources.audit_log import AuditLogResource
from resources.policy import PolicyResource
from resources.registry import ModelRegistry
from resources.storage import HomeStorage

ENTITY_KEY = "entity_id"  # where the decision context names the entity (the gate's callers)
TRACE_EXPERIMENT = "afterlaunch-{workflow}-agent-actions"


def rows_frame(rows) -> pd.DataFrame:
    """Audit rows as the agent checks read them (times parsed, JSON fields as values)."""
    records = []
    for r in rows:
        item = {c: getattr(r, c) for c in judge.AUDIT_COLUMNS if hasattr(r, c)}
        context = item.get("context")
        item["context"] = json.loads(context) if isinstance(context, str) else (context or {})
        records.append(item)
    if not records:
        return judge.empty_rows()
    frame = pd.DataFrame.from_records(records)
    frame["at"] = pd.to_datetime(frame["at"], utc=True, format="ISO8601")
    return frame


def _records(frame: pd.DataFrame) -> list[dict]:
    """A frame as JSON-safe records (times as ISO text)."""
    out = frame.copy()
    for column in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[column]):
            out[column] = out[column].map(lambda t: None if pd.isna(t) else t.isoformat())
    return json.loads(out.to_json(orient="records", date_format="iso"))


def build(wf: Workflow) -> tuple[list, list]:
    if not wf.actions:
        return [], []
    parts = wf.partitions
    key = wf.key(AGENT_ACTIONS)

    @asset(
        name=AGENT_ACTIONS,
        key_prefix=[wf.name],
        partitions_def=parts.definition,
        group_name="agents",
        kinds={"pandas", "mlflow"},
        owners=[wf.team("domain_owner")],
    )
    def agent_actions(
        context: AssetExecutionContext,
        audit: AuditLogResource,
        policy: PolicyResource,
        registry: ModelRegistry,
        storage: HomeStorage,
    ) -> Output[dict]:
        """Per action type: requests, executions, success rate, error patterns, approval
        latency, denials and cancels; the unapproved irreversible actions, failing tools,
        bursts and refusal rates the checks judge; the audit chain's verdict and head."""
        rules = policy.load().agent_actions
        partition = context.partition_key
        start, end = utc(parts.start_of(partition)), utc(parts.end_of(partition))
        log = audit.log()
        trailing_from = start - timedelta(days=rules.trailing_days)
        # Today's requests whole (a request asked for yesterday and executed today keeps its
        # approval), and the trailing days' for the refusal rates.
        todays_rows = log.rows(since=start.isoformat(), until=end.isoformat())
        ids = list(dict.fromkeys(r.request_id for r in todays_rows))
        today = judge.requests_table(
            rows_frame([row for rid in ids for row in log.request_rows(rid)]),
            entity_key=ENTITY_KEY,
        )
        earlier = rows_frame(log.rows(since=trailing_from.isoformat(), until=start.isoformat()))
        trailing = judge.requests_table(earlier, entity_key=ENTITY_KEY)
        view = judge.action_view(today)
        unapproved = judge.unapproved_irreversible(today)
        errors = judge.tool_error_rates(today, rules)
        bursts = judge.bursts(today, rules)
        refusals = judge.refusal_rates(today, trailing, rules)
        # Yesterday's recorded head: a chain cut back behind it is found today.
        previous = parts.shift(partition, -1)
        earlier = (
            storage.snapshots.read(AGENT_ACTIONS, previous)
            if previous in storage.snapshots.partitions(AGENT_ACTIONS)
            else None
        )
        anchors = [(earlier["head"]["seq"], earlier["head"]["hash"])] if earlier else []
        findings = log.verify(anchors=[a for a in anchors if a[0] > 0])
        head_seq, head_hash = log.head()
        mirrored, mirror_error = 0, None
        try:
            mirrored = _mirror(todays_rows, registry, wf.name)
        except Exception as exc:  # the mirror is never the record: say so, keep judging
            mirror_error = f"{type(exc).__name__}: {exc}"
            context.log.error("audit rows of %s not mirrored to MLflow: %s", partition, exc)
        log.close()
        context.log.info(
            "%s: %d requests of %d tools; chain %s at seq %d",
            partition,
            len(today),
            today["tool"].nunique() if len(today) else 0,
            "intact" if not findings else f"BROKEN ({len(findings)} findings)",
            head_seq,
        )
        value = {
            "partition": partition,
            "view": _records(view),
            "unapproved": _records(unapproved),
            "tool_errors": _records(errors),
            "bursts": _records(bursts),
            "refusals": _records(refusals),
            "chain": [f.__dict__ for f in findings],
            "head": {"seq": head_seq, "hash": head_hash},
        }
        return Output(
            value,
            metadata={
                "dagster/row_count": len(today),
                "agent_actions": table(value["view"]) if value["view"] else "no requests",
                "audit.head_seq": head_seq,
                "audit.head_hash": head_hash,
                "audit.chain": "intact" if not findings else f"{len(findings)} findings",
                "mlflow_traces": mirrored if mirror_error is None else f"failed: {mirror_error}",
            },
        )

    def judged(name, severity, doc, hits, good, bad, shown):
        """One check of the day's value: `hits(value)` lists what fails it, `shown` names the
        value's table its metadata carries."""

        @asset_check(asset=key, name=name, partitions_def=parts.definition, description=doc)
        def check(agent_actions: dict) -> AssetCheckResult:
            found = hits(agent_actions)
            rows = agent_actions[shown]
            return AssetCheckResult(
                passed=not found,
                severity=severity,
                description=bad(found) if found else good(agent_actions),
                metadata={shown: table(rows) if rows else "none"},
            )

        return check

    ERROR, WARN = AssetCheckSeverity.ERROR, AssetCheckSeverity.WARN
    checks = [
        judged(
            "irreversible_approved",
            ERROR,
            "ERROR when an irreversible action was executed with no person's approval on "
            "record (the workflow's owner hears at once).",
            lambda v: v["unapproved"],
            lambda v: "every irreversible action executed had a person's approval on record",
            judge.describe_unapproved,
            "unapproved",
        ),
        judged(
            "tool_error_rate",
            ERROR,
            "ERROR when a tool's executions failed more often than the policy allows.",
            lambda v: [r for r in v["tool_errors"] if r.get("failing")],
            lambda v: "no tool failed more often than the policy allows",
            judge.describe_errors,
            "tool_errors",
        ),
        judged(
            "action_burst",
            ERROR,
            "ERROR when one action type was requested for one entity more often within an "
            "hour than the policy allows: an agent in a loop.",
            lambda v: v["bursts"],
            lambda v: "no action repeated on one entity beyond the policy's hourly limit",
            judge.describe_bursts,
            "bursts",
        ),
        judged(
            "refusal_rate",
            WARN,
            "WARN when people denied, cancelled or let expire a rising share of requests.",
            lambda v: [r for r in v["refusals"] if r.get("rising")],
            lambda v: "refusal shares within the policy",
            judge.describe_refusals,
            "refusals",
        ),
        judged(
            "audit_chain_intact",
            ERROR,
            "ERROR when the audit log's hash chain is broken: a row edited, deleted or moved.",
            lambda v: v["chain"],
            lambda v: f"audit chain intact through seq {v['head']['seq']}",
            lambda found: "; ".join(f["detail"] for f in found[:5]),
            "chain",
        ),
    ]
    return [agent_actions], checks


def _mirror(rows, registry: ModelRegistry, workflow: str) -> int:
    from resources.trace_mirror import mirror_rows

    if not rows:
        return 0
    return mirror_rows(
        rows,
        registry.tracking_uri,
        TRACE_EXPERIMENT.format(workflow=workflow),
        artifact_location=registry.artifact_location,
    )
