"""The champion's review age, judged as a plain function."""

from datetime import UTC, datetime, timedelta

import pytest

from checks.reviews import review_age

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


def judge(**given):
    args = {
        "last_review_at": None,
        "last_reviewer": None,
        "champion_since": None,
        "now": NOW,
        "max_age_days": 90,
    }
    return review_age("4", **{**args, **given})


def test_a_recent_review_passes_and_an_old_one_warns_by_name():
    fresh = judge(last_review_at=(NOW - timedelta(days=89)).isoformat(), last_reviewer="ana")
    assert fresh.passed and round(fresh.age_days) == 89 and "ana" in fresh.description
    old = judge(last_review_at=(NOW - timedelta(days=91)).isoformat(), last_reviewer="ana")
    assert not old.passed and round(old.age_days) == 91
    assert "over the policy's 90" in old.description and "afterlaunch review 4" in old.description


def test_the_newest_review_counts_not_the_promotion():
    # Promoted long ago, reviewed last week: fine.
    age = judge(
        last_review_at=(NOW - timedelta(days=7)).isoformat(),
        champion_since=(NOW - timedelta(days=400)).isoformat(),
    )
    assert age.passed and round(age.age_days) == 7


def test_a_champion_never_reviewed_counts_from_its_promotion():
    young = judge(champion_since=(NOW - timedelta(days=30)).isoformat())
    assert young.passed and "never reviewed" in young.description
    stale = judge(champion_since=(NOW - timedelta(days=120)).isoformat())
    assert not stale.passed and round(stale.age_days) == 120


def test_no_champion_passes_and_an_unknown_start_warns():
    assert review_age(
        None, last_review_at=None, last_reviewer=None, champion_since=None, now=NOW,
        max_age_days=90,
    ).passed  # fmt: skip
    unknown = judge()
    assert not unknown.passed and "no recorded review" in unknown.description


@pytest.mark.bad_input
def test_a_review_from_the_future_or_a_zero_limit_is_refused():
    with pytest.raises(ValueError, match="lies after now"):
        judge(last_review_at=(NOW + timedelta(days=2)).isoformat())
    with pytest.raises(ValueError, match="at least 1"):
        judge(max_age_days=0)
