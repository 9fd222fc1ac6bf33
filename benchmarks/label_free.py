"""How well the label-free signals track task success on a demo home, and how early they move.

Reads a finished demo's home (default `.afterlaunch`; run `make demo` first) for one workflow
(`--workflow`, default: the only one): every scored day's predictions, all labels known by the
end, the people's feedback (for ticket escalation: the agents' actions) and the timeline. Per
day:

* the label-free estimate (CBPE on the champion's scores), available when the day is scored;
* the agents' override rate, available the day after (the CRM records it then);
* the real task success, known only when the labels have arrived (2-4 days later).

Reports the estimate's error on days without an incident, and for each incident that changes
the model's world (covariate shift, concept drift) the first day each signal leaves its band
(median +- 3 robust standard deviations of its values on the 14 clean days before).

    .venv/bin/python benchmarks/label_free.py --home .afterlaunch [--workflow NAME]
        [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assets.labels import label_schema  # noqa: E402
from assets.workflow import Workflow  # noqa: E402
from checks.labels import clean_labels  # noqa: E402
from checks.monitoring import task_success  # noqa: E402
from orchestration.catalog import choose  # noqa: E402
from resources.snapshots import SnapshotStore, snapshot_root  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


def _all(store: SnapshotStore, asset: str) -> pd.DataFrame:
    return pd.concat([store.read(asset, d) for d in store.partitions(asset)])


def per_day(store: SnapshotStore, wf: Workflow) -> pd.DataFrame:
    task, entity, label = wf.task, wf.entity.id, wf.label.column
    if not task.has_label_free_estimate or wf.feedback is None:
        raise SystemExit(
            f"workflow {wf.name}: its task has no label-free estimate or it records no "
            "feedback; this benchmark compares both with the labels"
        )
    used, accepted = wf.feedback.used, wf.feedback.accepted
    days = store.partitions("predictions")
    preds = pd.concat([store.read("predictions", d).assign(day=d) for d in days])
    labels, _ = clean_labels(_all(store, "labels"), set(preds[entity]), set(), label_schema(wf))
    actions = _all(store, "feedback").drop_duplicates(entity, keep="last")
    joined = preds.merge(labels[[entity, label]], on=entity, how="left")
    joined = joined.merge(actions[[entity, used, accepted]], on=entity, how="left")
    rows = []
    for day, part in joined.groupby("day"):
        scored = part[part["champion_score"].notna()]
        if scored.empty:
            continue
        est = task.label_free_estimate(scored["champion_score"].to_numpy())
        done = scored[scored[label].notna()]
        seen = scored[scored[used] == 1]
        rows.append(
            {
                "day": day,
                "version": ",".join(sorted(set(scored["champion_version"]))),
                "tickets": len(scored),
                "estimate": est.value,
                "estimate_std": est.std,
                "real": task_success(
                    done["champion_score"].to_numpy(), done[label].to_numpy(), task
                ),
                "override_rate": float((seen[accepted] != 1).mean()) if len(seen) else None,
            }
        )
    return pd.DataFrame(rows)


def first_move(series: pd.Series, clean: pd.Series, start: str) -> str | None:
    """First day from `start` outside median +- 3 robust sd (1.4826 MAD) of the 14 clean days
    before `start` (robust: one odd clean day must not widen the band for good)."""
    before = series[clean & (series.index < start)].dropna().tail(14)
    if len(before) < 5:
        return None
    centre = before.median()
    spread = 3 * 1.4826 * (before - centre).abs().median()
    low, high = centre - spread, centre + spread
    after = series[series.index >= start].dropna()
    moved = after[(after < low) | (after > high)]
    return moved.index[0] if len(moved) else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", default=".afterlaunch")
    parser.add_argument("--workflow", help="the workflow (default: the only one)")
    parser.add_argument("--out", default=str(RESULTS), help="folder for the results files")
    args = parser.parse_args()
    home = Path(args.home)
    wf = choose(args.workflow)
    timeline = json.loads((home / "reports" / "timeline.json").read_text())
    table = per_day(SnapshotStore(snapshot_root(home, wf.name)), wf).set_index("day")
    incident_days: set[str] = set()
    for e in timeline["events"]:
        if e["kind"] == "incident_injected":
            first, last = date.fromisoformat(e["date"]), date.fromisoformat(e["last_date"])
            span = (last - first).days + 1
            incident_days |= {(first + timedelta(days=i)).isoformat() for i in range(span)}
    clean = pd.Series([d not in incident_days for d in table.index], index=table.index)
    error = (table["estimate"] - table["real"])[clean].dropna()
    within = (error.abs() <= 2 * table.loc[error.index, "estimate_std"]).mean()
    results = {
        "home": str(home),
        "workflow": wf.name,
        "machine": f"{platform.machine()}, Python {platform.python_version()}",
        "scored_days": int(len(table)),
        "clean_days": int(len(error)),
        "clean_mean_abs_error_points": round(100 * float(error.abs().mean()), 2),
        "clean_max_abs_error_points": round(100 * float(error.abs().max()), 2),
        "clean_mean_error_points": round(100 * float(error.mean()), 2),
        "clean_within_2_std": round(float(within), 3),
        "incidents": [],
    }
    checks = [e for e in timeline["events"] if e["kind"] == "check_failed"]
    for e in timeline["events"]:
        if e["kind"] != "incident_injected" or e["incident"] not in (
            "covariate_shift",
            "concept_drift",
        ):
            continue
        start = e["date"]
        moves = {
            name: first_move(table[name], clean, start)
            for name in ("estimate", "override_rate", "real")
        }
        # Days until the figure exists: scored the next day, feedback recorded the day after,
        # the ticket workflow's labels 2-4 days later.
        lag = {"estimate": 1, "override_rate": 2, "real": 4}
        known = {
            name: (date.fromisoformat(day) + timedelta(days=lag[name])).isoformat() if day else None
            for name, day in moves.items()
        }
        horizon = (date.fromisoformat(e["last_date"]) + timedelta(days=14)).isoformat()
        warned = next(
            (
                c["date"]
                for c in checks
                if c["check"] == "label_free_signals" and c["date"] >= start
            ),
            None,
        )
        weekly = next(
            (
                c["date"]
                for c in checks
                if c["check"] == "weekly_task_success" and start <= c["date"] <= horizon
            ),
            None,
        )
        window = table.loc[start : e["last_date"]]
        results["incidents"].append(
            {
                "incident": e["incident"],
                "from": start,
                "to": e["last_date"],
                "moved_on_day": moves,
                "known_on": known,
                "weekly_check_failed_on": weekly,
                "label_free_signals_warned_on": warned,
                "estimate_during": round(float(window["estimate"].mean()), 3),
                "real_during": round(float(window["real"].mean()), 3),
                "override_during": round(float(window["override_rate"].mean()), 3),
            }
        )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "label_free.json").write_text(json.dumps(results, indent=2))
    table.to_csv(out / "label_free_days.csv")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
