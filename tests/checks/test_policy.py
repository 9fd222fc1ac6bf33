import pytest
from pydantic import ValidationError

from checks.policy import Policy, build_policy, load_policy


def test_defaults_are_the_documented_thresholds():
    policy = load_policy(None)
    assert policy.volume.error_drop == 0.30 and policy.volume.warn_drop == 0.15
    assert policy.drift.reference_window_days == 60


def test_yaml_overrides_only_what_it_names(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text("version: team-7\nvolume:\n  error_drop: 0.5\n")
    policy = load_policy(path)
    assert policy.version == "team-7"
    assert policy.volume.error_drop == 0.5
    assert policy.volume.warn_drop == Policy().volume.warn_drop


def test_a_typo_in_the_policy_file_is_an_error_not_a_silent_default(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text("volume:\n  eror_drop: 0.5\n")
    with pytest.raises(ValidationError, match="eror_drop"):
        load_policy(path)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        load_policy(tmp_path / "nope.yaml")


def test_metadata_names_the_policy_version():
    meta = Policy().as_metadata("volume")
    assert meta["policy_version"] == Policy().version
    assert meta["policy.error_drop"] == 0.30


# --- the fields that replaced the ticket workflow's -------------------------------------------


@pytest.mark.parametrize(
    ("section", "name"),
    [
        ("gate", "decision_threshold"),  # the task's threshold now
        ("labels", "delay_days"),  # the workflow's label.max_lag_days now
        ("labels", "max_delay_days"),
        ("labels", "lookback_days"),
        ("readiness", "segments"),  # the workflow's segments
        ("readiness", "handle_time_rise"),  # readiness.kpi_worsening
        ("rollout", "fallback_escalate_priorities"),  # the workflow's fallback
        ("retraining", "schedule_cron"),  # schedules.retraining_cron
    ],
)
def test_a_field_moved_out_of_the_policy_is_refused_by_name(section, name):
    with pytest.raises(ValidationError, match=name):
        build_policy([{section: {name: 1}}])


def test_the_new_fields_defaults():
    policy = Policy()
    assert policy.labels.lookback_extra_days == 5 and policy.labels.max_bad_fraction == 0.01
    assert policy.drift.merged_partitions == 7
    assert policy.evaluation.window_days == 7
    s = policy.schedules
    assert (s.production_hour, s.evaluation_cron, s.retraining_cron) == (
        2,
        "0 6 * * 1",
        "0 3 1 * *",
    )
    r = policy.readiness
    assert (r.history_days, r.volume_warn_factor, r.kpi_worsening) == (14, 0.7, 0.05)
    assert (r.early_warning_k, r.early_warning_min_days, r.stages) == (3.0, 7, {})
    assert policy.rollout.label_free_only is False
    # the threshold is the task's: the intervals' settings carry none
    assert policy.bootstrap_settings() == {"n_resamples": 1000, "confidence": 0.95, "seed": 7}


def test_the_new_fields_are_validated():
    with pytest.raises(ValidationError, match="merged_partitions"):
        build_policy([{"drift": {"merged_partitions": 1}}])  # one partition merges nothing
    with pytest.raises(ValidationError, match="window_days"):
        build_policy([{"evaluation": {"window_days": 0}}])
    with pytest.raises(ValidationError, match="volume_warn_factor"):
        build_policy([{"readiness": {"volume_warn_factor": 1.5}}])
    with pytest.raises(ValidationError, match="production_hour"):
        build_policy([{"schedules": {"production_hour": 24}}])
    with pytest.raises(ValidationError, match="kpi_worsening"):
        build_policy([{"readiness": {"kpi_worsening": -0.1}}])
    stages = {"ranking": {"min": 0.8}, "latency": {"max": 1.2}}
    assert build_policy([{"readiness": {"stages": stages}}]).readiness.stages == stages


def test_a_schedule_is_set_in_the_workflows_file_not_the_homes():
    workflow = {"schedules": {"retraining_cron": "0 4 * * 0"}}
    assert build_policy([workflow]).schedules.retraining_cron == "0 4 * * 0"
    with pytest.raises(ValueError, match="schedules.retraining_cron is read when the definitions"):
        build_policy([{}], runtime_layer=workflow)
    # a field read at run time may be overridden by the home
    home = {"readiness": {"kpi_worsening": 0.1}}
    assert build_policy([{}], runtime_layer=home).readiness.kpi_worsening == 0.1


def test_a_rollout_shorter_than_the_label_lag_is_refused_unless_judged_without_labels():
    # The default canary lasts 2 + 3 + 3 + 3 + 3 = 14 days.
    assert Policy().rollout.canary_days == 14
    assert build_policy([{"rollout": {}}], label_lag_days=13).rollout.canary_days == 14
    with pytest.raises(ValidationError, match="label.max_lag_days is 14"):
        build_policy([{"rollout": {"shadow_days": 1}}], label_lag_days=14)
    short = {"rollout": {"steps": [{"fraction": 0.1, "days": 1}, {"fraction": 1.0, "days": 2}]}}
    with pytest.raises(ValidationError, match="last 3 days in all"):
        build_policy([short], label_lag_days=5)
    label_free = {"rollout": {**short["rollout"], "label_free_only": True}}
    assert build_policy([label_free], label_lag_days=5).rollout.label_free_only is True
    # without a rollout, or without a lag to compare with, nothing to refuse
    assert not build_policy(
        [short, {"rollout": {"enabled": False}}], label_lag_days=5
    ).rollout.enabled
    assert build_policy([short]).rollout.canary_days == 3


def test_the_default_rollout_is_held_to_the_label_lag_too():
    with pytest.raises(ValidationError, match="label.max_lag_days is 14"):
        build_policy([{}], label_lag_days=14)
