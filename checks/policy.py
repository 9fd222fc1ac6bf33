"""The policy: every threshold that decides something, in one versioned object.

Layers, each overriding the one before: the engine's defaults documented here, the task's
defaults (a regression gate judges other metrics than a classifier's), the workflow's
`policy.yaml`, and the home's `workflows/<name>/policy.yaml`. Unknown keys are an error, and
settings that contradict each other or the workflow (a rollout too short for the label lag to
judge) are refused with a sentence naming them. The policy version is shown as metadata next
to every decision it makes, so a reader knows which rules judged the data.

A few fields are read when the definitions load (a schedule's cron, an asset's freshness
policy): they belong in the workflow's file, and a home override of them is refused
(:data:`BUILD_TIME_FIELDS`).
"""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator


class _Strict(BaseModel):
    # A typo in a policy file must fail loudly, not silently keep the default.
    model_config = ConfigDict(extra="forbid", frozen=True)


class VolumeRules(_Strict):
    """Row count against the trailing median of the same weekday."""

    warn_drop: float = Field(0.15, description="WARN when the count is this fraction below")
    error_drop: float = Field(0.30, description="ERROR when the count is this fraction below")
    # A surge is judged as a ratio over the median: organic surges (an outage, a campaign)
    # rarely triple a weekday, while a replayed or doubled export does at least that.
    warn_rise: float = Field(
        1.5, gt=1, description="WARN when the count is this many times the expected count"
    )
    error_rise: float = Field(
        3.0, gt=1, description="ERROR when the count is this many times the expected count"
    )
    history_weeks: int = Field(4, description="how many earlier same weekdays form the median")
    min_history: int = Field(1, description="fewer earlier same weekdays: no judgement yet")

    @model_validator(mode="after")
    def _rise_thresholds_in_order(self) -> VolumeRules:
        if self.error_rise < self.warn_rise:
            raise ValueError("volume.error_rise must not be below volume.warn_rise")
        return self


class RepeatRules(_Strict):
    """Entity ids of a partition already delivered in an earlier one (a re-sent batch)."""

    lookback_days: int = Field(
        7,
        ge=0,
        description="days of earlier partitions whose ids are searched; 0 turns the check off "
        "(an entity legitimately observed again in later partitions)",
    )
    error_fraction: float = Field(
        0.01,
        ge=0,
        le=1,
        description="ERROR when this share of the rows or more was seen before; fewer, but "
        "any, is a WARN",
    )


class EventTimeRules(_Strict):
    """Rows whose event time lies before the partition's start (misdated or replayed rows;
    rows after its end are the freshness check's)."""

    early_tolerance_hours: float = Field(
        24.0,
        ge=0,
        description="a row this many hours before the partition's start is a late arrival, "
        "not an error; older rows are counted",
    )
    error_fraction: float = Field(
        0.01,
        ge=0,
        le=1,
        description="ERROR when this share of the rows or more is older; fewer, but any, is a WARN",
    )


class FreshnessRules(_Strict):
    """Lag between a partition's newest event and the partition's end."""

    warn_lag_hours: float = 3.0
    error_lag_hours: float = 6.0
    # The asset-level FreshnessPolicy: a daily feed older than this is stale in the UI.
    asset_warn_hours: float = 26.0
    asset_fail_hours: float = 36.0


class DriftRules(_Strict):
    """Distribution drift of a partition's profile against the reference profile."""

    reference_window_days: int = Field(60, description="days of clean data in the reference")
    min_reference_days: int = Field(7, description="fewer clean days: refuse to build one")
    alpha: float = Field(0.01, description="false-discovery rate across columns (BH)")
    numeric_warn: float = Field(0.10, description="Wasserstein / reference std")
    numeric_error: float = Field(0.15, description="Wasserstein / reference std")
    categorical_warn: float = Field(0.05, description="Jensen-Shannon distance")
    categorical_error: float = Field(0.10, description="Jensen-Shannon distance")
    null_rate_error: float = Field(0.10, description="absolute rise of the null rate")
    min_rows: int = Field(100, description="fewer non-null values: too few to judge")
    n_bins: int = 20
    max_categories: int = 50
    merged_partitions: int = Field(
        7, ge=2, description="partitions merged for the slow-drift check (a week of days)"
    )


class LabelRules(_Strict):
    """Labels arrive up to the workflow's `label.max_lag_days` after their rows."""

    lookback_extra_days: int = Field(
        5, ge=0, description="raw days searched for a label's row: the maximum lag plus these"
    )
    max_bad_fraction: float = Field(0.01, description="unknown/duplicate labels: ERROR above")


class ThresholdRules(_Strict):
    """How a binary classifier's decision threshold is chosen on its validation split
    (checks/thresholds.py); the choice is recorded on the version and every decision, metric
    and trigger about that version uses it. A regression task ignores this."""

    rule: Literal["best_f1", "target_recall", "cost", "fixed"] = Field(
        "best_f1",
        description="best_f1; target_recall (the highest threshold reaching target_recall); "
        "cost (the lowest FP * cost_false_positive + FN * cost_false_negative); fixed (the "
        "workflow's own threshold)",
    )
    target_recall: float | None = Field(None, gt=0, le=1, description="for target_recall")
    cost_false_positive: float = Field(1.0, ge=0, description="for cost")
    cost_false_negative: float = Field(1.0, ge=0, description="for cost")

    @model_validator(mode="after")
    def _target_for_its_rule(self) -> ThresholdRules:
        if self.rule == "target_recall" and self.target_recall is None:
            raise ValueError("decision_threshold.rule target_recall needs target_recall")
        return self


class TrainingRules(_Strict):
    """How a challenger is trained; everything here is recorded as the model's lineage."""

    decision_threshold: ThresholdRules = Field(default_factory=ThresholdRules)

    window_days: int = Field(28, description="days of labelled rows in a training set")
    missing_partitions: Literal["refuse", "skip"] = Field(
        "refuse",
        description="a raw or label partition of the window (or of the test set's pool) that "
        "was stored and has since been deleted: `refuse` fails naming it; `skip` trains "
        "without it and records the gap in the model's lineage",
    )
    validation_fraction: float = Field(0.2, description="newest share of rows held out")
    min_rows: int = Field(2000, description="fewer labelled rows: refuse to train")
    model_family: str = Field(
        "logistic_regression", description="one of the workflow's model families"
    )
    hyperparameters: dict[str, float | int | str] = Field(default_factory=lambda: {"C": 1.0})
    seed: int = 42
    owner: str = "team:ml-platform"


class GateRules(_Strict):
    """The promotion gate (checks/gate.py): when a challenger may replace the champion.

    Every comparison is on the evaluation set with bootstrap intervals; "positive difference"
    always means the challenger is better (see checks.bootstrap.Difference)."""

    primary_metric: str = Field(
        "roc_auc", description="the metric the challenger must be better on, with confidence"
    )
    floors: dict[str, float] = Field(
        default_factory=lambda: {
            "roc_auc": 0.70,
            "task_success": 0.80,
            "log_loss": 0.50,
            "ece": 0.05,
            "recall": 0.20,
            "f1": 0.25,
        },
        description="absolute floor on the challenger's point value (a ceiling for "
        "lower-is-better metrics: log_loss, ece); an undefined floor metric rejects. These "
        "are a classifier's; a regression task's defaults replace them",
    )
    metrics: list[str] = Field(
        default_factory=lambda: [
            "task_success",
            "precision",
            "recall",
            "f1",
            "roc_auc",
            "log_loss",
            "ece",
        ],
        description="metrics evaluated and held to non-inferiority against a champion",
    )
    non_inferiority_margin: float = Field(
        0.01,
        ge=0,
        description="absolute; the interval of the difference challenger - champion "
        "(positive = challenger better) must lie above -margin",
    )
    non_inferiority_metrics: list[str] | None = Field(
        None,
        description="metrics held to non-inferiority; default: the primary metric only. "
        "Adding precision or recall rejects better-calibrated models that trade them off",
    )
    superiority_confidence: float = Field(
        0.95,
        gt=0,
        lt=1,
        description="the primary metric's two-sided interval of the difference at this "
        "confidence must lie above 0 (about P(better) >= 0.975 at 0.95); P(better) is reported, "
        "not tested a second time",
    )
    slice_max_regression: float = Field(
        0.05, ge=0, description="absolute drop of the primary metric's point value per slice"
    )
    min_slice_size: int = Field(30, ge=1, description="smaller slices are reported not judged")
    require_approval: bool = Field(
        False, description="high-risk switch: a passing challenger awaits a human's approval"
    )
    beat_baselines: bool = Field(
        True,
        description="the challenger must beat the workflow's fallback rule and the "
        "majority-class (or median) answer on the primary metric with superiority_confidence",
    )
    # 30: the scheduled retraining is monthly, so a newer verdict normally exists by then; and
    # the default rollout (2 shadow + 14 canary days, up to 3 more waiting for labels) ends
    # well inside it. A verdict in a rollout is aged only until the rollout started.
    verdict_max_age_days: int = Field(
        30,
        ge=0,
        description="a verdict older than this many days (by the workflow's clock) is not "
        "acted on: promote, approve and the automatic promotion ask for a new evaluation",
    )
    # Provenance, packaging and cost (checks/provenance.py, measured by assets/gate_evidence.py).
    incomplete_lineage: Literal["approval", "reject"] = Field(
        "approval",
        description="a version without complete lineage (its lineage tags and a lineage.json "
        "whose hash matches lineage.manifest_sha256, e.g. registered by hand from a notebook): "
        "`approval` makes the verdict at most awaiting_approval (a person must approve it); "
        "`reject` rejects it",
    )
    max_leaked_entities: int = Field(
        0,
        ge=0,
        description="evaluation test-set entities the version's recorded training set may "
        "hold; more rejects it (a version that saw the test set is judged on memory)",
    )
    packaging: bool = Field(
        True,
        description="load the version in a fresh process from the registry alone and score "
        "test rows, match its signature with its feature set and its requirements with the "
        "installed packages; a failure rejects",
    )
    packaging_timeout_s: float = Field(
        180.0, gt=0, description="the fresh process loading the version is stopped after this"
    )
    max_latency_ratio: float = Field(
        2.0,
        gt=0,
        description="the challenger's median scoring time per 1,000 test rows may be at most "
        "this many times the champion's, measured beside it",
    )
    latency_repeats: int = Field(
        5, ge=1, description="interleaved scoring repeats per model; the median is compared"
    )
    max_artifact_mb: float | None = Field(
        None, gt=0, description="ceiling on the model artifact's size in MB; None: reported only"
    )

    @model_validator(mode="after")
    def _judged_metrics_are_evaluated(self) -> GateRules:
        # Only metrics in `metrics` are bootstrapped; anything else could never be judged.
        if self.primary_metric not in self.metrics:
            raise ValueError(f"primary_metric {self.primary_metric!r} must be in metrics")
        missing = sorted(
            (set(self.floors) | set(self.non_inferiority_metrics or [])) - set(self.metrics)
        )
        if missing:
            raise ValueError(f"floors or non-inferiority on metrics not in metrics: {missing}")
        return self


class EvaluationRules(_Strict):
    """How models are evaluated: bootstrap settings and the weekly task-success check."""

    bootstrap_resamples: int = Field(1000, ge=100, description="resamples per interval")
    confidence: float = Field(0.95, gt=0, lt=1, description="two-sided interval level")
    seed: int = Field(7, description="resampling seed: the same data gives the same interval")
    weekly_drop_points: float = Field(
        5.0,
        gt=0,
        description="task success drop, in percentage points, against the baseline or the "
        "previous week that fails the weekly check",
    )
    eval_set_size: int = Field(1500, ge=1, description="examples drawn into the evaluation set")
    eval_set_min_size: int = Field(
        500, ge=1, description="fewer labelled examples: refuse to judge"
    )
    window_days: int = Field(
        7, ge=1, description="days of labelled production the weekly evaluation judges"
    )
    missing_partitions: Literal["refuse", "skip"] = Field(
        "refuse",
        description="a partition of the weekly window that was stored and has since been "
        "deleted: `refuse` fails naming it; `skip` judges without it and records the gap in "
        "the evaluation's metadata",
    )

    @model_validator(mode="after")
    def _min_within_size(self) -> EvaluationRules:
        if self.eval_set_min_size > self.eval_set_size:
            raise ValueError("eval_set_min_size must not exceed eval_set_size")
        return self


class OutputRules(_Strict):
    """The champion's score distribution in production against the one it showed on its
    held-out validation rows at training time."""

    psi_warn: float = Field(0.10, description="population stability index of the scores")
    psi_error: float = Field(0.25, description="population stability index of the scores")
    positive_rate_error: float = Field(
        0.10, description="absolute change of the share predicted positive"
    )
    min_rows: int = Field(200, description="fewer scored rows: too few to judge")


class RetrainingRules(_Strict):
    """When the loop retrains on its own. Every trigger also honours the cooldown, so one
    incident asks for one retraining, not one per sensor tick."""

    drift_key_columns: list[str] | None = Field(
        None,
        description="columns the model leans on: their drift can justify a retraining "
        "(None: every profiled column)",
    )
    drift_consecutive_days: int = Field(
        2,
        ge=1,
        description="days in a row with ERROR drift on a key column (one bad day is not "
        "a new world)",
    )
    cooldown_days: int = Field(
        7, ge=0, description="after any retraining, no drift or label trigger for this many days"
    )
    new_labels_min_rows: int = Field(
        10_000, ge=1, description="labelled rows since the last training that ask for another"
    )


class ScheduleRules(_Strict):
    """When the schedules fire (UTC). Read when the definitions load."""

    production_hour: int = Field(
        2, ge=0, le=23, description="hour after a partition ends that it is ingested and scored"
    )
    evaluation_cron: str = Field("0 6 * * 1", description="the weekly evaluation of the champion")
    retraining_cron: str = Field(
        "0 3 1 * *", description="the scheduled retraining (the hybrid cadence's clock part)"
    )


class RolloutStep(_Strict):
    """One step of the gradual schedule: this share of rows served by the challenger."""

    fraction: float = Field(gt=0, le=1, description="share of rows in the canary arm")
    days: int = Field(ge=1, description="days at this share before the next step")


class RolloutRules(_Strict):
    """Safe rollout of a challenger the gate passed: shadow, canary, the gradual schedule, and
    the rollback triggers agreed before the release (checks/rollout.py, rollout_stats.py)."""

    enabled: bool = Field(
        True,
        description="False: a challenger the gate passes replaces the champion at once "
        "(no shadow, no canary)",
    )
    shadow_days: int = Field(
        2,
        ge=0,
        description="days the challenger scores every row without serving any: what needs "
        "no label (errors, agreement, scores) shows at once; what labels judge is judged as "
        "they arrive, from the 1% canary on",
    )
    steps: list[RolloutStep] = Field(
        default_factory=lambda: [
            RolloutStep(fraction=0.01, days=2),
            RolloutStep(fraction=0.05, days=3),
            RolloutStep(fraction=0.25, days=3),
            RolloutStep(fraction=0.50, days=3),
            RolloutStep(fraction=1.00, days=3),
        ],
        description="the canary's gradual schedule (default 1% -> 100% over 14 days)",
    )
    task_success_drop_points: float = Field(
        3.0,
        gt=0,
        description="roll back when the challenger's task success is this many points below "
        "the champion's baseline, or below the champion on the same rows, with confidence",
    )
    max_error_rate: float = Field(
        0.02, ge=0, lt=1, description="roll back when more of its rows than this get no score"
    )
    trigger_window_days: int = Field(
        7,
        ge=1,
        description="scored days the triggers look back over (a change mid-rollout "
        "is not diluted by the weeks before it)",
    )
    min_labelled_rows: int = Field(200, ge=1, description="fewer: task success is not judged")
    min_scored_rows: int = Field(200, ge=1, description="fewer: the error rate is not judged")
    confidence: float = Field(0.95, gt=0.5, lt=1, description="one-sided, for the triggers")
    promotion: str = Field(
        "better",
        description="out of the last step: `better` (the paired interval of task success on "
        "the same rows lies above 0) or `non_inferior` (above -gate.non_inferiority_margin)",
    )
    label_free_only: bool = Field(
        False,
        description="judge the rollout on what needs no label (errors, agreement, scores) "
        "when the canary is shorter than the label lag; otherwise such a policy is refused",
    )

    @property
    def canary_days(self) -> int:
        return sum(s.days for s in self.steps)

    @model_validator(mode="after")
    def _schedule_rises_to_everyone(self, info: ValidationInfo) -> RolloutRules:
        fractions = [s.fraction for s in self.steps]
        if not fractions or fractions[-1] != 1.0:
            raise ValueError("rollout.steps must end at fraction 1.0 (everyone)")
        if any(b <= a for a, b in zip(fractions, fractions[1:], strict=False)):
            raise ValueError(f"rollout.steps fractions must rise: {fractions}")
        if self.promotion not in ("better", "non_inferior"):
            raise ValueError("rollout.promotion must be better or non_inferior")
        lag = (info.context or {}).get("label_lag_days")
        if (
            self.enabled
            and lag is not None
            and self.canary_days <= lag
            and not self.label_free_only
        ):
            raise ValueError(
                f"rollout.steps last {self.canary_days} days in all, but label.max_lag_days is "
                f"{lag}: the canary would end before its first labels can arrive. Lengthen "
                "rollout.steps, or set rollout.label_free_only: true to judge without labels"
            )
        return self


class ReadinessRules(_Strict):
    """The readiness report: the five questions and the four monitoring layers."""

    week_days: int = Field(7, ge=1, description="days that make 'this week'")
    month1_days: int = Field(30, ge=1, description="days after launch that make 'month 1'")
    history_days: int = Field(
        14, ge=1, description="scored days the performance layer shows (beside this week)"
    )
    volume_warn_factor: float = Field(
        0.7, gt=0, le=1, description="rows below this share of the expected volume: pipeline WARN"
    )
    early_warning_k: float = Field(
        3.0, gt=0, description="label-free signals: band of median +- k robust sd"
    )
    early_warning_min_days: int = Field(
        7, ge=2, description="label-free signals: fewer earlier days under the champion: no band"
    )
    task_success_drop_points: float = Field(
        5.0, gt=0, description="task success this many points below the baseline: fail"
    )
    adoption_drop: float = Field(
        0.20, gt=0, lt=1, description="adoption this share below month 1: the collapse signal"
    )
    kpi_worsening: float = Field(
        0.05, ge=0, description="the KPI this share worse than before deployment: fail"
    )
    schema_errors_days: int = Field(30, ge=1, description="look-back for schema errors")
    stages: dict[str, dict[str, float]] = Field(
        default_factory=dict,
        description="each of the workflow's stages against its own threshold ({min} or {max})",
    )


class AlertRoute(_Strict):
    """Who hears about which checks, and how fast."""

    owner: str = Field(
        description="a person or team, or a role of the workflow's owners: data_engineer, "
        "model_owner, domain_owner"
    )
    assets: list[str] = Field(description="asset names whose checks this route covers")
    errors: str = Field("immediate", description="immediate | digest")
    warnings: str = Field("digest", description="immediate | digest | log")


class AlertRules(_Strict):
    """Routing of failed checks (open-source Dagster has no alerting of its own)."""

    routes: list[AlertRoute] = Field(
        default_factory=lambda: [
            AlertRoute(
                owner="data_engineer",
                assets=["raw", "profiles", "labels", "features", "feedback"],
                errors="immediate",
                warnings="digest",
            ),
            AlertRoute(
                owner="model_owner",
                assets=[
                    "predictions",
                    "weekly_evaluation",
                    "eval_test_set",
                    "challenger_evaluation",
                    "rollout_comparison",
                    "readiness_report",
                ],
                errors="digest",
                warnings="digest",
            ),
            # An alias moved outside Afterlaunch bypassed the gate: its owner hears at once.
            AlertRoute(
                owner="model_owner", assets=["champion"], errors="immediate", warnings="digest"
            ),
            # What the workflow's agent did: its owner hears an unapproved action at once.
            AlertRoute(
                owner="domain_owner",
                assets=["agent_actions"],
                errors="immediate",
                warnings="digest",
            ),
        ]
    )
    fallback_owner: str = Field("ml platform", description="owner of checks no route names")
    max_attempts_logged: int = Field(
        20,
        ge=1,
        description="after this many failed deliveries an alert is reported loudly "
        "on every tick (it is still kept and retried)",
    )

    @model_validator(mode="after")
    def _known_modes(self) -> AlertRules:
        for route in self.routes:
            if route.errors not in ("immediate", "digest"):
                raise ValueError(f"route {route.owner}: errors must be immediate or digest")
            if route.warnings not in ("immediate", "digest", "log"):
                raise ValueError(f"route {route.owner}: warnings must be immediate, digest or log")
        return self

    def route_for(self, asset: str) -> AlertRoute:
        for route in self.routes:
            if asset in route.assets:
                return route
        return AlertRoute(owner=self.fallback_owner, assets=[asset])


class RegistryRules(_Strict):
    """The model registry's own hygiene: how long a champion may serve without a person
    reviewing it again (`afterlaunch review`, checks/reviews.py)."""

    review_max_age_days: int = Field(
        90,
        ge=1,
        description="a champion whose last registry review (or, never reviewed, its promotion) "
        "is older than this many days raises a WARN to its owner",
    )


class ApproverRules(_Strict):
    """Who may say yes. Identity is `$AFTERLAUNCH_ACTOR` (or the OS user): nothing here is
    authenticated; the lists say whose yes counts."""

    promotion: list[str] = Field(
        default_factory=list,
        description="people who may approve a promotion awaiting approval; empty: anyone "
        "except the person who registered the version (four eyes holds either way)",
    )
    actions: list[str] = Field(
        default_factory=list,
        description="people who may approve an agent action whose class names no approvers of "
        "its own; the one who requested an action never approves it",
    )


class AgentActionRules(_Strict):
    """The agent checks (checks/agent_actions.py): what a day of a workflow's tool calls may
    look like before its owner hears about it."""

    # 0.15: an afternoon outage (a third of a day's calls) is caught on 99% of days, while a
    # 40-call day at a 2% base error rate false-alarms about once in 10,000 days.
    error_rate_max: float = Field(
        0.15, gt=0, le=1, description="ERROR when this share of a tool's executions failed"
    )
    error_min_calls: int = Field(
        10, ge=1, description="fewer executions of a tool in a day: its error rate is not judged"
    )
    burst_max_per_hour: int = Field(
        3,
        ge=1,
        description="ERROR when one tool is requested more often than this for one entity "
        "within an hour (an agent in a loop)",
    )
    refusal_rate_max: float = Field(
        0.4,
        gt=0,
        le=1,
        description="before a tool has trailing history: WARN when this share of the day's "
        "decided requests of it was denied, cancelled or expired",
    )
    refusal_alpha: float = Field(
        0.01,
        gt=0,
        lt=1,
        description="WARN when today's refusals would be this improbable at the trailing days' "
        "share (one-sided binomial tail) and the share is above refusal_floor",
    )
    refusal_floor: float = Field(
        0.15, ge=0, le=1, description="a refusal share below this is never a rise"
    )
    trailing_days: int = Field(14, ge=1, description="days the refusal share is compared with")
    min_requests: int = Field(
        10, ge=1, description="fewer decided requests of a tool in a day: refusals not judged"
    )


class StageGatePolicy(_Strict):
    """A staged pipeline's gate (checks/stage_gate.py): the challenger against the champion
    stage by stage, replayed on the same recent rows."""

    margin: float = Field(
        0.01, ge=0, description="non-inferiority margin on each stage metric's point difference"
    )
    slice_max_regression: float = Field(
        0.05, ge=0, description="allowed drop of a stage's primary metric on a slice"
    )
    min_slice_size: int = Field(30, ge=1, description="smaller slices are reported not judged")
    confidence: float = Field(0.95, gt=0, lt=1, description="two-sided interval level")
    n_resamples: int = Field(1000, ge=100, description="bootstrap resamples per interval")
    seed: int = Field(0, description="resampling seed: the same rows give the same interval")
    eval_days: int = Field(
        5, ge=1, description="recent days of served rows the gate replays both versions on"
    )


class HallucinationRules(_Strict):
    """The daily hallucination check: a sample of served outputs scored for faithfulness and
    sent to a review list a person works through."""

    sample_size: int = Field(
        30, ge=1, description="served outputs scored and sent for review each day"
    )
    faithfulness_min: float = Field(
        0.9, ge=0, le=1, description="mean faithfulness of the sample below this: WARN"
    )
    seed: int = Field(11, description="sampling seed: the same day draws the same sample")


class TextDriftRules(_Strict):
    """Drift of text inputs and outputs without embeddings (checks/text_drift.py): length,
    out-of-vocabulary rate, topic and script mix, refusal rate, against reference days."""

    reference_days: int = Field(7, ge=1, description="days of served text in the reference")
    alpha: float = Field(
        0.01, gt=0, lt=1, description="false-discovery rate across the features (BH)"
    )
    min_texts: int = Field(100, ge=1, description="fewer texts on either side: too few to judge")
    warn: float = Field(0.05, ge=0, description="Jensen-Shannon distance of a binned feature: WARN")
    error: float = Field(
        0.10, ge=0, description="Jensen-Shannon distance of a binned feature: ERROR"
    )
    share_warn: float = Field(
        0.02, ge=0, description="absolute rise of a share (out-of-vocabulary, refusals): WARN"
    )
    share_error: float = Field(
        0.05, ge=0, description="absolute rise of a share (out-of-vocabulary, refusals): ERROR"
    )

    @model_validator(mode="after")
    def _warn_below_error(self) -> TextDriftRules:
        if self.warn > self.error or self.share_warn > self.share_error:
            raise ValueError("text_drift: a warn level may not exceed its error level")
        return self


class PipelineRules(_Strict):
    """A staged pipeline's own rules (ignored by workflows whose task is not one): each stage
    metric's threshold, the per-stage gate, the hallucination check and text drift."""

    thresholds: dict[str, dict[str, dict[Literal["min", "max"], float]]] = Field(
        default_factory=dict,
        description="stage -> metric -> {min: floor} and/or {max: ceiling}, judged every day",
    )
    min_rows: int = Field(
        30, ge=1, description="fewer judged rows: a stage metric is not judged that day"
    )
    gate: StageGatePolicy = Field(default_factory=StageGatePolicy)
    hallucination: HallucinationRules = Field(default_factory=HallucinationRules)
    text_drift: TextDriftRules = Field(default_factory=TextDriftRules)

    @model_validator(mode="after")
    def _a_bound_per_threshold(self) -> PipelineRules:
        for stage, metrics in self.thresholds.items():
            for metric, bounds in metrics.items():
                if not bounds:
                    raise ValueError(f"pipeline.thresholds.{stage}.{metric}: give min and/or max")
                if "min" in bounds and "max" in bounds and bounds["min"] > bounds["max"]:
                    raise ValueError(
                        f"pipeline.thresholds.{stage}.{metric}: min {bounds['min']} is above "
                        f"max {bounds['max']}"
                    )
        return self


class Policy(_Strict):
    version: str = "2026.11-1"
    volume: VolumeRules = VolumeRules()
    repeats: RepeatRules = RepeatRules()
    event_time: EventTimeRules = EventTimeRules()
    freshness: FreshnessRules = FreshnessRules()
    drift: DriftRules = DriftRules()
    labels: LabelRules = LabelRules()
    training: TrainingRules = TrainingRules()
    gate: GateRules = GateRules()
    evaluation: EvaluationRules = EvaluationRules()
    output: OutputRules = OutputRules()
    retraining: RetrainingRules = RetrainingRules()
    schedules: ScheduleRules = ScheduleRules()
    rollout: RolloutRules = RolloutRules()
    readiness: ReadinessRules = ReadinessRules()
    alerts: AlertRules = AlertRules()
    registry: RegistryRules = RegistryRules()
    approvers: ApproverRules = ApproverRules()
    agent_actions: AgentActionRules = AgentActionRules()
    pipeline: PipelineRules = PipelineRules()

    def bootstrap_settings(self) -> dict[str, Any]:
        """Keyword arguments of a task's interval methods for every interval asked for."""
        return {
            "n_resamples": self.evaluation.bootstrap_resamples,
            "confidence": self.evaluation.confidence,
            "seed": self.evaluation.seed,
        }

    def as_metadata(self, section: str) -> dict[str, Any]:
        """The rules of one section, flat, for display beside a decision."""
        rules = getattr(self, section).model_dump()
        return {"policy_version": self.version, **{f"policy.{k}": v for k, v in rules.items()}}


# Read when the definitions load (crons, asset freshness policies): set in the workflow's file.
BUILD_TIME_FIELDS = (
    ("freshness", "asset_warn_hours"),
    ("freshness", "asset_fail_hours"),
    ("schedules", "production_hour"),
    ("schedules", "evaluation_cron"),
    ("schedules", "retraining_cron"),
)


def read_layer(path: str | Path | None) -> dict:
    """One YAML layer as a mapping ({} for None). Parsed once per version of the file: every
    check and sensor tick loads the policy, and the file rarely changes."""
    if path is None:
        return {}
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"policy file not found: {path}")
    stat = path.stat()
    return copy.deepcopy(_parsed(str(path), stat.st_mtime_ns, stat.st_size))


@lru_cache(maxsize=64)
def _parsed(path: str, mtime_ns: int, size: int) -> dict:
    data = yaml.safe_load(Path(path).read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"policy file {path} must hold a mapping, got {type(data).__name__}")
    return data


def merge(base: dict, override: dict) -> dict:
    """A later layer's section settings replace the earlier ones field by field; a field's
    value (a mapping such as `gate.floors` or `training.hyperparameters` included) replaces
    the earlier value whole, so a layer never inherits keys it did not write."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


def build_policy(
    layers: list[dict], label_lag_days: int | None = None, runtime_layer: dict | None = None
) -> Policy:
    """The policy from layers (lowest first); `runtime_layer`, the home's overrides, may not
    change a field read when the definitions load."""
    runtime_layer = runtime_layer or {}
    for section, name in BUILD_TIME_FIELDS:
        if name in (runtime_layer.get(section) or {}):
            raise ValueError(
                f"{section}.{name} is read when the definitions load: set it in the "
                "workflow's policy.yaml, not in the home's"
            )
    # An empty rollout section makes pydantic validate the default schedule too, so a
    # default too short for the label lag is refused like a written one.
    data: dict = {"rollout": {}}
    for layer in [*layers, runtime_layer]:
        data = merge(data, layer)
    return _validated(json.dumps(data, sort_keys=True, default=str), label_lag_days)


@lru_cache(maxsize=64)
def _validated(data: str, label_lag_days: int | None) -> Policy:
    # A Policy is frozen: the same layers give one shared object.
    return Policy.model_validate(json.loads(data), context={"label_lag_days": label_lag_days})


def load_policy(path: str | Path | None = None) -> Policy:
    """Engine defaults, overridden by the YAML file at `path` when given."""
    return build_policy([read_layer(path)])
