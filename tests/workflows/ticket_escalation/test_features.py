"""The ticket workflow's feature set v1: pinned in its lock file, meeting its contract, naming
a missing raw column."""

import importlib.util
import json
import sys
import uuid
from datetime import date
from pathlib import Path

import pytest

from assets.feature_sets import FeatureSet, FeatureSets
from checks.contract import validate_against
from workflows.ticket_escalation import features as ticket_features
from workflows.ticket_escalation.contracts import FeatureContract
from workflows.ticket_escalation.simulation.crm import generate_day
from workflows.ticket_escalation.workflow import WORKFLOW

DAY = date(2026, 2, 2)
SOURCE = Path(ticket_features.__file__).read_text()
V1 = WORKFLOW.feature_sets.get("1")


@pytest.fixture
def load(tmp_path, monkeypatch):
    """The features module from other source text, imported fresh under a new name."""
    monkeypatch.setattr(sys, "dont_write_bytecode", True)

    def _load(source: str):
        name = f"ticket_features_{uuid.uuid4().hex}"
        path = tmp_path / f"{name}.py"
        path.write_text(source)
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        monkeypatch.setitem(sys.modules, name, module)
        spec.loader.exec_module(module)
        return module

    return _load


def _v1_of(module) -> FeatureSet:
    return FeatureSet("1", module.v1, categorical=module.CATEGORICAL, numeric=module.NUMERIC)


def test_the_committed_feature_code_matches_its_pinned_hash():
    """Fails when a feature definition changes without a version bump: add a new version
    beside it in workflows/ticket_escalation/features.py and run
    `afterlaunch feature-lock --workflow ticket_escalation`."""
    assert WORKFLOW.feature_sets.lock_file.name == "features.lock.json"
    for version in WORKFLOW.feature_sets.versions:
        pin = WORKFLOW.feature_sets.pin(version)
        assert pin.ok, pin.reason()


def test_a_changed_definition_is_caught_and_a_comment_is_not(load, tmp_path):
    commented = _v1_of(load(SOURCE + "\n# a comment\n"))
    assert commented.definitions_hash == V1.definitions_hash
    old = '"subject_failure": subject'
    assert old in SOURCE
    changed = _v1_of(load(SOURCE.replace(old, '"subject_failure": ~subject', 1)))
    assert changed.definitions_hash != V1.definitions_hash
    # Against the committed lock, the changed code is a change without a version bump.
    stale = FeatureSets(
        workflow=WORKFLOW.name,
        current="1",
        sets=[changed],
        lock_file=WORKFLOW.feature_sets.lock_file,
    ).pin("1")
    assert not stale.ok and "without a version bump" in stale.reason()
    assert "feature-lock --workflow ticket_escalation" in stale.reason()
    unpinned = FeatureSets(
        workflow=WORKFLOW.name, current="1", sets=[V1], lock_file=tmp_path / "none.json"
    ).pin("1")
    assert "not pinned" in unpinned.reason()


def test_lock_refuses_to_repin_a_version_to_other_code(tmp_path):
    lock = tmp_path / "lock.json"
    lock.write_text(json.dumps({"1": "0" * 64}))
    sets = FeatureSets(workflow=WORKFLOW.name, current="1", sets=[V1], lock_file=lock)
    with pytest.raises(ValueError, match="without a version bump"):
        sets.pin_all_current()
    assert json.loads(lock.read_text()) == {"1": "0" * 64}  # nothing written
    fresh = FeatureSets(
        workflow=WORKFLOW.name, current="1", sets=[V1], lock_file=tmp_path / "fresh.json"
    )
    assert all(p.ok for p in fresh.pin_all_current())
    assert fresh.read_lock() == {"1": V1.definitions_hash}


def test_features_meet_their_contract_and_bad_features_do_not():
    tickets, _ = generate_day(DAY, seed=5)
    features = V1.features(tickets)
    assert V1.contract is FeatureContract
    assert validate_against(FeatureContract, features).passed
    broken = features.assign(hour_of_day=features["hour_of_day"] + 30)
    report = validate_against(FeatureContract, broken)
    assert not report.passed and report.failures[0]["column"] == "hour_of_day"


def test_v1_computes_the_keys_and_its_declared_columns():
    tickets, _ = generate_day(DAY, seed=5)
    features = V1.features(tickets)
    assert list(features.columns) == ["ticket_id", "created_at", *V1.columns]
    assert len(features) == len(tickets) and features["ticket_id"].is_unique


def test_missing_raw_column_is_named():
    tickets, _ = generate_day(DAY, seed=5)
    with pytest.raises(KeyError, match="subject"):
        V1.features(tickets.drop(columns=["subject"]))
