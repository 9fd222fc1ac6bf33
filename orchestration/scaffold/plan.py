"""Every decision `afterlaunch init` takes from the sample, in one value the templates render.

The column rules, task, tolerance and lag come from `checks.contract_inference`; here they
meet the partitions: rows per partition, the partition start, the history to ingest, and the
policy sized so that a history of about forty partitions can draw a test set and train.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd

from assets.names import ENGINE_COLUMNS
from assets.partitions import PERIOD_DAYS, Partitioning, naive
from assets.workflow import DERIVED_KNOWN_AT
from checks import contract_inference as ci
from orchestration.scaffold.request import InitRefused, InitRequest
from orchestration.scaffold.sample import Sample

# Partitions of labelled rows one training window holds, per cadence.
WINDOW_PARTITIONS = {"daily": 28, "weekly": 12, "monthly": 12}
# Partitions merged for the slow-drift check: about a week of days, a month of weeks.
MERGED_PARTITIONS = {"daily": 7, "weekly": 4, "monthly": 3}
EVAL_SHARE = 0.30  # of a window's labelled rows drawn into the test set (at most 1500)
TRAIN_MIN_SHARE = 0.35  # of a window's labelled rows: fewer and training is refused
DEFAULT_CANARY_DAYS = 14  # the engine's default rollout schedule, in days
FRESHNESS_WARN_HOURS = 3.0  # the engine's default


@dataclass(frozen=True)
class Plan:
    request: InitRequest
    rules: list[ci.ColumnRule]  # the raw contract, in the table's column order
    label_rules: list[ci.ColumnRule]  # id, label, known-at
    task: ci.TaskChoice
    tolerance: tuple[float, str] | None  # regression only
    lag_days: int
    lag_review: str
    slices: list[ci.SliceChoice]
    segments: list[str]
    partitions: Partitioning
    start_review: str
    history: tuple[str, str]  # first and last partition to ingest as history
    rows_per_partition: float
    labelled_share: float
    policy: dict  # section -> field -> (value, comment)
    fills: dict[str, float]  # nullable numeric feature -> the value a NULL becomes
    fallback: float
    n_rows: int
    span: tuple[datetime, datetime]
    notes: list[str] = field(default_factory=list)  # printed after the summary

    @property
    def categorical(self) -> list[ci.ColumnRule]:
        return [r for r in self.rules if r.categorical]

    @property
    def numeric(self) -> list[ci.ColumnRule]:
        return [r for r in self.rules if r.numeric]


# --- pure helpers (unit-tested) -----------------------------------------------------------


def period_start(times: pd.Series, cadence: str) -> pd.Series:
    """The start of the partition holding each time (weeks start on Monday)."""
    t = pd.to_datetime(times)
    day = t.dt.normalize()
    if cadence == "daily":
        return day
    if cadence == "weekly":
        return day - pd.to_timedelta(t.dt.weekday, unit="D")
    return t.dt.to_period("M").dt.start_time


def rows_per_partition(keys: pd.Series) -> float:
    """The median rows of a partition, leaving out the oldest and newest seen (the sample
    may start inside the first, and the newest may still be filling) when there are three or
    more."""
    counts = keys.value_counts().sort_index()
    inner = counts.iloc[1:-1] if len(counts) >= 3 else counts
    return float(inner.median())


def floor_2sig(x: float) -> int:
    """Down to two significant digits: a size that reads as chosen, not computed."""
    if x < 1:
        return 0
    step = 10 ** max(0, math.floor(math.log10(x)) - 1)
    return int(x // step * step)


def freshness_hours(times: pd.Series, keys: pd.Series, cadence: str) -> float | None:
    """The 95th percentile of (partition end - newest event) over the sample's inner
    partitions, in hours; None with fewer than three inner partitions."""
    frame = pd.DataFrame({"t": pd.to_datetime(times).values, "k": keys.values})
    newest = frame.groupby("k")["t"].max().sort_index().iloc[1:-1]
    if len(newest) < 3:
        return None
    ends = [_end(k, cadence) for k in newest.index]
    gaps = (pd.Series(ends, index=newest.index) - newest).dt.total_seconds() / 3600
    return float(np.quantile(gaps.to_numpy(), 0.95))


def _end(start: pd.Timestamp, cadence: str) -> pd.Timestamp:
    if cadence == "monthly":
        return start + pd.offsets.MonthBegin(1)
    return start + pd.Timedelta(days=PERIOD_DAYS[cadence])


def policy_sizes(
    rows: float, labelled_share: float, cadence: str, lag_days: int, task: str
) -> dict[str, dict[str, tuple]]:
    """The policy fields sized to the data: section -> field -> (value, why)."""
    window = WINDOW_PARTITIONS[cadence]
    period = PERIOD_DAYS[cadence]
    pool = rows * labelled_share * window
    per = max(20, int(rows // 2))
    eval_size = max(1, min(1500, floor_2sig(pool * EVAL_SHARE)))
    shown = f"about {floor_2sig(pool):,}"
    policy: dict[str, dict[str, tuple]] = {
        "training": {
            "window_days": (window * period, f"{window} partitions of labelled rows"),
            "min_rows": (
                max(1, min(2000, floor_2sig(pool * TRAIN_MIN_SHARE))),
                f"{TRAIN_MIN_SHARE:.0%} of a window's labelled rows ({shown}); fewer: no training",
            ),
            "model_family": (
                "logistic_regression" if task == "binary" else "ridge",
                "one of the workflow's model families",
            ),
            "hyperparameters": ({"C": 1.0} if task == "binary" else {"alpha": 1.0}, ""),
        },
        "evaluation": {
            "eval_set_size": (eval_size, f"{EVAL_SHARE:.0%} of a window's labelled rows"),
            "eval_set_min_size": (max(1, min(500, eval_size // 2)), "half of it"),
            "window_days": (max(7, period), "the weekly evaluation judges at least a partition"),
        },
        "gate": {
            "min_slice_size": (
                min(30, max(5, eval_size // 20)),
                "slices smaller in the test set are reported, not judged",
            ),
        },
        "drift": {
            "reference_window_days": (max(60, 8 * period), "the reference profile's window"),
            "merged_partitions": (MERGED_PARTITIONS[cadence], "the slow-drift check's span"),
            "min_rows": (min(100, per), "fewer values in a partition: too few to judge"),
        },
        "output": {"min_rows": (min(200, per), "fewer scored rows: too few to judge")},
        "retraining": {
            "new_labels_min_rows": (
                min(10_000, max(100, floor_2sig(pool))),
                "a window's worth of new labels asks for a retraining",
            ),
        },
        "rollout": {
            "min_labelled_rows": (min(200, per), "fewer: task success is not judged"),
            "min_scored_rows": (min(200, per), "fewer: the error rate is not judged"),
        },
    }
    if lag_days >= DEFAULT_CANARY_DAYS:
        # The canary must outlast the label lag, or its labels could never judge it.
        days = math.ceil((lag_days + 1) / 5)
        steps = [{"fraction": f, "days": days} for f in (0.01, 0.05, 0.25, 0.5, 1.0)]
        policy["rollout"]["steps"] = (steps, f"{5 * days} days: longer than the label lag")
    return policy


# --- the plan -----------------------------------------------------------------------------


def _label_pairs(sample: Sample, request: InitRequest) -> pd.DataFrame:
    """Each sampled label with the event time of its row: the newest row of that id at or
    before the label was known (an entity may be seen in several partitions)."""
    rid, known = request.id, _known(request)
    labels = sample.labels.reset_index(names="_label")
    labels = labels.assign(_id=labels[rid].astype("str"))
    rows = pd.DataFrame(
        {"_id": sample.rows[rid].astype("str"), "_event": sample.rows[request.time]}
    )
    joined = labels.merge(rows, on="_id")
    joined["_lag"] = joined[known] - joined["_event"]
    before = joined[joined["_lag"] >= pd.Timedelta(0)]
    latest = before.sort_values("_event").groupby("_label").tail(1)
    after = joined[~joined["_label"].isin(latest["_label"])].groupby("_label").head(1)
    return pd.concat([latest, after]).sort_values("_label")


def _label_rules(sample: Sample, request: InitRequest, task: str) -> list[ci.ColumnRule]:
    """The label contract: the id, the label (0/1 for a binary task) and the known-at time,
    typed as the source's labels read returns them."""
    labels, declared = sample.labels, sample.label_declared
    label = labels[request.label]
    kind = ci.column_dtype(label, declared.get(request.label))
    nulls = int(label.isna().sum())
    review = (f"{nulls:,} NULL labels in the sample: left out of training as invalid",)
    review = review if nulls else ()
    isin = None
    if task == "binary":
        isin = (False, True) if kind == "bool" else ((0.0, 1.0) if kind == "float" else (0, 1))
    rule = ci.ColumnRule(
        request.label,
        kind,
        nullable=nulls > 0,
        coerce=kind == "int" and nulls > 0,
        isin=isin,
        review=review,
    )
    id_kind = ci.column_dtype(labels[request.id], declared.get(request.id))
    return [ci.ColumnRule(request.id, id_kind), rule, ci.ColumnRule(_known(request), "timestamp")]


def _known(request: InitRequest) -> str:
    return request.label_time or DERIVED_KNOWN_AT


def _start(request: InitRequest, earliest: datetime) -> tuple[Partitioning, str]:
    cadence = request.partitions
    probe = Partitioning(cadence, "2000-01-03")  # a Monday: only its key arithmetic is used
    if request.start:
        try:
            first = datetime.fromisoformat(request.start)
        except ValueError:
            raise InitRefused(f"--start {request.start}: a date, YYYY-MM-DD") from None
        key = probe.key_at(first)
        why = f"given (--start {request.start})"
        if key != request.start:
            why += f"; {key} is the start of its {cadence} partition"
    else:
        key = probe.key_at(earliest)
        why = f"the first {cadence} partition start at or before the sample's earliest event"
    return Partitioning(cadence, key), why


def build_plan(request: InitRequest, sample: Sample, now: datetime) -> Plan:
    """The plan, or a refusal naming what the sample cannot support."""
    rows, cadence = sample.rows, request.partitions
    try:
        ci.check_event_time(rows, request.time)
    except ci.InferenceRefused as err:
        raise InitRefused(str(err)) from None
    times = rows[request.time]
    earliest, newest = times.min().to_pydatetime(), times.max().to_pydatetime()
    partitions, start_review = _start(request, earliest)
    keys = period_start(times, cadence)
    notes: list[str] = []
    try:
        ci.duplicated_ids(rows, request.id, keys.dt.date.astype("str"))
        task = ci.infer_task(sample.labels[request.label], request.label, request.task)
    except ci.InferenceRefused as err:
        raise InitRefused(str(err)) from None
    if times.lt(pd.Timestamp(partitions.start)).any():
        notes.append(
            f"{int(times.lt(pd.Timestamp(partitions.start)).sum()):,} sampled rows lie before "
            f"--start {partitions.start}: they are never ingested"
        )
    rules = ci.infer_columns(rows, request.id, request.time, sample.declared)
    pairs = _label_pairs(sample, request)
    known = _known(request)
    if request.label_time:
        try:
            lag = ci.label_lag(pairs["_event"], pairs[known])
        except ci.InferenceRefused as err:
            raise InitRefused(str(err)) from None
        lag_days, lag_review = lag.days, lag.review
        if request.label_lag_days is not None:
            notes.append("--label-lag-days is ignored: the lag is inferred from --label-time")
    else:
        lag_days = request.lag_given
        lag_review = (
            f"assumed, not measured: {request.table} records no time its {request.label} became "
            f"known, so a label counts as known {lag_days} day(s) after its row's event "
            "(--label-lag-days); say the true delay here"
        )
        notes.append(
            f"ASSUMED: a {request.label} is known {lag_days} day(s) after its row's "
            f"{request.time} (--label-lag-days {lag_days}); workflow.py marks it for review"
        )
    before = ci.share_known_before_snapshot(
        pairs["_event"],
        pairs[known],
        [_end(k, cadence) for k in period_start(pairs["_event"], cadence)],
    )
    if before > 0.2:
        notes.append(
            f"{before:.0%} of the sampled labels were known before their row's {cadence} "
            "partition ended: the engine leaves those out of training (a leak guard)"
            + ("; daily partitions keep more of them" if cadence != "daily" else "")
        )
    horizon = pairs[known].max() - pd.Timedelta(days=lag_days) if len(pairs) else newest
    old_enough = rows[times <= horizon]
    if len(old_enough):
        labelled_ids = set(pairs["_id"])
        share = float(old_enough[request.id].astype("str").isin(labelled_ids).mean())
    else:
        share = 1.0
    if share == 0:
        raise InitRefused(
            f"no sampled row of {request.table} older than the label lag has a label in "
            f"{request.labels_table}: check --id and --label-table"
        )
    per = rows_per_partition(keys)
    policy = policy_sizes(per, share, cadence, lag_days, task.kind)
    fresh = freshness_hours(times, keys, cadence)
    if fresh is not None and fresh > FRESHNESS_WARN_HOURS:
        warn = math.ceil(fresh * 1.5)
        why = f"the sample's newest event lay up to {fresh:.1f} h before a partition's end (p95)"
        policy["freshness"] = {
            "warn_lag_hours": (float(warn), why),
            "error_lag_hours": (float(2 * warn), "twice that"),
        }
    labels = sample.labels[request.label].dropna().astype("float64")
    tolerance = ci.regression_tolerance(labels) if task.kind == "regression" else None
    median = float(f"{labels.median():.4g}")
    fallback = median if task.kind == "regression" else float(labels.mean() >= 0.5)
    fills = {r.name: _fill(rows[r.name]) for r in rules if r.numeric and r.nullable}
    if policy["evaluation"]["eval_set_size"][0] < 200:
        notes.append(
            f"about {per:.0f} rows per {cadence} partition: a test set of only "
            f"{policy['evaluation']['eval_set_size'][0]} rows; longer partitions give more"
        )
    history = _history(partitions, newest, naive(now))
    return Plan(
        request=request,
        rules=rules,
        label_rules=_label_rules(sample, request, task.kind),
        task=task,
        tolerance=tolerance,
        lag_days=lag_days,
        lag_review=lag_review,
        slices=ci.large_categories(rows, rules),
        # A segment rides along in the engine's frames: none may take one of their names.
        segments=[c for c in ci.segments(rules) if c not in ENGINE_COLUMNS],
        partitions=partitions,
        start_review=start_review,
        history=history,
        rows_per_partition=per,
        labelled_share=share,
        policy=policy,
        fills=fills,
        fallback=fallback,
        n_rows=len(rows),
        span=(earliest, newest),
        notes=notes,
    )


def _fill(values: pd.Series) -> float:
    median = float(values.dropna().astype("float64").median()) if values.notna().any() else 0.0
    return float(f"{median:.4g}")


def _history(partitions: Partitioning, newest: datetime, now: datetime) -> tuple[str, str]:
    """From the partition start to the newest partition that has ended by `now` and holds
    sampled rows."""
    last = partitions.key_at(newest)
    if partitions.end_of(last) > now:
        last = partitions.shift(last, -1)
    if last < partitions.start:
        last = partitions.start
    return partitions.start, last
