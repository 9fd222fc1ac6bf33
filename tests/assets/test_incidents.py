"""Each incident is caught by the check meant for it on the day it is injected; clean days raise
no ERROR. Real partitions are materialized on a real (SQLite) Dagster instance from a real
simulated source, through the same jobs the demo and the schedules use."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

import pytest
import yaml
from dagster import AssetCheckKey
from dagster._core.event_api import PartitionKeyFilter

from assets.names import FEATURES, PROFILES, RAW, REFERENCE
from tests.assets.ticket_home import WF, ticket_home
from workflows.ticket_escalation.simulation.crm import CrmSimulator
from workflows.ticket_escalation.simulation.incidents import parse_incidents

START = date(2026, 1, 1)
REFERENCE_DAYS = 14
LAST_DAY = 38

# day number -> (incident spec, the check that must raise an ERROR that day)
INCIDENTS = {
    15: ({"kind": "volume_drop", "fraction": 0.5}, "raw_volume"),
    17: ({"kind": "schema_change", "mode": "rename"}, "raw_schema"),
    19: ({"kind": "schema_change", "mode": "retype"}, "raw_schema"),
    21: ({"kind": "schema_change", "mode": "drop", "column": "sentiment"}, "raw_schema"),
    23: ({"kind": "stale_feed", "mode": "resend"}, "raw_freshness"),
    25: ({"kind": "stale_feed", "mode": "empty"}, "raw_freshness"),
    27: ({"kind": "covariate_shift", "column": "first_response_minutes", "k": 1.0}, "drift"),
    29: (
        {
            "kind": "covariate_shift",
            "category_column": "channel",
            "category": "social",
            "share": 0.4,
        },
        "drift",
    ),
    31: (
        {"kind": "unseen_category", "column": "channel", "value": "whatsapp"},
        "raw_contract",
    ),
    33: ({"kind": "null_flood", "column": "sentiment", "fraction": 0.9}, "raw_contract"),
    35: ({"kind": "duplicate_rows", "fraction": 0.05}, "raw_contract"),
}
CONCEPT_DRIFT_DAY = 37  # only labels can reveal it: the input checks must stay quiet


def day_key(number: int) -> str:
    return (START + timedelta(days=number - 1)).isoformat()


@pytest.fixture(scope="module")
def production(tmp_path_factory):
    """Simulate 38 days, ingest them day by day, build the reference after day 14."""
    specs = [{**spec, "day": day_key(n)} for n, (spec, _) in INCIDENTS.items()]
    specs.append({"kind": "concept_drift", "day": day_key(CONCEPT_DRIFT_DAY)})
    policy = f"drift: {{reference_window_days: {REFERENCE_DAYS}}}\n"
    with ticket_home(tmp_path_factory.mktemp("home"), policy) as world:
        CrmSimulator(world.source_url, seed=11).write_days(
            START, START + timedelta(days=LAST_DAY - 1), parse_incidents(specs)
        )
        outcomes = {}
        for n in range(1, LAST_DAY + 1):
            if n == REFERENCE_DAYS + 1:
                config = {REFERENCE: {"end_date": day_key(n - 1)}}
                assert world.run("reference_refresh", ops=config).success
            job = "raw_ingestion" if n <= REFERENCE_DAYS else "daily_ingestion"
            outcomes[n] = world.run(job, day_key(n))
        yield world, outcomes


def errors_on(outcome) -> set[str]:
    return {c.check for c in outcome.checks if c.level == "error"}


@pytest.mark.parametrize("number", sorted(INCIDENTS), ids=lambda n: INCIDENTS[n][0]["kind"])
def test_incident_is_caught_on_its_day_by_its_check(production, number):
    _, outcomes = production
    spec, check = INCIDENTS[number]
    assert check in errors_on(outcomes[number]), (
        f"{spec} on {day_key(number)}: expected {check} to raise an ERROR; checks said "
        f"{[(c.check, c.level, c.description) for c in outcomes[number].checks]}"
    )


def test_clean_days_raise_no_error(production):
    _, outcomes = production
    clean = [n for n in outcomes if n not in INCIDENTS and n != CONCEPT_DRIFT_DAY]
    noisy = {day_key(n): errors_on(outcomes[n]) for n in clean if errors_on(outcomes[n])}
    assert not noisy
    # Every clean day after the reference ran its drift checks, so "quiet" means "looked".
    judged = defaultdict(int)
    for n in clean:
        for check in outcomes[n].checks:
            judged[check.check] += 1
    assert judged["drift"] == len([n for n in clean if n > REFERENCE_DAYS])
    assert judged["raw_contract"] == len(clean)


def test_concept_drift_leaves_the_input_checks_quiet(production):
    _, outcomes = production
    assert errors_on(outcomes[CONCEPT_DRIFT_DAY]) == set()


def test_failing_contract_blocks_downstream_but_keeps_the_raw_snapshot(production):
    world, outcomes = production
    number = 35  # duplicate rows
    outcome = outcomes[number]
    assert not outcome.success
    assert not any(c.check == "drift" for c in outcome.checks)
    store = world.store
    assert day_key(number) in store.partitions(RAW)
    assert day_key(number) not in store.partitions(PROFILES)
    assert day_key(number) not in store.partitions(FEATURES)
    raw = store.read(RAW, day_key(number))
    assert raw["ticket_id"].duplicated().any()  # the bad data itself is kept for inspection


def test_check_results_are_stored_per_partition_with_their_tables(production):
    world, _ = production
    key = AssetCheckKey(WF.key(PROFILES), "drift")
    latest = world.instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [key], partition_filter=PartitionKeyFilter(key=day_key(27))
    )[key]
    evaluation = latest.evaluation
    assert evaluation.passed is False
    table = evaluation.metadata["columns"].value
    decisions = {r.data["column"]: r.data["decision"] for r in table.records}
    assert decisions["first_response_minutes"] == "error"
    assert sum(d == "error" for d in decisions.values()) == 1


def test_drift_metadata_keys_are_the_same_every_day_and_the_shift_is_drawn(production):
    """Dagster plots a numeric key over partitions only if its name stays put: a clean day and
    the shifted day carry the same per-key-column numbers; the shifted one adds its histogram."""
    world, _ = production
    key = AssetCheckKey(WF.key(PROFILES), "drift")

    def evaluation(number):
        latest = world.instance.event_log_storage.get_latest_asset_check_execution_by_key(
            [key], partition_filter=PartitionKeyFilter(key=day_key(number))
        )[key]
        return latest.evaluation.metadata

    clean, shifted = evaluation(26), evaluation(27)
    numeric = {k for k, v in clean.items() if "/" in k and not k.startswith("histogram/")}
    key_columns = yaml.safe_load(WF.policy_file.read_text())["retraining"]["drift_key_columns"]
    metrics = ("effect", "effect_floor", "p_adjusted")
    assert numeric == {f"{c}/{m}" for c in key_columns for m in metrics}
    assert numeric <= set(shifted)
    effect = shifted["first_response_minutes/effect"].value
    assert effect > shifted["first_response_minutes/effect_floor"].value == 0.15
    assert clean["first_response_minutes/effect"].value < 0.15
    assert shifted["first_response_minutes/p_adjusted"].value < 0.001
    assert not any(k.startswith("histogram/") for k in clean)
    assert "| bin | reference % | current % |" in shifted["histogram/first_response_minutes"].value
    # The table reads decision and reason first, worst first, numbers rounded for reading.
    table = shifted["columns"].value
    assert [c.name for c in table.schema.columns][:3] == ["decision", "reason", "column"]
    first = table.records[0].data
    assert first["column"] == "first_response_minutes" and first["decision"] == "error"
    assert first["effect_size"] == float(f"{effect:.3g}")
