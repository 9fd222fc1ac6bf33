"""Labels: the outcomes that arrive days after their rows.

Three plain functions, no Dagster, named for no workflow: the columns come in a
:class:`LabelSchema` (the entity id, the label, when it became known, and what a valid label
value is, which the workflow's task decides):

* :func:`judge_labels`: labels for entities that never existed, entities labelled twice (within
  the partition or on an earlier one) and invalid values, each counted with examples. They are
  reported, not dropped silently: any invalid value, or more unknown/duplicate labels than
  ``max_bad_fraction`` of the partition, is an error; fewer unknown/duplicate labels a warning;
* :func:`clean_labels`: the labels fit for training, and how many were left out for which
  reason;
* :func:`known_between`: the labels known in a time window (the point-in-time rule's half).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

MAX_EXAMPLES = 5
DEFAULT_MAX_BAD_FRACTION = 0.01
# The order clean_labels applies its rules: a label is counted under the first it breaks.
DROP_REASONS = ("invalid", "unknown", "duplicate_earlier", "duplicate_within")


@dataclass(frozen=True)
class LabelSchema:
    id: str
    label: str
    valid: Callable[[pd.Series], pd.Series]  # value -> is a valid label (nulls are not)
    valid_text: str = "a valid label"  # "0 or 1": how the report names the rule
    known_at: str = "known_at"

    @property
    def columns(self) -> list[str]:
        return [self.id, self.label, self.known_at]

    def meanings(self) -> dict[str, str]:
        return {
            "invalid": f"{self.label} is not {self.valid_text} (or missing)",
            "unknown": f"{self.id} is not a row we received (or missing)",
            "duplicate_within": "another label of the same row arrived earlier in this partition",
            "duplicate_earlier": "the row was already labelled in an earlier partition",
        }


@dataclass(frozen=True)
class LabelProblem:
    count: int  # labels (rows) with the problem
    examples: tuple[str, ...] = ()  # up to MAX_EXAMPLES distinct entity ids (and values)


@dataclass(frozen=True)
class LabelReport:
    severity: str  # "ok" | "warn" | "error"
    n_labels: int
    unknown: LabelProblem
    duplicate_within: LabelProblem  # count: extra copies (a row labelled twice counts 1)
    duplicate_earlier: LabelProblem
    invalid: LabelProblem
    n_suspect: int  # labels that are unknown or a duplicate, each counted once
    max_bad_fraction: float
    reason: str
    missing_columns: tuple[str, ...] = field(default=())
    meanings: dict[str, str] = field(default_factory=dict)

    @property
    def suspect_fraction(self) -> float:
        return self.n_suspect / self.n_labels if self.n_labels else 0.0

    def problems(self) -> dict[str, LabelProblem]:
        return {
            "invalid": self.invalid,
            "unknown": self.unknown,
            "duplicate_within": self.duplicate_within,
            "duplicate_earlier": self.duplicate_earlier,
        }

    def records(self) -> list[dict]:
        """One row per problem (zeros included), for a metadata table."""
        return [
            {
                "problem": name,
                "labels": problem.count,
                "share": round(problem.count / self.n_labels, 4) if self.n_labels else 0.0,
                "examples": ", ".join(problem.examples),
                "meaning": self.meanings.get(name, ""),
            }
            for name, problem in self.problems().items()
        ]


def judge_labels(
    labels: pd.DataFrame,
    known_ids: Iterable[str],
    earlier_labelled_ids: Iterable[str],
    schema: LabelSchema,
    max_bad_fraction: float = DEFAULT_MAX_BAD_FRACTION,
) -> LabelReport:
    """Count the partition's unknown, duplicate and invalid labels (see the module docstring).

    ``known_ids``: the rows a label may belong to; ``earlier_labelled_ids``: rows labelled in
    earlier partitions. The categories overlap (an invalid copy of a row's label is also a
    duplicate); ``n_suspect`` counts each unknown/duplicate label once. Within the partition
    the first label of a row (by known-at, then row order) is the original.
    """
    if isinstance(max_bad_fraction, bool) or not 0.0 <= max_bad_fraction <= 1.0:
        raise ValueError(f"max_bad_fraction must be between 0 and 1, got {max_bad_fraction!r}")
    n = len(labels)
    missing = tuple(c for c in (schema.id, schema.label) if c not in labels.columns)
    if missing:
        none = LabelProblem(0)
        return LabelReport(
            severity="error",
            n_labels=n,
            unknown=none,
            duplicate_within=none,
            duplicate_earlier=none,
            invalid=none,
            n_suspect=0,
            max_bad_fraction=max_bad_fraction,
            reason=f"{n:,} labels without column(s) {', '.join(missing)}: cannot judge them",
            missing_columns=missing,
            meanings=schema.meanings(),
        )
    df = labels.reset_index(drop=True)
    ids = df[schema.id]
    masks = _masks(df, set(known_ids), set(earlier_labelled_ids), schema)
    within = _later_copies(df, np.ones(n, dtype=bool), schema)
    invalid_examples = [
        f"{_readable(i)} ({schema.label}={_readable(v)})"
        for i, v in zip(ids[masks["invalid"]], df[schema.label][masks["invalid"]], strict=True)
    ]
    report = {
        "invalid": LabelProblem(int(masks["invalid"].sum()), _first(invalid_examples)),
        "unknown": _problem(ids, masks["unknown"]),
        "duplicate_within": _problem(ids, within),
        "duplicate_earlier": _problem(ids, masks["duplicate_earlier"]),
    }
    n_suspect = int((masks["unknown"] | masks["duplicate_earlier"] | within).sum())
    fraction = n_suspect / n if n else 0.0
    if report["invalid"].count or fraction > max_bad_fraction:
        severity = "error"
    elif n_suspect:
        severity = "warn"
    else:
        severity = "ok"
    return LabelReport(
        severity=severity,
        n_labels=n,
        unknown=report["unknown"],
        duplicate_within=report["duplicate_within"],
        duplicate_earlier=report["duplicate_earlier"],
        invalid=report["invalid"],
        n_suspect=n_suspect,
        max_bad_fraction=max_bad_fraction,
        reason=_reason(n, report, n_suspect, fraction, max_bad_fraction, schema),
        meanings=schema.meanings(),
    )


def clean_labels(
    labels: pd.DataFrame,
    known_ids: Iterable[str],
    earlier_labelled_ids: Iterable[str],
    schema: LabelSchema,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """The labels fit for training, and how many were dropped per reason.

    A label is dropped, and counted under the first reason in :data:`DROP_REASONS` it meets,
    if its value is not valid, its row is unknown, its row was labelled in an earlier
    partition, or it is a later copy of a label kept from this frame (the first by known-at,
    then row order, is kept). Kept rows stay in their order with a fresh index. Raises
    ``ValueError`` without the id or label column.
    """
    missing = [c for c in (schema.id, schema.label) if c not in labels.columns]
    if missing:
        raise ValueError(f"labels lack column(s) {missing}; have {list(labels.columns)}")
    df = labels.reset_index(drop=True)
    masks = _masks(df, set(known_ids), set(earlier_labelled_ids), schema)
    dropped: dict[str, int] = {}
    keep = np.ones(len(df), dtype=bool)
    for reason in DROP_REASONS[:-1]:
        hit = keep & masks[reason].to_numpy()
        dropped[reason] = int(hit.sum())
        keep &= ~hit
    later = _later_copies(df, keep, schema)
    dropped["duplicate_within"] = int(later.sum())
    keep &= ~later
    return df[keep].reset_index(drop=True), dropped


def known_between(labels: pd.DataFrame, known_at: str, after, until) -> pd.Series:
    """Rows of `labels` known strictly after `after` and no later than `until` (either may be
    None: unbounded). A label known before its row was snapshotted may have leaked into the
    row, and one known after the training cut-off did not exist yet."""
    times = labels[known_at]
    mask = times.notna()
    if after is not None:
        mask &= times > after
    if until is not None:
        mask &= times <= until
    return mask


# --- helpers -----------------------------------------------------------------------------------


def _masks(
    df: pd.DataFrame, known: set[str], earlier: set[str], schema: LabelSchema
) -> dict[str, pd.Series]:
    ids = df[schema.id]
    present = ids.notna()
    valid = schema.valid(df[schema.label]).fillna(False).astype(bool)
    return {
        "invalid": ~valid,
        "unknown": ~(present & ids.isin(known)),
        "duplicate_earlier": present & ids.isin(earlier),
    }


def _later_copies(df: pd.DataFrame, among: np.ndarray, schema: LabelSchema) -> np.ndarray:
    """Rows (of those in ``among``) whose entity has an earlier row in ``among``."""
    ids = df[schema.id]
    candidates = np.asarray(among, dtype=bool) & ids.notna().to_numpy()
    known_at = schema.known_at
    if known_at in df.columns and pd.api.types.is_datetime64_any_dtype(df[known_at]):
        order = np.argsort(df[known_at].to_numpy(), kind="stable")  # NaT sorts last
    else:
        order = np.arange(len(df))
    order = order[candidates[order]]
    later = np.zeros(len(df), dtype=bool)
    later[order] = pd.Series(ids.to_numpy(dtype=object)[order]).duplicated().to_numpy()
    return later


def _readable(value: object) -> str:
    return (
        "null" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)
    )


def _first(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))[:MAX_EXAMPLES]


def _problem(ids: pd.Series, mask: pd.Series | np.ndarray) -> LabelProblem:
    hit = ids[np.asarray(mask, dtype=bool)]
    return LabelProblem(int(len(hit)), _first(_readable(v) for v in hit))


def _reason(
    n: int,
    report: dict[str, LabelProblem],
    n_suspect: int,
    fraction: float,
    max_bad_fraction: float,
    schema: LabelSchema,
) -> str:
    if n == 0:
        return "no labels arrived"
    phrases = {
        "invalid": f"with {schema.label} not {schema.valid_text}",
        "unknown": "for unknown rows",
        "duplicate_within": "extra copies within the partition",
        "duplicate_earlier": "for rows labelled in an earlier partition",
    }
    parts = [f"{p.count:,} {phrases[name]}" for name, p in report.items() if p.count]
    if not parts:
        return f"{n:,} labels, none invalid, for an unknown row or duplicated"
    limit = (
        f"{n_suspect:,} ({fraction:.1%}) unknown or duplicate, error above {max_bad_fraction:.1%}"
    )
    return f"{n:,} labels: {', '.join(parts)}; {limit}"
