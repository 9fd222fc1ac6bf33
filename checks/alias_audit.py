"""Do the registry's serving aliases say what the audit trail says? Plain functions, no Dagster.

Every legitimate change of ``@champion``/``@previous`` goes through promote or rollback, which
append it to the audited history (``champion_history``) under a lock. So when no change is in
progress, the aliases must equal what the last history entry left; anything else was moved
outside Afterlaunch (the MLflow UI or API) and skipped the gate and the audit.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

OK = "ok"
MOVED = "moved_outside"
IN_PROGRESS = "in_progress"

ADOPT_COMMAND = "afterlaunch promote"
REVERT_COMMAND = "afterlaunch revert-aliases"


@dataclass(frozen=True)
class AliasMove:
    alias: str  # "champion" | "previous"
    audited: str | None  # what the history says it should name
    found: str | None  # what the registry says


@dataclass(frozen=True)
class AliasFinding:
    status: str  # OK | MOVED | IN_PROGRESS
    moves: tuple[AliasMove, ...]
    audited_champion: str | None
    audited_previous: str | None
    description: str

    @property
    def passed(self) -> bool:
        return self.status != MOVED


def audited_aliases(history: list[dict]) -> tuple[str | None, str | None]:
    """(champion, previous) as the last audited change left them; (None, None) with no
    history (nothing was ever promoted, so neither alias should be set)."""
    if not history:
        return None, None
    last = history[-1]
    return _version(last.get("version")), _version(last.get("previous_version"))


def judge_aliases(
    champion: str | None,
    previous: str | None,
    history: list[dict],
    *,
    change_in_progress: bool,
) -> AliasFinding:
    """The registry's aliases against the audited history.

    ``change_in_progress``: a promote/rollback/repair holds the lock or left an intent open;
    the aliases are then legitimately ahead of the history (repair settles a crashed one), so
    nothing is judged."""
    audited_c, audited_p = audited_aliases(history)
    found = {"champion": _version(champion), "previous": _version(previous)}
    moves = tuple(
        AliasMove(alias, audited, found[alias])
        for alias, audited in (("champion", audited_c), ("previous", audited_p))
        if found[alias] != audited
    )
    if change_in_progress:
        return AliasFinding(
            IN_PROGRESS,
            moves,
            audited_c,
            audited_p,
            "a change of the champion is in progress or awaiting repair: the aliases are "
            "judged once it is closed",
        )
    if not moves:
        return AliasFinding(
            OK,
            (),
            audited_c,
            audited_p,
            f"@champion={audited_c or 'none'}, @previous={audited_p or 'none'}, as the audit "
            "trail records",
        )
    return AliasFinding(MOVED, moves, audited_c, audited_p, _sentence(moves, audited_c))


def _sentence(moves: tuple[AliasMove, ...], audited_champion: str | None) -> str:
    said = "; ".join(
        f"@{m.alias} names version {m.found or 'none'} but the audit trail says "
        f"{m.audited or 'none'}"
        for m in moves
    )
    moved = next((m for m in moves if m.alias == "champion"), None)
    adopt = (
        f"`{ADOPT_COMMAND} {moved.found}` to adopt version {moved.found} through the gate and "
        "the audit"
        if moved is not None and moved.found is not None
        else f"`{ADOPT_COMMAND} VERSION` to change the champion through the gate and the audit"
    )
    return (
        f"{said}: moved outside Afterlaunch (MLflow UI or API), bypassing the gate. Serving "
        f"keeps the audited champion {audited_champion or 'none'}. Either run {adopt}, or "
        f"`{REVERT_COMMAND}` to put the audited aliases back"
    )


def state_digest(champion: str | None, previous: str | None, history: list[dict]) -> str:
    """A short digest of what is judged: equal digests need no new judgement."""
    text = json.dumps(
        {"champion": _version(champion), "previous": _version(previous), "history": history},
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _version(value) -> str | None:
    return None if value is None else str(value)
