"""The four monitoring layers as plain functions: output (label-free estimate), performance
(per segment, from labels and people's feedback), business (a KPI) and a stage view.

They speak a neutral vocabulary, mapped from the workflow's columns by the readiness asset:
predictions carry `entity_id`, `score`, `decision`, `champion_score`, `champion_version`;
labels `entity_id`, `label`; feedback `entity_id`, `actor`, `used`, `accepted`, `kpi`.

Confidence-based performance estimation (CBPE, as NannyML describes it): a calibrated model's
probability p is the chance its decision is right when it says "yes" (p >= t), and 1 - p
when it says "no". The mean of those is the expected task success of a day's decisions,
known the moment they are scored; each row is a Bernoulli trial, so the estimate carries its
own standard error. It tracks shifts in *what the model sees* (covariate shift) and assumes
the link between features and outcome is unchanged: a concept drift leaves the confidences,
and so the estimate, where they were. People's overrides are the label-free signal for that.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

BARS = "▁▂▃▄▅▆▇█"


@dataclass(frozen=True)
class Estimate:
    value: float | None
    std: float | None
    n: int


def cbpe_task_success(scores: np.ndarray, threshold) -> Estimate:
    """Expected share of right decisions from calibrated probabilities (no labels needed);
    ``threshold`` a number or one per score (each row's serving version decides at its own)."""
    p = np.asarray(scores, dtype="float64")
    t = np.broadcast_to(np.asarray(threshold, dtype="float64"), p.shape)
    keep = np.isfinite(p)
    p, t = p[keep], t[keep]
    if not len(p):
        return Estimate(None, None, 0)
    right = np.where(p >= t, p, 1.0 - p)
    return Estimate(
        float(right.mean()), float(np.sqrt((right * (1 - right)).sum()) / len(p)), len(p)
    )


# The column holding, per row, the threshold its score was decided at (None: the task's).
THRESHOLD_OF = {
    "score": "threshold",
    "champion_score": "champion_threshold",
    "challenger_score": "challenger_threshold",
}


def thresholds(frame: pd.DataFrame, column: str) -> np.ndarray | None:
    """Per row, the decision threshold of the version whose output `column` holds; None for
    records written before versions chose their thresholds (the task's own applies)."""
    name = THRESHOLD_OF.get(column)
    if name is None or name not in frame:
        return None
    values = frame[name].to_numpy(dtype="float64")
    return None if np.isnan(values).all() else values


def task_success(scores: np.ndarray, labels: np.ndarray, task, param=None) -> float | None:
    """Share of rows the task calls a success (`task.correct`, at `param` per row when
    given); None without rows."""
    if not len(scores):
        return None
    out = np.asarray(scores, dtype="float64")
    return float(np.mean(task.correct(out, np.asarray(labels), param)))


def adoption_summary(actions: pd.DataFrame) -> dict:
    """From people's feedback: who uses the outputs, how often they override them, and the
    KPI. `adoption` is the share of actors who handled rows on a day and used the output that
    day, over the days given (with a `day` column; else over the actors)."""
    if actions.empty:
        return {
            "actors": 0,
            "actors_using": 0,
            "adoption": None,
            "override_rate": None,
            "acceptance_rate": None,
            "kpi": None,
            "rows": 0,
        }
    used = actions["used"].to_numpy(dtype=bool)
    accepted = actions["accepted"].to_numpy(dtype=bool)
    actors = actions["actor"].nunique()
    using = actions.loc[used, "actor"].nunique()
    keys = ["day", "actor"] if "day" in actions else ["actor"]
    per_actor_day = actions.assign(used=used).groupby(keys)["used"].any()
    return {
        "actors": int(actors),
        "actors_using": int(using),
        "adoption": float(per_actor_day.mean()) if len(per_actor_day) else None,
        "override_rate": float((used & ~accepted).sum() / used.sum()) if used.any() else None,
        "acceptance_rate": float((used & accepted).sum() / used.sum()) if used.any() else None,
        "kpi": float(actions["kpi"].mean()) if "kpi" in actions else None,
        "rows": int(len(actions)),
    }


def segment_performance(joined: pd.DataFrame, segments: list[str], task) -> list[dict]:
    """Per segment value: task success (labelled rows), acceptance rate (rows where the
    output was used), decision rate (share of yes decisions; None for a regression) and
    error rate (no model output). Acceptance counts only rows where the output was used: a
    row nobody looked at was neither accepted nor overridden."""
    rows = []
    for column in segments:
        for value, part in joined.groupby(column, observed=True):
            labelled = part[part["label"].notna() & part["champion_score"].notna()]
            seen = part[part["used"] == 1] if "used" in part else part.iloc[0:0]
            decisions = part["decision"].to_numpy()
            rows.append(
                {
                    "segment": column,
                    "value": str(value),
                    "rows": int(len(part)),
                    "task_success": task_success(
                        labelled["score"].to_numpy(),
                        labelled["label"].to_numpy(),
                        task,
                        thresholds(labelled, "score"),
                    ),
                    "acceptance_rate": float(seen["accepted"].mean()) if len(seen) else None,
                    "decision_rate": float(decisions.mean())
                    if len(part) and decisions.dtype == bool
                    else None,
                    "error_rate": float(part["champion_score"].isna().mean()),
                }
            )
    return rows


def stage_view(measured: dict[str, float | None], thresholds: dict[str, dict]) -> list[dict]:
    """Each stage of a multi-stage workflow against its own threshold, so "the pipeline is at
    74%" becomes "this stage fell below its line". `measured` holds every declared stage;
    `thresholds[name]` is {"min": x} or {"max": x}; a stage not measured, or without a
    threshold, is reported, not judged."""
    out = []
    for name, value in measured.items():
        rule = thresholds.get(name, {})
        if not rule:
            status = "no threshold"
        elif value is None:
            status = "not measured"
        elif "min" in rule:
            status = "ok" if value >= rule["min"] else "below its threshold"
        else:
            status = "ok" if value <= rule["max"] else "above its threshold"
        out.append({"stage": name, "value": value, **rule, "status": status})
    return out


def sparkline(values: list[float | None]) -> str:
    """A tiny text chart for Markdown: one block per value, a gap where there is none."""
    real = [v for v in values if v is not None]
    if not real:
        return ""
    low, high = min(real), max(real)
    span = (high - low) or 1.0
    return "".join(
        " " if v is None else BARS[min(int((v - low) / span * (len(BARS) - 1) + 0.5), 7)]
        for v in values
    )


@dataclass(frozen=True)
class Signal:
    name: str
    day: str | None
    value: float | None
    low: float | None
    high: float | None
    moved: bool
    reason: str


def early_warning(
    daily: list[dict],
    name: str,
    direction: str,
    window: int = 14,
    k: float = 3.0,
    min_spread: float = 0.01,
    min_days: int = 7,
) -> Signal:
    """Has the newest value of a label-free signal left the band of the days before it?

    The band is the median +- k robust standard deviations (1.4826 MAD, at least
    `min_spread`) of up to `window` earlier values scored by the same champion (a new model
    has its own level); `direction` is "down" (the estimate of task success) or "up" (the
    override rate). Fewer than `min_days` earlier values: not judged."""
    points = [(d["day"], d.get(name), d.get("version")) for d in daily if d.get(name) is not None]
    if points:
        points = [(day, v) for day, v, version in points if version == points[-1][2]]
    if len(points) < min_days + 1:
        return Signal(name, None, None, None, None, False, f"{name}: too few days to judge")
    day, value = points[-1]
    before = np.array([v for _, v in points[-1 - window : -1]])
    centre = float(np.median(before))
    spread = max(k * 1.4826 * float(np.median(np.abs(before - centre))), min_spread)
    low, high = centre - spread, centre + spread
    moved = value < low if direction == "down" else value > high
    side = "below" if direction == "down" else "above"
    reason = (
        f"{name} {value:.3f} on {day} is {'' if moved else 'not '}{side} its band "
        f"{low:.3f}..{high:.3f} (median of the {len(before)} days before +- {k:g} robust sd)"
    )
    return Signal(name, day, value, low, high, moved, reason)
