"""The model's outputs as a distribution: a small profile of scores, and its drift.

A classifier's profile (``score_profile``) is ten equal-width bins of the positive-class
probability plus the share predicted positive. The reference is the champion's scores on the
held-out validation rows of its own training window (production-like traffic, not the
slice-enriched test set).

A regression's profile (``value_profile``) has no natural range to cut into equal bins: the
reference's deciles are its edges, and every later profile is binned on the reference's edges
(the outer bins are open, so a value beyond the reference's range still counts). Its ``mean``
plays the part of the positive rate: ``compare_values`` judges PSI on the shared bins and the
shift of the mean in reference standard deviations. Both comparisons return ``OutputDrift``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

N_BINS = 10
# An empty bin would make PSI infinite; a share this small stands in for "almost never".
EMPTY_SHARE = 1e-4


def score_profile(scores: np.ndarray, threshold: float) -> dict:
    scores = np.asarray(scores, dtype=float)
    if scores.size and (np.nanmin(scores) < 0 or np.nanmax(scores) > 1):
        raise ValueError("scores must be probabilities in [0, 1]")
    if np.isnan(scores).any():
        raise ValueError(f"{int(np.isnan(scores).sum())} scores are NaN")
    edges = np.linspace(0.0, 1.0, N_BINS + 1)
    counts, _ = np.histogram(scores, bins=edges)
    return {
        "edges": edges.round(6).tolist(),
        "counts": counts.astype(int).tolist(),
        "n": int(scores.size),
        "positive_rate": float((scores >= threshold).mean()) if scores.size else None,
        "mean_confidence": float(np.maximum(scores, 1 - scores).mean()) if scores.size else None,
        "threshold": threshold,
    }


def psi(current_counts, reference_counts) -> float:
    """Population stability index: sum over bins of (c - r) * ln(c / r), on shares."""
    c = np.asarray(current_counts, dtype=float)
    r = np.asarray(reference_counts, dtype=float)
    if c.shape != r.shape:
        raise ValueError(f"profiles have different bins: {c.shape} vs {r.shape}")
    if c.sum() == 0 or r.sum() == 0:
        raise ValueError("a profile without any scores has no distribution to compare")
    c = np.maximum(c / c.sum(), EMPTY_SHARE)
    r = np.maximum(r / r.sum(), EMPTY_SHARE)
    return float(np.sum((c - r) * np.log(c / r)))


@dataclass(frozen=True)
class OutputDrift:
    """``positive_rate`` and ``reference_positive_rate`` hold the location statistic named by
    ``statistic``: the share predicted positive (classifier) or the mean output (regression).
    ``shift`` is the judged change of it: absolute for a share, in reference standard
    deviations for a mean; None when not judged."""

    level: str  # ok | warn | error | insufficient
    psi: float | None
    positive_rate: float | None
    reference_positive_rate: float | None
    reason: str
    statistic: str = "positive_rate"
    shift: float | None = None

    @property
    def positive_rate_change(self) -> float | None:
        """Current minus reference, in the statistic's own units."""
        if self.positive_rate is None or self.reference_positive_rate is None:
            return None
        return self.positive_rate - self.reference_positive_rate


def compare_scores(
    current: dict,
    reference: dict,
    psi_warn: float,
    psi_error: float,
    positive_rate_error: float,
    min_rows: int,
) -> OutputDrift:
    if current["n"] < min_rows:
        return OutputDrift(
            "insufficient",
            None,
            current["positive_rate"],
            reference["positive_rate"],
            f"{current['n']} scored rows, fewer than the {min_rows} needed to judge",
        )
    index = psi(current["counts"], reference["counts"])
    change = current["positive_rate"] - reference["positive_rate"]
    if index >= psi_error or abs(change) >= positive_rate_error:
        level = "error"
    elif index >= psi_warn:
        level = "warn"
    else:
        level = "ok"
    reason = (
        f"score PSI {index:.3f} (warn {psi_warn}, error {psi_error}); positive rate "
        f"{current['positive_rate']:.3f} vs {reference['positive_rate']:.3f} "
        f"({change:+.3f}, error at ±{positive_rate_error})"
    )
    return OutputDrift(
        level, index, current["positive_rate"], reference["positive_rate"], reason, shift=change
    )


# --- real-valued outputs (a regression's predictions) ----------------------------------------


def value_profile(values, edges: Sequence[float] | None = None) -> dict:
    """Bins, counts, n, mean and std (population) of real-valued outputs.

    Without ``edges`` the bins are the deciles of ``values`` (a reference profile; repeated
    deciles merge, so a lumpy distribution may get fewer bins). With ``edges`` (a reference's
    ``edges``) the values are binned on them. The outer edges are the reference's min and max,
    shown for reading only: the first and last bins are open, so every value falls in a bin and
    the profile stays plain JSON (no infinities)."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1:
        raise ValueError(f"outputs must be 1-D, got shape {v.shape}")
    bad = int((~np.isfinite(v)).sum())
    if bad:
        raise ValueError(f"{bad} outputs are NaN or infinite")
    if edges is None:
        if not v.size:
            raise ValueError("no outputs: a reference profile needs some to take its bins from")
        inner = np.unique(np.quantile(v, np.linspace(0, 1, N_BINS + 1)[1:-1]))
        edges = [float(v.min()), *inner.tolist(), float(v.max())]
    else:
        edges = [float(e) for e in edges]
        if len(edges) < 2 or any(b < a for a, b in zip(edges, edges[1:], strict=False)):
            raise ValueError(f"edges must be at least two non-decreasing numbers, got {edges}")
        inner = np.asarray(edges[1:-1])
    # Bin i holds inner[i-1] <= v < inner[i], as np.histogram does inside the range.
    counts = np.bincount(np.searchsorted(inner, v, side="right"), minlength=inner.size + 1)
    return {
        "kind": "regression",
        "edges": edges,
        "counts": counts.astype(int).tolist(),
        "n": int(v.size),
        "mean": float(v.mean()) if v.size else None,
        "std": float(v.std()) if v.size else None,
    }


def _mean_shift(mean: float, reference_mean: float, reference_std: float) -> float:
    if reference_std > 0:
        return (mean - reference_mean) / reference_std
    # A constant reference: any move of the mean is infinitely many of its deviations.
    return 0.0 if mean == reference_mean else math.copysign(math.inf, mean - reference_mean)


def compare_values(
    current: dict,
    reference: dict,
    psi_warn: float,
    psi_error: float,
    shift_error: float,
    min_rows: int,
) -> OutputDrift:
    """A regression's output profile against its reference: ERROR when the PSI on the shared
    bins reaches ``psi_error`` or the mean moved ``shift_error`` reference standard deviations
    or more (either way); WARN from ``psi_warn``. PSI also catches a change of spread or shape
    that leaves the mean in place."""
    for name, profile in (("current", current), ("reference", reference)):
        if profile.get("kind") != "regression":
            raise ValueError(f"the {name} profile is not a value_profile of real outputs")
    if list(current["edges"]) != list(reference["edges"]):
        raise ValueError(
            "the current profile is not binned on the reference's edges: build it with "
            "value_profile(values, reference['edges'])"
        )
    if current["n"] < min_rows:
        return OutputDrift(
            "insufficient",
            None,
            current["mean"],
            reference["mean"],
            f"{current['n']} outputs, fewer than the {min_rows} needed to judge",
            statistic="mean",
        )
    index = psi(current["counts"], reference["counts"])
    shift = _mean_shift(current["mean"], reference["mean"], reference["std"])
    if index >= psi_error or abs(shift) >= shift_error:
        level = "error"
    elif index >= psi_warn:
        level = "warn"
    else:
        level = "ok"
    reason = (
        f"output PSI {index:.3f} (warn {psi_warn}, error {psi_error}); mean "
        f"{current['mean']:.4g} vs {reference['mean']:.4g} ({shift:+.2f} reference sd, "
        f"error at ±{shift_error})"
    )
    return OutputDrift(
        level, index, current["mean"], reference["mean"], reason, statistic="mean", shift=shift
    )
