"""The weekly judgement: has task success dropped too far, against the baseline or last week?"""

from dataclasses import dataclass


@dataclass(frozen=True)
class DropJudgement:
    passed: bool
    drops: dict[str, float]  # percentage points lost, by what it is compared with
    reason: str


def judge_task_success_drop(
    now: float, baseline: float, previous_week: float | None, allowed_points: float
) -> DropJudgement:
    """Fails when task success is more than `allowed_points` percentage points below the
    baseline recorded at promotion, or below last week's (when there was a last week)."""
    drops = {"baseline": 100 * (baseline - now)}
    if previous_week is not None:
        drops["last week"] = 100 * (previous_week - now)
    passed = max(drops.values()) <= allowed_points
    text = ", ".join(f"{d:.1f} points vs {k}" for k, d in drops.items())
    reason = f"task success {now:.3f}; drop {text} (allowed {allowed_points:g} points)"
    return DropJudgement(passed, drops, reason)


def first_day_below(daily: dict[str, float], floor: float) -> str | None:
    """The first day of the unbroken run of days below `floor` that lasts to the newest day
    (ISO), or None when the newest day is not below: where the drop that persists most likely
    began, so a retraining after it need not learn from the old world. An earlier dip the
    days recovered from (a covariate shift of a few days) does not move it back."""
    start = None
    for day in sorted(daily):
        if daily[day] < floor:
            start = start or day
        else:
            start = None
    return start
