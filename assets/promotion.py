"""Promotion and rollback of the champion model: one symmetric, serialized operation each.

Two MLflow aliases describe what serves:

* ``@champion`` is the version batch scoring loads (``models:/<model>@champion``);
* ``@previous`` is the champion before it. A rollback therefore needs no retraining and no
  search: it points ``@champion`` back at exactly the version that was validated and served,
  and with it the feature-set version and preprocessing recorded in that version's tags.

The three moves, all the same :func:`_switch` underneath:

================  ==========================  ===================================
operation         ``@champion`` becomes       ``@previous`` becomes
================  ==========================  ===================================
promote V         V                           the old champion (stays free if none)
rollback          the old ``@previous``       the old champion
rollback(to=X)    X                           the old champion
================  ==========================  ===================================

Rolling back twice toggles: the second rollback restores the champion the first one replaced.

**Serialized.** MLflow gives an alias to one version at a time, so two champions cannot exist;
the real risks are interleaved operations (A and B both read champion 1, both set previous to 1,
B's champion wins: ``@previous`` and the history no longer say what came before) and a crash
between the two alias moves. Every operation therefore runs read-check-write under an exclusive
``fcntl.flock`` on ``lock_path`` (one file beside the MLflow store; it works across threads and
processes on one machine; flock is not reliable on network filesystems). A lock that is not free
within ``lock_timeout_s`` raises :class:`PromotionError` naming the file and its holder. Inside
the lock the aliases are read afresh and compared with the last entry of the history; a mismatch
(an alias moved in the MLflow UI, or a crash mid-change) is refused with both states named,
rather than built upon. ``expected_champion`` adds a compare-and-swap for callers that decided
against a particular champion (a gate compares the challenger with *that* model).

**Ordering.** ``@previous`` moves first, then ``@champion``. In between both point at the old
champion, so the registry is never without a champion and never serves a model nobody chose.
If the champion move fails, ``@previous`` is put back (or freed). The audit mirror is written
after the aliases: the version tags (``champion.*``) and then the registered model's tag
``champion_history`` (JSON, the last :data:`HISTORY_KEEP` changes, oldest first; Dagster's
event log holds them all). The history write is the commit record: if any mirror write fails,
both aliases are restored (``@champion`` first) and the error is raised. Version tags written
before such a failure may remain; the aliases and ``champion_history`` are authoritative.

**Servable.** ``servable(version, tags)``, when given, is asked inside the lock before anything
moves; it raises :class:`PromotionError` for a version that cannot be served, such as one whose
feature set is no longer in the code.

Every function returns the :class:`ChampionChange`; the caller records it in Dagster.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlflow.utils.validation import MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH

from resources.registry import ModelRegistry, RegistryError

CHAMPION = "champion"
PREVIOUS = "previous"
HISTORY_TAG = "champion_history"
HISTORY_KEEP = 50
LOCK_TIMEOUT_S = 30.0
_POLL_S = 0.01
_ANY: Any = object()  # expected_champion not given: no compare-and-swap

# Test hook, never set in production code: called with "read" once the state has been read
# (before any alias moves) and with "between" between the @previous and the @champion move.
# A delay or a barrier there makes race windows deterministic.
_pause: Callable[[str], None] | None = None


class PromotionError(RuntimeError):
    """A promotion or rollback was refused or failed. The aliases are as they were before,
    unless the message says that restoring them failed too (it then says what to set)."""


@dataclass(frozen=True)
class ChampionChange:
    """One change of the champion, as mirrored in ``champion_history``."""

    action: str  # "promote" | "rollback"
    version: str  # the new champion
    previous_version: str | None  # the champion it replaced (now @previous)
    reason: str
    actor: str
    approved_by: str | None
    gate: dict | None  # the gate decision summary passed in by the caller (verbatim)
    at: str  # ISO 8601, UTC

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


# ---------------------------------------------------------------------- public API


def promote(
    registry: ModelRegistry,
    version: str,
    *,
    actor: str,
    reason: str,
    lock_path: Path,
    gate: dict | None = None,
    approved_by: str | None = None,
    at: datetime | None = None,
    expected_champion: str | None = _ANY,
    lock_timeout_s: float = LOCK_TIMEOUT_S,
    servable: Callable[[str, dict], None] | None = None,
) -> ChampionChange:
    """Make ``version`` the champion; the old champion (if any) becomes ``@previous``.

    Raises PromotionError if ``version`` is already champion, does not exist or is not READY,
    if the champion is not ``expected_champion`` (when given; None means "no champion yet"),
    if the aliases disagree with the recorded history, or if the lock is not free in time."""
    wanted = str(version).strip()

    def choose(champion: str | None, previous: str | None) -> str:
        if wanted == champion:
            raise PromotionError(f"version {wanted} is already champion: nothing to promote")
        return wanted

    return _change(
        registry,
        action="promote",
        choose=choose,
        actor=actor,
        reason=reason,
        lock_path=lock_path,
        gate=gate,
        approved_by=approved_by,
        at=at,
        expected_champion=expected_champion,
        lock_timeout_s=lock_timeout_s,
        servable=servable,
    )


def rollback(
    registry: ModelRegistry,
    *,
    actor: str,
    reason: str,
    lock_path: Path,
    to: str | None = None,
    at: datetime | None = None,
    expected_champion: str | None = _ANY,
    lock_timeout_s: float = LOCK_TIMEOUT_S,
    servable: Callable[[str, dict], None] | None = None,
) -> ChampionChange:
    """Serve ``@previous`` again (or ``to``); the replaced champion becomes ``@previous``, so
    a second rollback toggles back. Raises PromotionError if there is no champion or no
    ``@previous`` to return to, if ``to`` is already champion, missing or not READY, and in
    the same cases as :func:`promote`."""

    def choose(champion: str | None, previous: str | None) -> str:
        if champion is None:
            raise PromotionError("there is no @champion to roll back from: promote a version")
        if to is None:
            if previous is None:
                raise PromotionError(
                    f"cannot roll back: version {champion} is champion and there is no "
                    "@previous version to return to (pass to=VERSION to choose one)"
                )
            return previous
        target = str(to).strip()
        if target == champion:
            raise PromotionError(f"version {target} is already champion: nothing to roll back")
        return target

    return _change(
        registry,
        action="rollback",
        choose=choose,
        actor=actor,
        reason=reason,
        lock_path=lock_path,
        gate=None,
        approved_by=None,
        at=at,
        expected_champion=expected_champion,
        lock_timeout_s=lock_timeout_s,
        servable=servable,
    )


def champion_history(registry: ModelRegistry) -> list[dict]:
    """The mirrored audit trail (the last :data:`HISTORY_KEEP` changes), oldest first."""
    text = registry.model_tags().get(HISTORY_TAG)
    if text is None:
        return []
    try:
        entries = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PromotionError(
            f"tag {HISTORY_TAG!r} of {registry.model_name!r} is not JSON ({exc}): it was "
            "edited outside Afterlaunch; the full history is in Dagster's event log"
        ) from exc
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise PromotionError(f"tag {HISTORY_TAG!r} of {registry.model_name!r} is not a list")
    return entries


def chain_problems(history: list[dict], *, champion: str | None, previous: str | None) -> list[str]:
    """What is inconsistent between the history and the aliases ([] when all is well).

    The history is a chain when each entry's ``previous_version`` is the version of the entry
    before it (the oldest kept entry is not checked: its predecessor was trimmed), and the
    aliases agree with the last entry (no history: no aliases)."""
    problems = []
    for before, entry in zip(history, history[1:], strict=False):
        if entry.get("previous_version") != before.get("version"):
            problems.append(
                f"{entry.get('action')} to version {entry.get('version')} at {entry.get('at')} "
                f"replaced version {entry.get('previous_version')}, but the change before it "
                f"made version {before.get('version')} champion"
            )
    problems += _tail_problems(history, champion=champion, previous=previous)
    return problems


def consistency_problems(registry: ModelRegistry) -> list[str]:
    """:func:`chain_problems` for the registry's current aliases and history."""
    return chain_problems(
        champion_history(registry),
        champion=registry.version_for_alias(CHAMPION),
        previous=registry.version_for_alias(PREVIOUS),
    )


# ---------------------------------------------------------------------- the one operation


def _tail_problems(history: list[dict], *, champion: str | None, previous: str | None) -> list:
    last = history[-1] if history else {}
    expected = (last.get("version"), last.get("previous_version"))
    if (champion, previous) == expected:
        return []
    recorded = (
        f"the last recorded change ({last.get('action')} at {last.get('at')}) left "
        f"@champion={expected[0]}, @previous={expected[1]}"
        if history
        else "no change is recorded, so neither alias should be set"
    )
    return [f"the registry has @champion={champion}, @previous={previous} but {recorded}"]


def _change(
    registry: ModelRegistry,
    *,
    action: str,
    choose: Callable[[str | None, str | None], str],
    actor: str,
    reason: str,
    lock_path: Path,
    gate: dict | None,
    approved_by: str | None,
    at: datetime | None,
    expected_champion: str | None,
    lock_timeout_s: float,
    servable: Callable[[str, dict], None] | None = None,
) -> ChampionChange:
    if not str(actor).strip() or not str(reason).strip():
        raise PromotionError(f"a {action} needs a non-empty actor and reason")
    if at is not None and at.tzinfo is None:
        raise PromotionError(f"`at` must be timezone-aware, got {at.isoformat()}")
    if gate is not None:
        _gate_json(gate)  # bad input is refused before anything moves

    with _exclusive(Path(lock_path), lock_timeout_s, holder=f"{action} by {actor}"):
        # Stamped inside the lock (unless the caller's clock gave a time): `at` orders changes.
        moment = (at or datetime.now(UTC)).astimezone(UTC)
        try:
            champion = registry.version_for_alias(CHAMPION)
            previous = registry.version_for_alias(PREVIOUS)
            history = champion_history(registry)
        except RegistryError as exc:
            raise PromotionError(f"{action}: reading the current champion failed: {exc}") from exc
        drift = _tail_problems(history, champion=champion, previous=previous)
        if drift:
            raise PromotionError(
                f"{action} refused: {drift[0]}. An alias was moved outside promote/rollback "
                "(MLflow UI or API) or a change was interrupted: set the aliases back to the "
                "recorded state in MLflow, then retry"
            )
        if expected_champion is not _ANY and expected_champion != champion:
            raise PromotionError(
                f"{action} refused: expected @champion={expected_champion} but it is "
                f"{champion} (changed since the decision was made)"
            )
        target = choose(champion, previous)
        try:
            tags = registry.version_tags(target)  # exists? (READY is checked by move_alias)
        except RegistryError as exc:
            raise PromotionError(f"{action} to version {target} refused: {exc}") from exc
        if servable is not None:
            servable(target, tags)
        change = ChampionChange(
            action=action,
            version=target,
            previous_version=champion,
            reason=str(reason),
            actor=str(actor),
            approved_by=approved_by,
            gate=gate,
            at=moment.isoformat(),
        )
        history_text = _history_text(history, change)
        if _pause is not None:
            _pause("read")

        _switch(registry, change, old_previous=previous, at=moment)
        try:
            _mirror(registry, change, history_text)
        except Exception as exc:
            restored = _restore(registry, change, old_previous=previous, at=moment)
            raise PromotionError(
                f"{action} to version {target}: recording the change failed ({exc}); {restored}"
            ) from exc
    return change


def _switch(
    registry: ModelRegistry, change: ChampionChange, *, old_previous: str | None, at: datetime
) -> None:
    """@previous first (both aliases then name the old champion: no gap), then @champion; if
    the second move fails, @previous is put back and the error raised."""
    note = f"{change.action} to version {change.version}: {change.reason}"
    if change.previous_version is not None:
        try:
            registry.move_alias(
                PREVIOUS, change.previous_version, actor=change.actor, reason=note, at=at
            )
        except RegistryError as exc:
            raise PromotionError(f"{change.action}: moving @previous failed: {exc}") from exc
    if _pause is not None:
        _pause("between")
    try:
        registry.move_alias(CHAMPION, change.version, actor=change.actor, reason=note, at=at)
    except RegistryError as exc:
        try:
            _put_alias(registry, PREVIOUS, old_previous, change, at)
        except RegistryError as restore_exc:
            raise PromotionError(
                f"{change.action} to version {change.version} failed ({exc}) and restoring "
                f"@previous to {old_previous} failed too ({restore_exc}): @champion is still "
                f"{change.previous_version}; set @previous to {old_previous} in MLflow"
            ) from exc
        raise PromotionError(
            f"{change.action} to version {change.version} failed, aliases unchanged: {exc}"
        ) from exc


def _restore(
    registry: ModelRegistry, change: ChampionChange, *, old_previous: str | None, at: datetime
) -> str:
    """Undo a completed :func:`_switch` (@champion first, then @previous). Says what it did."""
    try:
        _put_alias(registry, CHAMPION, change.previous_version, change, at)
        _put_alias(registry, PREVIOUS, old_previous, change, at)
    except RegistryError as exc:
        return (
            f"restoring the aliases failed too ({exc}): set @champion to "
            f"{change.previous_version} and @previous to {old_previous} in MLflow"
        )
    return f"the aliases were restored (@champion={change.previous_version})"


def _put_alias(
    registry: ModelRegistry, alias: str, version: str | None, change: ChampionChange, at: datetime
) -> None:
    if version is None:
        registry.delete_alias(alias)
    else:
        note = f"undoing the failed {change.action} to version {change.version}"
        registry.move_alias(alias, version, actor=change.actor, reason=note, at=at)


def _mirror(registry: ModelRegistry, change: ChampionChange, history_text: str) -> None:
    registry.set_version_tags(
        change.version,
        {
            "champion.promoted_at": change.at,
            "champion.promoted_by": change.actor,
            "champion.reason": change.reason,
            "champion.approved_by": change.approved_by or "",
            "champion.action": change.action,
        },
    )
    if change.previous_version is not None:
        registry.set_version_tags(change.previous_version, {"champion.demoted_at": change.at})
    registry.set_model_tag(HISTORY_TAG, history_text)  # last: the commit record


def _gate_json(gate: dict) -> str:
    if not isinstance(gate, dict):
        raise PromotionError(f"gate must be a dict (the decision summary), got {type(gate)}")
    try:
        return json.dumps(gate, sort_keys=True, allow_nan=False, default=_plain)
    except (TypeError, ValueError) as exc:
        raise PromotionError(f"the gate summary cannot be recorded as JSON: {exc}") from exc


def _plain(value: Any) -> Any:
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable: {value!r:.80}")


def _history_text(history: list[dict], change: ChampionChange) -> str:
    """The history with ``change`` appended: the last HISTORY_KEEP entries, fewer if MLflow's
    tag limit needs it. A change too large to record on its own is refused."""
    entry = json.loads(json.dumps(change.as_dict(), allow_nan=False, default=_plain))
    entries = [*history, entry][-HISTORY_KEEP:]
    while True:
        text = json.dumps(entries, allow_nan=False, separators=(",", ":"))
        if len(text) <= MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH:
            return text
        if len(entries) == 1:
            raise PromotionError(
                f"the {change.action} record is {len(text)} chars, over MLflow's tag limit "
                f"({MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH}): pass a shorter gate summary"
            )
        entries = entries[1:]


@contextmanager
def _exclusive(lock_path: Path, timeout_s: float, *, holder: str) -> Iterator[None]:
    """An exclusive flock on ``lock_path`` (created if missing), polled until ``timeout_s``.
    flock belongs to the open file, so threads of one process exclude each other too."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    held_by = lock_path.read_text(encoding="utf-8").strip() or "unknown"
                    raise PromotionError(
                        f"could not lock {lock_path} within {timeout_s:g} s: another promotion "
                        f"or rollback holds it ({held_by}); retry when it has finished"
                    ) from None
                time.sleep(_POLL_S)
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()}, {holder}, since {_now()}\n".encode(), 0)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _now() -> str:
    # Only labels the lock file for a human; never used in a decision.
    return datetime.now(UTC).isoformat(timespec="seconds")
