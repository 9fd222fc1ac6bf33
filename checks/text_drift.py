"""Drift of text inputs and outputs without embeddings, from mergeable counts.

A text profile holds counts only, so profiles add up exactly (a week is the merge of its
days) and are stored as plain JSON. ``text_profile`` counts, for one text column:

- ``length``: the number of word tokens per text in fixed bins (``length_edges``; cell i is
  ``[edges[i], edges[i+1])``, the last cell open-ended). For replies this is the reply length.
- ``oov``: tokens and the tokens outside a reference vocabulary (``build_text_reference``
  builds it from one half of the reference window and counts OOV on the other half). The
  vocabulary's size and hash are recorded so profiles on different vocabularies are never
  merged or compared.
- ``categories``: rows per category (the topic mix), when the caller passes categories.
- ``scripts``: texts by their dominant script among their letters (``latin``, ``cyrillic``,
  ``cjk``, ``other``; ``none`` without letters), from ``unicodedata`` character names: a cheap
  stand-in for the language mix that needs no language model.
- ``refusals``: texts that are no answer (``is_refusal``), for outputs (``refusals=True``).

``text_drift`` compares two profiles per feature. The binned features (length, categories,
scripts) use a chi-square test of homogeneity (sparse cells pooled until every expected count is
at least 5) with Jensen-Shannon distance (base 2, in [0, 1]) as the effect size. OOV share and
refusal rate use a one-sided two-proportion z-test that the share rose (a fall is not a
problem) with the rise in share as the effect size. All p-values are Benjamini-Hochberg
adjusted across the features of one comparison; a feature fires only when its adjusted p-value
is below ``alpha`` AND its effect reaches the floor, so a large sample's harmless wiggle stays
quiet. The OOV test counts tokens as independent trials; tokens of one text are not, so on
real traffic its p-value is optimistic, and the effect floor is what keeps it honest.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
from scipy import stats
from scipy.spatial.distance import jensenshannon

from checks.drift import chi_square  # the same test the column drift check runs

LENGTH_EDGES = (0, 5, 10, 20, 40, 80, 160, 320)
SCRIPTS = ("latin", "cyrillic", "cjk", "other", "none")
NULL_CATEGORY = "__null__"
LEVELS = ("ok", "warn", "error")
REFUSAL_PHRASES = (
    "i can't help",
    "i cannot help",
    "i can't answer",
    "i cannot answer",
    "i'm unable to",
    "i am unable to",
    "i'm not able to",
    "i am not able to",
    "i don't know",
    "i do not know",
    "unable to help",
    "no answer available",
    "i'm sorry, but i can",
    "could not find the answer",  # the shipped template generator's own refusal
)
_TOKEN = re.compile(r"\w+")
_CJK_PREFIXES = ("CJK ", "HIRAGANA", "KATAKANA", "HANGUL", "BOPOMOFO")


# --- per-text features -----------------------------------------------------------------------


def tokens(text: str) -> list[str]:
    """Lowercase word tokens (letters, digits, underscore runs of any script)."""
    return _TOKEN.findall(text.lower())


def build_vocabulary(texts: Iterable[str | None], min_count: int = 1) -> frozenset[str]:
    """Tokens seen at least ``min_count`` times in the reference texts."""
    counts = Counter(t for text in texts if text for t in tokens(text))
    return frozenset(t for t, n in counts.items() if n >= min_count)


def _char_script(ch: str) -> str:
    name = unicodedata.name(ch, "")
    if name.startswith("LATIN"):
        return "latin"
    if name.startswith("CYRILLIC"):
        return "cyrillic"
    if name.startswith(_CJK_PREFIXES):
        return "cjk"
    return "other"


def script_of(text: str) -> str:
    """The script most of the text's letters are written in; ``none`` without letters."""
    if text.isascii():  # the common case, without a per-character lookup
        return "latin" if any(c.isalpha() for c in text) else "none"
    counts = Counter(_char_script(c) for c in text if c.isalpha())
    if not counts:
        return "none"
    # Ties broken in SCRIPTS order so the result is deterministic.
    return max(SCRIPTS[:4], key=lambda s: (counts.get(s, 0), -SCRIPTS.index(s)))


def is_refusal(text: str | None, phrases: Sequence[str] = REFUSAL_PHRASES) -> bool:
    """No answer: None, empty or blank, or a text holding one of the refusal phrases."""
    if text is None or not text.strip():
        return True
    low = text.lower().replace("\u2019", "'")  # typographic apostrophes count as plain ones
    return any(p in low for p in phrases)


def vocabulary_id(vocab: Iterable[str]) -> dict:
    """Size and sha256 of a vocabulary: two profiles must share it to be merged or compared."""
    words = sorted(vocab)
    digest = hashlib.sha256("\n".join(words).encode()).hexdigest()
    return {"size": len(words), "sha256": digest}


# --- profiles --------------------------------------------------------------------------------


def _check_edges(edges: Sequence[float]) -> list[float]:
    e = [float(x) for x in edges]
    if not e or e[0] != 0 or any(b <= a for a, b in zip(e, e[1:], strict=False)):
        raise ValueError(f"length_bins must start at 0 and increase strictly, got {list(edges)}")
    return e


def text_profile(
    texts: Sequence[str | None],
    categories: Sequence[str | None] | None = None,
    reference_vocab: Iterable[str] | None = None,
    length_bins: Sequence[float] = LENGTH_EDGES,
    *,
    refusals: bool = False,
    refusal_phrases: Sequence[str] = REFUSAL_PHRASES,
) -> dict:
    """Counts of one text column (module doc). ``None`` texts count in ``nulls`` (and as
    refusals), not in the length, OOV or script counts."""
    if isinstance(texts, str):
        raise TypeError("texts must be a sequence of strings, not one string")
    edges = _check_edges(length_bins)
    texts = list(texts)
    if categories is not None:
        categories = list(categories)
        if len(categories) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(categories)} categories")
    vocab = frozenset(reference_vocab) if reference_vocab is not None else None
    length_counts = np.zeros(len(edges), dtype=np.int64)
    scripts = dict.fromkeys(SCRIPTS, 0)
    n_tokens = n_oov = nulls = 0
    for text in texts:
        if text is None:
            nulls += 1
            continue
        if not isinstance(text, str):
            raise TypeError(f"texts must be strings or None, got {type(text).__name__}")
        toks = tokens(text)
        length_counts[np.searchsorted(edges, len(toks), side="right") - 1] += 1
        scripts[script_of(text)] += 1
        n_tokens += len(toks)
        if vocab is not None:
            n_oov += sum(t not in vocab for t in toks)
    profile = {
        "n": len(texts),
        "nulls": nulls,
        "length_edges": edges,
        "length_counts": length_counts.tolist(),
        "tokens": n_tokens,
        "oov_tokens": n_oov if vocab is not None else None,
        "vocabulary": vocabulary_id(vocab) if vocab is not None else None,
        "scripts": scripts,
        "categories": None,
        "refusals": None,
    }
    if categories is not None:
        counts = Counter(NULL_CATEGORY if c is None else str(c) for c in categories)
        profile["categories"] = dict(sorted(counts.items()))
    if refusals:
        profile["refusals"] = sum(is_refusal(t, refusal_phrases) for t in texts)
    return profile


def build_text_reference(
    texts: Sequence[str | None],
    categories: Sequence[str | None] | None = None,
    length_bins: Sequence[float] = LENGTH_EDGES,
    *,
    refusals: bool = False,
    min_count: int = 1,
) -> tuple[frozenset[str], dict]:
    """The reference window's vocabulary and its profile on that vocabulary.

    The vocabulary is built from every other text (even positions) and the OOV counts come from
    the others: counted on the texts it was built from, the reference's OOV share would be 0 by
    construction and every later window would show a rise. The other counts use every text, so
    in this profile ``tokens`` is the number of tokens checked against the vocabulary."""
    texts = list(texts)
    vocab = build_vocabulary(texts[0::2], min_count)
    profile = text_profile(texts, categories, vocab, length_bins, refusals=refusals)
    held_out = text_profile(texts[1::2], None, vocab, length_bins)
    profile["tokens"], profile["oov_tokens"] = held_out["tokens"], held_out["oov_tokens"]
    return vocab, profile


def _add_counts(a: dict, b: dict) -> dict:
    keys = sorted(set(a) | set(b))
    return {k: int(a.get(k, 0)) + int(b.get(k, 0)) for k in keys}


def _same(a: dict, b: dict, key: str) -> None:
    if a[key] != b[key]:
        raise ValueError(f"text profiles differ in {key}: {a[key]!r} vs {b[key]!r}")


def _present(a: dict, b: dict, key: str) -> None:
    if (a[key] is None) != (b[key] is None):
        raise ValueError(f"text profiles disagree on whether they count {key}")


def merge_text_profiles(a: dict, b: dict) -> dict:
    """Exact merge of two profiles on the same bins and vocabulary (counts add)."""
    _same(a, b, "length_edges")
    _same(a, b, "vocabulary")
    for key in ("categories", "refusals"):
        _present(a, b, key)
    return {
        "n": a["n"] + b["n"],
        "nulls": a["nulls"] + b["nulls"],
        "length_edges": list(a["length_edges"]),
        "length_counts": [
            x + y for x, y in zip(a["length_counts"], b["length_counts"], strict=True)
        ],
        "tokens": a["tokens"] + b["tokens"],
        "oov_tokens": None if a["oov_tokens"] is None else a["oov_tokens"] + b["oov_tokens"],
        "vocabulary": a["vocabulary"],
        "scripts": _add_counts(a["scripts"], b["scripts"]),
        "categories": None
        if a["categories"] is None
        else _add_counts(a["categories"], b["categories"]),
        "refusals": None if a["refusals"] is None else a["refusals"] + b["refusals"],
    }


# --- tests -----------------------------------------------------------------------------------


def _rise_p(ref_k: int, ref_n: int, cur_k: int, cur_n: int) -> tuple[float, float]:
    """z and one-sided p of a two-proportion z-test that the share rose."""
    pooled = (ref_k + cur_k) / (ref_n + cur_n)
    se = math.sqrt(pooled * (1 - pooled) * (1 / ref_n + 1 / cur_n))
    if se == 0:
        return 0.0, 1.0
    z = (cur_k / cur_n - ref_k / ref_n) / se
    return float(z), float(stats.norm.sf(z))


def _binned(name: str, labels: list[str], ref: np.ndarray, cur: np.ndarray) -> dict:
    order = np.argsort(-(ref + cur), kind="stable")
    if name == "length":  # ordered bins pool with their neighbours, not with the rarest
        order = np.arange(ref.size)
    stat, p = chi_square(ref[order].astype(float), cur[order].astype(float))
    rs, cs = ref / ref.sum(), cur / cur.sum()
    i = int(np.argmax(np.abs(cs - rs)))
    return {
        "test": "chi2_homogeneity",
        "statistic": stat,
        "p_value": p,
        "effect_metric": "jensen_shannon_distance",
        "effect_size": float(jensenshannon(rs, cs, base=2)),
        "detail": f"largest share change {labels[i]!r} {rs[i]:.1%} -> {cs[i]:.1%}",
    }


def _proportion(name: str, ref_k: int, ref_n: int, cur_k: int, cur_n: int) -> dict:
    z, p = _rise_p(ref_k, ref_n, cur_k, cur_n)
    r, c = ref_k / ref_n, cur_k / cur_n
    return {
        "test": "two_proportion_z_rise",
        "statistic": z,
        "p_value": p,
        "effect_metric": "share_rise",
        "effect_size": c - r,
        "reference_share": r,
        "current_share": c,
        "detail": f"{name} share {r:.2%} -> {c:.2%}",
    }


def _length_labels(edges: list[float]) -> list[str]:
    ends = [f"{e:g}" for e in edges[1:]] + ["inf"]
    return [f"[{a:g}, {b})" for a, b in zip(edges, ends, strict=True)]


def _features(reference: dict, current: dict, min_texts: int) -> dict[str, dict]:
    """Each feature's test result, or an ``insufficient`` entry naming why it was not tested."""
    _same(reference, current, "length_edges")
    out: dict[str, dict] = {}
    ref_texts, cur_texts = reference["n"] - reference["nulls"], current["n"] - current["nulls"]
    short = min(ref_texts, cur_texts) < min_texts

    def _skip(name: str, why: str) -> None:
        out[name] = {"decision": "insufficient", "reason": why}

    too_few = f"too few texts to judge: reference {ref_texts}, current {cur_texts}"
    if short:
        for name in ("length", "script"):
            _skip(name, too_few)
    else:
        edges = reference["length_edges"]
        ref_len = np.asarray(reference["length_counts"], dtype=float)
        cur_len = np.asarray(current["length_counts"], dtype=float)
        out["length"] = _binned("length", _length_labels(edges), ref_len, cur_len)
        ref_s = np.array([reference["scripts"].get(s, 0) for s in SCRIPTS], dtype=float)
        cur_s = np.array([current["scripts"].get(s, 0) for s in SCRIPTS], dtype=float)
        out["script"] = _binned("script", list(SCRIPTS), ref_s, cur_s)
    if reference["categories"] is not None and current["categories"] is not None:
        names = sorted(set(reference["categories"]) | set(current["categories"]))
        ref_c = np.array([reference["categories"].get(k, 0) for k in names], dtype=float)
        cur_c = np.array([current["categories"].get(k, 0) for k in names], dtype=float)
        if min(ref_c.sum(), cur_c.sum()) < min_texts:
            _skip(
                "category",
                f"too few rows to judge: reference {ref_c.sum():g}, current {cur_c.sum():g}",
            )
        else:
            out["category"] = _binned("category", names, ref_c, cur_c)
    if reference["oov_tokens"] is not None and current["oov_tokens"] is not None:
        _same(reference, current, "vocabulary")
        if short or not reference["tokens"] or not current["tokens"]:
            _skip("oov", too_few)
        else:
            out["oov"] = _proportion(
                "out-of-vocabulary token",
                reference["oov_tokens"],
                reference["tokens"],
                current["oov_tokens"],
                current["tokens"],
            )
    if reference["refusals"] is not None and current["refusals"] is not None:
        if min(reference["n"], current["n"]) < min_texts:
            _skip(
                "refusal",
                f"too few texts to judge: reference {reference['n']}, current {current['n']}",
            )
        else:
            out["refusal"] = _proportion(
                "refusal", reference["refusals"], reference["n"], current["refusals"], current["n"]
            )
    return out


def text_drift(
    reference: dict,
    current: dict,
    alpha: float = 0.01,
    *,
    warn: float = 0.05,
    error: float = 0.10,
    share_warn: float = 0.02,
    share_error: float = 0.05,
    min_texts: int = 100,
) -> dict:
    """Per feature: test, p-value, BH-adjusted p-value, effect size and a decision.

    Floors: ``warn``/``error`` on the JS distance of the binned features; ``share_warn``/
    ``share_error`` on the rise of the OOV share and of the refusal rate (absolute, 0.02 = two
    percentage points). ``worst`` is the worst decision over the tested features
    (``insufficient`` only when none could be tested)."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    features = _features(reference, current, min_texts)
    tested = [f for f in features.values() if "p_value" in f]
    if tested:
        adjusted = stats.false_discovery_control([f["p_value"] for f in tested], method="bh")
        for f, p_adj in zip(tested, adjusted, strict=True):
            f["p_adjusted"] = float(p_adj)
    for name, f in features.items():
        if "p_value" not in f:
            continue
        warn_at, error_at = (
            (share_warn, share_error) if name in ("oov", "refusal") else (warn, error)
        )
        significant = f["p_adjusted"] < alpha
        effect = f"{f['effect_metric']} {f['effect_size']:.3f}"
        text = f"{f['detail']}; {effect}; p_adj={f['p_adjusted']:.2g}"
        if significant and f["effect_size"] >= error_at:
            f["decision"], f["reason"] = "error", f"drifted: {text}"
        elif significant and f["effect_size"] >= warn_at:
            f["decision"], f["reason"] = "warn", f"drifted: {text}"
        elif significant:
            f["decision"], f["reason"] = "ok", f"significant but below the effect floor: {text}"
        else:
            f["decision"], f["reason"] = "ok", f"no significant drift: {text}"
        del f["detail"]
    decided = [f["decision"] for f in features.values() if f["decision"] in LEVELS]
    worst = max(decided, key=LEVELS.index) if decided else "insufficient"
    return {
        "features": features,
        "worst": worst,
        "alpha": alpha,
        "n_reference": reference["n"],
        "n_current": current["n"],
    }
