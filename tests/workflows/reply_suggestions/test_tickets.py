"""The simulated questions: determinism, known relevant articles, edge cases, changed facts."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pandas as pd
import pytest

from workflows.reply_suggestions.simulation import knowledge_base as kb
from workflows.reply_suggestions.simulation import tickets as t
from workflows.reply_suggestions.simulation.incidents import parse_incidents

DAY = dt.date(2026, 1, 5)


def _tokens(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


def test_same_seed_and_day_give_equal_frames_and_other_seeds_differ():
    a = t.generate_tickets(DAY, seed=7)
    pd.testing.assert_frame_equal(a, t.generate_tickets(DAY, seed=7))
    assert not a["question"].equals(t.generate_tickets(DAY, seed=8)["question"])
    assert list(a.columns) == t.TICKET_COLUMNS
    assert a["created_at"].is_monotonic_increasing
    assert a["created_at"].dt.date.eq(DAY).all()


def test_volume_follows_rows_per_day():
    assert 250 <= len(t.generate_tickets(DAY, 7)) <= 350
    assert 40 <= len(t.generate_tickets(DAY, 7, rows_per_day=60)) <= 80
    assert t.generate_tickets(DAY, 7, rows_per_day=0).empty
    with pytest.raises(ValueError, match="rows_per_day"):
        t.generate_tickets(DAY, 7, rows_per_day=-1)


def test_relevant_articles_share_more_question_tokens_than_the_median_other_article():
    corpus = {a.article_id: _tokens(f"{a.title} {a.body}") for a in kb.base_articles()}
    frame = pd.concat([t.generate_tickets(DAY + dt.timedelta(days=d), 11) for d in range(2)])
    frame = frame.head(500)
    assert len(frame) == 500
    wins = []
    for question, relevant in zip(frame["question"], frame["relevant_articles"], strict=True):
        ids = t.relevant_ids(relevant)
        shared = {a: len(_tokens(question) & words) for a, words in corpus.items()}
        median_other = np.median([n for a, n in shared.items() if a not in ids])
        wins.append(all(shared[a] > median_other for a in ids))
    assert np.mean(wins) >= 0.9


def test_one_to_three_relevant_articles_primary_first_and_edge_cases_about_eight_percent():
    frame = pd.concat([t.generate_tickets(DAY + dt.timedelta(days=d), 3) for d in range(7)])
    counts = frame["relevant_articles"].map(lambda v: len(t.relevant_ids(v)))
    assert counts.between(1, 3).all() and counts.max() >= 2
    primary = frame["relevant_articles"].map(lambda v: t.relevant_ids(v)[0])
    assert (frame["category"] == primary.map(lambda a: kb.SPECS[a].category)).all()
    assert frame["edge_case"].equals(primary.isin(kb.EDGE_ARTICLES))
    assert 0.06 <= frame["edge_case"].mean() <= 0.10
    languages = frame["language"].value_counts(normalize=True)
    assert languages["en"] > 0.8 and languages["de"] > 0.04 and languages["fr"] > 0.02


def test_questions_after_a_change_quote_the_new_facts_and_name():
    change = dt.date(2026, 1, 8)
    incidents = parse_incidents(
        [{"kind": "kb_article_changed", "day": change, "article_id": "KB-001"}]
    )
    new_name = kb.SPECS["KB-001"].new_name

    def about_refunds(day):
        frame = t.generate_tickets(day, 5, incidents, rows_per_day=1500)
        return frame.loc[frame["relevant_articles"].str.startswith("KB-001"), "question"]

    before = " ".join(about_refunds(change - dt.timedelta(days=1)))
    after = " ".join(about_refunds(change))
    assert "refund window is 14 days" in before and new_name not in before
    assert "refund window is 30 days" in after and "refund window is 14 days" not in after
    assert new_name in after
    # a day without the incident is the same world as before it
    pd.testing.assert_frame_equal(
        t.generate_tickets(change - dt.timedelta(days=1), 5, incidents),
        t.generate_tickets(change - dt.timedelta(days=1), 5),
    )
