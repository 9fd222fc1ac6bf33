"""The model's outputs as a distribution: a small profile of scores, and its drift.

A profile is ten equal-width bins of the escalation probability plus the share predicted
positive. The reference is the champion's scores on the held-out validation rows of its own
training window (production-like traffic, not the slice-enriched test set).
"""

from __future__ import annotations

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
    level: str  # ok | warn | error | insufficient
    psi: float | None
    positive_rate: float | None
    reference_positive_rate: float | None
    reason: str

    @property
    def positive_rate_change(self) -> float | None:
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
    return OutputDrift(level, index, current["positive_rate"], reference["positive_rate"], reason)
