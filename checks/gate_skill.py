"""Skill: a challenger must do better than answers that need no model.

A classifier of a rare outcome can clear an accuracy floor by never saying yes, and a champion
that is itself near the majority class is easy to "beat". So the gate also compares the
challenger with two baselines on the same test set, on its primary metric, with the same paired
bootstrap and confidence as the superiority test:

* ``baseline:fallback``: the workflow's fallback rule (what serves when the model is off);
* ``baseline:majority``: a classifier's majority class, the same answer for everyone.

Either baseline's interval of the difference must lie above 0. A workflow without a fallback
rule, or a task without a majority answer (a regression: its tolerance-based task success is
already judged against the champion), is "not judged" there; that does not block.
"""

from __future__ import annotations

from collections.abc import Mapping

from checks.bootstrap import Difference
from checks.gate import Criterion

BASELINES = {
    "fallback": "the workflow's fallback rule",
    "majority": "the majority class for every example",
}


def beat_baselines(
    metric: str, differences: Mapping[str, Difference | None], confidence: float
) -> list[Criterion]:
    """One criterion per baseline in ``BASELINES``: ``differences[name]`` is challenger -
    baseline on ``metric`` (positive = challenger better), None when there is no such baseline."""
    out = []
    level = f"{confidence:.0%}"
    for name, what in BASELINES.items():
        crit = f"baseline:{name}"
        d = differences.get(name)
        if d is None:
            out.append(Criterion(crit, None, 0.0, None, f"not judged: no {what} declared"))
            continue
        if d.low is None or d.diff is None:
            why = d.reason or "undefined"
            out.append(Criterion(crit, None, 0.0, False, f"{metric} vs {what}: not shown: {why}"))
            continue
        interval = f"{d.diff:+.3f} [{d.low:+.3f}, {d.high:+.3f}]"
        if d.low > 0:
            text = f"{metric} better than {what} by {interval}, {level} interval above 0"
        else:
            text = (
                f"{metric} not better than {what} with {level} confidence: {interval} "
                "reaches 0 or below"
            )
        out.append(Criterion(crit, d.low, 0.0, d.low > 0, text))
    return out
