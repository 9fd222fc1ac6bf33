"""The simulated knowledge base: facts stated in the bodies, upstream changes, the content hash."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from workflows.reply_suggestions.simulation import knowledge_base as kb
from workflows.reply_suggestions.simulation.incidents import Incident, parse_incidents

DAY = dt.date(2026, 2, 10)


def _fact_text(name: str, value: int) -> str:
    unit = kb.FACT_UNITS[name]
    return f"EUR {value}" if unit == "EUR" else f"{value} {unit}"


def _filled(facts: dict) -> dict:
    return {k: kb.render_steps(v) if k == "steps" else v for k, v in facts.items()}


def test_about_forty_articles_with_bodies_of_four_to_eight_sentences():
    articles = kb.base_articles()
    assert len(articles) == 40
    assert len({a.article_id for a in articles}) == 40
    assert {"billing", "account", "sync", "plans", "security"} <= set(kb.CATEGORIES)
    for a in articles:
        sentences = kb.SPECS[a.article_id].sentences
        assert 4 <= len(sentences) <= 8, a.article_id
        assert a.body == " ".join(s.format(**_filled(a.facts)) for s in sentences)


def test_every_fact_is_stated_in_its_body_in_every_version():
    every_article_changed = parse_incidents(
        [{"kind": "kb_article_changed", "day": DAY, "article_id": a} for a in kb.ARTICLE_IDS]
    )
    for a in kb.kb_history(every_article_changed):
        for name, value in a.facts.items():
            if name == "steps":
                assert kb.render_steps(value) in a.body
            else:
                assert _fact_text(name, value) in a.body, (a.article_id, name)


def test_a_changed_article_has_a_new_version_new_facts_and_new_wording_from_its_day():
    incidents = parse_incidents(
        [{"kind": "kb_article_changed", "day": DAY, "article_id": "KB-001"}]
    )
    before = kb.articles_on(DAY - dt.timedelta(days=1), incidents)[0]
    after = kb.articles_on(DAY, incidents)[0]
    assert (before.version, after.version) == (1, 2)
    assert after.valid_from == DAY
    assert before.facts["refund_window_days"] == 14
    assert after.facts["refund_window_days"] == 30
    assert "30 days" in after.body and "14 days" not in after.body
    assert kb.ADDED_STEP in after.body
    assert kb.SPECS["KB-001"].new_name in after.body
    assert "no later than" in after.body and "no later than" not in before.body  # new wording
    # every other article is unchanged
    others = kb.articles_on(DAY, incidents)[1:]
    assert others == kb.base_articles()[1:]
    assert [a.article_id for a in kb.changed_articles(DAY, incidents)] == ["KB-001"]
    assert kb.changed_articles(DAY - dt.timedelta(days=1), incidents) == []


def test_history_holds_every_version_and_a_second_change_moves_on_again():
    incidents = parse_incidents(
        [
            {"kind": "kb_article_changed", "day": DAY, "article_id": "KB-007"},
            {
                "kind": "kb_article_changed",
                "day": DAY + dt.timedelta(days=5),
                "article_id": "KB-007",
            },
        ]
    )
    history = [a for a in kb.kb_history(incidents) if a.article_id == "KB-007"]
    assert [a.version for a in history] == [1, 2, 3]
    assert [a.facts["price_eur"] for a in history] == [9, 20, 40]
    assert len(kb.kb_history(incidents, until=DAY)) == 41


def test_kb_version_is_a_content_hash():
    articles = kb.base_articles()
    assert kb.kb_version(articles) == kb.kb_version(list(reversed(articles)))
    changed = kb.articles_on(DAY, [Incident("kb_article_changed", DAY, {"article_id": "KB-010"})])
    assert kb.kb_version(changed) != kb.kb_version(articles)
    assert re.fullmatch(r"[0-9a-f]{16}", kb.kb_version(articles))


def test_next_value_always_changes_the_number():
    for value in (1, 2, 14, 30, 365, 5000, 10**6):
        assert kb.next_value(value) >= 2 * value


def test_article_row_round_trip():
    a = kb.base_articles()[0]
    assert kb.Article.from_row(a.as_row()) == a


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"kind": "kb_article_changed", "day": DAY, "article_id": "KB-999"}, "KB-999"),
        ({"kind": "kb_article_changed", "day": DAY, "article": "KB-001"}, "'article'"),
        ({"kind": "provider_update", "day": DAY, "share": 1.5}, "share"),
        ({"kind": "ranking_regression", "day": DAY, "days": 0}, "days"),
        ({"kind": "prompt_regression_edge", "day": DAY, "edge_loss": "a lot"}, "edge_loss"),
        ({"kind": "index_outage", "day": DAY}, "index_outage"),
        ({"kind": "provider_update", "day": "someday"}, "someday"),
    ],
)
def test_parse_incidents_names_the_bad_part(entry, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_incidents([entry])


def test_parse_incidents_fills_defaults_and_windows():
    provider, prompt = parse_incidents(
        [
            {"kind": "provider_update", "day": "2026-02-20", "params": {"share": 0.2, "days": 3}},
            {"kind": "prompt_regression_edge", "day": "2026-02-25"},
        ]
    )
    assert provider.params == {"share": 0.2, "days": 3}
    assert provider.active_on(dt.date(2026, 2, 22)) and not provider.active_on(dt.date(2026, 2, 23))
    assert prompt.params == {"common_gain": 0.1, "edge_loss": 0.5}
    assert prompt.active_on(dt.date(2027, 1, 1))  # no `days`: for good
