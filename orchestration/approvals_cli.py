"""`afterlaunch approvals list|approve|deny|cancel`, `afterlaunch actions serve` and
`afterlaunch audit verify`: the people's side of the approval gate, on the home's audit log.

Identity is `resources.approvals.acting_person` (`--actor`, else `$AFTERLAUNCH_ACTOR`, else the
OS user); nothing is authenticated. A refusal exits non-zero with the gate's sentence.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the gate pulls in SQLAlchemy and the policy Dagster: imported where used
    from resources.action_gate import ActionGate, GateAnswer

AUDIT_URL_ENV = "AFTERLAUNCH_AUDIT_URL"
DEFAULT_PORT = 8787


def gate_for(home, wf) -> ActionGate:
    """The gate of `wf` in `home`: the home's audit log (or $AFTERLAUNCH_AUDIT_URL), the
    workflow's declared actions, its policy's approvers and the clock resource's now."""
    from orchestration.definitions import policy_resource
    from resources.action_gate import ActionGate
    from resources.audit_log import AuditLog, audit_url
    from resources.clock import ClockResource

    url = audit_url(home.root, wf.name, os.environ.get(AUDIT_URL_ENV, ""))
    approvers = policy_resource(wf, str(home.root)).load().approvers.actions
    return ActionGate(AuditLog(url), wf.name, wf.actions, approvers, ClockResource().now)


def _gate(args: argparse.Namespace) -> ActionGate:
    from orchestration.cli import _activate

    home, wf = _activate(args)
    try:
        return gate_for(home, wf)
    except ValueError as err:  # a gate that refuses to start says why
        raise SystemExit(str(err)) from err


def _actor(args: argparse.Namespace) -> str:
    from resources.approvals import acting_person

    return acting_person(args.actor)


def describe(answer: GateAnswer) -> list[str]:
    """The lines `approvals list` prints for one request."""
    who = answer.requested_by or "(decided by the gate at once)"
    head = (
        f"{answer.request_id}  {answer.tool}  {answer.action_class}/{answer.rule}  "
        f"{answer.state.upper()}"
    )
    lines = [
        head,
        f"    requested by {who} at {answer.requested_at}"
        + (f"; deadline {answer.deadline}" if answer.deadline else ""),
        f"    arguments {json.dumps(answer.arguments, sort_keys=True)}",
        f"    digest {answer.digest}",
        f"    may approve: {', '.join(answer.approvers) or 'nobody (no approval rule)'}",
    ]
    if answer.state != "pending":
        lines.append(f"    {answer.state} by {answer.decided_by}: {answer.reason}")
    return lines


def cmd_list(args: argparse.Namespace) -> int:
    gate = _gate(args)
    answers = gate.all_requests() if args.all else gate.open_requests()
    if args.json:
        print(json.dumps([a.to_json() for a in answers], indent=2))
        return 0
    if not answers:
        print("no open requests" if not args.all else "no requests")
        return 0
    for answer in answers:
        print("\n".join(describe(answer)))
    return 0


def _decide(args: argparse.Namespace, verb: str) -> int:
    from resources.action_gate import GateRefused

    gate = _gate(args)
    actor = _actor(args)
    try:
        if verb == "approve":
            digest = args.digest or gate.status(args.id).digest
            answer = gate.approve(args.id, actor, digest, args.reason or "")
        elif verb == "deny":
            answer = gate.deny(args.id, actor, args.reason)
        else:
            answer = gate.cancel(args.id, actor, args.reason)
    except GateRefused as err:
        raise SystemExit(f"refused: {err}") from err
    print(f"{answer.request_id} {answer.tool}: {answer.state} by {actor} ({answer.answer})")
    return 0


def cmd_approve(args: argparse.Namespace) -> int:
    return _decide(args, "approve")


def cmd_deny(args: argparse.Namespace) -> int:
    return _decide(args, "deny")


def cmd_cancel(args: argparse.Namespace) -> int:
    return _decide(args, "cancel")


def cmd_serve(args: argparse.Namespace) -> int:
    from orchestration.action_api import serve

    serve(_gate(args), args.host, args.port)
    return 0


def parse_anchor(text: str) -> tuple[int, str]:
    seq, sep, digest = text.partition(":")
    if not sep or not seq.isdigit() or not digest:
        raise argparse.ArgumentTypeError(f"an anchor is SEQ:HASH, not {text!r}")
    return int(seq), digest


def recorded_heads(wf) -> list[tuple[int, str]]:
    """(seq, hash) of the audit chain's head as each agent_actions materialization recorded it
    in the Dagster instance (none before the first production day)."""
    from dagster import DagsterInstance

    from assets.names import AGENT_ACTIONS

    if not wf.actions:
        return []
    found = DagsterInstance.get().fetch_materializations(wf.key(AGENT_ACTIONS), limit=10_000)
    heads = set()
    for record in found.records:
        meta = record.asset_materialization.metadata if record.asset_materialization else {}
        if "audit.head_seq" in meta and meta["audit.head_seq"].value:
            heads.add((int(meta["audit.head_seq"].value), str(meta["audit.head_hash"].value)))
    return sorted(heads)


def cmd_verify(args: argparse.Namespace) -> int:
    from orchestration.cli import _activate
    from resources.audit_log import AuditLog, AuditLogError, audit_url
    from resources.masking import mask

    home, wf = _activate(args)
    url = audit_url(home.root, wf.name, os.environ.get(AUDIT_URL_ENV, ""))
    # Every head the agent_actions asset recorded: a chain cut back behind one is found.
    anchors = [*(args.anchor or ()), *recorded_heads(wf)]
    try:
        audit = AuditLog(url)
        findings = audit.verify(anchors=anchors)
        rows = len(audit.rows())
        seq, head = audit.head()
    except AuditLogError as err:
        raise SystemExit(mask(f"audit log of {wf.name} unreadable: {err}", url)) from err
    if findings:
        for finding in findings:
            print(f"{finding.kind.upper()} (seq {finding.seq}): {finding.detail}")
        print(f"audit log of {wf.name} NOT intact: {len(findings)} finding(s)")
        return 1
    print(
        f"audit log intact: {rows} rows, head seq {seq} hash {head[:16]}... "
        f"({len(anchors)} recorded head(s) checked)"
    )
    return 0


def add_parsers(sub, with_home) -> None:
    """`approvals`, `actions` and `audit` (called from cli.build_parser)."""
    p = sub.add_parser("approvals", help="the agent's requests awaiting a person; decide them")
    verbs = p.add_subparsers(dest="approvals_command", required=True)

    def with_actor(q: argparse.ArgumentParser) -> argparse.ArgumentParser:
        q.add_argument("id", help="the request id (as listed)")
        q.add_argument("--actor", help="who decides (default: $AFTERLAUNCH_ACTOR or your user)")
        return q

    q = with_home(verbs.add_parser("list", help="open requests (id, tool, class, deadline...)"))
    q.add_argument("--all", action="store_true", help="every request's latest state")
    q.add_argument("--json", action="store_true", help="machine-readable")
    q.set_defaults(func=cmd_list)
    q = with_actor(with_home(verbs.add_parser("approve", help="say yes to a pending request")))
    q.add_argument(
        "--digest",
        help="the arguments' digest you approve (default: the request's own as listed)",
    )
    q.add_argument("--reason", default="", help="why (recorded)")
    q.set_defaults(func=cmd_approve)
    q = with_actor(with_home(verbs.add_parser("deny", help="say no to a pending request")))
    q.add_argument("--reason", required=True, help="why (recorded)")
    q.set_defaults(func=cmd_deny)
    q = with_actor(
        with_home(verbs.add_parser("cancel", help="stop a pending request (within its window)"))
    )
    q.add_argument("--reason", required=True, help="why (recorded)")
    q.set_defaults(func=cmd_cancel)

    p = sub.add_parser("actions", help="the approval gate's HTTP API for agent runtimes")
    verbs = p.add_subparsers(dest="actions_command", required=True)
    q = with_home(verbs.add_parser("serve", help="serve the API (not authenticated)"))
    q.add_argument("--host", default="127.0.0.1")
    q.add_argument("--port", type=int, default=DEFAULT_PORT)
    q.set_defaults(func=cmd_serve)

    p = sub.add_parser("audit", help="the agent audit log")
    verbs = p.add_subparsers(dest="audit_command", required=True)
    q = with_home(verbs.add_parser("verify", help="check the hash chain; name any tampered row"))
    q.add_argument(
        "--anchor",
        action="append",
        type=parse_anchor,
        metavar="SEQ:HASH",
        help="a head recorded elsewhere (e.g. the agent_actions asset's metadata); repeat",
    )
    q.set_defaults(func=cmd_verify)
