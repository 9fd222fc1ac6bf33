"""The reply pipeline end to end: retrieve, rank, generate, validate, one row per ticket.

Per ticket: BM25 retrieves ``top_k`` candidates, the ranker orders them, the best
``context_k`` passages go to the generator with the rendered prompt, and the validator judges
the reply against those same passages (the context the reply was written from). What happens
when there is nothing to judge:

- nothing retrieved (the question shares no term with the KB): the generator is not called,
  the row is a refusal with no reply;
- the generator failed (returned an error or raised): ``reply`` is missing, ``error`` says
  why, other tickets go on;
- the generator declined (an empty text or a refusal phrase, see :func:`is_refusal`): the
  row is a refusal; its text is kept in ``reply``.

In those rows ``passed`` is NA (nothing was validated) and ``served`` is False: only a reply
the validator passed is shown to the agent.
"""

from __future__ import annotations

import logging
import time

import pandas as pd

from checks import text_drift
from resources.generators import Generator
from workflows.reply_suggestions.config import PipelineConfig
from workflows.reply_suggestions.generation import generate_reply
from workflows.reply_suggestions.ranking import rank
from workflows.reply_suggestions.retrieval import Index, retrieve
from workflows.reply_suggestions.validation import validate

log = logging.getLogger(__name__)

TICKET_COLUMNS = ("ticket_id", "question")
# The engine's refusal phrases plus the decline the generators are told to use ("say that you
# could not find the answer": resources.generators' REFUSAL and SYSTEM_MESSAGE).
REFUSAL_PHRASES = text_drift.REFUSAL_PHRASES  # one list: the pipeline's and output drift's
OUTPUT_COLUMNS = (
    "ticket_id",
    "retrieved_ids",
    "retrieved_scores",
    "ranked_ids",
    "context_ids",
    "reply",
    "error",
    "model",
    "refused",
    "passed",
    "reasons",
    "served",
    "retrieve_ms",
    "rank_ms",
    "generate_ms",
    "generator_latency_ms",
    "validate_ms",
    "kb_version",
    "config_hash",
)


def is_refusal(text: str | None) -> bool:
    """``checks.text_drift.is_refusal`` with :data:`REFUSAL_PHRASES`: an empty reply or one
    holding a refusal phrase (the same test the output-drift profile counts refusals by)."""
    return text_drift.is_refusal(text, REFUSAL_PHRASES)


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def check_deployment(index: Index, config: PipelineConfig, generator: Generator) -> None:
    """Refuse to run a configuration with an index or a generator other than the ones it
    names: the config is the deployed model, and a silent mismatch would misreport it."""
    r = config.retriever
    if (index.k1, index.b) != (r.k1, r.b):
        raise ValueError(
            f"index was built with k1={index.k1}, b={index.b} but the config says "
            f"k1={r.k1}, b={r.b}: rebuild the index with the config's retriever settings"
        )
    g = config.generator
    if (generator.name, generator.version) != (g.name, g.version):
        raise ValueError(
            f"generator is {generator.name} v{generator.version} but the config names "
            f"{g.name} v{g.version}"
        )


def run_one(ticket: dict, index: Index, config: PipelineConfig, generator: Generator) -> dict:
    """The pipeline for one ticket (a mapping with at least ``ticket_id`` and ``question``,
    plus what the ranker's weighted features need: ``category``, ``created_at``)."""
    row: dict = {"ticket_id": ticket["ticket_id"]}
    started = time.perf_counter()
    candidates = retrieve(index, str(ticket["question"]), config.retriever.top_k)
    row["retrieve_ms"] = _ms(started)
    row["retrieved_ids"] = [a for a, _ in candidates]
    row["retrieved_scores"] = [s for _, s in candidates]

    started = time.perf_counter()
    ranked = rank(candidates, ticket, index, config.ranker)
    row["rank_ms"] = _ms(started)
    row["ranked_ids"] = ranked
    row["context_ids"] = ranked[: config.ranker.context_k]
    passages = index.passages_for(row["context_ids"])

    row |= {"reply": None, "error": None, "model": None, "passed": pd.NA, "reasons": []}
    row |= {"generate_ms": 0.0, "generator_latency_ms": 0.0, "validate_ms": 0.0}
    if not passages:
        row["refused"] = True
        return row
    started = time.perf_counter()
    generation = generate_reply(generator, config.prompt, str(ticket["question"]), passages)
    row["generate_ms"] = _ms(started)
    row["generator_latency_ms"] = float(generation.latency_ms)
    row["model"] = generation.model
    if generation.error is not None:
        row["error"] = generation.error
        row["refused"] = False
        return row
    row["reply"] = generation.text
    row["refused"] = is_refusal(generation.text)
    if row["refused"]:
        return row
    started = time.perf_counter()
    verdict = validate(generation.text, passages, config.validator)
    row["validate_ms"] = _ms(started)
    row["passed"] = verdict.passed
    row["reasons"] = list(verdict.reasons)
    return row


def run_pipeline(
    tickets: pd.DataFrame, index: Index, config: PipelineConfig, generator: Generator
) -> pd.DataFrame:
    """One row per ticket, in the tickets' order, columns :data:`OUTPUT_COLUMNS` (lists for
    the id/score/reason columns; ``passed`` is a nullable boolean; timings in ms)."""
    missing = [c for c in TICKET_COLUMNS if c not in tickets.columns]
    if missing:
        raise ValueError(f"tickets lack column(s) {missing}; need {list(TICKET_COLUMNS)}")
    check_deployment(index, config, generator)
    config_hash = config.content_hash()
    rows = [run_one(t, index, config, generator) for t in tickets.to_dict(orient="records")]
    out = pd.DataFrame(
        rows, columns=[c for c in OUTPUT_COLUMNS if c not in {"kb_version", "config_hash"}]
    )
    out["passed"] = out["passed"].astype("boolean")
    out["refused"] = out["refused"].astype(bool)
    out["served"] = out["passed"].fillna(False).astype(bool)
    out["kb_version"] = index.kb_version
    out["config_hash"] = config_hash
    failed = int(out["error"].notna().sum())
    log.info(
        "reply pipeline: %d tickets, %d served, %d blocked, %d refused, %d generator errors",
        len(out),
        int(out["served"].sum()),
        int((~out["passed"]).sum()),  # NA (nothing validated) stays out of the sum
        int(out["refused"].sum()),
        failed,
    )
    return out.loc[:, list(OUTPUT_COLUMNS)]
