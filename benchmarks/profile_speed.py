"""Side-by-side timing of the drift path on one machine, in one run.

Measures, on the same data: Afterlaunch's profile of a window on the reference's bins plus the
drift comparison, a bare numpy/scipy loop (histogram + chi-square per column) as the floor, and
the weekly drift from seven merged daily profiles. Writes JSON and a Markdown table.

    .venv/bin/python benchmarks/profile_speed.py [--rows 1000000] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
from _common import best_of, machine, today
from scipy import stats

from checks.drift import compare_profiles
from checks.profiles import build_reference_profile, merge_profiles, profile_like

log = logging.getLogger("benchmarks.profile_speed")


def make_table(rows: int, numeric: int, categorical: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data = {f"x{i}": rng.normal(size=rows) for i in range(numeric)}
    levels = np.array(["a", "b", "c", "d", "e", "f"])
    weights = np.array([0.3, 0.25, 0.2, 0.12, 0.08, 0.05])
    data |= {f"c{i}": levels[rng.choice(6, size=rows, p=weights)] for i in range(categorical)}
    return pd.DataFrame(data)


def bare_loop(current: pd.DataFrame, reference: pd.DataFrame, numeric, categorical) -> None:
    """The floor: per column, histogram both on the reference's deciles, chi-square."""
    for col in numeric:
        edges = np.quantile(reference[col].to_numpy(), np.linspace(0, 1, 21))
        a = np.histogram(current[col].to_numpy(), edges)[0]
        b = np.histogram(reference[col].to_numpy(), edges)[0]
        stats.chi2_contingency(np.vstack([a, b]) + 1)
    for col in categorical:
        a = current[col].value_counts()
        b = reference[col].value_counts().reindex(a.index, fill_value=0)
        stats.chi2_contingency(np.vstack([a.to_numpy(), b.to_numpy()]) + 1)


def run(rows: int) -> dict:
    numeric, categorical = [f"x{i}" for i in range(15)], [f"c{i}" for i in range(5)]
    reference_rows = make_table(120_000, 15, 5, seed=1)
    current = make_table(rows, 15, 5, seed=2)
    reference = build_reference_profile(reference_rows, numeric, categorical)

    log.info("timing %d rows x 20 columns", rows)
    afterlaunch = best_of(lambda: compare_profiles(profile_like(current, reference), reference))
    floor = best_of(lambda: bare_loop(current, reference_rows, numeric, categorical))
    daily = [profile_like(make_table(2_000, 15, 5, seed=10 + d), reference) for d in range(7)]
    weekly = best_of(lambda: compare_profiles(merge_profiles(daily), reference), repeats=5)
    return {
        "rows": rows,
        "columns": 20,
        "afterlaunch_profile_and_drift_s": round(afterlaunch, 4),
        "bare_numpy_scipy_loop_s": round(floor, 4),
        "ratio_afterlaunch_to_bare": round(afterlaunch / floor, 2),
        "weekly_drift_from_7_daily_profiles_ms": round(weekly * 1000, 2),
    }


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    results = {
        "date": today(),
        "machine": machine(),
        "runs": [run(rows) for rows in args.rows],
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "profile_speed.json").write_text(json.dumps(results, indent=2))
    lines = [
        f"Machine: {results['machine']}; date {results['date']}.",
        "",
        "| rows x cols | Afterlaunch profile+drift (s) | bare numpy/scipy loop (s) | ratio | "
        "weekly drift from 7 daily profiles (ms) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in results["runs"]:
        lines.append(
            f"| {r['rows']:,} x {r['columns']} | {r['afterlaunch_profile_and_drift_s']} | "
            f"{r['bare_numpy_scipy_loop_s']} | {r['ratio_afterlaunch_to_bare']} | "
            f"{r['weekly_drift_from_7_daily_profiles_ms']} |"
        )
    (out / "profile_speed.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
