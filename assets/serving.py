"""Who serves each ticket: the champion, the challenger's canary arm, a pinned version, or the
workflow's rule-based default when the model is switched off. Plain pandas, no Dagster.

Every row records its arm and the version that served it, plus what the champion and the
challenger each scored (both score every ticket while a rollout runs: that is the shadow), so
the two can be compared on the same traffic.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from assets.feature_definitions import FEATURE_COLUMNS
from checks.rollout_stats import canary_mask

log = logging.getLogger("afterlaunch.serving")

RULES = "rules"  # the serving version recorded when the rule-based default served


@dataclass(frozen=True)
class Scorer:
    version: str
    model: object


@dataclass(frozen=True)
class Served:
    frame: pd.DataFrame
    challenger_failure: str | None  # why the challenger produced no scores at all, if it did not


def current_rollout(store) -> dict | None:
    """The latest rollout record (the `rollout` asset), or None when none was ever started."""
    return store.read("rollout", None) if store.partitions("rollout") else None


def current_flag(store) -> dict | None:
    """The latest serving flag (`serving_flags`), or None when nobody flipped it: on."""
    return store.read("serving_flags", None) if store.partitions("serving_flags") else None


def _scores(model, x: pd.DataFrame) -> np.ndarray:
    if len(x) == 0:  # an empty feed (the volume and freshness checks say why); sklearn refuses it
        return np.zeros(0)
    return np.asarray(model.predict_proba(x)[:, 1], dtype="float64")


def rule_scores(features: pd.DataFrame, escalate_priorities: list[str]) -> np.ndarray:
    """The workflow's default without a model: escalate tickets of the listed priorities."""
    return features["priority"].isin(escalate_priorities).to_numpy(dtype="float64")


def _challenger_scores(model, x: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, str | None]:
    # A failing challenger must not stop the champion from serving: its failure is counted
    # per row (the error-rate trigger reads it) and the reason is returned, never hidden.
    try:
        p = _scores(model, x)
    except Exception as err:  # noqa: BLE001 - any failure of the challenger is its error
        log.warning("challenger failed to score %d rows: %s", len(x), err)
        return np.full(len(x), np.nan), np.ones(len(x), dtype=bool), f"{type(err).__name__}: {err}"
    bad = ~np.isfinite(p) | (p < 0) | (p > 1)
    return np.where(bad, np.nan, p), bad, None


def serve(
    features: pd.DataFrame,
    *,
    main: Scorer | None,
    challenger: Scorer | None = None,
    rollout_id: str | None = None,
    fraction: float = 0.0,
    arm_of_main: str = "champion",
    threshold: float,
    fallback_priorities: list[str],
    scored_at: str,
) -> Served:
    """`main` is the champion (or the pinned version, with `arm_of_main="pinned"`); None means
    the model is switched off and the rule-based default serves every ticket. `challenger`
    with `rollout_id` and `fraction`: scored on every ticket, served on the canary arm."""
    n = len(features)
    ids = features["ticket_id"].astype("str").to_numpy()
    x = features[FEATURE_COLUMNS]
    failure = None
    if main is None:
        served = rule_scores(features, fallback_priorities)
        main_version, main_scores = None, np.full(n, np.nan)
        version = np.full(n, RULES, dtype=object)
        arm = np.full(n, "flag_off", dtype=object)
    else:
        main_scores = _scores(main.model, x)
        main_version, served = main.version, main_scores.copy()
        version = np.full(n, main.version, dtype=object)
        arm = np.full(n, arm_of_main, dtype=object)
    challenger_scores = np.full(n, np.nan)
    errors = np.zeros(n, dtype=bool)
    if challenger is not None and main is not None:
        if not rollout_id:
            raise ValueError("a challenger is scored only inside a rollout (rollout_id missing)")
        challenger_scores, errors, failure = _challenger_scores(challenger.model, x)
        # A canary ticket the challenger could not score is served by the champion instead.
        canary = canary_mask(ids, rollout_id, fraction) & ~errors
        served = np.where(canary, challenger_scores, served)
        version = np.where(canary, challenger.version, version)
        arm = np.where(canary, "canary", arm)
    frame = pd.DataFrame(
        {
            "ticket_id": ids,
            "arm": arm.astype("str"),
            "model_version": version.astype("str"),  # the version that served the row
            "score": served,
            "confidence": np.maximum(served, 1.0 - served),
            "escalate": served >= threshold,
            "champion_version": main_version,
            "champion_score": main_scores,
            "challenger_version": challenger.version if challenger and main else None,
            "challenger_score": challenger_scores,
            "challenger_error": errors,
            "rollout_id": rollout_id if challenger and main else None,
            "scored_at": scored_at,
        }
    )
    return Served(frame, failure)
