"""Repeated ids: rows of a partition whose entity id an earlier partition already delivered.

An entity's id is unique within a partition (the contract says so); across partitions, an id
seen again is a batch re-sent (yesterday's rows landing again today), which would count those
entities twice in training, in the scores and in the KPI.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from checks.policy import RepeatRules


@dataclass(frozen=True)
class RepeatResult:
    severity: str  # "ok" | "warn" | "error" | "no_history" | "off"
    rows: int
    repeated: int  # rows of this partition whose id an earlier one holds
    searched: tuple[str, ...]  # the earlier partitions compared with, newest first
    by_partition: dict[str, int] = field(default_factory=dict)  # earlier key -> ids shared
    examples: tuple[str, ...] = ()
    reason: str = ""

    @property
    def fraction(self) -> float:
        return self.repeated / self.rows if self.rows else 0.0


def _text(ids: pd.Series) -> pd.Series:
    # Plain Python strings: `isin` on pandas' arrow-backed text is some 40 times slower.
    return ids.dropna().astype("str").astype(object)


def judge_repeats(
    ids: pd.Series,
    earlier: Mapping[str, pd.Series],
    rules: RepeatRules,
    max_examples: int = 5,
) -> RepeatResult:
    """`ids`: this partition's entity ids; `earlier`: the ids of each earlier partition
    searched, newest first. Ids compare as text (a numeric id read back as text still
    matches); a null id is the contract's to report."""
    searched = tuple(earlier)
    rows = len(ids)
    if rules.lookback_days == 0:
        return RepeatResult("off", rows, 0, (), reason="off (repeats.lookback_days is 0)")
    if not searched:
        return RepeatResult(
            "no_history", rows, 0, (), reason=f"{rows} rows; no earlier partition to compare"
        )
    current = _text(ids)
    seen = pd.Series(False, index=current.index)
    by_partition = {}
    for key, found in earlier.items():
        hit = current.isin(_text(found))
        if hit.any():
            by_partition[key] = int(hit.sum())
        seen |= hit
    repeated = int(seen.sum())
    examples = tuple(dict.fromkeys(current[seen]))[:max_examples]
    span = f"{searched[-1]} .. {searched[0]}" if len(searched) > 1 else searched[0]
    if repeated == 0:
        return RepeatResult(
            "ok",
            rows,
            0,
            searched,
            reason=f"none of {rows} ids seen in the {len(searched)} earlier partitions {span}",
        )
    share = repeated / rows
    severity = "error" if share >= rules.error_fraction else "warn"
    where = ", ".join(f"{n} in {k}" for k, n in by_partition.items())
    return RepeatResult(
        severity,
        rows,
        repeated,
        searched,
        by_partition,
        examples,
        f"{repeated} of {rows} rows ({share:.1%}) carry ids already delivered ({where}), e.g. "
        f"{', '.join(examples)} (error at {rules.error_fraction:.0%} of the rows)",
    )
