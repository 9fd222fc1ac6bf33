"""A fresh home for the ticket workflow, for the tests that run its jobs end to end: the home's
folders, a Dagster instance on them, the workflow's definitions, its registry and its snapshots.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance, Definitions

from orchestration.catalog import definitions
from orchestration.home import ENV_VARS, Home, activate, resolve_home
from orchestration.runner import RunOutcome, run_job
from resources.policy import home_policy_file
from resources.registry import ModelRegistry
from resources.snapshots import SnapshotStore, snapshot_root
from workflows.ticket_escalation.workflow import WORKFLOW

WF = WORKFLOW


@dataclass
class TicketHome:
    home: Home
    instance: DagsterInstance
    defs: Definitions

    @property
    def root(self) -> Path:
        return self.home.root

    @property
    def source_url(self) -> str:
        return self.home.source_url_for(WF)

    @property
    def snapshots(self) -> Path:
        return snapshot_root(self.home.root, WF.name)

    @property
    def store(self) -> SnapshotStore:
        return SnapshotStore(self.snapshots)

    @property
    def registry(self) -> ModelRegistry:
        return ModelRegistry(
            tracking_uri=self.home.mlflow_uri,
            artifact_root=self.home.mlflow_artifacts,
            model_name=WF.model_name,
            experiment_name=f"afterlaunch-{WF.name}",
        )

    def write_policy(self, text: str) -> None:
        path = home_policy_file(self.home.root, WF.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    def run(
        self,
        job: str,
        partition: str | None = None,
        ops: dict[str, dict] | None = None,
        tags: dict[str, str] | None = None,
        instance: DagsterInstance | None = None,
    ) -> RunOutcome:
        """Run a job; `ops` maps an asset's name to its config (keyed by the op name here)."""
        config = {"ops": {WF.op(a): {"config": c} for a, c in ops.items()}} if ops else None
        return run_job(
            self.defs, instance or self.instance, job, partition, run_config=config, tags=tags
        )


def key(asset: str) -> AssetKey:
    return WF.key(asset)


@contextmanager
def ticket_home(root: Path, policy: str | None = None) -> Iterator[TicketHome]:
    """Point this process at a new home under `root` (the environment is restored after)."""
    with pytest.MonkeyPatch.context() as mp:
        for var in {*ENV_VARS, WF.source.url_env}:  # recorded, so activate()'s changes undo
            mp.setenv(var, "")
            mp.delenv(var)
        home = activate(resolve_home(root), WF)
        world = TicketHome(
            home, DagsterInstance.from_config(str(home.dagster_home)), definitions(WF)
        )
        if policy is not None:
            world.write_policy(policy)
        yield world
