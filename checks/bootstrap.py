"""Bootstrap confidence intervals for model metrics, and the paired bootstrap of a difference.

Percentile bootstrap over examples. The resampled indices are drawn once per call and reused
for every metric (and, in ``paired_bootstrap``, for both models: scoring the two models on the
SAME resamples is what makes it paired, so the noise they share cancels in the difference).

Speed: each draw of indices becomes a row of weights (how often each example was drawn), and
a built-in metric's ``batch`` form evaluates all resamples with one or two matrix products, so
no per-resample Python loop runs (see ``benchmarks/bootstrap_speed.py``).

Metrics are looked up in ``registry`` (default: the classification registry, see
``checks.metrics``); for a regression registry ``threshold`` carries the task's tolerance.

Undefined resamples (ROC AUC on a resample with one class) are dropped for that metric. When
fewer than half the resamples count, the interval is not reported (low/high None) and ``n``
says how many counted; a point value undefined on the full data is None with its reason.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from checks.metrics import (
    BINARY,
    Metric,
    Registry,
    compute,
    get_metric,
    registry_kind,
    undefined_reason,
    validate_inputs,
)

# Weight-matrix cells per block: bounds memory (~8 bytes each for indices and for weights)
# when the evaluation set is large; 500 x 1,000 resamples fits in one block.
_BLOCK_CELLS = 4_000_000
MIN_COUNTED_SHARE = 0.5  # fewer defined resamples than this share: no interval


@dataclass(frozen=True)
class Estimate:
    """A metric's point value on the full data and its percentile bootstrap interval.

    ``n`` is the number of resamples in which the metric was defined (counted)."""

    value: float | None
    low: float | None
    high: float | None
    n: int
    confidence: float = 0.95
    reason: str | None = None  # why value or interval is missing


@dataclass(frozen=True)
class Difference:
    """Challenger minus champion, oriented so that POSITIVE = CHALLENGER BETTER for every
    metric: for a lower-is-better metric (log loss, ECE) it is champion - challenger, so +0.02
    on log loss means the challenger's log loss is 0.02 lower.

    ``low``/``high``: two-sided percentile interval at ``confidence``; ``p_better``: share of
    counted resamples in which the challenger is strictly better; ``n``: resamples counted
    (metric defined for both models)."""

    diff: float | None
    low: float | None
    high: float | None
    p_better: float | None
    n: int
    confidence: float = 0.95
    reason: str | None = None


def _check_confidence(confidence: float, n_resamples: int) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be positive, got {n_resamples}")


def _resample_blocks(
    n: int, n_resamples: int, seed: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(indices[b, n], weights[b, n]) blocks; weights[r, i] = times example i is in resample r."""
    rng = np.random.default_rng(seed)
    per_block = max(1, _BLOCK_CELLS // max(n, 1))
    done = 0
    while done < n_resamples:
        b = min(per_block, n_resamples - done)
        idx = rng.integers(0, n, size=(b, n))
        offsets = (np.arange(b) * n)[:, None]
        weights = np.bincount((idx + offsets).ravel(), minlength=b * n).reshape(b, n)
        yield idx, weights.astype(np.float64)
        done += b


def _resampled_values(
    metric: Metric,
    y: np.ndarray,
    p: np.ndarray,
    threshold: float,
    idx,
    weights,
    registry: Registry | None = None,
) -> np.ndarray:
    """Metric per resample of one block; NaN where undefined (dropped by the caller)."""
    if metric.batch is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            values = np.asarray(metric.batch(y, p, threshold, weights), dtype=np.float64)
        # Same rules as undefined_reason, from the weights: a class absent from a resample.
        if metric.kind == BINARY and (metric.needs_both_classes or metric.needs_positives):
            positives = weights @ y.astype(np.float64)
            if metric.needs_both_classes:
                values[(positives == 0) | (positives == y.size)] = np.nan
            if metric.needs_positives:
                values[positives == 0] = np.nan
        return values
    out = [compute(metric.name, y[row], p[row], threshold, registry) for row in idx]
    return np.array([np.nan if v is None else v for v in out], dtype=np.float64)


def _interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    alpha = 1 - confidence
    low, high = np.quantile(values, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def _too_few(counted: int, n_resamples: int) -> str | None:
    if counted < MIN_COUNTED_SHARE * n_resamples:
        return f"defined in only {counted} of {n_resamples} resamples"
    return None


def _collect(metrics, n: int, n_resamples: int, seed: int, value_of) -> dict[str, np.ndarray]:
    """Each metric's finite values over all resamples (undefined resamples are dropped);
    `value_of(metric, idx, weights)` evaluates one block of resamples."""
    samples: dict[str, list[np.ndarray]] = {m.name: [] for m in metrics}
    if n:
        for idx, weights in _resample_blocks(n, n_resamples, seed):
            for m in metrics:
                samples[m.name].append(value_of(m, idx, weights))
    collected = {}
    for name, blocks in samples.items():
        values = np.concatenate(blocks) if blocks else np.empty(0)
        collected[name] = values[np.isfinite(values)]
    return collected


def bootstrap_ci(
    y,
    p,
    metrics: Sequence[str],
    *,
    threshold: float,
    n_resamples: int,
    confidence: float = 0.95,
    seed: int,
    registry: Registry | None = None,
) -> dict[str, Estimate]:
    """Point value and percentile bootstrap interval of each metric for one model."""
    y, p = validate_inputs(y, p, registry_kind(registry))
    _check_confidence(confidence, n_resamples)
    registered = [get_metric(name, registry) for name in metrics]
    samples = _collect(
        registered,
        y.size,
        n_resamples,
        seed,
        lambda m, idx, w: _resampled_values(m, y, p, threshold, idx, w, registry),
    )

    out = {}
    for m in registered:
        value = compute(m.name, y, p, threshold, registry)
        if value is None:
            reason = undefined_reason(m.name, y, p, threshold, registry) or "metric returned NaN"
            out[m.name] = Estimate(None, None, None, 0, confidence, reason)
            continue
        values = samples[m.name]
        reason = _too_few(values.size, n_resamples)
        if reason:
            out[m.name] = Estimate(value, None, None, values.size, confidence, reason)
        else:
            low, high = _interval(values, confidence)
            out[m.name] = Estimate(value, low, high, values.size, confidence)
    return out


def paired_bootstrap(
    y,
    p_challenger,
    p_champion,
    metrics: Sequence[str],
    *,
    threshold: float,
    n_resamples: int,
    confidence: float = 0.95,
    seed: int,
    registry: Registry | None = None,
    champion_threshold: float | None = None,
) -> dict[str, Difference]:
    """Challenger - champion (positive = challenger better) on the same resampled examples.
    ``champion_threshold``: the champion's decision threshold when it is not ``threshold``
    (each version decides at the threshold chosen for it)."""
    t_b = threshold if champion_threshold is None else champion_threshold
    kind = registry_kind(registry)
    y, p_a = validate_inputs(y, p_challenger, kind)
    _, p_b = validate_inputs(y, p_champion, kind)
    _check_confidence(confidence, n_resamples)
    registered = [get_metric(name, registry) for name in metrics]

    def difference(m: Metric, idx, weights) -> np.ndarray:
        a = _resampled_values(m, y, p_a, threshold, idx, weights, registry)
        b = _resampled_values(m, y, p_b, t_b, idx, weights, registry)
        return a - b if m.higher_is_better else b - a

    samples = _collect(registered, y.size, n_resamples, seed, difference)

    out = {}
    for m in registered:
        a = compute(m.name, y, p_a, threshold, registry)
        b = compute(m.name, y, p_b, t_b, registry)
        if a is None or b is None:
            reason = undefined_reason(m.name, y, p_a, threshold, registry) or "metric returned NaN"
            out[m.name] = Difference(None, None, None, None, 0, confidence, reason)
            continue
        diff = a - b if m.higher_is_better else b - a
        values = samples[m.name]  # resamples where either model's value was undefined: out
        reason = _too_few(values.size, n_resamples)
        if reason:
            out[m.name] = Difference(diff, None, None, None, values.size, confidence, reason)
            continue
        low, high = _interval(values, confidence)
        p_better = float(np.mean(values > 0))
        out[m.name] = Difference(diff, low, high, p_better, values.size, confidence)
    return out
