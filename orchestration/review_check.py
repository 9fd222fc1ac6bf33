"""The `champion_review` asset check: the serving champion was reviewed by a person within
`registry.review_max_age_days` (`orchestration.review`; judgement in `checks.reviews`).

It is a check of the weekly evaluation, so the `evaluate_weekly` job and its schedule run it
every week, and the alert routes send its WARN to whoever the policy routes
`weekly_evaluation` to (the model owner, in the digest, by default).
"""

from __future__ import annotations

from dagster import AssetCheckResult, AssetCheckSeverity, asset_check

from assets.names import WEEKLY
from assets.workflow import Workflow
from orchestration.review import champion_review, review_store
from resources.clock import ClockResource
from resources.policy import PolicyResource
from resources.registry import ModelRegistry
from resources.storage import HomeStorage


def build(wf: Workflow) -> tuple[list, list]:
    """The champion_review check, on the weekly evaluation."""

    @asset_check(asset=wf.key(WEEKLY), name="champion_review")
    def champion_review_check(
        registry: ModelRegistry,
        storage: HomeStorage,
        policy: PolicyResource,
        clock: ClockResource,
    ) -> AssetCheckResult:
        """The champion was reviewed by a person within registry.review_max_age_days (WARN
        to its owner otherwise: `afterlaunch review VERSION --note ...`)."""
        allowed = policy.load().registry.review_max_age_days
        store = review_store(storage.home, wf.name)
        age = champion_review(registry, store, clock.now(), allowed)
        return AssetCheckResult(
            passed=age.passed,
            severity=AssetCheckSeverity.WARN,
            description=age.description,
            metadata={
                "champion": registry.version_for_alias("champion") or "none",
                "since": age.since or "",
                "age_days": round(age.age_days, 1) if age.age_days is not None else -1.0,
                "max_age_days": allowed,
            },
        )

    return [], [champion_review_check]
