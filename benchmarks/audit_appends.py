"""How fast the agent audit log takes appends, on SQLite and on Postgres side by side, and what
mirroring it into MLflow traces costs.

Each append is what the approval gate does: one transaction holding the append lock (SQLite
`BEGIN IMMEDIATE`, Postgres advisory lock) that reads the head and the request's rows, runs a
check on them, hashes and inserts. Requests have three rows (pending, approved, executed), as
an irreversible action that a person approved.

- *one writer*: `--appends` appends from one process, best of `--rounds` (SQLite and Postgres
  alternate, so both see the same machine load);
- *two writers*: two processes appending `--appends` / 2 each at once (two approvers answering
  on two processes), total appends per second; the chain is verified afterwards;
- *verify*: reading and verifying the whole chain;
- *mirror*: `--requests` requests (three rows each) mirrored into a fresh MLflow SQLite store,
  and the same call again (nothing left to write: the idempotence lookups alone).

    .venv/bin/python benchmarks/audit_appends.py [--appends 2000] [--rounds 3] [--requests 100]
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

from _common import machine, today

from resources.audit_log import AuditEntry, AuditLog
from resources.trace_mirror import mirror_rows

log = logging.getLogger("benchmarks.audit_appends")
DISPOSITIONS = ("pending", "approved", "executed")
DEMO_REQUESTS_PER_DAY, DEMO_DAYS = 40, 55


def entry(n: int, worker: int = 0) -> AuditEntry:
    request, step = divmod(n, len(DISPOSITIONS))
    return AuditEntry(
        at=f"2026-03-01T{(n // 3600) % 24:02d}:{(n // 60) % 60:02d}:{n % 60:02d}+00:00",
        workflow="ticket_escalation",
        request_id=f"req-{worker}-{request}",
        agent_id="assistant",
        agent_version="prompt@3",
        tool="send_reply",
        action_class="irreversible",
        arguments={"ticket_id": f"t-{request}", "text": "Thanks for your patience."},
        context={"entity_id": f"t-{request}", "score": 0.87, "serving_version": "4"},
        disposition=DISPOSITIONS[step],
        actor="dana" if step == 1 else "assistant",
    )


def undecided_once(history) -> None:
    """The gate's kind of check: a request is decided at most once."""
    if sum(r.disposition == "approved" for r in history) > 1:
        raise RuntimeError("decided twice")


def append_many(url: str, count: int, worker: int = 0) -> float:
    with AuditLog(url) as audit:
        audit.head()  # schema and connection first: the appends alone are timed
        start = time.perf_counter()
        for n in range(count):
            audit.append(entry(n, worker), check=undecided_once)
        return time.perf_counter() - start


def _worker(url: str, count: int, worker: int, start_at, results) -> None:
    start_at.wait()
    results.put(append_many(url, count, worker))


def two_writers(url: str, count: int, offset: int) -> float:
    """Total appends per second of two processes appending `count` / 2 each at once."""
    context = multiprocessing.get_context("fork")
    start_at, results = context.Barrier(3), context.Queue()
    workers = [
        context.Process(target=_worker, args=(url, count // 2, offset + w, start_at, results))
        for w in (1, 2)
    ]
    for process in workers:
        process.start()
    start_at.wait()
    start = time.perf_counter()
    for process in workers:
        process.join(timeout=600)
    elapsed = time.perf_counter() - start
    if [p.exitcode for p in workers] != [0, 0]:
        raise RuntimeError(
            f"an appending process failed: exit codes {[p.exitcode for p in workers]}"
        )
    return (count // 2) * 2 / elapsed


def measure(urls: dict[str, str], appends: int, rounds: int) -> dict:
    figures = {name: {"one_writer": []} for name in urls}
    for r in range(rounds):
        for name, url in urls.items():
            # Each round appends under its own request ids, onto a growing log.
            elapsed = append_many(url, appends, worker=100 + r)
            figures[name]["one_writer"].append(appends / elapsed)
            log.info("%s round %d: %.0f appends/s", name, r, appends / elapsed)
    out = {}
    for name, url in urls.items():
        concurrent = two_writers(url, appends, offset=200)
        with AuditLog(url) as audit:
            start = time.perf_counter()
            findings = audit.verify()
            verify_s = time.perf_counter() - start
            rows = audit.head()[0]
        if findings:
            raise AssertionError(f"{name}: the chain does not verify: {findings[:3]}")
        out[name] = {
            "one_writer_appends_per_s": round(max(figures[name]["one_writer"])),
            "one_writer_rounds": [round(v) for v in figures[name]["one_writer"]],
            "two_writers_appends_per_s": round(concurrent),
            "rows_verified": rows,
            "verify_s": round(verify_s, 3),
        }
    return out


def mirror(root: Path, requests: int) -> dict:
    url = f"sqlite:///{root / 'mirror-audit.sqlite'}"
    with AuditLog(url) as audit:
        for n in range((requests + 1) * len(DISPOSITIONS)):  # one more: the warm-up
            audit.append(entry(n))
        rows = audit.rows()
    tracking = f"sqlite:///{root / 'mlflow.db'}"
    kw = {"artifact_location": str(root / "artifacts")}
    # The store's own schema creation is not the mirror's cost: one request first, untimed.
    mirror_rows(rows[:3], tracking, "agent-actions", **kw)
    start = time.perf_counter()
    written = mirror_rows(rows, tracking, "agent-actions", **kw)
    first_s = time.perf_counter() - start
    start = time.perf_counter()
    again = mirror_rows(rows, tracking, "agent-actions", **kw)
    again_s = time.perf_counter() - start
    per_request = first_s / written
    demo_s = per_request * DEMO_REQUESTS_PER_DAY * DEMO_DAYS
    return {
        "requests": written,
        "rows": len(rows) - 3,
        "mirror_s": round(first_s, 2),
        "per_request_ms": round(per_request * 1000, 1),
        "again_written": again,
        "again_s": round(again_s, 2),
        "demo_estimate_s": round(demo_s, 1),
        "demo_requests": DEMO_REQUESTS_PER_DAY * DEMO_DAYS,
    }


def run(appends: int, rounds: int, requests: int) -> dict:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.support.postgres import throwaway_postgres

    with (
        tempfile.TemporaryDirectory(prefix="afterlaunch-audit-bench-") as tmp,
        throwaway_postgres() as cluster,
    ):
        root = Path(tmp)
        urls = {
            "SQLite (WAL, synchronous=NORMAL)": f"sqlite:///{root / 'audit.sqlite'}",
            "Postgres 15 (throwaway, fsync off)": cluster.create_database("audit_bench").url,
        }
        stores = measure(urls, appends, rounds)
        mirrored = mirror(root, requests)
    return {
        "date": today(),
        "machine": machine(),
        "appends_per_round": appends,
        "rounds": rounds,
        "stores": stores,
        "mirror": mirrored,
    }


def table(results: dict) -> str:
    lines = [
        f"Machine: {results['machine']}; date {results['date']}; {results['appends_per_round']} "
        f"appends per round, best of {results['rounds']} rounds; three rows per request.",
        "",
        "| store | one writer (appends/s) | two processes at once (appends/s, total) | "
        "verify (rows, s) |",
        "| --- | --- | --- | --- |",
    ]
    for name, f in results["stores"].items():
        lines.append(
            f"| {name} | {f['one_writer_appends_per_s']:,} | {f['two_writers_appends_per_s']:,} "
            f"| {f['rows_verified']:,} rows in {f['verify_s']} s |"
        )
    m = results["mirror"]
    lines += [
        "",
        f"Mirror into MLflow traces (SQLite store): {m['requests']} requests ({m['rows']} rows) "
        f"in {m['mirror_s']} s, {m['per_request_ms']} ms per request; the same call again "
        f"wrote {m['again_written']} in {m['again_s']} s. The demo's ~{m['demo_requests']:,} "
        f"requests ({DEMO_REQUESTS_PER_DAY} a day for {DEMO_DAYS} days) would take about "
        f"{m['demo_estimate_s']} s of mirroring in all.",
    ]
    return "\n".join(lines)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    parser = argparse.ArgumentParser()
    parser.add_argument("--appends", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    results = run(args.appends, args.rounds, args.requests)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "audit_appends.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "audit_appends.md").write_text(table(results) + "\n")
    print(table(results))


if __name__ == "__main__":
    main()
