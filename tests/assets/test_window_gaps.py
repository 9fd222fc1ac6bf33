"""A partition folder deleted from a small home after it was ingested: the training window and
the weekly evaluation refuse, naming the partition and its folder (the source is not blamed);
under the policy `missing_partitions: skip` they go on without it and record the gap in the
model's lineage and the evaluation's metadata. Days before the source began stay what they
were: not there, and no error."""

import shutil
from contextlib import contextmanager
from datetime import date, timedelta

import dagster as dg
import pytest
import yaml

from assets.names import CHALLENGER, EVAL_SET, LABELS, RAW, TRAINING_SET, WEEKLY
from orchestration.definitions import source_resource
from tests.assets.ticket_home import WF, ticket_home
from workflows.ticket_escalation.simulation.crm import CrmSimulator

START = date(2026, 1, 5)
DAYS = 10
END = (START + timedelta(days=DAYS - 1)).isoformat()  # label windows end here
# Rows of START+1 .. START+4 train (4 days, labels known by END); the week is the last three.
GONE_RAW = (START + timedelta(days=3)).isoformat()
GONE_LABELS = (START + timedelta(days=7)).isoformat()
POLICY = {
    "training": {"window_days": 4, "min_rows": 300},
    "evaluation": {
        "eval_set_size": 300,
        "eval_set_min_size": 200,
        "bootstrap_resamples": 100,
        "window_days": 3,
    },
    "gate": {  # few metrics: the gate is not under test, only its yes for a first champion
        "metrics": ["roc_auc", "task_success"],
        "floors": {"roc_auc": 0.5, "task_success": 0.5},
        "min_slice_size": 5,
    },
    "rollout": {"enabled": False},  # the first model the gate passes is the champion
}
SKIP = {"missing_partitions": "skip"}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    with ticket_home(tmp_path_factory.mktemp("home"), yaml.safe_dump(POLICY)) as home:
        CrmSimulator(home.source_url, seed=5).write_days(START, START + timedelta(days=DAYS - 1))
        ingest(home, [(START + timedelta(days=i)).isoformat() for i in range(DAYS)])
        assert home.run("draw_test_set", ops={EVAL_SET: {"end_date": END}}).success
        trained = home.run("train_challenger", ops={TRAINING_SET: {"end_date": END}})
        assert trained.success, trained.step_errors
        assert home.registry.version_for_alias("champion") == "1"
        whole = weekly(home)
        assert whole.success, whole.step_errors
        yield home, whole.materialized[WEEKLY]


def ingest(home, days: list[str]) -> None:
    """Store each day's raw rows and labels as the raw and labels assets do (their bodies are
    these two calls): what this file tests is how the windows read them back, and a Dagster
    run per day would cost most of its time."""
    with dg.build_resources({"source": source_resource(WF)}) as resources:
        for day in days:
            start, end = WF.partitions.window(day)
            home.store.write(RAW, day, resources.source.extract(start, end))
            home.store.write(LABELS, day, resources.source.labels(start, end))


def weekly(home, week_end: str = END):
    return home.run("evaluate_weekly", ops={WEEKLY: {"week_end": week_end}})


def retrain(home):
    ops = {TRAINING_SET: {"end_date": END}, CHALLENGER: {"change_summary": "gap", "actor": "t"}}
    return home.run("retraining", ops=ops)


@contextmanager
def deleted(home, *partitions: tuple[str, str]):
    """The partitions' folders gone from the store (moved outside it), put back after."""
    aside = home.root / "aside"
    moved = []
    try:
        for asset, day in partitions:
            folder = home.snapshots / asset / day
            (aside / asset).mkdir(parents=True, exist_ok=True)
            shutil.move(folder, aside / asset / day)
            moved.append((folder, aside / asset / day))
        yield [folder for folder, _ in moved]
    finally:
        for folder, away in moved:
            shutil.move(away, folder)


@contextmanager
def policy(home, **sections):
    home.write_policy(
        yaml.safe_dump({**POLICY, **{k: {**POLICY[k], **v} for k, v in sections.items()}})
    )
    try:
        yield
    finally:
        home.write_policy(yaml.safe_dump(POLICY))


@pytest.mark.bad_input
def test_the_training_window_refuses_a_deleted_raw_partition_naming_it(world):
    home, _ = world
    with deleted(home, (RAW, GONE_RAW)) as [folder]:
        outcome = retrain(home)
    assert not outcome.success
    message = outcome.step_errors[WF.op(TRAINING_SET)]
    assert f"raw partition {GONE_RAW} ({folder})" in message
    assert "deleted from it" in message and "training.missing_partitions: skip" in message
    assert "not materialized" not in message  # what a partition never ingested says
    assert home.registry.version_for_alias("challenger") == "1"  # nothing trained


@pytest.mark.bad_input
def test_the_weekly_evaluation_refuses_a_deleted_raw_or_label_partition_naming_it(world):
    home, _ = world
    for asset, day in [(RAW, GONE_RAW), (LABELS, GONE_LABELS)]:
        with deleted(home, (asset, day)) as [folder]:
            outcome = weekly(home)
        assert not outcome.success
        message = outcome.step_errors[WF.op(WEEKLY)]
        assert f"{asset} partition {day} ({folder})" in message, message
        assert "evaluation.missing_partitions: skip" in message


def test_with_skip_the_training_goes_on_and_its_lineage_records_the_gap(world):
    home, _ = world
    before = home.registry.version_for_alias("challenger")
    with deleted(home, (RAW, GONE_RAW), (LABELS, GONE_LABELS)), policy(home, training=SKIP):
        outcome = retrain(home)
    assert outcome.success, outcome.step_errors
    version = home.registry.version_for_alias("challenger")
    assert version != before
    gap = {LABELS: [GONE_LABELS], RAW: [GONE_RAW]}
    tags = home.registry.version_tags(version)
    assert tags["lineage.missing_partitions"] == f"labels: {GONE_LABELS}; raw: {GONE_RAW}"
    lineage = home.registry.load_artifact_json(version, "lineage.json")
    assert lineage["missing_partitions"] == gap
    assert GONE_RAW not in lineage["raw_snapshots"]
    assert GONE_LABELS not in lineage["label_snapshots"]
    assert "deleted" in lineage["excluded_partitions"][GONE_RAW]
    assert outcome.materialized[TRAINING_SET]["missing_partitions"] == gap
    # The champion's lineage, trained on the whole window, records no gap.
    assert home.registry.version_tags("1")["lineage.missing_partitions"] == "none"


def test_with_skip_the_weekly_evaluation_goes_on_and_records_the_gap(world):
    home, whole = world
    with deleted(home, (RAW, GONE_RAW)), policy(home, evaluation=SKIP):
        outcome = weekly(home)
    assert outcome.success, outcome.step_errors
    meta = outcome.materialized[WEEKLY]
    assert meta["missing_partitions"] == {RAW: [GONE_RAW]}
    assert whole["missing_partitions"] == {}
    assert 0 < meta["rows"] < whole["rows"]  # a day of the week fewer, and said so
    assert home.store.read(WEEKLY, None)["missing_partitions"] == {RAW: [GONE_RAW]}


def test_days_before_the_source_began_are_no_gap(world):
    home, _ = world
    # The week ending here reaches back before START: those days were never written.
    outcome = weekly(home, (START + timedelta(days=6)).isoformat())
    assert outcome.success, outcome.step_errors
    assert outcome.materialized[WEEKLY]["missing_partitions"] == {}


@pytest.mark.bad_input
def test_labels_integrity_names_a_deleted_raw_partition_instead_of_blaming_the_labels(world):
    home, _ = world
    day = (START + timedelta(days=5)).isoformat()  # its label lookback covers GONE_RAW
    with deleted(home, (RAW, GONE_RAW)):
        outcome = home.run("daily_ingestion", day)
    (integrity,) = [c for c in outcome.checks if c.check == "labels_integrity"]
    assert (integrity.passed, integrity.severity) == (False, "ERROR")
    assert GONE_RAW in integrity.description and "deleted since" in integrity.description
    assert "unknown" not in integrity.description  # not "labels for unknown rows"
