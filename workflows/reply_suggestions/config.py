"""The reply pipeline's configuration: "the deployed model" of this workflow.

A suggestion is produced by four stages (retrieve, rank, generate, validate); what makes one
deployment differ from another is this configuration (retriever settings, ranker weights,
prompt template, generator name and version, validator rules), not trained weights. So the
configuration is what gets registered, compared and rolled back: it is frozen, serialises to
plain JSON (:meth:`PipelineConfig.as_dict` / :meth:`PipelineConfig.from_dict`) and has a
content hash over that JSON (:meth:`PipelineConfig.content_hash`), which changes with any
setting, including one character of the prompt text.
"""

from __future__ import annotations

import hashlib
import json
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# The ranker's feature names (see ranking.py); a weight for any other name is a typo.
RANKER_FEATURES = ("bm25", "title", "category", "freshness")
RANKERS = ("linear",)
# {question} is required; {passages} is allowed but not used by default because generators
# receive the passages separately (resources.generators' convention: the OpenAI-compatible
# one appends them numbered, so a template showing them too would show them twice).
PROMPT_FIELDS = frozenset({"question", "passages"})
REQUIRED_PROMPT_FIELDS = frozenset({"question"})

DEFAULT_TEMPLATE = (
    "Suggest a reply to the customer's support question below for the agent to send. Use only "
    "the numbered passages, cite each fact with its passage number like [1], answer in at most "
    "2 sentences, and say that you could not find the answer when the passages do not hold "
    "it.\n\n"
    "Question: {question}\n"
)


def _fields(template: str) -> set[str]:
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:  # an unmatched brace
        raise ValueError(f"prompt template does not parse: {exc}") from exc
    return {name for _, name, _, _ in parsed if name is not None}


@dataclass(frozen=True)
class RetrieverConfig:
    """BM25 settings (bm25s' Lucene variant): term saturation ``k1``, length normalisation
    ``b``, and how many candidates go on to ranking (``top_k``)."""

    k1: float = 1.5
    b: float = 0.75
    top_k: int = 5

    def __post_init__(self) -> None:
        if self.k1 <= 0:
            raise ValueError(f"retriever k1 must be > 0, got {self.k1}")
        if not 0 <= self.b <= 1:
            raise ValueError(f"retriever b must be in [0, 1], got {self.b}")
        if self.top_k < 1:
            raise ValueError(f"retriever top_k must be >= 1, got {self.top_k}")


@dataclass(frozen=True)
class RankerConfig:
    """A linear second-stage scorer over the retrieved candidates.

    ``weights`` maps a feature of :data:`RANKER_FEATURES` to its weight (missing = 0); it is
    kept as sorted ``(name, weight)`` pairs so the config stays hashable and its JSON stable.
    ``context_k`` is how many top-ranked passages the prompt receives. ``freshness_days`` is
    the age at which an article's freshness feature has halved (``1 / (1 + age / days)``).
    """

    name: str = "linear"
    weights: tuple[tuple[str, float], ...] | Mapping[str, float] = (
        ("bm25", 1.0),
        ("category", 0.3),
        ("title", 0.3),
    )
    context_k: int = 3
    freshness_days: float = 30.0

    def __post_init__(self) -> None:
        if self.name not in RANKERS:
            raise ValueError(f"unknown ranker {self.name!r}; known: {', '.join(RANKERS)}")
        pairs = dict(self.weights.items() if isinstance(self.weights, Mapping) else self.weights)
        unknown = sorted(set(pairs) - set(RANKER_FEATURES))
        if unknown:
            raise ValueError(
                f"unknown ranker feature(s) {unknown}; known: {', '.join(RANKER_FEATURES)}"
            )
        object.__setattr__(self, "weights", tuple(sorted((k, float(v)) for k, v in pairs.items())))
        if self.context_k < 1:
            raise ValueError(f"ranker context_k must be >= 1, got {self.context_k}")
        if self.freshness_days <= 0:
            raise ValueError(f"ranker freshness_days must be > 0, got {self.freshness_days}")

    def weight(self, feature: str) -> float:
        if feature not in RANKER_FEATURES:
            raise KeyError(f"unknown ranker feature {feature!r}")
        return dict(self.weights).get(feature, 0.0)


@dataclass(frozen=True)
class PromptConfig:
    """A prompt template with the placeholder ``{question}`` (required) and optionally
    ``{passages}`` (the numbered passages; literal braces are written ``{{``/``}}``).
    ``name``/``version`` are the prompt registry's coordinates; the text itself is part of the
    hash, so an edited text under an unchanged version is still a different deployment."""

    name: str = "reply_suggestion"
    version: str = "1"
    template: str = DEFAULT_TEMPLATE

    def __post_init__(self) -> None:
        found = _fields(self.template)
        unknown = sorted(found - PROMPT_FIELDS)
        if unknown:
            raise ValueError(
                f"prompt {self.name!r} v{self.version} has unknown placeholder(s) {unknown}; "
                f"allowed: {sorted(PROMPT_FIELDS)}"
            )
        missing = sorted(REQUIRED_PROMPT_FIELDS - found)
        if missing:
            raise ValueError(f"prompt {self.name!r} v{self.version} lacks placeholder(s) {missing}")


@dataclass(frozen=True)
class GeneratorConfig:
    """Which generator the deployment expects (checked against the one it is run with)."""

    name: str = "template"
    version: str = "1"


@dataclass(frozen=True)
class ValidatorRules:
    """What blocks a reply: a forbidden phrase (case-insensitive, whole words), more than
    ``max_length`` characters, no ``[n]`` citation of a given passage (when
    ``require_citation``), or a claim of a kind in ``claim_kinds`` that no passage supports."""

    forbidden_phrases: tuple[str, ...] = (
        "guarantee",
        "legal advice",
        "lifetime refund",
        "always free",
    )
    max_length: int = 1200
    require_citation: bool = True
    claim_kinds: tuple[str, ...] = ("number", "fact", "sentence")

    def __post_init__(self) -> None:
        object.__setattr__(self, "forbidden_phrases", tuple(self.forbidden_phrases))
        object.__setattr__(self, "claim_kinds", tuple(self.claim_kinds))
        if self.max_length < 1:
            raise ValueError(f"validator max_length must be >= 1, got {self.max_length}")
        unknown = sorted(set(self.claim_kinds) - {"number", "fact", "sentence"})
        if unknown:
            raise ValueError(f"unknown claim kind(s) {unknown}; known: number, fact, sentence")
        if any(not p.strip() for p in self.forbidden_phrases):
            raise ValueError("validator forbidden_phrases holds an empty phrase")


@dataclass(frozen=True)
class PipelineConfig:
    retriever: RetrieverConfig = field(default_factory=RetrieverConfig)
    ranker: RankerConfig = field(default_factory=RankerConfig)
    prompt: PromptConfig = field(default_factory=PromptConfig)
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    validator: ValidatorRules = field(default_factory=ValidatorRules)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON types only (lists, not tuples), so ``json.dumps`` and a round trip
        through :meth:`from_dict` are exact."""
        r, k, p, g, v = self.retriever, self.ranker, self.prompt, self.generator, self.validator
        return {
            "retriever": {"k1": r.k1, "b": r.b, "top_k": r.top_k},
            "ranker": {
                "name": k.name,
                "weights": dict(k.weights),
                "context_k": k.context_k,
                "freshness_days": k.freshness_days,
            },
            "prompt": {"name": p.name, "version": p.version, "template": p.template},
            "generator": {"name": g.name, "version": g.version},
            "validator": {
                "forbidden_phrases": list(v.forbidden_phrases),
                "max_length": v.max_length,
                "require_citation": v.require_citation,
                "claim_kinds": list(v.claim_kinds),
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PipelineConfig:
        expected = {"retriever", "ranker", "prompt", "generator", "validator"}
        if set(data) != expected:
            raise ValueError(
                f"pipeline config keys {sorted(data)} differ from the expected {sorted(expected)}"
            )
        v = dict(data["validator"])
        return cls(
            retriever=RetrieverConfig(**data["retriever"]),
            ranker=RankerConfig(**data["ranker"]),
            prompt=PromptConfig(**data["prompt"]),
            generator=GeneratorConfig(**data["generator"]),
            validator=ValidatorRules(
                forbidden_phrases=tuple(v.pop("forbidden_phrases")),
                claim_kinds=tuple(v.pop("claim_kinds")),
                **v,
            ),
        )

    def to_json(self) -> str:
        """Canonical JSON (sorted keys, no whitespace): the text the hash is taken over."""
        return json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"))

    def content_hash(self) -> str:
        """sha256 hex of :meth:`to_json`."""
        return hashlib.sha256(self.to_json().encode("utf-8")).hexdigest()
