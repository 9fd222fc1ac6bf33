"""No way around the gate: the registry's serving aliases held to the audit trail.

An alias moved outside Afterlaunch (MLflow UI or API) skipped the gate and the audit. The
`aliases_match_audit` check says so (ERROR, routed to the model owner at once); serving keeps
the last audited champion (:func:`audited_champion`) until a person either adopts the move
through `afterlaunch promote V` (gate and audit apply) or puts the audited state back
(:func:`revert_aliases`, `afterlaunch revert-aliases`). Judgement is `checks.alias_audit`.

Reverts are recorded in an append-only JSON-lines file beside the promotion lock (who, when,
what each alias named before and after): they change no audited state, so they are not
entries of ``champion_history``.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path

from dagster import AssetCheckResult, AssetCheckSeverity, MetadataValue, asset_check

from assets.names import CHAMPION
from assets.promotion import (
    LOCK_TIMEOUT_S,
    PREVIOUS,
    PromotionError,
    _exclusive,
    _state,
    champion_history,
    change_in_progress,
    open_intent,
)
from assets.workflow import Workflow
from checks.alias_audit import MOVED, OK, AliasFinding, judge_aliases, state_digest
from resources.registry import ModelRegistry, RegistryError
from resources.storage import HomeStorage

log = logging.getLogger("afterlaunch.aliases")

ALIAS_CHECK = "aliases_match_audit"


def _busy(registry: ModelRegistry, lock_path: Path) -> bool:
    return change_in_progress(lock_path, registry) or open_intent(lock_path) is not None


def alias_state(registry: ModelRegistry, lock_path: Path) -> tuple[AliasFinding, str]:
    """The finding on the registry's aliases now, and the digest of what it judged."""
    champion = registry.version_for_alias(CHAMPION)
    previous = registry.version_for_alias(PREVIOUS)
    history = champion_history(registry)
    finding = judge_aliases(
        champion, previous, history, change_in_progress=_busy(registry, lock_path)
    )
    return finding, state_digest(champion, previous, history)


def audited_champion(registry: ModelRegistry, lock_path: Path) -> str | None:
    """The version serving should use: the last audited champion when the aliases were moved
    outside Afterlaunch (no change in progress), ``@champion`` otherwise."""
    finding, _ = alias_state(registry, lock_path)
    if finding.status == OK:
        return finding.audited_champion  # the alias agrees with it
    if finding.status != MOVED:
        return registry.version_for_alias(CHAMPION)
    moved = next((m for m in finding.moves if m.alias == CHAMPION), None)
    if moved is not None:
        log.warning(
            "@champion names version %s, moved outside Afterlaunch: serving the audited "
            "champion %s instead",
            moved.found,
            finding.audited_champion,
        )
    return finding.audited_champion


def reverts_path(lock_path: Path) -> Path:
    lock_path = Path(lock_path)
    return lock_path.with_name(f"{lock_path.stem}.alias_reverts.jsonl")


def revert_aliases(
    registry: ModelRegistry,
    *,
    lock_path: Path,
    actor: str,
    reason: str,
    at: datetime | None = None,
    lock_timeout_s: float = LOCK_TIMEOUT_S,
) -> AliasFinding | None:
    """Put the aliases back to what the audit trail records, under the promotion lock, and
    record who did it. Returns the finding it reverted (None: nothing was moved outside).
    An interrupted change is refused: `afterlaunch repair` settles it first."""
    if not str(actor).strip() or not str(reason).strip():
        raise PromotionError("reverting the aliases needs a non-empty actor and reason")
    holder = f"alias revert by {actor}"
    with _exclusive(Path(lock_path), lock_timeout_s, holder=holder, registry=registry):
        interrupted = open_intent(lock_path)
        if interrupted is not None:
            raise PromotionError(
                f"an interrupted change is open ({interrupted.describe()}): run "
                "`afterlaunch repair` first, then judge the aliases again"
            )
        champion, previous, history = _state(registry, "revert")
        finding = judge_aliases(champion, previous, history, change_in_progress=False)
        if finding.status != MOVED:
            return None
        moment = (at or datetime.now(UTC)).astimezone(UTC)
        note = f"revert of an alias moved outside Afterlaunch: {reason}"
        # @champion first: what serves is the audited model again before anything else moves.
        for move in sorted(finding.moves, key=lambda m: m.alias != CHAMPION):
            try:
                if move.audited is None:
                    registry.delete_alias(move.alias)
                else:
                    registry.move_alias(
                        move.alias, move.audited, actor=actor, reason=note, at=moment
                    )
            except RegistryError as exc:
                raise PromotionError(
                    f"reverting @{move.alias} to {move.audited} failed ({exc}): set it in MLflow"
                ) from exc
        record = {
            "at": moment.isoformat(),
            "actor": str(actor),
            "reason": str(reason),
            "moves": [{"alias": m.alias, "from": m.found, "to": m.audited} for m in finding.moves],
        }
        _append(reverts_path(lock_path), record)
        log.warning(
            "%s reverted %s (%s)",
            actor,
            ", ".join(f"@{m.alias} {m.found} -> {m.audited}" for m in finding.moves),
            reason,
        )
        return finding


def reverts(lock_path: Path) -> list[dict]:
    path = reverts_path(lock_path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def _append(path: Path, record: dict) -> None:
    data = json.dumps(record, sort_keys=True, separators=(",", ":")).encode() + b"\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def build(wf: Workflow) -> tuple[list, list]:
    """The `aliases_match_audit` check on the champion (not blocking: it stops nothing)."""

    @asset_check(asset=wf.key(CHAMPION), name=ALIAS_CHECK, blocking=False)
    def aliases_match_audit(registry: ModelRegistry, storage: HomeStorage) -> AssetCheckResult:
        """@champion and @previous name what the audit trail (champion_history) records: an
        alias moved in the MLflow UI or API skipped the gate and the audit."""
        finding, digest = alias_state(registry, storage.lock_path)
        return AssetCheckResult(
            passed=finding.passed,
            severity=AssetCheckSeverity.ERROR,
            description=finding.description,
            metadata={
                "status": finding.status,
                "audited_champion": finding.audited_champion or "none",
                "audited_previous": finding.audited_previous or "none",
                "moves": MetadataValue.json(
                    [
                        {"alias": m.alias, "audited": m.audited, "found": m.found}
                        for m in finding.moves
                    ]
                ),
                "state_digest": digest,
            },
        )

    return [], [aliases_match_audit]
