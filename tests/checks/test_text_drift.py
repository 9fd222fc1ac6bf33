import json

import numpy as np
import pytest

from checks.text_drift import (
    build_text_reference,
    build_vocabulary,
    is_refusal,
    merge_text_profiles,
    script_of,
    text_drift,
    text_profile,
)

CATEGORIES = ("billing", "account", "sync", "plans", "security")
CATEGORY_P = (0.35, 0.25, 0.2, 0.15, 0.05)
N_WORDS = 400
_RANK = np.arange(1, N_WORDS + 1)
WORD_P = (1 / _RANK) / (1 / _RANK).sum()  # Zipf: a few common words, a long tail
LATIN = [f"w{i}" for i in range(N_WORDS)]
CYRILLIC = ["слово", "счёт", "оплата", "пароль", "данные"]
NEW_WORDS = [f"new{i}" for i in range(50)]  # never in the reference


def _texts(
    rng,
    n: int,
    *,
    mean_len: float = 14,
    category_p=CATEGORY_P,
    cyrillic: float = 0.02,
    oov: float = 0.0,
    refusal: float = 0.03,
):
    """n texts with Zipf words and Poisson lengths, their categories, and replies."""
    lengths = 1 + rng.poisson(mean_len - 1, n)
    words = np.array(LATIN, dtype=object)[rng.choice(N_WORDS, lengths.sum(), p=WORD_P)]
    swap = rng.random(words.size) < oov
    words[swap] = np.array(NEW_WORDS, dtype=object)[rng.integers(0, 50, swap.sum())]
    cuts = np.cumsum(lengths)[:-1]
    texts = []
    for part in np.split(words, cuts):
        if rng.random() < cyrillic:
            part = np.array(CYRILLIC, dtype=object)[rng.integers(0, 5, part.size)]
        texts.append(" ".join(part))
    cats = np.array(CATEGORIES, dtype=object)[rng.choice(len(CATEGORIES), n, p=category_p)]
    replies = [
        "I'm sorry, but I can't help with that." if rng.random() < refusal else t for t in texts
    ]
    return texts, list(cats), replies


def _pair(seed: int, n_ref: int = 2000, n_cur: int = 300, **shift):
    """Reference and current profiles for the questions, and for the replies."""
    rng = np.random.default_rng(seed)
    ref_t, ref_c, ref_r = _texts(rng, n_ref)
    cur_t, cur_c, cur_r = _texts(rng, n_cur, **shift)
    vocab, ref_q = build_text_reference(ref_t, ref_c)
    cur_q = text_profile(cur_t, cur_c, vocab)
    ref_out = text_profile(ref_r, refusals=True)
    cur_out = text_profile(cur_r, refusals=True)
    return (ref_q, cur_q), (ref_out, cur_out)


# --- per-text features and profiles ----------------------------------------------------------


def test_script_of_and_is_refusal():
    assert script_of("Refund please") == "latin"
    assert script_of("Возврат денег, please") == "cyrillic"  # most letters decide
    assert script_of("返金をお願いします") == "cjk"
    assert script_of("Ελληνικά") == "other"
    assert script_of("12345 !?") == "none"
    assert is_refusal(None) and is_refusal("  ") and is_refusal("I don’t know the answer.")
    assert is_refusal("Sorry, I cannot help with that request.")
    assert not is_refusal("Refunds are possible within 14 days.")


def test_text_profile_counts():
    texts = ["a b c", "one two three four five six", None, "", "Привет мир"]
    p = text_profile(
        texts,
        ["x", "y", "x", None, "x"],
        reference_vocab={"a", "b", "one"},
        length_bins=(0, 3, 6),
        refusals=True,
    )
    assert p["n"] == 5 and p["nulls"] == 1
    assert p["length_counts"] == [2, 1, 1]  # [0,3): "", "Привет мир"; [3,6): "a b c"; 6+: six
    assert p["tokens"] == 3 + 6 + 0 + 2
    assert p["oov_tokens"] == 1 + 5 + 2
    assert p["categories"] == {"__null__": 1, "x": 3, "y": 1}
    assert p["scripts"] == {"latin": 2, "cyrillic": 1, "cjk": 0, "other": 0, "none": 1}
    assert p["refusals"] == 2  # None and ""
    assert json.loads(json.dumps(p)) == p  # stored as plain JSON
    with pytest.raises(ValueError, match="categories"):
        text_profile(["a"], ["x", "y"])
    with pytest.raises(ValueError, match="start at 0"):
        text_profile(["a"], length_bins=(1, 5))


def test_merge_is_exact_and_refuses_different_vocabularies():
    rng = np.random.default_rng(3)
    texts, cats, replies = _texts(rng, 500)
    vocab = build_vocabulary(texts[:100])
    whole = text_profile(texts, cats, vocab, refusals=True)
    parts = [
        text_profile(texts[i : i + 100], cats[i : i + 100], vocab, refusals=True)
        for i in range(0, 500, 100)
    ]
    merged = parts[0]
    for p in parts[1:]:
        merged = merge_text_profiles(merged, p)
    assert merged == whole
    other = text_profile(texts, cats, build_vocabulary(texts[:50]))
    with pytest.raises(ValueError, match="vocabulary"):
        merge_text_profiles(whole, other)
    with pytest.raises(ValueError, match="length_edges"):
        merge_text_profiles(whole, text_profile(texts, cats, vocab, (0, 10), refusals=True))
    with pytest.raises(ValueError, match="refusals"):
        merge_text_profiles(whole, text_profile(texts, cats, vocab))


def test_reference_oov_is_counted_on_held_out_texts():
    rng = np.random.default_rng(4)
    texts, cats, _ = _texts(rng, 1000)
    vocab, ref = build_text_reference(texts, cats)
    # The long tail leaves some held-out words unseen: the share is small but not 0.
    assert 0 < ref["oov_tokens"] / ref["tokens"] < 0.05
    assert ref["n"] == 1000 and sum(ref["categories"].values()) == 1000
    assert vocab == build_vocabulary(texts[0::2])


# --- the tests' statistics -------------------------------------------------------------------

ALPHA = 0.05
TRIALS = 100


def test_false_positive_rate_on_null_data():
    # Same generator for reference and current. BH across the features controls the
    # family-wise error under the global null at alpha, so the share of trials with ANY adjusted
    # p-value below alpha must stay near alpha: bound alpha + 3 binomial SDs over the trials.
    bound = ALPHA + 3 * np.sqrt(ALPHA * (1 - ALPHA) / TRIALS)
    any_significant = fired = 0
    for seed in range(TRIALS):
        (ref_q, cur_q), (ref_o, cur_o) = _pair(seed, n_ref=1000, n_cur=300)
        for ref, cur in ((ref_q, cur_q), (ref_o, cur_o)):
            report = text_drift(ref, cur, ALPHA)
            ps = [f["p_adjusted"] for f in report["features"].values() if "p_adjusted" in f]
            any_significant += min(ps) < ALPHA
            fired += report["worst"] != "ok"
    assert any_significant / (2 * TRIALS) <= bound
    # A decision needs significance too, so the effect floors can only lower the rate.
    assert fired <= any_significant


@pytest.mark.parametrize(
    ("shift", "feature"),
    [
        ({"mean_len": 24}, "length"),  # longer questions
        ({"category_p": (0.25, 0.2, 0.2, 0.15, 0.2)}, "category"),  # security 5% -> 20%
        ({"cyrillic": 0.15}, "script"),  # a new script share
        ({"oov": 0.08}, "oov"),  # new words in 8% of tokens
    ],
)
def test_power_on_a_known_input_shift(shift, feature):
    trials, caught = 20, 0
    for seed in range(trials):
        (ref_q, cur_q), _ = _pair(1000 + seed, **shift)
        report = text_drift(ref_q, cur_q, ALPHA)
        caught += report["features"][feature]["decision"] == "error"
    assert caught >= 19


def test_power_on_a_refusal_rise_and_the_report_shape():
    trials, caught = 20, 0
    for seed in range(trials):
        _, (ref_o, cur_o) = _pair(2000 + seed, refusal=0.12)
        report = text_drift(ref_o, cur_o, ALPHA)
        caught += report["features"]["refusal"]["decision"] == "error"
    assert caught >= 19
    f = report["features"]["refusal"]
    assert f["test"] == "two_proportion_z_rise" and f["current_share"] > f["reference_share"]
    assert "drifted: refusal share" in f["reason"]
    # A fall in refusals is no alarm.
    calm = text_drift(cur_o, ref_o, ALPHA)["features"]["refusal"]
    assert calm["decision"] == "ok"
    assert calm["p_value"] > 0.5 and calm["effect_size"] < 0  # one-sided: a fall is no evidence


def test_too_few_texts_are_not_judged():
    (ref_q, _), _ = _pair(7)
    rng = np.random.default_rng(7)
    texts, cats, _ = _texts(rng, 30)
    small = text_profile(texts, cats, build_vocabulary(["w1"]))
    with pytest.raises(ValueError, match="vocabulary"):
        text_drift(ref_q, small)
    vocab, ref = build_text_reference(*_texts(rng, 1000)[:2])
    report = text_drift(ref, text_profile(texts, cats, vocab))
    assert report["worst"] == "insufficient"
    assert {f["decision"] for f in report["features"].values()} == {"insufficient"}
