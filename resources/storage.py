"""The deployment's home folder, as a resource: where snapshots and reports live."""

from __future__ import annotations

from dagster import ConfigurableResource

from resources.snapshots import SnapshotStore, snapshot_root


class HomeStorage(ConfigurableResource):
    """Read access to stored versions outside the IO manager (windows of partitions)."""

    home: str

    @property
    def snapshots(self) -> SnapshotStore:
        return SnapshotStore(snapshot_root(self.home))
