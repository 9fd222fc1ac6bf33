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
    predictions: pd.DataFrame  # recent predictions: `day` (ISO), `arm`, `model_version` per row
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
    # A day the daily run stopped before the report: which assets are missing for which
    # partitions, the failed checks that stopped it, and the newest complete report.
    blocked: Blocked | None = None


@dataclass
class Blocked:
    missing: list[dict]  # {"asset", "partition"}
    failed_checks: list[dict]  # {"asset", "check", "severity", "description"}
    last_good: dict | None  # the newest earlier report that was not degraded


def _status(ok: bool | None, warn: bool = False) -> str:
    if ok is None:
        return "unknown"
    return "ok" if ok and not warn else ("warn" if ok else "fail")


def build_report(x: ReadinessInputs) -> dict:
    rules = x.rules
    week = [(x.day - timedelta(days=i)).isoformat() for i in range(rules.week_days)][::-1]
    preds = _require(x.predictions)
    this_week = preds[preds["day"].isin(week)]
    # One measurement for the headline and the per-day table: the rows as served (each
    # decided by the version and arm that served it), never the champion's shadow score.
    week_m = _measure(this_week, x.labels, x.task)
    base = x.baseline["metrics"]["task_success"]["value"]
    floor = base - rules.task_success_drop_points / 100
    shown = week_m["task_success"] if week_m["task_success"] is not None else week_m["estimate"]
    scored_days = sorted(set(this_week["day"]))
    q1 = {
        "question": "task success this week vs the launch baseline",
        "status": _status(None if shown is None else shown >= floor),
        "value": shown,
        "version": describe_versions(week_m["versions"]),
        "versions": week_m["versions"],
        "mixed": len(week_m["versions"]) > 1,
        "this_week": week_m["task_success"],
        "rows": week_m["rows"],
        "labelled_rows": week_m["labelled"],
        "labelled_share": week_m["labelled_share"],
        "label_free_estimate": week_m["estimate"],
        "label_free_std": week_m["estimate_std"],
        "baseline": base,
        "baseline_version": x.baseline["champion_version"],
        "floor": floor,
        "days": scored_days,
        "unscored_days": [d for d in week if d not in scored_days],
        "answer": _q1_text(week_m, base, floor, x.baseline["champion_version"], x.task),
        "source": [x.sources["predictions"], x.sources["labels"], x.sources["baseline"]],
    }
    q2 = _q2(x)
    now = adoption_summary(x.actions_week)
    # Feedback of the week is about rows scored up to a day before it: look them up in all.
    acted_on = describe_versions(_versions(_acted_on(preds, x.actions_week)))
    first = x.month1
    ratio = (
        now["adoption"] / first["adoption"]
        if now["adoption"] is not None and first.get("adoption")
        else None
    )
    q3 = {
        "question": "adoption vs month 1",
        "status": _status(None if ratio is None else ratio >= 1 - rules.adoption_drop),
        "value": now["adoption"],
        "version": acted_on,
        "adoption_this_week": now["adoption"],
        "adoption_month1": first.get("adoption"),
        "override_rate_this_week": now["override_rate"],
        "override_rate_month1": first.get("override_rate"),
        "answer": _q3_text(now, first) + _about(acted_on, now["adoption"]),
        "source": [x.sources["feedback"]],
    }
    pre = x.pre_deployment.get("kpi")
    kpi = now["kpi"]
    change = kpi / pre - 1 if kpi is not None and pre else None
    worse = None if change is None else (change if x.kpi_lower_is_better else -change)
    q4 = {
        "question": "business metric vs pre-deployment",
        "status": _status(None if worse is None else worse <= rules.kpi_worsening),
        "value": kpi,
        "version": acted_on,
        "kpi": x.kpi_name,
        "kpi_this_week": kpi,
        "kpi_pre_deployment": pre,
        "change": change,
        "answer": f"no {x.kpi_name} recorded"
        if change is None
        else f"average {x.kpi_name} {kpi:.1f} vs {pre:.1f} before deployment ({change:+.1%})"
        + _about(acted_on, kpi),
        "source": [x.sources["feedback"]],
    }
    q5 = _q5(x, preds)
    questions = [q1, q2, q3, q4, q5]
    daily = _daily(preds, x.labels, x.actions_recent, x.task)
    joined = this_week.merge(x.labels[[ID, LABEL]], on=ID, how="left")
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
        "degraded": _degraded(x.blocked, x.day.isoformat()),
        "layers": {
            "input": x.input_days,
            "output": {**x.output, "label_free_estimate": week_m["estimate"]},
            "performance": {
                "daily": daily,
                "segments": segments,
                "segments_version": describe_versions(week_m["versions"]),
            },
            "business": {"this_week": now, "month1": first, "pre_deployment": x.pre_deployment},
        },
        "stages": stage_view(measured, rules.stages),
    }


def _require(preds: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in ("day", ID, "arm", "model_version", "score") if c not in preds]
    if missing and len(preds):
        raise ValueError(
            f"readiness: predictions lack {', '.join(missing)}: each served row must say "
            "which version and arm served it"
        )
    if not len(preds):
        return pd.DataFrame(
            {c: pd.Series(dtype="object") for c in ("day", ID, "arm", "model_version")}
        ).assign(score=pd.Series(dtype="float64"))
    return preds


def _q2(x: ReadinessInputs) -> dict:
    rules, pipe, day = x.rules, x.pipeline, x.day.isoformat()
    rows, expected = pipe.get("rows"), pipe.get("expected_rows")
    errors = pipe.get("schema_errors", [])
    volume_ok = (
        None if not expected or rows is None else rows >= rules.volume_warn_factor * expected
    )
    today_broken = any(e["day"] == day for e in errors)
    stopped = x.blocked is not None
    answer = (
        f"last successful production run {pipe.get('last_success') or 'never'}; "
        f"{rows if rows is not None else 'no'} rows on {day} vs {expected or 'n/a'} expected; "
        f"{len(errors)} schema error day(s) in the last {rules.schema_errors_days} days"
    )
    if stopped:
        checks = ", ".join(f"{c['check']} ({c['severity']})" for c in x.blocked.failed_checks)
        answer += f"; the run for {day} stopped " + (f"at {checks}" if checks else "early")
    return {
        "question": "data pipeline health",
        # Schema errors earlier in the month were handled (the contract blocked them): a
        # warning to read; one today, a short day or a blocked run is a failure.
        "status": "fail"
        if stopped
        else _status(
            None if volume_ok is None else (volume_ok and not today_broken), warn=bool(errors)
        ),
        "value": float(rows / expected) if rows is not None and expected else None,
        "version": f"the data of {day} (no model version)",
        "last_successful_run": pipe.get("last_success"),
        "rows": rows,
        "expected_rows": expected,
        "schema_errors_30d": errors,
        "answer": answer,
        "source": [x.sources["raw"], "raw_contract", "raw_schema", "daily_production"],
    }


def _q5(x: ReadinessInputs, preds: pd.DataFrame) -> dict:
    cur = x.currency
    intended, served = cur["intended"], cur["served"]
    today = preds[preds["day"] == x.day.isoformat()]
    arms = _versions(today)
    right = today["model_version"].isin([str(v) for v in intended]) if len(today) else None
    return {
        "question": "version currency: is the served version the intended champion",
        "status": _status(set(served) <= set(intended) if served else None),
        "value": float(right.mean()) if right is not None else None,
        "version": describe_versions(arms) if arms else f"nothing served on {x.day.isoformat()}",
        **cur,
        "served_arms": arms,
        "answer": _q5_text(cur, arms, x.day.isoformat()),
        "source": [
            x.sources["predictions"],
            x.sources["champion"],
            x.sources["rollout"],
            x.sources["flags"],
        ],
    }


def _versions(frame: pd.DataFrame, labelled: pd.DataFrame | None = None) -> list[dict]:
    """Per (version, arm) that served rows: how many, on which days, how many labelled."""
    if not len(frame):
        return []
    out = []
    for (version, arm), part in frame.groupby(["model_version", "arm"], sort=True):
        days = sorted(set(part["day"])) if "day" in part else []
        entry = {"version": str(version), "arm": str(arm), "rows": int(len(part))}
        if days:
            entry |= {"first_day": days[0], "last_day": days[-1]}
        if labelled is not None:
            entry["labelled"] = int(
                ((labelled["model_version"] == version) & (labelled["arm"] == arm)).sum()
            )
        out.append(entry)
    return out


def describe_versions(entries: list[dict]) -> str:
    """ "version 5, champion arm" or, when several served, each with its rows and days."""
    if not entries:
        return "no version (nothing served)"
    if len(entries) == 1:
        e = entries[0]
        return f"{_name(e['version'])}, {e['arm']} arm"
    parts = []
    for e in entries:
        span = ""
        if "first_day" in e:
            last = e["last_day"]
            span = f", {e['first_day']}" + (f"..{last}" if last != e["first_day"] else "")
        parts.append(f"{_name(e['version'])} ({e['arm']} arm, {e['rows']:,} rows{span})")
    return "mixed: " + "; ".join(parts)


def _name(version: str) -> str:
    return "the fallback rules" if version == "rules" else f"version {version}"


def _about(versions: str, value) -> str:
    return "" if value is None else f" (outputs of {versions})"


def _acted_on(preds: pd.DataFrame, actions: pd.DataFrame) -> pd.DataFrame:
    """The served rows people's feedback is about."""
    if actions.empty or not len(preds):
        return preds.iloc[0:0]
    return preds[preds[ID].isin(set(actions[ID]))]


def _measure(rows: pd.DataFrame, labels: pd.DataFrame, task) -> dict:
    """Task success (labelled served rows, each at its serving version's threshold), the
    label-free estimate (rows a model served; the fallback rules are not calibrated), and
    the versions and arms behind them: the one computation the headline and the day share."""
    served = rows[rows["score"].notna()]
    joined = served.merge(labels[[ID, LABEL]], on=ID, how="left")
    done = joined[joined[LABEL].notna()]
    by_model = served[served["arm"] != "flag_off"]
    est = _estimate(task, by_model, "score")
    return {
        "rows": int(len(rows)),
        "labelled": int(len(done)),
        "labelled_share": float(len(done) / len(served)) if len(served) else 0.0,
        "task_success": task_success(
            done["score"].to_numpy(), done[LABEL].to_numpy(), task, thresholds(done, "score")
        ),
        "estimate": est.value,
        "estimate_std": est.std,
        "versions": _versions(served, done),
    }


def _degraded(blocked: Blocked | None, day: str) -> dict | None:
    if blocked is None:
        return None
    why = [
        f"{c['asset']}.{c['check']} ({c['severity']}): {c['description']}"
        for c in blocked.failed_checks
    ]
    return {
        "day": day,
        "missing": blocked.missing,
        "why": why or [f"the daily run for {day} stopped before the report (no failed check)"],
        "failed_checks": blocked.failed_checks,
        "last_good": blocked.last_good,
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
    """Per scored day, from the same measurement as the headline: task success once the
    labels came, the label-free estimate, the versions and arms that served, and what people
    did with the outputs (known the next day): override and acceptance rates, the share of
    outputs used and the KPI."""
    out = []
    if len(actions):
        wanted = [c for c in (ID, "used", "accepted", "kpi") if c in actions]
        acted = preds.merge(actions[wanted], on=ID, how="left")
    else:
        acted = preds.assign(used=np.nan, accepted=np.nan, kpi=np.nan)
    for day, part in acted.groupby("day"):
        m = _measure(part, labels, task)
        seen = part[part["used"] == 1]
        known = part[part["used"].notna()]
        kpi = part["kpi"].dropna() if "kpi" in part else pd.Series(dtype=float)
        out.append(
            {
                "day": day,
                # Served versions joined: a new model (or a canary mix) starts its own level.
                "version": ",".join(sorted({v["version"] for v in m["versions"]})),
                "served": describe_versions(m["versions"]),
                "versions": m["versions"],
                "rows": m["rows"],
                "labelled": m["labelled"],
                "label_free_estimate": m["estimate"],
                "task_success": m["task_success"],
                "labelled_share": m["labelled_share"],
                "override_rate": float((seen["accepted"] != 1).mean()) if len(seen) else None,
                "acceptance_rate": float((seen["accepted"] == 1).mean()) if len(seen) else None,
                "used_share": float((known["used"] == 1).mean()) if len(known) else None,
                "kpi": float(kpi.mean()) if len(kpi) else None,
            }
        )
    return out


def _q1_text(m: dict, base: float, floor: float, base_version, task) -> str:
    n, parts = m["rows"], []
    about = describe_versions(m["versions"])
    if m["task_success"] is not None:
        parts.append(
            f"task success {m['task_success']:.3f} ({about}) on {m['labelled']:,} labelled "
            f"of {n:,} rows"
        )
    if m["estimate"] is not None:
        parts.append(f"label-free estimate {m['estimate']:.3f} on all {n:,}")
    elif not task.has_label_free_estimate and n:
        parts.append("no label-free estimate for this task (only labels can tell)")
    if not parts:
        return "nothing scored this week"
    if m["task_success"] is None:
        parts[0] = parts[0] + f" ({about})"
    return "; ".join(parts) + f"; baseline {base:.3f} (version {base_version}), floor {floor:.3f}"


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


def _q5_text(cur: dict, arms: list[dict], day: str) -> str:
    served = (
        ", ".join(f"{_name(a['version'])} ({a['arm']} arm, {a['rows']:,} rows)" for a in arms)
        if arms
        else f"nothing on {day} (no predictions)"
    )
    text = f"served {served}; @champion is {cur['champion']}"
    if cur.get("flag") and cur["flag"] != "on":
        text += f"; serving flag {cur['flag']}"
    if cur.get("rollout"):
        text += f"; rollout {cur['rollout']}"
    ok = set(cur["served"]) <= set(cur["intended"])
    return text + ("" if ok else f": NOT the intended {', '.join(cur['intended'])}")
