"""readiness_report: the five questions, refreshed daily, from the assets that know the answers.

The asset gathers what the pipeline recorded (predictions, labels, agents' actions, the
baseline, check results, runs, the registry, the serving flag and the rollout), asks
`checks.readiness.build_report`, and shows the answer three ways: Markdown metadata in the
Dagster UI, `<home>/reports/readiness.html`, and `afterlaunch status` (which reads the value).
"""

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from dagster import (
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetKey,
    DagsterRunStatus,
    MetadataValue,
    Output,
    RunsFilter,
    asset,
    asset_check,
)

from assets.check_history import evaluations
from assets.features import FEATURE_CHECKS
from assets.history import latest_metadata
from assets.labels import LABEL_CHECKS
from assets.metadata import table
from assets.partitions import DAILY, day_of, key_of
from assets.predictions import SCORE_PROFILE, _of_version
from assets.profiles import PROFILE_CHECKS
from assets.raw_tickets import RAW_TICKETS_CHECKS
from assets.readiness_render import render_html, render_markdown
from assets.serving import current_flag, current_rollout
from checks.labels import clean_labels
from checks.monitoring import adoption_summary, early_warning
from checks.readiness import ReadinessInputs, build_report
from checks.rollout import is_active
from resources.policy import PolicyResource
from resources.registry import ModelRegistry
from resources.storage import HomeStorage

# The input layer: every check on the data assets.
DATA_CHECKS = [*RAW_TICKETS_CHECKS, *LABEL_CHECKS, *PROFILE_CHECKS, *FEATURE_CHECKS]
SCHEMA_CHECKS = [
    AssetCheckKey(AssetKey("raw_tickets"), "raw_tickets_contract"),
    AssetCheckKey(AssetKey("raw_tickets"), "raw_tickets_schema"),
]
DRIFT_CHECK = AssetCheckKey(AssetKey("predictions"), "prediction_drift")
EMPTY_ACTIONS = pd.DataFrame(
    {c: pd.Series(dtype="object") for c in ("ticket_id", "agent_id", "used", "accepted")}
).assign(handle_minutes=pd.Series(dtype="float64"))


def _read(store, asset: str, days: list[str]) -> pd.DataFrame:
    stored = set(store.partitions(asset))
    frames = [store.read(asset, d).assign(day=d) for d in days if d in stored]
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _actions(store, days: list[str]) -> pd.DataFrame:
    found = _read(store, "agent_actions", days)
    return found if len(found) else EMPTY_ACTIONS


def _span(first: date, last: date) -> list[str]:
    return [key_of(first + timedelta(days=i)) for i in range((last - first).days + 1)]


@asset(
    partitions_def=DAILY,
    group_name="monitoring",
    # Not rollout_comparison: it yields nothing when no rollout runs, which would skip this.
    deps=["predictions", "agent_actions", "ticket_labels", "baseline_metrics"],
    kinds={"pandas", "html"},
    owners=["team:ml-platform"],
)
def readiness_report(
    context: AssetExecutionContext,
    storage: HomeStorage,
    registry: ModelRegistry,
    policy: PolicyResource,
) -> Output[dict]:
    """Task success vs baseline, pipeline health, adoption vs month 1, the business metric vs
    pre-deployment, and whether the served version is the intended one."""
    rules = policy.load()
    store = storage.snapshots
    day = day_of(context.partition_key)
    scored = store.partitions("predictions")
    launch = date.fromisoformat(scored[0])
    previous = _previous(store, day)
    month1_end = launch + timedelta(days=rules.readiness.month1_days)
    if previous and previous["layers"]["business"].get("month1_complete"):
        month1 = previous["layers"]["business"]["month1"]
    else:
        month1 = adoption_summary(
            _actions(store, _span(launch + timedelta(days=1), min(day, month1_end)))
        )
    if previous:
        pre = previous["layers"]["business"]["pre_deployment"]
    else:
        pre_days = [d for d in store.partitions("agent_actions") if d <= key_of(launch)]
        pre = adoption_summary(_actions(store, pre_days))
    recent = _read(store, "predictions", _span(day - timedelta(days=13), day))
    raw_labels = _read(store, "ticket_labels", _span(day - timedelta(days=18), day))
    labels = (
        clean_labels(raw_labels.drop(columns="day"), set(recent["ticket_id"]), set())[0]
        if len(raw_labels) and len(recent)
        else pd.DataFrame({"ticket_id": pd.Series(dtype="str"), "escalated": []})
    )
    week = _span(day - timedelta(days=rules.readiness.week_days - 1), day)
    # Actions are recorded the day after their tickets: these cover the scored days above.
    recent_actions = _actions(store, _span(day - timedelta(days=12), day))
    week_actions = (
        recent_actions[recent_actions["day"].isin(week)] if len(recent_actions) else recent_actions
    )
    inputs = ReadinessInputs(
        day=day,
        launch=launch,
        predictions=recent,
        labels=labels,
        actions_week=week_actions,
        actions_recent=recent_actions,
        month1=month1,
        pre_deployment=pre,
        baseline=store.read("baseline_metrics", None),
        pipeline=_pipeline(context, day, rules.readiness.schema_errors_days),
        currency=_currency(store, registry, recent, context.partition_key),
        output=_output(context, store, registry, recent, week),
        input_days=_input_days(context, week),
        threshold=rules.gate.decision_threshold,
        rules=rules.readiness,
    )
    report = build_report(inputs)
    report["layers"]["business"]["month1_complete"] = day > month1_end
    html = render_html(report)
    target = Path(storage.home) / "reports" / "readiness.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(html)
    context.log.info("readiness %s on %s; written to %s", report["overall"], day, target)
    return Output(
        report,
        metadata={
            "overall": report["overall"],
            "report": MetadataValue.md(render_markdown(report)),
            "html": MetadataValue.path(str(target)),
            **{f"q{i + 1}_{q['status']}": q["answer"] for i, q in enumerate(report["questions"])},
        },
    )


def _previous(store, day: date) -> dict | None:
    key = key_of(day - timedelta(days=1))
    return (
        store.read("readiness_report", key) if key in store.partitions("readiness_report") else None
    )


def _pipeline(context, day: date, look_back: int) -> dict:
    runs = context.instance.get_runs(
        filters=RunsFilter(job_name="daily_production", statuses=[DagsterRunStatus.SUCCESS]),
        limit=1,
    )
    last = None
    if runs:
        run = runs[0]
        stats = context.instance.get_run_stats(run.run_id)
        ended = (
            pd.Timestamp(stats.end_time, unit="s", tz="UTC").isoformat() if stats.end_time else None
        )
        last = f"{run.tags.get('dagster/partition', '')} (ended {ended})"
    key = key_of(day)
    rows = latest_metadata(context.instance, AssetKey("raw_tickets"), [key]).get(key, {})
    volume = [
        e
        for e in evaluations(
            context.instance,
            [AssetCheckKey(AssetKey("raw_tickets"), "raw_tickets_volume")],
            limit=5,
        )
        if e.partition == key
    ]
    expected = volume[-1].metadata.get("expected_rows") if volume else None
    since = key_of(day - timedelta(days=look_back - 1))
    errors = sorted(
        {
            (e.partition, e.check)
            for e in evaluations(context.instance, SCHEMA_CHECKS, limit=2 * look_back)
            if not e.passed and e.severity == "ERROR" and e.partition and e.partition >= since
        }
    )
    return {
        "last_success": last,
        "rows": rows.get("dagster/row_count"),
        "expected_rows": expected if isinstance(expected, int | float) else None,
        "schema_errors": [{"day": d, "check": c} for d, c in errors],
    }


def _currency(store, registry: ModelRegistry, recent: pd.DataFrame, key: str) -> dict:
    champion = registry.version_for_alias("champion")
    flag = current_flag(store) or {"state": "on", "version": None}
    record = current_rollout(store)
    if flag["state"] == "off":
        intended = ["rules"]
    elif flag["state"] == "pin":
        intended = [flag["version"]]
    else:
        intended = [champion] + ([record["version"]] if is_active(record) else [])
    today = recent[recent["day"] == key] if len(recent) else recent
    served = sorted(set(today["model_version"])) if len(today) else []
    return {
        "champion": champion,
        "served": served,
        "intended": intended,
        "flag": flag["state"] + (f" {flag['version']}" if flag["state"] == "pin" else ""),
        "rollout": f"{record['version']} {record['state']} at {record['fraction']:.0%}"
        if is_active(record)
        else None,
    }


def _output(context, store, registry, recent: pd.DataFrame, week: list[str]) -> dict:
    key = week[-1]
    drift = [e for e in evaluations(context.instance, [DRIFT_CHECK], limit=5) if e.partition == key]
    this_week = recent[recent["day"].isin(week)] if len(recent) else recent
    scores = this_week["champion_score"].dropna() if len(this_week) else pd.Series(dtype=float)
    versions = sorted(set(this_week["champion_version"].dropna())) if len(this_week) else []
    reference = (
        _of_version(
            registry,
            versions[-1],
            SCORE_PROFILE,
            lambda: registry.load_artifact_json(versions[-1], SCORE_PROFILE),
        )
        if versions
        else {}
    )
    confidence = np.maximum(scores, 1 - scores).mean() if len(scores) else None
    meta = drift[-1].metadata if drift else {}
    return {
        "psi": meta.get("psi"),
        "positive_rate": meta.get("positive_rate"),
        "reference_positive_rate": meta.get("reference_positive_rate"),
        "drift_level": drift[-1].level if drift else None,
        "mean_confidence_this_week": float(confidence) if confidence is not None else None,
        "mean_confidence_reference": reference.get("mean_confidence"),
    }


def _input_days(context, week: list[str]) -> list[dict]:
    keys = [k for check in DATA_CHECKS for k in check.check_keys]
    latest: dict[tuple[str, str], str | None] = {}
    # Oldest first: a re-run's verdict wins. Three per day covers the week and its re-runs.
    for e in evaluations(context.instance, keys, limit=3 * len(week)):
        if e.partition in week:
            latest[(e.partition, e.check)] = None if e.passed else f"{e.check} ({e.severity})"
    failed = {d: sorted(v for (day, _), v in latest.items() if day == d and v) for d in week}
    return [{"day": d, "failed": failed[d], "failures": len(failed[d])} for d in week]


@asset_check(asset=readiness_report, partitions_def=DAILY)
def label_free_signals(readiness_report: dict) -> AssetCheckResult:
    """WARN when a signal that needs no label leaves its band: the estimate of task success
    falls (the inputs moved) or the agents' override rate rises (the suggestions went wrong,
    a concept drift included), days before the labels can say so."""
    daily = readiness_report["layers"]["performance"]["daily"]
    signals = [
        early_warning(daily, "label_free_estimate", "down"),
        early_warning(daily, "override_rate", "up"),
    ]
    moved = [s for s in signals if s.moved]
    return AssetCheckResult(
        passed=not moved,
        severity=AssetCheckSeverity.WARN,
        description="; ".join(s.reason for s in (moved or signals)),
        metadata={
            "signals": table(
                [
                    {
                        "signal": s.name,
                        "day": s.day,
                        "value": s.value,
                        "low": s.low,
                        "high": s.high,
                        "moved": s.moved,
                    }
                    for s in signals
                ]
            )
        },
    )
