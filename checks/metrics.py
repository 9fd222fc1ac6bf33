"""Model-quality metrics: registries, so every workflow judges a model by the same functions.

Two registries, one per kind of task, because the same name means different things in each
(``task_success`` is accuracy for a classifier, the share within tolerance for a regression):

* ``METRICS``, binary classification with calibrated probabilities: ``y`` holds 0/1 outcomes,
  ``p`` the predicted probability of 1, and the action is "yes" when ``p >= threshold``.
* ``REGRESSION_METRICS``: ``y`` holds real outcomes, ``p`` the predictions, and the third
  argument is the task's TOLERANCE (absolute): a prediction within it of the outcome succeeded.

Every function taking ``registry=`` defaults to ``METRICS``, so classification call sites read
as before. A metric's ``kind`` says which inputs it takes and so how they are validated.

A metric that cannot be computed on some data (ROC AUC on a slice with one class, recall with no
positives) is *undefined*: ``compute`` returns None and ``undefined_reason`` says why, so a
decision can read "not judged: slice has one class" instead of carrying a NaN.

Each built-in metric also has a ``batch`` form that evaluates many bootstrap resamples at once
from a matrix of resample weights (how often each example was drawn); ``checks.bootstrap`` uses
it. A metric registered without one is evaluated resample by resample through ``fn``.

Stage-level metrics for multi-stage pipelines (retrieval, generation, validation) are plain
functions at the end of this module; wrap one in a ``Metric`` to register it.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import f1_score, log_loss, precision_score, recall_score, roc_auc_score

ECE_BINS = 10
# sklearn's log_loss clips probabilities to [eps, 1 - eps] with the dtype's machine epsilon;
# the batch form clips the same way so both give the same number.
_EPS = float(np.finfo(np.float64).eps)
DEFAULT_THRESHOLD = 0.5

# The kinds of inputs a metric takes; the same strings as checks.tasks' Task.kind.
BINARY = "binary_classification"
REGRESSION = "regression"
KINDS = (BINARY, REGRESSION)

# (y, p, param) -> value; param is the threshold (classification) or the tolerance (regression)
MetricFn = Callable[[np.ndarray, np.ndarray, float], float]
# (y, p, param, weights[B, n]) -> values[B]; NaN marks a resample where it is undefined.
BatchFn = Callable[[np.ndarray, np.ndarray, float, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Metric:
    """A named metric. ``fn`` assumes the metric is defined; call ``compute`` for None handling.

    ``batch``, when given, must equal ``fn`` on each resample (tests check the built-ins).
    ``needs_both_classes`` and ``needs_positives`` apply to classification metrics only."""

    name: str
    fn: MetricFn
    higher_is_better: bool
    description: str
    needs_both_classes: bool = False
    needs_positives: bool = False
    batch: BatchFn | None = None
    kind: str = BINARY

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"metric {self.name!r}: kind must be in {KINDS}, got {self.kind!r}")


METRICS: dict[str, Metric] = {}  # binary classification
REGRESSION_METRICS: dict[str, Metric] = {}

Registry = Mapping[str, Metric]


def _registry(registry: Registry | None) -> Registry:
    # Read at call time, so a registry swapped in (tests, a workflow's copy) is the one used.
    return METRICS if registry is None else registry


def registry_kind(registry: Registry | None = None) -> str:
    """The kind of inputs a registry's metrics take; an empty registry is classification."""
    kinds = {m.kind for m in _registry(registry).values()}
    if len(kinds) > 1:
        raise ValueError(f"a registry mixes metrics of kinds {sorted(kinds)}")
    return kinds.pop() if kinds else BINARY


def register_metric(metric: Metric, registry: dict[str, Metric] | None = None) -> Metric:
    """Add a metric to a registry (default: classification). A name is registered once:
    silently replacing a metric would change what past decisions meant."""
    target = _registry(registry)
    if metric.name in target:
        raise ValueError(f"metric {metric.name!r} is already registered")
    others = {m.kind for m in target.values()} - {metric.kind}
    if others:
        raise ValueError(
            f"metric {metric.name!r} takes {metric.kind} inputs; this registry holds "
            f"{', '.join(sorted(others))} metrics"
        )
    target[metric.name] = metric
    return metric


def get_metric(name: str, registry: Registry | None = None) -> Metric:
    reg = _registry(registry)
    try:
        return reg[name]
    except KeyError:
        known = ", ".join(sorted(reg))
        hint = ""
        # The usual mistake: a regression metric looked up in the default registry.
        for label, other in (("regression", REGRESSION_METRICS), ("classification", METRICS)):
            if other is not reg and name in other:
                hint = f"; {name!r} is a {label} metric: pass that task's registry"
                break
        raise KeyError(f"unknown metric {name!r}; registered: {known}{hint}") from None


def _real_array(values, what: str) -> np.ndarray:
    """Float64 copy of real numbers; strings, booleans and missing values are refused (a
    conversion would hide a mistyped column)."""
    arr = np.asarray(values)
    if arr.dtype.kind == "O":
        if not all(
            isinstance(v, numbers.Real) and not isinstance(v, bool | np.bool_) for v in arr.flat
        ):
            raise ValueError(f"{what} must hold real numbers")
    elif arr.dtype.kind not in "iuf" and arr.size:
        raise ValueError(f"{what} must hold real numbers, got dtype {arr.dtype}")
    return arr.astype(np.float64)


def validate_inputs(y, p, kind: str = BINARY) -> tuple[np.ndarray, np.ndarray]:
    """Inputs as the metrics of ``kind`` take them; bad input raises: it is a bug upstream,
    not an undefined metric.

    Classification: y as 0/1 ints, p as floats in [0, 1], same length.
    Regression: y and p (the predictions) as finite floats of the same length."""
    if kind == REGRESSION:
        y = _real_array(y, "y")
        p = _real_array(p, "predictions")
        if y.ndim != 1 or p.ndim != 1 or y.shape != p.shape:
            raise ValueError(
                f"y and predictions must be 1-D of the same length, got {y.shape} and {p.shape}"
            )
        if not np.isfinite(y).all():
            raise ValueError(f"y must hold finite numbers ({int((~np.isfinite(y)).sum())} not)")
        if not np.isfinite(p).all():
            raise ValueError(
                f"predictions must hold finite numbers ({int((~np.isfinite(p)).sum())} not)"
            )
        return y, p
    if kind != BINARY:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    y = np.asarray(y)
    p = np.asarray(p, dtype=np.float64)
    if y.ndim != 1 or p.ndim != 1 or y.shape != p.shape:
        raise ValueError(f"y and p must be 1-D of the same length, got {y.shape} and {p.shape}")
    if y.size and not np.isin(y, (0, 1)).all():
        raise ValueError("y must hold only 0 and 1")
    if not np.isfinite(p).all() or (p < 0).any() or (p > 1).any():
        raise ValueError("p must hold finite probabilities in [0, 1]")
    return y.astype(np.int64), p


def _param(metric: Metric, threshold: float | None) -> float | None:
    # A classifier's threshold has a conventional default; a regression's tolerance has none
    # (the metrics that need it refuse None).
    if threshold is None and metric.kind == BINARY:
        return DEFAULT_THRESHOLD
    return threshold


def undefined_reason(
    name: str, y, p, threshold: float | None = None, registry: Registry | None = None
) -> str | None:
    """Why ``name`` cannot be computed on (y, p), or None when it can."""
    metric = get_metric(name, registry)
    y, p = validate_inputs(y, p, metric.kind)
    if y.size == 0:
        return "no examples"
    if metric.kind != BINARY:
        return None
    positives = int(y.sum())
    if metric.needs_both_classes and positives in (0, y.size):
        return f"slice has one class (all y={int(y[0])})"
    if metric.needs_positives and positives == 0:
        return "slice has no positive examples"
    return None


def compute(
    name: str, y, p, threshold: float | None = None, registry: Registry | None = None
) -> float | None:
    """The metric's value, or None when it is undefined on this data (never NaN).

    ``threshold`` is the task's parameter: the decision threshold of a classifier (default
    0.5) or the tolerance of a regression (no default)."""
    metric = get_metric(name, registry)
    y, p = validate_inputs(y, p, metric.kind)
    if undefined_reason(name, y, p, threshold, registry) is not None:
        return None
    value = float(metric.fn(y, p, _param(metric, threshold)))
    # A registered metric may still produce NaN on data its flags did not foresee.
    return value if math.isfinite(value) else None


# --- built-in classification metrics ---------------------------------------------------------


def _action(p: np.ndarray, threshold: float) -> np.ndarray:
    return (p >= threshold).astype(np.int64)


def _task_success(y, p, threshold):
    return float(np.mean(_action(p, threshold) == y))


def _precision(y, p, threshold):
    return float(precision_score(y, _action(p, threshold), labels=[0, 1], zero_division=0))


def _recall(y, p, threshold):
    return float(recall_score(y, _action(p, threshold), labels=[0, 1], zero_division=0))


def _f1(y, p, threshold):
    return float(f1_score(y, _action(p, threshold), labels=[0, 1], zero_division=0))


def _roc_auc(y, p, threshold):
    return float(roc_auc_score(y, p))


def _log_loss(y, p, threshold):
    return float(log_loss(y, p, labels=[0, 1]))


def _ece_bins(p: np.ndarray) -> np.ndarray:
    # Bin b holds b/10 <= p < (b+1)/10; p == 1.0 joins the last bin.
    return np.minimum((p * ECE_BINS).astype(np.int64), ECE_BINS - 1)


def _ece(y, p, threshold):
    bins = _ece_bins(p)
    # sum over bins of (n_b / n) * |mean(y_b) - mean(p_b)| == sum_b |sum(y_b) - sum(p_b)| / n
    gap = np.bincount(bins, weights=y - p, minlength=ECE_BINS)
    return float(np.abs(gap).sum() / y.size)


# Batch forms: weights[B, n] counts how often each example is in each resample (rows sum to n),
# so any sum over a resample is one matrix product with a per-example column.


def _ratio(num: np.ndarray, den: np.ndarray, empty: float) -> np.ndarray:
    out = np.full(num.shape, empty, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _task_success_batch(y, p, threshold, w):
    return w @ (_action(p, threshold) == y).astype(np.float64) / y.size


def _confusion_batch(y, p, threshold, w) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True positives, predicted positives and actual positives per resample."""
    pred = _action(p, threshold)
    cols = np.column_stack([y * pred, pred, y]).astype(np.float64)
    tp, predicted, positives = (w @ cols).T
    return tp, predicted, positives


def _precision_batch(y, p, threshold, w):
    tp, predicted, _ = _confusion_batch(y, p, threshold, w)
    return _ratio(tp, predicted, 0.0)


def _recall_batch(y, p, threshold, w):
    tp, _, positives = _confusion_batch(y, p, threshold, w)
    return _ratio(tp, positives, np.nan)


def _f1_batch(y, p, threshold, w):
    tp, predicted, positives = _confusion_batch(y, p, threshold, w)
    # F1 = 2TP / (2TP + FP + FN) = 2TP / (predicted positives + actual positives)
    return _ratio(2 * tp, predicted + positives, 0.0)


def _roc_auc_batch(y, p, threshold, w):
    """Mann-Whitney form: P(p_pos > p_neg) + P(tie) / 2, with resample weights.

    Negatives are sorted by p once; each positive's "negatives strictly below" and "below or
    tied" are fixed column positions in the running sum of negative weights, so every resample
    is a cumulative sum and a dot product: O(B * n), no per-resample sort."""
    pos = np.flatnonzero(y == 1)
    neg = np.flatnonzero(y == 0)
    neg = neg[np.argsort(p[neg], kind="stable")]
    below = np.searchsorted(p[neg], p[pos], side="left")
    below_or_tied = np.searchsorted(p[neg], p[pos], side="right")
    cum = np.zeros((w.shape[0], neg.size + 1))  # cum[:, k] = weight of the k lowest negatives
    np.cumsum(w[:, neg], axis=1, out=cum[:, 1:])
    wp = w[:, pos]
    # wins + ties / 2 = (below + below_or_tied) / 2 per positive
    wins = np.einsum("ij,ij->i", wp, cum[:, below])
    if not np.array_equal(below, below_or_tied):
        wins = 0.5 * (wins + np.einsum("ij,ij->i", wp, cum[:, below_or_tied]))
    return _ratio(wins, wp.sum(axis=1) * cum[:, -1], np.nan)


def _log_loss_batch(y, p, threshold, w):
    pc = np.clip(p, _EPS, 1 - _EPS)
    per_example = -(y * np.log(pc) + (1 - y) * np.log1p(-pc))
    return w @ per_example / y.size


def _ece_batch(y, p, threshold, w):
    gap = np.zeros((y.size, ECE_BINS))
    gap[np.arange(y.size), _ece_bins(p)] = y - p
    return np.abs(w @ gap).sum(axis=1) / y.size


for _metric in (
    Metric(
        "task_success",
        _task_success,
        True,
        "share of examples where the action (p >= threshold) was right: accuracy",
        batch=_task_success_batch,
    ),
    Metric(
        "precision",
        _precision,
        True,
        "share of predicted positives that were positive; 0.0 when nothing is predicted "
        "positive (sklearn zero_division=0)",
        batch=_precision_batch,
    ),
    Metric(
        "recall",
        _recall,
        True,
        "share of positives that were predicted; undefined with no positive examples",
        needs_positives=True,
        batch=_recall_batch,
    ),
    Metric(
        "f1",
        _f1,
        True,
        "harmonic mean of precision and recall; 0.0 when no example is positive in either "
        "prediction or outcome (sklearn zero_division=0)",
        batch=_f1_batch,
    ),
    Metric(
        "roc_auc",
        _roc_auc,
        True,
        "P(a random positive scores above a random negative), ties count half",
        needs_both_classes=True,
        batch=_roc_auc_batch,
    ),
    Metric(
        "log_loss",
        _log_loss,
        False,
        "mean negative log-likelihood of the outcomes (natural log, p clipped to machine eps)",
        batch=_log_loss_batch,
    ),
    Metric(
        "ece",
        _ece,
        False,
        f"expected calibration error: {ECE_BINS} equal-width probability bins, "
        "|mean outcome - mean p| weighted by bin count",
        batch=_ece_batch,
    ),
):
    register_metric(_metric)

CLASSIFICATION_METRICS: tuple[str, ...] = tuple(METRICS)


# --- built-in regression metrics -------------------------------------------------------------
# The third argument is the tolerance: |y - prediction| <= tolerance (inclusive) succeeded.
# Compared exactly: a difference printed as the tolerance may sit an ulp above it in floats.


def _tolerance(tolerance) -> float:
    if (
        isinstance(tolerance, bool)
        or not isinstance(tolerance, numbers.Real)
        or not math.isfinite(tolerance)
        or tolerance < 0
    ):
        raise ValueError(
            f"regression task_success needs the task's tolerance, a finite number >= 0; "
            f"got {tolerance!r}"
        )
    return float(tolerance)


def _within(y, pred, tolerance) -> np.ndarray:
    return np.abs(y - pred) <= _tolerance(tolerance)


def _within_tolerance(y, pred, tolerance):
    return float(np.mean(_within(y, pred, tolerance)))


def _mae(y, pred, tolerance):
    return float(np.mean(np.abs(y - pred)))


def _rmse(y, pred, tolerance):
    return float(np.sqrt(np.mean((y - pred) ** 2)))


def _within_tolerance_batch(y, pred, tolerance, w):
    return w @ _within(y, pred, tolerance).astype(np.float64) / y.size


def _mae_batch(y, pred, tolerance, w):
    return w @ np.abs(y - pred) / y.size


def _rmse_batch(y, pred, tolerance, w):
    return np.sqrt(w @ (y - pred) ** 2 / y.size)


# No "within_tolerance" alias: a second name for the same number would be reported, floored
# and gated twice. task_success is the name every workflow already reads.
for _metric in (
    Metric(
        "task_success",
        _within_tolerance,
        True,
        "share of examples predicted within the tolerance: |y - prediction| <= tolerance",
        batch=_within_tolerance_batch,
        kind=REGRESSION,
    ),
    Metric(
        "mae",
        _mae,
        False,
        "mean absolute error, in the outcome's units",
        batch=_mae_batch,
        kind=REGRESSION,
    ),
    Metric(
        "rmse",
        _rmse,
        False,
        "root mean squared error, in the outcome's units; weighs large misses more than mae",
        batch=_rmse_batch,
        kind=REGRESSION,
    ),
):
    register_metric(_metric, REGRESSION_METRICS)

REGRESSION_METRIC_NAMES: tuple[str, ...] = tuple(REGRESSION_METRICS)


# --- stage-level metrics for multi-stage pipelines -------------------------------------------


def precision_at_k(ranked_ids: Sequence, relevant_ids: Iterable, k: int) -> float:
    """Share of the top ``k`` ranked items that are relevant.

    The denominator is always ``k``: a retriever that returns fewer than ``k`` items is charged
    for the empty slots."""
    if k <= 0:
        raise ValueError(f"k must be positive, got {k}")
    relevant = set(relevant_ids)
    return sum(1 for item in list(ranked_ids)[:k] if item in relevant) / k


def ndcg_at_k(relevances_in_ranked_order: Sequence[float], k: int) -> float:
    """Normalised DCG of the top ``k``: DCG = sum_i rel_i / log2(i + 1) for ranks i = 1..k,
    divided by the DCG of the same relevances sorted best first (linear gain, as sklearn's
    ``ndcg_score``). A list with no relevant item has no ideal to reach: 0.0 by convention."""
    if k <= 0:
        raise ValueError(f"k must be positive, got {k}")
    rel = np.asarray(relevances_in_ranked_order, dtype=np.float64)
    if (rel < 0).any():
        raise ValueError("relevances must be non-negative")
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    top = rel[:k]
    ideal = np.sort(rel)[::-1][:k]
    idcg = float(ideal @ discounts[: ideal.size])
    return float(top @ discounts[: top.size]) / idcg if idcg > 0 else 0.0


STOPWORDS = frozenset(
    """a an the and or but if then else of to in on at by for with from as into about over
    is are was were be been being am do does did has have had having it its this that these
    those there here i you he she we they me him her us them my your his our their not no
    so than too very can will would should could may might must just also what which who whom
    when where why how all any both each few more most other some such only own same""".split()
)
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def content_tokens(text: str) -> list[str]:
    """Lowercase words with the built-in stopwords removed."""
    return [t for t in _WORD.findall(text.lower()) if t not in STOPWORDS]


def faithfulness(generated: str, context: str) -> float | None:
    """Share of the generated text's content tokens (with repeats) that occur in the context.

    A crude lexical proxy for "says nothing the context does not support". Generated text with
    no content tokens is None (not judged): 1.0 would reward empty answers and 0.0 would punish
    a legitimate short one; an answer-rate metric must catch empty answers."""
    tokens = content_tokens(generated)
    if not tokens:
        return None
    supported = set(content_tokens(context))
    return sum(t in supported for t in tokens) / len(tokens)


def false_negative_rate(y_true, y_pred) -> float | None:
    """FN / (FN + TP) of a validation stage: the share of bad items it let through.

    No positive items: None, there was nothing to catch."""
    y_true = np.asarray(y_true).astype(bool)
    y_pred = np.asarray(y_pred).astype(bool)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred differ in shape: {y_true.shape} vs {y_pred.shape}")
    positives = int(y_true.sum())
    if positives == 0:
        return None
    return int((y_true & ~y_pred).sum()) / positives
