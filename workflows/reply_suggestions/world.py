"""The incidents' effect on a served pipeline: what the simulated desk's deployment does on a day.

The data side of the incidents is in :mod:`.simulation` (the knowledge base, the tickets); this
module is the serving side. :func:`serve_day` runs the day's tickets through a
:class:`Deployment` (a pipeline config, the BM25 index it was deployed with, a generator) with
the incidents applied:

* ``kb_article_changed``: nothing to apply here. The source's KB has the article's new version
  (and the questions quote it), but the deployed index was built on ``built_on``, before the
  change, so it still holds the old passage. Replies quote the stale passage faithfully.
* ``provider_update``: the provider ships a new model behind the same name and version, so the
  deployment cannot tell. ``share`` of the replies (a hash of seed and ticket id, so the same
  tickets every time) gain a sentence with a number no passage holds.
* ``ranking_regression``: ``share`` of the rankings (again by ticket id) come from
  :func:`regressed_ranker`, the deployed ranker with its BM25 feature inverted, which demotes
  the best passage but mostly keeps it among the ``context_k`` the prompt gets, so the reply
  still cites it and the agents' verdicts barely move.
* ``prompt_regression_edge``: a refined prompt (:data:`REFINED_PROMPT`'s text, under any
  version) registered as a challenger. Under the deployed prompt the simulated model pads
  :data:`BASE_PADDING_SHARE` of its replies with a general sentence the passages do not hold
  (a language model does that now and then; the validator is there to block it). The refined
  prompt fixes ``common_gain`` of those padded replies on common questions and pads
  ``edge_loss`` of the replies on edge-case questions, whose thin articles it over-answers.

The simulated model is the local :class:`~resources.generators.TemplateGenerator`; the effects
are wrappers that append a sentence to its reply, so a flawed reply differs from the clean one
by exactly that sentence. Every effect is drawn per ticket by :func:`unit_draw`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from checks.stage_metrics import claim_supported, extract_claims
from resources.generators import Generation, Generator, TemplateGenerator
from workflows.reply_suggestions.config import (
    DEFAULT_TEMPLATE,
    PipelineConfig,
    PromptConfig,
    RankerConfig,
)
from workflows.reply_suggestions.pipeline import run_pipeline
from workflows.reply_suggestions.retrieval import Index, build_index
from workflows.reply_suggestions.simulation.incidents import DEFAULT_PARAMS, Incident, active
from workflows.reply_suggestions.simulation.knowledge_base import (
    Article,
    articles_on,
    kb_version,
)
from workflows.reply_suggestions.simulation.tickets import (
    DEFAULT_ROWS_PER_DAY,
    generate_tickets,
)

log = logging.getLogger(__name__)

# Share of replies the simulated model pads with an unsupported sentence under any prompt but
# the refined one (a small, steady hallucination rate the validator blocks).
BASE_PADDING_SHARE = 0.05
REFINED_PROMPT = PromptConfig(
    name="reply_suggestion",
    version="2",
    template=DEFAULT_TEMPLATE.replace(
        "Use only the numbered passages,",
        "Use only the numbered passages, answer every part of the question, reassure the "
        "customer when the passages are brief,",
    ),
)
# Candidates for the padding and for the provider's numbers: the first one no context passage
# supports is used, so an appended sentence is unsupported whatever the passages say.
_PADDING = (
    "Our Platinum Care team will follow up with a personal walkthrough.",
    "This is handled by the Customer Success Desk at no extra cost for all plans.",
)
_PROVIDER_NUMBERS = (37, 41, 43, 47, 53, 59, 61, 67)
_PROVIDER_SENTENCE = "Most customers see this resolved within {n} hours."


@dataclass(frozen=True, eq=False)
class Deployment:
    """What serves: the pipeline config, the index it was deployed with (built from the KB as
    it was on ``built_on``) and the generator."""

    config: PipelineConfig
    index: Index
    generator: Generator
    built_on: dt.date


def kb_frame(articles: Iterable[Article]) -> pd.DataFrame:
    """Articles as the rows :func:`~.retrieval.build_index` takes (with ``valid_from``)."""
    rows = [a.as_row() for a in articles]
    if not rows:
        raise ValueError("no articles")
    frame = pd.DataFrame(rows)
    frame["valid_from"] = pd.to_datetime(frame["valid_from"], utc=True)
    return frame


def deploy(
    config: PipelineConfig | None = None,
    *,
    built_on: dt.date,
    incidents: Iterable[Incident] = (),
    generator: Generator | None = None,
) -> Deployment:
    """A deployment whose index holds the KB as the source had it on ``built_on`` (the
    simulation's KB version is recorded on the index, so the two compare)."""
    config = config or PipelineConfig()
    articles = articles_on(built_on, tuple(incidents))
    index = build_index(kb_frame(articles), config.retriever, kb_version_=kb_version(articles))
    generator = generator or TemplateGenerator(config.generator.name, config.generator.version)
    return Deployment(config=config, index=index, generator=generator, built_on=built_on)


def with_prompt(deployed: Deployment, prompt: PromptConfig) -> Deployment:
    """The same deployment with another prompt (a prompt challenger: nothing else changes)."""
    return replace(deployed, config=replace(deployed.config, prompt=prompt))


def unit_draw(seed: int, ticket_id: str, salt: str) -> float:
    """A uniform in [0, 1) from ``(seed, ticket_id, salt)``: the same ticket gets the same draw
    on every run and in every deployment, so champion and challenger differ only by design."""
    digest = hashlib.blake2b(f"{seed}|{ticket_id}|{salt}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _unsupported(candidates: Iterable[str], passages: list[str]) -> str:
    for sentence in candidates:
        if not all(claim_supported(c, passages) for c in extract_claims(sentence)):
            return sentence
    raise ValueError("every candidate sentence is supported by the passages; add another")


def padding_sentence(passages: list[str]) -> str:
    """A general sentence (a named team, a promise) the passages do not support."""
    return _unsupported(_PADDING, passages)


def provider_sentence(passages: list[str]) -> str:
    """A sentence with a number of hours no passage holds."""
    return _unsupported((_PROVIDER_SENTENCE.format(n=n) for n in _PROVIDER_NUMBERS), passages)


class AddedSentenceGenerator:
    """The inner generator's reply plus one unsupported sentence (cited as ``[1]``, as a model
    inventing a fact still cites). Keeps the inner name and version: the deployment cannot see
    the change. Errors and refusals of the inner generator pass through unchanged."""

    def __init__(self, inner: Generator, kind: str):
        if kind not in ("padding", "provider"):
            raise ValueError(f"unknown added-sentence kind {kind!r}; known: padding, provider")
        self.inner, self.kind = inner, kind
        self.name, self.version = inner.name, inner.version

    def generate(self, prompt: str, passages: list[str]) -> Generation:
        generation = self.inner.generate(prompt, passages)
        if generation.text is None or not extract_claims(generation.text):
            return generation
        make = padding_sentence if self.kind == "padding" else provider_sentence
        text = f"{generation.text} {make(passages)} [1]"
        return replace(generation, text=text)


def regressed_ranker(ranker: RankerConfig) -> RankerConfig:
    """The deployed ranker with its BM25 feature inverted and damped (``-0.2 x`` its weight: a
    sign bug in the feature): among candidates of the right category and title, the weakest
    BM25 match now wins, so the best passage moves down but mostly stays in the context."""
    weights = dict(ranker.weights)
    weights["bm25"] = -0.2 * (weights.get("bm25") or 1.0)
    return replace(ranker, weights=weights)


def _prompt_params(prompt: PromptConfig, incidents: tuple[Incident, ...], day: dt.date) -> dict:
    """The refined prompt's effect sizes: the latest prompt incident of the scenario, else the
    defaults. They belong to the prompt, not the day: a gate replaying the days before the
    incident sees the same prompt behave the same way."""
    # Keyed on the text: the engine registers prompts under its own version numbers, so the
    # refined prompt is the refined prompt whatever version it was given.
    if prompt.template != REFINED_PROMPT.template:
        return {}
    named = [i for i in incidents if i.kind == "prompt_regression_edge"]
    return dict(named[-1].params if named else DEFAULT_PARAMS["prompt_regression_edge"])


def effects(
    tickets: pd.DataFrame,
    seed: int,
    day: dt.date,
    incidents: Iterable[Incident],
    prompt: PromptConfig,
) -> pd.DataFrame:
    """Per ticket (in order): which effects apply. Boolean columns ``padded`` (the model's
    unsupported general sentence), ``provider`` (the provider update's number) and
    ``regressed_ranker``."""
    incidents = tuple(incidents)
    ids = tickets["ticket_id"].astype(str).tolist()
    pad = np.array([unit_draw(seed, t, "padding") for t in ids])
    base = pad < BASE_PADDING_SHARE
    params = _prompt_params(prompt, incidents, day)
    if params:
        edge = tickets["edge_case"].to_numpy(dtype=bool)
        # Fixed: the padded common replies whose second draw falls under common_gain; spoiled:
        # edge replies under edge_loss (a fresh draw, so it is independent of the padding).
        fix = np.array([unit_draw(seed, t, "prompt_fix") for t in ids]) < params["common_gain"]
        spoil = np.array([unit_draw(seed, t, "prompt_spoil") for t in ids]) < params["edge_loss"]
        padded = np.where(edge, base | spoil, base & ~fix)
    else:
        padded = base
    out = pd.DataFrame({"ticket_id": ids, "padded": padded})
    for kind, column in (("provider_update", "provider"), ("ranking_regression", "regressed")):
        share = max((i.params["share"] for i in active(incidents, kind, day)), default=0.0)
        out[column if column != "regressed" else "regressed_ranker"] = [
            unit_draw(seed, t, kind) < share for t in ids
        ]
    return out


def serve_day(
    day: dt.date,
    seed: int,
    incidents: Iterable[Incident],
    deployed: Deployment,
    *,
    rows_per_day: int = DEFAULT_ROWS_PER_DAY,
    tickets: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The pipeline's rows (``pipeline.OUTPUT_COLUMNS``) for the day's tickets, in ticket
    order, with the incidents applied, plus ``context_passages`` (the texts the reply was
    written from), ``source_kb_version`` (the source's KB that day: differs from ``kb_version``
    when the index is stale) and the effect flags of :func:`effects`. ``tickets``: the day's
    tickets when the caller has them (else generated from ``seed``)."""
    incidents = tuple(incidents)
    if tickets is None:
        tickets = generate_tickets(day, seed, incidents, rows_per_day=rows_per_day)
    flags = effects(tickets, seed, day, incidents, deployed.config.prompt)
    config = deployed.config
    regressed = replace(config, ranker=regressed_ranker(config.ranker))
    parts = []
    # One pipeline run per combination of effects (at most eight groups).
    keys = list(zip(flags["padded"], flags["provider"], flags["regressed_ranker"], strict=True))
    for key in sorted(set(keys)):
        padded, provider, ranked_badly = key
        rows = [i for i, k in enumerate(keys) if k == key]
        generator: Generator = deployed.generator
        if padded:
            generator = AddedSentenceGenerator(generator, "padding")
        if provider:
            generator = AddedSentenceGenerator(generator, "provider")
        group = run_pipeline(
            tickets.iloc[rows], deployed.index, regressed if ranked_badly else config, generator
        )
        group.index = rows
        parts.append(group)
    if not parts:
        served = run_pipeline(tickets, deployed.index, config, deployed.generator)
    else:
        served = pd.concat(parts).sort_index()
    served = served.reset_index(drop=True)
    served["context_passages"] = [deployed.index.passages_for(c) for c in served["context_ids"]]
    served["source_kb_version"] = kb_version(articles_on(day, incidents))
    for column in ("padded", "provider", "regressed_ranker"):
        served[column] = flags[column].to_numpy()
    stale = (
        served["kb_version"].iloc[0] != served["source_kb_version"].iloc[0]
        if len(served)
        else False
    )
    log.info(
        "served %s: %d tickets, padded %d, provider %d, regressed ranker %d%s",
        day,
        len(served),
        int(flags["padded"].sum()),
        int(flags["provider"].sum()),
        int(flags["regressed_ranker"].sum()),
        ", index older than the source's KB" if stale else "",
    )
    return served
