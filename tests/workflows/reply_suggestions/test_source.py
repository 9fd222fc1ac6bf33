"""The simulated desk in a real SQLite file: day tables, KB versions and verdicts round trip."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import sqlalchemy as sa

from workflows.reply_suggestions.simulation import knowledge_base as kb
from workflows.reply_suggestions.simulation import source
from workflows.reply_suggestions.simulation.incidents import parse_incidents
from workflows.reply_suggestions.simulation.tickets import generate_tickets
from workflows.reply_suggestions.simulation.verdicts import verdicts

START = dt.date(2026, 1, 5)
CHANGE = dt.date(2026, 1, 7)
INCIDENTS = parse_incidents([{"kind": "kb_article_changed", "day": CHANGE, "article_id": "KB-001"}])


def _tables(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_days_round_trip_and_rewriting_is_idempotent(tmp_path):
    url = f"sqlite:///{tmp_path / 'desk.db'}"
    end = START + dt.timedelta(days=3)
    written = source.write_days(url, 7, START, end, INCIDENTS, rows_per_day=40)
    assert list(written) == [START + dt.timedelta(days=i) for i in range(4)]
    assert {"reply_tickets_20260105", "reply_tickets_20260108", "kb_articles"} <= _tables(url)
    for day, n in written.items():
        expected = generate_tickets(day, 7, INCIDENTS, rows_per_day=40)
        assert n == len(expected)
        pd.testing.assert_frame_equal(source.read_tickets(url, day), expected)

    history = source.read_kb(url)
    assert history == kb.kb_history(INCIDENTS)
    assert source.read_kb(url, as_of=CHANGE - dt.timedelta(days=1)) == kb.base_articles()
    assert source.read_kb(url, as_of=CHANGE) == kb.articles_on(CHANGE, INCIDENTS)

    source.write_days(url, 7, START, START, INCIDENTS, rows_per_day=40)  # again, out of order
    assert source.read_kb(url) == history
    pd.testing.assert_frame_equal(
        source.read_tickets(url, START), generate_tickets(START, 7, INCIDENTS, rows_per_day=40)
    )


def test_kb_versions_land_only_with_their_day(tmp_path):
    url = f"sqlite:///{tmp_path / 'desk.db'}"
    source.write_days(url, 7, START, CHANGE - dt.timedelta(days=1), INCIDENTS, rows_per_day=5)
    assert source.read_kb(url) == kb.base_articles()
    source.write_days(url, 7, CHANGE, CHANGE, INCIDENTS, rows_per_day=5)
    assert [a.version for a in source.read_kb(url) if a.article_id == "KB-001"] == [1, 2]


def test_verdicts_round_trip_per_serving_day(tmp_path):
    url = f"sqlite:///{tmp_path / 'desk.db'}"
    tickets = generate_tickets(START, 7, rows_per_day=30)
    served = tickets[["ticket_id", "created_at"]].assign(
        faithful=True, retrieved_relevant=True, refused=False
    )
    frame = verdicts(7, START, served)
    assert source.write_verdicts(url, START, frame) == len(frame)
    assert source.write_verdicts(url, START, frame) == len(frame)  # replaced, not doubled
    stored = source.read_verdicts(url)
    assert len(stored) == len(frame)
    expected = frame.sort_values(["decided_at", "ticket_id"], ignore_index=True)
    pd.testing.assert_frame_equal(stored.drop(columns="served_on"), expected)
    assert (stored["served_on"] == START.isoformat()).all()
    cutoff = frame["decided_at"].median().to_pydatetime()
    known = source.read_verdicts(url, known_by=cutoff)
    assert len(known) == (frame["decided_at"] <= cutoff).sum()
