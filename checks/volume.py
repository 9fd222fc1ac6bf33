"""Volume: a partition's row count against the trailing median of the same weekday, both ways.

A drop is judged as the fraction below the median (a feed that lost rows); a rise as the
ratio over it (a replayed, doubled or runaway export).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from checks.policy import VolumeRules


@dataclass(frozen=True)
class VolumeResult:
    severity: str  # "ok" | "warn" | "error" | "no_history"
    count: int
    expected: float | None
    drop: float | None  # fraction below the expected count (negative: above)
    history: tuple[int, ...]
    reason: str
    rise: float | None = None  # count / expected (None: no expected count to divide by)


def _level(value: float, warn: float, error: float) -> str:
    return "error" if value >= error else "warn" if value >= warn else "ok"


def judge_volume(count: int, history: Sequence[int], rules: VolumeRules) -> VolumeResult:
    """`history` holds the counts of earlier partitions on the same weekday, newest first.

    Weekly seasonality is why the comparison is with the same weekday: a Sunday is not a
    drop from a Monday.
    """
    recent = tuple(int(c) for c in history[: rules.history_weeks])
    if len(recent) < rules.min_history:
        return VolumeResult(
            "no_history",
            count,
            None,
            None,
            recent,
            f"{count} rows; only {len(recent)} earlier same-weekday partitions, "
            f"{rules.min_history} needed to judge",
        )
    expected = float(statistics.median(recent))
    if expected == 0:
        # No ratio to judge: rows where there are usually none are worth a look, not a stop.
        severity = "warn" if count else "ok"
        return VolumeResult(
            severity, count, expected, None, recent, f"{count} rows; the usual count is 0"
        )
    drop = 1.0 - count / expected
    rise = count / expected
    if drop >= 0:
        severity = _level(drop, rules.warn_drop, rules.error_drop)
        judged = (
            f"{drop:.1%} below the median {expected:.0f} of the last {len(recent)} same "
            f"weekdays (warn at {rules.warn_drop:.0%} drop, error at {rules.error_drop:.0%})"
        )
    else:
        severity = _level(rise, rules.warn_rise, rules.error_rise)
        judged = (
            f"{rise:.2f} times the median {expected:.0f} of the last {len(recent)} same "
            f"weekdays (warn at {rules.warn_rise:g}x, error at {rules.error_rise:g}x)"
        )
    return VolumeResult(severity, count, expected, drop, recent, f"{count} rows, {judged}", rise)
