"""Which features moved one output most: per-feature replacement with a reference value.

For one row of features x and a model f, feature j's attribution is

    f(x) - f(x with x_j replaced by ref_j)

where ref_j is the median of the reference rows (numeric) or their most frequent value
(categorical). A feature the model ignores gets exactly 0; for a linear model
f(x) = b + sum_k c_k x_k it is c_j * (x_j - ref_j), so the ranking follows |c_j (x_j - ref_j)|.

Why this method: it only calls the model's own prediction function, so it works for every
model family a workflow can declare (pipelines with encoders, trees, linear models) with no
extra dependency, it is exact for the stored model (no surrogate, no sampling, the same
numbers on every run) and it costs one prediction per feature. What it does not do: split an
interaction between two features (each is moved alone, the others kept at the row's values).
Plain functions, no Dagster.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Attribution:
    feature: str
    value: Any  # the row's value
    reference: Any  # what it was replaced with
    output_with_reference: float
    change: float  # output - output_with_reference: how much this feature's value moved it

    def as_dict(self) -> dict:
        return {
            "feature": self.feature,
            "value": _plain(self.value),
            "reference": _plain(self.reference),
            "output_with_reference": self.output_with_reference,
            "change": self.change,
        }


def reference_values(
    rows: pd.DataFrame, categorical: Sequence[str], numeric: Sequence[str]
) -> dict[str, Any]:
    """Median of each numeric column, most frequent value of each categorical one (the
    smallest of tied values, so the answer does not depend on row order)."""
    missing = [c for c in [*categorical, *numeric] if c not in rows.columns]
    if missing:
        raise KeyError(f"the reference rows lack the feature columns {missing}")
    if rows.empty:
        raise ValueError("no reference rows: a reference value needs at least one row")
    out: dict[str, Any] = {}
    for column in numeric:
        values = pd.to_numeric(rows[column], errors="raise").dropna()
        if values.empty:
            raise ValueError(f"numeric feature {column!r} has no non-missing reference value")
        out[column] = float(values.median())
    for column in categorical:
        counts = rows[column].dropna().value_counts()
        if counts.empty:
            raise ValueError(f"categorical feature {column!r} has no non-missing reference value")
        top = counts[counts == counts.max()].index
        out[column] = sorted(top, key=str)[0]
    return out


def replacement_attribution(
    predict: Callable[[pd.DataFrame], np.ndarray],
    row: pd.DataFrame,
    reference: Mapping[str, Any],
) -> tuple[float, list[Attribution]]:
    """The row's output and, per feature in `reference`, the change in output when that one
    feature is set to its reference value; largest |change| first (ties by name)."""
    if len(row) != 1:
        raise ValueError(f"attribution explains one row, got {len(row)}")
    unknown = [c for c in reference if c not in row.columns]
    if unknown:
        raise KeyError(f"reference values for columns the row does not have: {unknown}")
    features = list(reference)
    # One batch: the row itself, then one copy per feature with that feature replaced.
    batch = pd.concat([row] * (len(features) + 1), ignore_index=True)
    for i, column in enumerate(features, start=1):
        batch[column] = _with_value(batch[column], i, reference[column])
    outputs = np.asarray(predict(batch), dtype="float64")
    if outputs.shape != (len(batch),):
        raise ValueError(
            f"the prediction function returned shape {outputs.shape} for {len(batch)} rows"
        )
    if not np.all(np.isfinite(outputs)):
        raise ValueError("the prediction function returned a non-finite output")
    base = float(outputs[0])
    found = [
        Attribution(
            feature=column,
            value=row[column].iloc[0],
            reference=reference[column],
            output_with_reference=float(outputs[i]),
            change=base - float(outputs[i]),
        )
        for i, column in enumerate(features, start=1)
    ]
    found.sort(key=lambda a: (-abs(a.change), a.feature))
    return base, found


def _with_value(column: pd.Series, i: int, value: Any) -> pd.Series:
    """`column` with position `i` set to `value`, in the column's dtype when it can hold the
    value (a categorical column keeps its categories for the model's encoder); an integer
    column given a fractional median becomes float."""
    if isinstance(column.dtype, pd.CategoricalDtype) and value not in column.dtype.categories:
        raise ValueError(f"reference {value!r} is not a category of feature {column.name!r}")
    values = column.tolist()
    values[i] = value
    if pd.api.types.is_integer_dtype(column.dtype) and not float(value).is_integer():
        return pd.Series(values, dtype="float64", name=column.name)
    return pd.Series(values, dtype=column.dtype, name=column.name)


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    return value
