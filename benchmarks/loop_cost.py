"""The loop's own cost: the default 90-day demo end to end, and what one simulated day takes.

Runs `afterlaunch demo` in a child process on a scratch home and reads its timeline JSON:

- wall time of the whole demo and the child's peak resident memory (getrusage of children);
- per simulated day (from the demo's own timing of each daemon tick): median and worst, for
  days before launch (one ingestion run), ordinary production days (ingest, check, score,
  sensors) and days on which the loop retrained.

The evaluation bootstrap and promotion/rollback times are measured by bootstrap_speed.py and
promotion_speed.py.

    .venv/bin/python benchmarks/loop_cost.py [--days 90] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import machine, today

log = logging.getLogger("benchmarks.loop_cost")
ROOT = Path(__file__).resolve().parent.parent


def _stats(values: list[float]) -> dict:
    if not values:
        return {"days": 0, "median_s": None, "max_s": None}
    return {
        "days": len(values),
        "median_s": round(statistics.median(values), 3),
        "max_s": round(max(values), 3),
    }


def run(days: int | None) -> dict:
    with tempfile.TemporaryDirectory(prefix="afterlaunch-bench-") as tmp:
        timeline_path = Path(tmp) / "timeline.json"
        command = [
            str(Path(sys.executable).parent / "afterlaunch"),
            "demo",
            "--home",
            str(Path(tmp) / "home"),
            "--json",
            str(timeline_path),
            *(["--days", str(days)] if days else []),
        ]
        log.info("running %s", " ".join(command))
        began = time.perf_counter()
        subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - began
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux
        document = json.loads(timeline_path.read_text())
    costs = document["costs"]
    retrain_days = {e["day"] for e in document["events"] if e["kind"] == "retraining_requested"}
    history = [c["seconds"] for c in costs if c["phase"] == "history"]
    production = [c for c in costs if c["phase"] == "production"]
    ordinary = [c["seconds"] for c in production if c["day"] not in retrain_days]
    retraining = [c["seconds"] for c in production if c["day"] in retrain_days]
    return {
        "machine": machine(),
        "date": today(),
        "days": document["scenario"]["days"],
        "demo_wall_s": round(wall, 1),
        "demo_peak_rss_mb": round(peak_mb, 1),
        "history_day": _stats(history),
        "production_day": _stats(ordinary),
        "retraining_day": _stats(retraining),
        "runs": sum(c["runs"] for c in costs),
        "summary": {k: document["summary"][k] for k in ("clean_day_errors", "alerts_sent")},
    }


def markdown(result: dict) -> str:
    rows = [
        ("before launch (1 ingestion run)", result["history_day"]),
        ("production day (ingest, checks, scoring, sensors)", result["production_day"]),
        ("production day with a retraining", result["retraining_day"]),
    ]
    lines = [
        f"Machine: {result['machine']}; date {result['date']}.",
        "",
        f"Demo of {result['days']} days: {result['demo_wall_s']} s wall, peak resident memory "
        f"{result['demo_peak_rss_mb']} MB, {result['runs']} Dagster runs.",
        "",
        "| simulated day | days | median (s) | worst (s) |",
        "| --- | --- | --- | --- |",
    ]
    lines += [f"| {name} | {s['days']} | {s['median_s']} | {s['max_s']} |" for name, s in rows]
    return "\n".join(lines) + "\n"


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, help="shorter demo (default: the scenario's 90)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = parser.parse_args()
    result = run(args.days)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "loop_cost.json").write_text(json.dumps(result, indent=2))
    (out / "loop_cost.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
