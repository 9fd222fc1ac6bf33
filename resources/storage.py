"""The deployment's home folder, as a resource: where snapshots and reports live."""

from __future__ import annotations

from pathlib import Path

from dagster import ConfigurableResource

from resources.snapshots import SnapshotStore, snapshot_root


class HomeStorage(ConfigurableResource):
    """Read access to stored versions outside the IO manager (windows of partitions)."""

    home: str

    @property
    def snapshots(self) -> SnapshotStore:
        return SnapshotStore(snapshot_root(self.home))

    @property
    def reports_dir(self) -> Path:
        path = Path(self.home) / "reports"
        path.mkdir(parents=True, exist_ok=True)
        return path
