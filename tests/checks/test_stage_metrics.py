import math

import numpy as np
import pytest

from checks.stage_metrics import (
    Claim,
    claim_supported,
    extract_claims,
    faithfulness,
    faithfulness_scores,
    ndcg_at_k,
    precision_at_k,
    ranking_arrays,
    recall_at_k,
    task_success,
    validator_false_alarm,
    validator_miss,
    validator_rates,
)

REFUNDS = (
    "Refunds are possible within 14 days of purchase. The Business Plus plan costs EUR 29 per "
    "month and includes 50 GB of storage. To cancel, follow three steps: open Settings, choose "
    "Billing, click Cancel."
)
SYNC = "Sync runs every 15 minutes on the desktop app. Mobile devices sync when opened."


def _claims(text: str, kind: str) -> list:
    return [c.value for c in extract_claims(text) if c.kind == kind]


# --- retrieval and ranking -------------------------------------------------------------------


def test_precision_and_recall_per_example():
    retrieved = [["a", "b", "c"], ["x", "y"], ["a", "a", "b"], ["q"]]
    relevant = [{"b", "d"}, {"x"}, {"a"}, set()]
    p = precision_at_k(retrieved, relevant, 3)
    r = recall_at_k(retrieved, relevant, 3)
    # 1 of 3 slots; 1 of 3 (the empty slot is charged); a repeat counts once; nothing relevant.
    np.testing.assert_allclose(p[:3], [1 / 3, 1 / 3, 1 / 3])
    np.testing.assert_allclose(r[:3], [1 / 2, 1.0, 1.0])
    assert math.isnan(p[3]) and math.isnan(r[3])
    # Only the top k counts.
    assert precision_at_k([["a", "b", "c"]], [{"c"}], 2)[0] == 0.0
    assert recall_at_k([["a", "b", "c"]], [{"c", "a"}], 1)[0] == 0.5


def test_ndcg_against_a_hand_calculation():
    # Ranks 1..3 = a, b, c; relevant b (rank 2) and d (not retrieved).
    # DCG = 1/log2(3); ideal DCG = 1 + 1/log2(3).
    dcg = 1 / math.log2(3)
    got = ndcg_at_k([["a", "b", "c"]], [{"b", "d"}], 3)
    assert got[0] == pytest.approx(dcg / (1 + dcg))
    # Graded: ranked c(3), a(0), b(1) at k=3: DCG = 3 + 0 + 1/2; ideal = 3 + 1/log2(3).
    got = ndcg_at_k([["c", "a", "b"]], [{"c": 3, "b": 1}], 3)
    assert got[0] == pytest.approx((3 + 0.5) / (3 + 1 / math.log2(3)))
    # Perfect order is 1.0, reversed order less.
    assert ndcg_at_k([["b", "a"]], [{"b"}], 2)[0] == pytest.approx(1.0)
    assert ndcg_at_k([["a", "b"]], [{"b"}], 2)[0] == pytest.approx(1 / math.log2(3))


def test_ndcg_missing_relevant_items_do_not_earn_gain_from_short_lists():
    # A list of one irrelevant item with k=3: the missing relevant item must not slide into the
    # top 3 and earn gain.
    assert ndcg_at_k([["a"]], [{"z"}], 3)[0] == 0.0
    assert ndcg_at_k([[]], [{"z"}], 3)[0] == 0.0
    y_true, y_score = ranking_arrays(["a"], {"z"}, 3)
    assert y_true.tolist() == [[0.0, 0.0, 0.0, 1.0]]
    assert np.all(np.diff(y_score[0]) < 0)  # distinct scores, ranked order
    # A repeated relevant item counts once.
    assert ndcg_at_k([["b", "b"]], [{"b", "c"}], 2)[0] == pytest.approx(1 / (1 + 1 / math.log2(3)))


def test_ndcg_nothing_relevant_is_nan_and_inputs_are_checked():
    out = ndcg_at_k([["a", "b"], ["a", "b"]], [set(), {"a": 0}], 2)
    assert np.isnan(out).all()
    with pytest.raises(ValueError, match="differ in length"):
        ndcg_at_k([["a"]], [{"a"}, {"b"}], 2)
    with pytest.raises(ValueError, match="positive integer"):
        precision_at_k([["a"]], [{"a"}], 0)
    with pytest.raises(ValueError, match="non-negative"):
        ndcg_at_k([["a"]], [{"a": -1}], 2)


# --- claims ----------------------------------------------------------------------------------


def test_extract_number_claims_with_units():
    text = (
        "Refunds within 14 days. The plan costs EUR 29 or €35, with 50 GB, a 14-day trial, "
        "20% off, 1,000 seats and three steps. Step 4 is optional."
    )
    numbers = _claims(text, "number")
    assert (14.0, "day") in numbers
    assert (29.0, "eur") in numbers and (35.0, "eur") in numbers
    assert (50.0, "gb") in numbers
    assert (20.0, "percent") in numbers
    assert (1000.0, "seat") in numbers
    assert (3.0, "step") in numbers
    assert (4.0, "step") in numbers  # the word before when nothing follows
    assert len([v for v in numbers if v == (14.0, "day")]) == 1  # repeated claim counts once
    # "one of" is not a number.
    assert _claims("One of our agents will reply.", "number") == []


def test_extract_fact_and_sentence_claims():
    claims = extract_claims(REFUNDS + " Hi Anna, thanks.")
    facts = [c.value for c in claims if c.kind == "fact"]
    assert facts == ["business plu", "setting", "billing", "cancel", "anna"]
    # Units belong to numbers; a sentence-initial capital is not a name.
    assert "gb" not in facts and "eur" not in facts and "refund" not in facts
    sentences = [c.text for c in claims if c.kind == "sentence"]
    assert sentences[0] == "Refunds are possible within 14 days of purchase."
    assert "Hi Anna, thanks." not in sentences  # fewer than 3 content words
    assert all(isinstance(c, Claim) and c.kind in {"number", "fact", "sentence"} for c in claims)
    assert extract_claims("") == []
    with pytest.raises(TypeError, match="string"):
        extract_claims(None)


def test_a_reply_copying_a_passage_is_fully_faithful():
    assert faithfulness(REFUNDS, [SYNC, REFUNDS]) == 1.0
    # Reordered, same facts: the unit may sit on the other side of its number.
    reply = "Within 14 days of purchase, refunds are possible. Business Plus costs 29 EUR a month."
    assert faithfulness(reply, [REFUNDS]) == 1.0
    # Citation markers refer to passages; they are no number claims.
    cited = (
        "Refunds are possible within 14 days of purchase [2]. Business Plus costs EUR 29 [1, 2]."
    )
    assert faithfulness(cited, [REFUNDS]) == 1.0
    assert [c.value for c in extract_claims(cited) if c.kind == "number"] == [
        (14.0, "day"),
        (29.0, "eur"),
    ]


def test_a_changed_number_lowers_faithfulness():
    changed = REFUNDS.replace("14 days", "30 days")
    score = faithfulness(changed, [REFUNDS])
    assert score < 1.0
    bad = [c for c in extract_claims(changed) if not claim_supported(c, [REFUNDS])]
    assert [c.text for c in bad] == ["30 days"]
    # The same number with another unit word is not support: 29 GB is not EUR 29.
    assert not claim_supported(Claim("29 GB", "number", (29.0, "gb")), [REFUNDS])
    # A price the passages never state.
    assert faithfulness("The Business Plus plan costs EUR 39 per month.", [REFUNDS]) < 1.0


def test_sentence_support_needs_one_passage():
    # Content words split over two passages do not support the sentence.
    a = "Invoices are emailed monthly to the account owner."
    b = "Exports include archived projects and comments."
    sentence = Claim("s", "sentence", ("invoice", "emailed", "archived", "project", "comment"))
    assert not claim_supported(sentence, [a, b])
    assert claim_supported(sentence, [a + " " + b])
    # 4 of 5 words (80%) is enough, 3 of 5 is not.
    four = Claim("s", "sentence", ("invoice", "emailed", "monthly", "owner", "banana"))
    three = Claim("s", "sentence", ("invoice", "emailed", "monthly", "kiwi", "banana"))
    assert claim_supported(four, [a]) and not claim_supported(three, [a])
    with pytest.raises(ValueError, match="unknown claim kind"):
        claim_supported(Claim("x", "opinion", None), [a])
    with pytest.raises(TypeError, match="list of strings"):
        claim_supported(four, a)


def test_faithfulness_scores_and_empty_replies():
    out = faithfulness_scores(
        [REFUNDS, "Thanks!", None, REFUNDS.replace("50 GB", "80 GB")],
        [[REFUNDS], [REFUNDS], [REFUNDS], [REFUNDS]],
    )
    assert out[0] == 1.0 and out[1] == 1.0  # no claims: nothing unsupported
    assert math.isnan(out[2])  # no reply: not judged
    assert out[3] < 1.0
    with pytest.raises(ValueError, match="differ in length"):
        faithfulness_scores([REFUNDS], [])


# --- validation and task success --------------------------------------------------------------


def test_validator_rates_and_per_example_arrays():
    blocked = np.array([True, False, False, True, False, True])
    unfaithful = np.array([True, True, True, False, False, False])
    rates = validator_rates(blocked, unfaithful)
    assert rates["caught"] == 1 and rates["missed"] == 2
    assert rates["false_alarms"] == 2 and rates["passed"] == 1
    assert rates["false_negative_rate"] == pytest.approx(2 / 3)
    assert rates["false_positive_rate"] == pytest.approx(2 / 3)
    miss = validator_miss(blocked, unfaithful)
    np.testing.assert_array_equal(miss[:3], [0.0, 1.0, 1.0])
    assert np.isnan(miss[3:]).all()
    assert np.nanmean(miss) == pytest.approx(rates["false_negative_rate"])
    alarm = validator_false_alarm(blocked, unfaithful)
    assert np.nanmean(alarm) == pytest.approx(rates["false_positive_rate"])
    assert np.isnan(alarm[:3]).all()
    # Nothing unfaithful: no false-negative rate to report.
    assert validator_rates([False], [False])["false_negative_rate"] is None
    with pytest.raises(ValueError, match="one length"):
        validator_rates([True], [True, False])


def test_task_success_is_sent_as_is():
    out = task_success(["sent", "edited", "discarded", None, float("nan")])
    np.testing.assert_array_equal(out[:3], [1.0, 0.0, 0.0])
    assert np.isnan(out[3:]).all()
    with pytest.raises(ValueError, match="unknown verdict 'maybe'"):
        task_success(["maybe"])
