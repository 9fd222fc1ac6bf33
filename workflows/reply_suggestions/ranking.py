"""Stage 2, ranking: a linear second-stage scorer over the retrieved candidates.

Features, each in [0, 1] so the weights compare:

- ``bm25``: the candidate's BM25 score over the best candidate's score for this question;
- ``title``: the share of the title's tokens that occur in the question;
- ``category``: 1 when the article's category is the ticket's category, else 0;
- ``freshness``: ``1 / (1 + age_days / freshness_days)``, the age being the ticket's
  ``created_at`` minus the article version's ``valid_from`` (0 when the article is newer).

The score is the weighted sum (weights from :class:`RankerConfig`; a missing weight is 0);
ties keep the retrieval order. A feature with a non-zero weight whose input is absent (a
ticket without ``category`` or ``created_at``, an index built without ``valid_from``) is an
error, not a silent 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from workflows.reply_suggestions.config import RANKER_FEATURES, RankerConfig
from workflows.reply_suggestions.retrieval import Index, tokenize


def _needed(ticket: Mapping[str, Any], column: str, feature: str) -> Any:
    value = ticket.get(column)
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        raise ValueError(
            f"ranker feature {feature!r} has a non-zero weight but the ticket has no {column!r}"
        )
    return value


def ranking_features(
    candidates: list[tuple[str, float]],
    ticket: Mapping[str, Any],
    index: Index,
    ranker: RankerConfig,
) -> pd.DataFrame:
    """One row per candidate (in retrieval order), one column per feature, indexed by
    article id. Only the features with a non-zero weight are computed (others are 0)."""
    ids = [a for a, _ in candidates]
    feats = pd.DataFrame(0.0, index=pd.Index(ids, name="article_id"), columns=RANKER_FEATURES)
    if not candidates:
        return feats
    pos = [index.position(a) for a in ids]
    if ranker.weight("bm25"):
        top = max(s for _, s in candidates)
        feats["bm25"] = [s / top if top > 0 else 0.0 for _, s in candidates]
    if ranker.weight("title"):
        question = set(tokenize(str(_needed(ticket, "question", "title"))))
        shares = []
        for p in pos:
            title = set(tokenize(index.titles[p]))
            shares.append(len(title & question) / len(title) if title else 0.0)
        feats["title"] = shares
    if ranker.weight("category"):
        category = str(_needed(ticket, "category", "category"))
        feats["category"] = [float(index.categories[p] == category) for p in pos]
    if ranker.weight("freshness"):
        if index.valid_from is None:
            raise ValueError(
                "ranker feature 'freshness' has a non-zero weight but the index was built "
                "from articles without 'valid_from'"
            )
        created = pd.Timestamp(_needed(ticket, "created_at", "freshness"))
        created = created.tz_localize("UTC") if created.tzinfo is None else created
        ages = [max((created - index.valid_from[p]).total_seconds() / 86400.0, 0.0) for p in pos]
        feats["freshness"] = [1.0 / (1.0 + a / ranker.freshness_days) for a in ages]
    return feats


def rank(
    candidates: list[tuple[str, float]],
    ticket: Mapping[str, Any],
    index: Index,
    ranker: RankerConfig,
) -> list[str]:
    """Candidate article ids ordered by the weighted feature sum, best first."""
    feats = ranking_features(candidates, ticket, index, ranker)
    weights = pd.Series({f: ranker.weight(f) for f in RANKER_FEATURES})
    scores = feats.to_numpy() @ weights[list(feats.columns)].to_numpy()
    # Stable sort on the negated score keeps the retrieval order among equal scores.
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    return [feats.index[i] for i in order]
