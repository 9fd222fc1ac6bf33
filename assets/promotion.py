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
between the two alias moves. Every operation therefore runs read-check-write under the change
lock (resources/change_lock.py): when the registry's store is Postgres, a transaction-scoped
advisory lock there (it serializes hosts); otherwise an exclusive ``fcntl.flock`` on
``lock_path`` (one file beside the MLflow store; threads and processes of one machine). A lock
that is not free within ``lock_timeout_s`` raises :class:`PromotionError` naming it and its
holder. Inside the lock the aliases are read afresh and compared with the last entry of the
history; a mismatch (an alias moved in the MLflow UI, or a crash mid-change) is refused with
both states named, rather than built upon. ``expected_champion`` adds a compare-and-swap for
callers that decided against a particular champion (a gate compares the challenger with *that*
model).

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

**Crash-safe.** A process killed between two of those writes (or a registry failing at that
moment) would leave the aliases ahead of the records, and scoring reads ``@champion``. So each
change first appends an *intent* to a log beside the lock (``<lock>.intents.jsonl``, fsynced:
from, to, reason, actor, the state it starts from) and closes it once the registry agrees again.
:func:`repair` (run by ``afterlaunch repair``, by the next promote or rollback before it reads
the state, and by a sensor) resolves an open intent under the lock: if ``@champion`` already
names the new version, scoring may have served it, so the change is completed (tags and history
written); otherwise it is reverted (``@previous`` put back). Dagster's side (the `champion`
materialization and its snapshot) is then recorded by `assets.champion_repair`.

Every function returns the :class:`ChampionChange`; the caller records it in Dagster.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlflow.utils.validation import MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH

from assets.promotion_intents import Intent, IntentLog, intent_log_path, new_intent_id
from resources.change_lock import ChangeLockBusy, change_lock, lock_held, postgres_url
from resources.registry import ModelRegistry, RegistryError

log = logging.getLogger(__name__)

CHAMPION = "champion"
PREVIOUS = "previous"
HISTORY_TAG = "champion_history"
HISTORY_KEEP = 50
LOCK_TIMEOUT_S = 30.0
MLFLOW_URI_ENV = "AFTERLAUNCH_MLFLOW_URI"
_ANY: Any = object()  # expected_champion not given: no compare-and-swap

# Test hook, never set in production code: called at each step of a change, in order: "read"
# (state read, nothing written), "intent" (intent recorded), "between" (@previous moved),
# "moved" (@champion moved), "tagged" (version tags written), "committed" (history written,
# intent not yet closed), "closed" (intent closed; the caller has not recorded the change
# yet). A delay or a barrier there makes race windows deterministic; a pause followed by
# kill -9 is a crash at that step.
_pause: Callable[[str], None] | None = None
STEPS = ("read", "intent", "between", "moved", "tagged", "committed", "closed")


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
    id: str | None = None  # the intent that planned it (None: recorded before intents existed)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Resolution:
    """What :func:`repair` did with an interrupted change."""

    intent: Intent
    outcome: str  # "completed" (the change is now fully on record) | "reverted"
    change: ChampionChange | None  # the completed change (None when reverted)
    said: str  # one sentence for a person


OnRepair = Callable[[Resolution], None]


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
    on_repair: OnRepair | None = None,
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
        on_repair=on_repair,
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
    on_repair: OnRepair | None = None,
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
        on_repair=on_repair,
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
    on_repair: OnRepair | None = None,
) -> ChampionChange:
    if not str(actor).strip() or not str(reason).strip():
        raise PromotionError(f"a {action} needs a non-empty actor and reason")
    if at is not None and at.tzinfo is None:
        raise PromotionError(f"`at` must be timezone-aware, got {at.isoformat()}")
    if gate is not None:
        _gate_json(gate)  # bad input is refused before anything moves

    intents = IntentLog(intent_log_path(lock_path))
    with _exclusive(
        Path(lock_path), lock_timeout_s, holder=f"{action} by {actor}", registry=registry
    ):
        # Stamped inside the lock (unless the caller's clock gave a time): `at` orders changes.
        moment = (at or datetime.now(UTC)).astimezone(UTC)
        # A change interrupted earlier is resolved first: building on it would be refused.
        resolution = _resolve(registry, intents, moment)
        if resolution is not None and on_repair is not None:
            on_repair(resolution)
        champion, previous, history = _state(registry, action)
        drift = _tail_problems(history, champion=champion, previous=previous)
        if drift:
            raise PromotionError(
                f"{action} refused: {drift[0]}. An alias was moved outside promote/rollback "
                "(MLflow UI or API): set the aliases back to the recorded state "
                "(`afterlaunch revert-aliases`), then retry"
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
            id=new_intent_id(),
        )
        history_text = _history_text(history, change)
        _step("read")

        intent = Intent(change.id, change.as_dict(), champion, previous, len(history))
        intents.record_intent(intent)
        _step("intent")
        try:
            _switch(registry, change, old_previous=previous, at=moment)
        except PromotionError as exc:
            _close_if_restored(registry, intents, intent, moment, str(exc))
            raise
        _step("moved")
        try:
            _mirror(registry, change, history_text)
        except Exception as exc:
            restored = _restore(registry, change, old_previous=previous, at=moment)
            _close_if_restored(registry, intents, intent, moment, f"recording failed: {exc}")
            raise PromotionError(
                f"{action} to version {target}: recording the change failed ({exc}); {restored}"
            ) from exc
        _step("committed")
        intents.close(change.id, "completed", at=moment.isoformat(), note=change.reason)
        _step("closed")
    return change


def repair(
    registry: ModelRegistry,
    *,
    lock_path: Path,
    at: datetime | None = None,
    lock_timeout_s: float = LOCK_TIMEOUT_S,
) -> Resolution | None:
    """Resolve the newest interrupted change (None when there is none): under the lock, so a
    change still running is waited for, never repaired under its feet."""
    intents = IntentLog(intent_log_path(lock_path))
    if intents.open_intent() is None:
        return None
    with _exclusive(Path(lock_path), lock_timeout_s, holder="repair", registry=registry):
        return _resolve(registry, intents, (at or datetime.now(UTC)).astimezone(UTC))


def open_intent(lock_path: Path) -> Intent | None:
    """The interrupted change waiting for :func:`repair`, if any (read without the lock: a
    change in progress shows here too)."""
    return IntentLog(intent_log_path(lock_path)).open_intent()


def last_completed(lock_path: Path) -> Intent | None:
    return IntentLog(intent_log_path(lock_path)).last_completed()


def change_in_progress(lock_path: Path, registry: ModelRegistry | None = None) -> bool:
    """True while a promote, rollback or repair holds the lock (its intent is legitimately
    open then)."""
    return lock_held(lock_path, lock_url(registry), scope=_scope(lock_path))


def _step(point: str) -> None:
    if _pause is not None:
        _pause(point)


def _state(registry: ModelRegistry, action: str) -> tuple[str | None, str | None, list[dict]]:
    try:
        return (
            registry.version_for_alias(CHAMPION),
            registry.version_for_alias(PREVIOUS),
            champion_history(registry),
        )
    except RegistryError as exc:
        raise PromotionError(f"{action}: reading the current champion failed: {exc}") from exc


def _close_if_restored(
    registry: ModelRegistry, intents: IntentLog, intent: Intent, at: datetime, note: str
) -> None:
    """A failed change closes its intent as reverted only if the aliases are back where they
    were; otherwise the intent stays open for :func:`repair`."""
    try:
        back = (registry.version_for_alias(CHAMPION), registry.version_for_alias(PREVIOUS)) == (
            intent.champion_before,
            intent.previous_before,
        )
    except RegistryError as exc:
        # Unknown state: the intent stays open, so repair reads the aliases again later.
        log.warning("%s: the aliases could not be read back (%s); left for repair", note, exc)
        back = False
    if back:
        intents.close(intent.id, "reverted", at=at.isoformat(), note=note)


def _resolve(registry: ModelRegistry, intents: IntentLog, at: datetime) -> Resolution | None:
    """Complete or revert the open intent so that the aliases and the MLflow history agree.

    Rule: if ``@champion`` already names the new version, scoring may have served it, so the
    change is completed (history and tags written: the record says what served). If it still
    names the old champion, the change never took effect and is reverted (``@previous`` put
    back). Anything else was moved by someone else and is refused, naming both states."""
    intent = intents.open_intent()
    if intent is None:
        return None
    change = ChampionChange(**intent.change)
    champion, previous, history = _state(registry, "repair")
    recorded = bool(history) and history[-1].get("id") == intent.id
    if recorded or (champion == change.version and champion != intent.champion_before):
        if previous != change.previous_version:
            _put_alias(registry, PREVIOUS, change.previous_version, change, at)
        if champion != change.version:  # recorded, then moved by hand: not ours to guess
            raise PromotionError(
                f"cannot repair {intent.describe()}: it is recorded but @champion is {champion}"
            )
        if recorded:
            _mirror_tags(registry, change)
        else:
            _mirror(registry, change, _history_text(history, change))
        outcome, said = (
            "completed",
            (
                f"completed the interrupted {intent.describe()}: @champion={change.version} was "
                "already serving, so the change is now on record"
            ),
        )
    elif champion == intent.champion_before:
        if previous != intent.previous_before:
            _put_alias(registry, PREVIOUS, intent.previous_before, change, at)
        outcome, said = (
            "reverted",
            (
                f"reverted the interrupted {intent.describe()}: @champion had not moved, "
                f"@previous is {intent.previous_before} again"
            ),
        )
    else:
        raise PromotionError(
            f"cannot repair {intent.describe()}: @champion is {champion}, neither the old "
            f"champion nor the new one; an alias was moved outside Afterlaunch: set the aliases "
            "in MLflow, then run repair again"
        )
    intents.close(intent.id, outcome, at=at.isoformat(), note=said)
    return Resolution(intent, outcome, change if outcome == "completed" else None, said)


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
    _step("between")
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
    _mirror_tags(registry, change)
    _step("tagged")
    registry.set_model_tag(HISTORY_TAG, history_text)  # last: the commit record


def _mirror_tags(registry: ModelRegistry, change: ChampionChange) -> None:
    """The version tags (idempotent: a repair writes them again)."""
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


def lock_url(registry: ModelRegistry | None) -> str | None:
    """The Postgres URL the change lock is taken on: the registry's own store when it is
    Postgres (resources/change_lock.py says why), else None (the file lock). Without a
    registry (a sensor given none), the store ``$AFTERLAUNCH_MLFLOW_URI`` names, as the code
    location's registry resource reads it."""
    if registry is None:
        return postgres_url(os.environ.get(MLFLOW_URI_ENV))
    return postgres_url(registry.registry_uri or registry.tracking_uri)


@contextmanager
def _exclusive(
    lock_path: Path, timeout_s: float, *, holder: str, registry: ModelRegistry | None = None
) -> Iterator[None]:
    """The change lock (resources/change_lock.py): Postgres advisory lock of the registered
    model when the registry is on Postgres, else the flock on ``lock_path``."""
    url, scope = lock_url(registry), _scope(lock_path)
    try:
        with change_lock(lock_path, url, holder, timeout_s, scope=scope):
            yield
    except ChangeLockBusy as exc:
        raise PromotionError(str(exc)) from exc


def _scope(lock_path: Path) -> str:
    # The workflow's folder (<home>/workflows/<name>/registry.lock): one lock per workflow on
    # every host, whichever process (with or without a registry at hand) asks.
    return Path(lock_path).parent.name
