"""Whether the champion's registry review is recent enough.

A model that serves for months unchanged is still a decision someone owns: the registry review
(`afterlaunch review VERSION --note ...`) is that person looking at it again. The check asks
one question: how long ago did a person last review the version that serves now? A champion
never reviewed counts from the day it became champion (the gate's yes was the last look at
it). Plain functions, no Dagster.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


@dataclass(frozen=True)
class ReviewAge:
    """The answer: `passed`, a sentence for the owner, and the numbers behind it."""

    passed: bool
    description: str
    age_days: float | None  # None: no champion
    since: str | None  # the review's (or, never reviewed, the promotion's) time, ISO 8601


def review_age(
    champion: str | None,
    *,
    last_review_at: str | None,
    last_reviewer: str | None,
    champion_since: str | None,
    now: datetime,
    max_age_days: int,
) -> ReviewAge:
    """Judge the champion's last review against `max_age_days` (registry.review_max_age_days).

    `last_review_at`: the newest recorded review of `champion` (None: never reviewed);
    `champion_since`: when it became champion (None: unknown, e.g. no history kept)."""
    if max_age_days < 1:
        raise ValueError(f"max_age_days must be at least 1, got {max_age_days}")
    if champion is None:
        return ReviewAge(True, "no champion serves: nothing to review", None, None)
    now = _aware(now)
    if last_review_at is not None:
        since, what = last_review_at, f"last reviewed by {last_reviewer or 'someone'}"
    elif champion_since is not None:
        since, what = champion_since, "never reviewed since it became champion"
    else:
        return ReviewAge(
            False,
            f"champion {champion} has no recorded review and no record of when it became "
            f"champion: review it (afterlaunch review {champion} --note ...)",
            None,
            None,
        )
    moment = _aware(datetime.fromisoformat(since))
    if moment > now + timedelta(minutes=5):
        raise ValueError(f"the review time {since} of champion {champion} lies after now ({now})")
    age = (now - moment) / timedelta(days=1)
    passed = age <= max_age_days
    verdict = "within" if passed else "over"
    description = (
        f"champion {champion} {what} {age:.0f} days ago ({since[:10]}), {verdict} the "
        f"policy's {max_age_days} (registry.review_max_age_days)"
    )
    if not passed:
        description += f": review it (afterlaunch review {champion} --note ...)"
    return ReviewAge(passed, description, age, since)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
