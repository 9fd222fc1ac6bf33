"""Afterlaunch's drift check against Evidently's DataDriftPreset: speed, memory, detection quality.

Runs in the project venv; Evidently 0.7 needs pandas<3, so it runs in its own venv
(benchmarks/.venv-evidently, created from benchmarks/envs/evidently-constraints.txt by
benchmarks/envs/make_evidently_env.sh when missing) through benchmarks/evidently_worker.py.
Both sides read the same Parquet files.

Speed, side by side in one run on the same data (current = reference size; the current window
carries three drifted columns so every verdict path runs):
- Afterlaunch: ``profile_like`` of the current window on a PRECOMPUTED reference profile, then
  ``compare_profiles`` with the policy's DriftRules thresholds;
- Evidently: ``Dataset.from_pandas`` x2 + ``Report([DataDriftPreset()]).run`` (defaults);
- floors, two bare numpy/scipy loops: profile_speed.bare_loop (per column: histogram on the
  reference's quantiles or value counts, chi-square), which re-bins the raw reference rows every
  time; and the same loop on the stored reference counts (the reference profile's edges, counts
  and categories), which does only the current window's share of the work, as Afterlaunch does;
- weekly drift: merge seven 2,000-row daily profiles and compare, no rows re-read.
Memory: see _memory.py (peak RSS growth of one call, each contender in its own fresh process,
after one warm-up call on the first 2,000 rows).

Detection quality, same data for both: null splits (reference and current from one
distribution) and graded changes on one column (mean shifts in reference SDs on x0; the share of
the rarest level 'f' of c0 raised, the other levels scaled down). 1,000 and 2,000 rows (Evidently
switches methods above 1,000 reference rows): 200 trials, every change in its own table, drawn
from the null table's seed so only the changed column differs. 1,000,000 rows: 5 trials; one
table carries all eight changes on eight columns (x0..x4, c0..c2) beside twelve unchanged ones,
plus separate null tables. ``--quick``: 20 trials, and 200,000 rows with one trial.

    .venv/bin/python benchmarks/drift_vs_evidently.py [--quick] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _common import best_of, machine, today
from _memory import METHOD as MEMORY_METHOD
from _memory import rss_growth
from profile_speed import bare_loop
from scipy import stats

from checks.drift import compare_profiles
from checks.policy import DriftRules
from checks.profiles import TableProfile, build_reference_profile, merge_profiles, profile_like

log = logging.getLogger("benchmarks.drift_vs_evidently")

HERE = Path(__file__).resolve().parent
EVIDENTLY_PYTHON = HERE / ".venv-evidently" / "bin" / "python"
MAKE_ENV = HERE / "envs" / "make_evidently_env.sh"
WORKER = HERE / "evidently_worker.py"

RULES = DriftRules()
THRESHOLDS = {
    "alpha": RULES.alpha,
    "numeric_warn": RULES.numeric_warn,
    "numeric_error": RULES.numeric_error,
    "categorical_warn": RULES.categorical_warn,
    "categorical_error": RULES.categorical_error,
    "null_rate_error": RULES.null_rate_error,
    "min_rows": RULES.min_rows,
}

# The table of profile_speed.py: standard normal numeric columns, categorical with six levels.
LEVELS = np.array(["a", "b", "c", "d", "e", "f"])
WEIGHTS = np.array([0.3, 0.25, 0.2, 0.12, 0.08, 0.05])
RAISED = 5  # level 'f', the rarest (5%): its share is raised in the share-change scenarios
MEAN_SHIFTS = (0.05, 0.1, 0.2, 0.3, 0.5)
SHARE_SHIFTS = (0.02, 0.05, 0.10)
SPEED_DRIFT = {"mean": {"x0": 0.5, "x1": 0.05}, "share": {"c0": 0.10}}
WARMUP_ROWS = 2_000
PROBES = ("afterlaunch", "bare", "stored")
TRIAL = "_trial"

FULL = {
    # rows, numeric, categorical, repeats Afterlaunch/bare loop, repeats Evidently
    "speed": [(100_000, 15, 5, 5, 3), (1_000_000, 15, 5, 3, 1), (100_000, 75, 25, 5, 2)],
    "small_rows": [1_000, 2_000],
    "small_trials": 200,
    "verify_trials": 2,
    "large_rows": 1_000_000,
    "large_trials": 5,
}
QUICK = {
    "speed": [(20_000, 15, 5, 3, 2), (200_000, 15, 5, 3, 1), (20_000, 75, 25, 3, 1)],
    "small_rows": [1_000, 2_000],
    "small_trials": 20,
    "verify_trials": 1,
    "large_rows": 200_000,
    "large_trials": 1,
}


# --- data ------------------------------------------------------------------------------------


def names(numeric: int, categorical: int) -> tuple[list[str], list[str]]:
    return [f"x{i}" for i in range(numeric)], [f"c{i}" for i in range(categorical)]


def level_weights(raise_by: float) -> np.ndarray:
    """Level 'f' gains ``raise_by`` of the share; the others shrink in proportion."""
    w = WEIGHTS * (1 - WEIGHTS[RAISED] - raise_by) / (1 - WEIGHTS[RAISED])
    w[RAISED] = WEIGHTS[RAISED] + raise_by
    return w


def make_table(
    rows: int,
    numeric: int,
    categorical: int,
    seed: int,
    mean: dict[str, float] | None = None,
    share: dict[str, float] | None = None,
    trials: int = 0,
) -> pd.DataFrame:
    """Synthetic table; with the same seed, tables differ only by the requested changes.

    Categorical values come from one uniform draw per row mapped through the level CDF, so a
    raised share moves the fewest rows. ``trials`` > 0 stacks that many equal-size tables with
    a ``_trial`` column (rows is then the total)."""
    mean, share = mean or {}, share or {}
    rng = np.random.default_rng(seed)
    num, cat = names(numeric, categorical)
    data = {c: rng.standard_normal(rows) + mean.get(c, 0.0) for c in num}
    for c in cat:
        cdf = np.cumsum(level_weights(share.get(c, 0.0)))
        codes = np.minimum(np.searchsorted(cdf, rng.random(rows), side="right"), len(LEVELS) - 1)
        data[c] = LEVELS[codes]
    if trials:
        data[TRIAL] = np.repeat(np.arange(trials), rows // trials)
    return pd.DataFrame(data)


# --- Afterlaunch -----------------------------------------------------------------------------


def reference_profile(rows: pd.DataFrame, num: list[str], cat: list[str]) -> TableProfile:
    return build_reference_profile(
        rows, num, cat, n_bins=RULES.n_bins, max_categories=RULES.max_categories
    )


def afterlaunch_check(current: pd.DataFrame, reference: TableProfile):
    """What the drift asset check does per partition: profile on the reference, compare."""
    return compare_profiles(profile_like(current, reference), reference, **THRESHOLDS)


ERROR_FLOORS = {"numeric": RULES.numeric_error, "categorical": RULES.categorical_error}


def verdicts(report) -> dict:
    """Columns called error / warn, and which of the two conditions for an error held."""
    cols = report.columns
    return {
        "error": [c.column for c in cols if c.decision == "error"],
        "warn": [c.column for c in cols if c.decision == "warn"],
        "significant": [
            c.column for c in cols if c.p_adjusted is not None and c.p_adjusted < RULES.alpha
        ],
        "over_error_floor": [
            c.column
            for c in cols
            if c.effect_size is not None and c.effect_size >= ERROR_FLOORS[c.kind]
        ],
    }


def stored_counts_loop(current: pd.DataFrame, reference: TableProfile, numeric, categorical):
    """The floor with stored reference counts: histogram / value counts, chi-square, per column."""
    for col in numeric:
        ref = reference.columns[col]
        a = np.histogram(current[col].to_numpy(), ref.edges)[0]
        stats.chi2_contingency(np.vstack([a, ref.counts[1:-1]]) + 1)
    for col in categorical:
        ref = reference.columns[col]
        a = current[col].value_counts().reindex(ref.categories, fill_value=0)
        b = [ref.counts[c] for c in ref.categories]
        stats.chi2_contingency(np.vstack([a.to_numpy(), b]) + 1)


# --- memory probe (a fresh process per contender and size) ----------------------------------


def probe(kind: str, reference: str, current: str, profile: str, numeric: int, categorical: int):
    num, cat = names(numeric, categorical)
    current_rows = pd.read_parquet(current)
    if kind in ("afterlaunch", "stored"):
        # The stored reference profile, as the asset check loads it; no reference rows.
        ref = TableProfile.from_dict(json.loads(Path(profile).read_text()))
        if kind == "afterlaunch":
            afterlaunch_check(current_rows.head(WARMUP_ROWS), ref)
            peak, _ = rss_growth(lambda: afterlaunch_check(current_rows, ref))
        else:
            stored_counts_loop(current_rows.head(WARMUP_ROWS), ref, num, cat)
            peak, _ = rss_growth(lambda: stored_counts_loop(current_rows, ref, num, cat))
    else:
        reference_rows = pd.read_parquet(reference)
        bare_loop(current_rows.head(WARMUP_ROWS), reference_rows.head(WARMUP_ROWS), num, cat)
        peak, _ = rss_growth(lambda: bare_loop(current_rows, reference_rows, num, cat))
    print(json.dumps({"peak_rss_growth_bytes": peak}))


def run_probe(kind: str, paths: dict, numeric: int, categorical: int) -> int | None:
    cmd = [sys.executable, __file__, "--probe", kind]
    cmd += ["--probe-files", paths["reference"], paths["current"], paths["profile"]]
    cmd += ["--probe-columns", str(numeric), str(categorical)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out)["peak_rss_growth_bytes"]


# --- Evidently worker ------------------------------------------------------------------------


def ensure_evidently_env() -> None:
    """Create the Evidently venv from the constraints file if it is missing or broken."""
    if not EVIDENTLY_PYTHON.exists():
        log.info("creating %s from the constraints file", EVIDENTLY_PYTHON.parent.parent)
    subprocess.run(["bash", str(MAKE_ENV)], check=True)


def start_worker(job: dict) -> subprocess.Popen:
    proc = subprocess.Popen(
        [str(EVIDENTLY_PYTHON), str(WORKER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    proc.stdin.write(json.dumps(job).encode())
    proc.stdin.close()
    return proc


def finish_worker(proc: subprocess.Popen) -> dict:
    out = proc.stdout.read()
    if proc.wait() != 0:
        raise RuntimeError(f"evidently_worker failed with exit code {proc.returncode}")
    return json.loads(out)


# --- speed -----------------------------------------------------------------------------------


def speed_case(spec: tuple, work: Path) -> dict:
    rows, numeric, categorical, repeats, ev_repeats = spec
    num, cat = names(numeric, categorical)
    label = f"{rows:,} x {numeric + categorical}"
    log.info("speed %s: writing data", label)
    paths = {
        "reference": str(work / f"speed_{rows}_{numeric}_ref.parquet"),
        "current": str(work / f"speed_{rows}_{numeric}_cur.parquet"),
        "profile": str(work / f"speed_{rows}_{numeric}_profile.json"),
    }
    make_table(rows, numeric, categorical, seed=1).to_parquet(paths["reference"], index=False)
    make_table(rows, numeric, categorical, seed=2, **SPEED_DRIFT).to_parquet(
        paths["current"], index=False
    )
    reference_rows = pd.read_parquet(paths["reference"])
    current = pd.read_parquet(paths["current"])

    start = time.perf_counter()
    reference = reference_profile(reference_rows, num, cat)
    build_s = time.perf_counter() - start
    Path(paths["profile"]).write_text(json.dumps(reference.to_dict()))

    log.info("speed %s: Afterlaunch and bare loop, best of %d", label, repeats)
    afterlaunch_s = best_of(lambda: afterlaunch_check(current, reference), repeats)
    bare_s = best_of(lambda: bare_loop(current, reference_rows, num, cat), repeats)
    stored_s = best_of(lambda: stored_counts_loop(current, reference, num, cat), repeats)
    daily = [
        profile_like(make_table(2_000, numeric, categorical, seed=10 + d), reference)
        for d in range(7)
    ]
    weekly_s = best_of(lambda: compare_profiles(merge_profiles(daily), reference, **THRESHOLDS), 5)
    found = verdicts(afterlaunch_check(current, reference))

    log.info("speed %s: memory probes", label)
    afterlaunch_mem = run_probe("afterlaunch", paths, numeric, categorical)
    bare_mem = run_probe("bare", paths, numeric, categorical)
    stored_mem = run_probe("stored", paths, numeric, categorical)

    log.info("speed %s: Evidently, %d run(s)", label, ev_repeats)
    job = {
        "numeric": num,
        "categorical": cat,
        "tasks": [
            {
                "kind": "speed",
                "name": label,
                "repeats": ev_repeats,
                "warmup_rows": WARMUP_ROWS,
                **paths,
            }
        ],
    }
    ev = finish_worker(start_worker(job))["tasks"][0]
    for key in ("reference", "current"):
        Path(paths[key]).unlink()
    return {
        "rows": rows,
        "numeric": numeric,
        "categorical": categorical,
        "repeats": {"afterlaunch": repeats, "bare_loops": repeats, "evidently": ev_repeats},
        "afterlaunch_s": afterlaunch_s,
        "evidently_s": ev["best_s"],
        "evidently_times_s": ev["times_s"],
        "bare_loop_s": bare_s,
        "stored_counts_loop_s": stored_s,
        "evidently_over_afterlaunch": ev["best_s"] / afterlaunch_s,
        "afterlaunch_over_bare": afterlaunch_s / bare_s,
        "afterlaunch_over_stored_counts_loop": afterlaunch_s / stored_s,
        "weekly_drift_ms": weekly_s * 1000,
        "reference_profile_build_s": build_s,
        "peak_rss_growth_mb": {
            "afterlaunch": _mb(afterlaunch_mem),
            "evidently": _mb(ev["peak_rss_growth_bytes"]),
            "bare_loop": _mb(bare_mem),
            "stored_counts_loop": _mb(stored_mem),
        },
        "verdicts_on_this_data": {
            "injected": SPEED_DRIFT,
            "afterlaunch": found,
            "evidently_drifted": ev["drifted"],
            "evidently_dataset_drift": ev["dataset_drift"],
            "evidently_direct_path_agrees_with_report": ev["direct_path_agrees"],
        },
    }


def _mb(n: int | None) -> float | None:
    return None if n is None else n / 2**20


# --- quality ---------------------------------------------------------------------------------


def scenarios() -> list[dict]:
    out = [{"key": "null", "label": "none (null split)", "column": None, "change": {}}]
    for d in MEAN_SHIFTS:
        out.append({"key": f"mean+{d}", "label": f"mean +{d} SD", "column": "x0"})
        out[-1]["change"] = {"mean": {"x0": d}}
    for d in SHARE_SHIFTS:
        label = f"level 'f' share +{d:.2f} (5% -> {5 + round(100 * d)}%)"
        out.append({"key": f"share+{d}", "label": label, "column": "c0"})
        out[-1]["change"] = {"share": {"c0": d}}
    return out


def large_layout() -> dict[str, str]:
    """1M rows: which column of the one changed table carries which scenario."""
    cols = [f"x{i}" for i in range(len(MEAN_SHIFTS))] + [f"c{i}" for i in range(len(SHARE_SHIFTS))]
    keys = [f"mean+{d}" for d in MEAN_SHIFTS] + [f"share+{d}" for d in SHARE_SHIFTS]
    return dict(zip(keys, cols, strict=True))


def afterlaunch_trials(reference: pd.DataFrame, currents: dict, n: int, trials: int) -> dict:
    """Per scenario, per trial: the columns Afterlaunch calls error / warn."""
    num, cat = names(15, 5)
    out: dict[str, list] = {key: [] for key in currents}
    for t in range(trials):
        rows = slice(t * n, (t + 1) * n)
        ref = reference_profile(reference.iloc[rows], num, cat)
        for key, cur in currents.items():
            out[key].append(verdicts(afterlaunch_check(cur.iloc[rows], ref)))
    return out


def quality_data(n: int, trials: int, seed: int, work: Path, large: bool) -> tuple:
    """Stacked trial tables (in memory for Afterlaunch, on disk for the worker)."""
    reference = make_table(n * trials, 15, 5, seed=seed, trials=trials)
    if large:
        layout = large_layout()
        change = {"mean": {}, "share": {}}
        for s in scenarios()[1:]:
            kind, moved = next(iter(s["change"].items()))
            change[kind][layout[s["key"]]] = next(iter(moved.values()))
        changes = {"null": {}, "changed": change}
    else:
        changes = {s["key"]: s["change"] for s in scenarios()}
    currents = {
        key: make_table(n * trials, 15, 5, seed=seed + 1, trials=trials, **change)
        for key, change in changes.items()
    }
    paths = {"reference": str(work / f"quality_{n}_ref.parquet"), "currents": {}}
    reference.to_parquet(paths["reference"], index=False)
    for key, frame in currents.items():
        paths["currents"][key] = str(work / f"quality_{n}_{key}.parquet")
        frame.to_parquet(paths["currents"][key], index=False)
    return reference, currents, paths


def quality(plan: dict, work: Path) -> dict:
    num, cat = names(15, 5)
    small, large_n = plan["small_rows"], plan["large_rows"]
    t_small, t_large = plan["small_trials"], plan["large_trials"]
    data = {}
    for i, n in enumerate(small):
        log.info("quality: %d trials x %d rows per scenario", t_small, n)
        data[n] = quality_data(n, t_small, seed=100 + 10 * i, work=work, large=False)
    log.info("quality: %d trials x %d rows (null, changed)", t_large, large_n)
    data[large_n] = quality_data(large_n, t_large, seed=200, work=work, large=True)

    def task(n: int, verify: int) -> dict:
        return {
            "kind": "quality",
            "name": f"quality {n:,} rows",
            "reference": data[n][2]["reference"],
            "currents": data[n][2]["currents"],
            "trial_column": TRIAL,
            "verify_trials": verify,
        }

    # No timing here: the two Evidently workers and Afterlaunch share the cores.
    small_worker = start_worker(
        {
            "numeric": num,
            "categorical": cat,
            "tasks": [task(n, plan["verify_trials"]) for n in small],
        }
    )
    large_worker = start_worker({"numeric": num, "categorical": cat, "tasks": [task(large_n, 0)]})
    afterlaunch = {}
    for n in [*small, large_n]:
        trials = t_small if n in small else t_large
        log.info("quality %d rows: Afterlaunch", n)
        afterlaunch[n] = afterlaunch_trials(data[n][0], data[n][1], n, trials)
    evidently = {}
    for n, result in zip(small, finish_worker(small_worker)["tasks"], strict=True):
        evidently[n] = result
    evidently[large_n] = finish_worker(large_worker)["tasks"][0]
    return summarise_quality(plan, afterlaunch, evidently)


def _rate(k: int, total: int) -> dict:
    return {"count": k, "of": total, "rate": k / total if total else None}


def summarise_quality(plan: dict, afterlaunch: dict, evidently: dict) -> dict:
    num, cat = names(15, 5)
    n_cols = len(num) + len(cat)
    out = {"null": {}, "power": {}, "evidently_methods": {}, "verification": {}}
    layout = large_layout()
    for n in afterlaunch:
        large = n == plan["large_rows"]
        ev = evidently[n]
        out["evidently_methods"][n] = sorted(set(ev["methods"].values()))
        out["verification"][n] = {
            "full_reports": ev["verified_reports"],
            "disagreements": ev["disagreements"],
        }
        al_null, ev_null = afterlaunch[n]["null"], ev["scenarios"]["null"]
        trials = len(al_null)
        cells = trials * n_cols
        out["null"][n] = {
            "trials": trials,
            "column_verdicts": cells,
            "afterlaunch_column_error": _rate(sum(len(v["error"]) for v in al_null), cells),
            "afterlaunch_column_warn_or_error": _rate(
                sum(len(v["error"]) + len(v["warn"]) for v in al_null), cells
            ),
            "evidently_column": _rate(sum(len(r["drifted"]) for r in ev_null), cells),
            "afterlaunch_dataset_error": _rate(sum(bool(v["error"]) for v in al_null), trials),
            "afterlaunch_dataset_warn_or_error": _rate(
                sum(bool(v["error"] or v["warn"]) for v in al_null), trials
            ),
            "evidently_any_column": _rate(sum(bool(r["drifted"]) for r in ev_null), trials),
            "evidently_dataset_drift": _rate(sum(r["dataset"] for r in ev_null), trials),
            "by_kind": {},
        }
        for kind, cols in (("numeric", set(num)), ("categorical", set(cat))):
            k_cells = trials * len(cols)
            out["null"][n]["by_kind"][kind] = {
                "column_verdicts": k_cells,
                "afterlaunch_error": _rate(
                    sum(len(cols & set(v["error"])) for v in al_null), k_cells
                ),
                "afterlaunch_warn_or_error": _rate(
                    sum(len(cols & set(v["error"] + v["warn"])) for v in al_null), k_cells
                ),
                "evidently": _rate(sum(len(cols & set(r["drifted"])) for r in ev_null), k_cells),
            }
        for s in scenarios()[1:]:
            key = "changed" if large else s["key"]
            col = layout[s["key"]] if large else s["column"]
            al, evs = afterlaunch[n][key], ev["scenarios"][key]
            out["power"].setdefault(s["key"], {"label": s["label"]})[n] = {
                "column": col,
                "trials": len(al),
                "afterlaunch_error": _rate(sum(col in v["error"] for v in al), len(al)),
                "afterlaunch_warn_or_error": _rate(
                    sum(col in v["error"] or col in v["warn"] for v in al), len(al)
                ),
                "evidently": _rate(sum(col in r["drifted"] for r in evs), len(evs)),
                "afterlaunch_significant": _rate(sum(col in v["significant"] for v in al), len(al)),
                "afterlaunch_over_error_floor": _rate(
                    sum(col in v["over_error_floor"] for v in al), len(al)
                ),
                "evidently_dataset_drift": _rate(sum(r["dataset"] for r in evs), len(evs)),
            }
    return out


# --- report ----------------------------------------------------------------------------------


def _pct(r: dict) -> str:
    return f"{100 * r['rate']:.1f}% ({r['count']}/{r['of']})"


def _share(r: dict) -> str:
    return f"{r['count']}/{r['of']}"


def targets(speed: list[dict]) -> list[dict]:
    out = []
    big = [r for r in speed if r["rows"] == 1_000_000 and r["numeric"] + r["categorical"] == 20]
    if big:
        ratio = big[0]["evidently_over_afterlaunch"]
        out.append(
            {
                "target": "Afterlaunch >= 50x faster than Evidently at 1,000,000 x 20",
                "measured": f"{ratio:.0f}x",
                "met": ratio >= 50,
            }
        )
    for r in speed:
        for key, floor in (
            ("afterlaunch_over_bare", "the bare loop"),
            ("afterlaunch_over_stored_counts_loop", "the bare loop on stored counts"),
        ):
            out.append(
                {
                    "target": f"Afterlaunch within 2x of {floor} at {_size(r)}",
                    "measured": f"{r[key]:.2f}x its time",
                    "met": r[key] <= 2,
                }
            )
    worst = max(r["weekly_drift_ms"] for r in speed)
    out.append(
        {
            "target": "weekly drift from seven merged daily profiles in milliseconds",
            "measured": f"{worst:.1f} ms at most",
            "met": worst < 1000,
        }
    )
    return out


def _size(r: dict) -> str:
    return f"{r['rows']:,} x {r['numeric'] + r['categorical']}"


def markdown(results: dict) -> str:
    speed, q = results["speed"], results["quality"]
    lines = [
        f"Machine: {results['machine']}; date {results['date']}; Evidently "
        f"{results['evidently_version']} (pandas {results['evidently_pandas']}) against "
        f"Afterlaunch on pandas {results['pandas']}. "
        f"Whole run {results['runtime_s'] / 60:.1f} min"
        + (" (--quick: small sizes, few trials)." if results["quick"] else "."),
        "",
        "Speed (seconds, best of the repeats shown; reference = current size):",
        "",
        "| rows x cols | Afterlaunch profile+drift (s) | Evidently DataDriftPreset (s) | "
        "bare loop, raw reference (s) | bare loop, stored counts (s) | "
        "Evidently / Afterlaunch | Afterlaunch / bare loop, raw | "
        "Afterlaunch / bare loop, stored | weekly drift, 7 daily profiles (ms) | "
        "repeats A/E/loops |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in speed:
        rep = r["repeats"]
        lines.append(
            f"| {_size(r)} | {r['afterlaunch_s']:.3f} | {r['evidently_s']:.2f} | "
            f"{r['bare_loop_s']:.3f} | {r['stored_counts_loop_s']:.3f} | "
            f"{r['evidently_over_afterlaunch']:.0f}x | {r['afterlaunch_over_bare']:.2f} | "
            f"{r['afterlaunch_over_stored_counts_loop']:.2f} | {r['weekly_drift_ms']:.1f} | "
            f"{rep['afterlaunch']}/{rep['evidently']}/{rep['bare_loops']} |"
        )
    lines += [
        "",
        f"Peak memory of one call (MB; {MEMORY_METHOD}):",
        "",
        "| rows x cols | Afterlaunch | Evidently | bare loop, raw reference | "
        "bare loop, stored counts |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in speed:
        m = r["peak_rss_growth_mb"]
        cells = [m[k] for k in ("afterlaunch", "evidently", "bare_loop", "stored_counts_loop")]
        lines.append(
            f"| {_size(r)} | "
            + " | ".join("n/a" if c is None else f"{c:.1f}" for c in cells)
            + " |"
        )
    lines += ["", "Targets:", "", "| target | measured | met |", "| --- | --- | --- |"]
    for t in results["targets"]:
        lines.append(f"| {t['target']} | {t['measured']} | {'yes' if t['met'] else 'NO'} |")

    sizes = list(q["null"])
    lines += [
        "",
        "False positives on null splits (reference and current from one distribution; "
        "15 numeric + 5 categorical columns):",
        "",
        "| rows | trials | Afterlaunch error, per column | Afterlaunch warn or error, per column | "
        "Evidently drift, per column | Afterlaunch any error, per dataset | "
        "Afterlaunch any warn or error, per dataset | Evidently any column, per dataset | "
        "Evidently dataset drift |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for n in sizes:
        r = q["null"][n]
        lines.append(
            f"| {n:,} | {r['trials']} | {_pct(r['afterlaunch_column_error'])} | "
            f"{_pct(r['afterlaunch_column_warn_or_error'])} | {_pct(r['evidently_column'])} | "
            f"{_pct(r['afterlaunch_dataset_error'])} | "
            f"{_pct(r['afterlaunch_dataset_warn_or_error'])} | "
            f"{_pct(r['evidently_any_column'])} | {_pct(r['evidently_dataset_drift'])} |"
        )
    lines += [
        "",
        "The per-column false-positive rate by kind of column (same null splits):",
        "",
        "| rows | kind | column verdicts | Afterlaunch error | Afterlaunch warn or error | "
        "Evidently drift |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for n in sizes:
        for kind, r in q["null"][n]["by_kind"].items():
            lines.append(
                f"| {n:,} | {kind} | {r['column_verdicts']} | {_pct(r['afterlaunch_error'])} | "
                f"{_pct(r['afterlaunch_warn_or_error'])} | {_pct(r['evidently'])} |"
            )
    head = "| change |" + "".join(
        f" {n:,}: Afterlaunch error | {n:,}: Afterlaunch warn or error | {n:,}: Evidently |"
        for n in sizes
    )
    lines += [
        "",
        "Power: share of trials in which the changed column is flagged (trials per cell: "
        + ", ".join(f"{q['null'][n]['trials']} at {n:,} rows" for n in sizes)
        + "):",
        "",
        head,
        "| --- |" + " --- | --- | --- |" * len(sizes),
    ]
    for power in q["power"].values():
        cells = []
        for n in sizes:
            r = power[n]
            cells += [
                _share(r["afterlaunch_error"]),
                _share(r["afterlaunch_warn_or_error"]),
                _share(r["evidently"]),
            ]
        lines.append(f"| {power['label']} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Afterlaunch on the changed column: which of the two conditions for an error held "
        f"(BH-adjusted chi-square p < {RULES.alpha}; effect size >= the error floor, "
        f"{RULES.numeric_error} SD numeric, {RULES.categorical_error} JS distance categorical):",
        "",
        "| change |"
        + "".join(f" {n:,}: significant | {n:,}: effect >= error floor |" for n in sizes),
        "| --- |" + " --- | --- |" * len(sizes),
    ]
    for power in q["power"].values():
        cells = []
        for n in sizes:
            r = power[n]
            cells += [
                _share(r["afterlaunch_significant"]),
                _share(r["afterlaunch_over_error_floor"]),
            ]
        lines.append(f"| {power['label']} | " + " | ".join(cells) + " |")
    lines += ["", "Evidently's automatic methods (DataDriftPreset defaults):", ""]
    for n in sizes:
        lines.append(f"- {n:,} rows: " + "; ".join(q["evidently_methods"][n]))
    checked = ", ".join(
        f"{v['full_reports']} at {n:,} rows ({len(v['disagreements'])} disagreeing)"
        for n, v in q["verification"].items()
        if v["full_reports"]
    )
    agree = all(
        r["verdicts_on_this_data"]["evidently_direct_path_agrees_with_report"] for r in speed
    )
    lines += [
        "",
        "Evidently's quality verdicts come from the preset's own per-column code without its "
        f"plots; full reports checked against it: {checked}; on every speed table: "
        f"{'all agree' if agree else 'SOME DISAGREE'}.",
    ]
    return "\n".join(lines) + "\n"


# --- main ------------------------------------------------------------------------------------


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small sizes and few trials")
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--keep-data", action="store_true", help="keep the Parquet files")
    parser.add_argument("--probe", choices=PROBES, help=argparse.SUPPRESS)
    parser.add_argument("--probe-files", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--probe-columns", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        probe(args.probe, *args.probe_files, *args.probe_columns)
        return

    started = time.perf_counter()
    plan = QUICK if args.quick else FULL
    ensure_evidently_env()
    work = Path(tempfile.mkdtemp(prefix="drift_vs_evidently_"))
    try:
        speed = [speed_case(spec, work) for spec in plan["speed"]]
        quality_results = quality(plan, work)
    finally:
        if args.keep_data:
            log.info("data kept in %s", work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    evidently_version, evidently_pandas = _evidently_versions()
    results = {
        "date": today(),
        "machine": machine(),
        "quick": args.quick,
        "plan": plan,
        "pandas": pd.__version__,
        "evidently_version": evidently_version,
        "evidently_pandas": evidently_pandas,
        "thresholds": THRESHOLDS | {"n_bins": RULES.n_bins, "max_categories": RULES.max_categories},
        "memory_method": MEMORY_METHOD,
        "speed": speed,
        "targets": targets(speed),
        "quality": quality_results,
        "runtime_s": time.perf_counter() - started,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "drift_vs_evidently.json").write_text(json.dumps(results, indent=2, default=str))
    text = markdown(results)
    (out / "drift_vs_evidently.md").write_text(text)
    print(text)


def _evidently_versions() -> tuple[str, str]:
    code = "import evidently, pandas; print(evidently.__version__, pandas.__version__)"
    cmd = [str(EVIDENTLY_PYTHON), "-c", code]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    evidently_version, pandas_version = out.split()
    return evidently_version, pandas_version


if __name__ == "__main__":
    main()
