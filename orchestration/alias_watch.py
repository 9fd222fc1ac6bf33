"""The alias watch: every tick, the registry's aliases against the audit trail.

The last judged state is the newest `aliases_match_audit` evaluation in the event log (its
`state_digest`), whoever ran it (this sensor, the daily production job, another daemon). A tick
asks for one `audit_aliases` run (the check alone) when the aliases are wrong and that state
was not judged yet, or when they are right again after a failed judgement, so the check turns
green. A tick that sees nothing new asks for nothing; a mismatch that stays is judged (and
alerted) once; a healthy registry costs no runs. Legitimate changes hold the promotion lock or
leave an intent open: those ticks wait.
"""

from __future__ import annotations

from dagster import (
    AssetCheckKey,
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from assets.alias_guard import ALIAS_CHECK, alias_state
from assets.check_history import evaluations
from assets.names import CHAMPION
from assets.workflow import Workflow
from checks.alias_audit import IN_PROGRESS, OK
from orchestration.jobs import AUDIT_ALIASES, WORKFLOW_TAG, WorkflowJobs
from resources.registry import ModelRegistry
from resources.storage import HomeStorage

TRIGGER_TAG = "afterlaunch/trigger"  # the same tags the other sensors set
REASON_TAG = "afterlaunch/reason"


def build_alias_watch(wf: Workflow, jobs: WorkflowJobs):
    check = AssetCheckKey(wf.key(CHAMPION), ALIAS_CHECK)

    @sensor(
        job=jobs[AUDIT_ALIASES],
        minimum_interval_seconds=60,
        default_status=DefaultSensorStatus.RUNNING,
    )
    def alias_watch_sensor(
        context: SensorEvaluationContext, registry: ModelRegistry, storage: HomeStorage
    ):
        """@champion/@previous moved outside promote/rollback (MLflow UI or API) is judged by
        the aliases_match_audit check at once; its ERROR goes to the model owner."""
        finding, digest = alias_state(registry, storage.lock_path)
        if finding.status == IN_PROGRESS:
            return SkipReason(finding.description)
        judged = evaluations(context.instance, [check], limit=1)
        last = judged[-1] if judged else None
        if last is not None and last.metadata.get("state_digest") == digest:
            return SkipReason(f"aliases unchanged since the last judgement ({finding.status})")
        if finding.status == OK and (last is None or last.passed):
            return SkipReason("the aliases name what the audit trail records")
        return SensorResult(
            run_requests=[
                RunRequest(
                    # After the judgement it follows: the same state seen again later (moved,
                    # reverted, moved again) is judged again, not deduplicated away.
                    run_key=f"aliases:{digest}:{last.id if last else 0}",
                    tags={
                        WORKFLOW_TAG: wf.name,
                        TRIGGER_TAG: "alias_watch",
                        REASON_TAG: finding.description[:250],
                    },
                )
            ],
            cursor=digest,
        )

    return alias_watch_sensor
