"""Labels: the outcomes (escalated yes/no) that arrive days after their tickets.

Three plain functions, no Dagster:

* :func:`validate_labels`: the label contract (:class:`LabelContract`), validated lazily and
  summarised per (column, check) like the raw ticket contract;
* :func:`judge_labels`: labels for tickets that never existed, tickets labelled twice (within
  the partition or on an earlier day) and invalid values, each counted with examples. They are
  reported, not dropped silently: any invalid value, or more unknown/duplicate labels than
  ``max_bad_fraction`` of the partition, is an error; fewer unknown/duplicate labels a warning;
* :func:`clean_labels`: the labels fit for training, and how many were left out for which
  reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from checks.contract import ContractReport, validate_against

LABEL_CONTRACT_VERSION = "ticket_labels/1"
LABEL_COLUMNS = ["ticket_id", "escalated", "known_at"]
VALID_ESCALATED = (0, 1)
MAX_EXAMPLES = 5
DEFAULT_MAX_BAD_FRACTION = 0.01
# The order clean_labels applies its rules: a label is counted under the first it breaks.
DROP_REASONS = ("invalid", "unknown", "duplicate_earlier", "duplicate_within")
_MEANINGS = {
    "invalid": "escalated is not 0 or 1 (or missing)",
    "unknown": "ticket_id is not a ticket we received (or missing)",
    "duplicate_within": "another label of the same ticket arrived earlier in this partition",
    "duplicate_earlier": "the ticket was already labelled on an earlier day",
}


class LabelContract(pa.DataFrameModel):
    """One row per outcome that became known: which ticket, escalated or not, and when."""

    ticket_id: Series[str]
    escalated: Series[int] = pa.Field(isin=list(VALID_ESCALATED))
    known_at: Series[pd.Timestamp]

    class Config:
        name = LABEL_CONTRACT_VERSION
        strict = True  # an unexpected column is a schema change, not noise
        coerce = False  # coercion would hide a retyped column


def validate_labels(df: pd.DataFrame, max_examples: int = MAX_EXAMPLES) -> ContractReport:
    """Validate lazily; failures summarised per (column, check) with counts and examples."""
    return validate_against(LabelContract, df, max_examples)


@dataclass(frozen=True)
class LabelProblem:
    count: int  # labels (rows) with the problem
    examples: tuple[str, ...] = ()  # up to MAX_EXAMPLES distinct ticket ids (and values)


@dataclass(frozen=True)
class LabelReport:
    severity: str  # "ok" | "warn" | "error"
    n_labels: int
    unknown: LabelProblem
    duplicate_within: LabelProblem  # count: extra copies (a ticket labelled twice counts 1)
    duplicate_earlier: LabelProblem
    invalid: LabelProblem
    n_suspect: int  # labels that are unknown or a duplicate, each counted once
    max_bad_fraction: float
    reason: str
    missing_columns: tuple[str, ...] = field(default=())

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
                "meaning": _MEANINGS[name],
            }
            for name, problem in self.problems().items()
        ]


def judge_labels(
    labels: pd.DataFrame,
    known_ticket_ids: Iterable[str],
    earlier_labelled_ids: Iterable[str],
    max_bad_fraction: float = DEFAULT_MAX_BAD_FRACTION,
) -> LabelReport:
    """Count the partition's unknown, duplicate and invalid labels (see the module docstring).

    ``known_ticket_ids``: the tickets a label may belong to; ``earlier_labelled_ids``: tickets
    labelled in earlier partitions. The categories overlap (an invalid copy of a ticket's label
    is also a duplicate); ``n_suspect`` counts each unknown/duplicate label once. Within the
    partition the first label of a ticket (by ``known_at``, then row order) is the original.
    """
    if isinstance(max_bad_fraction, bool) or not 0.0 <= max_bad_fraction <= 1.0:
        raise ValueError(f"max_bad_fraction must be between 0 and 1, got {max_bad_fraction!r}")
    n = len(labels)
    missing = tuple(c for c in ("ticket_id", "escalated") if c not in labels.columns)
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
        )
    df = labels.reset_index(drop=True)
    ids = df["ticket_id"]
    masks = _masks(df, set(known_ticket_ids), set(earlier_labelled_ids))
    within = _later_copies(df, among=np.ones(n, dtype=bool))
    invalid_examples = [
        f"{_readable(i)} (escalated={_readable(v)})"
        for i, v in zip(ids[masks["invalid"]], df["escalated"][masks["invalid"]], strict=True)
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
        reason=_reason(n, report, n_suspect, fraction, max_bad_fraction),
    )


def clean_labels(
    labels: pd.DataFrame,
    known_ticket_ids: Iterable[str],
    earlier_labelled_ids: Iterable[str],
) -> tuple[pd.DataFrame, dict[str, int]]:
    """The labels fit for training, and how many were dropped per reason.

    A label is dropped, and counted under the first reason in :data:`DROP_REASONS` it meets,
    if its escalated value is not 0/1, its ticket is unknown, its ticket was labelled on an
    earlier day, or it is a later copy of a label kept from this frame (the first by
    ``known_at``, then row order, is kept). Kept rows stay in their order with a fresh index;
    ``escalated`` becomes ``int64``. Raises ``ValueError`` without ``ticket_id``/``escalated``.
    """
    missing = [c for c in ("ticket_id", "escalated") if c not in labels.columns]
    if missing:
        raise ValueError(f"labels lack column(s) {missing}; have {list(labels.columns)}")
    df = labels.reset_index(drop=True)
    masks = _masks(df, set(known_ticket_ids), set(earlier_labelled_ids))
    dropped: dict[str, int] = {}
    keep = np.ones(len(df), dtype=bool)
    for reason in DROP_REASONS[:-1]:
        hit = keep & masks[reason].to_numpy()
        dropped[reason] = int(hit.sum())
        keep &= ~hit
    later = _later_copies(df, among=keep)
    dropped["duplicate_within"] = int(later.sum())
    keep &= ~later
    out = df[keep].reset_index(drop=True)
    out["escalated"] = out["escalated"].astype("int64")
    return out, dropped


# --- helpers -----------------------------------------------------------------------------------


def _masks(df: pd.DataFrame, known: set[str], earlier: set[str]) -> dict[str, pd.Series]:
    ids = df["ticket_id"]
    present = ids.notna()
    return {
        "invalid": ~_valid_escalated(df["escalated"]),
        "unknown": ~(present & ids.isin(known)),
        "duplicate_earlier": present & ids.isin(earlier),
    }


def _valid_escalated(s: pd.Series) -> pd.Series:
    """0 or 1 (also 0.0/1.0 in a column made float by NULLs); never a string or a null."""
    if pd.api.types.is_numeric_dtype(s):
        return s.isin(VALID_ESCALATED).fillna(False).astype(bool)
    return pd.Series(
        [
            isinstance(v, int | float | np.number) and not pd.isna(v) and v in VALID_ESCALATED
            for v in s
        ],
        index=s.index,
        dtype=bool,
    )


def _later_copies(df: pd.DataFrame, among: np.ndarray) -> np.ndarray:
    """Rows (of those in ``among``) whose ticket has an earlier row in ``among``."""
    ids = df["ticket_id"]
    candidates = np.asarray(among, dtype=bool) & ids.notna().to_numpy()
    if "known_at" in df.columns and pd.api.types.is_datetime64_any_dtype(df["known_at"]):
        order = np.argsort(df["known_at"].to_numpy(), kind="stable")  # NaT sorts last
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
) -> str:
    if n == 0:
        return "no labels arrived"
    phrases = {
        "invalid": "with escalated not 0/1",
        "unknown": "for unknown tickets",
        "duplicate_within": "extra copies within the partition",
        "duplicate_earlier": "for tickets labelled on an earlier day",
    }
    parts = [f"{p.count:,} {phrases[name]}" for name, p in report.items() if p.count]
    if not parts:
        return f"{n:,} labels, none invalid, for an unknown ticket or duplicated"
    limit = (
        f"{n_suspect:,} ({fraction:.1%}) unknown or duplicate, error above {max_bad_fraction:.1%}"
    )
    return f"{n:,} labels: {', '.join(parts)}; {limit}"
