"""A first contract, task and label lag inferred from a sample of a team's table: what
`afterlaunch init` proposes and a person then reviews. Plain functions on DataFrames.

Every rule carries the sentence of what it was inferred from (`review`), so the generated
contract says why each bound, list and flag is there. The sample is typed as the engine's
source reads a partition (text as ``str``, integers as ``int64`` or ``float64`` with NULLs,
reals as ``float64``, the event time as naive ``datetime64[ns]``), so the contract holds the
dtypes later partitions will arrive with.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

# A text column is a closed list of categories when it has at most this many distinct values
# and each is seen at least MIN_PER_CATEGORY times: fewer sightings may be a typo or a one-off,
# which a closed list would then reject in every later partition.
MAX_CATEGORIES = 20
MIN_PER_CATEGORY = 5
# Numeric bounds: the sample's range widened by half of itself on each side (never below 0
# for a column the sample shows non-negative): a real change breaks them, ordinary spread not.
HEADROOM = 0.5
# Slices: category values holding 10% to 50% of the rows (a kind of row big enough to judge,
# small enough to hide behind the average), the rarest first, at most two per column.
SLICE_MIN_SHARE = 0.10
SLICE_MAX_SHARE = 0.50
MAX_SLICES = 5
MAX_SLICES_PER_COLUMN = 2
MAX_SEGMENTS = 3
# A label with at least this many distinct numeric values is a measurement (regression).
REGRESSION_MIN_VALUES = 10
# The label lag: this quantile of (known at - event time), rounded up to whole days.
LAG_QUANTILE = 0.99
# A regression's tolerance: this share of the label's standard deviation.
TOLERANCE_SHARE = 0.25


class InferenceRefused(ValueError):
    """The sample cannot support a contract or task as asked: the sentence says why."""


@dataclass(frozen=True)
class ColumnRule:
    """One column of the inferred contract. `dtype`: str | int | float | bool | timestamp |
    any (no dtype check: a type the engine does not profile). `coerce`: an integer column
    with NULLs arrives as float64 when a partition has a NULL and int64 otherwise."""

    name: str
    dtype: str
    nullable: bool = False
    unique: bool = False
    coerce: bool = False
    isin: tuple | None = None
    ge: float | int | None = None
    le: float | int | None = None
    review: tuple[str, ...] = ()

    @property
    def categorical(self) -> bool:
        return self.isin is not None

    @property
    def numeric(self) -> bool:
        return self.dtype in ("int", "float", "bool") and not self.unique


def _count(n: int) -> str:
    return f"{n:,}"


def column_dtype(series: pd.Series, declared: str | None = None) -> str:
    """The contract's dtype word for a column as the source read it; `declared`: its declared
    kind in the database (integer, real, text, ...)."""
    if pd.api.types.is_bool_dtype(series):
        return "bool"
    if pd.api.types.is_datetime64_any_dtype(series):
        return "timestamp" if str(series.dtype) == "datetime64[ns]" else "any"
    if pd.api.types.is_integer_dtype(series):
        return "int"
    if pd.api.types.is_float_dtype(series):
        # NULLs make an integer column float: it is still an integer column.
        return "int" if declared == "integer" else "float"
    if pd.api.types.is_string_dtype(series) and series.dropna().map(type).eq(str).all():
        return "str"
    return "any"


def _step(span: float) -> float:
    """A readable rounding step for bounds of a column spanning `span`."""
    if span <= 0 or not math.isfinite(span):
        return 1.0
    return 10.0 ** (math.floor(math.log10(span)) - 2)


def numeric_bounds(values: pd.Series, integer: bool) -> tuple[float | int, float | int, str]:
    """(ge, le, what they came from): the sample's range widened by HEADROOM of itself on each
    side, the lower bound clipped at 0 for a non-negative sample, rounded outwards."""
    present = values.dropna().astype("float64")
    low, high = float(present.min()), float(present.max())
    span = high - low
    pad = HEADROOM * span if span > 0 else max(1.0, HEADROOM * abs(high))
    ge, le = low - pad, high + pad
    if low >= 0:
        ge = max(ge, 0.0)
    if integer:
        ge, le = math.floor(ge), math.ceil(le)
    else:
        step = _step(span if span > 0 else pad)
        ge, le = math.floor(ge / step) * step, math.ceil(le / step) * step
        ge, le = float(f"{ge:.6g}"), float(f"{le:.6g}")
    shown = f"{low:g} .. {high:g}" if not integer else f"{int(low)} .. {int(high)}"
    note = f"sample range {shown}" + ("" if span > 0 else " (constant in the sample)")
    clip = ", clipped at 0 (never negative in the sample)" if low >= 0 and ge == 0 else ""
    return ge, le, f"{note}, widened by {HEADROOM:g} of the range each side{clip}"


def closed_categories(values: pd.Series) -> tuple[tuple | None, str]:
    """(the closed list, or None, and why) for a text column."""
    counts = values.dropna().value_counts()
    n, distinct = int(values.notna().sum()), len(counts)
    if distinct == 0:
        return None, "no values in the sample: any text accepted"
    if distinct > MAX_CATEGORIES:
        return None, (
            f"free text: {_count(distinct)} distinct values in {_count(n)} rows (more than "
            f"{MAX_CATEGORIES}): kept in the contract, not profiled, not a feature"
        )
    rare = counts[counts < MIN_PER_CATEGORY]
    if len(rare):
        return None, (
            f"{distinct} values, but {rare.index[0]!r} seen only {int(rare.iloc[0])} time(s) "
            f"(fewer than {MIN_PER_CATEGORY}): not closed; add isin by hand if the list is fixed"
        )
    return tuple(sorted(counts.index)), (
        f"closed list: {distinct} values in {_count(n)} rows, each seen at least "
        f"{_count(int(counts.min()))} times"
    )


def infer_columns(
    sample: pd.DataFrame,
    id_column: str,
    time_column: str,
    declared: Mapping[str, str] | None = None,
) -> list[ColumnRule]:
    """A rule per column of the sample, in the sample's column order. `declared`: each
    column's declared kind in the database (integer, real, text, boolean, datetime, other)."""
    declared = declared or {}
    n = len(sample)
    rules = []
    for name in sample.columns:
        s = sample[name]
        nulls = int(s.isna().sum())
        review = [f"{_count(nulls)} NULLs in {_count(n)} rows"] if nulls else []
        kind = column_dtype(s, declared.get(name))
        if name == time_column:
            rules.append(ColumnRule(name, "timestamp", nullable=False, review=("event time",)))
            continue
        if name == id_column:
            review.append("the entity id: unique in each partition of the sample")
            rules.append(
                ColumnRule(name, kind, nullable=nulls > 0, unique=True, review=tuple(review))
            )
            continue
        rule = ColumnRule(name, kind, nullable=nulls > 0, coerce=kind == "int" and nulls > 0)
        if kind in ("int", "float") and nulls < n:
            ge, le, why = numeric_bounds(s, integer=kind == "int")
            review.append(why)
            if rule.coerce:
                review.append("integer with NULLs: float64 in a partition with a NULL, coerced")
            rule = replace(rule, ge=ge, le=le)
        elif kind == "str":
            isin, why = closed_categories(s)
            review.append(why)
            rule = replace(rule, isin=isin)
        elif kind == "any":
            review.append(f"{s.dtype} values: no dtype rule, not profiled, not a feature")
        rules.append(replace(rule, review=tuple(review)))
    return rules


# --- the sample's time, ids and labels ----------------------------------------------------


def check_event_time(sample: pd.DataFrame, time_column: str) -> None:
    """The event time must have been read as timestamps (the source parses ISO text and
    database timestamps; numbers and other text are left as they are)."""
    s = sample[time_column]
    if pd.api.types.is_datetime64_any_dtype(s):
        return
    example = s.dropna().iloc[0] if s.notna().any() else None
    kind = "numeric" if pd.api.types.is_numeric_dtype(s) else "text that is not ISO timestamps"
    raise InferenceRefused(
        f"time column {time_column} is {kind} (e.g. {example!r}): partitions are cut on an "
        "event time stored as a timestamp or ISO 8601 text"
    )


def duplicated_ids(sample: pd.DataFrame, id_column: str, partition_keys: pd.Series) -> None:
    """Refuse an id that repeats inside one partition: the raw contract holds it unique
    there, so every such partition would fail."""
    keyed = pd.DataFrame({"id": sample[id_column].astype("str"), "key": partition_keys.values})
    repeated = keyed[keyed.duplicated(["key", "id"], keep=False)]
    if repeated.empty:
        return
    first = repeated.iloc[0]
    times = int(((repeated["id"] == first["id"]) & (repeated["key"] == first["key"])).sum())
    raise InferenceRefused(
        f"id column {id_column} is not unique per event: {first['id']!r} appears {times} times in "
        f"partition {first['key']} ({repeated['id'].nunique()} ids repeat in the sample); the "
        "raw contract needs one row per id in a partition: choose another --id"
    )


@dataclass(frozen=True)
class TaskChoice:
    kind: str  # binary | regression
    review: str


def infer_task(label: pd.Series, name: str, asked: str | None = None) -> TaskChoice:
    """binary: a 0/1 (or boolean) label with both values; regression: a numeric label with
    many values. `asked`: the --task given, checked against the values instead."""
    values = label.dropna()
    if values.empty:
        raise InferenceRefused(f"label {name} has no values in the sample")
    distinct = sorted(values.unique().tolist())
    numeric = pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)
    n = _count(len(values))
    if asked is None and numeric and len(distinct) == 1:
        raise InferenceRefused(
            f"label {name} has one class ({distinct[0]!r}) in {n} labels: nothing to learn; "
            "sample more rows (--sample-rows) or check the label column"
        )
    many = len(distinct) >= REGRESSION_MIN_VALUES
    if asked == "regression" or (asked is None and numeric and many):
        if not numeric or pd.api.types.is_bool_dtype(values):
            raise InferenceRefused(f"label {name} is not numeric: a regression needs numbers")
        if len(distinct) < 2:
            raise InferenceRefused(f"label {name} has one value ({distinct[0]!r}): nothing to fit")
        std = float(values.astype("float64").std())
        return TaskChoice(
            "regression", f"{len(distinct):,} distinct values in {n} labels (sd {std:.4g})"
        )
    if asked not in (None, "binary"):
        raise InferenceRefused(f"--task {asked}: binary or regression")
    zero_one = numeric and set(float(v) for v in distinct) <= {0.0, 1.0}
    if asked == "binary" or (numeric and len(distinct) == 2):
        if not zero_one:
            shown = ", ".join(map(repr, distinct[:4]))
            raise InferenceRefused(
                f"label {name} holds {shown}{' ...' if len(distinct) > 4 else ''}: a binary "
                "label is 0/1 (or true/false); recode it in the source or pass --task regression"
            )
        if len(distinct) < 2:
            raise InferenceRefused(
                f"label {name} has one class ({distinct[0]!r}) in {n} labels: a binary task "
                "needs both; sample more rows (--sample-rows) or check the label column"
            )
        positive = float(values.astype("float64").mean())
        return TaskChoice("binary", f"0/1 in {n} labels, {positive:.0%} positive")
    kind = "numeric" if numeric else "text"
    raise InferenceRefused(
        f"label {name} is {kind} with {len(distinct)} distinct values: say what it is with "
        "--task binary (a 0/1 label) or --task regression (a measurement)"
    )


def regression_tolerance(label: pd.Series) -> tuple[float, str]:
    """TOLERANCE_SHARE of the label's standard deviation, to two significant digits: a
    prediction that close counts as a success."""
    values = label.dropna().astype("float64")
    std = float(values.std())
    tolerance = float(f"{TOLERANCE_SHARE * std:.2g}") if std > 0 else 1.0
    return tolerance, (
        f"{TOLERANCE_SHARE:g} x the label's standard deviation ({std:.4g}) over "
        f"{_count(len(values))} labels: a prediction within it counts as a success"
    )


@dataclass(frozen=True)
class LagChoice:
    days: int
    review: str
    labels_joined: int


def label_lag(event_time: pd.Series, known_at: pd.Series) -> LagChoice:
    """Days from event to known label: the ceiling of the 99th percentile, at least 1.

    The 99th percentile rather than the maximum: one stray late label would otherwise push
    back every training cut-off and readiness window; the last percent is still found by the
    label check, which searches `labels.lookback_extra_days` beyond the lag."""
    lag = (pd.to_datetime(known_at) - pd.to_datetime(event_time)).dt.total_seconds() / 86400
    lag = lag.dropna()
    early = int((lag < 0).sum())
    lag = lag[lag >= 0]
    if lag.empty:
        raise InferenceRefused(
            "no label in the sample was known at or after its row's event time: check --id, "
            "--label-time and --label-table"
        )
    q = float(np.quantile(lag.to_numpy(), LAG_QUANTILE))
    days = max(1, math.ceil(q))
    note = f"; {early} known before their event were left out" if early else ""
    return LagChoice(
        days,
        f"{LAG_QUANTILE:.0%} of {_count(len(lag))} labels were known within {q:.3g} days of "
        f"their event (max {float(lag.max()):.3g}), rounded up, at least 1{note}",
        len(lag),
    )


def share_known_before_snapshot(
    event_time: pd.Series, known_at: pd.Series, partition_end: pd.Series
) -> float:
    """The share of labels known before their row's partition ended: the engine takes a
    partition's end as its rows' snapshot and leaves such labels out of training (a label
    known before the snapshot may have leaked into the row)."""
    known = pd.to_datetime(pd.Series(np.asarray(known_at))).to_numpy()
    end = pd.to_datetime(pd.Series(np.asarray(partition_end))).to_numpy()
    event = pd.to_datetime(pd.Series(np.asarray(event_time))).to_numpy()
    valid = ~(pd.isna(known) | pd.isna(end) | pd.isna(event))
    return float((known[valid] < end[valid]).mean()) if valid.any() else 0.0


# --- slices and segments ------------------------------------------------------------------


@dataclass(frozen=True)
class SliceChoice:
    column: str
    value: str
    share: float


def large_categories(sample: pd.DataFrame, rules: Sequence[ColumnRule]) -> list[SliceChoice]:
    """Category values holding SLICE_MIN_SHARE..SLICE_MAX_SHARE of the rows, rarest first, at
    most MAX_SLICES_PER_COLUMN per column and MAX_SLICES in all."""
    found = []
    for rule in rules:
        if not rule.categorical:
            continue
        shares = sample[rule.name].value_counts(normalize=True, dropna=True)
        picked = shares[(shares >= SLICE_MIN_SHARE) & (shares <= SLICE_MAX_SHARE)]
        picked = picked.sort_values(kind="stable").head(MAX_SLICES_PER_COLUMN)
        found += [SliceChoice(rule.name, str(v), float(s)) for v, s in picked.items()]
    return sorted(found, key=lambda c: c.share)[:MAX_SLICES]


def segments(rules: Sequence[ColumnRule]) -> list[str]:
    """The closed-category columns the reports break results down by (the first few)."""
    return [r.name for r in rules if r.categorical][:MAX_SEGMENTS]
