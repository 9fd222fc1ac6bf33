"""A label kept in the rows' own table: never read as a row, read as a label either with its
known-at column or, without one, as known a fixed lag after its event. On real SQLite."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
import sqlalchemy as sa

from assets.feature_sets import FeatureSets
from assets.model_family import REGRESSORS
from assets.workflow import Contracts, Entity, Label, Owners, Source, Workflow
from checks.tasks import Regression
from orchestration.definitions import source_resource
from resources.source import DayTableSource, EventTimeSource
from tests.engine import toy

DAY = dt.datetime(2026, 3, 2)


def rows() -> pd.DataFrame:
    times = [DAY + dt.timedelta(hours=h) for h in (1, 5, 23)] + [DAY + dt.timedelta(days=1)]
    return pd.DataFrame(
        {
            "account_id": ["a", "b", "c", "d"],
            "observed_at": [t.strftime("%Y-%m-%dT%H:%M:%S") for t in times],
            "seats": [3, 4, 5, 6],
            "revenue": [10.0, None, 30.0, 40.0],  # b's outcome is not in yet
            "closed_at": ["2026-03-04T00:00:00", None, "2026-03-05T00:00:00", None],
        }
    )


@pytest.fixture(scope="module")
def url(tmp_path_factory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('rows') / 'source.db'}"
    engine = sa.create_engine(url)
    rows().to_sql("accounts", engine, index=False)
    rows().drop(columns="observed_at").to_sql("accounts_20260302", engine, index=False)
    engine.dispose()
    return url


def source(url: str, **config) -> EventTimeSource:
    return EventTimeSource(
        url=url,
        table="accounts",
        entity_id="account_id",
        event_time="observed_at",
        labels_table="accounts",
        label_column="revenue",
        **config,
    )


def test_excluded_columns_are_not_read_as_rows_and_every_other_column_is(url):
    plain = source(url).extract(DAY, DAY + dt.timedelta(days=1))
    assert "revenue" in plain.columns
    rows_only = source(url, exclude=["revenue", "closed_at"]).extract(DAY, DAY + dt.timedelta(1))
    assert list(rows_only.columns) == ["account_id", "observed_at", "seats"]
    assert list(rows_only["account_id"]) == ["a", "b", "c"]


def test_day_tables_leave_excluded_columns_out_too(url):
    day = DayTableSource(
        url=url,
        table="accounts_",
        entity_id="account_id",
        event_time="observed_at",
        labels_table="accounts",
        label_column="revenue",
        exclude=["revenue", "closed_at"],
    )
    assert list(day.extract(DAY, DAY + dt.timedelta(days=1)).columns) == ["account_id", "seats"]


def test_labels_with_a_known_at_column_of_the_rows_table(url):
    found = source(url, known_at_column="closed_at").labels(
        DAY + dt.timedelta(days=2), DAY + dt.timedelta(days=3)
    )
    assert list(found.columns) == ["account_id", "revenue", "closed_at"]
    assert list(found["account_id"]) == ["a"]


def test_without_a_known_at_column_a_label_is_known_the_lag_after_its_event(url):
    src = source(url, known_after_days=2)
    # Known on Mar 4: the rows of Mar 2; b's label is still NULL, so it is not a label yet.
    found = src.labels(DAY + dt.timedelta(days=2), DAY + dt.timedelta(days=3))
    assert list(found.columns) == ["account_id", "revenue", "known_at"]
    assert list(found["account_id"]) == ["a", "c"]
    assert list(found["known_at"]) == [
        pd.Timestamp("2026-03-04 01:00"),
        pd.Timestamp("2026-03-04 23:00"),
    ]
    assert str(found["known_at"].dtype) == "datetime64[ns]"
    assert src.labels(DAY, DAY + dt.timedelta(days=2)).empty  # none known before the lag
    newest = src.newest_labels(10)
    assert list(newest["account_id"]) == ["d", "c", "a"]
    assert newest["known_at"].iloc[0] == pd.Timestamp("2026-03-05")


def test_the_newest_rows_come_typed_as_extract_returns_them(url):
    src = source(url, exclude=["revenue", "closed_at"])
    newest = src.newest(2)
    assert list(newest["account_id"]) == ["c", "d"]  # the newest two, oldest first
    assert str(newest["observed_at"].dtype) == "datetime64[ns]"
    assert newest.dtypes.equals(src.extract(DAY, DAY + dt.timedelta(days=2)).dtypes)


def _workflow(tmp_path, **overrides) -> Workflow:
    settings = dict(
        source=Source(layout="event_time", table="accounts", labels_table="accounts"),
        label=Label(column="revenue", known_at=None, max_lag_days=2),
    )
    settings.update(overrides)
    sets = toy.feature_sets(tmp_path)
    return Workflow(
        name="rows_labels",
        owners=Owners("d", "m", "o"),
        entity=Entity(id="account_id", event_time="observed_at"),
        contracts=Contracts(raw=toy.AccountContract, labels=toy.RevenueContract),
        feature_sets=FeatureSets(
            workflow="rows_labels", current="1", sets=list(sets), lock_file=sets.lock_file
        ),
        task=Regression(tolerance=1.0),
        model_families=REGRESSORS,
        **settings,
    )


def test_a_workflow_whose_label_sits_in_the_rows_table_must_exclude_it(tmp_path):
    with pytest.raises(ValueError, match=r"list \['revenue'\] in Source.exclude"):
        _workflow(tmp_path)
    wf = _workflow(
        tmp_path,
        source=Source(
            layout="event_time", table="accounts", labels_table="accounts", exclude=("revenue",)
        ),
    )
    built = source_resource(wf)
    assert built.exclude == ["revenue"] and built.known_after_days == 2
    assert built.known_at_column == "known_at"


def test_a_label_without_known_at_must_live_in_the_rows_table(tmp_path):
    with pytest.raises(ValueError, match="read from the rows' own table"):
        _workflow(
            tmp_path, source=Source(layout="event_time", table="accounts", labels_table="revenue")
        )
