"""Runs Evidently's DataDriftPreset; executed INSIDE benchmarks/.venv-evidently (pandas<3).

Driven by benchmarks/drift_vs_evidently.py through a subprocess: a job (JSON) on stdin, the
results (JSON) on stdout, progress on stderr. It imports nothing from the project (the project
needs pandas 3, Evidently 0.7 needs pandas<3), only its sibling ``_memory``.

    {"numeric": [...], "categorical": [...], "tasks": [task, ...]}

speed task:   {"kind": "speed", "name", "reference": parquet, "current": parquet, "repeats": int,
               "warmup_rows": int}
quality task: {"kind": "quality", "name", "reference": parquet, "currents": {scenario: parquet},
               "trial_column": str, "verify_trials": int}

The report is ``Report([DataDriftPreset()], include_tests=True).run(current, reference)`` with
every drift setting at its default. ``include_tests=True`` only makes Evidently attach its own
verdicts: per column the ValueDrift test FAILs when Evidently's ``drift_detected`` is true, and
the dataset test "Share of Drifted Columns: Less 0.5" FAILs when at least half the columns
drifted (Evidently's dataset drift). The methods and thresholds are Evidently's automatic choice.

Speed: timed is ``Dataset.from_pandas`` for both frames plus ``Report.run`` (what a caller
holding two DataFrames must do); reading Parquet is outside. After one warm-up report on the
first ``warmup_rows`` rows, the first run is also the memory measurement (see _memory.py).

Quality: thousands of full reports do not fit the time budget (one report on 2,000 x 20 takes
over a second, most of it building the report's plots), so each trial's verdicts come from the
same per-column code the report calls (``get_stattest`` with the default ``DataDriftOptions``,
then the chosen test with the default threshold, after the same inf/NaN cleaning), and the dataset
verdict from Evidently's rule (share of drifted columns >= drift_share 0.5). The first
``verify_trials`` trials of every scenario also run the full report; every verdict is compared
and disagreements are returned. Speed tasks compare the two paths on their data as well.
"""

from __future__ import annotations

import json
import logging
import sys
import time

import evidently
import numpy as np
import pandas as pd
from _memory import rss_growth
from evidently import DataDefinition, Dataset, Report
from evidently.legacy.calculations.stattests.registry import get_stattest
from evidently.legacy.core import ColumnType
from evidently.legacy.options.data_drift import DataDriftOptions
from evidently.presets import DataDriftPreset

log = logging.getLogger("benchmarks.evidently_worker")


def full_report(reference: pd.DataFrame, current: pd.DataFrame, numeric, categorical) -> dict:
    """One DataDriftPreset report: seconds and Evidently's own verdicts."""
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    start = time.perf_counter()
    ref = Dataset.from_pandas(reference, data_definition=definition)
    cur = Dataset.from_pandas(current, data_definition=definition)
    snapshot = Report([DataDriftPreset()], include_tests=True).run(cur, ref)
    seconds = time.perf_counter() - start
    result = snapshot.dict()

    columns, methods, share, drift_share, dataset_drift = {}, {}, None, None, None
    for metric in result["metrics"]:
        config = metric["config"]
        if config["type"].endswith(":ValueDrift"):
            methods[config["column"]] = f"{config['method']}, threshold {config['threshold']}"
        elif config["type"].endswith(":DriftedColumnsCount"):
            share, drift_share = float(metric["value"]["share"]), float(config["drift_share"])
    for test in result["tests"]:
        params = test["metric_config"]["params"]
        if params["type"].endswith(":ValueDrift"):
            columns[params["column"]] = test["status"] == "FAIL"
        elif params["type"].endswith(":DriftedColumnsCount"):
            dataset_drift = test["status"] == "FAIL"
    lacking = sorted((set(numeric) | set(categorical)) - set(columns))
    if lacking or dataset_drift is None:
        raise RuntimeError(f"Evidently's result lacks verdicts for {lacking or 'the dataset'}")
    if dataset_drift != (share >= drift_share):
        raise RuntimeError("Evidently's dataset verdict disagrees with its drifted share")
    return {
        "seconds": seconds,
        "drifted": sorted(c for c, d in columns.items() if d),
        "dataset_drift": dataset_drift,
        "methods": methods,
    }


def column_verdicts(reference: pd.DataFrame, current: pd.DataFrame, numeric, categorical) -> dict:
    """The preset's verdicts through the per-column code it calls, without its plots."""
    options = DataDriftOptions()
    drifted, methods = [], {}
    kinds = [(c, ColumnType.Numerical) for c in numeric]
    kinds += [(c, ColumnType.Categorical) for c in categorical]
    for name, kind in kinds:
        ref = reference[name].replace([-np.inf, np.inf], np.nan).dropna()
        cur = current[name].replace([-np.inf, np.inf], np.nan).dropna()
        test = get_stattest(ref, cur, kind, options.get_feature_stattest_func(name, kind.value))
        result = test(ref, cur, kind, options.get_threshold(name, kind.value))
        methods[name] = f"{test.display_name}, threshold {result.actual_threshold}"
        if result.drifted:
            drifted.append(name)
    share = len(drifted) / len(kinds)
    return {
        "drifted": sorted(drifted),
        "dataset_drift": bool(share >= options.drift_share),
        "methods": methods,
    }


def speed_task(task: dict, numeric, categorical) -> dict:
    reference = pd.read_parquet(task["reference"])
    current = pd.read_parquet(task["current"])
    # Warm-up on the first rows (lazy imports, caches), as for the other contenders.
    warm = task.get("warmup_rows", 2_000)
    full_report(reference.head(warm), current.head(warm), numeric, categorical)
    peak, first = rss_growth(lambda: full_report(reference, current, numeric, categorical))
    runs = [first]
    for _ in range(task.get("repeats", 1) - 1):
        runs.append(full_report(reference, current, numeric, categorical))
    direct = column_verdicts(reference, current, numeric, categorical)
    times = [r["seconds"] for r in runs]
    log.info("%s: best of %d %.3f s", task["name"], len(times), min(times))
    return {
        "name": task["name"],
        "times_s": times,
        "best_s": min(times),
        "peak_rss_growth_bytes": peak,
        "drifted": first["drifted"],
        "dataset_drift": first["dataset_drift"],
        "methods": first["methods"],
        "direct_path_agrees": direct["drifted"] == first["drifted"]
        and direct["dataset_drift"] == first["dataset_drift"],
    }


def _trials(frame: pd.DataFrame, column: str) -> dict[int, pd.DataFrame]:
    return {
        int(t): g.drop(columns=column).reset_index(drop=True)
        for t, g in frame.groupby(column, sort=True)
    }


def quality_task(task: dict, numeric, categorical) -> dict:
    column = task["trial_column"]
    references = _trials(pd.read_parquet(task["reference"]), column)
    out: dict = {"name": task["name"], "scenarios": {}, "verified_reports": 0, "disagreements": []}
    start = time.perf_counter()
    for scenario, path in task["currents"].items():
        runs = []
        for trial, cur in _trials(pd.read_parquet(path), column).items():
            v = column_verdicts(references[trial], cur, numeric, categorical)
            runs.append({"trial": trial, "drifted": v["drifted"], "dataset": v["dataset_drift"]})
            out.setdefault("methods", v["methods"])
            if trial < task.get("verify_trials", 0):
                full = full_report(references[trial], cur, numeric, categorical)
                out["verified_reports"] += 1
                if (full["drifted"], full["dataset_drift"]) != (v["drifted"], v["dataset_drift"]):
                    out["disagreements"].append(
                        {"scenario": scenario, "trial": trial, "report": full, "direct": v}
                    )
        out["scenarios"][scenario] = runs
    out["seconds"] = time.perf_counter() - start
    log.info(
        "%s: %d scenarios in %.1f s; %d full reports checked, %d disagree",
        task["name"],
        len(out["scenarios"]),
        out["seconds"],
        out["verified_reports"],
        len(out["disagreements"]),
    )
    return out


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s [evidently] %(message)s")
    job = json.load(sys.stdin)
    numeric, categorical = job["numeric"], job["categorical"]
    tasks = []
    for task in job["tasks"]:
        run = speed_task if task["kind"] == "speed" else quality_task
        tasks.append(run(task, numeric, categorical))
    versions = {"evidently_version": evidently.__version__, "pandas_version": pd.__version__}
    json.dump(versions | {"tasks": tasks}, sys.stdout)


if __name__ == "__main__":
    main()
