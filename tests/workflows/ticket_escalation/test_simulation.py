"""The simulated CRM: deterministic, stationary, and incidents that change exactly their day."""

from __future__ import annotations

import datetime as dt
import re
from functools import cache

import pandas as pd
import pytest
import sqlalchemy as sa
from scipy.stats import chi2_contingency

from workflows.ticket_escalation.simulation.crm import CrmSimulator, generate_day
from workflows.ticket_escalation.simulation.incidents import (
    DEFAULT_PARAMS,
    Incident,
    parse_incidents,
)
from workflows.ticket_escalation.simulation.vocabulary import (
    CATEGORIES,
    OUTCOME_COLUMNS,
    TICKET_COLUMNS,
)

SEED = 7
DAY = dt.date(2026, 3, 4)  # a Wednesday
BEFORE, AFTER = DAY - dt.timedelta(days=1), DAY + dt.timedelta(days=1)


@cache
def clean(day: dt.date, seed: int = SEED) -> tuple[pd.DataFrame, pd.DataFrame]:
    return generate_day(day, seed)


def gen(day: dt.date, *incidents: Incident) -> tuple[pd.DataFrame, pd.DataFrame]:
    return generate_day(day, SEED, incidents)


# --- determinism and the shape of a clean day --------------------------------------------------


def test_same_seed_and_day_give_identical_frames_whatever_else_was_generated():
    first_t, first_o = generate_day(DAY, SEED)
    for other in (BEFORE, dt.date(2025, 1, 1)):
        generate_day(other, SEED)
    again_t, again_o = generate_day(DAY, SEED)
    pd.testing.assert_frame_equal(first_t, again_t)
    pd.testing.assert_frame_equal(first_o, again_o)


def test_different_days_and_seeds_differ():
    t, _ = clean(DAY)
    assert not t.drop(columns=["ticket_id", "created_at"]).equals(
        clean(AFTER)[0].drop(columns=["ticket_id", "created_at"])
    )
    other_seed, _ = clean(DAY, seed=SEED + 1)
    assert len(other_seed) != len(t) or not other_seed.equals(t)


def test_clean_day_columns_dtypes_and_ranges():
    t, o = clean(DAY)
    assert list(t.columns) == TICKET_COLUMNS
    assert {c: str(d) for c, d in t.dtypes.items()} == {
        "ticket_id": "str",
        "created_at": "datetime64[ns]",
        "customer_id": "str",
        "channel": "str",
        "product": "str",
        "region": "str",
        "plan_tier": "str",
        "priority": "str",
        "account_age_days": "int64",
        "prior_tickets_90d": "int64",
        "message_length": "int64",
        "first_response_minutes": "float64",
        "sentiment": "float64",
        "subject": "str",
    }
    assert t["ticket_id"].is_unique
    assert t["ticket_id"].str.fullmatch(r"T20260304-\d{6}").all()
    assert t["customer_id"].str.fullmatch(r"C\d{7}").all()
    assert t["customer_id"].duplicated().any()  # repeat customers
    start = pd.Timestamp(DAY)
    assert t["created_at"].between(start, start + pd.Timedelta(days=1), inclusive="left").all()
    assert t["created_at"].is_monotonic_increasing
    assert t["created_at"].max() > start + pd.Timedelta(hours=23, minutes=30)
    hours = t["created_at"].dt.hour
    assert hours.between(9, 16).mean() > 2 * hours.isin([0, 1, 2, 3, 4, 5, 22, 23]).mean()
    for col, values in CATEGORIES.items():
        assert set(t[col]) == set(values), col
    assert (t[["account_age_days", "prior_tickets_90d"]] >= 0).all().all()
    assert (t["message_length"] >= 1).all()
    assert (t["first_response_minutes"] >= 0).all()
    assert t["sentiment"].dropna().between(-1, 1).all()
    assert 0.003 < t["sentiment"].isna().mean() < 0.04
    assert t["subject"].str.len().gt(5).all()
    # outcomes: one per ticket, known 2-4 days later
    assert list(o.columns) == OUTCOME_COLUMNS
    assert o["ticket_id"].tolist() == t["ticket_id"].tolist()
    assert set(o["escalated"]) == {0, 1} and str(o["escalated"].dtype) == "int64"
    delay = (o["known_at"] - t["created_at"]).dt.total_seconds() / 86_400
    assert delay.between(2, 4).all() and abs(delay.mean() - 3) < 0.1


def test_label_delay_is_configurable():
    t, o = generate_day(DAY, SEED, label_delay_days=6)
    delay = (o["known_at"] - t["created_at"]).dt.total_seconds() / 86_400
    assert delay.between(5, 7).all()
    pd.testing.assert_frame_equal(t, clean(DAY)[0])
    assert o["escalated"].equals(clean(DAY)[1]["escalated"])


def test_volume_about_2000_a_day_with_weekly_seasonality():
    days = [dt.date(2026, 1, 5) + dt.timedelta(days=i) for i in range(28)]  # 4 whole weeks
    counts = pd.Series({d: len(clean(d)[0]) for d in days})
    assert 1900 < counts.mean() < 2100
    weekend = counts[[d.weekday() >= 5 for d in days]]
    weekday = counts[[d.weekday() < 5 for d in days]]
    assert weekend.max() < weekday.min()
    assert 1250 < weekend.mean() < 1450 and 2150 < weekday.mean() < 2350


def test_a_scaled_desk_has_the_volume_times_the_scale_and_the_same_shapes():
    base, outcomes = generate_day(DAY, SEED)
    big, big_outcomes = generate_day(DAY, SEED, scale=4)
    # Poisson around 4 x 2,250 on a Wednesday: within 5 sd of 9,000.
    assert abs(len(big) - 9000) < 5 * 9000**0.5
    assert big["ticket_id"].is_unique and big["ticket_id"].str.fullmatch(r"T\d{8}-\d{6}").all()
    for column in ("channel", "product", "priority"):
        table = pd.concat([base[column].value_counts(), big[column].value_counts()], axis=1)
        assert chi2_contingency(table.fillna(0).to_numpy()).pvalue > 0.001, column
    ratio = big["message_length"].median() / base["message_length"].median()
    assert 0.9 < ratio < 1.1
    assert abs(big_outcomes["escalated"].mean() - outcomes["escalated"].mean()) < 0.03
    # The default scale is the desk as it was: the same frame, row for row.
    pd.testing.assert_frame_equal(generate_day(DAY, SEED, scale=1)[0], base)


@pytest.mark.parametrize("scale", [0, -1, True, "2", 10_000])
def test_a_scale_that_cannot_be_simulated_is_refused_by_name(scale):
    with pytest.raises(ValueError, match="scale"):
        generate_day(DAY, SEED, scale=scale)


def test_escalation_rate_between_15_and_20_percent():
    days = [dt.date(2026, 1, 5) + dt.timedelta(days=i) for i in range(7)]
    escalated = pd.concat([clean(d)[1]["escalated"] for d in days])
    assert 0.15 <= escalated.mean() <= 0.20


@pytest.mark.parametrize("column", ["channel", "product", "plan_tier", "priority"])
def test_category_shares_are_stationary_between_distant_days(column):
    # a weekday and a weekend day half a year apart
    a, b = clean(dt.date(2026, 1, 7))[0], clean(dt.date(2026, 7, 11))[0]
    table = pd.concat([a[column].value_counts(), b[column].value_counts()], axis=1).fillna(0)
    assert chi2_contingency(table.to_numpy()).pvalue > 0.001


def test_numeric_distributions_are_stationary_between_weekday_and_weekend():
    a, b = clean(dt.date(2026, 1, 7))[0], clean(dt.date(2026, 7, 11))[0]
    for col in ("message_length", "first_response_minutes", "account_age_days"):
        ratio = a[col].median() / b[col].median()
        assert 0.85 < ratio < 1.15, col
    assert abs(a["sentiment"].mean() - b["sentiment"].mean()) < 0.05


# --- incidents ---------------------------------------------------------------------------------


def _same_except(frame: pd.DataFrame, reference: pd.DataFrame, *columns: str) -> None:
    pd.testing.assert_frame_equal(
        frame.drop(columns=list(columns)), reference.drop(columns=list(columns))
    )


def check_schema_rename(t, o, ct, co):
    assert list(t.columns) == [c if c != "message_length" else "msg_len" for c in TICKET_COLUMNS]
    pd.testing.assert_frame_equal(t, ct.rename(columns={"message_length": "msg_len"}))
    pd.testing.assert_frame_equal(o, co)


def check_schema_drop(t, o, ct, co):
    pd.testing.assert_frame_equal(t, ct.drop(columns=["message_length"]))
    pd.testing.assert_frame_equal(o, co)


def check_schema_retype(t, o, ct, co):
    assert str(t["message_length"].dtype) == "str"
    assert (t["message_length"] == ct["message_length"].astype(str) + " chars").all()
    assert re.fullmatch(r"\d+ chars", t["message_length"].iloc[0])
    _same_except(t, ct, "message_length")
    pd.testing.assert_frame_equal(o, co)


def check_volume_drop(t, o, ct, co):
    assert len(t) == len(ct) - round(0.4 * len(ct))
    kept = ct[ct["ticket_id"].isin(t["ticket_id"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(t, kept)  # a subset of the clean rows, in order
    assert o["ticket_id"].tolist() == t["ticket_id"].tolist()


def check_stale_empty(t, o, ct, co):
    assert len(t) == 0 and len(o) == 0
    assert list(t.columns) == list(ct.columns)
    assert t.dtypes.equals(ct.dtypes)


def check_stale_resend(t, o, ct, co):
    pd.testing.assert_frame_equal(t, clean(BEFORE)[0])  # yesterday's ids and timestamps
    assert len(o) == 0


def check_covariate_numeric(t, o, ct, co):
    shift = t["first_response_minutes"] - ct["first_response_minutes"]
    assert shift.min() > 0
    assert abs(shift.median() - ct["first_response_minutes"].std(ddof=0)) < 1
    _same_except(t, ct, "first_response_minutes")
    assert o["ticket_id"].equals(co["ticket_id"]) and o["known_at"].equals(co["known_at"])
    assert o["escalated"].mean() >= co["escalated"].mean()  # slower answers escalate more


def check_covariate_category(t, o, ct, co):
    assert (t["channel"] == "social").mean() == pytest.approx(0.4, abs=1 / len(t))
    assert (ct["channel"] == "social").mean() < 0.1
    moved = t["channel"] != ct["channel"]
    assert (t.loc[moved, "channel"] == "social").all()
    _same_except(t, ct, "channel")


def check_unseen_category(t, o, ct, co):
    assert (t["channel"] == "whatsapp").mean() == pytest.approx(0.15, abs=1 / len(t))
    assert set(t["channel"]) == set(CATEGORIES["channel"]) | {"whatsapp"}
    _same_except(t, ct, "channel")


def check_null_flood(t, o, ct, co):
    assert t["sentiment"].isna().mean() >= 0.9
    kept = t["sentiment"].notna()
    assert t.loc[kept, "sentiment"].equals(ct.loc[kept, "sentiment"])
    _same_except(t, ct, "sentiment")
    pd.testing.assert_frame_equal(o, co)


def check_duplicate_rows(t, o, ct, co):
    extra = round(0.05 * len(ct))
    assert len(t) == len(ct) + extra
    assert t["ticket_id"].duplicated().sum() == extra
    assert t.duplicated().sum() == extra  # whole rows, not just the id
    pd.testing.assert_frame_equal(t.drop_duplicates().reset_index(drop=True), ct)
    pd.testing.assert_frame_equal(o, co)  # one outcome per distinct ticket


def check_concept_drift(t, o, ct, co):
    pd.testing.assert_frame_equal(t, ct)  # inputs exactly as on a clean day
    assert o["ticket_id"].equals(co["ticket_id"]) and o["known_at"].equals(co["known_at"])
    assert not o["escalated"].equals(co["escalated"])
    assert abs(o["escalated"].mean() - co["escalated"].mean()) < 0.04  # the rate hardly moves
    urgent, low = (t["priority"] == "urgent").to_numpy(), (t["priority"] == "low").to_numpy()
    clean_gap = co["escalated"][urgent].mean() - co["escalated"][low].mean()
    drift_gap = o["escalated"][urgent].mean() - o["escalated"][low].mean()
    assert clean_gap > 0.2 and drift_gap < -0.1  # the link flipped


def check_bad_labels(t, o, ct, co):
    pd.testing.assert_frame_equal(t, ct)  # the tickets do not change
    pd.testing.assert_frame_equal(o.iloc[: len(co)], co)  # clean outcomes first, unchanged
    bad = o.iloc[len(co) :].reset_index(drop=True)
    start, end = pd.Timestamp(DAY), pd.Timestamp(AFTER)
    assert len(bad) == 20 + 20 + 10 and bad["known_at"].is_monotonic_increasing
    assert bad["known_at"].between(start, end, inclusive="left").all()
    assert (bad["known_at"] == bad["known_at"].dt.floor("s")).all()  # whole seconds, as stored
    # the clean labels of the tickets a label known on DAY can belong to
    recent = pd.concat([clean(DAY - dt.timedelta(days=k))[1] for k in range(1, 6)] + [co])
    value_of = dict(zip(recent["ticket_id"], recent["escalated"], strict=True))

    unknown = bad[bad["ticket_id"].str.fullmatch(r"T20260304-9\d{5}")]
    assert len(unknown) == 20 and unknown["ticket_id"].is_unique
    assert not set(unknown["ticket_id"]) & set(recent["ticket_id"])
    assert set(unknown["escalated"]) <= {0, 1}

    invalid = bad[~bad["escalated"].isin([0, 1])]
    assert len(invalid) == 10 and set(invalid["escalated"]) <= {-1, 2}
    known_today = recent[recent["known_at"].between(start, end, inclusive="left")]
    assert set(invalid["ticket_id"]) <= set(known_today["ticket_id"])

    duplicate = bad.drop(index=unknown.index.union(invalid.index))
    assert len(duplicate) == 20 and duplicate["ticket_id"].is_unique
    already = recent[recent["known_at"] < start]
    assert set(duplicate["ticket_id"]) <= set(already["ticket_id"])
    assert duplicate["escalated"].tolist() == [value_of[i] for i in duplicate["ticket_id"]]


CASES = [
    ({"kind": "schema_change", "mode": "rename"}, check_schema_rename),
    ({"kind": "schema_change", "mode": "drop"}, check_schema_drop),
    ({"kind": "schema_change", "mode": "retype"}, check_schema_retype),
    ({"kind": "volume_drop", "fraction": 0.4}, check_volume_drop),
    ({"kind": "stale_feed", "mode": "empty"}, check_stale_empty),
    ({"kind": "stale_feed", "mode": "resend"}, check_stale_resend),
    ({"kind": "covariate_shift"}, check_covariate_numeric),
    (
        {"kind": "covariate_shift", "category_column": "channel", "share": 0.4},
        check_covariate_category,
    ),
    ({"kind": "unseen_category"}, check_unseen_category),
    ({"kind": "null_flood"}, check_null_flood),
    ({"kind": "duplicate_rows"}, check_duplicate_rows),
    ({"kind": "concept_drift", "days": 3}, check_concept_drift),
    ({"kind": "bad_labels"}, check_bad_labels),
]


@pytest.mark.parametrize(("spec", "check"), CASES, ids=[c[1].__name__[6:] for c in CASES])
def test_incident_changes_exactly_its_day(spec, check):
    [incident] = parse_incidents([{**spec, "day": DAY.isoformat()}])
    t, o = gen(DAY, incident)
    check(t, o, *clean(DAY))
    for other in (BEFORE, incident.last_day + dt.timedelta(days=1)):
        ot, oo = gen(other, incident)
        pd.testing.assert_frame_equal(ot, clean(other)[0])
        pd.testing.assert_frame_equal(oo, clean(other)[1])


def test_concept_drift_lasts_its_days():
    drift = Incident("concept_drift", DAY, {"days": 3})
    last = DAY + dt.timedelta(days=2)
    t, o = gen(last, drift)
    pd.testing.assert_frame_equal(t, clean(last)[0])
    assert not o["escalated"].equals(clean(last)[1]["escalated"])
    assert (
        drift.last_day == last
        and drift.active_on(last)
        and not drift.active_on(AFTER + dt.timedelta(days=2))
    )


def test_incidents_combine_on_one_day():
    incidents = parse_incidents(
        [
            {"kind": "volume_drop", "day": DAY, "fraction": 0.5},
            {"kind": "schema_change", "day": DAY, "mode": "retype"},
            {"kind": "null_flood", "day": DAY, "column": "subject", "fraction": 1.0},
        ]
    )
    t, o = gen(DAY, *incidents)
    ct = clean(DAY)[0]
    assert len(t) == len(ct) - round(0.5 * len(ct))
    assert t["subject"].isna().all() and t["message_length"].str.endswith(" chars").all()
    assert len(o) == len(t)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"unknown": 3, "duplicate": 0, "invalid": 0}, {"unknown": 3}),
        ({"unknown": 0, "duplicate": 4, "invalid": 0}, {"duplicate": 4}),
        ({"unknown": 0, "duplicate": 0, "invalid": 0}, {}),
    ],
)
def test_bad_labels_adds_exactly_the_rows_asked_for(params, expected):
    _, o = gen(DAY, Incident("bad_labels", DAY, params))
    co = clean(DAY)[1]
    bad = o.iloc[len(co) :]
    unknown = bad["ticket_id"].str.startswith("T20260304-9")
    assert len(bad) == sum(expected.values())
    assert int(unknown.sum()) == expected.get("unknown", 0)
    assert int((~unknown).sum()) == expected.get("duplicate", 0)


def test_bad_labels_asks_for_more_invalid_rows_than_labels_arrive():
    _, o = gen(DAY, Incident("bad_labels", DAY, {"unknown": 0, "duplicate": 0, "invalid": 10_000}))
    start, end = pd.Timestamp(DAY), pd.Timestamp(AFTER)
    recent = pd.concat([clean(DAY - dt.timedelta(days=k))[1] for k in range(0, 6)])
    n_known_today = int(recent["known_at"].between(start, end, inclusive="left").sum())
    bad = o.iloc[len(clean(DAY)[1]) :]
    assert len(bad) == n_known_today > 1000  # one invalid copy of every label known on DAY
    assert bad["ticket_id"].is_unique and not bad["escalated"].isin([0, 1]).any()


def test_two_bad_labels_incidents_on_one_day_add_up():
    small = {"unknown": 2, "duplicate": 3, "invalid": 1}
    _, o = gen(DAY, Incident("bad_labels", DAY, small), Incident("bad_labels", DAY, small))
    assert len(o) == len(clean(DAY)[1]) + 12


# --- incident specs ----------------------------------------------------------------------------


def test_defaults_are_filled_in():
    assert Incident("volume_drop", DAY).params == {"fraction": 0.5}
    assert Incident("schema_change", DAY).params == {
        "mode": "rename",
        "column": "message_length",
        "new_name": "msg_len",
    }
    assert Incident("schema_change", DAY, {"mode": "retype"}).params["template"] == "{value} chars"
    assert Incident("stale_feed", DAY).params == {"mode": "empty"}
    assert Incident("covariate_shift", DAY).params == {"column": "first_response_minutes", "k": 1.0}
    assert Incident("covariate_shift", DAY, {"share": 0.3}).params == {
        "category_column": "channel",
        "category": "social",
        "share": 0.3,
    }
    assert Incident("unseen_category", DAY).params == DEFAULT_PARAMS["unseen_category"]
    assert Incident("null_flood", DAY).params == {"column": "sentiment", "fraction": 0.9}
    assert Incident("duplicate_rows", DAY).params == {"fraction": 0.05}
    assert Incident("concept_drift", DAY).params == {"strength": 1.0, "days": 30}
    assert Incident("bad_labels", DAY).params == {"unknown": 20, "duplicate": 20, "invalid": 10}
    assert Incident("bad_labels", DAY, {"invalid": 0}).params["invalid"] == 0


def test_parse_incidents_accepts_yaml_style_entries():
    parsed = parse_incidents(
        [
            {"kind": "volume_drop", "day": "2026-03-05", "fraction": 0.4},
            {"kind": "null_flood", "day": dt.date(2026, 3, 6), "params": {"fraction": 0.5}},
        ]
    )
    assert parsed == [
        Incident("volume_drop", dt.date(2026, 3, 5), {"fraction": 0.4}),
        Incident("null_flood", dt.date(2026, 3, 6), {"column": "sentiment", "fraction": 0.5}),
    ]
    assert parse_incidents(None) == [] and parse_incidents([]) == []
    assert len({parsed[0], parsed[1]}) == 2  # hashable


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"kind": "meteor_strike", "day": "2026-03-05"}, "unknown incident kind 'meteor_strike'"),
        (
            {"kind": "volume_drop", "day": "2026-03-05", "fractoin": 0.4},
            "unknown param(s) ['fractoin']",
        ),
        ({"kind": "volume_drop", "day": "2026-03-05", "fraction": 1.5}, "fraction must be between"),
        (
            {"kind": "volume_drop", "day": "2026-03-05", "fraction": "half"},
            "fraction must be a number",
        ),
        ({"kind": "volume_drop", "day": "next tuesday"}, "day must be a date"),
        ({"kind": "volume_drop"}, "needs 'kind' and 'day'"),
        ({"kind": "stale_feed", "day": "2026-03-05", "mode": "late"}, "mode must be one of"),
        ({"kind": "schema_change", "day": "2026-03-05", "column": "nope"}, "column must be one of"),
        (
            {"kind": "schema_change", "day": "2026-03-05", "mode": "drop", "new_name": "x"},
            "does not apply",
        ),
        (
            {"kind": "unseen_category", "day": "2026-03-05", "value": "email"},
            "must be a new channel",
        ),
        (
            {"kind": "covariate_shift", "day": "2026-03-05", "category_column": "product"},
            "category must be one of",
        ),
        (
            {"kind": "covariate_shift", "day": "2026-03-05", "k": 2, "category": "chat"},
            "not both",
        ),
        (
            {"kind": "covariate_shift", "day": "2026-03-05", "column": "channel"},
            "column must be one of",
        ),
        ({"kind": "concept_drift", "day": "2026-03-05", "days": 0}, "days must be an int >= 1"),
        (
            {"kind": "bad_labels", "day": "2026-03-05", "duplicates": 3},
            "unknown param(s) ['duplicates']",
        ),
        ({"kind": "bad_labels", "day": "2026-03-05", "unknown": -1}, "unknown must be an int"),
        ({"kind": "bad_labels", "day": "2026-03-05", "invalid": 2.5}, "invalid must be an int"),
        ({"kind": "bad_labels", "day": "2026-03-05", "duplicate": True}, "duplicate must be an"),
        (
            {"kind": "bad_labels", "day": "2026-03-05", "unknown": 10_001},
            "between 0 and 10000",
        ),
    ],
)
def test_bad_specs_raise_a_clear_value_error(entry, message):
    with pytest.raises(ValueError, match=re.escape(message)) as err:
        parse_incidents([{"kind": "volume_drop", "day": "2026-03-01"}, entry])
    assert "incident #1" in str(err.value)


# --- writing to a database ---------------------------------------------------------------------


def test_simulator_writes_batches_outcomes_and_replaces_a_rewritten_day(tmp_path):
    url = f"sqlite:///{tmp_path / 'source.db'}"
    drop = Incident("volume_drop", AFTER, {"fraction": 0.5})
    with CrmSimulator(url, seed=SEED) as sim:
        written = sim.write_days(BEFORE, AFTER, [drop])
        assert list(written) == [BEFORE, DAY, AFTER]
        assert written[DAY] == len(clean(DAY)[0])
        assert written[AFTER] == len(clean(AFTER)[0]) - round(0.5 * len(clean(AFTER)[0]))

        engine = sa.create_engine(url)
        batches = pd.read_sql("SELECT * FROM crm_batches ORDER BY batch_date", engine)
        assert batches["batch_date"].tolist() == [d.isoformat() for d in (BEFORE, DAY, AFTER)]
        assert batches["table_name"].tolist() == [
            "crm_tickets_20260303",
            "crm_tickets_20260304",
            "crm_tickets_20260305",
        ]
        assert batches["row_count"].tolist() == list(written.values())

        # re-landing a day replaces its table, its batch row and its outcomes
        assert sim.write_day(AFTER) == len(clean(AFTER)[0])
        batches = pd.read_sql("SELECT * FROM crm_batches", engine)
        assert len(batches) == 3
        assert batches.set_index("batch_date").loc[AFTER.isoformat(), "row_count"] == len(
            clean(AFTER)[0]
        )
        n_rows = pd.read_sql("SELECT COUNT(*) AS n FROM crm_tickets_20260305", engine)["n"].item()
        assert n_rows == len(clean(AFTER)[0])

        everything = sim.outcomes_known_by(dt.datetime(2027, 1, 1))
        assert len(everything) == sum(len(clean(d)[1]) for d in (BEFORE, DAY, AFTER))
        assert everything["ticket_id"].is_unique
        assert {c: str(d) for c, d in everything.dtypes.items()} == {
            "ticket_id": "str",
            "escalated": "int64",
            "known_at": "datetime64[ns]",
        }
        cutoff = dt.datetime(2026, 3, 6, 12)
        known = sim.outcomes_known_by(cutoff)
        assert 0 < len(known) < len(everything)
        assert (known["known_at"] <= cutoff).all() and known["known_at"].is_monotonic_increasing
        expected = everything[everything["known_at"] <= cutoff]
        assert set(known["ticket_id"]) == set(expected["ticket_id"])
        # stored known_at is whole seconds, so a cutoff mid-second is exact
        one = known.iloc[-1]
        at = one["known_at"].to_pydatetime()
        assert one["ticket_id"] in set(sim.outcomes_known_by(at)["ticket_id"])
        assert one["ticket_id"] not in set(
            sim.outcomes_known_by(at - dt.timedelta(seconds=1))["ticket_id"]
        )
        engine.dispose()


def test_outcomes_known_by_on_an_empty_source(tmp_path):
    with CrmSimulator(f"sqlite:///{tmp_path / 'empty.db'}") as sim:
        out = sim.outcomes_known_by(dt.datetime(2026, 1, 1))
    assert len(out) == 0 and list(out.columns) == OUTCOME_COLUMNS
    assert str(out["known_at"].dtype) == "datetime64[ns]"


def test_simulator_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="seed"):
        CrmSimulator(f"sqlite:///{tmp_path / 'x.db'}", seed=-1)
    with pytest.raises(ValueError, match="label_delay_days"):
        CrmSimulator(f"sqlite:///{tmp_path / 'x.db'}", label_delay_days=-2)
    with pytest.raises(TypeError, match="Incident"):
        generate_day(DAY, SEED, [{"kind": "volume_drop", "day": DAY}])


def test_a_failed_write_leaves_the_day_as_it_was(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'source.db'}"
    with CrmSimulator(url) as sim:
        sim.write_day(DAY)
        before = pd.read_sql("SELECT * FROM crm_tickets_20260304", sim.engine)

        def boom(*args, **kwargs):
            raise RuntimeError("disk on fire")

        monkeypatch.setattr(sa, "insert", boom)
        with pytest.raises(RuntimeError, match="disk on fire"):
            sim.write_day(DAY, [Incident("stale_feed", DAY)])
        after = pd.read_sql("SELECT * FROM crm_tickets_20260304", sim.engine)
    pd.testing.assert_frame_equal(before, after)
    assert len(after) == len(clean(DAY)[0])


# --- bad labels in the database ----------------------------------------------------------------


def _outcome_table(sim: CrmSimulator) -> pd.DataFrame:
    query = "SELECT ticket_id, escalated, known_at FROM crm_outcomes"
    rows = pd.read_sql(query, sim.engine)
    return rows.sort_values(["known_at", "ticket_id", "escalated"]).reset_index(drop=True)


def test_bad_labels_are_written_on_their_day_and_replaced_with_it(tmp_path):
    bad = Incident("bad_labels", DAY)
    first = DAY - dt.timedelta(days=6)
    written = [first + dt.timedelta(days=i) for i in range(8)]  # .. AFTER
    with CrmSimulator(f"sqlite:///{tmp_path / 'source.db'}", seed=SEED) as sim:
        sim.write_days(first, AFTER, [bad])
        table = _outcome_table(sim)
        lo, hi = DAY.isoformat(), AFTER.isoformat()
        known_on_day = table[(table["known_at"] >= lo) & (table["known_at"] < hi)]
        clean_rows = sum(
            int(clean(d)[1]["known_at"].between(pd.Timestamp(lo), pd.Timestamp(hi), "left").sum())
            for d in written
        )
        assert len(known_on_day) == clean_rows + 50
        assert len(table) == sum(len(clean(d)[1]) for d in written) + 50
        stored_bad = gen(DAY, bad)[1].iloc[len(clean(DAY)[1]) :]
        assert set(stored_bad["ticket_id"]) <= set(known_on_day["ticket_id"])

        # re-landing the day, or the days whose tickets got a second label, changes nothing
        sim.write_day(DAY, [bad])
        pd.testing.assert_frame_equal(_outcome_table(sim), table)
        copied_days = {
            dt.datetime.strptime(i[1:9], "%Y%m%d").date() for i in stored_bad["ticket_id"]
        }
        assert len(copied_days - {DAY}) >= 2
        for day in sorted(copied_days - {DAY}):
            sim.write_day(day, [bad])
        pd.testing.assert_frame_equal(_outcome_table(sim), table)

        # re-landing the day without the incident removes exactly its bad rows
        sim.write_day(DAY)
        without = _outcome_table(sim)
        assert len(without) == len(table) - 50
        assert without["escalated"].isin([0, 1]).all() and without["ticket_id"].is_unique
        sim.write_day(DAY, [bad])
        pd.testing.assert_frame_equal(_outcome_table(sim), table)


def test_a_second_label_is_written_only_if_the_first_is_in_the_database(tmp_path):
    bad = Incident("bad_labels", DAY)
    with CrmSimulator(f"sqlite:///{tmp_path / 'source.db'}", seed=SEED) as sim:
        sim.write_day(DAY, [bad])  # the earlier days (and their labels) never landed
        table = _outcome_table(sim)
        assert len(table) == len(clean(DAY)[1]) + 20 + 10  # unknown and invalid, no copies
        sim.write_day(DAY, [bad])
        pd.testing.assert_frame_equal(_outcome_table(sim), table)
