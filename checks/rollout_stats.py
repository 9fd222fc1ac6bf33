"""Statistics for a gradual challenger rollout: who is in the canary, and is the canary worse?

Arms are assigned by a keyed hash of the entity id, so an entity keeps its arm across runs,
processes and library versions, and raising the canary fraction only ever adds entities.

The rollback triggers written in the policy are judged with confidence bounds, not point
values: a canary is rolled back for task success only when it is worse than the allowed line
*with confidence*, so sampling noise on a healthy canary rarely triggers a rollback. The error
rate is the exception: a failure to score is not a noisy estimate of anything, so its point
rate is compared directly.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import stats

_MAX_KEY_BYTES = 64  # blake2b key limit
_BELOW_ONE = float(np.nextafter(1.0, 0.0))


# --- arms -------------------------------------------------------------------------------------


def _salt_key(salt: str) -> bytes:
    key = salt.encode()
    if not key:
        raise ValueError("salt must not be empty: it separates one rollout's arms from another's")
    if len(key) > _MAX_KEY_BYTES:
        raise ValueError(f"salt is {len(key)} bytes; blake2b keys are at most {_MAX_KEY_BYTES}")
    return key


def buckets(entity_ids: Iterable[str], salt: str) -> np.ndarray:
    """A uniform number in [0, 1) per entity id, a pure function of (id, salt).

    blake2b keyed with the salt, 8-byte digest read as a big-endian uint64, divided by 2**64.
    Python's ``hash()`` is salted per process and pandas' hashing may change between versions;
    an entity must keep its arm across both. Ids must be ``str``: coercing numbers would make
    the arm depend on the dtype (``1`` vs ``1.0``).
    """
    key = _salt_key(salt)
    digests = []
    for entity_id in entity_ids:
        if not isinstance(entity_id, str):
            raise TypeError(f"entity ids must be str, got {type(entity_id).__name__}")
        digests.append(hashlib.blake2b(entity_id.encode(), key=key, digest_size=8).digest())
    words = np.frombuffer(b"".join(digests), dtype=">u8")
    # uint64 -> float64 rounds to nearest, so the top 2**10 words would round up to 1.0.
    return np.minimum(words.astype(np.float64) / 2.0**64, _BELOW_ONE)


def canary_mask(entity_ids: Iterable[str], salt: str, fraction: float) -> np.ndarray:
    """True where the entity is served by the challenger: its bucket is below ``fraction``.

    A threshold on a fixed bucket is monotone: an entity in the canary at 5% stays in it at 25%,
    so widening the rollout never moves a customer back to the champion."""
    if not 0.0 <= fraction <= 1.0:  # also rejects NaN
        raise ValueError(f"fraction must be in [0, 1], got {fraction!r}")
    return buckets(entity_ids, salt) < fraction


# --- intervals --------------------------------------------------------------------------------


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")


@lru_cache(maxsize=64)
def _z(confidence: float) -> float:
    """Normal quantile of a two-sided interval at `confidence` (cached: the triggers run it
    per call, and ``norm.ppf`` costs more than the rest of a trigger)."""
    return float(stats.norm.ppf(0.5 + confidence / 2))


def _one_sided(confidence: float) -> float:
    """The two-sided level whose upper bound is a one-sided bound at `confidence`."""
    if not 0.5 < confidence < 1.0:
        raise ValueError(f"one-sided confidence must be in (0.5, 1), got {confidence!r}")
    return 2 * confidence - 1


def _as_bool(values, name: str) -> np.ndarray:
    """A 1-D bool array; 0/1 numbers are accepted, anything else (NaN, 2) is an error rather
    than silently True."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.dtype == bool:
        return arr
    if arr.size and not np.isin(arr, (0, 1)).all():
        raise ValueError(f"{name} must be bool or 0/1")
    return arr.astype(bool)


def _same_rows(a, b, name_a: str, name_b: str) -> tuple[np.ndarray, np.ndarray]:
    a, b = _as_bool(a, name_a), _as_bool(b, name_b)
    if a.size != b.size:
        raise ValueError(f"{name_a} has {a.size} rows but {name_b} has {b.size}")
    return a, b


@dataclass(frozen=True)
class Rate:
    """A proportion with its Wilson score interval (None when there are no rows)."""

    n: int
    successes: int
    value: float | None
    low: float | None
    high: float | None


def wilson(successes: int, n: int, confidence: float) -> Rate:
    """Two-sided Wilson score interval at `confidence`.

    Wilson rather than the Wald interval: it stays inside [0, 1] and keeps near-nominal
    coverage for rates near 0 or 1 and for small n, where a canary starts."""
    _check_confidence(confidence)
    successes, n = int(successes), int(n)
    if not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n, got successes={successes}, n={n}")
    if n == 0:
        return Rate(0, 0, None, None, None)
    z = _z(confidence)
    p = successes / n
    z2n = z * z / n
    centre = (p + z2n / 2) / (1 + z2n)
    half = z / (1 + z2n) * math.sqrt(p * (1 - p) / n + z2n / (4 * n))
    return Rate(n, successes, p, max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True)
class Paired:
    """Challenger minus champion on the same rows (positive = challenger better)."""

    n: int
    challenger: float | None  # mean of challenger_correct
    champion: float | None
    difference: float | None  # challenger - champion
    low: float | None  # two-sided interval of the difference at `confidence`
    high: float | None
    p_value: float | None  # two-sided exact McNemar; 1.0 when no discordant pairs


def _paired_interval(d: np.ndarray, confidence: float) -> tuple[float, float, float]:
    """(mean, low, high) of d = challenger - champion with the paired standard error: rows
    both models get right or wrong add no noise, which is why pairing beats two proportions."""
    mean = float(d.mean())
    var = float(d.var(ddof=1))
    if var == 0.0:  # identical columns, or a constant difference: no spread to bound
        return mean, mean, mean
    half = _z(confidence) * math.sqrt(var / d.size)
    return mean, mean - half, mean + half


def paired_difference(challenger_correct, champion_correct, confidence: float) -> Paired:
    """Normal-approximation interval on the mean paired difference, with McNemar's exact test.

    The p-value uses only the discordant rows (one model right, the other wrong): under "equal
    accuracy" each discordant row is a fair coin."""
    _check_confidence(confidence)
    c, k = _same_rows(challenger_correct, champion_correct, "challenger", "champion")
    n = int(c.size)
    if n < 2:  # no variance from one row
        return Paired(n, None, None, None, None, None, None)
    d = c.astype(np.int8) - k.astype(np.int8)
    difference, low, high = _paired_interval(d, confidence)
    wins, losses = int((d > 0).sum()), int((d < 0).sum())
    p_value = 1.0
    if wins + losses:
        p_value = float(stats.binomtest(wins, wins + losses, 0.5).pvalue)
    return Paired(n, float(c.mean()), float(k.mean()), difference, low, high, p_value)


def agreement_rate(a_decisions, b_decisions) -> float | None:
    """Share of rows on which two models make the same decision; None when there are none.

    High agreement is why a paired comparison is tight: disagreements carry all the signal."""
    a, b = _same_rows(a_decisions, b_decisions, "a_decisions", "b_decisions")
    if a.size == 0:
        return None
    return float((a == b).mean())


# --- rollback triggers ------------------------------------------------------------------------


@dataclass(frozen=True)
class TriggerResult:
    name: str  # "error_rate" | "task_success_vs_baseline" | "task_success_vs_champion"
    fired: bool
    judged: bool  # False when too few rows to judge (then fired is False)
    value: float | None  # the measured quantity (error rate, task success, or difference)
    bound: float | None  # the confidence bound that was compared (None for error_rate)
    threshold: float  # the line it is compared with
    n: int
    reason: str  # one human sentence with the numbers


def _too_few(what: str, n: int, min_rows: int) -> str:
    return f"{what}: only n={n:,} rows, need {min_rows:,} to judge: not judged"


def error_rate_trigger(errors, max_rate: float, min_rows: int) -> TriggerResult:
    """Fires when the challenger fails to score more than `max_rate` of rows.

    A failure is not a sample of anything (the rows that failed did fail), so the point rate
    is compared, without an interval."""
    e = _as_bool(errors, "errors")
    n = int(e.size)
    count = int(e.sum())
    rate = count / n if n else None
    name = "error_rate"
    if n < max(min_rows, 1):
        where = "no rate" if rate is None else f"error rate {rate:.3f}"
        reason = _too_few(f"{where} against the maximum {max_rate:.3f}", n, min_rows)
        return TriggerResult(name, False, False, rate, None, max_rate, n, reason)
    fired = rate > max_rate
    verdict = "is above the maximum" if fired else "is within the maximum"
    action = "roll back" if fired else "keep"
    reason = f"error rate {rate:.3f} ({count:,} of {n:,} rows) {verdict} {max_rate:.3f}: {action}"
    return TriggerResult(name, fired, True, rate, None, max_rate, n, reason)


def task_success_vs_baseline(
    correct, baseline: float, drop_points: float, confidence: float, min_rows: int
) -> TriggerResult:
    """Fires when task success is below ``baseline - drop_points/100`` with confidence.

    Compared: the one-sided upper bound at `confidence` (the Wilson upper bound of a two-sided
    interval at ``2*confidence - 1``). Below the floor means even the optimistic reading of the
    canary is worse than allowed, so a healthy canary fires at most ``1 - confidence`` of the
    time at the floor itself, and almost never at the baseline."""
    level = _one_sided(confidence)
    c = _as_bool(correct, "correct")
    floor = baseline - drop_points / 100
    rate = wilson(int(c.sum()), int(c.size), level)
    n, name = rate.n, "task_success_vs_baseline"
    line = f"the floor {floor:.3f} = baseline {baseline:.3f} - {drop_points:g} points"
    if n < max(min_rows, 1):
        where = "no task success" if rate.value is None else f"task success {rate.value:.3f}"
        reason = _too_few(f"{where} against {line}", n, min_rows)
        return TriggerResult(name, False, False, rate.value, rate.high, floor, n, reason)
    fired = rate.high < floor
    verdict = "is below" if fired else "is not below"
    action = "roll back" if fired else "keep"
    reason = (
        f"task success {rate.value:.3f} (upper {100 * confidence:g}% bound {rate.high:.3f}, "
        f"n={n:,}) {verdict} {line}: {action}"
    )
    return TriggerResult(name, fired, True, rate.value, rate.high, floor, n, reason)


def task_success_vs_champion(
    challenger_correct, champion_correct, drop_points: float, confidence: float, min_rows: int
) -> TriggerResult:
    """Fires when the challenger is more than `drop_points` worse than the champion on the
    same rows, with confidence: the one-sided upper bound of the paired difference
    (challenger - champion) at `confidence` is below ``-drop_points/100``."""
    level = _one_sided(confidence)
    c, k = _same_rows(challenger_correct, champion_correct, "challenger", "champion")
    n, name = int(c.size), "task_success_vs_champion"
    threshold = -drop_points / 100
    line = f"{threshold:.3f} ({drop_points:g} points worse than the champion)"
    diff = high = None
    if n >= 2:  # the paired standard error needs two rows
        d = c.astype(np.int8) - k.astype(np.int8)
        diff, _, high = _paired_interval(d, level)
    if n < max(min_rows, 2) or diff is None or high is None:
        where = "no difference" if diff is None else f"difference {diff:+.3f}"
        reason = _too_few(f"{where} against {line}", n, min_rows)
        return TriggerResult(name, False, False, diff, high, threshold, n, reason)
    fired = high < threshold
    verdict = "is below" if fired else "is not below"
    action = "roll back" if fired else "keep"
    reason = (
        f"task success {c.mean():.3f} vs champion {k.mean():.3f} on the same n={n:,} rows: "
        f"difference {diff:+.3f} (upper {100 * confidence:g}% bound {high:+.3f}) {verdict} "
        f"{line}: {action}"
    )
    return TriggerResult(name, fired, True, diff, high, threshold, n, reason)
