"""What an alert says beyond "failed": how big the change is (in words and numbers), how many
partitions in a row the check has failed, and what the system did or will do about it.

The sentences about size are plain functions of an evaluation's metadata; the action reads the
instance (the runs the sensors launched, the last training) and the policy, so an on-call
person reads "retraining requested (run ...)" instead of searching for it.
"""

from __future__ import annotations

from datetime import date

from dagster import DagsterInstance, RunsFilter

from assets import names as n
from assets.check_history import Evaluation, failing_streak, latest_per_partition
from assets.history import latest_unpartitioned
from assets.workflow import Workflow
from checks.policy import Policy
from checks.retraining import drift_trigger, in_cooldown
from orchestration.jobs import WORKFLOW_TAG
from resources.links import UiLinks

UNIT = {"daily": "day", "weekly": "week", "monthly": "month"}
MAX_COLUMNS = 3  # columns named in one drift sentence; the rest are counted
OWNER = "owner decides"


# --- how big the change is: plain functions of the evaluation's metadata ----------------------


def _p(p: float | None) -> str:
    if p is None:
        return "p not computed"
    return "p < 0.001" if p < 0.001 else f"p = {p:.2g}"


def _records(table) -> list[dict]:
    """Rows of a table metadata value as the event log returns it (or as plain dicts)."""
    if table is None:
        return []
    rows = getattr(table, "records", table)
    return [getattr(r, "data", r) for r in rows]


def _column_change(row: dict, floors: dict[str, float]) -> str:
    name, effect = row["column"], row.get("effect_size")
    if effect is None:  # missing, all null, retyped: no distance, the reason says what
        return f"{name}: {row.get('reason') or row['decision']}"
    # Evaluations recorded before the table carried its floor: the policy's floor.
    floor = row.get("effect_floor") or floors.get(row.get("kind"))
    at = f" (floor {floor:g})" if floor is not None else ""
    if row.get("kind") == "categorical":
        return f"{name}: JS distance {effect:.2f}{at}, {_p(row.get('p_adjusted'))}"
    return f"{name} moved by {effect:.2f} SD{at}, {_p(row.get('p_adjusted'))}"


def drift_change(metadata: dict, floors: dict[str, float]) -> str:
    rows = [r for r in _records(metadata.get("columns")) if r.get("decision") in ("warn", "error")]
    rows.sort(key=lambda r: r["decision"] != "error")  # errors first, table order kept
    if not rows:
        return generic_change(metadata)
    named = "; ".join(_column_change(r, floors) for r in rows[:MAX_COLUMNS])
    more = len(rows) - MAX_COLUMNS
    return named + (f"; and {more} more column(s)" if more > 0 else "")


def volume_change(metadata: dict) -> str:
    rows, expected = metadata.get("rows"), metadata.get("expected_rows")
    if rows is None or not expected:
        return generic_change(metadata)
    return f"{rows:,} rows, {rows / expected:.0%} of the expected {expected:,.0f}"


def weekly_change(metadata: dict) -> str:
    drops = metadata.get("drop_points") or {}
    if not drops:
        return generic_change(metadata)
    said = ", ".join(f"{v:.1f} points vs {k}" for k, v in drops.items())
    allowed = metadata.get("allowed_drop_points")
    return f"task success dropped {said}" + (f" ({allowed:g} allowed)" if allowed else "")


def rollout_change(metadata: dict) -> str:
    fired = metadata.get("fired") or []
    if not fired:
        return generic_change(metadata)
    of = len(_records(metadata.get("triggers")))
    return f"{len(fired)}{f' of {of}' if of else ''} rollback trigger(s) fired: {fired[0]}"


def _number(value) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:.3g}"


def generic_change(metadata: dict) -> str:
    """The check's own numbers (its settings and Dagster's bookkeeping left out)."""
    numbers = [
        f"{k} {_number(v)}"
        for k, v in metadata.items()
        if isinstance(v, int | float)
        and not isinstance(v, bool)
        and not k.startswith(("policy", "dagster/"))
    ]
    return ", ".join(numbers[:MAX_COLUMNS]) if numbers else "no numbers recorded: see description"


def change_sentence(evaluation: Evaluation, floors: dict[str, float]) -> str:
    """One sentence with numbers on how big the change is; `floors`: the policy's drift error
    floors per column kind, for evaluations that did not record theirs."""
    meta = evaluation.metadata
    if evaluation.check in ("drift", "merged_drift"):
        return drift_change(meta, floors)
    if evaluation.check == "raw_volume":
        return volume_change(meta)
    if evaluation.check == "weekly_task_success":
        return weekly_change(meta)
    if evaluation.check == "rollout_triggers":
        return rollout_change(meta)
    return generic_change(meta)


# --- what the system did or will do: the policy and the instance ------------------------------


def _run(instance: DagsterInstance, wf: Workflow, run_key: str):
    """The newest run the workflow's sensors launched under `run_key` (None: none yet)."""
    runs = instance.get_runs(
        filters=RunsFilter(tags={"dagster/run_key": run_key, WORKFLOW_TAG: wf.name}), limit=1
    )
    return runs[0] if runs else None


def _named(run, links: UiLinks) -> str:
    """The run as its page in the Dagster UI (its id when no base is set), and how it ended."""
    return f"run {links.run(run.run_id) or run.run_id}, {run.status.value.lower()}"


def drift_action(
    evaluation: Evaluation,
    history: list[Evaluation],
    wf: Workflow,
    policy: Policy,
    instance: DagsterInstance,
    today: date,
    links: UiLinks,
) -> str:
    """The drift retraining sensor's view of this partition: the same streak rule and run key
    (`checks.retraining.drift_trigger`), so the sentence names the run it asked for."""
    rules = policy.retraining
    need, unit = rules.drift_consecutive_days, UNIT[wf.partitions.cadence]
    if evaluation.level != "error":
        return (
            f"nothing automatic: retraining needs ERROR drift on a key column {need} {unit}s "
            f"in a row, this is {evaluation.level.upper()} ({OWNER})"
        )
    key_columns = rules.drift_key_columns
    if key_columns is None:
        key_columns = [*wf.contracts.numeric_columns, *wf.contracts.categorical_columns]
    by_day = {
        date.fromisoformat(p): set(e.metadata.get("drifted_columns") or [])
        if e.level == "error"
        else set()
        for p, e in latest_per_partition(history).items()
        if p is not None and p <= evaluation.partition
    }

    def previous(d: date) -> date:
        return date.fromisoformat(wf.partitions.shift(d.isoformat(), -1))

    streak = drift_trigger(by_day, key_columns, 1, previous)
    if streak is None:
        drifted = ", ".join(sorted(evaluation.metadata.get("drifted_columns") or [])) or "none"
        return (
            f"nothing automatic: the drifted columns ({drifted}) are not retraining key "
            f"columns (policy retraining.drift_key_columns) ({OWNER})"
        )
    start = date.fromisoformat(streak.key.removeprefix("drift:"))
    day = len([d for d in by_day if start <= d <= date.fromisoformat(evaluation.partition)])
    run = _run(instance, wf, streak.key)
    if run is not None:
        return f"retraining requested for the drift since {start} ({_named(run, links)})"
    if day < need:
        return (
            f"retraining is requested after {need} failing {unit}s in a row on a key column; "
            f"this is {unit} {day}"
        )
    trained = latest_unpartitioned(instance, wf.key(n.CHALLENGER)).get("trained_at")
    last = date.fromisoformat(str(trained)[:10]) if trained else None
    if in_cooldown(today, last, rules.cooldown_days):
        return (
            f"no retraining: the last one trained on {last}, within the "
            f"{rules.cooldown_days}-day cooldown ({OWNER})"
        )
    return f"retraining is due ({unit} {day} of {need}): the drift sensor asks on its next tick"


def rollout_action(
    evaluation: Evaluation, wf: Workflow, instance: DagsterInstance, links: UiLinks
) -> str:
    rid = evaluation.metadata.get("rollout_id")
    version = evaluation.metadata.get("version")
    run = _run(instance, wf, f"rollout-rollback:{rid}")  # the rollout sensor's run key
    if run is not None:
        return f"the rollout {rid} of version {version} was rolled back ({_named(run, links)})"
    return f"the rollout sensor rolls back rollout {rid} of version {version} on its next tick"


def weekly_action(
    evaluation: Evaluation, wf: Workflow, instance: DagsterInstance, links: UiLinks
) -> str:
    if evaluation.level != "error":
        return f"nothing automatic: a WARN on the weekly evaluation retrains nothing ({OWNER})"
    meta = evaluation.metadata
    start = meta.get("drop_started") or meta.get("week_first_day")
    refresh = _run(instance, wf, f"performance:{meta.get('labels_until')}")
    if refresh is None:
        return (
            f"the performance sensor asks for a new test set from {start}, then a retraining "
            "on the same partitions, on its next tick"
        )
    said = f"test set refresh requested ({_named(refresh, links)})"
    retrain = _run(instance, wf, f"performance-retrain:{refresh.run_id}")
    if retrain is None:
        return said + f"; a retraining on the partitions since {start} follows once it succeeds"
    return said + f"; retraining requested ({_named(retrain, links)})"


def action_sentence(
    evaluation: Evaluation,
    history: list[Evaluation],
    wf: Workflow,
    policy: Policy,
    instance: DagsterInstance,
    today: date,
    blocking: bool,
    links: UiLinks,
) -> str:
    """What the system did or will do about this failed evaluation, in one sentence."""
    check = evaluation.check
    if check == "drift":
        return drift_action(evaluation, history, wf, policy, instance, today, links)
    if check == "merged_drift":
        return (
            "nothing automatic: the merged check only warns about slow drift; retraining "
            f"follows the daily drift check ({OWNER})"
        )
    if check == "rollout_triggers":
        return rollout_action(evaluation, wf, instance, links)
    if check == "weekly_task_success":
        return weekly_action(evaluation, wf, instance, links)
    if blocking and evaluation.level == "error":
        where = f"partition {evaluation.partition}" if evaluation.partition else "this asset"
        return f"downstream assets of {where} are held until this check passes (blocking check)"
    return f"nothing automatic: no sensor acts on {check} ({OWNER})"


def in_a_row(evaluation: Evaluation, history: list[Evaluation]) -> int:
    """Failing partitions in a row ending at this evaluation's (as of this evaluation: later
    re-runs do not count); an unpartitioned check counts its failed evaluations in a row."""
    upto = [e for e in history if e.id <= evaluation.id]
    if evaluation.partition is not None:
        return failing_streak(upto, evaluation.partition)
    streak = 0
    for e in sorted((e for e in upto if e.partition is None), key=lambda e: -e.id):
        if e.passed:
            break
        streak += 1
    return streak


def alert_context(
    evaluation: Evaluation,
    history: list[Evaluation],
    wf: Workflow,
    policy: Policy,
    instance: DagsterInstance,
    links: UiLinks,
    today: date,
    blocking: bool = False,
) -> dict:
    """`url`, `change`, `in_a_row` and `action` of an alert; `history`: the check's
    evaluations (oldest first, this one among them)."""
    floors = {"numeric": policy.drift.numeric_error, "categorical": policy.drift.categorical_error}
    return {
        "url": links.check(evaluation.asset, evaluation.check),
        "change": change_sentence(evaluation, floors),
        "in_a_row": in_a_row(evaluation, history),
        "action": action_sentence(
            evaluation, history, wf, policy, instance, today, blocking, links
        ),
    }
