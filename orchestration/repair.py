"""`afterlaunch repair`: after a crash, make what serves and what is recorded agree again.

Three steps, each idempotent, each saying what it did:

1. runs left STARTED by a process that died are marked failed, with the reason;
2. an interrupted promote or rollback (an intent without its closing line) is completed or
   reverted in the registry (:func:`assets.promotion.repair` says which and why);
3. the `change_champion` job records in Dagster the change the registry holds but Dagster
   does not (the `champion` materialization, its snapshot, the baseline that follows it).
"""

from __future__ import annotations

import logging

from dagster import DagsterInstance

from assets.champion_repair import repair_needed
from assets.names import CHAMPION
from assets.promotion import PromotionError, repair
from orchestration.catalog import definitions
from orchestration.home import Home, registry_for
from orchestration.run_owners import fail_orphaned_runs
from orchestration.runner import run_job
from resources.clock import ClockResource
from resources.storage import HomeStorage

log = logging.getLogger("afterlaunch")


class RepairFailed(SystemExit):
    """What repair could not resolve, in one sentence (a SystemExit: the CLI prints it)."""


def repair_workflow(home: Home, wf, instance: DagsterInstance | None = None) -> list[str]:
    """Repair one workflow's champion in ``home``; the sentences of what was done."""
    instance = instance or DagsterInstance.get()
    said = fail_orphaned_runs(instance)
    storage = HomeStorage(home=str(home.root), workflow=wf.name)
    try:
        resolution = repair(
            registry_for(home, wf), lock_path=storage.lock_path, at=ClockResource().now()
        )
    except PromotionError as exc:
        raise RepairFailed(f"{wf.name}: {exc}") from exc
    if resolution is not None:
        said.append(f"{wf.name}: {resolution.said}")
    if repair_needed(instance, wf, storage) is None:  # Dagster's record agrees: no empty run
        return said or [
            f"{wf.name}: nothing to repair (aliases, history and Dagster's record agree)"
        ]
    config = {"ops": {wf.op(CHAMPION): {"config": {"action": "repair"}}}}
    outcome = run_job(definitions(wf), instance, "change_champion", None, run_config=config)
    if not outcome.success:
        reasons = "; ".join(outcome.step_errors.values()) or "see the run's logs"
        raise RepairFailed(f"{wf.name}: recording the champion in Dagster failed: {reasons}")
    recorded = outcome.materialized.get(CHAMPION)
    if recorded:
        said.append(
            f"{wf.name}: recorded in Dagster the change it was missing: {recorded['summary']}"
        )
    if not said:
        said.append(f"{wf.name}: nothing to repair (aliases, history and Dagster's record agree)")
    return said
