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


def alert_payload(evaluation: Evaluation) -> dict:
    """What an alert says; a check's description may quote a URL (a source's), so it is masked
    before it reaches the outbox or a chat channel."""
    return {
        "asset": evaluation.asset,
        "check": evaluation.check,
        "partition": evaluation.partition,
        "severity": evaluation.severity,
        "description": mask(evaluation.description),
        "run_id": evaluation.run_id,
    }


def _line(payload: dict) -> str:
    where = f" [{payload['partition']}]" if payload.get("partition") else ""
    return f"*{payload['severity']}* `{payload['asset']}.{payload['check']}`{where}: " + (
        payload["description"] or "no description"
    )


def immediate_message(alert: Alert) -> dict:
    """Slack-compatible: `text` for notifications and clients without blocks, `blocks` to read."""
    text = f"Afterlaunch alert for {alert.owner}: " + _line(alert.payload)
    return {
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
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
        lines = "\n".join(f"• {_line(a.payload)}" for a in group)
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
