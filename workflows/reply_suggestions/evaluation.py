"""A metric for every stage of the reply pipeline, per example, and the per-stage judgement.

:func:`stage_metrics` turns a served day (``world.serve_day``'s rows) into one array per stage
metric, one value per ticket (NaN: not judged for that ticket), nested ``stage -> metric``:

* ``retrieval``: ``precision_at_k`` and ``recall_at_k`` of the retrieved ids (k = the
  retriever's ``top_k``) against the ticket's ``relevant_articles``;
* ``ranking``: ``ndcg_at_k`` of the ranked ids (k = the ranker's ``context_k``: the positions
  the prompt sees);
* ``generation``: ``faithfulness``, the share of the reply's claims its context passages (the
  texts it was written from) support, and ``correctness``, the same share against the CURRENT
  version of those articles in the source's KB. The two differ only when the index is stale:
  a reply quoting the old refund window is faithful to its passage and wrong for the
  customer. ``stale_rate`` is 1 for a reply with a claim its passage supports and the current
  article no longer does (correctness below faithfulness), else 0. It is what catches a KB
  article changed upstream while the index was not rebuilt: on a day with a current index it
  is 0 by construction, while ``faithfulness`` stays high on a stale one (recall@k barely
  moves either: the questions still share most words with the old article);
* ``validation``: ``false_negative_rate`` (1 for an unfaithful reply the validator let
  through, 0 for one it blocked, NaN for a faithful reply) and ``false_positive_rate`` (1 for
  a faithful reply it blocked); unfaithful means faithfulness < 1;
* ``end_to_end``: ``task_success`` from the agents' verdicts (1 = sent as is).

:func:`stage_summary` takes each array's mean over the judged examples, :func:`judge_day` holds
them to :data:`STAGE_THRESHOLDS`, and :func:`stage_gate` compares a challenger with the
champion stage by stage with ``checks.bootstrap.paired_bootstrap`` (non-inferiority per stage
metric, and a slice guard on each stage's primary metric).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from checks.bootstrap import paired_bootstrap
from checks.gate import Criterion
from checks.metrics import REGRESSION, Metric, register_metric
from checks.stage_metrics import (
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
    task_success,
    validator_false_alarm,
    validator_miss,
)
from workflows.reply_suggestions.simulation.tickets import relevant_ids
from workflows.reply_suggestions.simulation.verdicts import verdicts as simulated_verdicts
from workflows.reply_suggestions.validation import citations, reply_faithfulness

STAGES: tuple[str, ...] = ("retrieval", "ranking", "generation", "validation", "end_to_end")
# Metric -> higher is better; the nested layout of stage_metrics' result.
STAGE_METRICS: dict[str, dict[str, bool]] = {
    "retrieval": {"precision_at_k": True, "recall_at_k": True},
    "ranking": {"ndcg_at_k": True},
    "generation": {"faithfulness": True, "correctness": True, "stale_rate": False},
    "validation": {"false_negative_rate": False, "false_positive_rate": False},
    "end_to_end": {"task_success": True},
}
# The metric each stage's slice guard watches.
STAGE_PRIMARY: dict[str, str] = {
    "retrieval": "recall_at_k",
    "ranking": "ndcg_at_k",
    "generation": "faithfulness",
    "validation": "false_negative_rate",
    "end_to_end": "task_success",
}

# Floors ("min") and ceilings ("max") per stage metric; the next step moves them into the
# workflow's policy. Measured on 10 clean days (seed 7, ~150 tickets a day, the default
# deployment: clean mean, sd, worst day); each bound sits several clean-day sd away.
STAGE_THRESHOLDS: dict[str, dict[str, dict[str, float]]] = {
    # recall@5 0.995, sd 0.004, worst 0.988 (6 sd). precision@5 is ~0.22 by construction (1.2
    # relevant articles in 5 slots): 0.219, sd 0.004; its floor only catches a collapse.
    "retrieval": {"recall_at_k": {"min": 0.97}, "precision_at_k": {"min": 0.19}},
    # ndcg@3 0.983, sd 0.007, worst 0.973 (4.6 sd).
    "ranking": {"ndcg_at_k": {"min": 0.95}},
    # faithfulness 0.981, sd 0.009, worst 0.964 (4.5 sd; the model's padding keeps it below
    # 1). stale_rate is 0 by construction with a current index; 0.01 lets one odd reply by.
    "generation": {"faithfulness": {"min": 0.94}, "stale_rate": {"max": 0.01}},
    # ~7 unfaithful replies a day, so one miss is ~0.15: the validator missed none in 10 days.
    # False positives: none in 10 days, on ~145 faithful replies a day.
    "validation": {"false_negative_rate": {"max": 0.25}, "false_positive_rate": {"max": 0.05}},
    # Verdicts are noisy: 0.671, sd 0.049, worst 0.587 (a 3 sd band).
    "end_to_end": {"task_success": {"min": 0.52}},
}


@dataclass(frozen=True)
class StageGateRules:
    """The per-stage gate: ``margin`` is the non-inferiority margin on each stage metric's
    point difference (challenger - champion, oriented so positive = challenger better);
    ``slice_max_regression`` the allowed drop of a stage's primary metric on a slice; smaller
    slices than ``min_slice_size`` judged examples are not judged. Same semantics as the
    engine's GateRules (non-inferiority on the point value; the interval is reported)."""

    margin: float = 0.01
    slice_max_regression: float = 0.05
    min_slice_size: int = 30
    confidence: float = 0.95
    n_resamples: int = 1000
    seed: int = 0


@dataclass(frozen=True)
class StageVerdict:
    """One stage's gate result: ``passed`` is False when any criterion failed."""

    stage: str
    passed: bool
    criteria: list[Criterion] = field(default_factory=list)


# --- per-example arrays ----------------------------------------------------------------------


def _aligned(served: pd.DataFrame, tickets: pd.DataFrame) -> pd.DataFrame:
    need = ("ticket_id", "relevant_articles")
    missing = [c for c in need if c not in tickets.columns]
    if missing:
        raise ValueError(f"tickets lack column(s) {missing}")
    by_id = tickets.set_index(tickets["ticket_id"].astype(str))
    ids = served["ticket_id"].astype(str)
    unknown = sorted(set(ids) - set(by_id.index))
    if unknown:
        raise ValueError(f"served rows for unknown ticket(s) {unknown[:5]}")
    return by_id.loc[ids.tolist()].reset_index(drop=True)


def _current_bodies(kb_now: pd.DataFrame) -> dict[str, str]:
    missing = [c for c in ("article_id", "body") if c not in kb_now.columns]
    if missing:
        raise ValueError(f"kb_now lacks column(s) {missing}")
    if kb_now["article_id"].duplicated().any():
        raise ValueError("kb_now holds several versions of an article: pass the KB of one day")
    return dict(zip(kb_now["article_id"].astype(str), kb_now["body"].astype(str), strict=True))


def _reply_judged(row: Mapping) -> bool:
    """A reply to judge: one was produced and it is not a refusal."""
    return isinstance(row["reply"], str) and not bool(row["refused"])


def cited_ids(reply: str, context_ids: list[str]) -> list[str]:
    """The context articles the reply cites with ``[n]``."""
    return [context_ids[n - 1] for n in citations(reply) if 1 <= n <= len(context_ids)]


def stage_metrics(
    served: pd.DataFrame,
    tickets: pd.DataFrame,
    kb_now: pd.DataFrame,
    *,
    verdicts: pd.DataFrame | None = None,
    k: int | None = None,
    ndcg_k: int | None = None,
) -> dict[str, dict[str, np.ndarray]]:
    """Per-example arrays, ``stage -> metric -> array`` in ``served``'s row order (see the
    module doc). ``served`` needs ``context_passages`` (``world.serve_day`` adds it);
    ``kb_now``: the source's articles that day (``article_id``, ``body``); ``verdicts``:
    ``ticket_id``, ``verdict`` (tickets without one are NaN). ``k`` / ``ndcg_k`` default to the
    longest retrieved / context list of the day (the config's ``top_k`` / ``context_k``)."""
    for column in ("retrieved_ids", "ranked_ids", "context_ids", "context_passages", "reply"):
        if column not in served.columns:
            raise ValueError(f"served lacks column {column!r}")
    t = _aligned(served, tickets)
    relevant = [set(relevant_ids(r)) for r in t["relevant_articles"]]
    k = k or max((len(x) for x in served["retrieved_ids"]), default=1) or 1
    ndcg_k = ndcg_k or max((len(x) for x in served["context_ids"]), default=1) or 1
    current = _current_bodies(kb_now)

    faith = np.full(len(served), np.nan)
    correct = np.full(len(served), np.nan)
    for i, row in enumerate(served.to_dict(orient="records")):
        if not _reply_judged(row):
            continue
        faith[i] = reply_faithfulness(row["reply"], list(row["context_passages"]))
        unknown = [a for a in row["context_ids"] if a not in current]
        if unknown:
            raise ValueError(f"context article(s) {unknown} are not in kb_now")
        now = [current[a] for a in row["context_ids"]]
        correct[i] = reply_faithfulness(row["reply"], now)

    judged = ~np.isnan(faith)
    passed = served["passed"].astype("boolean")
    blocked = (~passed).fillna(False).to_numpy(dtype=bool)
    validated = passed.notna().to_numpy(dtype=bool) & judged
    unfaithful = np.where(judged, faith < 1.0, False)
    miss = np.where(validated, validator_miss(blocked, unfaithful), np.nan)
    alarm = np.where(validated, validator_false_alarm(blocked, unfaithful), np.nan)

    success = np.full(len(served), np.nan)
    if verdicts is not None:
        by_id = dict(zip(verdicts["ticket_id"].astype(str), verdicts["verdict"], strict=True))
        success = task_success([by_id.get(str(t_id)) for t_id in served["ticket_id"]])

    return {
        "retrieval": {
            "precision_at_k": precision_at_k(served["retrieved_ids"].tolist(), relevant, k),
            "recall_at_k": recall_at_k(served["retrieved_ids"].tolist(), relevant, k),
        },
        "ranking": {"ndcg_at_k": ndcg_at_k(served["ranked_ids"].tolist(), relevant, ndcg_k)},
        "generation": {
            "faithfulness": faith,
            "correctness": correct,
            "stale_rate": np.where(judged, (correct < faith - 1e-12).astype(float), np.nan),
        },
        "validation": {"false_negative_rate": miss, "false_positive_rate": alarm},
        "end_to_end": {"task_success": success},
    }


def served_quality(
    served: pd.DataFrame, tickets: pd.DataFrame, arrays: Mapping[str, Mapping[str, np.ndarray]]
) -> pd.DataFrame:
    """What the agent saw per ticket, as ``simulation.verdicts`` takes it: ``refused`` when no
    suggestion was shown (nothing retrieved, a refusal, a generator error, or a reply the
    validator blocked), ``faithful`` (faithfulness 1), ``retrieved_relevant`` (the reply cites
    a relevant article), and ``created_at``."""
    t = _aligned(served, tickets)
    faith = arrays["generation"]["faithfulness"]
    relevant = [set(relevant_ids(r)) for r in t["relevant_articles"]]
    cites = [
        bool(set(cited_ids(r, c)) & rel) if isinstance(r, str) else False
        for r, c, rel in zip(served["reply"], served["context_ids"], relevant, strict=True)
    ]
    return pd.DataFrame(
        {
            "ticket_id": served["ticket_id"].astype(str).to_numpy(),
            "faithful": np.nan_to_num(faith, nan=0.0) >= 1.0,
            "retrieved_relevant": np.array(cites, dtype=bool),
            "refused": ~served["served"].to_numpy(dtype=bool),
            "created_at": t["created_at"].to_numpy() if "created_at" in t else pd.NaT,
        }
    )


def agent_verdicts(
    served: pd.DataFrame,
    tickets: pd.DataFrame,
    arrays: Mapping[str, Mapping[str, np.ndarray]],
    seed: int,
    day: dt.date,
) -> pd.DataFrame:
    """The simulated agents' verdicts on the day's suggestions (``simulation.verdicts``)."""
    return simulated_verdicts(seed, day, served_quality(served, tickets, arrays))


# --- daily judgement -------------------------------------------------------------------------


def stage_summary(arrays: Mapping[str, Mapping[str, np.ndarray]]) -> dict[str, dict[str, dict]]:
    """``stage -> metric -> {"value": mean over judged examples or None, "n": judged}``."""
    out: dict[str, dict[str, dict]] = {}
    for stage, metrics in arrays.items():
        out[stage] = {}
        for name, values in metrics.items():
            v = np.asarray(values, dtype=float)
            judged = v[~np.isnan(v)]
            mean = float(judged.mean()) if judged.size else None
            out[stage][name] = {"value": mean, "n": int(judged.size)}
    return out


def judge_day(
    summary: Mapping[str, Mapping[str, Mapping]],
    thresholds: Mapping[str, Mapping[str, Mapping[str, float]]] = STAGE_THRESHOLDS,
) -> list[tuple[str, str, float | None, float, bool | None]]:
    """``(stage, metric, value, threshold, ok)`` per threshold; ``ok`` is None when the metric
    had nothing to judge that day (e.g. no unfaithful reply for the false-negative rate). A
    threshold on a metric the summary lacks is an error (a renamed metric must not go quiet)."""
    rows = []
    for stage, metrics in thresholds.items():
        for name, bound in metrics.items():
            if stage not in summary or name not in summary[stage]:
                raise KeyError(f"summary has no {stage}.{name}; it has a threshold")
            if set(bound) not in ({"min"}, {"max"}):
                raise ValueError(f"{stage}.{name}: give exactly one of 'min' or 'max', got {bound}")
            value = summary[stage][name]["value"]
            limit = float(bound.get("min", bound.get("max")))
            if value is None:
                ok = None
            elif "min" in bound:
                ok = value >= limit
            else:
                ok = value <= limit
            rows.append((stage, name, value, limit, ok))
    return rows


def alerts(judged: list[tuple[str, str, float | None, float, bool | None]]) -> list[str]:
    """``stage.metric`` of every failed threshold."""
    return [f"{stage}.{metric}" for stage, metric, _, _, ok in judged if ok is False]


# --- the per-stage gate ----------------------------------------------------------------------

# A stage metric as the engine's bootstrap takes it: the mean of per-example values, passed as
# the regression "predictions" (y is unused zeros).
STAGE_METRIC_REGISTRY: dict[str, Metric] = {}
for _stage, _metrics in STAGE_METRICS.items():
    for _name, _higher in _metrics.items():
        register_metric(
            Metric(
                f"{_stage}.{_name}",
                lambda y, p, t: float(np.mean(p)),
                _higher,
                f"mean per-example {_name} of the {_stage} stage",
                batch=lambda y, p, t, w: w @ p / p.size,
                kind=REGRESSION,
            ),
            STAGE_METRIC_REGISTRY,
        )


def _paired(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"champion and challenger arrays differ in length: {b.shape}, {a.shape}")
    return ~np.isnan(a) & ~np.isnan(b)


def _mean(values: np.ndarray, mask: np.ndarray) -> float | None:
    return float(values[mask].mean()) if mask.any() else None


def stage_gate(
    champion_arrays: Mapping[str, Mapping[str, np.ndarray]],
    challenger_arrays: Mapping[str, Mapping[str, np.ndarray]],
    slices: Mapping[str, np.ndarray],
    rules: StageGateRules | None = None,
) -> dict[str, StageVerdict]:
    """Stage by stage: may the challenger replace the champion? Both arrays come from the
    SAME tickets in the same order (the comparison is paired: an example counts where both
    were judged).

    Per stage metric, ``non_inferiority:<metric>``: the point difference (positive =
    challenger better) is at least ``-margin``; the paired bootstrap interval is reported. A
    metric with nothing judged for both is "not judged" (e.g. no unfaithful reply for a
    false-negative rate). Per slice (a boolean mask over the tickets) and stage,
    ``slice:<name>:<metric>`` on the stage's primary metric: its drop on the slice may not
    exceed ``slice_max_regression``; slices with fewer than ``min_slice_size`` judged examples
    are not judged."""
    rules = rules or StageGateRules()
    out: dict[str, StageVerdict] = {}
    for stage, metrics in STAGE_METRICS.items():
        criteria: list[Criterion] = []
        for name in metrics:
            a = np.asarray(challenger_arrays[stage][name], dtype=float)
            b = np.asarray(champion_arrays[stage][name], dtype=float)
            both = _paired(a, b)
            crit = f"non_inferiority:{name}"
            if not both.any():
                criteria.append(
                    Criterion(crit, None, -rules.margin, None, "not judged: no example")
                )
                continue
            d = paired_bootstrap(
                np.zeros(int(both.sum())),
                a[both],
                b[both],
                [f"{stage}.{name}"],
                threshold=0.0,
                n_resamples=rules.n_resamples,
                confidence=rules.confidence,
                seed=rules.seed,
                registry=STAGE_METRIC_REGISTRY,
            )[f"{stage}.{name}"]
            ok = d.diff is not None and d.diff >= -rules.margin - 1e-9
            interval = "" if d.low is None else f" [{d.low:+.3f}, {d.high:+.3f}]"
            text = (
                f"{stage} {name}: {_mean(a, both):.3f} vs {_mean(b, both):.3f}, difference "
                f"{d.diff:+.3f}{interval} {'>=' if ok else '<'} -{rules.margin:g} (n={both.sum()})"
            )
            criteria.append(Criterion(crit, d.diff, -rules.margin, bool(ok), text))
        primary = STAGE_PRIMARY[stage]
        higher = STAGE_METRICS[stage][primary]
        a = np.asarray(challenger_arrays[stage][primary], dtype=float)
        b = np.asarray(champion_arrays[stage][primary], dtype=float)
        for slice_name, mask in slices.items():
            mask = np.asarray(mask, dtype=bool)
            if mask.shape != a.shape:
                raise ValueError(f"slice {slice_name!r} has {mask.size} rows, arrays {a.size}")
            both = _paired(a, b) & mask
            crit = f"slice:{slice_name}:{primary}"
            n = int(both.sum())
            if n < rules.min_slice_size:
                text = f"slice {slice_name!r} (n={n}): not judged, < {rules.min_slice_size}"
                criteria.append(Criterion(crit, None, rules.slice_max_regression, None, text))
                continue
            ca, cb = _mean(a, both), _mean(b, both)
            regression = cb - ca if higher else ca - cb
            ok = regression <= rules.slice_max_regression + 1e-9
            text = (
                f"slice {slice_name!r} (n={n}): {stage} {primary} {ca:.3f} vs {cb:.3f}, "
                f"regression {regression:.3f} {'<=' if ok else '>'} "
                f"{rules.slice_max_regression:g} allowed"
            )
            criteria.append(Criterion(crit, regression, rules.slice_max_regression, ok, text))
        passed = not any(c.passed is False for c in criteria)
        out[stage] = StageVerdict(stage=stage, passed=passed, criteria=criteria)
    return out


def gate_verdict(stages: Mapping[str, StageVerdict]) -> str:
    """``promote`` when every stage passed, else ``reject``."""
    return "promote" if all(v.passed for v in stages.values()) else "reject"
