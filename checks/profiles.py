"""Mergeable per-column profiles: the stored basis of drift detection.

A reference profile fixes, per column, the bin edges (numeric) or the category list
(categorical). Every later partition is profiled on those same bins/categories, so profiles
add up exactly (a week is the merge of seven days, no rows re-read) and can be compared
cheaply. Plain numpy/pandas on purpose: no Dagster here.

Conventions:
- Numeric bins: ``counts`` has ``len(edges) + 1`` cells: ``[underflow, interior..., overflow]``.
  Interior bin i is ``[edges[i], edges[i+1])``, the last one closed at ``edges[-1]`` (the
  reference max); underflow is ``< edges[0]``, overflow is ``> edges[-1]``.
- Non-finite numbers (NaN, +-inf) count as nulls; so do values that failed to parse as numbers
  (these are also counted in ``unparsable``).
- Categorical values are compared as ``str``. ``counts`` holds the reference's kept categories
  plus ``"__other__"`` for everything else; ``unseen`` names the top 20 of those "else" values.
  ``unseen`` is exact per partition but, being truncated, only approximate after a merge when
  more than 20 distinct values were outside the kept list.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

OTHER = "__other__"
MAX_UNSEEN = 20


def _none_if_nan(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


def _nan_if_none(x: float | None) -> float:
    return math.nan if x is None else float(x)


def _top(counter: dict[str, int], k: int = MAX_UNSEEN) -> dict[str, int]:
    # Ties broken by name so merges are deterministic.
    items = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
    return {key: int(n) for key, n in items[:k] if n > 0}


@dataclass(eq=False)
class NumericProfile:
    edges: np.ndarray
    counts: np.ndarray
    count: int = 0
    nulls: int = 0
    sum: float = 0.0
    sum_sq: float = 0.0
    min: float = math.nan
    max: float = math.nan
    unparsable: int = 0

    @property
    def null_rate(self) -> float:
        total = self.count + self.nulls
        return self.nulls / total if total else math.nan

    @property
    def mean(self) -> float:
        return self.sum / self.count if self.count else math.nan

    @property
    def std(self) -> float:
        """Sample standard deviation; exactly 0 for a constant column (no rounding noise)."""
        if self.count == 0:
            return math.nan
        if self.min == self.max:
            return 0.0
        var = (self.sum_sq - self.sum * self.sum / self.count) / (self.count - 1)
        return math.sqrt(max(var, 0.0))

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "numeric",
            "count": int(self.count),
            "nulls": int(self.nulls),
            "unparsable": int(self.unparsable),
            "edges": [float(e) for e in self.edges],
            "counts": [int(c) for c in self.counts],
            "sum": float(self.sum),
            "sum_sq": float(self.sum_sq),
            "min": _none_if_nan(self.min),
            "max": _none_if_nan(self.max),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NumericProfile:
        return cls(
            edges=np.asarray(d["edges"], dtype=float),
            counts=np.asarray(d["counts"], dtype=np.int64),
            count=int(d["count"]),
            nulls=int(d["nulls"]),
            sum=float(d["sum"]),
            sum_sq=float(d["sum_sq"]),
            min=_nan_if_none(d["min"]),
            max=_nan_if_none(d["max"]),
            unparsable=int(d.get("unparsable", 0)),
        )


@dataclass(eq=False)
class CategoricalProfile:
    counts: dict[str, int]
    count: int = 0
    nulls: int = 0
    unseen: dict[str, int] = field(default_factory=dict)

    @property
    def null_rate(self) -> float:
        total = self.count + self.nulls
        return self.nulls / total if total else math.nan

    @property
    def categories(self) -> list[str]:
        """The reference's kept categories (without ``__other__``)."""
        return [c for c in self.counts if c != OTHER]

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "categorical",
            "count": int(self.count),
            "nulls": int(self.nulls),
            "counts": {k: int(v) for k, v in self.counts.items()},
            "unseen": {k: int(v) for k, v in self.unseen.items()},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CategoricalProfile:
        return cls(
            counts={str(k): int(v) for k, v in d["counts"].items()},
            count=int(d["count"]),
            nulls=int(d["nulls"]),
            unseen={str(k): int(v) for k, v in d.get("unseen", {}).items()},
        )


ColumnProfile = NumericProfile | CategoricalProfile


@dataclass(eq=False)
class TableProfile:
    n_rows: int
    columns: dict[str, ColumnProfile]
    # Reference columns absent from the data (recorded as all-null) / numeric columns that
    # arrived with a non-numeric dtype. After a merge: those affected in any part.
    missing_columns: list[str] = field(default_factory=list)
    type_errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_rows": int(self.n_rows),
            "columns": {name: col.to_dict() for name, col in self.columns.items()},
            "missing_columns": list(self.missing_columns),
            "type_errors": list(self.type_errors),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TableProfile:
        columns: dict[str, ColumnProfile] = {}
        for name, col in d["columns"].items():
            kind = col.get("kind")
            if kind == "numeric":
                columns[name] = NumericProfile.from_dict(col)
            elif kind == "categorical":
                columns[name] = CategoricalProfile.from_dict(col)
            else:
                raise ValueError(f"column {name!r}: unknown profile kind {kind!r}")
        return cls(
            n_rows=int(d["n_rows"]),
            columns=columns,
            missing_columns=list(d.get("missing_columns", [])),
            type_errors=list(d.get("type_errors", [])),
        )


# --- profiling -------------------------------------------------------------------------------


def _as_float(s: pd.Series) -> tuple[np.ndarray, int, bool]:
    """Values as float64 (NaN = null), number of unparsable values, whether the dtype was wrong."""
    if pd.api.types.is_numeric_dtype(s.dtype):  # bool counts as numeric
        return s.to_numpy(dtype="float64", na_value=np.nan), 0, False
    x = pd.to_numeric(s, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    unparsable = int((s.notna().to_numpy() & np.isnan(x)).sum())
    return x, unparsable, True


def _numeric(x: np.ndarray, edges: np.ndarray, unparsable: int = 0) -> NumericProfile:
    v = x[np.isfinite(x)]
    idx = np.searchsorted(edges, v, side="right")
    if len(edges):
        idx[v == edges[-1]] = len(edges) - 1  # the reference max belongs to the last interior bin
    counts = np.bincount(idx, minlength=len(edges) + 1).astype(np.int64)
    return NumericProfile(
        edges=edges,
        counts=counts,
        count=int(v.size),
        nulls=int(x.size - v.size),
        sum=float(v.sum()),
        sum_sq=float(np.dot(v, v)),
        min=float(v.min()) if v.size else math.nan,
        max=float(v.max()) if v.size else math.nan,
        unparsable=unparsable,
    )


def _reference_edges(x: np.ndarray, n_bins: int) -> np.ndarray:
    v = x[np.isfinite(x)]
    if v.size == 0:
        return np.empty(0)
    # inverted_cdf picks observed values, so integer columns get clean one-value bins.
    edges = np.unique(np.quantile(v, np.linspace(0.0, 1.0, n_bins + 1), method="inverted_cdf"))
    if edges.size == 1:  # constant column: one zero-width interior bin [c, c]
        edges = np.repeat(edges, 2)
    return edges.astype(float)


def _value_counts(s: pd.Series) -> pd.Series:
    vc = s.value_counts(dropna=True, sort=False)
    vc = vc[vc > 0]  # categorical dtypes list unused categories with 0
    if vc.index.inferred_type != "string":
        vc.index = vc.index.map(str)
        vc = vc.groupby(level=0).sum()
    return vc.astype(np.int64)


def _categorical(vc: pd.Series, n_rows: int, categories: list[str]) -> CategoricalProfile:
    kept = vc.reindex(categories, fill_value=0)
    rest = vc.drop(index=categories, errors="ignore")
    if len(rest) > MAX_UNSEEN:
        rest = rest.nlargest(MAX_UNSEEN, keep="all")  # cheap pre-cut before the exact sort
    counts = {c: int(n) for c, n in zip(categories, kept.to_numpy(), strict=True)}
    counts[OTHER] = int(vc.sum() - kept.sum())
    nonnull = int(vc.sum())
    return CategoricalProfile(
        counts=counts,
        count=nonnull,
        nulls=int(n_rows - nonnull),
        unseen=_top({str(k): int(n) for k, n in rest.items()}),
    )


def build_reference_profile(
    df: pd.DataFrame,
    numeric: list[str],
    categorical: list[str],
    n_bins: int = 20,
    max_categories: int = 50,
) -> TableProfile:
    """Profile the reference window and fix the bins/categories every later profile reuses."""
    both = set(numeric) & set(categorical)
    if both:
        raise ValueError(f"columns both numeric and categorical: {sorted(both)}")
    absent = [c for c in [*numeric, *categorical] if c not in df.columns]
    if absent:
        raise ValueError(f"reference data lacks columns: {absent}")
    columns: dict[str, ColumnProfile] = {}
    type_errors = []
    for name in numeric:
        x, unparsable, wrong_type = _as_float(df[name])
        if wrong_type:
            type_errors.append(name)
        columns[name] = _numeric(x, _reference_edges(x, n_bins), unparsable)
    for name in categorical:
        vc = _value_counts(df[name])
        ranked = sorted(vc.items(), key=lambda kv: (-kv[1], str(kv[0])))
        kept = [str(k) for k, _ in ranked[:max_categories]]
        columns[name] = _categorical(vc, len(df), kept)
    return TableProfile(n_rows=len(df), columns=columns, type_errors=type_errors)


def profile_like(df: pd.DataFrame, reference: TableProfile) -> TableProfile:
    """Profile ``df`` on the reference's bin edges and categories."""
    columns: dict[str, ColumnProfile] = {}
    missing, type_errors = [], []
    n = len(df)
    for name, ref in reference.columns.items():
        present = name in df.columns
        if not present:
            missing.append(name)
        if isinstance(ref, NumericProfile):
            if present:
                x, unparsable, wrong_type = _as_float(df[name])
                if wrong_type:
                    type_errors.append(name)
            else:
                x, unparsable = np.full(n, np.nan), 0
            columns[name] = _numeric(x, ref.edges, unparsable)
        else:
            vc = _value_counts(df[name]) if present else pd.Series([], dtype=np.int64)
            columns[name] = _categorical(vc, n, ref.categories)
    return TableProfile(n_rows=n, columns=columns, missing_columns=missing, type_errors=type_errors)


# --- merging ---------------------------------------------------------------------------------


def _merge_numeric(name: str, parts: list[NumericProfile]) -> NumericProfile:
    first = parts[0]
    for p in parts[1:]:
        if not np.array_equal(p.edges, first.edges):
            raise ValueError(f"column {name!r}: profiles have different bin edges")
    mins = [p.min for p in parts if p.count]
    maxs = [p.max for p in parts if p.count]
    return NumericProfile(
        edges=first.edges.copy(),
        counts=np.sum([p.counts for p in parts], axis=0).astype(np.int64),
        count=sum(p.count for p in parts),
        nulls=sum(p.nulls for p in parts),
        sum=float(sum(p.sum for p in parts)),
        sum_sq=float(sum(p.sum_sq for p in parts)),
        min=min(mins) if mins else math.nan,
        max=max(maxs) if maxs else math.nan,
        unparsable=sum(p.unparsable for p in parts),
    )


def _merge_categorical(name: str, parts: list[CategoricalProfile]) -> CategoricalProfile:
    keys = list(parts[0].counts)
    for p in parts[1:]:
        if set(p.counts) != set(keys):
            raise ValueError(f"column {name!r}: profiles have different categories")
    unseen: Counter[str] = Counter()
    for p in parts:
        unseen.update(p.unseen)
    return CategoricalProfile(
        counts={k: sum(p.counts[k] for p in parts) for k in keys},
        count=sum(p.count for p in parts),
        nulls=sum(p.nulls for p in parts),
        unseen=_top(unseen),
    )


def _union(lists: list[list[str]], order: list[str]) -> list[str]:
    seen = {c for lst in lists for c in lst}
    return [c for c in order if c in seen]


def merge_profiles(profiles: list[TableProfile]) -> TableProfile:
    """Exact merge of profiles built on the same reference (counts add, min/max combine)."""
    if not profiles:
        raise ValueError("merge_profiles needs at least one profile")
    names = list(profiles[0].columns)
    for p in profiles[1:]:
        diff = set(names) ^ set(p.columns)
        if diff:
            raise ValueError(f"column {sorted(diff)[0]!r}: not present in every profile")
    columns: dict[str, ColumnProfile] = {}
    for name in names:
        parts = [p.columns[name] for p in profiles]
        if all(isinstance(c, NumericProfile) for c in parts):
            columns[name] = _merge_numeric(name, parts)
        elif all(isinstance(c, CategoricalProfile) for c in parts):
            columns[name] = _merge_categorical(name, parts)
        else:
            raise ValueError(f"column {name!r}: numeric in some profiles, categorical in others")
    return TableProfile(
        n_rows=sum(p.n_rows for p in profiles),
        columns=columns,
        missing_columns=_union([p.missing_columns for p in profiles], names),
        type_errors=_union([p.type_errors for p in profiles], names),
    )
