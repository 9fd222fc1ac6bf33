"""Reference-versus-current histograms of one column, from the mergeable profiles alone.

The drift check already holds both profiles on the same bins (numeric) or categories
(categorical), so the picture of what moved costs no row reads: shares of the non-null values
per bin, side by side, rendered as a Markdown table with text bars that reads in the Dagster UI
without images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from checks.profiles import OTHER, CategoricalProfile, ColumnProfile, NumericProfile

BAR_CELLS = 20  # the largest share of either side fills this many cells
_EIGHTHS = " ▏▎▍▌▋▊▉"


@dataclass(frozen=True)
class Histogram:
    column: str
    kind: str  # numeric | categorical
    bins: list[str]
    reference: list[float]  # shares of the reference's non-null values; sum 1 (or all 0)
    current: list[float]
    n_reference: int
    n_current: int


def shares(counts: np.ndarray) -> np.ndarray:
    """Counts as shares of their total; all zeros when there is nothing to share."""
    counts = np.asarray(counts, dtype=float)
    total = counts.sum()
    return counts / total if total > 0 else np.zeros_like(counts)


def _edge_labels(edges: np.ndarray) -> list[str]:
    """Edges written with the fewest significant digits that keep them apart."""
    for digits in range(3, 13):
        text = [f"{e:.{digits}g}" for e in edges]
        if len(set(text)) == len(set(edges.tolist())):
            return text
    return [repr(float(e)) for e in edges]


def _numeric(column: str, ref: NumericProfile, cur: NumericProfile) -> Histogram:
    if not np.array_equal(ref.edges, cur.edges):
        raise ValueError(f"column {column!r}: current was not profiled on the reference's bins")
    e = _edge_labels(ref.edges)
    # counts: [underflow, interior..., overflow]; interior bin i is [edges[i], edges[i+1]).
    labels = [f"< {e[0]}"] + [f"{e[i]} to {e[i + 1]}" for i in range(len(e) - 1)] + [f"> {e[-1]}"]
    return _histogram(column, "numeric", labels, ref.counts, cur.counts, ref.count, cur.count)


def _categorical(column: str, ref: CategoricalProfile, cur: CategoricalProfile) -> Histogram:
    if set(ref.counts) != set(cur.counts):
        raise ValueError(f"column {column!r}: current was not profiled on the reference's values")
    names = list(ref.counts)
    labels = ["(values not in the reference)" if n == OTHER else n for n in names]
    r = np.array([ref.counts[n] for n in names])
    c = np.array([cur.counts[n] for n in names])
    return _histogram(column, "categorical", labels, r, c, ref.count, cur.count)


def _histogram(column, kind, labels, ref_counts, cur_counts, n_ref, n_cur) -> Histogram:
    p, q = shares(ref_counts), shares(cur_counts)
    # A cell empty on both sides (usually an outer one) says nothing; the shares still sum to 1.
    keep = (np.asarray(ref_counts) + np.asarray(cur_counts)) > 0
    return Histogram(
        column=column,
        kind=kind,
        bins=[b for b, k in zip(labels, keep, strict=True) if k],
        reference=[float(x) for x in p[keep]],
        current=[float(x) for x in q[keep]],
        n_reference=int(n_ref),
        n_current=int(n_cur),
    )


def column_histogram(column: str, reference: ColumnProfile, current: ColumnProfile) -> Histogram:
    """The shares of `column`'s values per reference bin (or category), reference and current."""
    if isinstance(reference, NumericProfile) and isinstance(current, NumericProfile):
        return _numeric(column, reference, current)
    if isinstance(reference, CategoricalProfile) and isinstance(current, CategoricalProfile):
        return _categorical(column, reference, current)
    raise ValueError(f"column {column!r}: current and reference profiles are of different kinds")


def _bar(share: float, top: float) -> str:
    cells = share / top * BAR_CELLS if top > 0 else 0.0
    full = int(cells)
    part = _EIGHTHS[int((cells - full) * 8)] if full < BAR_CELLS else ""
    return ("█" * full + part).rstrip() or "·"  # a dot keeps an empty cell visibly empty


def render_histogram(h: Histogram) -> str:
    """Markdown: bin, reference %, current %, change in points, and a text bar for each side
    (one scale for both, so bar lengths compare across the two columns)."""
    head = (
        f"**{h.column}** ({h.kind}): share of non-null values per reference "
        f"{'bin' if h.kind == 'numeric' else 'category'}; "
        f"reference n={h.n_reference:,}, current n={h.n_current:,}"
    )
    if h.n_current == 0:
        head += "\n\nThe current partition has no non-null values in this column."
    top = max([*h.reference, *h.current, 0.0])
    lines = [
        head,
        "",
        "| bin | reference % | current % | change (points) | reference | current |",
        "|---|---:|---:|---:|---|---|",
    ]
    for label, p, q in zip(h.bins, h.reference, h.current, strict=True):
        cell = label.replace("|", "\\|")  # a category may hold a pipe
        lines.append(
            f"| {cell} | {p:.1%} | {q:.1%} | {(q - p) * 100:+.1f} "
            f"| `{_bar(p, top)}` | `{_bar(q, top)}` |"
        )
    return "\n".join(lines)
