"""Plain helpers the staged pipeline's assets share: serving both arms, the per-arm stage
judgement, the gate's replay. No Dagster here; the assets (pipeline_daily, pipeline_versions)
fetch inputs and attach metadata."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import date

import numpy as np
import pandas as pd

from assets.pipeline_release import Served
from assets.pipeline_task import StagedPipeline
from checks import rollout as rollout_rules
from checks import stage_gate
from checks.rollout_stats import canary_mask

log = logging.getLogger(__name__)

ARM, VERSION, LIVE = "arm", "version", "live"
CHAMPION, CHALLENGER = "champion", "challenger"


def serve_arms(
    task: StagedPipeline,
    rows: pd.DataFrame,
    day: date,
    source_url: str,
    entity_id: str,
    champion: Served,
    challenger: Served | None = None,
    rollout: Mapping | None = None,
) -> tuple[pd.DataFrame, str | None]:
    """Every row through the champion and, during a rollout, through the challenger too (the
    shadow: the same traffic, so the stages compare row by row). ``live`` marks the arm whose
    output the person saw: the challenger's on the canary's rows (a keyed hash of the entity,
    ``checks.rollout_stats``), the champion's elsewhere. A challenger that fails as a whole is
    recorded (its rows carry the error, none live) and the champion serves every row."""
    comp = task.component
    ids = rows[entity_id].astype(str).tolist()
    fraction = float(rollout["fraction"]) if rollout else 0.0
    canary = (
        canary_mask(ids, rollout["id"], fraction)
        if challenger is not None and fraction > 0
        else np.zeros(len(rows), dtype=bool)
    )
    champ = comp.serve(champion.deployed, rows, day, source_url)
    frames = [_arm(champ, CHAMPION, champion.version, ~canary)]
    failure = None
    if challenger is not None:
        try:
            chall = comp.serve(challenger.deployed, rows, day, source_url)
        except Exception as exc:  # recorded per row and fired as a rollback trigger
            failure = f"{type(exc).__name__}: {exc}"
            log.error("challenger v%s failed to serve %s: %s", challenger.version, day, failure)
            chall = champ.copy()
            chall[comp.output_text] = None
            chall[comp.offered_column] = False
            chall[comp.error_column] = failure
            canary = np.zeros(len(rows), dtype=bool)
            frames[0][LIVE] = True
        frames.append(_arm(chall, CHALLENGER, challenger.version, canary))
    return pd.concat(frames, ignore_index=True), failure


def _arm(served: pd.DataFrame, arm: str, version: str, live: np.ndarray) -> pd.DataFrame:
    out = served.reset_index(drop=True).copy()
    out[ARM] = arm
    out[VERSION] = str(version)
    out[LIVE] = np.asarray(live, dtype=bool)
    return out


def arm_rows(served: pd.DataFrame, arm: str) -> pd.DataFrame:
    return served[served[ARM] == arm].reset_index(drop=True)


def arms(served: pd.DataFrame) -> list[str]:
    return [a for a in (CHAMPION, CHALLENGER) if (served[ARM] == a).any()]


def judged_arm(
    task: StagedPipeline,
    served_arm: pd.DataFrame,
    rows: pd.DataFrame,
    context_now: pd.DataFrame,
    thresholds: Mapping,
    min_rows: int,
) -> tuple[dict, dict, list[stage_gate.Judgement]]:
    """One arm's stage arrays, their summary and the thresholds' judgements."""
    arrays = task.component.stage_arrays(served_arm, rows, context_now)
    summary = stage_gate.summarize(arrays)
    known = {s: m for s, m in thresholds.items() if s in summary}
    return arrays, summary, stage_gate.judge(summary, known, min_rows=min_rows)


def error_rate(task: StagedPipeline, served_arm: pd.DataFrame) -> float:
    errors = served_arm[task.component.error_column]
    return float(errors.notna().mean()) if len(served_arm) else 0.0


def gate_specs(task: StagedPipeline) -> list[stage_gate.StageSpec]:
    """The stages a replay can judge: all but the end-to-end one (its label comes later)."""
    return [s for s in task.stages if s.name != task.end_to_end]


def concat_arrays(parts: Sequence[Mapping[str, Mapping[str, np.ndarray]]]) -> dict:
    """Per-day stage arrays joined row-wise (the same stages and metrics every day)."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for part in parts:
        for stage, metrics in part.items():
            for metric, values in metrics.items():
                out.setdefault(stage, {}).setdefault(metric, []).append(np.asarray(values))
    return {s: {m: np.concatenate(v) for m, v in ms.items()} for s, ms in out.items()}


def concat_slices(parts: Sequence[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    names = set().union(*(p.keys() for p in parts)) if parts else set()
    return {n: np.concatenate([np.asarray(p[n], dtype=bool) for p in parts]) for n in names}


def judgement_rows(arm: str, judgements: Sequence[stage_gate.Judgement]) -> list[dict]:
    return [
        {
            "arm": arm,
            "stage": j.stage,
            "metric": j.metric,
            "value": None if j.value is None else round(j.value, 4),
            "n": j.n,
            "bound": f"{j.side} {j.bound}",
            "passed": "not judged" if j.passed is None else ("yes" if j.passed else "NO"),
        }
        for j in judgements
    ]


def rollout_move(record: dict, metrics: Mapping, rules, today: date) -> rollout_rules.Move:
    """Today's move of an active rollout from the day's stage metrics (``stage_metrics``'s
    value): a failing stage of the challenger, or its error rate above the policy's ceiling
    (``rules``: the rollout section), rolls it back; the stage gate on the day's shared
    traffic is the proof that lets the last step complete."""
    chall = metrics["arms"].get(CHALLENGER)
    fired = list(chall["failing"]) if chall else ["the challenger served nothing"]
    if chall and chall["error_rate"] > rules.max_error_rate:
        fired.append(
            f"challenger error rate {chall['error_rate']:.1%} above {rules.max_error_rate:.1%}"
        )
    paired = metrics.get("paired")
    proven = None if paired is None else paired["verdict"] == "promote"
    proof = "stage gate on the day's shared traffic: " + (
        paired["verdict"] if paired else "not judged"
    )
    return rollout_rules.next_move(record, today, fired, proven, proof)
