"""The schema mappings of one workflow: an append-only, verifiable log in its folder of the home.

``workflows/<name>/schema_mappings.jsonl``, one JSON line per version (2, 3, ...: version 1 is
the contract as declared). Nothing is edited: a new version supersedes the earlier ones from
its effective partition on. Each line carries the SHA-256 of the line before it, so an edited,
removed or reordered line is found when the log is read, and reading refuses it by line.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from pathlib import Path

from checks.schema_mapping import FIRST_VERSION, SchemaMapping, mapping_in_force

MAPPINGS_FILE = "schema_mappings.jsonl"
GENESIS = "0" * 64  # what the first line names as its predecessor


class SchemaLogCorrupt(RuntimeError):
    """The mapping log was edited or damaged: no mapping is applied from it."""


def mappings_path(workflow_root: str | Path) -> Path:
    return Path(workflow_root) / MAPPINGS_FILE


def _digest(line: str) -> str:
    return hashlib.sha256(line.encode()).hexdigest()


class SchemaMappingStore:
    def __init__(self, path: str | Path):
        self.path = Path(path)

    def read(self) -> list[SchemaMapping]:
        """Every recorded version, oldest first, after verifying the chain."""
        if not self.path.exists():
            return []
        found: list[SchemaMapping] = []
        previous = GENESIS
        for number, line in enumerate(self.path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            where = f"{self.path} line {number}"
            try:
                entry = json.loads(line)
            except ValueError as err:
                raise SchemaLogCorrupt(f"{where} is not JSON ({err})") from err
            if entry.get("previous_sha256") != previous:
                raise SchemaLogCorrupt(
                    f"{where} does not follow the line before it (an earlier mapping was "
                    "edited, removed or reordered): the log is append-only; restore it"
                )
            expected = FIRST_VERSION + len(found) + 1
            if entry.get("version") != expected:
                raise SchemaLogCorrupt(
                    f"{where} is version {entry.get('version')!r}, expected {expected}"
                )
            try:
                found.append(
                    SchemaMapping(**{k: entry[k] for k in SchemaMapping.__dataclass_fields__})
                )
            except KeyError as err:
                raise SchemaLogCorrupt(f"{where} lacks the field {err}") from err
            previous = _digest(line)
        return found

    def latest(self) -> SchemaMapping | None:
        found = self.read()
        return found[-1] if found else None

    def in_force(self, partition: str) -> SchemaMapping | None:
        return mapping_in_force(self.read(), partition)

    def record(
        self,
        renames: dict[str, str],
        retypes: dict[str, str],
        effective_from: str,
        reason: str,
        actor: str,
        at: str,
        contract: str,
    ) -> SchemaMapping:
        """Append the next version (validate it against the contract first: this only keeps
        the record). The version is numbered under a file lock, so two people recording at once
        get two versions, never one number twice."""
        if not reason.strip() or not actor.strip():
            raise ValueError("a schema mapping needs a reason and who records it")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            existing = self.read()
            lines = [x for x in self.path.read_text().splitlines() if x.strip()]
            mapping = SchemaMapping(
                version=FIRST_VERSION + len(existing) + 1,
                renames=dict(renames),
                retypes=dict(retypes),
                effective_from=effective_from,
                reason=reason.strip(),
                actor=actor.strip(),
                at=at,
                contract=contract,
            )
            entry = {
                **mapping.as_record(),
                "previous_sha256": _digest(lines[-1]) if lines else GENESIS,
            }
            os.write(fd, (json.dumps(entry, sort_keys=True) + "\n").encode())
        finally:
            os.close(fd)  # releases the lock
        return mapping
