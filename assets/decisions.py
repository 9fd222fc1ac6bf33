"""What a change of champion may act on: a gate verdict that is still current, an approval that
Afterlaunch recorded itself, and the champion the decision expected to replace.

The `champion` asset asks these before it moves an alias; each refusal is one sentence naming
the condition that failed.
"""

from __future__ import annotations

from datetime import datetime

from dagster import Failure

from assets.evaluation import test_set_identity
from assets.names import EVAL_SET, ROLLOUT
from checks.verdicts import verdict_problem
from resources.approvals import Approval, ApprovalStore, ApprovalStoreError
from resources.registry import ModelRegistry
from resources.snapshots import SnapshotStore

# How a run config or `--expect-champion` says "no champion yet" (a version is a number).
NO_CHAMPION = "none"


def parse_expected(text: str) -> str | None:
    """An expected champion as promote/rollback take it (None: there is no champion)."""
    value = str(text).strip()
    return None if value.lower() == NO_CHAMPION else value


def stale_verdict(
    store: SnapshotStore, evaluation: dict, champion: str | None, now: datetime, max_age_days: int
) -> str | None:
    """Why `evaluation` may not be acted on now (None: it may)."""
    current = test_set_identity(store.read(EVAL_SET, None)) if store.partitions(EVAL_SET) else None
    return verdict_problem(
        evaluation,
        champion=champion,
        test_set=current,
        now=now,
        max_age_days=max_age_days,
        rollouts=rollouts_of(store, evaluation["challenger_version"]),
    )


def rollouts_of(store: SnapshotStore, version: str) -> list[dict]:
    """The last record of each rollout of `version`, oldest rollout first."""
    latest: dict[str, dict] = {}
    for entry in store.versions(ROLLOUT, None):
        record = store.read(ROLLOUT, None, entry["content_hash"])
        if record["version"] == version:
            latest.pop(record["id"], None)  # re-inserted: ordered by its newest record
            latest[record["id"]] = record
    return list(latest.values())


def approval_for(approvals: ApprovalStore, evaluation: dict) -> Approval | None:
    """The recorded approval of exactly this evaluation; MLflow tags are never consulted."""
    try:
        return approvals.for_evaluation(evaluation)
    except ApprovalStoreError as exc:
        raise Failure(str(exc)) from exc


def approvable(evaluation: dict) -> None:
    """Refuse to approve a verdict that did not ask for an approval, naming the verdict."""
    version, verdict = evaluation["challenger_version"], evaluation["verdict"]
    if verdict != "awaiting_approval":
        then = "it needs none: promote it" if verdict == "promote" else "nothing to approve"
        raise Failure(
            f"version {version} cannot be approved: its gate verdict is {verdict}, and only a "
            f"verdict awaiting approval (gate.require_approval) takes one; {then}"
        )


def record_approval(
    approvals: ApprovalStore,
    registry: ModelRegistry,
    evaluation: dict,
    *,
    approver: str,
    reason: str,
    at: datetime,
) -> Approval:
    """Record `approver`'s yes to a verdict that asked for one; any other verdict is refused
    and nothing is written."""
    approvable(evaluation)
    version, verdict = evaluation["challenger_version"], evaluation["verdict"]
    approval = Approval(
        version=version,
        approver=approver,
        approved_at=at.isoformat(),
        reason=reason,
        champion_version=evaluation.get("champion_version"),
        test_set_version=evaluation["test_set"]["version"],
        test_set_sha256=evaluation["test_set"]["sha256"],
        verdict=verdict,
        verdict_at=evaluation["evaluated_at"],
    )
    try:
        approvals.record(approval)
    except ApprovalStoreError as exc:
        raise Failure(str(exc)) from exc
    # A mirror for people browsing MLflow; never read back as authority (anyone can write it).
    registry.set_version_tags(
        version,
        {
            "approval.by": approver,
            "approval.at": approval.approved_at,
            "approval.recorded_in": "afterlaunch approvals store (this tag is a copy)",
        },
    )
    return approval
