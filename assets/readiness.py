"""readiness_report: the five questions, refreshed every partition, from the assets that know.

The asset gathers what the pipeline recorded (predictions, labels, feedback, the baseline,
check results, runs, the registry, the serving flag and the rollout), maps the workflow's
columns to the neutral names of `checks.monitoring`, asks `checks.readiness.build_report`, and
shows the answer three ways: Markdown metadata in the Dagster UI,
`<home>/workflows/<name>/reports/readiness.html`, and `afterlaunch status`.
"""

from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
from dagster import (
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    DagsterRunStatus,
    MetadataValue,
    Output,
    RunsFilter,
    asset,
    asset_check,
)
from dagster._core.event_api import PartitionKeyFilter
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from assets.check_history import evaluations
from assets.history import latest_metadata
from assets.ingestion import RAW_CHECK_NAMES
from assets.labels import label_schema
from assets.metadata import table
from assets.names import (
    AGENT_ACTIONS,
    BASELINE,
    CHAMPION,
    FEATURES,
    FEEDBACK,
    FLAGS,
    LABELS,
    PREDICTIONS,
    PROFILES,
    RAW,
    READINESS,
    ROLLOUT,
)
from assets.predictions import reference_profile
from assets.readiness_render import question_metadata, render_html, render_markdown
from assets.serving import current_flag, current_rollout
from assets.workflow import Workflow
from checks.labels import clean_labels
from checks.monitoring import adoption_summary, early_warning
from checks.readiness import Blocked, ReadinessInputs, build_report
from checks.rollout import is_active
from resources.policy import PolicyResource
from resources.registry import ModelRegistry
from resources.storage import HomeStorage

WORKFLOW_TAG = "afterlaunch/workflow"
NEUTRAL_FEEDBACK = ("entity_id", "actor", "used", "accepted", "kpi")


def _feedback_frame(wf: Workflow, found: pd.DataFrame) -> pd.DataFrame:
    """Feedback in the neutral vocabulary (no feedback declared or recorded: empty)."""
    fb = wf.feedback
    if fb is None or found.empty:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in NEUTRAL_FEEDBACK}).assign(
            kpi=pd.Series(dtype="float64"), day=pd.Series(dtype="str")
        )
    names = {wf.entity.id: "entity_id", fb.actor: "actor", fb.used: "used", fb.accepted: "accepted"}
    if fb.kpi:
        names[fb.kpi] = "kpi"
    return found.rename(columns=names)


def build(wf: Workflow) -> tuple[list, list]:
    parts = wf.partitions
    schema = label_schema(wf)
    raw_key = wf.key(RAW)
    data_checks = (
        [AssetCheckKey(raw_key, n) for n in RAW_CHECK_NAMES]
        + [AssetCheckKey(wf.key(LABELS), n) for n in ("labels_contract", "labels_integrity")]
        + [AssetCheckKey(wf.key(PROFILES), n) for n in ("drift", "merged_drift")]
        + [
            AssetCheckKey(wf.key(FEATURES), n)
            for n in ("features_contract", "features_version_pinned")
        ]
    )
    schema_checks = [AssetCheckKey(raw_key, "raw_contract"), AssetCheckKey(raw_key, "raw_schema")]
    drift_check = AssetCheckKey(wf.key(PREDICTIONS), "prediction_drift")
    sources = {
        "raw": f"{wf.name}/{RAW}",
        "labels": f"{wf.name}/{LABELS}",
        "feedback": f"{wf.name}/{FEEDBACK}",
        "predictions": f"{wf.name}/{PREDICTIONS}",
        "baseline": f"{wf.name}/{BASELINE}",
        "champion": f"{wf.name}/{CHAMPION}",
        "rollout": f"{wf.name}/{ROLLOUT}",
        "flags": f"{wf.name}/{FLAGS}",
    }

    def keys(first: date, last: date) -> list[str]:
        return parts.keys_between(
            datetime.combine(first, datetime.min.time()),
            datetime.combine(last, datetime.min.time()),
        )

    def read(store, asset: str, wanted: list[str]) -> pd.DataFrame:
        # A partition stored once and deleted since is refused by name, not silently dropped.
        stored, _ = store.window(asset, wanted)
        frames = [store.read(asset, d).assign(day=d) for d in stored]
        frames = [f for f in frames if len(f)]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def feedback(store, wanted: list[str]) -> pd.DataFrame:
        if wf.feedback is None:
            return _feedback_frame(wf, pd.DataFrame())
        return _feedback_frame(wf, read(store, FEEDBACK, wanted))

    @asset(
        name=READINESS,
        key_prefix=[wf.name],
        partitions_def=parts.definition,
        group_name="monitoring",
        # Not rollout_comparison: it yields nothing when no rollout runs, which would skip this.
        # Deps, not inputs: on a day a blocking check stopped the daily run, the report is built
        # alone (the blocked-day sensor asks for it) from what exists, and says what is missing.
        deps=[wf.key(PREDICTIONS), wf.key(LABELS), wf.key(BASELINE)]
        + ([wf.key(FEEDBACK)] if wf.feedback else [])
        + ([wf.key(AGENT_ACTIONS)] if wf.actions else []),
        kinds={"pandas", "html"},
        owners=[wf.team("model_owner")],
    )
    def readiness_report(
        context: AssetExecutionContext,
        storage: HomeStorage,
        registry: ModelRegistry,
        policy: PolicyResource,
    ) -> Output[dict]:
        """Task success vs baseline, pipeline health, adoption vs month 1, the business KPI vs
        pre-deployment, and whether the served version is the intended one."""
        rules = policy.load()
        r = rules.readiness
        store = storage.snapshots
        key = context.partition_key
        day = parts.start_of(key).date()
        scored = store.written(PREDICTIONS)  # launch: the first day scored, deleted or not
        launch = date.fromisoformat(scored[0])
        previous = _previous(store, parts.shift(key, -1))
        month1_end = launch + timedelta(days=r.month1_days)
        if previous and previous["layers"]["business"].get("month1_complete"):
            month1 = previous["layers"]["business"]["month1"]
        else:
            month1 = adoption_summary(
                feedback(store, keys(launch + timedelta(days=1), min(day, month1_end)))
            )
        if previous:
            pre = previous["layers"]["business"]["pre_deployment"]
        else:
            pre_days = [d for d in store.written(FEEDBACK) if d <= launch.isoformat()]
            pre = adoption_summary(feedback(store, pre_days))
        recent = read(store, PREDICTIONS, keys(day - timedelta(days=r.history_days - 1), day))
        if len(recent):
            recent = recent.rename(columns={wf.entity.id: "entity_id"})
        lag = wf.label.max_lag_days
        raw_labels = read(store, LABELS, keys(day - timedelta(days=r.history_days + lag - 1), day))
        if len(raw_labels) and len(recent):
            usable = clean_labels(
                raw_labels.drop(columns="day"), set(recent["entity_id"]), set(), schema
            )[0]
            labels = usable.rename(columns={schema.id: "entity_id", schema.label: "label"})
        else:
            labels = pd.DataFrame({"entity_id": pd.Series(dtype="str"), "label": []})
        week = keys(day - timedelta(days=r.week_days - 1), day)
        # Feedback is recorded the partition after its rows: these cover the scored ones above.
        recent_actions = feedback(store, keys(day - timedelta(days=r.history_days - 2), day))
        week_actions = (
            recent_actions[recent_actions["day"].isin(week)]
            if len(recent_actions)
            else recent_actions
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
            baseline=_baseline(store, wf),
            pipeline=_pipeline(context, wf, key, r.schema_errors_days),
            currency=_currency(store, registry, recent, key),
            output={
                **_output(context, registry, recent, week, drift_check),
                "scoring_latency": _latency(context, wf, week),
            },
            input_days=_input_days(context, week, data_checks),
            task=wf.task,
            rules=r,
            stages={s.name: s.measure for s in wf.stages},
            segments=list(wf.segments),
            sources=sources,
            kpi_name=wf.feedback.kpi_name if wf.feedback and wf.feedback.kpi else "KPI",
            kpi_lower_is_better=wf.feedback.kpi_lower_is_better if wf.feedback else True,
            blocked=None
            if key in store.partitions(PREDICTIONS)
            else Blocked(
                missing=_missing(store, wf, key, week, launch),
                failed_checks=_failed_checks(context, key, data_checks),
                last_good=_last_good(store, key),
            ),
        )
        report = build_report(inputs)
        report["layers"]["business"]["month1_complete"] = day > month1_end
        if wf.actions:  # the agent view, for the workflow's owner
            acted = (
                store.read(AGENT_ACTIONS, key) if key in store.partitions(AGENT_ACTIONS) else None
            )
            report["agent_actions"] = acted["view"] if acted else []
        html = render_html(report)
        dated, newest = _write_html(storage.reports, key, html, store.partitions(READINESS))
        context.log.info(
            "readiness %s on %s%s; written to %s",
            report["overall"],
            day,
            " (degraded: the daily run stopped before it)" if report["degraded"] else "",
            dated,
        )
        return Output(
            report,
            metadata={
                **question_metadata(report),
                "report": MetadataValue.md(render_markdown(report)),
                "html": MetadataValue.path(str(dated)),
                "html_newest": MetadataValue.path(str(newest)),
            },
        )

    @asset_check(
        asset=wf.key(READINESS), name="label_free_signals", partitions_def=parts.definition
    )
    def label_free_signals(readiness_report: dict, policy: PolicyResource) -> AssetCheckResult:
        """WARN when a signal that needs no label leaves its band: the estimate of task
        success falls (the inputs moved) or the override rate rises (the outputs went wrong,
        a concept drift included), before the labels can say so."""
        r = policy.load().readiness
        daily = readiness_report["layers"]["performance"]["daily"]
        settings = {
            "window": r.history_days,
            "k": r.early_warning_k,
            "min_days": r.early_warning_min_days,
        }
        signals = [
            early_warning(daily, "label_free_estimate", "down", **settings),
            early_warning(daily, "override_rate", "up", **settings),
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

    def _pipeline(context, wf: Workflow, key: str, look_back: int) -> dict:
        runs = context.instance.get_runs(
            filters=RunsFilter(
                job_name="daily_production",
                statuses=[DagsterRunStatus.SUCCESS],
                tags={WORKFLOW_TAG: wf.name},
            ),
            limit=1,
        )
        last = None
        if runs:
            run = runs[0]
            stats = context.instance.get_run_stats(run.run_id)
            ended = (
                pd.Timestamp(stats.end_time, unit="s", tz="UTC").isoformat()
                if stats.end_time
                else None
            )
            last = f"{run.tags.get('dagster/partition', '')} (ended {ended})"
        rows = latest_metadata(context.instance, raw_key, [key]).get(key, {})
        volume = [
            e
            for e in evaluations(context.instance, [AssetCheckKey(raw_key, "raw_volume")], limit=5)
            if e.partition == key
        ]
        expected = volume[-1].metadata.get("expected_rows") if volume else None
        since = (parts.start_of(key) - timedelta(days=look_back - 1)).date().isoformat()
        errors = sorted(
            {
                (e.partition, e.check)
                for e in evaluations(context.instance, schema_checks, limit=2 * look_back)
                if not e.passed and e.severity == "ERROR" and e.partition and e.partition >= since
            }
        )
        return {
            "last_success": last,
            "rows": rows.get("dagster/row_count"),
            "expected_rows": expected if isinstance(expected, int | float) else None,
            "schema_errors": [{"day": d, "check": c} for d, c in errors],
        }

    return [readiness_report], [label_free_signals]


DAILY_ASSETS = (RAW, LABELS, FEEDBACK, FEATURES, PROFILES, PREDICTIONS)


def _write_html(reports, key: str, html: str, reported: list[str]):
    """One dated page per partition, kept; `readiness.html` is a copy of the newest one (a
    re-run of an older partition, `reported` holding a later one, does not replace it)."""
    dated = reports / "readiness" / f"{key}.html"
    dated.parent.mkdir(parents=True, exist_ok=True)
    dated.write_text(html)
    newest = reports / "readiness.html"
    if key >= max(reported, default=key):
        newest.write_text(html)
    return dated, newest


def _missing(store, wf: Workflow, key: str, week: list[str], launch: date) -> list[dict]:
    """The daily assets not stored for the blocked partition, and the week's other scored
    days with no predictions."""
    daily = [a for a in DAILY_ASSETS if a != FEEDBACK or wf.feedback]
    missing = [
        {"asset": f"{wf.name}/{a}", "partition": key}
        for a in daily
        if key not in store.partitions(a)
    ]
    scored = set(store.partitions(PREDICTIONS))
    missing += [
        {"asset": f"{wf.name}/{PREDICTIONS}", "partition": d}
        for d in week
        if d != key and d >= launch.isoformat() and d not in scored
    ]
    return missing


def _failed_checks(context, key: str, check_keys) -> list[dict]:
    """The checks whose latest verdict on `key` is an ERROR: what stopped the daily run."""
    found = []
    for check in check_keys:
        # Filtered by partition in storage: a blocked day weeks back is found as fast.
        records = context.instance.event_log_storage.get_asset_check_execution_history(
            check,
            limit=1,
            status={
                AssetCheckExecutionRecordStatus.SUCCEEDED,
                AssetCheckExecutionRecordStatus.FAILED,
            },
            partition_filter=PartitionKeyFilter(key=key),
        )
        data = records[0].event.dagster_event.event_specific_data if records else None
        if data is not None and not data.passed and data.severity.value == "ERROR":
            found.append(
                {
                    "asset": check.asset_key.to_user_string(),
                    "check": check.name,
                    "severity": data.severity.value,
                    "description": data.description or "",
                }
            )
    return found


def _last_good(store, key: str) -> dict | None:
    """The newest earlier report that was not degraded: its day, verdict and answers."""
    for day in sorted((d for d in store.partitions(READINESS) if d < key), reverse=True)[:31]:
        found = store.read(READINESS, day)
        if not found.get("degraded"):
            return {
                "day": found["day"],
                "overall": found["overall"],
                "questions": [
                    {k: q.get(k) for k in ("question", "status", "answer", "value", "version")}
                    for q in found["questions"]
                ],
            }
    return None


def _baseline(store, wf: Workflow) -> dict:
    """The champion's baseline, its task-success figure under the neutral name."""
    baseline = store.read(BASELINE, None)
    metric = wf.task.success_metric
    metrics = {**baseline["metrics"], "task_success": baseline["metrics"][metric]}
    return {**baseline, "metrics": metrics}


def _previous(store, key: str) -> dict | None:
    return store.read(READINESS, key) if key in store.partitions(READINESS) else None


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


def _output(context, registry, recent: pd.DataFrame, week: list[str], drift_check) -> dict:
    key = week[-1]
    drift = [e for e in evaluations(context.instance, [drift_check], limit=5) if e.partition == key]
    this_week = recent[recent["day"].isin(week)] if len(recent) else recent
    scores = this_week["champion_score"].dropna() if len(this_week) else pd.Series(dtype=float)
    versions = sorted(set(this_week["champion_version"].dropna())) if len(this_week) else []
    reference = reference_profile(registry, versions[-1]) if versions else {}
    confidence = np.nanmean(this_week.loc[scores.index, "confidence"]) if len(scores) else None
    meta = drift[-1].metadata if drift else {}
    return {
        "psi": meta.get("psi"),
        "positive_rate": meta.get("positive_rate"),
        "reference_positive_rate": meta.get("reference_positive_rate"),
        "drift_level": drift[-1].level if drift else None,
        "mean_confidence_this_week": float(confidence)
        if confidence is not None and np.isfinite(confidence)
        else None,
        "mean_confidence_reference": reference.get("mean_confidence"),
    }


def _latency(context, wf: Workflow, week: list[str]) -> list[dict]:
    """Scoring time per scored day and serving version, as `predictions` recorded it."""
    recorded = latest_metadata(context.instance, wf.key(PREDICTIONS), week)
    return [
        {"day": day, **entry}
        for day in week
        for entry in recorded.get(day, {}).get("scoring_latency") or []
    ]


def _input_days(context, week: list[str], check_keys) -> list[dict]:
    latest: dict[tuple[str, str], str | None] = {}
    # Oldest first: a re-run's verdict wins. Three per partition covers the week and re-runs.
    for e in evaluations(context.instance, check_keys, limit=3 * len(week)):
        if e.partition in week:
            latest[(e.partition, e.check)] = None if e.passed else f"{e.check} ({e.severity})"
    failed = {d: sorted(v for (day, _), v in latest.items() if day == d and v) for d in week}
    return [{"day": d, "failed": failed[d], "failures": len(failed[d])} for d in week]
