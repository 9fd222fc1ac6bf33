"""The loop at larger volumes: a short scenario of the ticket workflow at scale 1, 10, 100, ...
(about 2,000 tickets a day times the scale), each in its own child process on a scratch home.

Per scale: the child's wall time and peak resident memory, the production days' median wall
time and its cost per row, and where a production day's time goes: each step of the last
`daily_production` run (from Dagster's own step statistics in the home's instance) and the
launch's training steps. A per-row cost that grows with the scale is what the issue asks to
remove.

    .venv/bin/python benchmarks/loop_scale.py [--scales 1 10] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import machine, today

log = logging.getLogger("benchmarks.loop_scale")
ROOT = Path(__file__).resolve().parent.parent

# Ten days of history (the training window's minimum rows at scale 1), launch, four production
# days; no incidents: the cost of an ordinary day.
SCENARIO = """
start: "2026-01-05"
days: {days}
seed: 11
reference_days: 10
scale: {scale}
incidents: []
"""


def _child_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux


def _steps(home: Path, job: str) -> dict[str, float]:
    """Seconds per step of the newest successful run of `job` in the home's instance."""
    from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

    os.environ["DAGSTER_HOME"] = str(home / "dagster")
    instance = DagsterInstance.get()
    runs = instance.get_runs(
        filters=RunsFilter(job_name=job, statuses=[DagsterRunStatus.SUCCESS]), limit=1
    )
    if not runs:
        return {}
    stats = instance.get_run_step_stats(runs[0].run_id)
    return {
        s.step_key.split("__", 1)[-1]: round(s.end_time - s.start_time, 3)
        for s in stats
        if s.end_time and s.start_time
    }


def run(scale: float, days: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="afterlaunch-scale-") as tmp:
        tmp = Path(tmp)
        scenario = tmp / "scenario.yaml"
        scenario.write_text(SCENARIO.format(days=days, scale=scale))
        timeline = tmp / "timeline.json"
        command = [
            str(Path(sys.executable).parent / "afterlaunch"),
            "demo",
            "--workflow",
            "ticket_escalation",
            "--home",
            str(tmp / "home"),
            "--scenario",
            str(scenario),
            "--json",
            str(timeline),
        ]
        log.info("scale %s: %s", scale, " ".join(command))
        before = _child_peak_mb()
        began = time.perf_counter()
        subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - began
        peak = _child_peak_mb()
        document = json.loads(timeline.read_text())
        production = [c["seconds"] for c in document["costs"] if c["phase"] == "production"]
        daily = _steps(tmp / "home", "daily_production")
        training = _steps(tmp / "home", "train_challenger")
    rows = round(1993 * scale)  # the simulator's weekly mean times the scale
    median = statistics.median(production) if production else None
    return {
        "scale": scale,
        "rows_per_day": rows,
        "demo_wall_s": round(wall, 1),
        # RUSAGE_CHILDREN keeps the largest child so far: valid when scales run in rising order.
        "peak_rss_mb": round(peak, 1) if peak > before else None,
        "production_day_median_s": None if median is None else round(median, 2),
        "ms_per_row": None if median is None else round(1000 * median / rows, 4),
        "daily_steps_s": dict(sorted(daily.items(), key=lambda kv: -kv[1])),
        "training_steps_s": dict(sorted(training.items(), key=lambda kv: -kv[1])),
    }


def markdown(results: list[dict]) -> str:
    lines = [
        "| rows a day | demo wall (s) | peak RSS (MB) | production day, median (s) | ms per row |"
        " slowest daily steps (s) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        top = ", ".join(f"{k} {v}" for k, v in list(r["daily_steps_s"].items())[:4])
        lines.append(
            f"| {r['rows_per_day']:,} | {r['demo_wall_s']} | {r['peak_rss_mb']} | "
            f"{r['production_day_median_s']} | {r['ms_per_row']} | {top} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=float, nargs="+", default=[1, 10])
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    results = [run(s, args.days) for s in sorted(args.scales)]
    document = {"machine": machine(), "date": today(), "results": results}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "loop_scale.json").write_text(json.dumps(document, indent=2))
    table = markdown(results)
    (out / "loop_scale.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
