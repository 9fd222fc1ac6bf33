"""The hash chain of the agent audit log: each row's hash covers its content and the hash of
the row before it, so an edited, deleted or reordered row shows. Plain functions, no I/O: the
store (resources/audit_log.py) computes hashes with :func:`row_hash` on append and hands the
rows it reads to :func:`verify_chain`.

What the chain alone cannot show is the loss of the newest rows (the remaining rows still chain
perfectly) or a rewrite of every row from some point on with recomputed hashes. Anchors close
that gap: a (seq, hash) pair recorded elsewhere (the daily agent_actions asset records the head
as Dagster metadata) that the table must still reach, unchanged.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from checks.action_classes import canonical_json

GENESIS = "0" * 64

# Every column of `agent_audit`, in table order. The hash covers all of them but `hash`.
COLUMNS = (
    "seq",
    "at",
    "workflow",
    "request_id",
    "agent_id",
    "agent_version",
    "tool",
    "action_class",
    "input",
    "digest",
    "output",
    "error",
    "context",
    "disposition",
    "actor",
    "reason",
    "deadline",
    "prev_hash",
    "hash",
)
HASHED_COLUMNS = tuple(c for c in COLUMNS if c != "hash")
FINDING_KINDS = ("edited", "deleted", "reordered", "truncated")


@dataclass(frozen=True)
class ChainFinding:
    """One sign of tampering: its kind (see FINDING_KINDS), the row it is about, a sentence."""

    kind: str
    seq: int
    detail: str


def row_hash(prev_hash: str, fields: Mapping[str, Any]) -> str:
    """SHA-256 of `prev_hash` followed by the canonical JSON of every column but `hash` (with
    `seq`, and `prev_hash` taken from the argument). Columns are the stored values (JSON text
    for input/context/output), so a hash can be checked from the raw table."""
    missing = [c for c in HASHED_COLUMNS if c != "prev_hash" and c not in fields]
    if missing:
        raise ValueError(f"cannot hash an audit row without its columns {', '.join(missing)}")
    payload = {c: fields[c] for c in HASHED_COLUMNS if c != "prev_hash"}
    payload["prev_hash"] = prev_hash
    return hashlib.sha256((prev_hash + canonical_json(payload)).encode()).hexdigest()


def describe(row: Mapping[str, Any]) -> str:
    """How a finding names a row: its seq, time, tool and request."""
    return f"row {row['seq']} (at {row['at']}, tool {row['tool']}, request {row['request_id']})"


def verify_chain(
    rows: Sequence[Mapping[str, Any]], anchors: Iterable[tuple[int, str]] = ()
) -> list[ChainFinding]:
    """Every sign of tampering in `rows` (as read, ordered by seq), by seq; [] when intact.

    * `edited`: a row whose content no longer gives its hash, a row rewritten with a recomputed
      hash (the next row chained to another hash), or an anchored row whose hash changed;
    * `reordered`: an intact row stored under another seq than the one its chain gives it
      (seq values or contents swapped), or a row chained to a present row that is not its
      predecessor;
    * `deleted`: a gap in seq where the next row chains to a row no longer in the table;
    * `truncated`: an anchor past the table's last row (the newest rows are gone).
    """
    rows = list(rows)
    by_hash = {row["hash"]: row for row in rows}
    chained = _chained_positions(rows, by_hash)
    findings: list[ChainFinding] = []
    flagged: set[int] = set()  # seqs already explained: their neighbours' links are not news

    for row in rows:
        if row_hash(row["prev_hash"], row) == row["hash"]:
            continue
        seq = row["seq"]
        belongs = chained.get(seq)
        if (
            belongs is not None
            and belongs != seq
            and row_hash(row["prev_hash"], {**row, "seq": belongs}) == row["hash"]
        ):
            findings.append(
                ChainFinding(
                    "reordered",
                    seq,
                    f"{describe(row)} is intact but stored out of order: its chain puts it at "
                    f"seq {belongs}",
                )
            )
        else:
            findings.append(
                ChainFinding(
                    "edited",
                    seq,
                    f"{describe(row)} was edited: its content no longer matches its hash",
                )
            )
        flagged.add(seq)

    previous: Mapping[str, Any] | None = None
    for row in rows:
        findings += _link_findings(previous, row, by_hash, flagged)
        previous = row

    findings += _anchor_findings(rows, anchors, flagged, findings)
    return sorted(findings, key=lambda f: (f.seq, FINDING_KINDS.index(f.kind)))


def _chained_positions(
    rows: list[Mapping[str, Any]], by_hash: dict[str, Mapping[str, Any]]
) -> dict[int, int]:
    """For each stored seq, the seq its row's chain gives it (1 after GENESIS, one more than
    the row whose hash it carries), where the chain reaches GENESIS through present rows."""
    positions: dict[int, int] = {}
    for start in rows:
        path: list[Mapping[str, Any]] = []
        seen: set[int] = set()
        row: Mapping[str, Any] | None = start
        base: int | None = None
        while row is not None:
            if row["seq"] in positions:
                base = positions[row["seq"]]
                break
            if row["seq"] in seen:  # a loop of forged hashes: no position
                break
            seen.add(row["seq"])
            path.append(row)
            if row["prev_hash"] == GENESIS:
                base = 0
                break
            row = by_hash.get(row["prev_hash"])
        if base is None:
            continue
        for offset, walked in enumerate(reversed(path), start=1):
            positions[walked["seq"]] = base + offset
    return positions


def _link_findings(
    previous: Mapping[str, Any] | None,
    row: Mapping[str, Any],
    by_hash: dict[str, Mapping[str, Any]],
    flagged: set[int],
) -> list[ChainFinding]:
    seq = row["seq"]
    expected_seq = previous["seq"] + 1 if previous else 1
    expected_prev = previous["hash"] if previous else GENESIS
    if row["prev_hash"] == expected_prev and seq == expected_seq:
        return []
    if seq in flagged or (previous is not None and previous["seq"] in flagged):
        return []
    after = f"the row before is {describe(previous)}" if previous else "it is the first row"
    if seq > expected_seq and row["prev_hash"] not in by_hash:
        gone = (
            f"row {expected_seq} is"
            if seq == expected_seq + 1
            else f"rows {expected_seq} to {seq - 1} are"
        )
        return [
            ChainFinding(
                "deleted",
                expected_seq,
                f"{gone} missing: {describe(row)} chains to a row no longer in the table; {after}",
            )
        ]
    if row["prev_hash"] in by_hash:
        chained_to = by_hash[row["prev_hash"]]
        return [
            ChainFinding(
                "reordered",
                seq,
                f"{describe(row)} is out of order: it chains to {describe(chained_to)}, not "
                f"to its predecessor; {after}",
            )
        ]
    if previous is not None:
        # Both rows are intact on their own, yet the link between them is broken: the earlier
        # one was rewritten and its hash recomputed.
        return [
            ChainFinding(
                "edited",
                previous["seq"],
                f"{describe(previous)} was rewritten with a recomputed hash: the next row, "
                f"seq {seq}, chained to a different hash",
            )
        ]
    return [
        ChainFinding(
            "deleted",
            1,
            f"the first rows are missing: {describe(row)} chains to a row no longer in the table",
        )
    ]


def _anchor_findings(
    rows: list[Mapping[str, Any]],
    anchors: Iterable[tuple[int, str]],
    flagged: set[int],
    found: list[ChainFinding],
) -> list[ChainFinding]:
    by_seq = {row["seq"]: row for row in rows}
    last = rows[-1]["seq"] if rows else 0
    findings = []
    for seq, expected in anchors:
        seq = int(seq)
        row = by_seq.get(seq)
        if row is None and seq > last:
            end = f"ends at seq {last}" if rows else "is empty"
            findings.append(
                ChainFinding(
                    "truncated",
                    seq,
                    f"an anchor names row {seq} (hash {expected[:12]}...) but the table {end}: "
                    f"rows {last + 1} to {seq} were removed",
                )
            )
        elif row is None:
            # A gap already reported as deleted (it starts after the last row before `seq`).
            gap_start = max((s for s in by_seq if s < seq), default=0) + 1
            if not any(f.kind == "deleted" and f.seq == gap_start for f in found):
                findings.append(
                    ChainFinding(
                        "deleted",
                        seq,
                        f"anchored row {seq} (hash {expected[:12]}...) is missing from the table",
                    )
                )
        elif row["hash"] != expected and seq not in flagged:
            findings.append(
                ChainFinding(
                    "edited",
                    seq,
                    f"{describe(row)} is not the row anchored at seq {seq}: its hash changed "
                    f"from {expected[:12]}... to {row['hash'][:12]}...",
                )
            )
    return findings
