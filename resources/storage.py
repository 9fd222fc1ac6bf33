"""A workflow's folder in the deployment's home, as a resource: where its snapshots, reports,
alert outbox and registry lock live. Two workflows in one home never share a file."""

from __future__ import annotations

from pathlib import Path

from dagster import ConfigurableResource

from resources.snapshots import SnapshotStore


def workflow_root(home: str | Path, workflow: str) -> Path:
    return Path(home) / "workflows" / workflow


class HomeStorage(ConfigurableResource):
    """Read access to stored versions outside the IO manager (windows of partitions)."""

    home: str
    workflow: str

    @property
    def root(self) -> Path:
        return workflow_root(self.home, self.workflow)

    @property
    def snapshots(self) -> SnapshotStore:
        return SnapshotStore(self.root / "snapshots")

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def lock_path(self) -> Path:
        return self.root / "registry.lock"

    @property
    def outbox(self) -> Path:
        return self.root / "alerts" / "outbox.sqlite"
