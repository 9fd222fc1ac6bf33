"""Whether a gate verdict may still be acted on.

A verdict compares two models on one test set at one moment. Once the champion it was judged
against no longer serves, the test set changed, too much time passed, or its own canary was
rolled back on live traffic, it no longer answers the question "should this version replace
the champion that serves now?", and promoting on it would be acting on someone else's decision.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

from checks.rollout import is_active


def verdict_problem(
    evaluation: dict,
    *,
    champion: str | None,
    test_set: dict | None,
    now: datetime,
    max_age_days: int,
    rollouts: Sequence[dict] = (),
) -> str | None:
    """One sentence naming why `evaluation` is stale, or None when it may be acted on.

    `champion`: the version behind @champion now (None: no champion); `test_set`: the identity
    (`version`, `sha256`) of the test set stored now (None: none drawn); `rollouts`: the rollout
    records of the evaluated version, oldest first. The age counts to `now`, or, while a
    rollout of this version against this champion is in progress, to that rollout's start: the
    verdict was fresh when the rollout admitted it, and the canary has judged it on traffic
    since (a long canary must not outlive the verdict that started it)."""
    version = evaluation["challenger_version"]
    judged = evaluation.get("champion_version")
    if judged != champion:
        return (
            f"version {version} was judged against champion {_named(judged)} but the champion "
            f"is {_named(champion)}: evaluate it again against the current champion"
        )
    recorded = evaluation["test_set"]
    if test_set is None:
        return f"version {version} was judged on test set v{recorded['version']}; none is stored"
    if (recorded["version"], recorded["sha256"]) != (test_set["version"], test_set["sha256"]):
        return (
            f"version {version} was judged on test set v{recorded['version']}/sha "
            f"{recorded['sha256'][:12]} but the current test set is v{test_set['version']}/sha "
            f"{test_set['sha256'][:12]}: evaluate it again on the current test set"
        )
    made = evaluation.get("evaluated_at")
    if not made:
        return (
            f"version {version}'s verdict records no time (it was made before verdicts were "
            "dated): evaluate it again"
        )
    made_at = _aware(datetime.fromisoformat(made))
    for record in rollouts:
        ended = record.get("ended")
        if record["state"] != "rolled_back" or not ended:
            continue
        if date.fromisoformat(ended) >= made_at.date():
            return (
                f"version {version}'s rollout {record['id']} was rolled back on {ended} "
                f"({record['events'][-1]['reason']}), after this verdict: what the canary saw on "
                "traffic outranks the test set"
            )
    admitted, since = now, "ago"
    running = [r for r in rollouts if is_active(r) and r["champion_version"] == champion]
    if running:
        started = date.fromisoformat(running[-1]["started"])
        admitted, since = datetime.combine(started, time(), UTC), "before its rollout started"
    age = admitted - made_at
    if age > timedelta(days=max_age_days):
        return (
            f"version {version}'s verdict was made {age / timedelta(days=1):.1f} days {since}, "
            f"the policy allows {max_age_days} (gate.verdict_max_age_days): evaluate it again"
        )
    return None


def _named(version: str | None) -> str:
    return version if version is not None else "none"


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
