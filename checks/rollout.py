"""The rollout of a challenger as a small state machine on a plain record (a JSON-able dict).

    shadow ──> canary step 1 ──> ... ──> canary at 100% ──> promoted
       │            │                          │     └────> abandoned (not proven on traffic)
       └────────────┴───── trigger fired ──────┴──────────> rolled_back

The record is what the `rollout` asset stores, one materialization per move, so the Dagster UI
shows every step. It carries the triggers written down when the release started (the floor in
task-success terms, the error-rate ceiling), so a later reader sees what was agreed, not only
what happened. Nothing here touches Dagster or the registry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from checks.policy import RolloutRules

ACTIVE = ("shadow", "canary")
ENDED = ("promoted", "rolled_back", "abandoned")


class RolloutError(ValueError):
    """A move the record's state does not allow (named in the message)."""


@dataclass(frozen=True)
class Move:
    """What the rollout should do today: `advance`, `complete`, `rollback`, `abandon` or
    `wait`, and why."""

    action: str
    reason: str


def is_active(record: dict | None) -> bool:
    return bool(record) and record["state"] in ACTIVE


def start(
    *,
    version: str,
    champion_version: str,
    baseline_task_success: float,
    rules: RolloutRules,
    today: date,
    actor: str,
    reason: str,
    policy_version: str,
) -> dict:
    """A new rollout in shadow. Its id salts the arm assignment, so two rollouts split the
    traffic independently while one rollout keeps every entity in its arm."""
    floor = baseline_task_success - rules.task_success_drop_points / 100
    record = {
        "id": f"v{version}-{today.isoformat()}",
        "version": version,
        "champion_version": champion_version,
        "state": "shadow",
        "step": -1,  # -1 = shadow; otherwise an index into `schedule`
        "fraction": 0.0,
        "started": today.isoformat(),
        "step_started": today.isoformat(),
        "ended": None,
        "shadow_days": rules.shadow_days,
        "schedule": [s.model_dump() for s in rules.steps],
        "triggers": {
            "baseline_task_success": baseline_task_success,
            "task_success_floor": floor,
            "task_success_drop_points": rules.task_success_drop_points,
            "max_error_rate": rules.max_error_rate,
            "confidence": rules.confidence,
            "promotion": rules.promotion,
        },
        "policy_version": policy_version,
        "events": [],
    }
    return _log(record, "start", today, actor, reason)


def _log(record: dict, action: str, today: date, actor: str, reason: str) -> dict:
    record["events"].append(
        {
            "action": action,
            "date": today.isoformat(),
            "state": record["state"],
            "fraction": record["fraction"],
            "actor": actor,
            "reason": reason,
        }
    )
    return record


def _require_active(record: dict | None, action: str) -> dict:
    if not is_active(record):
        state = record["state"] if record else "none"
        raise RolloutError(f"cannot {action}: no rollout in progress (last state: {state})")
    return {**record, "events": list(record["events"])}


def advance(record: dict, today: date, actor: str, reason: str) -> dict:
    """The next step of the schedule (shadow -> first canary step -> ...)."""
    record = _require_active(record, "advance")
    nxt = record["step"] + 1
    if nxt >= len(record["schedule"]):
        raise RolloutError("the rollout is at its last step: complete it instead")
    record.update(
        state="canary",
        step=nxt,
        fraction=record["schedule"][nxt]["fraction"],
        step_started=today.isoformat(),
    )
    return _log(record, "advance", today, actor, reason)


def end(record: dict, outcome: str, today: date, actor: str, reason: str) -> dict:
    """promoted | rolled_back | abandoned. Nobody is served by the challenger afterwards."""
    if outcome not in ENDED:
        raise RolloutError(f"unknown outcome {outcome!r}: one of {ENDED}")
    record = _require_active(record, outcome)
    if outcome == "promoted" and not _at_last_step(record):
        raise RolloutError("only a rollout at its last step can be promoted")
    record.update(state=outcome, fraction=0.0, ended=today.isoformat())
    verb = {"promoted": "complete", "rolled_back": "rollback", "abandoned": "abandon"}[outcome]
    return _log(record, verb, today, actor, reason)


def _at_last_step(record: dict) -> bool:
    return record["state"] == "canary" and record["step"] == len(record["schedule"]) - 1


def days_in_step(record: dict, today: date) -> int:
    return (today - date.fromisoformat(record["step_started"])).days


def step_days(record: dict) -> int:
    if record["step"] < 0:
        return record["shadow_days"]
    return record["schedule"][record["step"]]["days"]


def next_move(
    record: dict,
    today: date,
    fired: list[str],
    proven: bool | None,
    proof: str,
) -> Move:
    """Today's move for an active rollout.

    `fired`: the reasons of the triggers that fired on the newest judged day (empty: quiet).
    `proven`: whether the comparison on the same traffic meets the promotion rule (None: not
    judged yet, too few labelled rows); `proof` says it in words. A fired trigger wins over
    everything; promotion out of the last step needs the full schedule served with the
    triggers quiet (a trigger that had fired would have ended the rollout) and the proof."""
    if not is_active(record):
        raise RolloutError("no rollout in progress")
    if fired:
        return Move("rollback", "; ".join(fired))
    served, needed = days_in_step(record, today), step_days(record)
    where = "shadow" if record["step"] < 0 else f"{record['fraction']:.0%}"
    if served < needed:
        return Move("wait", f"{where}: day {served + 1} of {needed}")
    if not _at_last_step(record):
        return Move("advance", f"{where} served {served} days with the triggers quiet")
    if proven is None:
        if served >= 2 * needed:  # labels never came: do not serve an unproven model forever
            return Move("abandon", f"no verdict on the same traffic after {served} days: {proof}")
        return Move("wait", f"at 100% for {served} days; not enough labelled rows: {proof}")
    if proven:
        return Move("complete", f"full schedule served, triggers quiet; {proof}")
    return Move("abandon", f"full schedule served but not proven on the same traffic: {proof}")
