"""The intent log of champion changes: written before any alias moves, closed after.

A promotion or rollback changes four records that cannot be written atomically together: the
MLflow aliases, the MLflow history tag, Dagster's `champion` materialization and its snapshot.
A process killed between two of them leaves them disagreeing, and scoring reads ``@champion``.
So every change first appends an *intent* (what it will do, from which state), fsynced, and
appends a *closing* line (completed, reverted or refused) once the registry agrees again. The
newest intent without a closing line is what :func:`assets.promotion.repair` resolves.

One JSON object per line, append-only, never rewritten (a person may read or archive it). A
process killed while appending leaves a last line without its newline: that intent was never
fully recorded, so nothing after it ran (every alias move waits for the fsync); it is skipped
with a warning, and the next append starts on a fresh line.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

INTENT = "intent"
CLOSED = "closed"
OUTCOMES = ("completed", "reverted", "refused")


class IntentLogError(RuntimeError):
    """The intent log cannot be read: a line in the middle is not JSON (edited by hand)."""


@dataclass(frozen=True)
class Intent:
    """One planned change: the ChampionChange it will record and the state it starts from."""

    id: str
    change: dict  # ChampionChange.as_dict()
    champion_before: str | None
    previous_before: str | None
    history_before: int  # entries of champion_history when it was planned

    @property
    def target(self) -> str:
        return self.change["version"]

    def describe(self) -> str:
        return (
            f"{self.change['action']} to version {self.target} by {self.change['actor']} at "
            f"{self.change['at']} (intent {self.id[:8]}, from @champion={self.champion_before}, "
            f"@previous={self.previous_before})"
        )


def intent_log_path(lock_path: Path) -> Path:
    """Beside the lock that serializes the changes it records (one log per lock)."""
    lock_path = Path(lock_path)
    return lock_path.with_name(f"{lock_path.stem}.intents.jsonl")


def new_intent_id() -> str:
    return uuid.uuid4().hex


class IntentLog:
    def __init__(self, path: Path):
        self.path = Path(path)

    def _lines(self) -> list[dict]:
        if not self.path.exists():
            return []
        raw = self.path.read_bytes()
        lines = raw.split(b"\n")
        torn = lines[-1]  # b"" when the file ends with a newline
        entries = []
        for number, line in enumerate(lines[:-1], 1):
            if not line.strip():
                continue
            try:
                entries.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise IntentLogError(
                    f"line {number} of {self.path} is not JSON ({exc}): the intent log was "
                    "edited; restore it from backup"
                ) from exc
        if torn.strip():
            log.warning(
                "%s ends with a partly written line (%d bytes): a process died while planning a "
                "change, before anything moved; it is ignored",
                self.path,
                len(torn),
            )
        return entries

    def _append(self, entry: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = json.dumps(entry, sort_keys=True, separators=(",", ":")).encode() + b"\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size:
                with open(self.path, "rb") as tail:
                    tail.seek(size - 1)
                    if tail.read(1) != b"\n":
                        data = b"\n" + data  # after a torn line: start afresh
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)

    def record_intent(self, intent: Intent) -> None:
        self._append(
            {
                "kind": INTENT,
                "id": intent.id,
                "change": intent.change,
                "champion_before": intent.champion_before,
                "previous_before": intent.previous_before,
                "history_before": intent.history_before,
            }
        )

    def close(self, intent_id: str, outcome: str, *, at: str, note: str) -> None:
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, got {outcome!r}")
        self._append({"kind": CLOSED, "id": intent_id, "outcome": outcome, "at": at, "note": note})

    def entries(self) -> list[dict]:
        return self._lines()

    def open_intent(self) -> Intent | None:
        """The newest intent with no closing line (None when every change was closed)."""
        closed = set()
        for entry in reversed(self._lines()):
            if entry.get("kind") == CLOSED:
                closed.add(entry["id"])
            elif entry.get("kind") == INTENT and entry["id"] not in closed:
                return _intent(entry)
        return None

    def last_completed(self) -> Intent | None:
        """The newest intent closed as completed: the change that should be on record."""
        entries = self._lines()
        completed = {
            e["id"] for e in entries if e.get("kind") == CLOSED and e["outcome"] == "completed"
        }
        for entry in reversed(entries):
            if entry.get("kind") == INTENT and entry["id"] in completed:
                return _intent(entry)
        return None


def _intent(entry: dict) -> Intent:
    return Intent(
        id=entry["id"],
        change=entry["change"],
        champion_before=entry["champion_before"],
        previous_before=entry["previous_before"],
        history_before=entry["history_before"],
    )
