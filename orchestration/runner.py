"""Run jobs in this process against the home's instance and collect what the checks said."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field

from dagster import DagsterInstance, Definitions

from orchestration.run_owners import owner_tags

log = logging.getLogger("afterlaunch")


@dataclass(frozen=True)
class CheckOutcome:
    partition: str | None
    asset: str
    check: str
    passed: bool
    severity: str
    description: str

    @property
    def level(self) -> str:
        """'ok', 'warn' or 'error': the one word a summary shows."""
        return "ok" if self.passed else self.severity.lower()

    def as_dict(self) -> dict:
        return {**asdict(self), "level": self.level}


@dataclass
class RunOutcome:
    job: str
    partition: str | None
    success: bool
    run_id: str
    checks: list[CheckOutcome]
    skipped_steps: list[str]
    failed_steps: list[str]
    # asset -> metadata (plain values) of what the run materialized
    materialized: dict[str, dict] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    # step -> reason, for steps that failed by error (not stopped by a blocking check)
    step_errors: dict[str, str] = field(default_factory=dict)


def failure_reason(error) -> str:
    """The user's exception, not Dagster's wrapper around it (nor what the user's exception
    was raised from, which is usually less clear than the exception itself)."""
    while (
        error is not None
        and error.cause is not None
        and (error.cls_name or "").startswith("Dagster")
    ):
        error = error.cause
    return error.message.strip() if error is not None else "unknown error"


def _name(key) -> str:
    """An asset's name within its workflow (keys are `<workflow>/<name>`)."""
    return "/".join(key.path[1:]) if len(key.path) > 1 else key.path[0]


def run_job(
    defs: Definitions,
    instance: DagsterInstance,
    job_name: str,
    partition: str | None = None,
    run_config: dict | None = None,
    tags: dict[str, str] | None = None,
) -> RunOutcome:
    """Execute a job (or one partition of it); a failed step is reported, not raised."""
    job = defs.resolve_job_def(job_name)
    # Every event still goes to the instance's event log; only the console stays quiet, so the
    # CLI's one progress line per run is readable.
    config = {**(run_config or {}), "loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    result = job.execute_in_process(
        instance=instance,
        partition_key=partition,
        run_config=config,
        raise_on_error=False,
        # The owner's pid: a run left STARTED by a killed process can be told apart and failed.
        tags={**owner_tags(), **(tags or {})},
    )
    checks = [
        CheckOutcome(
            partition=partition,
            asset=_name(evaluation.asset_key),
            check=evaluation.check_name,
            passed=evaluation.passed,
            severity=evaluation.severity.value,
            description=evaluation.description or "",
        )
        for evaluation in result.get_asset_check_evaluations()
    ]
    failed = [e.step_key for e in result.get_step_failure_events()]
    skipped = [e.step_key for e in result.get_step_skipped_events()]
    step_errors = {}
    for event in result.get_step_failure_events():
        error = event.step_failure_data.error
        if error is not None and error.cls_name == "DagsterAssetCheckFailedError":
            # A blocking check did its job; its own outcome is in `checks` and the event log.
            log.info("%s %s: a blocking check stopped what is downstream", job_name, partition)
            continue
        step_errors[event.step_key] = failure_reason(error)
        log.warning(
            "%s %s: step %s failed: %s",
            job_name,
            partition or "",
            event.step_key,
            step_errors[event.step_key],
        )
    materialized = {
        _name(event.asset_key): {
            k: getattr(v, "value", v)
            for k, v in event.step_materialization_data.materialization.metadata.items()
        }
        for event in result.get_asset_materialization_events()
    }
    return RunOutcome(
        job_name,
        partition,
        result.success,
        result.run_id,
        checks,
        skipped,
        failed,
        materialized,
        dict(tags or {}),
        step_errors,
    )
