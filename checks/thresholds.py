"""The decision threshold of a binary classifier, chosen on its validation split by a named rule.

A calibrated model of a rare outcome (one ticket in six escalates) sits below 0.5 almost
everywhere, so at 0.5 it "never escalates" and still scores 0.84 task success. The threshold is
therefore chosen per version on rows it was not fitted on, by the rule the policy names:

* ``best_f1``: the threshold with the highest F1 (ties: the higher threshold, fewer alerts);
* ``target_recall``: the highest threshold whose recall reaches ``target_recall``;
* ``cost``: the threshold with the lowest total cost ``FP * cost_false_positive +
  FN * cost_false_negative`` (a cost matrix; for calibrated probabilities the optimum is near
  ``c_fp / (c_fp + c_fn)``);
* ``fixed``: the workflow's own threshold, unchanged.

Candidates are the validation scores themselves (sklearn's ``precision_recall_curve``): a
threshold between two observed scores decides exactly like the upper one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import precision_recall_curve

RULES = ("best_f1", "target_recall", "cost", "fixed")
# A threshold of exactly 0 or 1 makes every decision the same (the task refuses it).
_EDGE = 1e-6


@dataclass(frozen=True)
class ThresholdChoice:
    threshold: float
    rule: str
    rows: int
    precision: float
    recall: float
    f1: float
    reason: str


def _clip(t: float) -> float:
    return float(min(max(t, _EDGE), 1.0 - _EDGE))


def choose_threshold(
    y,
    scores,
    rule: str,
    *,
    default: float = 0.5,
    target_recall: float | None = None,
    cost_false_positive: float = 1.0,
    cost_false_negative: float = 1.0,
) -> ThresholdChoice:
    """The threshold ``rule`` picks on these validation labels and scores; ValueError with the
    reason when the rule cannot be applied (no positives, unknown rule, missing target)."""
    if rule not in RULES:
        raise ValueError(f"unknown threshold rule {rule!r}: one of {', '.join(RULES)}")
    labels = np.asarray(y, dtype=np.float64)
    p = np.asarray(scores, dtype=np.float64)
    if labels.shape != p.shape or labels.ndim != 1:
        raise ValueError(f"labels and scores must be 1-D of one length: {labels.shape}, {p.shape}")
    if not np.all(np.isfinite(p)):
        raise ValueError("validation scores contain NaN or infinite values")
    positives = int(labels.sum())
    n = labels.size
    if rule == "fixed":
        return _at(labels, p, default, rule, f"the workflow's threshold {default:g}")
    if positives == 0 or positives == n:
        raise ValueError(
            f"the validation split ({n} rows) has {positives} positives: the {rule} rule "
            "needs both classes to choose a threshold"
        )
    precision, recall, thresholds = precision_recall_curve(labels, p)
    # precision/recall have one more entry than thresholds (the "predict nothing" end).
    precision, recall = precision[:-1], recall[:-1]
    if rule == "best_f1":
        with np.errstate(invalid="ignore", divide="ignore"):
            f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0)
        best = np.flatnonzero(f1 >= f1.max() - 1e-12)[-1]  # ascending thresholds: the highest
        t = thresholds[best]
        why = f"best F1 {f1[best]:.3f} on {n} validation rows"
    elif rule == "target_recall":
        if target_recall is None or not 0 < target_recall <= 1:
            raise ValueError(f"target_recall must be in (0, 1] for that rule, got {target_recall}")
        reaching = np.flatnonzero(recall >= target_recall - 1e-12)
        t = thresholds[reaching[-1]]  # recall falls as the threshold rises: the last reaching
        why = f"highest threshold with recall >= {target_recall:g} on {n} validation rows"
    else:
        if cost_false_positive < 0 or cost_false_negative < 0:
            raise ValueError("costs must be >= 0")
        tp = recall * positives
        predicted = n - np.searchsorted(np.sort(p), thresholds, side="left")  # scores >= t
        fp = predicted - tp
        cost = fp * cost_false_positive + (positives - tp) * cost_false_negative
        # Deciding "no" for everyone is a candidate too (every positive missed).
        if positives * cost_false_negative < cost.min():
            t = float(p.max()) + _EDGE
        else:
            t = thresholds[np.flatnonzero(cost <= cost.min() + 1e-9)[-1]]
        why = (
            f"lowest cost at FP cost {cost_false_positive:g}, FN cost {cost_false_negative:g} "
            f"on {n} validation rows"
        )
    return _at(labels, p, _clip(float(t)), rule, why)


def _at(labels: np.ndarray, p: np.ndarray, t: float, rule: str, why: str) -> ThresholdChoice:
    decided = p >= t
    tp = float(np.sum(decided & (labels == 1)))
    predicted, actual = float(decided.sum()), float(labels.sum())
    precision = tp / predicted if predicted else 0.0
    recall = tp / actual if actual else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return ThresholdChoice(
        threshold=t,
        rule=rule,
        rows=int(labels.size),
        precision=precision,
        recall=recall,
        f1=f1,
        reason=f"{rule}: threshold {t:.4f} ({why}; precision {precision:.3f}, "
        f"recall {recall:.3f}, F1 {f1:.3f})",
    )
