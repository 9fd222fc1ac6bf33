"""Stage 1, retrieval: a BM25 index over the knowledge base's articles (title + body).

What is indexed is each article's title and body (:func:`indexed_text`); what the later
stages see of an article, its *passage*, is the body alone: the generator writes from it and
the validator checks the reply against it (a title is a heading, not a sentence to quote).

BM25 is bm25s' (Lucene variant, numpy backend). Tokens come from :func:`tokenize`, a regex
tokenizer of our own (lower-cased runs of letters/digits, English stop words dropped, no
stemming), so nothing is downloaded and a question in German or French is tokenised the same
way. The index remembers the knowledge-base version it was built from
(:func:`kb_version`), so a KB that changed upstream while the index was not rebuilt can be
seen by comparing the two.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass, field

import bm25s
import numpy as np
import pandas as pd
from bm25s.stopwords import STOPWORDS_EN

from workflows.reply_suggestions.config import RetrieverConfig

log = logging.getLogger(__name__)

ARTICLE_COLUMNS = ("article_id", "version", "title", "category", "body")
_TOKEN = re.compile(r"\w+", re.UNICODE)
_STOPWORDS = frozenset(STOPWORDS_EN)


def tokenize(text: str) -> list[str]:
    """Lower-cased ``\\w+`` runs; stop words and one-letter tokens dropped, digits kept (a
    "7" in "7 days" is a fact worth matching)."""
    return [
        t
        for t in _TOKEN.findall(text.lower())
        if t not in _STOPWORDS and (len(t) > 1 or t.isdigit())
    ]


def indexed_text(title: str, body: str) -> str:
    """The text BM25 scores: the title, then the body."""
    return f"{title}. {body}"


def kb_version(articles: pd.DataFrame) -> str:
    """sha256 hex over the indexed fields of every article, in article-id order (row order and
    extra columns do not matter)."""
    rows = (
        articles.loc[:, list(ARTICLE_COLUMNS)]
        .sort_values("article_id", kind="stable")
        .astype({"version": int})
        .to_dict(orient="records")
    )
    text = json.dumps(rows, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, eq=False)
class Index:
    """A built BM25 index and what ranking needs about each article.

    ``passages`` are the articles' bodies (see the module docstring); ``valid_from`` (when
    the articles had that column; else None) is each article version's start, used by the
    ranker's freshness feature."""

    kb_version: str
    k1: float
    b: float
    article_ids: tuple[str, ...]
    passages: tuple[str, ...]
    titles: tuple[str, ...]
    categories: tuple[str, ...]
    versions: tuple[int, ...]
    valid_from: tuple[pd.Timestamp, ...] | None
    model: bm25s.BM25
    positions: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "positions", {a: i for i, a in enumerate(self.article_ids)})

    def position(self, article_id: str) -> int:
        try:
            return self.positions[article_id]
        except KeyError:
            raise KeyError(f"article {article_id!r} is not in the index") from None

    def passages_for(self, article_ids: list[str]) -> list[str]:
        return [self.passages[self.position(a)] for a in article_ids]


def build_index(
    articles: pd.DataFrame,
    retriever: RetrieverConfig | None = None,
    kb_version_: str | None = None,
) -> Index:
    """Index one version per article (columns :data:`ARTICLE_COLUMNS`, optional
    ``valid_from``). A frame holding several versions of an article is refused: pick the KB
    as of a day first. ``kb_version_`` is the source's own version of this KB when it has one
    (recorded as given); else :func:`kb_version` of the indexed fields is."""
    retriever = retriever or RetrieverConfig()
    missing = [c for c in ARTICLE_COLUMNS if c not in articles.columns]
    if missing:
        raise ValueError(f"articles lack column(s) {missing}; need {list(ARTICLE_COLUMNS)}")
    if articles.empty:
        raise ValueError("cannot build an index over no articles")
    dup = articles["article_id"][articles["article_id"].duplicated()].unique().tolist()
    if dup:
        raise ValueError(f"articles hold several rows for {dup[:5]}: pass one version per article")
    frame = articles.sort_values("article_id", kind="stable").reset_index(drop=True)
    texts = [indexed_text(t, b) for t, b in zip(frame["title"], frame["body"], strict=True)]
    tokens = [tokenize(text) for text in texts]
    empty = [a for a, t in zip(frame["article_id"], tokens, strict=True) if not t]
    if empty:
        raise ValueError(f"article(s) {empty[:5]} have no indexable token")
    model = bm25s.BM25(k1=retriever.k1, b=retriever.b, method="lucene")
    model.index(tokens, show_progress=False)
    valid_from = None
    if "valid_from" in frame.columns:
        stamps = pd.to_datetime(frame["valid_from"], utc=True)
        if stamps.isna().any():
            raise ValueError("articles' valid_from has missing values")
        valid_from = tuple(stamps)
    index = Index(
        kb_version=kb_version_ if kb_version_ is not None else kb_version(frame),
        k1=retriever.k1,
        b=retriever.b,
        article_ids=tuple(str(a) for a in frame["article_id"]),
        passages=tuple(str(b) for b in frame["body"]),
        titles=tuple(str(t) for t in frame["title"]),
        categories=tuple(str(c) for c in frame["category"]),
        versions=tuple(int(v) for v in frame["version"]),
        valid_from=valid_from,
        model=model,
    )
    log.info("built BM25 index over %d articles (kb %s)", len(frame), index.kb_version[:12])
    return index


def retrieve(index: Index, question: str, k: int) -> list[tuple[str, float]]:
    """The ``k`` best articles by BM25 score, best first (ties by article id). Articles that
    share no term with the question (score 0) are never returned, so a question about
    nothing in the KB retrieves nothing. Repeated question terms count once."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    terms = list(dict.fromkeys(tokenize(question)))
    if not terms:
        return []
    scores = np.asarray(index.model.get_scores(terms), dtype=float)
    # lexsort: last key is primary -> score descending, then position (= article id order).
    order = np.lexsort((np.arange(len(scores)), -scores))
    return [(index.article_ids[i], float(scores[i])) for i in order[:k] if scores[i] > 0]
