"""The reply pipeline as the engine's staged-pipeline task calls it
(``assets.pipeline_task.PipelineComponent``).

The configuration is :meth:`PipelineConfig.as_dict` (plain JSON), the context is the knowledge
base as the source holds it on a day (``kb_articles`` rows: every value a string or an int, so
the frame survives Parquet and ``to_dict("records")`` JSON), and a deployment is
``world.Deployment``: the configuration, a BM25 index built on that context, a generator.

Serving reads the source's ``simulated_world`` table (:mod:`.simulation.world_table`): when a
simulation wrote one, the day is served with its incidents applied (``world.serve_day``: they
act outside the deployment, at the provider or in the ranking service); a real source has none,
and the pipeline runs as configured.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import replace

import numpy as np
import pandas as pd

from checks.stage_metrics import task_success as verdict_success
from resources.generators import Generator, OpenAICompatibleGenerator, TemplateGenerator
from workflows.reply_suggestions import evaluation, world
from workflows.reply_suggestions.config import PipelineConfig, PromptConfig
from workflows.reply_suggestions.pipeline import run_pipeline
from workflows.reply_suggestions.retrieval import ARTICLE_COLUMNS, build_index
from workflows.reply_suggestions.simulation import source
from workflows.reply_suggestions.simulation.knowledge_base import Article, kb_version
from workflows.reply_suggestions.simulation.tickets import LANGUAGE_SHARES, TICKET_COLUMNS
from workflows.reply_suggestions.simulation.world_table import read_world
from workflows.reply_suggestions.validation import reply_faithfulness

log = logging.getLogger(__name__)

# The KB columns a context carries: what the index needs, and the facts and keywords that make
# an article version whole (its content hash is the source's KB version).
CONTEXT_COLUMNS = (*ARTICLE_COLUMNS, "valid_from", "facts", "keywords")
END_TO_END = "end_to_end"  # its metric comes from the agents' verdicts, days later
REVIEW_COLUMNS = ("item_id", "question", "output", "context", "faithfulness")


def _config(config: Mapping) -> PipelineConfig:
    return config if isinstance(config, PipelineConfig) else PipelineConfig.from_dict(config)


def _weights(weights: Mapping[str, float]) -> str:
    return ",".join(f"{name}={weight:g}" for name, weight in sorted(weights.items()))


def _articles(context: pd.DataFrame) -> list[Article]:
    missing = [c for c in CONTEXT_COLUMNS if c not in context.columns]
    if missing:
        raise ValueError(f"context lacks column(s) {missing}; need {list(CONTEXT_COLUMNS)}")
    if context.empty:
        raise ValueError("the context holds no knowledge-base article")
    return [Article.from_row(row) for row in context.to_dict(orient="records")]


def make_generator(config: PipelineConfig) -> Generator:
    """The generator the configuration names: ``template`` (local, deterministic) or
    ``openai_compatible`` (from ``AFTERLAUNCH_GENERATOR_URL`` / ``_MODEL`` / ``_API_KEY``,
    whose model must be the version the configuration names)."""
    g = config.generator
    if g.name == "template":
        return TemplateGenerator(g.name, g.version)
    if g.name == OpenAICompatibleGenerator.name:
        generator = OpenAICompatibleGenerator.from_env()
        if generator.version != g.version:
            raise ValueError(
                f"the configuration names {g.name} version {g.version!r} but the environment's "
                f"generator model is {generator.version!r}: deploy a configuration naming it"
            )
        return generator
    raise ValueError(f"unknown generator {g.name!r}; known: template, openai_compatible")


class ReplyComponent:
    """The reply-suggestions workflow's pipeline code, as the engine calls it."""

    prompt_name = "reply_suggestion"
    input_text = "question"
    input_categories = "category"
    output_text = "reply"
    error_column = "error"
    offered_column = "served"

    def __repr__(self) -> str:
        return "ReplyComponent()"

    # --- configuration ------------------------------------------------------------------------

    def launch_config(self) -> dict:
        return PipelineConfig().as_dict()

    def config_hash(self, config: Mapping) -> str:
        return _config(config).content_hash()

    def describe(self, config: Mapping) -> dict[str, str]:
        c = _config(config)
        r, k, p, g, v = c.retriever, c.ranker, c.prompt, c.generator, c.validator
        rules = [f"max {v.max_length} chars", f"{len(v.forbidden_phrases)} forbidden phrases"]
        rules.append("citation required" if v.require_citation else "no citation required")
        rules.append(f"unsupported claims blocked: {','.join(v.claim_kinds) or 'none'}")
        return {
            "retriever": "bm25",
            "retriever.k1": f"{r.k1:g}",
            "retriever.b": f"{r.b:g}",
            "retriever.top_k": str(r.top_k),
            "ranker": k.name,
            "ranker.weights": _weights(dict(k.weights)),
            "ranker.context_k": str(k.context_k),
            "prompt": p.name,
            "prompt.version": p.version,
            "generator": g.name,
            "generator.version": g.version,
            "validator": "; ".join(rules),
        }

    def prompt_template(self, config: Mapping) -> str:
        return _config(config).prompt.template

    def with_prompt(self, config: Mapping, template: str, prompt_version: str) -> dict:
        """The configuration with this prompt text and version (the prompt's name is kept);
        ``ValueError`` from :class:`PromptConfig` when the template cannot serve."""
        c = _config(config)
        prompt = PromptConfig(name=c.prompt.name, version=str(prompt_version), template=template)
        return replace(c, prompt=prompt).as_dict()

    # --- context and deployment -----------------------------------------------------------------

    def context(self, source_url: str, as_of: dt.date) -> pd.DataFrame:
        """The KB as the source holds it at the end of ``as_of``: the newest version of each
        article valid that day, columns :data:`CONTEXT_COLUMNS` (``valid_from`` ISO text,
        ``facts`` and ``keywords`` JSON text)."""
        articles = source.read_kb(source_url, as_of)
        if not articles:
            raise ValueError(f"the source holds no knowledge-base article valid on {as_of}")
        return pd.DataFrame([a.as_row() for a in articles], columns=list(CONTEXT_COLUMNS))

    def deploy(self, config: Mapping, context: pd.DataFrame) -> world.Deployment:
        """The configuration on ``context``: its BM25 index (labelled with the context's KB
        version, as the source's KB of a day is) and its generator. ``built_on`` is the
        newest article version's start."""
        c = _config(config)
        articles = _articles(context)
        frame = world.kb_frame(articles)
        index = build_index(frame, c.retriever, kb_version_=kb_version(articles))
        built_on = max(a.valid_from for a in articles)
        return world.Deployment(
            config=c, index=index, generator=make_generator(c), built_on=built_on
        )

    # --- serving --------------------------------------------------------------------------------

    def serve(
        self, deployed: world.Deployment, rows: pd.DataFrame, day: dt.date, source_url: str
    ) -> pd.DataFrame:
        """One row per ticket of ``rows`` (in order): ``pipeline.OUTPUT_COLUMNS`` plus
        ``context_passages``, ``source_kb_version`` and the simulated effect flags (all False
        for a real source). A generator failure is that row's ``error``; nothing raises."""
        missing = [c for c in TICKET_COLUMNS if c not in rows.columns]
        if missing:
            raise ValueError(f"rows lack column(s) {missing}; need {TICKET_COLUMNS}")
        rows = rows.reset_index(drop=True)
        simulated = read_world(source_url)
        if simulated is not None:
            served = world.serve_day(
                day, simulated.seed, simulated.incidents, deployed, tickets=rows
            )
        else:
            served = run_pipeline(rows, deployed.index, deployed.config, deployed.generator)
            served["context_passages"] = [
                deployed.index.passages_for(list(c)) for c in served["context_ids"]
            ]
            for column in ("padded", "provider", "regressed_ranker"):
                served[column] = False
        # What "now" is: the source's KB that day (a stale index shows as a different version).
        served["source_kb_version"] = kb_version(source.read_kb(source_url, day))
        return served

    # --- judgement ------------------------------------------------------------------------------

    def stage_arrays(
        self, served: pd.DataFrame, rows: pd.DataFrame, context_now: pd.DataFrame
    ) -> dict[str, dict[str, np.ndarray]]:
        arrays = evaluation.stage_metrics(served, rows, context_now)
        return {stage: metrics for stage, metrics in arrays.items() if stage != END_TO_END}

    def task_success(self, served: pd.DataFrame, labels: pd.DataFrame) -> np.ndarray:
        """1.0 for a suggestion sent as is, 0.0 for one edited or discarded, NaN with no
        verdict yet or when the row was not shown."""
        by_id = dict(zip(labels["ticket_id"].astype(str), labels["verdict"], strict=True))
        success = verdict_success([by_id.get(t) for t in served["ticket_id"].astype(str)])
        shown = served[self.offered_column].to_numpy(dtype=bool)
        return np.where(shown, success, np.nan)

    def labels(self, source_url: str, known_by: dt.date) -> pd.DataFrame:
        """The verdicts decided by the end of ``known_by``: ticket_id, verdict, decided_at."""
        end = dt.datetime.combine(known_by, dt.time(23, 59, 59))
        return source.read_verdicts(source_url, known_by=end).loc[
            :, ["ticket_id", "verdict", "decided_at"]
        ]

    def slices(self, rows: pd.DataFrame) -> dict[str, np.ndarray]:
        out = {"edge_case": rows["edge_case"].to_numpy(dtype=bool)}
        language = rows["language"].astype(str).to_numpy()
        for code in LANGUAGE_SHARES:
            out[f"language_{code}"] = language == code
        return out

    def review_items(self, served: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
        """One row per served row, in order: the question, the reply ("" when none), its
        context passages (joined with blank lines) and its faithfulness to them (NaN when no
        reply was produced or it was a refusal)."""
        questions = dict(zip(rows["ticket_id"].astype(str), rows["question"], strict=True))
        items = []
        for row in served.to_dict(orient="records"):
            ticket_id = str(row["ticket_id"])
            if ticket_id not in questions:
                raise ValueError(f"served row for ticket {ticket_id!r} is not among the rows")
            reply = row["reply"] if isinstance(row["reply"], str) else None
            passages = [str(p) for p in row["context_passages"]]
            judged = reply is not None and not bool(row["refused"])
            items.append(
                {
                    "item_id": ticket_id,
                    "question": str(questions[ticket_id]),
                    "output": reply or "",
                    "context": "\n\n".join(passages),
                    "faithfulness": reply_faithfulness(reply, passages) if judged else np.nan,
                }
            )
        return pd.DataFrame(items, columns=list(REVIEW_COLUMNS)).astype({"faithfulness": float})


COMPONENT = ReplyComponent()
