"""The challenger queue: a challenger that passes the gate while another version's rollout runs
waits its turn instead of going stale.

A verdict is bound to the champion it was judged against (`checks.verdicts`). Before the queue,
a second challenger that passed while a rollout ran was judged against a champion the rollout
then replaced (or the rollout sensor only ever looked at the newest evaluation), so it was
dropped without a word. Now the rollout sensor records it here (`queued`: which version, its
verdict, since when, behind which rollout); when no rollout runs any more, the oldest open
entry is re-evaluated against the champion serving then (`reevaluating`), and the new verdict
either starts its rollout (`starting`, then `rolled_out` once the rollout record names it) or
closes the entry (`rejected`, with the verdict and its reasons).

The queue is an append-only JSON-lines file in the workflow's folder of the home: every step
is one line, never edited, and an entry's state is the fold of its lines. Each entry names
the evaluations (by their snapshot hash) it consumed, so one evaluation is queued or acted on
once. Plain Python, no Dagster: the sensor turns the moves into run requests.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from assets.names import EVALUATION, ROLLOUT
from assets.serving import current_rollout
from checks.rollout import is_active
from resources.snapshots import SnapshotStore

QUEUE_FILE = "challenger_queue.jsonl"
OPEN = ("queued", "reevaluating", "starting")
CLOSED = ("rolled_out", "rejected", "failed")
EVENTS = (*OPEN, *CLOSED)


class QueueCorrupt(RuntimeError):
    """The queue file cannot be read as it was written (named with the line)."""


def queue_path(workflow_root: str | Path) -> Path:
    return Path(workflow_root) / QUEUE_FILE


@dataclass
class Entry:
    """One challenger's stay in the queue: the fold of its events, oldest first."""

    id: str
    version: str
    state: str
    since: str  # when it entered the queue
    events: list[dict] = field(default_factory=list)

    @property
    def last(self) -> dict:
        return self.events[-1]

    @property
    def consumed(self) -> set[str]:
        return {e["evaluation"] for e in self.events if e.get("evaluation")}

    @property
    def is_open(self) -> bool:
        return self.state in OPEN


class ChallengerQueue:
    """The queue file of one workflow; `append` writes one whole line per step."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def events(self) -> list[dict]:
        if not self.path.exists():
            return []
        found = []
        for number, line in enumerate(self.path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                event = json.loads(line)
            except ValueError as err:
                raise QueueCorrupt(
                    f"the challenger queue {self.path} is corrupt at line {number}: {err}"
                ) from err
            if event.get("event") not in EVENTS or not event.get("entry"):
                raise QueueCorrupt(
                    f"the challenger queue {self.path} line {number} is not a queue event: "
                    f"{line[:200]}"
                )
            found.append(event)
        return found

    def entries(self) -> list[Entry]:
        """Every entry, in the order they were queued."""
        entries: dict[str, Entry] = {}
        for event in self.events():
            entry = entries.get(event["entry"])
            if entry is None:
                if event["event"] != "queued":
                    raise QueueCorrupt(
                        f"the challenger queue {self.path}: entry {event['entry']} has "
                        f"{event['event']!r} before it was queued"
                    )
                entry = entries[event["entry"]] = Entry(
                    event["entry"], event["version"], "queued", event["at"]
                )
            elif not entry.is_open:
                raise QueueCorrupt(
                    f"the challenger queue {self.path}: entry {entry.id} has "
                    f"{event['event']!r} after it was {entry.state}"
                )
            entry.state = event["event"]
            entry.events.append(event)
        return list(entries.values())

    def open_entries(self) -> list[Entry]:
        return [e for e in self.entries() if e.is_open]

    def append(self, entry: str, event: str, version: str, at: datetime, said: str, **details):
        if event not in EVENTS:
            raise ValueError(f"unknown queue event {event!r}: one of {', '.join(EVENTS)}")
        line = {
            "entry": entry,
            "event": event,
            "version": version,
            "at": at.isoformat(),
            "said": said,
            **details,
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One write() on an O_APPEND descriptor, fsynced: a whole line or none, kept.
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (json.dumps(line, sort_keys=True, default=str) + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        return line


# ---------------------------------------------------------------------- the judgement


@dataclass(frozen=True)
class Evaluation:
    """One stored evaluation record: its place in the store's append-only version log and
    its snapshot hash make its identity in the queue (two evaluations may hold the same
    content)."""

    index: int
    digest: str
    record: dict

    @property
    def key(self) -> str:
        return f"{self.index}-{self.digest[:12]}"

    @property
    def version(self) -> str:
        return self.record["challenger_version"]

    @property
    def day(self) -> date:
        return datetime.fromisoformat(self.record["evaluated_at"]).date()


@dataclass(frozen=True)
class Move:
    """What the queue asks for now: `reevaluate` (version against `champion`), `start` (a
    rollout of version on its fresh verdict), `wait`, or `none` (the queue is empty)."""

    action: str
    reason: str
    entry: Entry | None = None
    champion: str | None = None
    evaluation: Evaluation | None = None


def to_queue(
    evaluations: Sequence[Evaluation],
    rollouts: Sequence[dict],
    entries: Sequence[Entry],
    champion: str | None,
) -> list[tuple[Evaluation, str]]:
    """The passing evaluations to queue now, each with what it waits behind.

    `evaluations`: every stored evaluation, oldest first; `rollouts`: the last record of every
    rollout, oldest first. An evaluation is queued when its verdict is `promote`, no entry has
    consumed it, its version is neither the champion nor already in the queue nor rolled out
    since, and it was made while something else held the way: a rollout of another version
    ran on its day, or the queue held another open entry then. One the rollout sensor takes
    as it is (nothing runs or waits now, it is the newest evaluation and was judged against
    the champion serving now) is left to it: its verdict is current."""
    consumed = set().union(*(e.consumed for e in entries)) if entries else set()
    waiting = {e.version for e in entries if e.is_open}
    free = not waiting and not any(is_active(r) for r in rollouts)
    newest = evaluations[-1].key if evaluations else None
    found = []
    for ev in evaluations:
        version = ev.version
        if ev.record.get("verdict") != "promote" or ev.key in consumed:
            continue
        if version == champion or version in waiting:
            continue
        if not ev.record.get("evaluated_at"):
            continue  # an undated verdict is stale anyway (checks.verdicts); never acted on
        if any(r["version"] == version and _d(r["started"]) >= ev.day for r in rollouts):
            continue  # the rollout sensor started it from this verdict
        if free and ev.key == newest and ev.record.get("champion_version") == champion:
            continue
        behind = _blocker(ev, rollouts, entries)
        if behind is not None:
            found.append((ev, behind))
            waiting.add(version)
    return found


def _blocker(ev: Evaluation, rollouts: Sequence[dict], entries: Sequence[Entry]) -> str | None:
    for r in reversed(rollouts):
        if r["version"] == ev.version or _d(r["started"]) > ev.day:
            continue
        ended = r.get("ended")
        if is_active(r) or (ended and _d(ended) >= ev.day):
            return f"rollout {r['id']}"
    for e in entries:
        if e.version == ev.version:
            continue
        closed = None if e.is_open else e.last["at"]
        if e.since <= ev.record["evaluated_at"] and (
            closed is None or closed >= ev.record["evaluated_at"]
        ):
            return f"queued version {e.version}"
    return None


def next_move(
    entries: Sequence[Entry],
    evaluations: Sequence[Evaluation],
    champion: str | None,
    rollout: dict | None,
    failed_run: str | None = None,
) -> Move:
    """The head's next step, when no rollout runs (`rollout`: the latest record).
    `failed_run`: the id of the head's last requested run if it failed (None: it has not, or
    has not run yet): the entry is then closed as `failed`, never left waiting on it."""
    if is_active(rollout):
        return Move("wait", f"rollout {rollout['id']} is in progress")
    heads = [e for e in entries if e.is_open]
    if not heads:
        return Move("none", "the challenger queue is empty")
    head = heads[0]
    if failed_run is not None and head.state in ("reevaluating", "starting"):
        step = "re-evaluation" if head.state == "reevaluating" else "rollout start"
        return Move(
            "fail",
            f"version {head.version}'s {step} run {failed_run} failed (see it in the Dagster "
            "UI): it leaves the queue; evaluate it again by hand once the cause is fixed",
            head,
            champion,
        )
    if head.state == "queued":
        return Move(
            "reevaluate",
            f"version {head.version} waited behind {head.last['behind']}; the way is free: "
            f"re-evaluate it against champion {champion}",
            head,
            champion,
        )
    if head.state == "reevaluating":
        seen = int(head.last["evaluations_seen"])
        fresh = [ev for ev in evaluations if ev.index >= seen and ev.version == head.version]
        if not fresh:
            return Move(
                "wait",
                f"version {head.version} is being re-evaluated against champion "
                f"{head.last['against']} since {head.last['at']}",
                head,
            )
        latest = fresh[-1]
        judged = latest.record.get("champion_version")
        if judged != champion:
            return Move(
                "reevaluate",
                f"version {head.version} was re-judged against champion {judged}, the champion "
                f"is now {champion}: re-evaluate it again",
                head,
                champion,
                latest,  # consumed: a verdict against a champion gone is never acted on
            )
        verdict = latest.record["verdict"]
        if verdict == "promote":
            return Move(
                "start",
                f"version {head.version} passed the gate again against champion {champion}",
                head,
                champion,
                latest,
            )
        return Move(
            "reject",
            f"version {head.version} re-evaluated against champion {champion}: verdict "
            f"{verdict} ({'; '.join(latest.record.get('reasons') or [])[:400]})",
            head,
            champion,
            latest,
        )
    # starting: the rollout record closes it (see `started`); until then the request stands.
    return Move(
        "start",
        f"version {head.version}'s rollout was requested at {head.last['at']}",
        head,
        champion,
    )


def started(entries: Sequence[Entry], rollout: dict | None) -> Entry | None:
    """The `starting` entry the latest rollout record now names, if any."""
    if rollout is None:
        return None
    for entry in entries:
        if (
            entry.state == "starting"
            and rollout["version"] == entry.version
            and rollout["started"] >= entry.last["at"][:10]
        ):
            return entry
    return None


def lines(entries: Sequence[Entry]) -> list[str]:
    """The queue for a person: each entry and every step it went through."""
    if not entries:
        return ["the challenger queue is empty: no challenger ever waited behind a rollout"]
    out = []
    for entry in entries:
        first = entry.events[0]
        out.append(
            f"version {entry.version}: {entry.state} (queued {entry.since} behind "
            f"{first['behind']}, verdict {first['verdict']} against champion "
            f"{first['judged_against']})"
        )
        for event in entry.events:
            out.append(f"  {event['at']} {event['event']:<12} {event['said']}")
    return out


def entry_id(ev: Evaluation) -> str:
    return f"v{ev.version}-{ev.key}"


# ---------------------------------------------------------------------- reading the records


def stored_evaluations(store: SnapshotStore) -> list[Evaluation]:
    """Every evaluation the store has recorded, oldest first."""
    return [
        Evaluation(i, entry["content_hash"], store.read(EVALUATION, None, entry["content_hash"]))
        for i, entry in enumerate(store.versions(EVALUATION, None))
    ]


def rollout_records(store: SnapshotStore) -> list[dict]:
    """The last record of every rollout, in the order they started."""
    latest: dict[str, dict] = {}
    for entry in store.versions(ROLLOUT, None):
        record = store.read(ROLLOUT, None, entry["content_hash"])
        latest[record["id"]] = record  # a dict keeps the first insertion's place
    return list(latest.values())


def sync(queue: ChallengerQueue, store: SnapshotStore, champion: str | None, now: datetime):
    """Bring the queue up to the records: close the entry whose rollout has started, queue
    every passing verdict that something held up. Returns the entries after."""
    entries = queue.entries()
    record = current_rollout(store)
    done = started(entries, record)
    if done is not None:
        queue.append(
            done.id,
            "rolled_out",
            done.version,
            now,
            f"rollout {record['id']} started against champion {record['champion_version']}",
            rollout=record["id"],
        )
        entries = queue.entries()
    held = to_queue(stored_evaluations(store), rollout_records(store), entries, champion)
    for ev, behind in held:
        judged = ev.record.get("champion_version")
        queue.append(
            entry_id(ev),
            "queued",
            ev.version,
            now,
            f"passed the gate at {ev.record['evaluated_at']} against champion {judged} while "
            f"{behind} held the way: waits its turn",
            evaluation=ev.key,
            verdict=ev.record["verdict"],
            judged_against=judged,
            evaluated_at=ev.record["evaluated_at"],
            behind=behind,
        )
    return queue.entries()


def _d(text: str) -> date:
    return date.fromisoformat(str(text)[:10])
