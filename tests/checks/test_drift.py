"""Statistical behaviour of the drift checks, measured over many seeded trials.

Reference: 60 days x 2,000 rows = 120,000 support tickets. Current partitions: 2,000 rows (a day)
unless said otherwise.
"""

import json
import math

import numpy as np
import pandas as pd
import pytest

from checks.drift import compare_profiles, render_markdown
from checks.profiles import build_reference_profile, merge_profiles, profile_like

CHANNEL = (["email", "chat", "phone", "social"], [0.45, 0.30, 0.20, 0.05])
PRIORITY = (["low", "medium", "high", "urgent"], [0.45, 0.25, 0.20, 0.10])
SENTIMENT = (["negative", "neutral", "positive"], [0.30, 0.50, 0.20])
NUMERIC = ["response_hours", "text_length", "score", "n_messages"]
CATEGORICAL = ["channel", "priority", "sentiment"]
TEXT_SD = 120.0
ALPHA = 0.01


def _pick(rng, spec, n, as_category):
    names, shares = spec
    codes = rng.choice(len(names), n, p=shares)
    if as_category:  # much faster to build for the 1M-row trials
        return pd.Categorical.from_codes(codes, names)
    return np.array(names, dtype=object)[codes]


def tickets(n, rng, *, text_shift_sd=0.0, priority=PRIORITY, as_category=False):
    return pd.DataFrame(
        {
            "response_hours": rng.lognormal(1.0, 0.8, n),
            "text_length": rng.normal(400 + text_shift_sd * TEXT_SD, TEXT_SD, n),
            "score": rng.normal(0.6, 0.15, n),
            "n_messages": rng.poisson(3, n),
            "channel": _pick(rng, CHANNEL, n, as_category),
            "priority": _pick(rng, priority, n, as_category),
            "sentiment": _pick(rng, SENTIMENT, n, as_category),
        }
    )


@pytest.fixture(scope="module")
def ref_df():
    return tickets(60 * 2_000, np.random.default_rng(1))


@pytest.fixture(scope="module")
def ref(ref_df):
    return build_reference_profile(ref_df, NUMERIC, CATEGORICAL)


def drift(df, ref, **kw):
    return compare_profiles(profile_like(df, ref), ref, **kw)


def by_name(report):
    return {c.column: c for c in report.columns}


def three_se(p, n):
    return 3 * math.sqrt(p * (1 - p) / n)


def assert_no_nan(report):
    for rec in report.to_records():
        for key, value in rec.items():
            assert not (isinstance(value, float) and math.isnan(value)), (rec["column"], key)
    json.dumps(report.to_records(), allow_nan=False)


# --- 1. null splits ---------------------------------------------------------------------------


def test_null_splits_false_positive_rate(ref):
    rng = np.random.default_rng(2)
    trials = 400
    any_error = any_flag = 0
    below_05 = dict.fromkeys(NUMERIC + CATEGORICAL, 0)
    for _ in range(trials):
        report = drift(tickets(2_000, rng), ref)
        any_error += report.worst == "error"
        any_flag += report.worst != "ok"
        for c in report.columns:
            below_05[c.column] += c.p_value < 0.05
    fpr = any_error / trials
    print(f"null splits: any-error rate {fpr:.4f}, any-warn-or-error {any_flag / trials:.4f}")
    print("fixed reference, P(raw p < 0.05):", {k: v / trials for k, v in below_05.items()})
    assert fpr <= ALPHA


def test_raw_p_values_are_calibrated():
    # A fresh reference per trial: the homogeneity test is calibrated over both samples. Holding
    # one reference fixed adds a small offset (about n_cur/n_ref times that reference's own
    # chi-square distance from the truth), which would make this test depend on the seed.
    rng = np.random.default_rng(12)
    trials = 400
    below_05 = {"text_length": 0, "priority": 0}

    def two_columns(n):
        return pd.DataFrame(
            {
                "text_length": rng.normal(400, TEXT_SD, n),
                "priority": _pick(rng, PRIORITY, n, as_category=True),
            }
        )

    for _ in range(trials):
        ref = build_reference_profile(two_columns(120_000), ["text_length"], ["priority"])
        for c in drift(two_columns(2_000), ref).columns:
            below_05[c.column] += c.p_value < 0.05
    rates = {k: v / trials for k, v in below_05.items()}
    print("fresh reference, P(raw p < 0.05):", rates)
    for column, rate in rates.items():
        assert abs(rate - 0.05) <= three_se(0.05, trials), (column, rate)


# --- 2. power ---------------------------------------------------------------------------------


def test_quarter_sd_shift_is_an_error(ref):
    rng = np.random.default_rng(3)
    trials = 200
    caught = bystander_errors = 0
    effects = []
    for _ in range(trials):
        cols = by_name(drift(tickets(2_000, rng, text_shift_sd=0.25), ref))
        caught += cols["text_length"].decision == "error"
        effects.append(cols["text_length"].effect_size)
        bystander_errors += any(
            c.decision == "error" for name, c in cols.items() if name != "text_length"
        )
    print(
        f"power 0.25 SD: {caught / trials:.3f}; bystander errors {bystander_errors / trials:.3f};"
        f" effect mean {np.mean(effects):.3f} min {np.min(effects):.3f}"
    )
    assert caught / trials >= 0.95
    assert 1 - bystander_errors / trials >= 0.99
    assert abs(np.median(effects) - 0.25) < 0.06  # "moved by 0.25 SD" reads as ~0.25


# --- 3. effect-size floor ---------------------------------------------------------------------


def test_tiny_shift_on_huge_sample_is_significant_but_not_flagged(ref):
    rng = np.random.default_rng(4)
    trials = 24
    ok = significant = 0
    p_values, effects = [], []
    for _ in range(trials):
        df = tickets(1_000_000, rng, text_shift_sd=0.02, as_category=True)
        col = by_name(drift(df, ref))["text_length"]
        ok += col.decision == "ok"
        significant += col.p_adjusted < ALPHA
        p_values.append(col.p_value)
        effects.append(col.effect_size)
    print(
        f"floor 0.02 SD x 1M: ok {ok / trials:.3f}; significant {significant / trials:.3f};"
        f" median p {np.median(p_values):.2g}; max effect {np.max(effects):.3f}"
    )
    assert ok / trials >= 0.95
    # The test alone would fire: it is the effect-size floor that keeps the column quiet.
    assert np.median(p_values) < 1e-4
    assert significant / trials >= 0.8


# --- 4. category share change -----------------------------------------------------------------


def test_category_share_change_is_an_error(ref):
    names, shares = PRIORITY
    shifted = [
        0.35 if name == "high" else s * 0.65 / 0.80 for name, s in zip(names, shares, strict=True)
    ]
    rng = np.random.default_rng(5)
    trials = 200
    caught = 0
    for _ in range(trials):
        col = by_name(drift(tickets(2_000, rng, priority=(names, shifted)), ref))["priority"]
        caught += col.decision == "error"
    print(f"priority 'high' 20% -> 35%: error in {caught / trials:.3f}")
    assert caught / trials >= 0.95
    assert "'high'" in col.reason and col.effect_metric == "jensen_shannon_distance"


# --- 5. edge cases ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def day(ref_df):
    return tickets(2_000, np.random.default_rng(6))


def test_missing_column(ref, day):
    report = drift(day.drop(columns=["score"]), ref)
    col = by_name(report)["score"]
    assert (col.decision, col.reason) == ("error", "column missing")
    assert col.p_value is None and col.effect_size is None
    assert report.worst == "error" and "score" in report.summary()
    assert_no_nan(report)


def test_type_changed(ref, day):
    df = day.assign(score=day["score"].map(lambda v: f"{v:.2f} pts"))
    col = by_name(drift(df, ref))["score"]
    assert col.decision == "error" and col.reason.startswith("type changed")
    assert "2000 of 2000" in col.reason
    parsable = by_name(drift(day.assign(score=day["score"].astype(str)), ref))["score"]
    assert parsable.decision == "warn" and "type changed" in parsable.reason


def test_all_null_current(ref, day):
    report = drift(day.assign(text_length=np.nan, channel=None), ref)
    for name in ("text_length", "channel"):
        col = by_name(report)[name]
        assert col.decision == "error" and "null" in col.reason and col.null_rate_cur == 1.0
    assert_no_nan(report)


def test_empty_partition(ref, day):
    report = drift(day.iloc[:0], ref)
    for col in report.columns:
        assert col.decision == "warn"
        assert col.reason == "too few rows to judge: n=0"
        assert col.p_value is None and col.statistic is None
    assert report.worst == "warn"
    assert_no_nan(report)
    assert "7 of 7 columns drifted (warn)" in report.summary()


def test_too_few_rows(ref, day):
    col = by_name(drift(day.iloc[:60], ref))["text_length"]
    assert (col.decision, col.reason, col.p_value) == ("warn", "too few rows to judge: n=60", None)


def test_null_rate_rise(ref, day):
    df = day.copy()
    df.loc[df.index[:500], "response_hours"] = np.nan  # 0% -> 25%
    col = by_name(drift(df, ref))["response_hours"]
    assert col.decision == "error" and "null rate rose 0.0% -> 25.0%" in col.reason
    df.loc[df.index[:100], "score"] = np.nan  # 5%: below the 10-point floor
    assert by_name(drift(df, ref))["score"].decision == "ok"


def test_constant_reference_column():
    ref = build_reference_profile(
        pd.DataFrame({"flag": np.full(5_000, 5.0), "x": np.arange(5_000.0)}), ["flag", "x"], []
    )
    same = by_name(drift(pd.DataFrame({"flag": np.full(500, 5.0), "x": np.arange(500.0)}), ref))
    assert same["flag"].decision == "ok" and same["flag"].effect_size == 0.0
    moved = drift(pd.DataFrame({"flag": np.r_[np.full(450, 5.0), [7.0] * 50]}), ref)
    flag = by_name(moved)["flag"]
    assert flag.decision == "error" and "reference was constant at 5" in flag.reason
    assert_no_nan(moved)


def test_unseen_categories(ref, day):
    few = day.copy()
    few.loc[few.index[:30], "channel"] = "fax"
    col = by_name(drift(few, ref))["channel"]
    assert col.decision == "warn" and "'fax' (30)" in col.reason
    many = day.copy()
    many.loc[many.index[:350], "channel"] = "fax"
    many.loc[many.index[350:362], "channel"] = "sms"
    col = by_name(drift(many, ref))["channel"]
    assert col.decision == "error"
    assert "'fax' (350), 'sms' (12)" in col.reason and "18.1%" in col.reason


def test_markdown_rendering(ref, day):
    report = drift(tickets(2_000, np.random.default_rng(8), text_shift_sd=0.5), ref)
    md = render_markdown(report)
    assert "| text_length | numeric | error |" in md
    assert "│" in md and "█" in md and report.summary() in md
    assert len(md.splitlines()) == 4 + 7 + 3 + 7 + 1


# --- 6. weekly merge --------------------------------------------------------------------------


def test_weekly_merge_equals_concatenated_rows(ref):
    rng = np.random.default_rng(9)
    days = [tickets(2_000, rng, text_shift_sd=0.03 * i) for i in range(7)]
    merged = merge_profiles([profile_like(d, ref) for d in days])
    whole = profile_like(pd.concat(days, ignore_index=True), ref)
    for name, col in merged.columns.items():
        if name in NUMERIC:
            assert np.array_equal(col.counts, whole.columns[name].counts)
        else:
            assert col.counts == whole.columns[name].counts
    a, b = compare_profiles(merged, ref), compare_profiles(whole, ref)
    assert a.to_records() == b.to_records()  # identical statistics, p-values, effects, reasons
    assert by_name(a)["text_length"].statistic == by_name(b)["text_length"].statistic
