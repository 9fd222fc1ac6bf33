"""How long an agent waits between asking to act and the action being on record, through the
approval gate's HTTP API on localhost.

The API (orchestration/action_api.py, uvicorn) runs in its own process over a fresh audit log;
the agent is `resources.action_client.ActionClient` in this process (stdlib urllib, a new
connection per call). Two flows, a few hundred rounds each after a warm-up:

* ``none`` rule: request (the gate approves at once) -> allow -> run the tool (a no-op) ->
  record the execution: 2 HTTP calls, 2 audit rows;
* ``required`` rule: request -> pending; a person approves (the same client, as the approver);
  the agent reads allow -> records the execution: 4 HTTP calls, 3 audit rows. The person's own
  thinking time is not in it: this is the gate's overhead on a decision.

Each on the embedded store (SQLite in WAL mode, the home's default) and on a throwaway
PostgreSQL cluster (production's store), side by side in one run. Reports median and p90 per
flow, and the per-call median.

    .venv/bin/python benchmarks/action_latency.py [--rounds 300] [--no-postgres]
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import statistics
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from _common import machine, today

from checks.action_classes import ActionClass, ActionClasses, Reversibility
from resources.action_client import ActionClient

log = logging.getLogger("benchmarks.action_latency")
CLASSES = ActionClasses.of(
    [
        ActionClass("lookup_account", Reversibility.REVERSIBLE, owner="ops", approval="none"),
        ActionClass("send_reply", Reversibility.IRREVERSIBLE, owner="ops", approval="required"),
    ]
)
APPROVER = "supervisor ana"
WARM_UP = 20


def _serve(url: str, port: int) -> None:
    """The API process: a gate over the audit log at `url`."""
    from orchestration.action_api import serve
    from resources.action_gate import ActionGate
    from resources.audit_log import AuditLog

    # One log line per decision is right for a deployment, noise in a timing loop.
    logging.getLogger("afterlaunch").setLevel(logging.WARNING)
    gate = ActionGate(AuditLog(url), "bench", CLASSES, (APPROVER,), lambda: datetime.now(UTC))
    serve(gate, "127.0.0.1", port)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(base: str, proc: multiprocessing.Process) -> None:
    give_up = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(base + "/v1/health", timeout=2):
                return
        except (urllib.error.URLError, ConnectionError):
            if not proc.is_alive() or time.monotonic() > give_up:
                raise RuntimeError("the action API process did not come up") from None
            time.sleep(0.1)


def none_round(agent: ActionClient, i: int) -> None:
    arguments = {"account": f"A-{i}"}
    answer = agent.request("lookup_account", arguments, {"entity_id": f"A-{i}"})
    if answer.answer != "allow":
        raise AssertionError(f"lookup_account was not allowed at once: {answer}")
    agent.record(answer.request_id, arguments, output={"plan": "pro"})


def required_round(agent: ActionClient, i: int) -> None:
    arguments = {"ticket_id": f"T-{i}", "text": "We are on it."}
    answer = agent.request("send_reply", arguments, {"entity_id": f"T-{i}", "score": 0.9})
    if answer.answer != "pending":
        raise AssertionError(f"send_reply did not wait for a person: {answer}")
    agent.approve(answer.request_id, APPROVER, answer.digest, "fine")
    if agent.status(answer.request_id).answer != "allow":
        raise AssertionError("send_reply not allowed after its approval")
    agent.record(answer.request_id, arguments, output={"message_id": f"M-{i}"})


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1]


def measure(url: str, rounds: int) -> dict:
    port = _free_port()
    # fork: the store URL (a password with Postgres) stays in memory, never on a command line.
    proc = multiprocessing.get_context("fork").Process(target=_serve, args=(url, port))
    proc.start()
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, proc)
        agent = ActionClient(base, "bench-agent", "v1", "operator carla")
        figures = {}
        for name, flow, calls in (("none", none_round, 2), ("required", required_round, 4)):
            for i in range(WARM_UP):
                flow(agent, -1 - i)
            times = []
            for i in range(rounds):
                start = time.perf_counter()
                flow(agent, i)
                times.append(time.perf_counter() - start)
            figures[name] = {
                "http_calls": calls,
                "median_ms": round(statistics.median(times) * 1000, 2),
                "p90_ms": round(p90(times) * 1000, 2),
                "per_call_median_ms": round(statistics.median(times) * 1000 / calls, 2),
            }
            log.info("%s: %s", name, figures[name])
        with urllib.request.urlopen(base + "/v1/health", timeout=5) as response:
            figures["rows_written"] = json.loads(response.read())["head_seq"]
    finally:
        proc.terminate()
        proc.join(20)
    return figures


def run(rounds: int, postgres: bool) -> dict:
    stores = {}
    with tempfile.TemporaryDirectory(prefix="afterlaunch-action-bench-") as tmp:
        log.info("SQLite store")
        stores["SQLite (WAL)"] = measure(f"sqlite:///{Path(tmp) / 'audit.sqlite'}", rounds)
    if postgres:
        # The throwaway cluster the tests use; run as a file, the project root is not on the path.
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from tests.support.postgres import throwaway_postgres

        log.info("PostgreSQL store (throwaway cluster)")
        with throwaway_postgres() as cluster:
            stores["PostgreSQL"] = measure(cluster.url, rounds)
    return {"date": today(), "machine": machine(), "rounds": rounds, "stores": stores}


def table(results: dict) -> str:
    lines = [
        f"Machine: {results['machine']}; date {results['date']}; {results['rounds']} rounds per "
        "flow; API and agent in two processes on localhost.",
        "",
        "| store | flow | HTTP calls | median (ms) | p90 (ms) | per call, median (ms) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for store, figures in results["stores"].items():
        for flow in ("none", "required"):
            f = figures[flow]
            what = (
                "request -> allow -> executed"
                if flow == "none"
                else ("request -> approve -> allow -> executed")
            )
            lines.append(
                f"| {store} | {flow}: {what} | {f['http_calls']} | {f['median_ms']} | "
                f"{f['p90_ms']} | {f['per_call_median_ms']} |"
            )
    return "\n".join(lines)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    results = run(args.rounds, postgres=not args.no_postgres)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "action_latency.json").write_text(json.dumps(results, indent=2) + "\n")
    text = table(results)
    (out / "action_latency.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
