import pytest
from pydantic import ValidationError

from checks.policy import Policy, load_policy


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
