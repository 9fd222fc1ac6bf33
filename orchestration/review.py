"""Registry reviews: `afterlaunch review VERSION --note ...`, and the champion's review-age check.

A review records who looked at a version (`resources.approvals.acting_person`), when (the
workflow's clock) and what they found, in the append-only reviews table beside the approvals
(`resources.approvals.ReviewStore`). The newest is mirrored on the version's
`last_reviewed_date` tag for people browsing MLflow; nothing authoritative reads the tag.

The `champion_review` check (`orchestration.review_check`) runs with the weekly evaluation and
asks `champion_review` here; the judgement is `checks.reviews.review_age`.
"""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import TYPE_CHECKING

from checks.reviews import ReviewAge, review_age
from resources.approvals import (
    ApprovalStoreError,
    Review,
    ReviewStore,
    acting_person,
    approvals_path,
)

if TYPE_CHECKING:  # the registry pulls in MLflow: imported where used, so the CLI starts fast
    from resources.registry import ModelRegistry

REVIEW_TAG = "last_reviewed_date"


class ReviewError(ValueError):
    """A review that cannot be recorded (named in the message); nothing was written."""


def review_store(home_root, workflow: str) -> ReviewStore:
    from resources.storage import workflow_root

    return ReviewStore(approvals_path(workflow_root(home_root, workflow) / "registry.lock"))


def record_review(
    store: ReviewStore,
    registry: ModelRegistry,
    version: str,
    *,
    note: str,
    actor: str | None,
    at: datetime,
) -> Review:
    """Append one review of `version` and mirror its date on the version's tag. An unknown
    version or an empty note is refused before anything is written."""
    from resources.registry import RegistryError

    if not note or not note.strip():
        raise ReviewError(f"a review of version {version} needs a --note: what did you check?")
    try:
        registry.version_tags(version)  # the version must exist in this registry
    except RegistryError as err:
        raise ReviewError(f"cannot review version {version}: {err}") from err
    review = Review(
        version=str(version).strip(),
        reviewer=acting_person(actor),
        reviewed_at=at.isoformat(),
        note=note.strip(),
    )
    try:
        store.record(review)
    except ApprovalStoreError as err:
        raise ReviewError(str(err)) from err
    # A copy for the MLflow UI; the check reads the store, never this tag.
    registry.set_version_tags(
        review.version,
        {
            REVIEW_TAG: review.reviewed_at[:10],
            "last_reviewed_by": review.reviewer,
            "last_reviewed.recorded_in": "afterlaunch reviews store (this tag is a copy)",
        },
    )
    return review


def champion_review(
    registry: ModelRegistry, store: ReviewStore, now: datetime, max_age_days: int
) -> ReviewAge:
    """How old the serving champion's last review is, judged against the policy."""
    from assets.promotion import champion_history

    champion = registry.version_for_alias("champion")
    latest = store.latest(champion) if champion is not None else None
    since = None
    for change in reversed(champion_history(registry) if champion else []):
        if change.get("version") == champion:
            since = change.get("at")
            break
    return review_age(
        champion,
        last_review_at=latest.reviewed_at if latest else None,
        last_reviewer=latest.reviewer if latest else None,
        champion_since=since,
        now=now,
        max_age_days=max_age_days,
    )


def cmd_review(args: argparse.Namespace) -> int:
    """`afterlaunch review VERSION --note ...`: record the review, print the version's reviews."""
    from orchestration.cli import _activate, _registry
    from resources.clock import ClockResource

    home, wf = _activate(args)
    store = review_store(home.root, wf.name)
    try:
        review = record_review(
            store,
            _registry(home, wf),
            args.version,
            note=args.note,
            actor=args.actor,
            at=ClockResource().now(),
        )
    except ReviewError as err:
        raise SystemExit(str(err)) from err
    print(f"review of version {review.version} recorded: {review.reviewer} at {review.reviewed_at}")
    for earlier in store.all(review.version):
        print(f"  {earlier.reviewed_at} {earlier.reviewer}: {earlier.note}")
    return 0


HELP = "record a registry review of VERSION (who, when, what)"


def arguments(p: argparse.ArgumentParser) -> None:
    """The `review` command's arguments (its parser comes from orchestration.cli)."""
    p.add_argument("version", help="model version number in the registry")
    p.add_argument("--note", required=True, help="what you checked and found (recorded)")
    p.add_argument("--actor", help="who reviews (default: $AFTERLAUNCH_ACTOR, else your user name)")
    p.set_defaults(func=cmd_review)
