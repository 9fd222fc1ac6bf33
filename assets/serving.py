"""Who serves each row: the champion, the challenger's canary arm, a pinned version, or the
workflow's fallback rule when the model is switched off. Plain pandas, no Dagster.

Every row records its arm and the version that served it, plus what the champion and the
challenger each output (both score every row while a rollout runs: that is the shadow), so
the two can be compared on the same traffic. Each model computes its own feature set from the
raw rows, so a champion on feature set v1 and a challenger on v2 serve side by side.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from assets.models import ServedModel
from assets.names import FLAGS, ROLLOUT
from assets.workflow import Workflow
from checks.rollout_stats import canary_mask

log = logging.getLogger("afterlaunch.serving")

RULES = "rules"  # the serving version recorded when the fallback rule served


@dataclass(frozen=True)
class Served:
    frame: pd.DataFrame
    challenger_failure: str | None  # why the challenger produced no outputs at all, if so


def current_rollout(store) -> dict | None:
    """The latest rollout record, or None when none was ever started."""
    return store.read(ROLLOUT, None) if store.partitions(ROLLOUT) else None


def current_flag(store) -> dict | None:
    """The latest serving flag, or None when nobody flipped it: on."""
    return store.read(FLAGS, None) if store.partitions(FLAGS) else None


def _challenger_outputs(
    wf: Workflow, model: ServedModel, raw: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray, str | None]:
    # A failing challenger must not stop the champion from serving: its failure is counted
    # per row (the error-rate trigger reads it) and the reason is returned, never hidden.
    try:
        out = np.asarray(model.outputs(wf, raw), dtype="float64")
    except Exception as err:  # noqa: BLE001 - any failure of the challenger is its error
        log.warning("challenger failed to score %d rows: %s", len(raw), err)
        n = len(raw)
        return np.full(n, np.nan), np.ones(n, dtype=bool), f"{type(err).__name__}: {err}"
    bad = ~wf.task.valid_outputs(out)
    return np.where(bad, np.nan, out), bad, None


def serve(
    wf: Workflow,
    raw: pd.DataFrame,
    *,
    main: ServedModel | None,
    challenger: ServedModel | None = None,
    rollout_id: str | None = None,
    fraction: float = 0.0,
    arm_of_main: str = "champion",
    scored_at: str,
) -> Served:
    """`main` is the champion (or the pinned version, with `arm_of_main="pinned"`); None means
    the model is switched off and the workflow's fallback serves every row. `challenger` with
    `rollout_id` and `fraction`: scored on every row, served on the canary arm."""
    n = len(raw)
    ids = raw[wf.entity.id].astype("str").to_numpy()
    failure = None
    if main is None:
        if wf.fallback is None:
            raise ValueError(f"workflow {wf.name} declares no fallback: it cannot be switched off")
        served = np.asarray(wf.fallback.rule(raw), dtype="float64") if n else np.zeros(0)
        main_version, main_scores = None, np.full(n, np.nan)
        threshold = main_threshold = np.full(n, wf.task.param, dtype="float64")
        version = np.full(n, RULES, dtype=object)
        arm = np.full(n, "flag_off", dtype=object)
    else:
        main_scores = np.asarray(main.outputs(wf, raw), dtype="float64")
        main_version, served = main.version, main_scores.copy()
        main_threshold = np.full(n, main.task_of(wf).param, dtype="float64")
        threshold = main_threshold.copy()
        version = np.full(n, main.version, dtype=object)
        arm = np.full(n, arm_of_main, dtype=object)
    challenger_scores = np.full(n, np.nan)
    challenger_threshold = np.full(n, np.nan)
    errors = np.zeros(n, dtype=bool)
    if challenger is not None and main is not None:
        if not rollout_id:
            raise ValueError("a challenger is scored only inside a rollout (rollout_id missing)")
        challenger_scores, errors, failure = _challenger_outputs(wf, challenger, raw)
        # A canary row the challenger could not score is served by the champion instead.
        canary = canary_mask(ids, rollout_id, fraction) & ~errors
        served = np.where(canary, challenger_scores, served)
        challenger_threshold = np.full(n, challenger.task_of(wf).param, dtype="float64")
        threshold = np.where(canary, challenger_threshold, threshold)
        version = np.where(canary, challenger.version, version)
        arm = np.where(canary, "canary", arm)
    frame = pd.DataFrame(
        {
            wf.entity.id: ids,
            "arm": arm.astype("str"),
            "model_version": version.astype("str"),  # the version that served the row
            "score": served,
            "confidence": wf.task.confidence(served),
            # Each row decided at the threshold of the version that served it.
            "decision": wf.task.decide(served, threshold),
            "threshold": threshold,
            "champion_version": main_version,
            "champion_score": main_scores,
            "champion_threshold": main_threshold,
            "challenger_version": challenger.version if challenger and main else None,
            "challenger_score": challenger_scores,
            "challenger_threshold": challenger_threshold,
            "challenger_error": errors,
            "rollout_id": rollout_id if challenger and main else None,
            "scored_at": scored_at,
            # The workflow's segments ride along, so the performance layer can break down.
            **{c: raw[c].to_numpy() for c in wf.segments if c in raw},
        }
    )
    return Served(frame, failure)
