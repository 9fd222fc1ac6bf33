"""Alert routing: which failed check goes to whom, how fast, and what the message says.

Plain functions over check evaluations and the policy; the alert sensor only wires them to the
outbox and the webhook.
"""

from __future__ import annotations

from collections import defaultdict

from assets.check_history import Evaluation
from assets.workflow import Workflow
from checks.policy import AlertRules
from resources.alerts import Alert
from resources.masking import mask

ROLES = ("data_engineer", "model_owner", "domain_owner")


def route(evaluation: Evaluation, rules: AlertRules, wf: Workflow) -> tuple[str, str]:
    """(owner, delivery) for a failed evaluation of one of `wf`'s checks; delivery is
    immediate, digest or log. A route's owner may name a role of the workflow's owners."""
    asset = evaluation.asset.removeprefix(f"{wf.name}/")
    chosen = rules.route_for(asset)
    delivery = chosen.errors if evaluation.level == "error" else chosen.warnings
    owner = getattr(wf.owners, chosen.owner) if chosen.owner in ROLES else chosen.owner
    return owner, delivery


def alert_key(evaluation: Evaluation) -> str:
    return f"{evaluation.asset}.{evaluation.check}:{evaluation.partition or '-'}:{evaluation.id}"


def alert_payload(evaluation: Evaluation, context: dict) -> dict:
    """What an alert says: the evaluation, and its context (`orchestration.alert_context`): the
    check's URL, how big the change is, how many partitions in a row, what the system did. A
    check's description may quote a URL (a source's), so every text is masked before it
    reaches the outbox or a chat channel."""
    url = context.get("url")
    return {
        "asset": evaluation.asset,
        "check": evaluation.check,
        "partition": evaluation.partition,
        "severity": evaluation.severity,
        "description": mask(evaluation.description),
        "run_id": evaluation.run_id,
        "url": mask(url) if url else None,
        "change": mask(context["change"]),
        "in_a_row": None if context["in_a_row"] is None else int(context["in_a_row"]),
        "action": mask(context["action"]),
    }


def _line(payload: dict) -> str:
    where = f" [{payload['partition']}]" if payload.get("partition") else ""
    return f"*{payload['severity']}* `{payload['asset']}.{payload['check']}`{where}: " + (
        payload["description"] or "no description"
    )


def _details(payload: dict) -> list[str]:
    """Change, streak, action and link; an alert queued before they existed has none."""
    lines = []
    if payload.get("change"):
        lines.append(f"*Change:* {payload['change']}")
    if payload.get("in_a_row"):
        unit = "partitions" if payload.get("partition") else "evaluations"
        lines.append(f"*In a row:* {payload['in_a_row']} failing {unit}")
    if payload.get("action"):
        lines.append(f"*Action:* {payload['action']}")
    if payload.get("url"):
        lines.append(f"<{payload['url']}|Open the check in Dagster>")
    return lines


def immediate_message(alert: Alert) -> dict:
    """Slack-compatible: `text` for notifications and clients without blocks, `blocks` to read."""
    head = f"Afterlaunch alert for {alert.owner}: " + _line(alert.payload)
    details = _details(alert.payload)
    return {
        "text": "\n".join([head, *details]),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": head}},
            *(
                [{"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(details)}}]
                if details
                else []
            ),
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": f"run {alert.payload['run_id']} · {alert.key}"}
                ],
            },
        ],
    }


def digest_messages(alerts: list[Alert]) -> list[tuple[list[Alert], dict]]:
    """One message per owner with every alert they have waiting."""
    by_owner: dict[str, list[Alert]] = defaultdict(list)
    for alert in alerts:
        by_owner[alert.owner].append(alert)
    out = []
    for owner, group in sorted(by_owner.items()):
        header = f"Afterlaunch daily digest for {owner}: {len(group)} failed check(s)"
        lines = "\n".join(
            "\n".join([f"• {_line(a.payload)}", *(f"    {d}" for d in _details(a.payload))])
            for a in group
        )
        out.append(
            (
                group,
                {
                    "text": f"{header}\n{lines}",
                    "blocks": [
                        {"type": "header", "text": {"type": "plain_text", "text": header}},
                        {"type": "section", "text": {"type": "mrkdwn", "text": lines}},
                    ],
                },
            )
        )
    return out


def due(alert: Alert, today: str) -> bool:
    """Immediate alerts are due at once; a digest collects a day's alerts and goes out on the
    first tick of a later day."""
    return alert.delivery == "immediate" or alert.created_at[:10] < today
