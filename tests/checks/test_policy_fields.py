"""An honest policy: every field is read by the engine. The map names, for each field, the
module that reads it; the test proves the module still reads `.<field>`, and that the map and
the policy hold the same fields (a new field nothing reads, or a field the code lost, fails)."""

import re
from pathlib import Path

from checks.policy import Policy

ROOT = Path(__file__).resolve().parents[2]

READ_BY = {
    "volume.warn_drop": "checks/volume.py",
    "volume.error_drop": "checks/volume.py",
    "volume.history_weeks": "assets/ingestion.py",
    "volume.min_history": "checks/volume.py",
    "volume.warn_rise": "checks/volume.py",
    "volume.error_rise": "checks/volume.py",
    "repeats.lookback_days": "assets/ingestion.py",
    "repeats.error_fraction": "checks/repeats.py",
    "event_time.early_tolerance_hours": "checks/event_window.py",
    "event_time.error_fraction": "checks/event_window.py",
    "freshness.warn_lag_hours": "checks/freshness.py",
    "freshness.error_lag_hours": "checks/freshness.py",
    "freshness.asset_warn_hours": "assets/ingestion.py",
    "freshness.asset_fail_hours": "assets/ingestion.py",
    "drift.reference_window_days": "assets/profiles.py",
    "drift.min_reference_days": "assets/profiles.py",
    "drift.alpha": "assets/profiles.py",
    "drift.numeric_warn": "assets/profiles.py",
    "drift.numeric_error": "assets/profiles.py",
    "drift.categorical_warn": "assets/profiles.py",
    "drift.categorical_error": "assets/profiles.py",
    "drift.null_rate_error": "assets/profiles.py",
    "drift.min_rows": "assets/profiles.py",
    "drift.n_bins": "assets/profiles.py",
    "drift.max_categories": "assets/profiles.py",
    "drift.merged_partitions": "assets/profiles.py",
    "labels.lookback_extra_days": "assets/labels.py",
    "labels.max_bad_fraction": "assets/labels.py",
    "training.window_days": "assets/training.py",
    "training.missing_partitions": "assets/training.py",
    "training.validation_fraction": "assets/training.py",
    "training.min_rows": "assets/training.py",
    "training.model_family": "assets/training.py",
    "training.hyperparameters": "assets/training.py",
    "training.seed": "assets/training.py",
    "training.owner": "assets/training.py",
    "training.decision_threshold": "assets/training.py",
    "gate.beat_baselines": "assets/evaluation.py",
    "gate.primary_metric": "checks/gate.py",
    "gate.floors": "checks/gate.py",
    "gate.metrics": "assets/evaluation.py",
    "gate.non_inferiority_margin": "checks/gate.py",
    "gate.non_inferiority_metrics": "checks/gate.py",
    "gate.superiority_confidence": "checks/gate.py",
    "gate.slice_max_regression": "checks/gate.py",
    "gate.min_slice_size": "assets/evaluation.py",
    "gate.require_approval": "checks/gate.py",
    "gate.verdict_max_age_days": "assets/deployment.py",
    "gate.incomplete_lineage": "checks/provenance.py",
    "gate.max_leaked_entities": "checks/provenance.py",
    "gate.packaging": "assets/gate_evidence.py",
    "gate.packaging_timeout_s": "assets/gate_evidence.py",
    "gate.max_latency_ratio": "checks/provenance.py",
    "gate.latency_repeats": "assets/gate_evidence.py",
    "gate.max_artifact_mb": "checks/provenance.py",
    "evaluation.bootstrap_resamples": "checks/policy.py",
    "evaluation.confidence": "checks/policy.py",
    "evaluation.seed": "checks/policy.py",
    "evaluation.weekly_drop_points": "assets/weekly.py",
    "evaluation.eval_set_size": "assets/evaluation.py",
    "evaluation.eval_set_min_size": "assets/evaluation.py",
    "evaluation.window_days": "assets/weekly.py",
    "evaluation.missing_partitions": "assets/weekly.py",
    "output.psi_warn": "assets/predictions.py",
    "output.psi_error": "assets/predictions.py",
    "output.positive_rate_error": "assets/predictions.py",
    "output.min_rows": "assets/predictions.py",
    "retraining.drift_key_columns": "orchestration/sensors.py",
    "retraining.drift_consecutive_days": "orchestration/sensors.py",
    "retraining.cooldown_days": "orchestration/sensors.py",
    "retraining.new_labels_min_rows": "orchestration/sensors.py",
    "schedules.production_hour": "orchestration/jobs.py",
    "schedules.evaluation_cron": "orchestration/jobs.py",
    "schedules.retraining_cron": "orchestration/jobs.py",
    "rollout.enabled": "orchestration/sensors.py",
    "rollout.shadow_days": "checks/rollout.py",
    "rollout.steps": "checks/rollout.py",
    "rollout.task_success_drop_points": "checks/rollout.py",
    "rollout.max_error_rate": "checks/rollout.py",
    "rollout.trigger_window_days": "assets/rollout.py",
    "rollout.min_labelled_rows": "checks/rollout_compare.py",
    "rollout.min_scored_rows": "checks/rollout_compare.py",
    "rollout.confidence": "checks/rollout.py",
    "rollout.promotion": "checks/rollout.py",
    "rollout.label_free_only": "checks/rollout_compare.py",
    "readiness.week_days": "checks/readiness.py",
    "readiness.month1_days": "assets/readiness.py",
    "readiness.history_days": "assets/readiness.py",
    "readiness.volume_warn_factor": "checks/readiness.py",
    "readiness.early_warning_k": "assets/readiness.py",
    "readiness.early_warning_min_days": "assets/readiness.py",
    "readiness.task_success_drop_points": "checks/readiness.py",
    "readiness.adoption_drop": "checks/readiness.py",
    "readiness.kpi_worsening": "checks/readiness.py",
    "readiness.schema_errors_days": "assets/readiness.py",
    "readiness.stages": "checks/readiness.py",
    "alerts.routes": "checks/policy.py",
    "alerts.fallback_owner": "checks/policy.py",
    "alerts.max_attempts_logged": "orchestration/sensors.py",
    "registry.review_max_age_days": "orchestration/review_check.py",
    "approvers.promotion": "assets/deployment.py",
    "approvers.actions": "orchestration/approvals_cli.py",
    "agent_actions.error_rate_max": "checks/agent_actions.py",
    "agent_actions.error_min_calls": "checks/agent_actions.py",
    "agent_actions.burst_max_per_hour": "checks/agent_actions.py",
    "agent_actions.refusal_rate_max": "checks/agent_actions.py",
    "agent_actions.refusal_alpha": "checks/agent_actions.py",
    "agent_actions.refusal_floor": "checks/agent_actions.py",
    "agent_actions.trailing_days": "assets/agent_actions.py",
    "agent_actions.min_requests": "checks/agent_actions.py",
    "pipeline.thresholds": "assets/pipeline_daily.py",
    "pipeline.min_rows": "assets/pipeline_daily.py",
    "pipeline.gate": "assets/pipeline_daily.py",
    "pipeline.hallucination": "assets/pipeline_daily.py",
    "pipeline.text_drift": "assets/pipeline_daily.py",
}


def policy_fields() -> set[str]:
    fields = set()
    for section, info in Policy.model_fields.items():
        model = info.annotation
        if hasattr(model, "model_fields"):
            fields |= {f"{section}.{name}" for name in model.model_fields}
    return fields


def test_the_map_names_every_policy_field_and_no_other():
    fields = policy_fields()
    assert sorted(fields - set(READ_BY)) == [], "a new policy field needs a reader (and a line)"
    assert sorted(set(READ_BY) - fields) == [], "the map names a field the policy lost"


def test_every_field_is_read_where_the_map_says():
    unread = []
    for dotted, module in READ_BY.items():
        field = dotted.split(".")[1]
        text = (ROOT / module).read_text()
        if module == "checks/policy.py":
            # Read by the policy's own methods (bootstrap settings, alert routing), not by its
            # declaration: the read must sit in a method body, `self.<section>.<field>`.
            pattern = rf"self\.(\w+\.)?{field}\b"
        else:
            pattern = rf"\.{field}\b"
        if not re.search(pattern, text):
            unread.append(dotted)
    assert unread == []


def test_removed_fields_are_refused_not_silently_kept():
    import pytest
    from pydantic import ValidationError

    for section, field in [
        ("labels", "delay_days"),
        ("labels", "max_delay_days"),
        ("retraining", "schedule_cron"),
        ("gate", "decision_threshold"),
        ("rollout", "fallback_escalate_priorities"),
        ("readiness", "segments"),
    ]:
        with pytest.raises(ValidationError, match=field):
            Policy.model_validate({section: {field: 1}})
