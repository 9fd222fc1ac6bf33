"""A metric for every stage of the reply pipeline, per example.

:func:`stage_metrics` turns a served day (``world.serve_day``'s rows) into one array per stage
metric, one value per ticket (NaN: not judged for that ticket), nested ``stage -> metric``:

* ``retrieval``: ``precision_at_k`` and ``recall_at_k`` of the retrieved ids (k = the
  retriever's ``top_k``) against the ticket's ``relevant_articles``, and ``stale_rate``: 1 for
  a reply with a claim its passage supports and the current article no longer does
  (``correctness`` below ``faithfulness``), else 0. It belongs to retrieval because it is the
  index that is stale: it catches a KB article changed upstream while the index was not
  rebuilt. On a day with a current index it is 0 by construction, while ``faithfulness``
  stays high on a stale one (recall@k barely moves either: the questions still share most
  words with the old article);
* ``ranking``: ``ndcg_at_k`` of the ranked ids (k = the ranker's ``context_k``: the positions
  the prompt sees);
* ``generation``: ``faithfulness``, the share of the reply's claims its context passages (the
  texts it was written from) support, and ``correctness``, the same share against the CURRENT
  version of those articles in the source's KB. The two differ only when the index is stale:
  a reply quoting the old refund window is faithful to its passage and wrong for the
  customer;
* ``validation``: ``false_negative_rate`` (1 for an unfaithful reply the validator let
  through, 0 for one it blocked, NaN for a faithful reply) and ``false_positive_rate`` (1 for
  a faithful reply it blocked); unfaithful means faithfulness < 1;
* ``end_to_end``: ``task_success`` from the agents' verdicts (1 = sent as is).

:data:`STAGE_SPECS` declares each stage's metrics and direction for the engine's
``checks.stage_gate`` (the daily judgement against :data:`STAGE_THRESHOLDS` and the per-stage
gate); this module only knows the workflow's columns.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import numpy as np
import pandas as pd

from checks.stage_gate import StageSpec
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

# Each stage's metrics (name -> higher is better), in stage_metrics' nested layout, and the
# metric its slice guard watches.
STAGE_SPECS: tuple[StageSpec, ...] = (
    StageSpec(
        "retrieval",
        {"precision_at_k": True, "recall_at_k": True, "stale_rate": False},
        primary="recall_at_k",
    ),
    StageSpec("ranking", {"ndcg_at_k": True}, primary="ndcg_at_k"),
    StageSpec("generation", {"faithfulness": True, "correctness": True}, primary="faithfulness"),
    StageSpec(
        "validation",
        {"false_negative_rate": False, "false_positive_rate": False},
        primary="false_negative_rate",
    ),
    StageSpec("end_to_end", {"task_success": True}, primary="task_success"),
)

# Floors ("min") and ceilings ("max") per stage metric, in the layout of the policy's
# ``pipeline.thresholds`` (the workflow's default for it). Measured on 10 clean days (seed 7,
# ~150 tickets a day, the default deployment: clean mean, sd, worst day); each bound sits
# several clean-day sd away.
STAGE_THRESHOLDS: dict[str, dict[str, dict[str, float]]] = {
    # recall@5 0.995, sd 0.004, worst 0.988 (6 sd). precision@5 is ~0.22 by construction (1.2
    # relevant articles in 5 slots): 0.219, sd 0.004; its floor only catches a collapse.
    # stale_rate is 0 by construction with a current index; 0.01 lets one odd reply by.
    "retrieval": {
        "recall_at_k": {"min": 0.97},
        "precision_at_k": {"min": 0.19},
        "stale_rate": {"max": 0.01},
    },
    # ndcg@3 0.983, sd 0.007, worst 0.973 (4.6 sd).
    "ranking": {"ndcg_at_k": {"min": 0.95}},
    # faithfulness 0.981, sd 0.009, worst 0.964 (4.5 sd; the model's padding keeps it below 1).
    "generation": {"faithfulness": {"min": 0.94}},
    # ~7 unfaithful replies a day, so one miss is ~0.15: the validator missed none in 10 days.
    # False positives: none in 10 days, on ~145 faithful replies a day.
    "validation": {"false_negative_rate": {"max": 0.25}, "false_positive_rate": {"max": 0.05}},
    # Verdicts are noisy: 0.671, sd 0.049, worst 0.587 (a 3 sd band).
    "end_to_end": {"task_success": {"min": 0.52}},
}


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
            "stale_rate": np.where(judged, (correct < faith - 1e-12).astype(float), np.nan),
        },
        "ranking": {"ndcg_at_k": ndcg_at_k(served["ranked_ids"].tolist(), relevant, ndcg_k)},
        "generation": {
            "faithfulness": faith,
            "correctness": correct,
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
