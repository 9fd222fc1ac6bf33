"""The champion and the challenger on the same traffic, and the rollback triggers judged on it.

Both models score every ticket during a rollout, so every labelled ticket is a paired
observation: the comparison needs no luck in how the arms were split, and a 1% canary is judged
on all the traffic, not on its 20 tickets a day. What the arms *served* is reported beside it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from checks.policy import RolloutRules
from checks.rollout_stats import (
    agreement_rate,
    error_rate_trigger,
    paired_difference,
    task_success_vs_baseline,
    task_success_vs_champion,
    wilson,
)

LABEL = "escalated"


def _summary(scores: np.ndarray, threshold: float) -> dict:
    scores = scores[np.isfinite(scores)]
    if not len(scores):
        return {"n": 0, "mean_score": None, "positive_rate": None, "histogram": []}
    counts, _ = np.histogram(scores, bins=10, range=(0.0, 1.0))
    return {
        "n": int(len(scores)),
        "mean_score": float(scores.mean()),
        "positive_rate": float((scores >= threshold).mean()),
        "histogram": [int(c) for c in counts],  # ten bins of 0.1
    }


def _rate(rate) -> dict:
    return {"n": rate.n, "value": rate.value, "low": rate.low, "high": rate.high}


def compare_on_traffic(
    rollout_rows: pd.DataFrame,
    window_rows: pd.DataFrame,
    labels: pd.DataFrame,
    record: dict,
    rules: RolloutRules,
    threshold: float,
    margin: float,
) -> dict:
    """`rollout_rows`: the predictions this rollout scored so far; `window_rows`: the newest
    `trigger_window_days` of them; `labels`: clean (ticket_id, escalated) known so far.

    Returns the comparison (agreement, score distributions, task success per arm, the paired
    test), every trigger's result, the reasons of those that fired, and whether the promotion
    rule is met (`proven`: True, False, or None when too few labelled rows)."""
    agreed = record["triggers"]
    ok = ~rollout_rows["challenger_error"].to_numpy(dtype=bool)
    champion_says = rollout_rows["champion_score"].to_numpy(dtype="float64") >= threshold
    challenger_says = rollout_rows["challenger_score"].to_numpy(dtype="float64") >= threshold
    labelled, right = _right(rollout_rows, labels, threshold)
    champion_right, challenger_right, served_right = (
        right["champion_score"],
        right["challenger_score"],
        right["score"],
    )
    arms = {
        arm: _rate(wilson(int(served_right[m].sum()), int(m.sum()), rules.confidence))
        for arm in sorted(set(labelled["arm"]))
        for m in [labelled["arm"].to_numpy() == arm]
    }
    paired = paired_difference(challenger_right, champion_right, rules.confidence)

    _, window_right = _right(window_rows, labels, threshold)
    w_challenger, w_champion = window_right["challenger_score"], window_right["champion_score"]
    triggers = [
        error_rate_trigger(
            window_rows["challenger_error"].to_numpy(dtype=bool),
            agreed["max_error_rate"],
            rules.min_scored_rows,
        ),
        task_success_vs_baseline(
            w_challenger,
            agreed["baseline_task_success"],
            agreed["task_success_drop_points"],
            agreed["confidence"],
            rules.min_labelled_rows,
        ),
        task_success_vs_champion(
            w_challenger,
            w_champion,
            agreed["task_success_drop_points"],
            agreed["confidence"],
            rules.min_labelled_rows,
        ),
    ]
    proven, proof = _proof(paired, agreed["promotion"], margin, rules.min_labelled_rows)
    return {
        "rollout_id": record["id"],
        "version": record["version"],
        "champion_version": record["champion_version"],
        "scored_rows": int(len(rollout_rows)),
        "labelled_rows": int(len(labelled)),
        "agreement_rate": agreement_rate(champion_says[ok], challenger_says[ok]),
        "scores": {
            "champion": _summary(
                rollout_rows["champion_score"].to_numpy(dtype="float64"), threshold
            ),
            "challenger": _summary(
                rollout_rows["challenger_score"].to_numpy(dtype="float64"), threshold
            ),
        },
        "task_success_by_arm": arms,
        "paired": {
            "n": paired.n,
            "challenger": paired.challenger,
            "champion": paired.champion,
            "difference": paired.difference,
            "low": paired.low,
            "high": paired.high,
            "p_value": paired.p_value,
        },
        "triggers": [
            {
                "name": t.name,
                "fired": t.fired,
                "judged": t.judged,
                "value": t.value,
                "bound": t.bound,
                "threshold": t.threshold,
                "n": t.n,
                "reason": t.reason,
            }
            for t in triggers
        ],
        "fired": [t.reason for t in triggers if t.fired],
        "proven": proven,
        "proof": proof,
    }


def _right(
    rows: pd.DataFrame, labels: pd.DataFrame, threshold: float
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """The labelled rows both models scored, and per score column whether its decision was
    right."""
    scored = rows[~rows["challenger_error"].to_numpy(dtype=bool)]
    labelled = scored.merge(labels[["ticket_id", LABEL]], on="ticket_id", how="inner")
    y = labelled[LABEL].to_numpy(dtype="int64") == 1
    right = {
        column: (labelled[column].to_numpy(dtype="float64") >= threshold) == y
        for column in ("score", "champion_score", "challenger_score")
    }
    return labelled, right


def _proof(paired, rule: str, margin: float, min_rows: int) -> tuple[bool | None, str]:
    if paired.n < min_rows or paired.low is None:
        return None, f"{paired.n} paired labelled tickets, {min_rows} needed"
    line = 0.0 if rule == "better" else -margin
    text = (
        f"task success {paired.challenger:.3f} vs {paired.champion:.3f} on the same "
        f"{paired.n:,} tickets, difference {100 * paired.difference:+.1f} points "
        f"[{100 * paired.low:+.1f}, {100 * paired.high:+.1f}]"
    )
    verdict = paired.low > line
    need = "above 0" if rule == "better" else f"above -{100 * margin:.1f} points"
    return verdict, f"{text}: the interval {'lies' if verdict else 'does not lie'} {need}"
