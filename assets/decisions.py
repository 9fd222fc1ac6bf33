"""What a change of champion may act on: a gate verdict that is still current, an approval that
Afterlaunch recorded itself, and the champion the decision expected to replace.

The `champion` asset asks these before it moves an alias; each refusal is one sentence naming
the condition that failed.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from dagster import AssetKey, DagsterInstance, Failure

from assets.evaluation import test_set_identity
from assets.names import EVAL_SET, ROLLOUT
from checks.four_eyes import approval_refusal
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


# The version tag a registration by hand records its author in (the training asset records
# its actor on the @challenger move instead).
REGISTERED_BY_TAG = "registered_by"


def registrants(
    instance: DagsterInstance, challenger_key: AssetKey, registry: ModelRegistry, version: str
) -> list[str]:
    """Everyone recorded as registering `version`: its `registered_by` tag and the actor of
    each @challenger move to it that the training asset recorded in the event log (the tag
    alone could be removed by anyone with registry access)."""
    found = []
    tag = registry.version_tags(version).get(REGISTERED_BY_TAG)
    if tag:
        found.append(tag)
    cursor = None
    while True:
        page = instance.fetch_materializations(challenger_key, limit=500, cursor=cursor)
        for record in page.records:
            meta = record.asset_materialization.metadata
            if str(getattr(meta.get("model_version"), "value", None)) != str(version):
                continue
            move = getattr(meta.get("alias_move"), "value", None)
            if isinstance(move, dict) and move.get("actor"):
                found.append(str(move["actor"]))
        if not page.has_more:
            return found
        cursor = page.cursor


def record_approval(
    approvals: ApprovalStore,
    registry: ModelRegistry,
    evaluation: dict,
    *,
    approver: str,
    reason: str,
    at: datetime,
    registered_by: Collection[str],
    allowed: Sequence[str],
) -> Approval:
    """Record `approver`'s yes to a verdict that asked for one. Any other verdict, an approver
    among `registered_by` (four eyes) or outside a non-empty `allowed` (the policy's
    `approvers.promotion`) is refused, saying who may approve, and nothing is written."""
    approvable(evaluation)
    version, verdict = evaluation["challenger_version"], evaluation["verdict"]
    refusal = approval_refusal(approver, registered_by, allowed)
    if refusal is not None:
        raise Failure(f"version {version} not approved: {refusal}")
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
