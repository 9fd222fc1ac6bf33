"""The readiness report: five questions a domain owner asks, answered from what the pipeline
recorded, each answer naming the assets it came from. Plain data in, plain dict out, in the
neutral vocabulary of `checks.monitoring` (entity_id, label, score, actor, used, kpi ...)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from checks.monitoring import (
    adoption_summary,
    segment_performance,
    stage_view,
    task_success,
    thresholds,
)
from checks.policy import ReadinessRules

LABEL = "label"
ID = "entity_id"


@dataclass
class ReadinessInputs:
    day: date
    launch: date
    predictions: pd.DataFrame  # recent predictions with a `day` column (ISO) per row
    labels: pd.DataFrame  # clean (entity_id, label) known by `day`
    actions_week: pd.DataFrame  # feedback recorded this week
    actions_recent: pd.DataFrame  # feedback for the rows in `predictions`
    month1: dict  # adoption_summary of month 1 after launch (so far, if still in it)
    pre_deployment: dict  # adoption_summary of the days before launch (the KPI's baseline)
    baseline: dict  # the baseline_metrics value of the champion
    pipeline: dict  # last_success, rows, expected_rows, schema_errors (list of dicts)
    currency: dict  # champion, served (list), flag, rollout
    output: dict  # prediction_drift's figures for the day
    input_days: list[dict]  # per day: the failed data checks
    task: object  # the workflow's task: correct, decide, label_free_estimate
    rules: ReadinessRules
    stages: dict[str, str]  # stage name -> measure (task_success | acceptance_rate | kpi_ratio)
    segments: list[str]
    sources: dict[str, str]  # asset names the answers cite: raw, labels, feedback, ...
    kpi_name: str = "KPI"
    kpi_lower_is_better: bool = True


def _status(ok: bool | None, warn: bool = False) -> str:
    if ok is None:
        return "unknown"
    return "ok" if ok and not warn else ("warn" if ok else "fail")


def build_report(x: ReadinessInputs) -> dict:
    rules = x.rules
    week = [(x.day - timedelta(days=i)).isoformat() for i in range(rules.week_days)][::-1]
    preds = x.predictions
    this_week = preds[preds["day"].isin(week)]
    joined = this_week.merge(x.labels[[ID, LABEL]], on=ID, how="left")
    labelled = joined[joined[LABEL].notna() & joined["champion_score"].notna()]
    realized = task_success(
        labelled["score"].to_numpy(),
        labelled[LABEL].to_numpy(),
        x.task,
        thresholds(labelled, "score"),
    )
    estimate = _estimate(x.task, this_week, "champion_score")
    base = x.baseline["metrics"]["task_success"]["value"]
    floor = base - rules.task_success_drop_points / 100
    shown = realized if realized is not None else estimate.value
    q1 = {
        "question": "task success this week vs the launch baseline",
        "status": _status(None if shown is None else shown >= floor),
        "this_week": realized,
        "labelled_share": len(labelled) / len(this_week) if len(this_week) else 0.0,
        "label_free_estimate": estimate.value,
        "label_free_std": estimate.std,
        "baseline": base,
        "baseline_version": x.baseline["champion_version"],
        "answer": _q1_text(realized, estimate.value, base, len(labelled), len(this_week), x.task),
        "source": [x.sources["predictions"], x.sources["labels"], x.sources["baseline"]],
    }
    pipe = x.pipeline
    rows, expected = pipe.get("rows"), pipe.get("expected_rows")
    errors = pipe.get("schema_errors", [])
    volume_ok = (
        None if not expected or rows is None else rows >= rules.volume_warn_factor * expected
    )
    today_broken = any(e["day"] == x.day.isoformat() for e in errors)
    q2 = {
        "question": "data pipeline health",
        # Schema errors earlier in the month were handled (the contract blocked them): a
        # warning to read; one today, or a short day, is a failure.
        "status": _status(
            None if volume_ok is None else (volume_ok and not today_broken), warn=bool(errors)
        ),
        "last_successful_run": pipe.get("last_success"),
        "rows": rows,
        "expected_rows": expected,
        "schema_errors_30d": errors,
        "answer": f"last successful production run {pipe.get('last_success') or 'never'}; "
        f"{rows if rows is not None else 'no'} rows vs {expected or 'n/a'} expected; "
        f"{len(errors)} schema error day(s) in the last {rules.schema_errors_days} days",
        "source": [x.sources["raw"], "raw_contract", "raw_schema", "daily_production"],
    }
    now = adoption_summary(x.actions_week)
    first = x.month1
    ratio = (
        now["adoption"] / first["adoption"]
        if now["adoption"] is not None and first.get("adoption")
        else None
    )
    q3 = {
        "question": "adoption vs month 1",
        "status": _status(None if ratio is None else ratio >= 1 - rules.adoption_drop),
        "adoption_this_week": now["adoption"],
        "adoption_month1": first.get("adoption"),
        "override_rate_this_week": now["override_rate"],
        "override_rate_month1": first.get("override_rate"),
        "answer": _q3_text(now, first),
        "source": [x.sources["feedback"]],
    }
    pre = x.pre_deployment.get("kpi")
    kpi = now["kpi"]
    change = kpi / pre - 1 if kpi is not None and pre else None
    worse = None if change is None else (change if x.kpi_lower_is_better else -change)
    q4 = {
        "question": "business metric vs pre-deployment",
        "status": _status(None if worse is None else worse <= rules.kpi_worsening),
        "kpi": x.kpi_name,
        "kpi_this_week": kpi,
        "kpi_pre_deployment": pre,
        "change": change,
        "answer": f"no {x.kpi_name} recorded"
        if change is None
        else f"average {x.kpi_name} {kpi:.1f} vs {pre:.1f} before deployment ({change:+.1%})",
        "source": [x.sources["feedback"]],
    }
    cur = x.currency
    intended = cur["intended"]
    served = cur["served"]
    q5 = {
        "question": "version currency: is the served version the intended champion",
        "status": _status(set(served) <= set(intended) if served else None),
        **cur,
        "answer": _q5_text(cur),
        "source": [
            x.sources["predictions"],
            x.sources["champion"],
            x.sources["rollout"],
            x.sources["flags"],
        ],
    }
    questions = [q1, q2, q3, q4, q5]
    daily = _daily(preds, x.labels, x.actions_recent, x.task)
    segments = segment_performance(
        _with_actions(joined, x.actions_week), [c for c in x.segments if c in joined], x.task
    )
    values = {
        "task_success": shown,
        "acceptance_rate": now["acceptance_rate"],
        "kpi_ratio": (kpi / pre) if kpi and pre else None,
    }
    measured = {name: values[measure] for name, measure in x.stages.items()}
    return {
        "day": x.day.isoformat(),
        "launch": x.launch.isoformat(),
        "week": f"{week[0]} .. {week[-1]}",
        "overall": _overall(questions),
        "questions": questions,
        "layers": {
            "input": x.input_days,
            "output": {**x.output, "label_free_estimate": estimate.value},
            "performance": {"daily": daily, "segments": segments},
            "business": {"this_week": now, "month1": first, "pre_deployment": x.pre_deployment},
        },
        "stages": stage_view(measured, rules.stages),
    }


def _overall(questions: list[dict]) -> str:
    states = {q["status"] for q in questions}
    return "fail" if "fail" in states else ("warn" if "warn" in states else "ok")


@dataclass(frozen=True)
class _NoEstimate:
    value: None = None
    std: None = None


def _estimate(task, frame: pd.DataFrame, column: str):
    """The task's label-free estimate of task success of `column`'s outputs (each at its
    version's threshold), or an empty one when it has none."""
    found = task.label_free_estimate(frame[column].to_numpy(), thresholds(frame, column))
    return found if found is not None else _NoEstimate()


def _with_actions(joined: pd.DataFrame, actions: pd.DataFrame) -> pd.DataFrame:
    if actions.empty:
        return joined.assign(used=0, accepted=0)
    return joined.merge(actions[[ID, "used", "accepted"]], on=ID, how="left")


def _daily(preds: pd.DataFrame, labels: pd.DataFrame, actions: pd.DataFrame, task) -> list[dict]:
    """Per scored day: the label-free estimate, people's override rate (known the next
    day), and the real task success once the labels came."""
    out = []
    joined = preds.merge(labels[[ID, LABEL]], on=ID, how="left")
    if len(actions):
        joined = joined.merge(actions[[ID, "used", "accepted"]], on=ID, how="left")
    else:
        joined = joined.assign(used=np.nan, accepted=np.nan)
    for day, part in joined.groupby("day"):
        scored = part[part["champion_score"].notna()]
        done = scored[scored[LABEL].notna()]
        est = _estimate(task, scored, "champion_score")
        versions = sorted(set(scored["champion_version"].dropna()))
        out.append(
            {
                "day": day,
                "version": ",".join(versions),
                "rows": int(len(part)),
                "label_free_estimate": est.value,
                "task_success": task_success(
                    done["champion_score"].to_numpy(),
                    done[LABEL].to_numpy(),
                    task,
                    thresholds(done, "champion_score"),
                )
                if len(done)
                else None,
                "labelled_share": float(len(done) / len(scored)) if len(scored) else 0.0,
                "override_rate": _override_rate(part),
            }
        )
    return out


def _override_rate(part: pd.DataFrame) -> float | None:
    seen = part[part["used"] == 1]
    return float((seen["accepted"] != 1).mean()) if len(seen) else None


def _q1_text(realized, estimate, base, n_labelled, n, task) -> str:
    parts = []
    if realized is not None:
        parts.append(f"task success {realized:.3f} on {n_labelled:,} labelled of {n:,} rows")
    if estimate is not None:
        parts.append(f"label-free estimate {estimate:.3f} on all {n:,}")
    elif not task.has_label_free_estimate and n:
        parts.append("no label-free estimate for this task (only labels can tell)")
    if not parts:
        return "nothing scored this week"
    return "; ".join(parts) + f"; baseline {base:.3f}"


def _q3_text(now: dict, first: dict) -> str:
    if now["adoption"] is None:
        return "no feedback recorded this week"
    text = f"{now['adoption']:.0%} of people used it this week"
    if first.get("adoption") is not None:
        text += f" vs {first['adoption']:.0%} in month 1"
    if now["override_rate"] is not None:
        text += f"; override rate {now['override_rate']:.1%}"
        if first.get("override_rate") is not None:
            text += f" (month 1: {first['override_rate']:.1%})"
    return text


def _q5_text(cur: dict) -> str:
    served = ", ".join(cur["served"]) or "nothing"
    text = f"served {served}; @champion is {cur['champion']}"
    if cur.get("flag") and cur["flag"] != "on":
        text += f"; serving flag {cur['flag']}"
    if cur.get("rollout"):
        text += f"; rollout {cur['rollout']}"
    ok = set(cur["served"]) <= set(cur["intended"])
    return text + ("" if ok else f": NOT the intended {', '.join(cur['intended'])}")
