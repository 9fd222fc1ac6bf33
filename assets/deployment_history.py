"""The champion's one deployment history, and whether the newest gate verdict is still current.

`deployment_history` (on `champion`) lists every promotion, rollback, canary rollback and
rejected challenger with its date, actor, approver and reason, so "why was version 3 rolled
back, and who approved version 5?" is one page. `verdict_current` (on `challenger_evaluation`)
warns while the newest verdict stands judged against a former champion. Both run daily.
"""

from __future__ import annotations

from dagster import AssetCheckResult, AssetCheckSeverity, MetadataValue, asset_check

from assets.decisions import stale_verdict
from assets.incident_timeline import gather, iso
from assets.names import CHAMPION, EVALUATION
from assets.workflow import Workflow
from checks.incident_story import (
    assemble,
    deployment_history,
    inconsistencies,
    markdown,
    stale_mark,
)
from resources.clock import ClockResource
from resources.links import UiLinks
from resources.policy import PolicyResource
from resources.registry import ModelRegistry
from resources.storage import HomeStorage

HISTORY_COLUMNS = ("date", "kind", "version", "what", "actor", "approved_by", "why", "stale")


def build(wf: Workflow) -> tuple[list, list]:
    @asset_check(
        asset=wf.key(CHAMPION),
        name="deployment_history",
        description="Every promotion, rollback, canary rollback and rejected challenger; WARN "
        "when a promotion acted on a verdict judged against a former champion.",
    )
    def deployment_history_check(
        context, storage: HomeStorage, links: UiLinks, clock: ClockResource
    ) -> AssetCheckResult:
        records = gather(context.instance, wf, storage, [])
        history = deployment_history(assemble(records, links, until=iso(clock.now())))
        problems = inconsistencies(history)
        counts = {
            k: sum(r.kind == k for r in history) for k in dict.fromkeys(r.kind for r in history)
        }
        return AssetCheckResult(
            passed=not problems,
            severity=AssetCheckSeverity.WARN,
            description="; ".join(problems)
            if problems
            else (", ".join(f"{n} {k}" for k, n in counts.items()) or "no deployment yet"),
            metadata={
                "history": MetadataValue.md(
                    markdown(history, HISTORY_COLUMNS, "no deployment yet")
                ),
                "changes": len(history),
                "stale": sum(1 for r in history if r.stale),
            },
        )

    @asset_check(
        asset=wf.key(EVALUATION),
        name="verdict_current",
        description="WARN while the newest gate verdict was judged against a version that is "
        "no longer champion.",
    )
    def verdict_current(
        storage: HomeStorage, registry: ModelRegistry, policy: PolicyResource, clock: ClockResource
    ) -> AssetCheckResult:
        store = storage.snapshots
        if not store.partitions(EVALUATION):
            return AssetCheckResult(passed=True, description="no verdict yet")
        evaluation = store.read(EVALUATION, None)
        champion = registry.version_for_alias("champion")
        version = evaluation["challenger_version"]
        mark = None if champion == version else stale_mark(evaluation["champion_version"], champion)
        if mark is None:
            said = f"version {version}'s {evaluation['verdict']} verdict is current"
        else:
            age = policy.load().gate.verdict_max_age_days
            said = f"{mark}: " + (
                stale_verdict(store, evaluation, champion, clock.now(), age) or "evaluate again"
            )
        return AssetCheckResult(
            passed=mark is None,
            severity=AssetCheckSeverity.WARN,
            description=f"{clock.now().date().isoformat()}: {said}",
            metadata={
                "version": version,
                "verdict": evaluation["verdict"],
                "judged_against": evaluation["champion_version"] or "none",
                "champion_now": champion or "none",
                "evaluated_at": evaluation["evaluated_at"],
            },
        )

    return [], [deployment_history_check, verdict_current]
