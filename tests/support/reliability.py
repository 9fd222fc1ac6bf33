"""The reliability suite's figures: faults injected and survived, bad inputs tried, secrets
found in outputs. Tests record each trial; the session prints the totals at the end.

xdist workers are separate processes, so each trial is one JSON line appended to a file the
controller names (in the environment, inherited by the workers) and reads back at the end.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path

ENV = "AFTERLAUNCH_RELIABILITY_LOG"
KINDS = {
    "fault": "faults injected (kill -9 mid-change)",
    "bad_input": "bad inputs tried",
    "secret_scan": "outputs scanned for secrets",
}


def record(kind: str, name: str, ok: bool, **figures) -> None:
    """One trial: a fault survived (consistent after at most one repair), a bad input refused
    with a named error, a scan that found no secret (``hits`` = how many it found)."""
    if kind not in KINDS:
        raise ValueError(f"unknown reliability kind {kind!r}: one of {sorted(KINDS)}")
    path = os.environ.get(ENV)
    if not path:
        return  # a test run outside the session hook (a single file run by hand)
    line = json.dumps({"kind": kind, "name": name, "ok": bool(ok), **figures})
    with open(path, "a", encoding="utf-8") as out:
        out.write(line + "\n")


def summary(path: Path) -> list[str]:
    if not path.exists():
        return []
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    hits = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        totals[entry["kind"]][0] += 1
        totals[entry["kind"]][1] += entry["ok"]
        hits += int(entry.get("hits", 0))
    lines = []
    for kind, label in KINDS.items():
        if kind in totals:
            tried, ok = totals[kind]
            lines.append(f"{label}: {tried}, handled: {ok}")
    if "secret_scan" in totals:
        lines.append(f"secrets found in outputs: {hits}")
    return lines
