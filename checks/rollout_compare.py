"""The champion and the challenger on the same traffic, and the rollback triggers judged on it.

Both models score every row during a rollout, so every labelled row is a paired observation:
the comparison needs no luck in how the arms were split, and a 1% canary is judged on all the
traffic, not on its 20 rows a day. What the arms *served* is reported beside it. Right and
wrong come from the workflow's task (`task.correct`), so a classifier and a regression are
compared the same way.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from checks.monitoring import thresholds
from checks.policy import RolloutRules
from checks.rollout_stats import (
    agreement_rate,
    error_rate_trigger,
    paired_difference,
    task_success_vs_baseline,
    task_success_vs_champion,
    wilson,
)


def _summary(scores: np.ndarray, task, edges: list[float], param=None) -> dict:
    keep = np.isfinite(scores)
    scores = scores[keep]
    if not len(scores):
        return {"n": 0, "mean_score": None, "positive_rate": None, "histogram": [], "edges": edges}
    counts, _ = np.histogram(np.clip(scores, edges[0], edges[-1]), bins=np.asarray(edges))
    decided = np.asarray(task.decide(scores, None if param is None else param[keep]))
    return {
        "n": int(len(scores)),
        "mean_score": float(scores.mean()),
        "positive_rate": float(decided.mean()) if decided.dtype == bool else None,
        "histogram": [int(c) for c in counts],
        "edges": edges,
    }


def _edges(scores: np.ndarray, task) -> list[float]:
    """Shared bins for both models' histograms (the task's output bins on the champion's)."""
    finite = scores[np.isfinite(scores)]
    edges = task.output_profile(finite)["edges"] if len(finite) else [0.0, 1.0]
    edges = [float(e) for e in edges]
    if not np.isfinite(edges[0]):
        edges[0] = float(finite.min()) if len(finite) else 0.0
    if not np.isfinite(edges[-1]):
        edges[-1] = float(finite.max()) if len(finite) else 1.0
    return edges


def _rate(rate) -> dict:
    return {"n": rate.n, "value": rate.value, "low": rate.low, "high": rate.high}


def compare_on_traffic(
    rollout_rows: pd.DataFrame,
    window_rows: pd.DataFrame,
    labels: pd.DataFrame,
    record: dict,
    rules: RolloutRules,
    task,
    margin: float,
    id_column: str,
    label_column: str,
) -> dict:
    """`rollout_rows`: the predictions this rollout scored so far; `window_rows`: the newest
    `trigger_window_days` of them; `labels`: clean (id, label) rows known so far; `task`:
    the workflow's task (decide, correct, output_profile).

    Returns the comparison (agreement, score distributions, task success per arm, the paired
    test), every trigger's result, the reasons of those that fired, and whether the promotion
    rule is met (`proven`: True, False, or None when too few labelled rows)."""
    agreed = record["triggers"]
    ok = ~rollout_rows["challenger_error"].to_numpy(dtype=bool)
    champion_out = rollout_rows["champion_score"].to_numpy(dtype="float64")
    challenger_out = rollout_rows["challenger_score"].to_numpy(dtype="float64")
    columns = (id_column, label_column)
    labelled, right = _right(rollout_rows, labels, task, columns)
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

    _, window_right = _right(window_rows, labels, task, columns)
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
    if rules.label_free_only:
        # The canary ends before its labels can arrive (policy `rollout.label_free_only`):
        # it is judged on what needs no label, and labels judge the new champion afterwards.
        triggers = triggers[:1]
        proven = not triggers[0].fired
        proof = (
            "label-free rollout: the error-rate trigger is quiet; task success is judged by "
            "the weekly evaluation once the labels arrive"
            if proven
            else "label-free rollout: the error-rate trigger fired"
        )
    else:
        proven, proof = _proof(paired, agreed["promotion"], margin, rules.min_labelled_rows)
    edges = _edges(champion_out, task)
    return {
        "rollout_id": record["id"],
        "version": record["version"],
        "champion_version": record["champion_version"],
        "scored_rows": int(len(rollout_rows)),
        "labelled_rows": int(len(labelled)),
        "agreement_rate": _agreement(
            task,
            champion_out[ok],
            challenger_out[ok],
            _at(thresholds(rollout_rows, "champion_score"), ok),
            _at(thresholds(rollout_rows, "challenger_score"), ok),
        ),
        "scores": {
            "champion": _summary(
                champion_out, task, edges, thresholds(rollout_rows, "champion_score")
            ),
            "challenger": _summary(
                challenger_out, task, edges, thresholds(rollout_rows, "challenger_score")
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


def _at(param: np.ndarray | None, mask: np.ndarray) -> np.ndarray | None:
    return None if param is None else param[mask]


def _agreement(
    task, champion: np.ndarray, challenger: np.ndarray, champion_at=None, challenger_at=None
) -> float | None:
    """Share of rows where the two models' decisions agree, each at its own threshold (for a
    regression: outputs within the task's tolerance of each other)."""
    if not len(champion):
        return None
    decided = task.decide(champion, champion_at)
    return agreement_rate(
        np.ones(len(champion), dtype=bool), task.correct(challenger, decided, challenger_at)
    )


def _right(
    rows: pd.DataFrame, labels: pd.DataFrame, task, columns: tuple[str, str]
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """The labelled rows both models scored, and per score column whether it was right."""
    id_column, label_column = columns
    scored = rows[~rows["challenger_error"].to_numpy(dtype=bool)]
    labelled = scored.merge(labels[[id_column, label_column]], on=id_column, how="inner")
    y = labelled[label_column].to_numpy(dtype="float64")
    right = {
        column: np.asarray(
            task.correct(
                labelled[column].to_numpy(dtype="float64"), y, thresholds(labelled, column)
            ),
            bool,
        )
        for column in ("score", "champion_score", "challenger_score")
    }
    return labelled, right


def _proof(paired, rule: str, margin: float, min_rows: int) -> tuple[bool | None, str]:
    if paired.n < min_rows or paired.low is None:
        return None, f"{paired.n} paired labelled rows, {min_rows} needed"
    line = 0.0 if rule == "better" else -margin
    text = (
        f"task success {paired.challenger:.3f} vs {paired.champion:.3f} on the same "
        f"{paired.n:,} rows, difference {100 * paired.difference:+.1f} points "
        f"[{100 * paired.low:+.1f}, {100 * paired.high:+.1f}]"
    )
    verdict = paired.low > line
    need = "above 0" if rule == "better" else f"above -{100 * margin:.1f} points"
    return verdict, f"{text}: the interval {'lies' if verdict else 'does not lie'} {need}"
