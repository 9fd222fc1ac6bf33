"""Immutable, content-addressed storage of asset values (Parquet for tables, JSON otherwise).

Layout: ``ROOT/<asset key>/<partition>/<content hash>.<ext>``. A value is never overwritten:
a partition re-materialized with different content lands beside the old file, and
``versions.jsonl`` in the partition folder lists every version in the order it was written.
``CURRENT`` names the version downstream steps read.

``ROOT/_written/<asset key>.jsonl`` records every partition the store has written, one line
each, appended. It lets a window tell a partition that was written and has since been deleted
(an error naming it) from one that never existed (before the source started, not ingested yet).
It lives outside the asset's folder so that deleting the whole folder is caught too, and it is
the store's own record, so the CLI and `reproduce` (no Dagster context) read the same facts as
the assets. A home from before the record gets one, once, from the partitions it holds.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from dagster import ConfigurableIOManager, InputContext, OutputContext

UNPARTITIONED = "__all__"
WRITTEN = "_written"  # ROOT/_written/<asset>.jsonl: the partitions written (see the module doc)
MISSING_POLICIES = ("refuse", "skip")

log = logging.getLogger("afterlaunch.snapshots")


def content_hash(value: pd.DataFrame | Any) -> str:
    """SHA-256 of a value's content: for a table, its column names, dtypes and cell values.

    Row order counts (a snapshot is what the source gave); the index does not.
    """
    digest = hashlib.sha256()
    if isinstance(value, pd.DataFrame):
        digest.update(json.dumps([(str(c), str(t)) for c, t in value.dtypes.items()]).encode())
        if len(value):
            cells = pd.util.hash_pandas_object(_hashable(value), index=False, categorize=True)
            digest.update(cells.to_numpy().tobytes())
    else:
        digest.update(json.dumps(value, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def _nested_json(cell: Any) -> Any:
    if isinstance(cell, np.ndarray):
        cell = cell.tolist()
    if isinstance(cell, list | tuple | dict):
        return json.dumps(cell, sort_keys=True, default=str)
    return cell


def _hashable(frame: pd.DataFrame) -> pd.DataFrame:
    """Nested cells (lists, arrays, dicts: a pipeline's retrieved ids) as canonical JSON text,
    which pandas can hash; a list and the array Parquet reads it back as hash alike."""
    nested = [
        c
        for c in frame.columns
        if frame[c].dtype == object
        and frame[c].map(lambda v: isinstance(v, list | tuple | dict | np.ndarray)).any()
    ]
    if not nested:
        return frame
    out = frame.copy()
    for c in nested:
        out[c] = out[c].map(_nested_json)
    return out


@dataclass(frozen=True)
class SnapshotRef:
    asset: str
    partition: str
    content_hash: str
    path: Path


class SnapshotMissing(LookupError):
    """A recorded snapshot is not where its reference says, or its content changed."""


class PartitionsMissing(SnapshotMissing):
    """Partitions the store wrote are no longer in it (a deleted or moved folder): the
    store's loss, not a gap in the source."""

    def __init__(self, gaps: dict[str, dict[str, Path]], hint: str = ""):
        self.gaps, self.hint = gaps, hint  # asset -> partition -> the folder that held it
        named = "; ".join(
            f"{asset} partition{'s' if len(found) > 1 else ''} {', '.join(sorted(found))} "
            f"({', '.join(str(found[k]) for k in sorted(found))})"
            for asset, found in sorted(gaps.items())
        )
        super().__init__(
            f"{named}: written to the snapshot store, since deleted from it; restore the "
            f"folders or re-materialize those partitions{hint}"
        )

    def __reduce__(self):  # picklable across processes despite the structured arguments
        return (type(self), (self.gaps, self.hint))


class SnapshotCorrupt(SnapshotMissing):
    """A stored file is there but cannot be read as what it claims to be."""


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
        self._record(asset, partition or UNPARTITIONED)
        return SnapshotRef(asset, partition or UNPARTITIONED, digest, path)

    def current(self, asset: str, partition: str | None) -> SnapshotRef:
        folder = self._dir(asset, partition)
        pointer = folder / "CURRENT"
        if not pointer.exists():
            if (partition or UNPARTITIONED) in self.written(asset):
                raise PartitionsMissing({asset: {partition or UNPARTITIONED: folder}})
            raise SnapshotMissing(
                f"no stored snapshot of {asset} for partition {partition or UNPARTITIONED} "
                f"under {self.root}: materialize it first"
            )
        name = pointer.read_text().strip()
        return SnapshotRef(asset, partition or UNPARTITIONED, name.split(".")[0], folder / name)

    def versions(self, asset: str, partition: str | None) -> list[dict[str, Any]]:
        path = self._dir(asset, partition) / "versions.jsonl"
        if not path.exists():
            return []
        return _json_lines(path, f"the version log of {asset} partition {partition}")

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
        try:
            value = (
                pd.read_parquet(ref.path)
                if ref.path.suffix == ".parquet"
                else json.loads(ref.path.read_text())
            )
        except (OSError, ValueError, pa.ArrowException) as err:
            # Parquet's own words ("Unexpected end of stream") name no asset, partition or file.
            raise SnapshotCorrupt(
                f"snapshot {ref.content_hash[:12]} of {asset} partition {ref.partition} cannot "
                f"be read ({type(err).__name__}: {err}); it is corrupt or truncated: {ref.path}"
            ) from err
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
        """The partitions stored now (a folder with a CURRENT version)."""
        base = self.root / asset
        if not base.exists():
            return []
        return sorted(p.name for p in base.iterdir() if (p / "CURRENT").exists())

    def written(self, asset: str) -> list[str]:
        """Every partition of `asset` the store has written, whether still stored or not."""
        path = self._written_log(asset)
        if not path.exists():
            return self._backfill(asset)
        return sorted({e["partition"] for e in _json_lines(path, f"the record of {asset}")})

    def gone(self, asset: str, keys: Sequence[str]) -> dict[str, Path]:
        """Of `keys`, the partitions once written and no longer stored, with their folders.
        A key never written (before the source began, not ingested yet) is not gone."""
        stored, written = set(self.partitions(asset)), set(self.written(asset))
        return {k: self._dir(asset, k) for k in keys if k in written and k not in stored}

    def window(
        self, asset: str, keys: Sequence[str], missing: str = "refuse", hint: str = ""
    ) -> tuple[list[str], dict[str, Path]]:
        """The stored partitions among `keys` (in order) and those written but gone since.
        `missing`: `refuse` raises PartitionsMissing naming the gone ones (`hint` ends the
        message); `skip` leaves them out for the caller to record."""
        if missing not in MISSING_POLICIES:
            raise ValueError(f"missing must be one of {MISSING_POLICIES}, got {missing!r}")
        gone = self.gone(asset, keys)
        if gone and missing == "refuse":
            raise PartitionsMissing({asset: gone}, hint)
        stored = set(self.partitions(asset))
        return [k for k in keys if k in stored], gone

    def _written_log(self, asset: str) -> Path:
        return self.root / WRITTEN / f"{asset}.jsonl"

    def _record(self, asset: str, partition: str) -> None:
        path = self._written_log(asset)
        # A home from before the record: what it holds is recorded first, then this write.
        known = self.written(asset) if path.exists() else self._backfill(asset, but=partition)
        if partition in known:
            return
        entry = {"partition": partition, "at": datetime.now(UTC).isoformat()}
        _append_line(self._written_log(asset), json.dumps(entry))

    def _backfill(self, asset: str, but: str | None = None) -> list[str]:
        """The record of a home written before there was one: the partitions it holds now
        (what was deleted before cannot be known). Written once; a store that cannot be
        written (read-only) answers the same partitions without recording them."""
        present = [p for p in self.partitions(asset) if p != but]
        if not present:
            return []
        path = self._written_log(asset)
        at = datetime.now(UTC).isoformat()
        lines = "".join(
            json.dumps({"partition": p, "at": at, "backfilled": True}) + "\n" for p in present
        )
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            with os.fdopen(fd, "w") as out:
                out.write(lines)
            try:
                os.link(tmp, path)  # never over a record another process just started
            except FileExistsError:
                pass
            finally:
                os.unlink(tmp)
        except OSError as err:
            log.warning("cannot record the written partitions of %s (%s): %s", asset, path, err)
        return present


def _append_line(path: Path, line: str) -> None:
    # One write() on an O_APPEND descriptor: concurrent writers each land a whole line.
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def _json_lines(path: Path, what: str) -> list[dict[str, Any]]:
    entries, where = [], "reading it"
    try:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            where = f"line {number}"
            if line.strip():
                entries.append(json.loads(line))
    except ValueError as err:  # invalid JSON or undecodable bytes
        raise SnapshotCorrupt(f"{what} is corrupt at {where}: {path}: {err}") from err
    return entries


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
