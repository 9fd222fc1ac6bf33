"""The comparison on the same traffic and the triggers judged on it, on simulated rollouts."""

from datetime import date

import numpy as np
import pandas as pd
import pytest

from checks.policy import RolloutRules
from checks.rollout import start
from checks.rollout_compare import compare_on_traffic
from checks.rollout_stats import canary_mask
from checks.tasks import BinaryClassification, Regression

RULES = RolloutRules()
BASELINE = 0.84
TASK = BinaryClassification(0.5)
# The workflow names its id and label columns; any names do.
ID, LABEL = "case_id", "outcome"


def _rollout(seed: int, n: int, champion_acc: float, challenger_acc: float, errors=0.0):
    """Rows both models scored (champion right with probability champion_acc, the challenger
    with challenger_acc), labels for all of them, a 5% canary arm."""
    rng = np.random.default_rng(seed)
    record = start(
        version="4",
        champion_version="1",
        baseline_task_success=BASELINE,
        rules=RULES,
        today=date(2026, 3, 1),
        actor="t",
        reason="t",
        policy_version="t",
    )
    y = rng.random(n) < 0.3
    ids = np.array([f"T{i:06d}" for i in range(n)])

    def scores(acc):
        right = rng.random(n) < acc
        says = np.where(right, y, ~y)
        return np.where(says, 0.8, 0.2)

    champion, challenger = scores(champion_acc), scores(challenger_acc)
    failed = rng.random(n) < errors
    challenger = np.where(failed, np.nan, challenger)
    canary = canary_mask(ids, record["id"], 0.05) & ~failed
    rows = pd.DataFrame(
        {
            ID: ids,
            "arm": np.where(canary, "canary", "champion"),
            "score": np.where(canary, challenger, champion),
            "champion_score": champion,
            "challenger_score": challenger,
            "challenger_error": failed,
            "rollout_id": record["id"],
        }
    )
    labels = pd.DataFrame({ID: ids, LABEL: y.astype("int64")})
    return compare_on_traffic(rows, rows, labels, record, RULES, TASK, 0.01, ID, LABEL)


def test_a_healthy_canary_stays_quiet_and_a_degraded_one_fires_in_most_trials():
    healthy = [_rollout(s, 2_000, 0.84, 0.84)["fired"] for s in range(50)]
    degraded = [_rollout(s, 2_000, 0.84, 0.76)["fired"] for s in range(50)]
    assert sum(bool(f) for f in healthy) <= 1  # about 0 expected: see test_rollout_stats
    assert sum(bool(f) for f in degraded) >= 49
    assert any("baseline" in reason or "floor" in reason for reason in degraded[0])


def test_an_erroring_challenger_fires_the_error_rate_trigger():
    result = _rollout(1, 2_000, 0.84, 0.84, errors=0.03)
    fired = {t["name"] for t in result["triggers"] if t["fired"]}
    assert fired == {"error_rate"}
    quiet = _rollout(1, 2_000, 0.84, 0.84, errors=0.005)
    assert not quiet["fired"]


def test_the_paired_proof_and_the_arms_are_reported():
    better = _rollout(2, 4_000, 0.70, 0.84)
    assert better["proven"] is True and better["paired"]["difference"] > 0.1
    assert set(better["task_success_by_arm"]) == {"canary", "champion"}
    assert 0.0 <= better["agreement_rate"] <= 1.0
    same = _rollout(2, 4_000, 0.84, 0.84)
    assert same["proven"] is False  # not proven better: the interval straddles 0
    few = _rollout(2, 100, 0.70, 0.84)
    assert few["proven"] is None and not few["fired"]  # too few rows to judge either way


def test_a_regression_rollout_is_compared_through_its_task():
    # Four rows both models scored; a prediction is right within 1.0 of the outcome.
    record = start(
        version="2",
        champion_version="1",
        baseline_task_success=0.5,
        rules=RULES,
        today=date(2026, 3, 1),
        actor="t",
        reason="t",
        policy_version="t",
    )
    rows = pd.DataFrame(
        {
            ID: ["a", "b", "c", "d"],
            "arm": ["champion"] * 4,
            "champion_score": [10.0, 20.0, 30.0, 40.0],
            "challenger_score": [10.5, 23.0, 30.0, 38.0],
            "score": [10.0, 20.0, 30.0, 40.0],
            "challenger_error": [False] * 4,
            "rollout_id": record["id"],
        }
    )
    labels = pd.DataFrame({ID: ["a", "b", "c"], LABEL: [11.0, 22.5, 35.0]})
    result = compare_on_traffic(
        rows, rows, labels, record, RULES, Regression(tolerance=1.0), 0.01, ID, LABEL
    )
    # agreement: the outputs within the tolerance of each other (a and c, not b or d)
    assert result["agreement_rate"] == 0.5
    assert result["labelled_rows"] == 3 and result["scored_rows"] == 4
    # right within 1.0: champion a (|11-10|); challenger a (0.5) and b (0.5); c neither
    assert result["paired"]["champion"] == pytest.approx(1 / 3)
    assert result["paired"]["challenger"] == pytest.approx(2 / 3)
    assert result["scores"]["champion"]["positive_rate"] is None  # no yes/no decision
    assert result["scores"]["challenger"]["mean_score"] == pytest.approx(25.375)
    assert result["proven"] is None  # 3 labelled rows: far too few to judge
