"""The reply workflow's contracts hold for a simulated day as the source gives it back, and
name the columns of a bad frame."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pandera.errors
import pytest

from resources.source import DayTableSource
from workflows.reply_suggestions.component import COMPONENT
from workflows.reply_suggestions.contracts import RawTicketContract, VerdictContract
from workflows.reply_suggestions.simulation import source
from workflows.reply_suggestions.simulation.tickets import TICKET_COLUMNS
from workflows.reply_suggestions.workflow import WORKFLOW

DAY = dt.date(2026, 3, 2)


@pytest.fixture(scope="module")
def url(tmp_path_factory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('desk') / 'desk.db'}"
    source.write_days(url, 7, DAY, DAY, rows_per_day=40)
    return url


def failed(contract, frame: pd.DataFrame) -> set[tuple[str, str]]:
    with pytest.raises(pandera.errors.SchemaErrors) as err:
        contract.validate(frame, lazy=True)
    cases = err.value.failure_cases
    return {(str(c), str(k)) for c, k in zip(cases["column"], cases["check"], strict=True)}


def exported(url: str) -> pd.DataFrame:
    """The day as the engine's source reads it (no conversion: what the desk exports)."""
    wf = WORKFLOW
    reader = DayTableSource(
        url=url,
        table=wf.source.table,
        entity_id=wf.entity.id,
        event_time=wf.entity.event_time,
        labels_table=wf.source.labels_table,
        label_column=wf.label.column,
        known_at_column=wf.label.known_at_column,
    )
    start = dt.datetime.combine(DAY, dt.time())
    return reader.extract(start, start + dt.timedelta(days=1))


def test_a_simulated_day_as_the_engine_exports_it_meets_the_raw_contract(url):
    tickets = exported(url)
    assert sorted(tickets.columns) == sorted(TICKET_COLUMNS)
    RawTicketContract.validate(tickets, lazy=True)


def test_a_bad_raw_frame_names_each_broken_column(url):
    bad = exported(url).reset_index(drop=True)
    bad.loc[0, "question"] = "   "
    bad.loc[1, "language"] = "es"
    bad.loc[2, "category"] = "shipping"
    bad.loc[3, "relevant_articles"] = "KB-1;KB-2"
    bad.loc[5, "ticket_id"] = bad.loc[4, "ticket_id"]
    bad.loc[6, "edge_case"] = 2
    got = {column for column, _ in failed(RawTicketContract, bad)}
    expected = {"question", "language", "category", "relevant_articles", "ticket_id", "edge_case"}
    assert got == expected
    # An unexpected column is a schema change (strict), reported by its name.
    extra = exported(url).assign(priority="high")
    with pytest.raises(pandera.errors.SchemaErrors) as err:
        RawTicketContract.validate(extra, lazy=True)
    cases = err.value.failure_cases
    assert cases.loc[cases["check"] == "column_in_schema", "failure_case"].tolist() == ["priority"]


def test_verdicts_as_the_component_reads_them_meet_the_label_contract(url):
    source.write_verdicts(
        url,
        DAY,
        pd.DataFrame(
            {
                "ticket_id": ["R1", "R2", "R3"],
                "verdict": ["sent", "edited", "discarded"],
                "decided_at": pd.to_datetime(["2026-03-03T10:00:00"] * 3),
            }
        ),
    )
    labels = COMPONENT.labels(url, DAY + dt.timedelta(days=1))
    assert len(labels) == 3
    VerdictContract.validate(labels, lazy=True)
    bad = labels.assign(verdict=["sent", "ignored", "sent"])
    assert {c for c, _ in failed(VerdictContract, bad)} == {"verdict"}
    bad = labels.assign(decided_at=labels["decided_at"].astype(str))
    assert {c for c, _ in failed(VerdictContract, bad)} == {"decided_at"}
