"""One metric per stage of a retrieve-rank-generate-validate pipeline, one value per example.

Every function returns a float array with one value per example so the values can be
bootstrapped and gated like any per-example task success. NaN means "not judged" for that
example (there was nothing to measure) and must be left out of means (``np.nanmean``), never
counted as 0 or 1.

Retrieval and ranking
---------------------
``precision_at_k``: distinct relevant items among the top ``k`` divided by ``k`` (a retriever
returning fewer than ``k`` items is charged for the empty slots). ``recall_at_k``: distinct
relevant items among the top ``k`` divided by the number of relevant items. ``ndcg_at_k``:
scikit-learn's ``ndcg_score`` on one example at a time (linear gain, log2 discount).

How a ranked list becomes ``ndcg_score``'s arrays: the items, in ranked order, get the scores
``n, n-1, ..., 1`` (distinct, so no ties) and their gains as ``y_true`` (1 for a relevant item
of a set, the given grade for a graded dict, 0 otherwise). Relevant items the list does not
hold at all are appended with gain and a score below every ranked item, after zero-gain filler
items that push them past position ``k``: they never earn gain, but they count in the ideal
DCG, so missing a relevant item lowers NDCG. A repeated item counts once, at its first rank;
its later copies occupy their slots with gain 0.

An example whose relevant set is empty (or whose grades are all 0) has nothing to find: all
three metrics are NaN for it. Scoring it 0 would blame retrieval for a question the knowledge
base cannot answer; scoring it 1 would reward any list.

How claims are found (``extract_claims``)
-----------------------------------------
Deterministic and regex-based. Citation markers (``[1]``, ``[1, 3]``) are references to
passages, not claims, and are removed first. The text is cut into sentences at ``.``, ``!``
or ``?`` followed by whitespace, and at line breaks. Words are compared lowercase with a
crude plural fold (a trailing ``s`` dropped from words longer than three letters, not from
``ss``), applied to both the reply and the passages.

- ``number``: every number (``14``, ``29.99``, ``1,000``; the number words one..twelve when
  followed by a content word, so "three steps" is 3 steps) with its unit or context word: a
  currency before it (``EUR 29``, ``€29``: unit ``eur``), ``%`` or "percent" after it, else the
  content word right after it (``14 days``, ``14-day``, ``50 GB``, ``3 steps``), else the
  content word right before it (``Step 3``), else no unit. ``value`` = (number, unit).
- ``fact``: named facts, runs of capitalised words (``Business Plus``, ``Settings``, ``SSO``)
  with stopwords and salutations ("Hi", "Dear") trimmed from their ends. A single capitalised
  word that starts its sentence is ordinary capitalisation and skipped unless it is all
  capitals (``SSO``); a number's unit (``EUR 29``, ``50 GB``) belongs to its number claim, not
  to a fact. ``value`` = the lowercase phrase. People's names count as facts.
- ``sentence``: every sentence with at least ``MIN_SENTENCE_WORDS`` distinct content words
  (shorter ones such as "Thanks for writing." are pleasantries, not claims; salutations are
  not content words). ``value`` = its content words (numbers excluded: they are judged by
  their own number claims).

A claim repeated in the same reply counts once.

When a claim is supported (``claim_supported``)
-----------------------------------------------
- number: some passage sentence holds the same number (equal value) with the unit word within
  ``NEAR_TOKENS`` tokens of it, either side ("refunds within 14 days" supports "14-day refund").
  A claim without a unit needs the number only.
- fact: some passage holds the phrase as consecutive words.
- sentence: at least ``SENTENCE_SUPPORT`` (80%) of its content words occur in ONE passage;
  words scattered over several passages do not support a sentence.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from sklearn.metrics import ndcg_score

from checks.metrics import STOPWORDS

NEAR_TOKENS = 3  # a unit word this many tokens from the number, either side, is "nearby"
SENTENCE_SUPPORT = 0.8  # share of a sentence's content words one passage must hold
MIN_SENTENCE_WORDS = 3  # fewer distinct content words: a pleasantry, not a claim

CLAIM_KINDS = ("number", "fact", "sentence")
# Salutations are no content words: "Hi Anna, thanks." names Anna and claims nothing else.
_SALUTATIONS = frozenset({"hi", "hello", "dear", "hey", "thank", "thanks", "regard", "regards"})

# --- retrieval and ranking -------------------------------------------------------------------


def _check_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k <= 0:
        raise ValueError(f"k must be a positive integer, got {k!r}")


def _check_lengths(lists: Sequence, relevant: Sequence, names: str) -> None:
    if len(lists) != len(relevant):
        raise ValueError(f"{names} differ in length: {len(lists)} vs {len(relevant)}")


def _gains(relevant: Iterable | Mapping) -> dict[Any, float]:
    """Item -> gain: 1.0 for each member of a set, the grade for a graded mapping."""
    if isinstance(relevant, Mapping):
        gains = {item: float(g) for item, g in relevant.items()}
        bad = {item: g for item, g in gains.items() if not g >= 0}  # also catches NaN
        if bad:
            raise ValueError(f"relevance grades must be non-negative numbers, got {bad}")
        return {item: g for item, g in gains.items() if g > 0}
    if isinstance(relevant, str):
        raise TypeError(f"relevant items must be a set or a mapping, not the string {relevant!r}")
    return dict.fromkeys(relevant, 1.0)


def _hits(ranked: Sequence, relevant: set, k: int) -> int:
    return len(set(list(ranked)[:k]) & relevant)


def precision_at_k(retrieved: list[list], relevant: list[set], k: int) -> np.ndarray:
    """Per example: distinct relevant items in the top ``k`` / ``k``; NaN with nothing relevant."""
    _check_k(k)
    _check_lengths(retrieved, relevant, "retrieved and relevant")
    out = np.full(len(retrieved), np.nan)
    for i, (items, rel) in enumerate(zip(retrieved, relevant, strict=True)):
        wanted = set(_gains(rel))
        if wanted:
            out[i] = _hits(items, wanted, k) / k
    return out


def recall_at_k(retrieved: list[list], relevant: list[set], k: int) -> np.ndarray:
    """Per example: distinct relevant items in the top ``k`` / relevant items; NaN with none."""
    _check_k(k)
    _check_lengths(retrieved, relevant, "retrieved and relevant")
    out = np.full(len(retrieved), np.nan)
    for i, (items, rel) in enumerate(zip(retrieved, relevant, strict=True)):
        wanted = set(_gains(rel))
        if wanted:
            out[i] = _hits(items, wanted, k) / len(wanted)
    return out


def ranking_arrays(ranked: Sequence, relevant: Iterable | Mapping, k: int):
    """``(y_true, y_score)`` rows for ``ndcg_score`` of one ranked list (see the module doc)."""
    gains = _gains(relevant)
    seen: set = set()
    y_true: list[float] = []
    for item in ranked:
        y_true.append(0.0 if item in seen else gains.get(item, 0.0))
        seen.add(item)
    missing = [g for item, g in gains.items() if item not in seen]
    fillers = max(k - len(y_true), 0) if missing else 0
    y_true += [0.0] * fillers + missing
    if len(y_true) < 2:  # ndcg_score needs two documents; a zero-gain filler changes nothing
        y_true.append(0.0)
    n = len(y_true)
    return np.array([y_true]), np.arange(n, 0, -1, dtype=float)[None, :]


def ndcg_at_k(
    ranked: list[list], relevant: list[set] | list[Mapping[Any, float]], k: int
) -> np.ndarray:
    """Per example NDCG@k by ``sklearn.metrics.ndcg_score``; NaN with nothing relevant.

    ``relevant`` holds per example either a set (binary gain) or a mapping item -> grade."""
    _check_k(k)
    _check_lengths(ranked, relevant, "ranked and relevant")
    out = np.full(len(ranked), np.nan)
    for i, (items, rel) in enumerate(zip(ranked, relevant, strict=True)):
        if not _gains(rel):
            continue
        y_true, y_score = ranking_arrays(items, rel, k)
        out[i] = ndcg_score(y_true, y_score, k=k)
    return out


# --- claims ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """One checkable statement of a reply. ``value``: (number, unit) for a number, the
    lowercase phrase for a fact, the tuple of content words for a sentence."""

    text: str
    kind: str
    value: Any


_TOKEN = re.compile(
    r"(?P<cur>[€$£])|(?P<num>\d+(?:[.,]\d+)*)|(?P<pct>%)|(?P<word>[^\W\d_]+(?:'[^\W\d_]+)?)"
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_CITATION = re.compile(r"\s*\[\d+(?:\s*,\s*\d+)*\]")  # "[1]", "[1, 3]": references, not claims
_CURRENCY = {"€": "eur", "$": "usd", "£": "gbp", "eur": "eur", "euro": "eur", "usd": "usd"}
_CURRENCY |= {"dollar": "usd", "gbp": "gbp", "pound": "gbp"}
_NUMBER_WORDS = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve".split()
    )
    if i
}
_PERCENT = "percent"


@dataclass(frozen=True)
class _Token:
    kind: str  # cur | num | pct | word
    raw: str
    norm: str  # folded word, currency code, "percent", or the number's text
    start: int
    end: int
    number: float | None = None


def _fold(word: str) -> str:
    w = word.lower()
    if len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
        w = w[:-1]
    return w


def _parse_number(raw: str) -> float:
    # A comma before exactly three digits groups thousands; any other comma is a decimal mark.
    if re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?", raw):
        return float(raw.replace(",", ""))
    return float(raw.replace(",", "."))


def _tokens(sentence: str) -> list[_Token]:
    out = []
    for m in _TOKEN.finditer(sentence):
        kind, raw = m.lastgroup, m.group()
        if kind == "num":
            try:
                number = _parse_number(raw)
            except ValueError:  # "1.2.3": a version or a date, not a quantity
                number = None
            out.append(_Token("num" if number is not None else "word", raw, raw, *m.span(), number))
        elif kind == "cur":
            out.append(_Token("cur", raw, _CURRENCY[raw], *m.span()))
        elif kind == "pct":
            out.append(_Token("pct", raw, _PERCENT, *m.span()))
        else:
            out.append(_Token("word", raw, _fold(raw), *m.span()))
    # Number words count as numbers only before a content word ("three steps", not "one of").
    for i, t in enumerate(out):
        if t.kind == "word" and t.raw.lower() in _NUMBER_WORDS and i + 1 < len(out):
            nxt = out[i + 1]
            if nxt.kind == "word" and nxt.norm not in STOPWORDS:
                n = float(_NUMBER_WORDS[t.raw.lower()])
                out[i] = _Token("num", t.raw, t.raw, t.start, t.end, n)
    return out


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def _is_content(t: _Token) -> bool:
    return t.kind == "word" and t.norm not in STOPWORDS and t.norm not in _SALUTATIONS


def _currency(t: _Token) -> str | None:
    if t.kind == "cur":
        return t.norm
    return _CURRENCY.get(t.norm) if t.kind == "word" else None


def _unit(tokens: list[_Token], i: int) -> tuple[str, int]:
    """The unit word of the number at ``i`` and the index of the token carrying it (or i)."""
    prev = tokens[i - 1] if i > 0 else None
    nxt = tokens[i + 1] if i + 1 < len(tokens) else None
    if prev is not None and _currency(prev):
        return _currency(prev), i - 1
    if nxt is not None and (nxt.kind == "pct" or nxt.norm == _PERCENT):
        return _PERCENT, i + 1
    if nxt is not None and _currency(nxt):
        return _currency(nxt), i + 1
    if nxt is not None and _is_content(nxt):
        return nxt.norm, i + 1
    if prev is not None and _is_content(prev):
        return prev.norm, i - 1
    return "", i


def _number_claims(sentence: str, tokens: list[_Token]) -> tuple[list[Claim], set[int]]:
    """The number claims and the indices of the tokens they use (number and unit)."""
    out, used = [], set()
    for i, t in enumerate(tokens):
        if t.kind != "num":
            continue
        unit, j = _unit(tokens, i)
        a, b = tokens[min(i, j)], tokens[max(i, j)]
        out.append(Claim(sentence[a.start : b.end], "number", (t.number, unit)))
        used.update((i, j))
    return out, used


def _fact_claims(sentence: str, tokens: list[_Token], units: set[int]) -> list[Claim]:
    """Capitalised runs; ``units``: tokens already a number's unit ("50 GB"), never a fact."""
    runs: list[list[int]] = []
    for i, t in enumerate(tokens):
        named = t.kind == "word" and t.raw[0].isupper() and t.raw != "I" and i not in units
        if not named:
            continue
        joined = (
            runs and runs[-1][-1] == i - 1 and not sentence[tokens[i - 1].end : t.start].strip()
        )
        if joined:
            runs[-1].append(i)
        else:
            runs.append([i])
    out = []
    for run in runs:
        while run and not _is_content(tokens[run[0]]):
            run = run[1:]
        while run and not _is_content(tokens[run[-1]]):
            run = run[:-1]
        if not run:
            continue
        first = tokens[run[0]]
        if run[0] == 0 and len(run) == 1 and not (len(first.raw) > 1 and first.raw.isupper()):
            continue  # ordinary sentence-initial capital
        phrase = " ".join(tokens[i].norm for i in run)
        out.append(Claim(sentence[first.start : tokens[run[-1]].end], "fact", phrase))
    return out


def _content_words(tokens: list[_Token]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(t.norm for t in tokens if _is_content(t)))


def extract_claims(text: str, *, min_sentence_words: int = MIN_SENTENCE_WORDS) -> list[Claim]:
    """The reply's number, fact and sentence claims, in text order per sentence (module doc)."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a string, got {type(text).__name__}")
    claims: dict[tuple[str, Any], Claim] = {}
    for sentence in _sentences(_CITATION.sub("", text)):
        tokens = _tokens(sentence)
        numbers, units = _number_claims(sentence, tokens)
        found = numbers + _fact_claims(sentence, tokens, units)
        words = _content_words(tokens)
        if len(words) >= min_sentence_words:
            found.append(Claim(sentence, "sentence", words))
        for claim in found:
            claims.setdefault((claim.kind, claim.value), claim)
    return list(claims.values())


@dataclass(frozen=True)
class _Passage:
    sentences: tuple[tuple[_Token, ...], ...]
    words: frozenset[str]
    joined: str  # " tok tok ... " of all folded tokens, for phrase look-ups


@lru_cache(maxsize=4096)
def _passage(text: str) -> _Passage:
    sentences = tuple(tuple(_tokens(s)) for s in _sentences(text))
    flat = [t for s in sentences for t in s]
    return _Passage(
        sentences=sentences,
        words=frozenset(t.norm for t in flat if _is_content(t)),
        joined=" " + " ".join(t.norm for t in flat) + " ",
    )


def _number_in(p: _Passage, number: float, unit: str) -> bool:
    for tokens in p.sentences:
        for i, t in enumerate(tokens):
            if t.kind != "num" or not math.isclose(t.number, number, rel_tol=0, abs_tol=1e-9):
                continue
            if not unit:
                return True
            near = tokens[max(i - NEAR_TOKENS, 0) : i + NEAR_TOKENS + 1]
            if any(_currency(n) == unit or n.norm == unit for n in near):
                return True
    return False


def _check_passages(passages: Sequence[str]) -> None:
    if isinstance(passages, str):
        raise TypeError("passages must be a list of strings, not one string")
    bad = [type(p).__name__ for p in passages if not isinstance(p, str)]
    if bad:
        raise TypeError(f"passages must be strings, got {bad[0]}")


def claim_supported(claim: Claim, passages: Sequence[str]) -> bool:
    """Whether the passages support the claim (rules in the module doc)."""
    _check_passages(passages)
    parsed = [_passage(p) for p in passages]
    if claim.kind == "number":
        number, unit = claim.value
        return any(_number_in(p, number, unit) for p in parsed)
    if claim.kind == "fact":
        return any(f" {claim.value} " in p.joined for p in parsed)
    if claim.kind == "sentence":
        words = set(claim.value)
        if not words:
            return True
        best = max((len(words & p.words) for p in parsed), default=0)
        return best / len(words) >= SENTENCE_SUPPORT
    raise ValueError(f"unknown claim kind {claim.kind!r}; expected one of {CLAIM_KINDS}")


def faithfulness(reply: str, passages: Sequence[str]) -> float:
    """Share of the reply's claims the passages support; 1.0 for a reply without claims.

    An empty reply states nothing false; the refusal rate (see ``checks.text_drift``) is what
    watches for replies that say nothing."""
    _check_passages(passages)
    claims = extract_claims(reply)
    if not claims:
        return 1.0
    return sum(claim_supported(c, passages) for c in claims) / len(claims)


def faithfulness_scores(
    replies: Sequence[str | None], passages_per_reply: Sequence[Sequence[str]]
) -> np.ndarray:
    """Per reply faithfulness; NaN where the reply is None (generation failed: nothing to judge)."""
    _check_lengths(replies, passages_per_reply, "replies and passages_per_reply")
    return np.array(
        [
            np.nan if reply is None else faithfulness(reply, passages)
            for reply, passages in zip(replies, passages_per_reply, strict=True)
        ],
        dtype=float,
    )


# --- validation ------------------------------------------------------------------------------


def _flags(blocked, unfaithful) -> tuple[np.ndarray, np.ndarray]:
    b = np.asarray(blocked)
    u = np.asarray(unfaithful)
    if b.shape != u.shape or b.ndim != 1:
        raise ValueError(f"blocked and unfaithful must be 1-d of one length: {b.shape}, {u.shape}")
    for name, a in (("blocked", b), ("unfaithful", u)):
        if a.dtype != bool and not np.isin(a, (0, 1)).all():
            raise ValueError(f"{name} must hold booleans (or 0/1)")
    return b.astype(bool), u.astype(bool)


def validator_rates(blocked, unfaithful) -> dict:
    """The validator's confusion counts and rates.

    false_negative_rate: unfaithful replies let through / unfaithful replies (None with no
    unfaithful reply: nothing to catch); false_positive_rate: faithful replies blocked /
    faithful replies (None with no faithful reply)."""
    b, u = _flags(blocked, unfaithful)
    caught, missed = int((b & u).sum()), int((~b & u).sum())
    false_alarms, passed = int((b & ~u).sum()), int((~b & ~u).sum())
    n_unfaithful, n_faithful = caught + missed, false_alarms + passed
    return {
        "n": int(b.size),
        "n_unfaithful": n_unfaithful,
        "n_faithful": n_faithful,
        "caught": caught,
        "missed": missed,
        "false_alarms": false_alarms,
        "passed": passed,
        "false_negative_rate": missed / n_unfaithful if n_unfaithful else None,
        "false_positive_rate": false_alarms / n_faithful if n_faithful else None,
    }


def validator_miss(blocked, unfaithful) -> np.ndarray:
    """Per reply: 1 where an unfaithful reply passed, 0 where it was blocked, NaN where faithful.

    Its nanmean is the false-negative rate, so it bootstraps like any per-example metric."""
    b, u = _flags(blocked, unfaithful)
    return np.where(u, (~b).astype(float), np.nan)


def validator_false_alarm(blocked, unfaithful) -> np.ndarray:
    """Per reply: 1 where a faithful reply was blocked, 0 where it passed, NaN where unfaithful."""
    b, u = _flags(blocked, unfaithful)
    return np.where(~u, b.astype(float), np.nan)


# --- end to end ------------------------------------------------------------------------------

SUCCESS_VERDICTS = frozenset({"sent"})
FAILURE_VERDICTS = frozenset({"edited", "discarded"})


def task_success(verdicts: Iterable[str | None]) -> np.ndarray:
    """Per suggestion: 1.0 when the agent sent it as is, 0.0 when edited or discarded, NaN while
    no verdict is in (None or NaN).

    Success is boolean on purpose, as every task's per-example success in the engine: an edited
    suggestion needed a person's correction, so it did not do the job on its own. (A half
    credit for "edited" would make the rate depend on an arbitrary weight.)"""
    out = []
    for v in verdicts:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            out.append(np.nan)
        elif v in SUCCESS_VERDICTS:
            out.append(1.0)
        elif v in FAILURE_VERDICTS:
            out.append(0.0)
        else:
            known = sorted(SUCCESS_VERDICTS | FAILURE_VERDICTS)
            raise ValueError(f"unknown verdict {v!r}; expected one of {known} or None")
    return np.array(out, dtype=float)
