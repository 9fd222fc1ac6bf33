import json
import math

import numpy as np
import pandas as pd
import pytest

from checks.profiles import (
    OTHER,
    CategoricalProfile,
    NumericProfile,
    TableProfile,
    build_reference_profile,
    merge_profiles,
    profile_like,
)

NUM = ["amount", "n_items"]
CAT = ["channel"]


def _frame(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    amount = rng.normal(100 + shift, 15, n)
    amount[rng.random(n) < 0.05] = np.nan
    channel = np.array(["email", "chat", "phone"], dtype=object)[
        rng.choice(3, n, p=[0.5, 0.3, 0.2])
    ]
    channel[rng.random(n) < 0.02] = None
    return pd.DataFrame({"amount": amount, "n_items": rng.poisson(2, n), "channel": channel})


@pytest.fixture(scope="module")
def ref() -> TableProfile:
    return build_reference_profile(_frame(20_000, 0), NUM, CAT)


def _counts(p: TableProfile) -> dict:
    """Everything except the float sums, which agree only up to rounding."""
    d = p.to_dict()
    for col in d["columns"].values():
        col.pop("sum", None)
        col.pop("sum_sq", None)
    return d


def _assert_same(a: TableProfile, b: TableProfile) -> None:
    assert _counts(a) == _counts(b)
    for name, col in a.columns.items():
        if isinstance(col, NumericProfile):
            assert math.isclose(col.sum, b.columns[name].sum, rel_tol=1e-12)
            assert math.isclose(col.sum_sq, b.columns[name].sum_sq, rel_tol=1e-12)


def test_reference_shape(ref):
    amount = ref.columns["amount"]
    assert isinstance(amount, NumericProfile)
    assert 15 <= len(amount.edges) - 1 <= 20  # ~20 quantile bins
    assert len(amount.counts) == len(amount.edges) + 1
    assert amount.counts[0] == amount.counts[-1] == 0  # reference fits its own range
    assert amount.count + amount.nulls == ref.n_rows == amount.counts.sum() + amount.nulls
    assert amount.min == amount.edges[0] and amount.max == amount.edges[-1]
    assert 0.04 < amount.null_rate < 0.06
    assert abs(amount.mean - 100) < 0.5 and abs(amount.std - 15) < 0.5
    # Integer column: one bin per value, no empty interior bins.
    n_items = ref.columns["n_items"]
    assert np.all(n_items.counts[1:-1] > 0)
    channel = ref.columns["channel"]
    assert isinstance(channel, CategoricalProfile)
    assert list(channel.counts) == ["email", "chat", "phone", OTHER]
    assert channel.counts[OTHER] == 0 and channel.unseen == {}


def test_profile_like_reference_data_reproduces_reference(ref):
    _assert_same(profile_like(_frame(20_000, 0), ref), ref)


def test_merge_is_exact_and_associative(ref):
    a, b, c = (
        profile_like(_frame(n, seed, shift), ref)
        for n, seed, shift in [(500, 1, 0.0), (800, 2, 20.0), (300, 3, -40.0)]
    )
    whole = profile_like(
        pd.concat([_frame(500, 1), _frame(800, 2, 20.0), _frame(300, 3, -40.0)]), ref
    )
    flat = merge_profiles([a, b, c])
    _assert_same(flat, whole)
    _assert_same(merge_profiles([merge_profiles([a, b]), c]), flat)
    _assert_same(merge_profiles([a, merge_profiles([b, c])]), flat)
    amount = flat.columns["amount"]
    assert amount.min == min(p.columns["amount"].min for p in (a, b, c))
    assert amount.max == max(p.columns["amount"].max for p in (a, b, c))


def test_merge_adds_unseen_counters(ref):
    d1 = profile_like(pd.DataFrame({"channel": ["fax"] * 3 + ["sms"]}), ref)
    d2 = profile_like(pd.DataFrame({"channel": ["fax"] * 2 + ["email"]}), ref)
    merged = merge_profiles([d1, d2]).columns["channel"]
    assert merged.unseen == {"fax": 5, "sms": 1}
    assert merged.counts[OTHER] == 6 and merged.counts["email"] == 1


def test_round_trip_through_json(ref):
    empty = profile_like(_frame(0, 4), ref)  # NaN min/max must survive json.dumps
    weird = profile_like(pd.DataFrame({"amount": ["x", "1.5"], "channel": ["fax", None]}), ref)
    for p in (ref, empty, weird, profile_like(_frame(1000, 5), ref)):
        text = json.dumps(p.to_dict(), allow_nan=False)
        back = TableProfile.from_dict(json.loads(text))
        assert back.to_dict() == p.to_dict()
        assert back.missing_columns == p.missing_columns
        assert back.type_errors == p.type_errors
    back = TableProfile.from_dict(json.loads(json.dumps(empty.to_dict())))
    assert math.isnan(back.columns["amount"].min) and math.isnan(back.columns["amount"].mean)


def test_missing_and_retyped_columns_are_recorded(ref):
    df = pd.DataFrame({"amount": ["12.5", "oops", None, "99"], "channel": ["email"] * 4})
    p = profile_like(df, ref)
    assert p.missing_columns == ["n_items"]
    assert p.columns["n_items"].count == 0 and p.columns["n_items"].nulls == 4
    assert p.type_errors == ["amount"]
    amount = p.columns["amount"]
    assert (amount.count, amount.nulls, amount.unparsable) == (2, 2, 1)
    assert amount.sum == pytest.approx(111.5)


def test_empty_frame_gives_zero_profile(ref):
    p = profile_like(_frame(0, 6), ref)
    assert p.n_rows == 0 and p.missing_columns == [] and p.type_errors == []
    for col in p.columns.values():
        assert col.count == 0 and col.nulls == 0 and math.isnan(col.null_rate)
    assert p.columns["amount"].counts.sum() == 0 and math.isnan(p.columns["amount"].std)
    no_columns = profile_like(pd.DataFrame(), ref)
    assert no_columns.missing_columns == ["amount", "n_items", "channel"]


def test_out_of_range_values_go_to_under_and_overflow(ref):
    edges = ref.columns["amount"].edges
    values = [edges[0] - 1, edges[0] - 1e-9, edges[0], edges[-1], edges[-1] + 1e-9, 1e9]
    counts = profile_like(pd.DataFrame({"amount": values}), ref).columns["amount"].counts
    assert counts[0] == 2  # underflow
    assert counts[-1] == 2  # overflow
    assert counts[1] == 1 and counts[-2] == 1  # min and max are interior
    infinite = profile_like(pd.DataFrame({"amount": [np.inf, -np.inf, 1.0]}), ref)
    assert infinite.columns["amount"].nulls == 2  # non-finite counts as null


def test_constant_reference_column():
    ref = build_reference_profile(pd.DataFrame({"x": [5.0] * 100}), ["x"], [])
    x = ref.columns["x"]
    assert x.std == 0.0 and list(x.edges) == [5.0, 5.0]
    cur = profile_like(pd.DataFrame({"x": [4.0, 5.0, 5.0, 6.0]}), ref).columns["x"]
    assert list(cur.counts) == [1, 2, 1]


def test_categories_capped_with_other_bucket():
    rng = np.random.default_rng(7)
    values = [f"c{i:03d}" for i in rng.zipf(1.5, 5000) % 200]
    ref = build_reference_profile(pd.DataFrame({"c": values}), [], ["c"], max_categories=10)
    c = ref.columns["c"]
    assert len(c.categories) == 10 and sum(c.counts.values()) == 5000
    assert c.counts[OTHER] > 0 and len(c.unseen) == 20
    assert list(c.unseen.values()) == sorted(c.unseen.values(), reverse=True)


def test_merging_different_bins_names_the_column(ref):
    other_ref = build_reference_profile(_frame(5_000, 9, shift=50.0), NUM, CAT)
    a = profile_like(_frame(100, 1), ref)
    b = profile_like(_frame(100, 1), other_ref)
    with pytest.raises(ValueError, match="'amount'"):
        merge_profiles([a, b])
    ref_cats = build_reference_profile(pd.DataFrame({"channel": ["x", "y"]}), [], ["channel"])
    ref_cats2 = build_reference_profile(pd.DataFrame({"channel": ["x", "z"]}), [], ["channel"])
    df = pd.DataFrame({"channel": ["x"]})
    with pytest.raises(ValueError, match="'channel'"):
        merge_profiles([profile_like(df, ref_cats), profile_like(df, ref_cats2)])
