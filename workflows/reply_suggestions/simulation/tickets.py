"""A day's support questions, each with the knowledge-base articles known to answer it.

A ticket is written about one primary article, drawn with :data:`CATEGORY_WEIGHTS` (articles of
the edge-case slice, :data:`~.knowledge_base.EDGE_ARTICLES`, together get :data:`EDGE_SHARE` of
the tickets), and sometimes also about one or two of its related articles (each a sub-question
of its own, so every listed article is really needed). The question is built from templates: a
greeting, one of the article's phrasings (``asks``), its tags, sometimes the value of one of its
facts as the customer read it, and noise words. Questions are in English, German or French
(:data:`LANGUAGE_SHARES`); German and French ones wrap the article's English terms in their own
frame, as customers quote the product's words.

Questions follow the knowledge base as the source holds it that day: after a
``kb_article_changed`` incident they quote the new facts and the feature's new name.

Pure function of ``(seed, day, incidents, rows_per_day)``: RNG streams come from
``numpy.random.SeedSequence([seed, day.toordinal()])``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import numpy as np
import pandas as pd

from workflows.reply_suggestions.simulation.incidents import Incident
from workflows.reply_suggestions.simulation.knowledge_base import (
    ARTICLE_IDS,
    FACT_LABELS,
    FACT_UNITS,
    SPECS,
    Article,
    articles_on,
)

DEFAULT_ROWS_PER_DAY = 300
TABLE_PREFIX = "reply_tickets_"  # one table per day: reply_tickets_YYYYMMDD
TICKET_COLUMNS: list[str] = [
    "ticket_id",
    "created_at",
    "category",
    "language",
    "question",
    "relevant_articles",
    "edge_case",
]
RELEVANT_SEPARATOR = ","  # relevant_articles is text: "KB-001,KB-005"
LANGUAGE_SHARES: dict[str, float] = {"en": 0.86, "de": 0.09, "fr": 0.05}
EDGE_SHARE = 0.08  # share of tickets about an edge-case article
CATEGORY_WEIGHTS: dict[str, float] = {
    "billing": 1.6,
    "plans": 1.2,
    "account": 1.0,
    "sync": 1.2,
    "security": 0.8,
    "integrations": 0.7,
    "mobile": 0.8,
    "compliance": 0.5,
}
SECOND_ARTICLE_P = 0.25  # a ticket also asks about one related article
THIRD_ARTICLE_P = 0.2  # ... and, given a second, about another one
NEW_NAME_P = 0.7  # after a change, a question uses the feature's new name

HOUR_WEIGHTS = np.array(
    [1.0, 0.8, 0.7, 0.7, 0.8, 1.0, 1.6, 2.4, 3.6, 4.6, 5.0, 5.0]
    + [4.4, 4.8, 5.0, 4.8, 4.3, 3.6, 2.8, 2.3, 2.0, 1.7, 1.4, 1.2]
)
_STREAMS = ("volume", "times", "tickets")

_GREETINGS = {
    "en": ["Hi,", "Hello team,", "Hey there,", "Good morning,", ""],
    "de": ["Hallo,", "Guten Tag,", "Hallo zusammen,"],
    "fr": ["Bonjour,", "Salut,", "Bonjour à tous,"],
}
_FRAMES = {
    "en": ["{ask}?", "Quick question: {ask}?", "Can you help, {ask}?", "Please tell me {ask}."],
    "de": ["Ich habe eine Frage zu {title}: {ask}?", "Können Sie mir helfen? {ask}?"],
    "fr": ["J'ai une question sur {title} : {ask} ?", "Pouvez-vous m'aider ? {ask} ?"],
}
_TAG_FRAMES = {
    "en": ["It is about {a} and {b}.", "Context: {a}, {b}.", "This concerns {a} ({b})."],
    "de": ["Es geht um {a} und {b}.", "Thema: {a}, {b}."],
    "fr": ["Il s'agit de {a} et {b}.", "Sujet : {a}, {b}."],
}
_FACT_FRAMES = {
    "en": "I read the {label} is {value}, is that right?",
    "de": "Ich habe gelesen, {label} ist {value}, stimmt das?",
    "fr": "J'ai lu que {label} est {value}, c'est exact ?",
}
_NEW_NAME_FRAMES = {
    "en": "Your help page now mentions the {name}.",
    "de": "Ihre Hilfeseite nennt jetzt {name}.",
    "fr": "Votre page d'aide parle maintenant de {name}.",
}
_ALSO = {"en": "Also, {ask}?", "de": "Außerdem: {ask}?", "fr": "Et aussi : {ask} ?"}
_NOISE = {
    "en": ["Thanks!", "Urgent please.", "This is blocking our team.", "Sorry if asked before."]
    + ["Regards", "thx", "asap", "Cheers, Sam"],
    "de": ["Danke im Voraus.", "Dringend bitte.", "Viele Grüße", "Danke!"],
    "fr": ["Merci d'avance.", "C'est urgent.", "Cordialement", "Merci !"],
}


def table_name(day: dt.date) -> str:
    """``reply_tickets_YYYYMMDD`` for ``day``."""
    return f"{TABLE_PREFIX}{day:%Y%m%d}"


def relevant_ids(value: str) -> list[str]:
    """The article ids of a ``relevant_articles`` cell (``"KB-001,KB-005"``)."""
    return [a for a in str(value).split(RELEVANT_SEPARATOR) if a]


def article_weights() -> np.ndarray:
    """The probability that a ticket's primary article is each of :data:`ARTICLE_IDS`."""
    edge = np.array([SPECS[a].edge for a in ARTICLE_IDS])
    w = np.array([CATEGORY_WEIGHTS[SPECS[a].category] for a in ARTICLE_IDS], dtype=float)
    p = np.where(edge, w / w[edge].sum() * EDGE_SHARE, w / w[~edge].sum() * (1 - EDGE_SHARE))
    return p / p.sum()


def day_streams(seed: int, day: dt.date) -> dict[str, np.random.SeedSequence]:
    if not isinstance(seed, int | np.integer) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    base = np.random.SeedSequence([int(seed), day.toordinal()])
    return dict(zip(_STREAMS, base.spawn(len(_STREAMS)), strict=True))


def _fact_text(name: str, value: int) -> str:
    unit = FACT_UNITS[name]
    return f"EUR {value}" if unit == "EUR" else f"{value} {unit}"


def _pick(rng: np.random.Generator, options: list[str] | tuple[str, ...]) -> str:
    return options[int(rng.integers(len(options)))]


def write_question(article: Article, language: str, rng: np.random.Generator) -> str:
    """One question about ``article`` (the version the customer reads) in ``language``."""
    spec = SPECS[article.article_id]
    parts = [_pick(rng, _GREETINGS[language])]
    ask = _pick(rng, spec.asks)
    parts.append(_pick(rng, _FRAMES[language]).format(ask=ask, title=article.title))
    if rng.random() < 0.7:
        a, b = rng.choice(len(spec.keywords), size=2, replace=False)
        frame = _pick(rng, _TAG_FRAMES[language])
        parts.append(frame.format(a=spec.keywords[a], b=spec.keywords[b]))
    numeric = [k for k in article.facts if k != "steps"]
    if numeric and rng.random() < 0.35:
        name = _pick(rng, numeric)
        value = _fact_text(name, article.facts[name])
        parts.append(_FACT_FRAMES[language].format(label=FACT_LABELS[name], value=value))
    if article.version > 1 and rng.random() < NEW_NAME_P:
        parts.append(_NEW_NAME_FRAMES[language].format(name=spec.new_name))
    if rng.random() < 0.5:
        parts.append(_pick(rng, _NOISE[language]))
    return " ".join(p for p in parts if p)


def _also(article: Article, language: str, rng: np.random.Generator) -> str:
    spec = SPECS[article.article_id]
    text = _ALSO[language].format(ask=_pick(rng, spec.asks))
    if article.version > 1 and rng.random() < NEW_NAME_P:
        text += f" ({spec.new_name})"
    return text


def generate_tickets(
    day: dt.date,
    seed: int,
    incidents: Iterable[Incident] = (),
    *,
    rows_per_day: int = DEFAULT_ROWS_PER_DAY,
) -> pd.DataFrame:
    """The day's tickets: :data:`TICKET_COLUMNS`, sorted by ``created_at``. Pure, no I/O.

    The number of rows is Poisson with mean ``rows_per_day``. ``relevant_articles`` lists the
    1-3 articles the question needs, primary first; ``edge_case`` is True when the primary
    article is an edge-case article (the Enterprise plan, single sign-on, compliance).
    """
    if isinstance(rows_per_day, bool) or not isinstance(rows_per_day, int) or rows_per_day < 0:
        raise ValueError(f"rows_per_day must be an int >= 0, got {rows_per_day!r}")
    incidents = tuple(incidents)
    for incident in incidents:
        if not isinstance(incident, Incident):
            raise TypeError(f"incidents must be reply-suggestions Incident objects: {incident!r}")
    streams = day_streams(seed, day)
    n = int(np.random.default_rng(streams["volume"]).poisson(rows_per_day))
    times = np.random.default_rng(streams["times"])
    hours = times.choice(24, size=n, p=HOUR_WEIGHTS / HOUR_WEIGHTS.sum())
    seconds = np.sort(hours * 3600 + times.integers(0, 3600, size=n))
    created_at = np.datetime64(day.isoformat(), "s") + seconds.astype("timedelta64[s]")

    kb = {a.article_id: a for a in articles_on(day, incidents)}
    rng = np.random.default_rng(streams["tickets"])
    primary = rng.choice(len(ARTICLE_IDS), size=n, p=article_weights())
    languages = list(LANGUAGE_SHARES)
    language = rng.choice(len(languages), size=n, p=list(LANGUAGE_SHARES.values()))
    rows = []
    for i in range(n):
        main = ARTICLE_IDS[int(primary[i])]
        lang = languages[int(language[i])]
        relevant = [main]
        related = list(SPECS[main].related)
        if related and rng.random() < SECOND_ARTICLE_P:
            rng.shuffle(related)
            take = 2 if len(related) > 1 and rng.random() < THIRD_ARTICLE_P else 1
            relevant += related[:take]
        text = write_question(kb[main], lang, rng)
        for other in relevant[1:]:
            text += " " + _also(kb[other], lang, rng)
        rows.append(
            (
                f"R{day:%Y%m%d}-{i + 1:05d}",
                SPECS[main].category,
                lang,
                text,
                RELEVANT_SEPARATOR.join(relevant),
                SPECS[main].edge,
            )
        )
    columns = list(zip(*rows, strict=True)) if rows else [()] * 6
    ids, categories, langs, questions, relevant_col, edge = columns
    return pd.DataFrame(
        {
            "ticket_id": pd.array(list(ids), dtype="str"),
            "created_at": pd.Series(created_at, dtype="datetime64[ns]"),
            "category": pd.array(list(categories), dtype="str"),
            "language": pd.array(list(langs), dtype="str"),
            "question": pd.array(list(questions), dtype="str"),
            "relevant_articles": pd.array(list(relevant_col), dtype="str"),
            "edge_case": np.array(edge, dtype=bool),
        },
        columns=TICKET_COLUMNS,
    )
