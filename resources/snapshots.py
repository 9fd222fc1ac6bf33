"""Immutable, content-addressed storage of asset values (Parquet for tables, JSON otherwise).

Layout: ``ROOT/<asset key>/<partition>/<content hash>.<ext>``. A value is never overwritten:
a partition re-materialized with different content lands beside the old file, and
``versions.jsonl`` in the partition folder lists every version in the order it was written.
``CURRENT`` names the version downstream steps read.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from dagster import ConfigurableIOManager, InputContext, OutputContext

UNPARTITIONED = "__all__"


def content_hash(value: pd.DataFrame | Any) -> str:
    """SHA-256 of a value's content: for a table, its column names, dtypes and cell values.

    Row order counts (a snapshot is what the source gave); the index does not.
    """
    digest = hashlib.sha256()
    if isinstance(value, pd.DataFrame):
        digest.update(json.dumps([(str(c), str(t)) for c, t in value.dtypes.items()]).encode())
        if len(value):
            cells = pd.util.hash_pandas_object(value, index=False, categorize=True)
            digest.update(cells.to_numpy().tobytes())
    else:
        digest.update(json.dumps(value, sort_keys=True, default=str).encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class SnapshotRef:
    asset: str
    partition: str
    content_hash: str
    path: Path


class SnapshotMissing(LookupError):
    """A recorded snapshot is not where its reference says, or its content changed."""


class SnapshotStore:
    """Plain-Python access to the stored versions (used by the IO manager and the CLI)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def _dir(self, asset: str, partition: str | None) -> Path:
        return self.root / asset / (partition or UNPARTITIONED)

    def write(self, asset: str, partition: str | None, value: Any, run_id: str = "") -> SnapshotRef:
        folder = self._dir(asset, partition)
        folder.mkdir(parents=True, exist_ok=True)
        digest = content_hash(value)
        is_table = isinstance(value, pd.DataFrame)
        path = folder / f"{digest}.{'parquet' if is_table else 'json'}"
        if not path.exists():  # same content already stored: keep the original file
            fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
            os.close(fd)
            try:
                if is_table:
                    value.to_parquet(tmp, index=False)
                else:
                    Path(tmp).write_text(json.dumps(value, sort_keys=True, default=str))
                os.replace(tmp, path)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        entry = {
            "content_hash": digest,
            "file": path.name,
            "written_at": datetime.now(UTC).isoformat(),
            "run_id": run_id,
        }
        with open(folder / "versions.jsonl", "a") as log:
            log.write(json.dumps(entry) + "\n")
        _atomic_write(folder / "CURRENT", path.name)
        return SnapshotRef(asset, partition or UNPARTITIONED, digest, path)

    def current(self, asset: str, partition: str | None) -> SnapshotRef:
        folder = self._dir(asset, partition)
        pointer = folder / "CURRENT"
        if not pointer.exists():
            raise SnapshotMissing(
                f"no stored snapshot of {asset} for partition {partition or UNPARTITIONED} "
                f"under {self.root}: materialize it first"
            )
        name = pointer.read_text().strip()
        return SnapshotRef(asset, partition or UNPARTITIONED, name.split(".")[0], folder / name)

    def versions(self, asset: str, partition: str | None) -> list[dict[str, Any]]:
        log = self._dir(asset, partition) / "versions.jsonl"
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]

    def read(self, asset: str, partition: str | None, digest: str | None = None) -> Any:
        """The current version, or the exact version `digest`, verified against its hash."""
        ref = (
            self.current(asset, partition)
            if digest is None
            else self._ref(asset, partition, digest)
        )
        if not ref.path.exists():
            raise SnapshotMissing(
                f"snapshot {ref.content_hash[:12]} of {asset} partition {ref.partition} "
                f"is missing: {ref.path}"
            )
        value = (
            pd.read_parquet(ref.path)
            if ref.path.suffix == ".parquet"
            else json.loads(ref.path.read_text())
        )
        if content_hash(value) != ref.content_hash:
            raise SnapshotMissing(
                f"snapshot of {asset} partition {ref.partition} changed on disk: expected hash "
                f"{ref.content_hash[:12]}, found {content_hash(value)[:12]} ({ref.path})"
            )
        return value

    def _ref(self, asset: str, partition: str | None, digest: str) -> SnapshotRef:
        folder = self._dir(asset, partition)
        for ext in ("parquet", "json"):
            if (folder / f"{digest}.{ext}").exists():
                return SnapshotRef(
                    asset, partition or UNPARTITIONED, digest, folder / f"{digest}.{ext}"
                )
        return SnapshotRef(asset, partition or UNPARTITIONED, digest, folder / f"{digest}.parquet")

    def partitions(self, asset: str) -> list[str]:
        base = self.root / asset
        if not base.exists():
            return []
        return sorted(p.name for p in base.iterdir() if (p / "CURRENT").exists())


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def snapshot_root(home: str | Path, workflow: str) -> Path:
    return Path(home) / "workflows" / workflow / "snapshots"


class VersionedParquetIOManager(ConfigurableIOManager):
    """Stores each output under its content hash; loads the current version of each partition.
    One per workflow: assets keyed `<workflow>/<name>` land in the workflow's folder as
    `<name>`."""

    home: str
    workflow: str

    @property
    def store(self) -> SnapshotStore:
        return SnapshotStore(snapshot_root(self.home, self.workflow))

    def _asset_name(self, key_path: Sequence[str]) -> str:
        if len(key_path) < 2 or key_path[0] != self.workflow:
            raise ValueError(
                f"asset {'/'.join(key_path)} is not one of workflow {self.workflow}'s: "
                "its key must start with the workflow name"
            )
        return "/".join(key_path[1:])

    def handle_output(self, context: OutputContext, obj: Any) -> None:
        if obj is None:
            return
        partition = context.partition_key if context.has_partition_key else None
        ref = self.store.write(
            self._asset_name(context.asset_key.path), partition, obj, context.run_id
        )
        context.add_output_metadata({"path": str(ref.path), "content_hash": ref.content_hash})

    def load_input(self, context: InputContext) -> Any:
        asset = self._asset_name(context.asset_key.path)
        if not context.has_asset_partitions:
            return self.store.read(asset, None)
        keys = context.asset_partition_keys
        if len(keys) == 1:
            return self.store.read(asset, keys[0])
        return {key: self.store.read(asset, key) for key in keys}
