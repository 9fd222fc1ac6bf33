"""Volume: a partition's row count against the trailing median of the same weekday."""

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
        return VolumeResult(
            "ok", count, expected, None, recent, f"{count} rows; the usual count is 0"
        )
    drop = 1.0 - count / expected
    if drop >= rules.error_drop:
        severity = "error"
    elif drop >= rules.warn_drop:
        severity = "warn"
    else:
        severity = "ok"
    direction = "below" if drop >= 0 else "above"
    return VolumeResult(
        severity,
        count,
        expected,
        drop,
        recent,
        f"{count} rows, {abs(drop):.1%} {direction} the median {expected:.0f} of the last "
        f"{len(recent)} same weekdays (warn at {rules.warn_drop:.0%} drop, "
        f"error at {rules.error_drop:.0%})",
    )
