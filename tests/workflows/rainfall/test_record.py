"""The rainfall workflow's record, contracts, feature set and lock, and its scenario."""

from datetime import date, datetime

import numpy as np
import pytest

from checks.contract import validate_against
from orchestration.scenario import load_scenario
from workflows.rainfall.contracts import FeatureContract, LabelContract, RawDayContract
from workflows.rainfall.record import DRIFT_ROW, FEATURES, ROWS, START, day_of, load_record
from workflows.rainfall.simulation import known_at, source_rows
from workflows.rainfall.workflow import WORKFLOW

SIM = WORKFLOW.simulation


@pytest.fixture(scope="module")
def record():
    return load_record()


@pytest.fixture(scope="module")
def tables():
    return source_rows(START, day_of(ROWS - 1))


def test_the_whole_record_loads_with_one_assumed_date_a_day(record):
    assert len(record) == ROWS == 18_159
    assert list(record.columns) == ["row", "day_number", "date", *FEATURES, "rain"]
    assert record["date"].iloc[0] == date(1949, 1, 1)
    assert record["date"].iloc[-1] == date(1998, 9, 19)
    assert (np.diff(record["day_number"]) == 1).all()
    # Day numbers are rows + 1: the published drift (row 12,000) is day 12,001.
    drift = record.iloc[DRIFT_ROW]
    assert (drift["day_number"], drift["date"]) == (12_001, date(1981, 11, 9))
    assert set(record["rain"]) == {0, 1}
    assert 0.25 < record["rain"].mean() < 0.35  # it rains on the next day about 30% of days


def test_a_label_is_known_once_the_next_day_has_passed():
    assert known_at(date(1960, 3, 14)) == datetime(1960, 3, 16)
    assert known_at(date(1960, 3, 31)) == datetime(1960, 4, 2)
    assert known_at(date(1960, 12, 31)) == datetime(1961, 1, 2)


def test_every_label_comes_after_its_row_and_within_the_declared_lag(tables):
    rows, labels = tables
    lag = (labels["known_at"] - rows["observed_at"]).dt.total_seconds() / 86400
    assert (lag > 0).all()
    assert lag.max() <= WORKFLOW.label.max_lag_days
    # Most labels are known before their month ends: only rows final at their event time
    # (which the workflow declares) let the point-in-time join keep them.
    month_end = rows["observed_at"].dt.to_period("M").dt.end_time.dt.ceil("D")
    assert (labels["known_at"] <= month_end).mean() > 0.9
    assert WORKFLOW.source.rows_final_at_event_time


def test_the_contracts_pass_on_the_record_but_for_its_two_impossible_pressures(tables):
    rows, labels = tables
    assert validate_against(LabelContract, labels).passed
    report = validate_against(RawDayContract, rows)
    assert not report.passed
    assert [f["column"] for f in report.failures] == ["sea_level_pressure"]
    impossible = rows["sea_level_pressure"].abs() > 10
    assert rows.index[impossible].tolist() == [3595, 3596]  # 94 standard deviations
    assert validate_against(RawDayContract, rows[~impossible]).passed


def test_the_feature_set_meets_its_contract_and_is_pinned(tables):
    rows, _ = tables
    v1 = WORKFLOW.feature_sets.get("1")
    features = v1.features(rows.iloc[:400])
    assert validate_against(FeatureContract, features).passed
    assert list(features.columns) == ["record_date", "observed_at", *FEATURES]
    pin = WORKFLOW.feature_sets.pin("1")
    assert pin.ok, pin.reason()


def test_the_default_scenario_launches_after_ten_years_and_declares_the_drift():
    scenario = load_scenario(SIM)
    assert (scenario.start, scenario.days, scenario.reference_days) == (START, ROWS, 3652)
    assert scenario.day(scenario.reference_days) == date(1958, 12, 31)
    [drift] = scenario.incidents
    assert (drift.kind, drift.day, drift.label_only) == ("concept_drift", date(1981, 11, 9), True)
    assert drift.last_day == day_of(ROWS - 1)


def test_nothing_but_the_records_own_change_can_be_declared():
    with pytest.raises(ValueError, match="known changes are concept_drift"):
        SIM.parse_incidents([{"kind": "volume_drop", "day": "1960-01-01"}])
    with pytest.raises(ValueError, match="outside the record"):
        SIM.parse_incidents([{"kind": "concept_drift", "day": "2001-01-01"}])
    with pytest.raises(ValueError, match="no actions of its own"):
        SIM.validate_action({"kind": "hand_registered_model"})
    assert SIM.parse_incidents([]) == [] and SIM.action_kinds == ()


def test_a_window_outside_the_record_is_refused():
    with pytest.raises(ValueError, match="the record spans 1949-01-01 .. 1998-09-19"):
        source_rows(date(1948, 12, 1), date(1949, 2, 1))
