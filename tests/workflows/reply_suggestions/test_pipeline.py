"""The reply pipeline's four stages on a small hand-made knowledge base."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from checks.stage_metrics import faithfulness
from resources.generators import REFUSAL, Generation, TemplateGenerator
from workflows.reply_suggestions.config import (
    PipelineConfig,
    PromptConfig,
    RankerConfig,
    RetrieverConfig,
    ValidatorRules,
)
from workflows.reply_suggestions.generation import render_prompt
from workflows.reply_suggestions.pipeline import OUTPUT_COLUMNS, is_refusal, run_pipeline
from workflows.reply_suggestions.ranking import rank
from workflows.reply_suggestions.retrieval import build_index, kb_version, retrieve, tokenize
from workflows.reply_suggestions.validation import strip_citations, validate

ARTICLES = [
    (
        "kb-refund",
        "billing",
        "Refund policy",
        "Refunds are paid within 14 days of the request. Annual plans can be refunded in the "
        "first 30 days. Contact billing to start a refund.",
    ),
    (
        "kb-storage",
        "plans",
        "Storage on the Business plan",
        "The Business plan includes 50 GB of storage per workspace. The Starter plan includes "
        "5 GB of storage. Extra storage costs EUR 4 per 10 GB.",
    ),
    (
        "kb-calendar",
        "sync",
        "Calendar sync errors",
        "Calendar sync runs every 15 minutes. Reconnect the calendar in Settings to fix a sync "
        "error. A sync error shows a red banner above the calendar.",
    ),
    (
        "kb-2fa",
        "security",
        "Two-factor authentication",
        "Turn on two-factor authentication in Settings under Security. Recovery codes are "
        "shown once. Admins can require two-factor authentication for every seat.",
    ),
    (
        "kb-seats",
        "account",
        "Adding seats",
        "Owners add seats in Settings under Members. A new seat is billed from the next "
        "invoice. The Starter plan holds up to 3 seats.",
    ),
]


def kb(valid_from: bool = False) -> pd.DataFrame:
    frame = pd.DataFrame(ARTICLES, columns=["article_id", "category", "title", "body"])
    frame.insert(1, "version", 1)
    if valid_from:
        frame["valid_from"] = pd.Timestamp("2026-01-01", tz="UTC")
    return frame


def tickets(*questions: tuple[str, str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ticket_id": [f"t{i}" for i in range(len(questions))],
            "question": [q for q, _ in questions],
            "category": [c for _, c in questions],
            "created_at": pd.Timestamp("2026-03-01", tz="UTC"),
        }
    )


@pytest.fixture(scope="module")
def index():
    return build_index(kb())


# --- retrieval ------------------------------------------------------------------------------


def test_tokenize_drops_stopwords_keeps_digits():
    assert tokenize("Is the refund paid in 7 days?") == ["refund", "paid", "7", "days"]


def test_retrieval_finds_the_article_sharing_the_rare_terms(index):
    found = retrieve(index, "My calendar shows a red banner, what now?", k=3)
    assert found[0][0] == "kb-calendar"
    assert [s for _, s in found] == sorted((s for _, s in found), reverse=True)
    found = retrieve(index, "how do recovery codes work with two-factor", k=3)
    assert found[0][0] == "kb-2fa"


def test_retrieval_returns_nothing_for_a_question_outside_the_kb(index):
    assert retrieve(index, "zebra quantum pizza", k=3) == []
    assert retrieve(index, "the and of", k=3) == []  # stop words only


def test_index_records_the_kb_version_it_was_built_from(index):
    assert index.kb_version == kb_version(kb())
    assert kb_version(kb().iloc[::-1]) == index.kb_version  # row order does not matter
    changed = kb()
    changed.loc[0, "body"] = changed.loc[0, "body"].replace("14 days", "30 days")
    assert build_index(changed).kb_version != index.kb_version
    assert build_index(kb(), kb_version_="source-v7").kb_version == "source-v7"


def test_index_refuses_two_versions_of_one_article():
    both = pd.concat([kb(), kb().iloc[[0]].assign(version=2)], ignore_index=True)
    with pytest.raises(ValueError, match="kb-refund"):
        build_index(both)


# --- ranking --------------------------------------------------------------------------------

QUESTION = "When are refunds paid for my plan?"  # kb-refund first by BM25, kb-storage next


def test_ranking_reorders_by_category_when_the_weights_say_so(index):
    ticket = {"question": QUESTION, "category": "plans"}
    candidates = retrieve(index, QUESTION, k=3)
    assert [a for a, _ in candidates][:2] == ["kb-refund", "kb-storage"]
    bm25_only = RankerConfig(weights={"bm25": 1.0})
    by_category = RankerConfig(weights={"bm25": 1.0, "category": 2.0})
    assert rank(candidates, ticket, index, bm25_only)[0] == "kb-refund"
    assert rank(candidates, ticket, index, by_category)[0] == "kb-storage"
    assert sorted(rank(candidates, ticket, index, by_category)) == sorted(a for a, _ in candidates)


def test_ranking_freshness_needs_valid_from_and_prefers_the_newer_article():
    ticket = {"question": QUESTION, "category": "billing", "created_at": "2026-03-01"}
    fresh = RankerConfig(weights={"freshness": 1.0})
    candidates = retrieve(build_index(kb()), QUESTION, k=3)
    with pytest.raises(ValueError, match="valid_from"):
        rank(candidates, ticket, build_index(kb()), fresh)
    articles = kb(valid_from=True)
    articles.loc[articles["article_id"] == "kb-storage", "valid_from"] = pd.Timestamp(
        "2026-02-28", tz="UTC"
    )
    assert rank(candidates, ticket, build_index(articles), fresh)[0] == "kb-storage"


def test_ranking_feature_without_its_ticket_column_is_an_error(index):
    candidates = retrieve(index, QUESTION, k=3)
    with pytest.raises(ValueError, match="category"):
        rank(candidates, {"question": QUESTION}, index, RankerConfig(weights={"category": 1}))


# --- generation -----------------------------------------------------------------------------


def test_template_generator_reply_is_built_only_from_passages(index):
    config = PipelineConfig()
    out = run_pipeline(
        tickets(
            ("How long until refunds are paid?", "billing"),
            ("How much storage does the Business plan include?", "plans"),
            ("Calendar sync error banner", "sync"),
        ),
        index,
        config,
        TemplateGenerator(),
    )
    assert out["error"].isna().all() and not out["refused"].any()
    for row in out.itertuples():
        passages = index.passages_for(row.context_ids)
        assert faithfulness(strip_citations(row.reply), passages) == 1.0
        assert row.passed and row.served
    assert "14 days" in out.loc[0, "reply"] and "50 GB" in out.loc[1, "reply"]


def test_prompt_renders_question_on_one_line_and_numbers_passages():
    prompt = PromptConfig(template="Question: {question}\nContext:\n{passages}")
    text = render_prompt(prompt, "Refund\n  please?", ["first", "second"])
    assert text == "Question: Refund please?\nContext:\n[1] first\n[2] second"


def test_prompt_template_placeholders_are_checked():
    with pytest.raises(ValueError, match="unknown placeholder"):
        PromptConfig(template="Question: {question} {customer}")
    with pytest.raises(ValueError, match="lacks placeholder"):
        PromptConfig(template="Answer the customer.")


# --- validation -----------------------------------------------------------------------------

REFUND = [ARTICLES[0][3]]  # the refund article's passage (its body)
RULES = ValidatorRules()


def test_validation_blocks_a_number_no_passage_holds_and_passes_a_supported_one():
    good = validate("Refunds are paid within 14 days of the request. [1]", REFUND, RULES)
    assert good.passed and good.reasons == ()
    bad = validate("Refunds are paid within 21 days of the request. [1]", REFUND, RULES)
    assert not bad.passed
    assert any("unsupported number claim" in r and "21" in r for r in bad.reasons)


def test_validation_rules_forbidden_phrase_length_and_citation():
    reply = "Refunds are paid within 14 days of the request. We Guarantee it. [1]"
    assert "forbidden phrase: 'guarantee'" in validate(reply, REFUND, RULES).reasons
    no_cite = validate("Refunds are paid within 14 days of the request.", REFUND, RULES)
    assert no_cite.reasons == ("no citation of a passage",)
    wrong_cite = validate("Refunds are paid within 14 days of the request. [3]", REFUND, RULES)
    assert wrong_cite.reasons == ("cites passage(s) [3] but 1 were given",)
    short = ValidatorRules(max_length=20)
    assert (
        validate("Refunds are paid within 14 days. [1]", REFUND, short)
        .reasons[0]
        .startswith("too long: 36 characters")
    )
    relaxed = ValidatorRules(require_citation=False, forbidden_phrases=())
    assert validate("Refunds are paid within 14 days of the request.", REFUND, relaxed).passed


def test_refusal_detection():
    assert is_refusal(None) and is_refusal("  ")
    assert is_refusal("I could not find the answer to this in the knowledge base.")
    assert is_refusal("Sorry, I cannot answer that.")
    assert not is_refusal("Refunds are paid within 14 days of the request. [1]")


# --- the pipeline ---------------------------------------------------------------------------


class FlakyGenerator:
    """The template generator, except for questions naming 'crash' (it raises) or 'outage'
    (it returns an error)."""

    name, version = "template", "1"

    def __init__(self):
        self.inner = TemplateGenerator()

    def generate(self, prompt: str, passages: list[str]) -> Generation:
        if "crash" in prompt:
            raise ConnectionError("provider reset the connection")
        if "outage" in prompt:
            return Generation(text=None, error="HTTP 503 from provider", model="x", latency_ms=1)
        return self.inner.generate(prompt, passages)


class NumberAddingGenerator(TemplateGenerator):
    """A provider-side update: the reply gains a number no passage holds."""

    def generate(self, prompt: str, passages: list[str]) -> Generation:
        g = super().generate(prompt, passages)
        return Generation(g.text + " Most customers wait 3 weeks.", None, g.model, g.latency_ms)


def test_generator_failure_is_recorded_per_row_and_other_rows_proceed(index):
    out = run_pipeline(
        tickets(
            ("refund crash: when are refunds paid", "billing"),
            ("How long until refunds are paid?", "billing"),
            ("storage outage on the Business plan", "plans"),
        ),
        index,
        PipelineConfig(),
        FlakyGenerator(),
    )
    assert list(out.columns) == list(OUTPUT_COLUMNS)
    assert pd.isna(out.loc[0, "reply"]) and "ConnectionError" in out.loc[0, "error"]
    assert pd.isna(out.loc[2, "reply"]) and out.loc[2, "error"] == "HTTP 503 from provider"
    assert pd.isna(out.loc[1, "error"]) and "14 days" in out.loc[1, "reply"]
    assert out["served"].tolist() == [False, True, False]
    assert out["passed"].isna().tolist() == [True, False, True]
    assert not out["refused"].any()


def test_pipeline_blocks_replies_with_unsupported_numbers(index):
    out = run_pipeline(
        tickets(("How long until refunds are paid?", "billing")),
        index,
        PipelineConfig(),
        NumberAddingGenerator(),
    )
    assert not out.loc[0, "passed"] and not out.loc[0, "served"]
    assert any("'3 weeks'" in r for r in out.loc[0, "reasons"])


def test_pipeline_row_columns_refusal_and_lineage(index):
    config = PipelineConfig(retriever=RetrieverConfig(top_k=3), ranker=RankerConfig(context_k=2))
    out = run_pipeline(
        tickets(("zebra quantum pizza", "billing"), ("refund storage plan seats", "plans")),
        index,
        config,
        TemplateGenerator(),
    )
    assert out.loc[0, "refused"] and out.loc[0, "retrieved_ids"] == []
    assert pd.isna(out.loc[0, "reply"]) and pd.isna(out.loc[0, "passed"])
    assert len(out.loc[1, "retrieved_ids"]) == 3 and len(out.loc[1, "context_ids"]) == 2
    assert set(out.loc[1, "ranked_ids"]) == set(out.loc[1, "retrieved_ids"])
    assert out.loc[1, "context_ids"] == out.loc[1, "ranked_ids"][:2]
    assert (out["kb_version"] == index.kb_version).all()
    assert (out["config_hash"] == config.content_hash()).all()
    assert (out[["retrieve_ms", "rank_ms", "generate_ms", "validate_ms"]] >= 0).all().all()


class DecliningGenerator(TemplateGenerator):
    def generate(self, prompt: str, passages: list[str]) -> Generation:
        return Generation(text=REFUSAL, error=None, model="template:1", latency_ms=0.1)


def test_a_declined_reply_is_a_refusal_kept_but_neither_validated_nor_served(index):
    out = run_pipeline(
        tickets(("How long until refunds are paid?", "billing")),
        index,
        PipelineConfig(),
        DecliningGenerator(),
    )
    assert out.loc[0, "refused"] and out.loc[0, "reply"] == REFUSAL
    assert pd.isna(out.loc[0, "passed"]) and not out.loc[0, "served"]
    assert out.loc[0, "reasons"] == []


def test_pipeline_refuses_a_mismatched_deployment(index):
    one = tickets(("refund", "billing"))
    with pytest.raises(ValueError, match="generator is template v2"):
        run_pipeline(one, index, PipelineConfig(), TemplateGenerator(version="2"))
    with pytest.raises(ValueError, match="rebuild the index"):
        run_pipeline(one, index, PipelineConfig(RetrieverConfig(k1=0.9)), TemplateGenerator())
    with pytest.raises(ValueError, match="question"):
        run_pipeline(one.drop(columns="question"), index, PipelineConfig(), TemplateGenerator())


# --- config ---------------------------------------------------------------------------------


def test_config_is_json_round_trips_and_its_hash_follows_the_prompt_text():
    config = PipelineConfig()
    assert PipelineConfig.from_dict(json.loads(json.dumps(config.as_dict()))) == config
    edited = PipelineConfig(prompt=PromptConfig(template=config.prompt.template + " Be brief."))
    assert edited.prompt.version == config.prompt.version
    assert edited.content_hash() != config.content_hash()
    assert PipelineConfig().content_hash() == config.content_hash()
    reweighted = PipelineConfig(ranker=RankerConfig(weights={"bm25": 1.0}))
    assert reweighted.content_hash() != config.content_hash()


def test_config_rejects_unknown_settings():
    with pytest.raises(ValueError, match="popularity"):
        RankerConfig(weights={"popularity": 1.0})
    with pytest.raises(ValueError, match="top_k"):
        RetrieverConfig(top_k=0)
    with pytest.raises(ValueError, match="claim kind"):
        ValidatorRules(claim_kinds=("opinion",))


def test_template_generator_is_deterministic(index):
    one = tickets(("How much storage does the Business plan include?", "plans"))
    first = run_pipeline(one, index, PipelineConfig(), TemplateGenerator())
    second = run_pipeline(one, index, PipelineConfig(), TemplateGenerator())
    assert first.loc[0, "reply"] == second.loc[0, "reply"]
